// Model data in column form: the fixed-effect design X (n × p, row-major), the response, the
// grouping factor (string or numeric labels), optional binomial trials and optional
// group-level random-effect covariates Z (one row per group level). Validation names the
// observation and column; observations are sorted by group once, here.
import type { Family } from './families/family';
import { groupResponse, type GroupedResponse } from './marginal/groups';

export interface ModelData {
  /** Fixed-effect covariates, n × p row-major. */
  readonly X: Float64Array;
  /** Column names of X (length p). */
  readonly xNames: readonly string[];
  readonly y: ArrayLike<number>;
  /** Group label of each observation. */
  readonly group: ArrayLike<string | number>;
  /** Binomial trials per observation. */
  readonly trials?: ArrayLike<number>;
  /**
   * Group-level random-effect covariates z_i, given per observation (n × d row-major) and
   * required to be constant within each group; they feed the random-effect network g(z_i).
   */
  readonly Z?: Float64Array;
  readonly zNames?: readonly string[];
  /**
   * Prior weights per observation (lme4's `weights`): the log-likelihood of row j counts w_j
   * times; for a binomial proportion response they are the trials. Default 1.
   */
  readonly weights?: ArrayLike<number>;
  /** A known term added to η per observation (lme4's `offset()`), on the link scale. Default 0. */
  readonly offset?: ArrayLike<number>;
}

/** The data arranged for fitting: observations sorted by group, labels in first-seen order. */
export interface PreparedData {
  readonly response: GroupedResponse;
  /** X rows in the sorted order. */
  readonly X: Float64Array;
  readonly p: number;
  /** Group labels, in group index order. */
  readonly levels: readonly string[];
  /** order[k] = the original row of sorted observation k. */
  readonly order: Int32Array;
  /** Group-level covariates, one row per group (G × d), when given. */
  readonly Zg: Float64Array | null;
  readonly d: number;
}

export function prepare(family: Family, d: ModelData): PreparedData {
  const n = d.y.length;
  const p = d.xNames.length;
  if (d.X.length !== n * p) throw new Error(`X has ${d.X.length} values; ${n} rows × ${p} columns need ${n * p}`);
  if (d.group.length !== n) throw new Error(`group has ${d.group.length} labels for ${n} observations`);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      const v = d.X[i * p + j];
      if (!Number.isFinite(v)) throw new Error(`row ${i + 1}, column '${d.xNames[j]}': ${v} is not a finite number`);
    }
    if (!Number.isFinite(d.y[i])) throw new Error(`row ${i + 1}: the response ${d.y[i]} is not a finite number`);
  }
  const index = new Map<string, number>();
  const levels: string[] = [];
  const gi = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const key = String(d.group[i]);
    let k = index.get(key);
    if (k === undefined) {
      k = levels.length;
      index.set(key, k);
      levels.push(key);
    }
    gi[i] = k;
  }
  // Stable sort of rows by group index (counting sort).
  const counts = new Int32Array(levels.length + 1);
  for (let i = 0; i < n; i++) counts[gi[i] + 1]++;
  for (let k = 0; k < levels.length; k++) counts[k + 1] += counts[k];
  const order = new Int32Array(n);
  const next = counts.slice(0, levels.length);
  for (let i = 0; i < n; i++) order[next[gi[i]]++] = i;
  const sizes = Array.from({ length: levels.length }, (_, k) => counts[k + 1] - counts[k]);
  // A group of one row cannot tell its random effect from its residual (or, for a binary
  // response, from its outcome): almost always a data error (a typo in the group label).
  const single = sizes.findIndex((s) => s === 1);
  if (single >= 0) {
    throw new Error(`row ${order[counts[single]] + 1}: group '${levels[single]}' has only this one row; a random intercept needs at least two rows per group`);
  }
  const y = Float64Array.from(order, (i) => d.y[i]);
  const trials = d.trials ? Float64Array.from(order, (i) => d.trials![i]) : undefined;
  let response: GroupedResponse;
  try {
    response = groupResponse(family, y, sizes, trials);
  } catch (e) {
    // Name the original row, not the sorted position.
    const m = /^observation (\d+): (.*)$/.exec((e as Error).message);
    if (m) throw new Error(`row ${order[Number(m[1])] + 1}: ${m[2]}`);
    throw e;
  }
  const X = new Float64Array(n * p);
  for (let k = 0; k < n; k++) X.set(d.X.subarray(order[k] * p, order[k] * p + p), k * p);
  let Zg: Float64Array | null = null;
  const dz = d.zNames?.length ?? 0;
  if (d.Z) {
    if (!d.zNames || d.Z.length !== n * dz) throw new Error(`Z has ${d.Z.length} values; ${n} rows × ${dz} covariates need ${n * dz}`);
    Zg = new Float64Array(levels.length * dz);
    const seen = new Uint8Array(levels.length);
    for (let i = 0; i < n; i++) {
      const g = gi[i];
      for (let c = 0; c < dz; c++) {
        const v = d.Z[i * dz + c];
        if (!Number.isFinite(v)) throw new Error(`row ${i + 1}, column '${d.zNames[c]}': ${v} is not a finite number`);
        if (!seen[g]) Zg[g * dz + c] = v;
        else if (Zg[g * dz + c] !== v) {
          throw new Error(`row ${i + 1}, column '${d.zNames[c]}': ${v} differs from ${Zg[g * dz + c]} earlier in group '${levels[g]}' (random-effect covariates must be constant within a group)`);
        }
      }
      seen[g] = 1;
    }
  }
  return { response, X, p, levels, order, Zg, d: dz };
}
