// Which columns of a fixed-effect design to keep when the design is rank deficient, decided by
// the rule R's lm() and lme4 (lmerControl(check.rankX = "message+drop.cols")) use: LINPACK's
// dqrdc2, a Householder QR with *limited* column pivoting. Columns are taken in their order; a
// column whose part orthogonal to the columns kept before it has a norm below tol times its
// own norm (tol = 1e-7, lme4's) is moved to the end and dropped, so earlier columns always win
// and an aliased column is the later one, as in R. docs/frame.md writes the rule out.
//
// Choices of ours: each column is scaled to unit norm first (by its largest entry, then by its
// norm, so neither x·1e−300 nor x·1e300 under- or overflows and the rule does not depend on
// the columns' units); the orthogonal part's norm is recomputed for every column rather than
// downdated as dqrdc2 does (the same test, without the downdating's cancellation); and for a
// tall design the rule runs on the triangular factor R of X = QR (computed block by block,
// TSQR), not on X: Q is orthogonal, so R's columns have X's lengths and angles, and every
// quantity the rule looks at is the same, in p² numbers of memory instead of n·p.

export interface RankDecision {
  /** Indices of the kept columns, increasing. */
  kept: number[];
  /**
   * The dropped columns, increasing, each with the kept columns it is (numerically) a linear
   * combination of; `zero` when the column is all zeros.
   */
  dropped: { index: number; zero: boolean; aliasedWith: number[] }[];
}

/** dqrdc2's tolerance as lme4 and lm() call it. */
export const RANK_TOL = 1e-7;

/**
 * Decides the rank and the kept columns of the n × p matrix whose columns are `columns`
 * (each of length n), without modifying them.
 */
export function pivotedRank(columns: readonly ArrayLike<number>[], n: number, tol = RANK_TOL): RankDecision {
  const kept: number[] = [];
  const dropped: RankDecision['dropped'] = [];
  // Householder reflections of the kept columns: H_l = I − τ_l u_l u_lᵀ acting on rows l..n−1,
  // and R's columns (R[0..l][l]).
  const us: Float64Array[] = [];
  const taus: number[] = [];
  const rcols: Float64Array[] = [];
  columns.forEach((column, j) => {
    const v = unitColumn(column, n);
    if (!v) {
      dropped.push({ index: j, zero: true, aliasedWith: [] });
      return;
    }
    const k = kept.length;
    for (let l = 0; l < k; l++) reflect(us[l], taus[l], v, l);
    let ss = 0;
    for (let i = k; i < n; i++) ss += v[i] * v[i];
    const residual = Math.sqrt(ss);
    if (k >= n || !(residual >= tol)) {
      dropped.push({ index: j, zero: false, aliasedWith: aliases(rcols, v, k).map((l) => kept[l]) });
      return;
    }
    // u = v[k..] − α e_1 with α = −sign(v_k)·‖v[k..]‖ (no cancellation in u_1); τ = 2/‖u‖².
    const alpha = v[k] >= 0 ? -residual : residual;
    const u = v.slice(k);
    u[0] -= alpha;
    const tau = 1 / (residual * (residual + Math.abs(v[k])));
    const r = v.slice(0, k + 1);
    r[k] = alpha;
    us.push(u);
    taus.push(tau);
    rcols.push(r);
    kept.push(j);
  });
  return { kept, dropped };
}

// The column scaled to unit Euclidean norm, or null when it is all zeros. Non-finite entries
// are the caller's to rule out.
function unitColumn(column: ArrayLike<number>, n: number): Float64Array | null {
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(column[i]));
  if (max === 0) return null;
  const v = new Float64Array(n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    v[i] = column[i] / max;
    ss += v[i] * v[i];
  }
  const norm = Math.sqrt(ss);
  for (let i = 0; i < n; i++) v[i] /= norm;
  return v;
}

// v ← H v for the reflection acting on rows l..n−1.
function reflect(u: Float64Array, tau: number, v: Float64Array, l: number): void {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * v[l + i];
  s *= tau;
  for (let i = 0; i < u.length; i++) v[l + i] -= s * u[i];
}

// The kept columns (positions 0..k−1 among them) a dropped column depends on: the solution c
// of R₁₁ c = (Qᵀv)[0..k−1], the least-squares fit of the (unit) column on the (unit) kept
// columns, listing the entries above 1e−6 of the largest. On unit columns the coefficients
// are comparable; ones at rounding level are not real dependencies.
function aliases(rcols: Float64Array[], v: Float64Array, k: number): number[] {
  const c = new Float64Array(k);
  for (let l = k - 1; l >= 0; l--) {
    let s = v[l];
    for (let m = l + 1; m < k; m++) s -= rcols[m][l] * c[m];
    c[l] = s / rcols[l][l];
  }
  let max = 0;
  for (let l = 0; l < k; l++) max = Math.max(max, Math.abs(c[l]));
  const out: number[] = [];
  for (let l = 0; l < k; l++) if (Math.abs(c[l]) > 1e-6 * max) out.push(l);
  return out;
}

/**
 * The upper-triangular factor R (q × q, as its q columns) of the n × q matrix whose row i
 * `row(i, out)` writes, by Householder QR over blocks of rows: R of [R_previous; next rows]
 * (Demmel, Grigori, Hoemmen & Langou 2012, "Communication-optimal parallel and sequential QR",
 * §3, TSQR). Rows are read once, in order; memory is O(q·block). Each block refactors R's q
 * rows with its own, so the default block of at least 2q rows keeps that overhead within 1.5×
 * the flops of one QR of X.
 */
export function triangularFactor(n: number, q: number, row: (i: number, out: Float64Array) => void, block = Math.max(512, 2 * q)): Float64Array[] {
  const R = new Float64Array(q * q); // column-major, rows 0..q−1
  let rRows = 0; // rows of R filled so far: min(rows seen, q)
  const out = new Float64Array(q);
  for (let start = 0; start < n; start += block) {
    const b = Math.min(block, n - start);
    const m = rRows + b;
    const A = new Float64Array(m * q); // column-major m × q
    for (let j = 0; j < q; j++) for (let i = 0; i < rRows; i++) A[j * m + i] = R[j * q + i];
    for (let i = 0; i < b; i++) {
      row(start + i, out);
      for (let j = 0; j < q; j++) A[j * m + rRows + i] = out[j];
    }
    householderInPlace(A, m, q);
    rRows = Math.min(m, q);
    R.fill(0);
    for (let j = 0; j < q; j++) for (let i = 0; i <= Math.min(j, rRows - 1); i++) R[j * q + i] = A[j * m + i];
  }
  return Array.from({ length: q }, (_, j) => R.slice(j * q, j * q + q));
}

// Householder QR of the column-major m × q matrix A, leaving R in its upper triangle and
// zeros below it.
function householderInPlace(A: Float64Array, m: number, q: number): void {
  for (let j = 0; j < Math.min(m, q); j++) {
    const c = j * m;
    let ss = 0;
    for (let i = j; i < m; i++) ss += A[c + i] * A[c + i];
    const norm = Math.sqrt(ss);
    if (norm === 0) continue;
    // u = a − α e_1 with α = −sign(a_1)·‖a‖ (no cancellation in u_1); τ = 2/‖u‖².
    const alpha = A[c + j] >= 0 ? -norm : norm;
    const tau = 1 / (norm * (norm + Math.abs(A[c + j])));
    A[c + j] -= alpha; // A[c + j..] now holds u
    for (let k = j + 1; k < q; k++) {
      const ck = k * m;
      let s = 0;
      for (let i = j; i < m; i++) s += A[c + i] * A[ck + i];
      s *= tau;
      for (let i = j; i < m; i++) A[ck + i] -= s * A[c + i];
    }
    A[c + j] = alpha;
    for (let i = j + 1; i < m; i++) A[c + i] = 0;
  }
}
