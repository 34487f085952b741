// Model data in column form: the fixed-effect design X (n × p, row-major), the response, the
// grouping factor (string or numeric labels), optional binomial trials and optional
// group-level random-effect covariates Z (one row per group level). Validation names the
// observation and column; observations are sorted by group once, here.
import { DataError, quoteName } from './errors';
import { asMatrix, type MatrixInput } from './input';
import type { Family } from './families/family';
import { groupResponse, type GroupedResponse } from './marginal/groups';

export interface ModelData {
  /** Fixed-effect covariates, n × p row-major. */
  readonly X: MatrixInput;
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
  /**
   * Several random-effect terms (a model with `spec.terms`), in the spec's order: each term's
   * levels, the level of every row and its design values. `group` then orders the rows only.
   */
  readonly terms?: readonly DataTerm[];
}

/** One random-effect term's data (ngmm/reTerms.ts builds these from a formula, as lme4's mkReTrms). */
export interface DataTerm {
  /** The grouping factor as written: 'Subject', 'cask:batch'. */
  readonly name: string;
  /** Design column names: '(Intercept)', then slopes. */
  readonly columns: readonly string[];
  /** The factor's levels; `group[j]` indexes them. */
  readonly levels: readonly string[];
  readonly group: Int32Array;
  /** Design values, rows × columns.length, row-major. */
  readonly Z: Float64Array;
}

/**
 * Checks the data's random-effect terms against the model's (`spec`: names and columns, in
 * order) and against the n rows, in the caller's row order, so that a bad value is named where
 * the caller has it (the fitting paths reorder rows and would name another row).
 */
export function checkDataTerms(terms: readonly DataTerm[] | undefined, spec: readonly { name: string; columns: readonly string[] }[], n: number): readonly DataTerm[] {
  if (!terms || terms.length !== spec.length) throw new DataError(`the model has ${spec.length} random-effect terms (${spec.map((t) => t.name).join(', ')}) and data.terms ${terms?.length ?? 0}`);
  terms.forEach((t, k) => {
    const what = `data.terms[${k}] ('${t.name}')`;
    const want = spec[k];
    if (t.name !== want.name || t.columns.length !== want.columns.length || t.columns.some((c, a) => c !== want.columns[a])) {
      throw new DataError(`${what} has the columns ${t.columns.join(', ')}; the model's term ${k + 1} is '${want.name}' with ${want.columns.join(', ')} (terms in the model's order)`);
    }
    const q = t.columns.length, G = t.levels.length;
    if (t.group.length !== n) throw new DataError(`${what}: group has ${t.group.length} values for ${n} rows`);
    if (t.Z.length !== n * q) throw new DataError(`${what}: Z has ${t.Z.length} values; ${n} rows × ${q} column${q === 1 ? '' : 's'} need ${n * q}`);
    for (let j = 0; j < n; j++) {
      const g = t.group[j];
      if (!(Number.isInteger(g) && g >= 0 && g < G)) throw new DataError(`${what}: the level index ${g} is not one of its ${G} levels (0 to ${G - 1})`, { row: j + 1 });
      for (let a = 0; a < q; a++) {
        if (!Number.isFinite(t.Z[j * q + a])) throw new DataError(`${what}: ${quoteName(t.columns[a])} is ${t.Z[j * q + a]}, not a finite number`, { row: j + 1 });
      }
    }
  });
  return terms;
}

/** The data arranged for fitting: observations sorted by group, labels in first-seen order. */
export interface PreparedData {
  readonly response: GroupedResponse;
  /** X rows in the sorted order. */
  readonly X: Float64Array;
  readonly p: number;
  /** Group labels (texts), in group index order. */
  readonly levels: readonly string[];
  /** order[k] = the original row of sorted observation k. */
  readonly order: Int32Array;
  /** Group-level covariates, one row per group (G × d), when given. */
  readonly Zg: Float64Array | null;
  readonly d: number;
  /**
   * Prior weights in the sorted order (row j's log-likelihood counts w_j times), or null for
   * all 1. For a binomial response without trials they have become the trials (lme4's
   * proportion convention) and this is null.
   */
  readonly weights: Float64Array | null;
  /** The offset in the sorted order (a known part of η), or null for all 0. */
  readonly offset: Float64Array | null;
}

// Successes y·w of a binomial proportion must be whole within this (they are computed in
// floating point from a proportion written with finitely many digits: 0.3 × 10).
const WHOLE_TOL = 1e-8;

/**
 * Validates the data and sorts the observations by group. Rows in messages ("row N") are
 * 1-based rows of `d`; a caller with a file maps them (frame.ts: locateInTable). Every error
 * is a DataError.
 */
export function prepare(family: Family, d: ModelData): PreparedData {
  const n = d.y.length;
  const p = d.xNames.length;
  if (n === 0) throw new DataError('there are no observations (no data rows)');
  let X0: Float64Array;
  try {
    X0 = asMatrix(d.X, p, 'X', d.xNames);
  } catch (e) {
    throw new DataError((e as Error).message);
  }
  d = { ...d, X: X0 };
  if (X0.length !== n * p) throw new DataError(`X has ${X0.length} values; ${n} rows × ${p} columns need ${n * p}`);
  // A JavaScript caller may leave it out: said here, not as a TypeError from d.group.length.
  if (!d.group || typeof d.group.length !== 'number') throw new DataError('group is missing: every observation needs its group label (data.group)');
  if (d.group.length !== n) throw new DataError(`group has ${d.group.length} labels for ${n} observations`);
  for (const [name, v] of [['trials', d.trials], ['weights', d.weights], ['offset', d.offset]] as const) {
    if (v && v.length !== n) throw new DataError(`${name} has ${v.length} values for ${n} observations`);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      const v = X0[i * p + j];
      if (!Number.isFinite(v)) throw new DataError(`${v} is not a finite number`, { row: i + 1, column: d.xNames[j] });
    }
    if (!Number.isFinite(d.y[i])) throw new DataError(`the response ${d.y[i]} is not a finite number`, { row: i + 1 });
    if (d.weights && !(Number.isFinite(d.weights[i]) && d.weights[i] >= 0)) {
      throw new DataError(`the weight ${d.weights[i]} is not a finite number ≥ 0`, { row: i + 1 });
    }
    if (d.offset && !Number.isFinite(d.offset[i])) throw new DataError(`the offset ${d.offset[i]} is not a finite number`, { row: i + 1 });
  }
  if (d.trials && d.weights) {
    // glm's rule would multiply the prior weights into the trials' log-likelihood; refused
    // rather than guessed, so a count response never silently loses its weights.
    throw new DataError('binomial counts (trials, as cbind(successes, failures) gives them) cannot be combined with prior weights; give either counts or a proportion with the trials as weights');
  }
  if (d.trials && family.name !== 'binomial') {
    throw new DataError(`binomial counts (trials, as cbind(successes, failures) gives them) do not go with the ${family.name} family; use the binomial family (--family binomial)`);
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
  // Stable sort of rows by group index (counting sort). A group of one row is a group like any
  // other (lme4 fits it: its random effect is then informed by the prior and that one row).
  const counts = new Int32Array(levels.length + 1);
  for (let i = 0; i < n; i++) counts[gi[i] + 1]++;
  for (let k = 0; k < levels.length; k++) counts[k + 1] += counts[k];
  const order = new Int32Array(n);
  const next = counts.slice(0, levels.length);
  for (let i = 0; i < n; i++) order[next[gi[i]]++] = i;
  const sizes = Array.from({ length: levels.length }, (_, k) => counts[k + 1] - counts[k]);
  const sorted = (v: ArrayLike<number>) => Float64Array.from(order, (i) => v[i]);
  let y = sorted(d.y);
  let trials = d.trials ? sorted(d.trials) : undefined;
  let weights = d.weights ? sorted(d.weights) : null;
  if (family.name === 'binomial' && !trials) {
    // lme4's (and glm's) proportion convention: y is the proportion of successes out of
    // `weights` trials (one trial each without weights), so the successes are y·w.
    const w = weights;
    const s = new Float64Array(n);
    const m = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const row = { row: order[k] + 1 };
      const yk = y[k], wk = w ? w[k] : 1;
      if (!(yk >= 0 && yk <= 1)) throw new DataError(`a binomial response without trials is a proportion in [0, 1] (with the trials as weights), got ${yk}`, row);
      const mk = Math.round(wk);
      if (!(Math.abs(wk - mk) <= WHOLE_TOL && mk >= 1)) {
        throw new DataError(`the weight ${wk} is not a whole number ≥ 1; for a binomial proportion the weights are the numbers of trials`, row);
      }
      const sk = yk * mk, rk = Math.round(sk);
      if (!(Math.abs(sk - rk) <= WHOLE_TOL * Math.max(1, mk))) {
        throw new DataError(`the proportion ${yk} of ${mk} trials is ${sk} successes, not a whole number`, row);
      }
      s[k] = rk;
      m[k] = mk;
    }
    y = s;
    trials = m;
    weights = null;
  }
  let response: GroupedResponse;
  try {
    // The kernels' m slot: a binomial count's trials, else the prior weights.
    response = groupResponse(family, y, sizes, trials ?? weights ?? undefined);
  } catch (e) {
    // Name the original row, not the sorted position.
    const m = /^observation (\d+): (.*)$/s.exec((e as Error).message);
    if (m) throw new DataError(m[2], { row: order[Number(m[1])] + 1 });
    throw new DataError((e as Error).message);
  }
  const X = new Float64Array(n * p);
  for (let k = 0; k < n; k++) X.set(X0.subarray(order[k] * p, order[k] * p + p), k * p);
  let Zg: Float64Array | null = null;
  const dz = d.zNames?.length ?? 0;
  if (d.Z) {
    if (!d.zNames || d.Z.length !== n * dz) throw new DataError(`Z has ${d.Z.length} values; ${n} rows × ${dz} covariates need ${n * dz}`);
    Zg = new Float64Array(levels.length * dz);
    const seen = new Uint8Array(levels.length);
    for (let i = 0; i < n; i++) {
      const g = gi[i];
      for (let c = 0; c < dz; c++) {
        const v = d.Z[i * dz + c];
        const at = { row: i + 1, column: d.zNames[c] };
        if (!Number.isFinite(v)) throw new DataError(`${v} is not a finite number`, at);
        if (!seen[g]) Zg[g * dz + c] = v;
        else if (Zg[g * dz + c] !== v) {
          throw new DataError(`${v} differs from ${Zg[g * dz + c]} earlier in group ${quoteName(levels[g])} (random-effect covariates must be constant within a group)`, at);
        }
      }
      seen[g] = 1;
    }
  }
  const offset = d.offset ? sorted(d.offset) : null;
  return { response, X, p, levels, order, Zg, d: dz, weights, offset };
}
