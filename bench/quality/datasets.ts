// The quality benchmark's data sets (issue 17): simulated grouped data, deterministic from a
// seed, over a grid of 3 families × 2 random-effect structures × 4 sizes = 24 data sets, each
// with its own seed. Two nonlinear fixed effects alternate over the sizes so that every
// family × structure meets both.
//
//   x_ij ~ U(−1, 1)⁵,  η_ij = a·f(x_ij) + c + b_i0 (+ b_i1·x_ij1 with a random slope),
//   b_i0, b_i1 ~ N(0, SIGMA_B²) independent; y from the family (Gaussian: η + N(0, SIGMA_EPS²);
//   Bernoulli: logit⁻¹ η; Poisson: e^η). a and c per family are the library simulator's.
//
// Split (documented in bench/quality/README.md): the last ⌈HELD_GROUPS·G⌉ groups are held out
// whole ("new" groups); in every other group the last max(1, round(HELD_ROWS·n_i)) rows are
// held out ("seen" groups' rows); the rest are the training rows. Rows are exchangeable
// within a group, so "the last" is a random choice.
import { Rng } from '../../engine/random';
import { FAMILY_SCALE, trueEffect } from '../../ngmm/simulate';

export type Family = 'gaussian' | 'bernoulli' | 'poisson';
export type Structure = 'intercept' | 'slope';
export type Effect = 'sine' | 'ridge';

export const FAMILIES: readonly Family[] = ['gaussian', 'bernoulli', 'poisson'];
export const STRUCTURES: readonly Structure[] = ['intercept', 'slope'];
export const X_NAMES = ['x1', 'x2', 'x3', 'x4', 'x5'];
export const P = 5;
/** SD of each random effect (intercept, and the slope on x1). */
export const SIGMA_B = 0.5;
/** Residual SD of the Gaussian response. */
export const SIGMA_EPS = 0.5;
export const HELD_GROUPS = 0.2;
export const HELD_ROWS = 0.2;

/** Group counts and the range of rows per group (drawn uniformly per group, inclusive). */
export interface Size {
  groups: number;
  minRows: number;
  maxRows: number;
}

/** From few large groups to many small ones: 50–500 groups of 10–100 rows. */
export const SIZES: readonly Size[] = [
  { groups: 50, minRows: 40, maxRows: 100 },
  { groups: 100, minRows: 20, maxRows: 60 },
  { groups: 200, minRows: 10, maxRows: 40 },
  { groups: 500, minRows: 10, maxRows: 20 },
];

/**
 * The fixed effects. 'sine' is the paper's §4 f (the library's simulator): an interaction
 * sin(π x1 x2), a quadratic, |x4| and a linear term. 'ridge' has two interactions of another
 * kind (a product gated by tanh, and x4·x5) and a cosine, none of them additive.
 */
export const EFFECTS: Record<Effect, (x: ArrayLike<number>) => number> = {
  sine: trueEffect,
  ridge: (x) => 1.2 * Math.tanh(2 * x[0]) * x[2] + 0.8 * Math.cos(Math.PI * x[1]) + 1.5 * x[3] * x[4] - 0.4 * x[4],
};

export interface Spec {
  /** A name unique within the grid: family/structure/groups/effect/seed. */
  name: string;
  family: Family;
  structure: Structure;
  effect: Effect;
  size: Size;
  seed: number;
}

export interface Split {
  /** rows × 5, row-major. */
  X: Float64Array;
  y: Float64Array;
  group: string[];
  /** The true linear predictor with the group's own random effects. */
  eta: Float64Array;
  /** The true fixed part a·f(x) + c (no random effect). */
  etaFixed: Float64Array;
  /** The variance of the random part of η at each row: σ_b² (+ σ_b² x1² with a slope). */
  etaVar: Float64Array;
  /** Row indices of the data set's generation order (to check that the split is a partition). */
  index: Int32Array;
}

export interface Dataset {
  spec: Spec;
  train: Split;
  seen: Split;
  fresh: Split;
  /** Rows generated in total. */
  rows: number;
}

/** The 24 data sets of the full benchmark; `quick`: three small ones (one per family). */
export function grid(quick = false, baseSeed = 20261): Spec[] {
  const out: Spec[] = [];
  let k = 0;
  for (const family of FAMILIES) {
    for (const structure of STRUCTURES) {
      for (const [s, size] of SIZES.entries()) {
        const effect: Effect = (s + (structure === 'slope' ? 1 : 0)) % 2 === 0 ? 'sine' : 'ridge';
        const seed = baseSeed + 101 * k++;
        out.push({ name: `${family}/${structure}/${size.groups}g/${effect}/s${seed}`, family, structure, effect, size, seed });
      }
    }
  }
  if (!quick) return out;
  return FAMILIES.map((family, i) => {
    const structure: Structure = i === 1 ? 'slope' : 'intercept';
    const size: Size = { groups: 50, minRows: 10, maxRows: 30 };
    const seed = baseSeed + 7 + i;
    return { name: `${family}/${structure}/50g/sine/s${seed}`, family, structure, effect: 'sine' as Effect, size, seed };
  });
}

/** How many rows of a group of n are held out when the group is seen: max(1, round(0.2 n)). */
export function heldRows(n: number): number {
  return Math.max(1, Math.round(HELD_ROWS * n));
}

/** How many of G groups are held out whole: ⌈0.2 G⌉. */
export function heldGroups(G: number): number {
  return Math.ceil(HELD_GROUPS * G);
}

/** Generates one data set (see the file's head); the same spec gives the same rows. */
export function generate(spec: Spec): Dataset {
  const rng = new Rng(spec.seed);
  const f = EFFECTS[spec.effect];
  const { a, c } = FAMILY_SCALE[spec.family];
  const { groups: G, minRows, maxRows } = spec.size;
  const firstNew = G - heldGroups(G);
  type Acc = { X: number[]; y: number[]; group: string[]; eta: number[]; etaFixed: number[]; etaVar: number[]; index: number[] };
  const acc = (): Acc => ({ X: [], y: [], group: [], eta: [], etaFixed: [], etaVar: [], index: [] });
  const parts = { train: acc(), seen: acc(), fresh: acc() };
  const x = new Float64Array(P);
  const slope = spec.structure === 'slope';
  let row = 0;
  for (let i = 0; i < G; i++) {
    const n = minRows + rng.int(maxRows - minRows + 1);
    const b0 = SIGMA_B * rng.normal();
    const b1 = slope ? SIGMA_B * rng.normal() : 0;
    const nTrain = n - heldRows(n);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < P; k++) x[k] = 2 * rng.uniform() - 1;
      const fixed = a * f(x) + c;
      const eta = fixed + b0 + b1 * x[0];
      const y = spec.family === 'gaussian'
        ? eta + SIGMA_EPS * rng.normal()
        : spec.family === 'bernoulli'
          ? (rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0)
          : rng.poisson(Math.exp(eta));
      const part = parts[i >= firstNew ? 'fresh' : j < nTrain ? 'train' : 'seen'];
      for (let k = 0; k < P; k++) part.X.push(x[k]);
      part.y.push(y);
      part.group.push(`g${i}`);
      part.eta.push(eta);
      part.etaFixed.push(fixed);
      part.etaVar.push(SIGMA_B ** 2 * (1 + (slope ? x[0] * x[0] : 0)));
      part.index.push(row++);
    }
  }
  const pack = (p: Acc): Split => ({
    X: Float64Array.from(p.X), y: Float64Array.from(p.y), group: p.group,
    eta: Float64Array.from(p.eta), etaFixed: Float64Array.from(p.etaFixed), etaVar: Float64Array.from(p.etaVar), index: Int32Array.from(p.index),
  });
  return { spec, train: pack(parts.train), seen: pack(parts.seen), fresh: pack(parts.fresh), rows: row };
}

const invLogit = (e: number) => 1 / (1 + Math.exp(-e));

/** The mean E[y | η] of a family at η. */
export function meanOf(family: Family, eta: number): number {
  return family === 'gaussian' ? eta : family === 'bernoulli' ? invLogit(eta) : Math.exp(eta);
}

// A 401-point rule for E[h(Z)], Z ~ N(0, 1), on [−8, 8] (the trapezoid rule on a smooth,
// rapidly decaying integrand converges geometrically; the mass beyond ±8 is 1e−15).
const RULE = (() => {
  const K = 401, t = new Float64Array(K), w = new Float64Array(K);
  let s = 0;
  for (let k = 0; k < K; k++) {
    t[k] = -8 + (16 * k) / (K - 1);
    w[k] = Math.exp(-0.5 * t[k] * t[k]);
    s += w[k];
  }
  for (let k = 0; k < K; k++) w[k] /= s;
  return { t, w };
})();

/**
 * The true model's predictions: on seen groups the mean at the true η with the group's own
 * effects (the oracle); on new groups the mean marginalised over the random effects,
 * E_b[μ(a·f(x) + c + b)], the best a predictor can do without the group's rows. Gaussian:
 * η itself; Poisson: exp(η_f + v/2) in closed form; Bernoulli: the normal rule above.
 */
export function trueMeans(family: Family, s: Split, kind: 'seen' | 'fresh'): Float64Array {
  const out = new Float64Array(s.y.length);
  for (let i = 0; i < out.length; i++) {
    if (kind === 'seen') out[i] = meanOf(family, s.eta[i]);
    else if (family === 'gaussian') out[i] = s.etaFixed[i];
    else if (family === 'poisson') out[i] = Math.exp(s.etaFixed[i] + s.etaVar[i] / 2);
    else {
      const sd = Math.sqrt(s.etaVar[i]);
      let m = 0;
      for (let k = 0; k < RULE.t.length; k++) m += RULE.w[k] * invLogit(s.etaFixed[i] + sd * RULE.t[k]);
      out[i] = m;
    }
  }
  return out;
}
