// A dataset's response, arranged by group once, with everything that does not depend on
// parameters precomputed (docs/marginal.md §2, docs/families.md: c(y) = −log y!, log C(m, y), …,
// summed per group).
import type { Backend } from '../../kernels/load';
import type { Family } from '../families/family';

export interface GroupedResponse {
  readonly family: Family;
  /** Observations sorted by group. */
  readonly y: Float64Array;
  /**
   * m per observation (kernels/reference/marginal/obs.ts): the binomial trials, or every other
   * family's prior weights (a Bernoulli row of weight w is y·w successes in w trials, so `y`
   * then holds y·w); null: m = 1 everywhere. (Named for the binomial case it began with.)
   */
  readonly trials: Float64Array | null;
  /** Group i holds observations offsets[i] .. offsets[i+1]−1. */
  readonly offsets: Int32Array;
  /** Group index of each (sorted) observation. */
  readonly groupOf: Int32Array;
  /** Σ_j c(y_j, m_j) per group. */
  readonly cst: Float64Array;
  readonly nobs: number;
  readonly ngroups: number;
  /** Heap copies per backend, made on first use and kept (the data outlive every step). */
  readonly uploads: Map<Backend, Uploaded>;
}

export interface Uploaded {
  readonly y: number;
  readonly trials: number;
  readonly offsets: number;
  readonly cst: number;
}

/**
 * Groups observations that are already sorted by group: `sizes[i]` observations per group.
 * `m`: the binomial family's trials (required there), or any other family's prior weights
 * (lme4's `weights`: finite, ≥ 0; default 1). Validates the response against the family and
 * rejects empty groups, naming the observation.
 */
export function groupResponse(family: Family, y: ArrayLike<number>, sizes: ArrayLike<number>, m?: ArrayLike<number>): GroupedResponse {
  const G = sizes.length;
  const offsets = new Int32Array(G + 1);
  for (let i = 0; i < G; i++) {
    const n = sizes[i];
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`group ${i} has ${n} observations: every group needs at least one`);
    offsets[i + 1] = offsets[i] + n;
  }
  const nobs = offsets[G];
  if (y.length !== nobs) throw new Error(`response has ${y.length} values but the groups hold ${nobs}`);
  const binomial = family.name === 'binomial';
  if (m && m.length !== nobs) {
    throw new Error(`${binomial ? 'trials' : 'weights'} has ${m.length} values for ${nobs} observations`);
  }
  if (binomial && !m) throw new Error('binomial family needs the number of trials per observation');
  const bad = family.validate(y, m);
  if (bad) throw new Error(`observation ${bad.index}: ${bad.message}`);
  const yy = Float64Array.from(y);
  let tt: Float64Array | null = null;
  if (binomial) tt = Float64Array.from(m!);
  else if (m) {
    let ones = true;
    for (let j = 0; j < nobs; j++) {
      const w = m[j];
      if (!(w >= 0 && Number.isFinite(w))) throw new Error(`observation ${j}: weight must be a finite number ≥ 0, got ${w}`);
      if (w !== 1) ones = false;
    }
    // All ones is no weighting: keep the unweighted kernels' fast paths (the Bernoulli exp base).
    if (!ones) {
      tt = Float64Array.from(m);
      if (family.name === 'bernoulli') for (let j = 0; j < nobs; j++) yy[j] *= tt[j];
    }
  }
  const groupOf = new Int32Array(nobs);
  const cst = new Float64Array(G);
  for (let i = 0; i < G; i++) {
    let c = 0;
    for (let j = offsets[i]; j < offsets[i + 1]; j++) {
      groupOf[j] = i;
      c += family.constant(yy[j], tt ? tt[j] : 1);
    }
    cst[i] = c;
  }
  return { family, y: yy, trials: tt, offsets, groupOf, cst, nobs, ngroups: G, uploads: new Map() };
}

/** The response's heap copy on backend b (made once; freed by `releaseResponse`). */
export function upload(r: GroupedResponse, b: Backend): Uploaded {
  let u = r.uploads.get(b);
  if (!u) {
    const h = b.heap;
    const y = h.alloc(r.nobs * 8);
    const trials = r.trials ? h.alloc(r.nobs * 8) : 0;
    const offsets = h.alloc((r.ngroups + 1) * 4);
    const cst = h.alloc(r.ngroups * 8);
    h.f64.set(r.y, y >>> 3);
    if (r.trials) h.f64.set(r.trials, trials >>> 3);
    h.i32.set(r.offsets, offsets >>> 2);
    h.f64.set(r.cst, cst >>> 3);
    u = { y, trials, offsets, cst };
    r.uploads.set(b, u);
  }
  return u;
}

export function releaseResponse(r: GroupedResponse): void {
  for (const [b, u] of r.uploads) {
    for (const p of [u.y, u.trials, u.offsets, u.cst]) if (p) b.heap.free(p);
  }
  r.uploads.clear();
}

/**
 * The response restricted to some groups (in the given order): a mini-batch. With `sub`, at
 * most `k` random observations of each group (within-group subsampling).
 */
export function subsetResponse(
  r: GroupedResponse, groups: ArrayLike<number>, sub?: { k: number; rng: { int(n: number): number } },
  keep?: Uint8Array | null,
): { response: GroupedResponse; rows: Int32Array } {
  const G = groups.length;
  const pick: Int32Array[] = [];
  // With `keep` (1 per row that counts: the kept rows when rows are held out for validation,
  // made once per fit), each group's constant is recomputed from its kept rows, as with `sub`.
  const partial = sub !== undefined || (keep !== undefined && keep !== null);
  for (let k = 0; k < G; k++) {
    const g = groups[k];
    let all = Int32Array.from({ length: r.offsets[g + 1] - r.offsets[g] }, (_, i) => r.offsets[g] + i);
    if (keep) all = all.filter((j) => keep[j] === 1);
    if (sub && all.length > sub.k) {
      // Partial Fisher–Yates: the first k of a random permutation, then in data order.
      for (let i = 0; i < sub.k; i++) {
        const j = i + sub.rng.int(all.length - i);
        const t = all[i];
        all[i] = all[j];
        all[j] = t;
      }
      pick.push(all.slice(0, sub.k).sort());
    } else pick.push(all);
  }
  const offsets = new Int32Array(G + 1);
  for (let k = 0; k < G; k++) offsets[k + 1] = offsets[k] + pick[k].length;
  const n = offsets[G];
  const rows = new Int32Array(n);
  const groupOf = new Int32Array(n);
  const cst = new Float64Array(G);
  for (let k = 0; k < G; k++) {
    let c = 0;
    pick[k].forEach((j, i) => {
      rows[offsets[k] + i] = j;
      groupOf[offsets[k] + i] = k;
      if (partial) c += r.family.constant(r.y[j], r.trials ? r.trials[j] : 1);
    });
    cst[k] = partial ? c : r.cst[groups[k]];
  }
  const y = Float64Array.from(rows, (j) => r.y[j]);
  const trials = r.trials ? Float64Array.from(rows, (j) => r.trials![j]) : null;
  return {
    response: { family: r.family, y, trials, offsets, groupOf, cst, nobs: n, ngroups: G, uploads: new Map() },
    rows,
  };
}
