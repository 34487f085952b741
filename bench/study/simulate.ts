// The simulation study's data-generating processes (paper §4 and Appendix 12) and the
// train / observed-groups / new-groups split of Appendix 15.1. Every constant the paper lost in
// extraction is chosen here, fixed, and listed in bench/study/README.md.
import { Rng } from '../../engine/random';
import { FAMILY_SCALE, trueEffect } from '../../ngmm/simulate';

export type Family = 'gaussian' | 'bernoulli' | 'poisson';
export type Structure = 'intercept' | 'slope';
export type Dgp = 'nonlinear' | 'linear';

export const FAMILIES: readonly Family[] = ['gaussian', 'bernoulli', 'poisson'];
export const STRUCTURES: readonly Structure[] = ['intercept', 'slope'];
/** The two random-effect variances σ_b² (each random effect has this variance). */
export const VARIANCES: readonly number[] = [0.25, 1];
export const DGPS: readonly Dgp[] = ['nonlinear', 'linear'];

export const P = 5;
export const X_NAMES = ['x1', 'x2', 'x3', 'x4', 'x5'];
/** Gaussian observation noise SD. */
export const SIGMA_EPS = 0.5;
/** Share of groups used for training; the rest are the held-out ("new") groups. */
export const TRAIN_GROUPS = 0.8;
/** Share of each training group's observations used for training; the rest are the "observed" test set. */
export const TRAIN_ROWS = 0.8;

/** The nonlinear fixed effect, x ~ U(−1, 1)⁵: the library's simulator's (ngmm/simulate.ts), as `npm start` uses. */
export const fNonlinear = trueEffect;

export const BETA_LINEAR = [0.6, -0.4, 0.8, 0.3, -0.5];
/** The linear fixed effect of Appendix 12 (intercept 0.5 + xᵀβ). */
export function fLinear(x: ArrayLike<number>): number {
  let s = 0.5;
  for (let j = 0; j < P; j++) s += BETA_LINEAR[j] * x[j];
  return s;
}

/** Per-family scale and offset of the fixed effect inside η: the library simulator's. */
export { FAMILY_SCALE };

export interface Setting {
  dgp: Dgp;
  family: Family;
  structure: Structure;
  /** σ_b²: the variance of the random intercept (and of the random slope on x1). */
  variance: number;
}

export interface Split {
  X: Float64Array;
  y: Float64Array;
  group: string[];
}

export interface Simulated {
  train: Split;
  observed: Split;
  fresh: Split;
  /** The random effects actually drawn, per group: [b0, b1] (b1 = 0 for the intercept structure). */
  effects: Float64Array;
}

export interface Size {
  groups: number;
  perGroup: number;
}

/**
 * One data set: G groups of n observations, x_ij ~ U(−1, 1)⁵,
 *   η_ij = a·f(x_ij) + c + b_i0 (+ b_i1·x_ij1 for the slope structure),  b_ik ~ N(0, σ_b²) independent,
 * then y from the family (Gaussian: η + N(0, SIGMA_EPS²); Bernoulli: logit⁻¹ η; Poisson: e^η).
 * The last (1 − TRAIN_GROUPS) of the groups are held out whole ("new"); in the other groups the
 * last (1 − TRAIN_ROWS) of the rows (the rows are exchangeable) are the "observed" test set.
 */
export function simulate(s: Setting, size: Size, seed: number): Simulated {
  const rng = new Rng(seed);
  const f = s.dgp === 'nonlinear' ? fNonlinear : fLinear;
  const { a, c } = FAMILY_SCALE[s.family];
  const sd = Math.sqrt(s.variance);
  const G = size.groups, n = size.perGroup;
  const nTrainGroups = Math.round(G * TRAIN_GROUPS), nTrainRows = Math.round(n * TRAIN_ROWS);
  const parts = { train: [] as number[], observed: [] as number[], fresh: [] as number[] };
  const ys = { train: [] as number[], observed: [] as number[], fresh: [] as number[] };
  const gs = { train: [] as string[], observed: [] as string[], fresh: [] as string[] };
  const effects = new Float64Array(2 * G);
  const x = new Float64Array(P);
  for (let i = 0; i < G; i++) {
    const b0 = sd * rng.normal();
    const b1 = s.structure === 'slope' ? sd * rng.normal() : 0;
    effects[2 * i] = b0;
    effects[2 * i + 1] = b1;
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < P; k++) x[k] = 2 * rng.uniform() - 1;
      const eta = a * f(x) + c + b0 + b1 * x[0];
      const y = s.family === 'gaussian'
        ? eta + SIGMA_EPS * rng.normal()
        : s.family === 'bernoulli'
          ? (rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0)
          : rng.poisson(Math.exp(eta));
      const part = i >= nTrainGroups ? 'fresh' : j < nTrainRows ? 'train' : 'observed';
      for (let k = 0; k < P; k++) parts[part].push(x[k]);
      ys[part].push(y);
      gs[part].push(`g${i}`);
    }
  }
  const pack = (k: 'train' | 'observed' | 'fresh'): Split => ({ X: Float64Array.from(parts[k]), y: Float64Array.from(ys[k]), group: gs[k] });
  return { train: pack('train'), observed: pack('observed'), fresh: pack('fresh'), effects };
}

/** Every setting of the design, nonlinear first: 2 DGPs × 3 families × 2 structures × 2 variances. */
export function settings(): Setting[] {
  const out: Setting[] = [];
  for (const dgp of DGPS) for (const family of FAMILIES) for (const structure of STRUCTURES) for (const variance of VARIANCES) out.push({ dgp, family, structure, variance });
  return out;
}

export function settingName(s: Setting): string {
  return `${s.dgp}/${s.family}/${s.structure}/σ²=${s.variance}`;
}
