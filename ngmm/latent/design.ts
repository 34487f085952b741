// The background covariates as the four background models see them (issue 15; the paper's
// Appendix 15.4): the neural models get standardised continuous covariates (missing values at
// the training median, plus a 0/1 "was missing" column for each covariate that has any) and
// categorical covariates as level codes for embeddings with an explicit missing-value level;
// the linear models get principal components (ngmm/latent/pca.ts) of the continuous
// covariates and the 0/1 indicators of every categorical level, missing included, as the
// official PISA conditioning model does. Every statistic comes from the training students.
import { fitPca, pcaScores, type Pca } from './pca';

/** Student-level covariates, row-major over students. */
export interface Covariates {
  /** n × pNum, NaN where missing. */
  readonly num: Float64Array;
  readonly numNames: readonly string[];
  /** n × pCat level codes 0 … levels − 1, −1 where missing. */
  readonly cat: Int32Array;
  readonly catNames: readonly string[];
  readonly catLevels: readonly number[];
}

export interface Encoding {
  readonly median: Float64Array;
  readonly mean: Float64Array;
  readonly sd: Float64Array;
  /** Continuous columns that had missing values in training: each gets an indicator column. */
  readonly missingCols: readonly number[];
  /** The linear models' components, fitted on the training students' dummy design. */
  readonly pca: Pca;
}

const pNumOf = (c: Covariates) => c.numNames.length;
const pCatOf = (c: Covariates) => c.catNames.length;

function check(c: Covariates, rows: Int32Array): void {
  const n = c.num.length / Math.max(1, pNumOf(c));
  for (const r of rows) if (!(r >= 0 && r < n)) throw new Error(`latent design: student ${r} is outside 0…${n - 1}`);
  for (let j = 0; j < pCatOf(c); j++) {
    for (const r of rows) {
      const v = c.cat[r * pCatOf(c) + j];
      if (!(v === -1 || (Number.isInteger(v) && v >= 0 && v < c.catLevels[j]))) throw new Error(`latent design: student ${r}, covariate '${c.catNames[j]}': level ${v} is outside −1…${c.catLevels[j] - 1}`);
    }
  }
}

/** Fits the encoding on the training students `rows`. */
export function fitEncoding(c: Covariates, rows: Int32Array, pcaShare = 0.95): Encoding {
  check(c, rows);
  const p = pNumOf(c);
  const median = new Float64Array(p), mean = new Float64Array(p), sd = new Float64Array(p);
  const missingCols: number[] = [];
  for (let j = 0; j < p; j++) {
    const v = Array.from(rows, (r) => c.num[r * p + j]).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    if (v.length === 0) throw new Error(`latent design: covariate '${c.numNames[j]}' is missing for every training student`);
    if (v.length < rows.length) missingCols.push(j);
    const m = v.length;
    median[j] = m % 2 ? v[(m - 1) / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
    const filled = Array.from(rows, (r) => (Number.isNaN(c.num[r * p + j]) ? median[j] : c.num[r * p + j]));
    mean[j] = filled.reduce((s, x) => s + x, 0) / filled.length;
    const s2 = filled.reduce((s, x) => s + (x - mean[j]) ** 2, 0) / Math.max(1, filled.length - 1);
    sd[j] = s2 > 0 ? Math.sqrt(s2) : 1;
  }
  const partial = { median, mean, sd, missingCols };
  const D = dummyRows(c, rows, partial);
  const q = D.length / rows.length;
  return { ...partial, pca: fitPca(D, rows.length, q, pcaShare) };
}

/** The neural models' continuous inputs: standardised values, then the missing indicators. */
export function numericInputs(c: Covariates, rows: Int32Array, e: Pick<Encoding, 'median' | 'mean' | 'sd' | 'missingCols'>): Float64Array {
  check(c, rows);
  const p = pNumOf(c), q = p + e.missingCols.length, out = new Float64Array(rows.length * q);
  rows.forEach((r, i) => {
    for (let j = 0; j < p; j++) {
      const v = c.num[r * p + j];
      out[i * q + j] = ((Number.isNaN(v) ? e.median[j] : v) - e.mean[j]) / e.sd[j];
    }
    e.missingCols.forEach((j, k) => (out[i * q + p + k] = Number.isNaN(c.num[r * p + j]) ? 1 : 0));
  });
  return out;
}

/** Level codes of categorical covariate j for `rows` (−1 missing: the embedding's missing level). */
export function categoryCodes(c: Covariates, rows: Int32Array, j: number): Int32Array {
  check(c, rows);
  const p = pCatOf(c);
  return Int32Array.from(rows, (r) => c.cat[r * p + j]);
}

// Continuous inputs (standardised, with missing indicators) and one indicator per level of each
// categorical covariate, the missing level included.
function dummyRows(c: Covariates, rows: Int32Array, e: Pick<Encoding, 'median' | 'mean' | 'sd' | 'missingCols'>): Float64Array {
  const num = numericInputs(c, rows, e);
  const qn = num.length / Math.max(1, rows.length), pc = pCatOf(c);
  const widths = c.catLevels.map((l) => l + 1);
  const q = qn + widths.reduce((s, w) => s + w, 0);
  const out = new Float64Array(rows.length * q);
  rows.forEach((r, i) => {
    for (let j = 0; j < qn; j++) out[i * q + j] = num[i * qn + j];
    let off = qn;
    for (let j = 0; j < pc; j++) {
      const v = c.cat[r * pc + j];
      out[i * q + off + (v < 0 ? c.catLevels[j] : v)] = 1;
      off += widths[j];
    }
  });
  return out;
}

/** The linear models' inputs: principal-component scores (n × k). */
export function linearInputs(c: Covariates, rows: Int32Array, e: Encoding): Float64Array {
  return pcaScores(e.pca, dummyRows(c, rows, e), rows.length);
}
