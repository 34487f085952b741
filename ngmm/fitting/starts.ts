// Where a fit starts, and the conventions it ends in: the standardisation of X, glm()'s
// starting values (ngmm/start.ts), the least-squares start of the sqrt link without an
// intercept, and the sign convention of the sqrt link's two equal optima.
import * as E from '../../engine/index';
import type { PreparedData } from '../data';
import type { Model } from '../model';
import { interceptStart } from '../start';
import { backSolve, cholLower, forwardSolve } from '../lmm/dense';
import { softplusInv } from '../positive';

/**
 * The standardisation of X: column means and SDs, or, without an intercept, no centring (μ = 0)
 * and the root mean square as the scale. Each column is first divided by its largest |x|, so
 * a column like x·1e−300 keeps its information (its squares would underflow to 0 and it would
 * pass for constant). A constant column keeps scale 1 (the frame names and drops those).
 */
export function columnScales(X: ArrayLike<number>, n: number, p: number, centre: boolean): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(p), sd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    let big = 0;
    for (let i = 0; i < n; i++) big = Math.max(big, Math.abs(X[i * p + j]));
    if (!(big > 0) || !Number.isFinite(big)) {
      sd[j] = 1;
      continue;
    }
    let s = 0, ss = 0;
    for (let i = 0; i < n; i++) s += X[i * p + j] / big;
    const m = centre ? s / n : 0;
    for (let i = 0; i < n; i++) ss += (X[i * p + j] / big - m) ** 2;
    const v = Math.sqrt(ss / Math.max(1, centre ? n - 1 : n));
    mean[j] = m * big;
    sd[j] = v > 1e-12 ? v * big : 1;
  }
  return { mean, sd };
}

// Without an intercept, f = 0 is a stationary point of the sqrt link's likelihood (even in f),
// so W = 0 never moves: start from the least-squares fit of √y on the (scaled) columns.
function sqrtStart(model: Model, prep: PreparedData): void {
  const p = prep.p, n = prep.response.nobs, X = prep.X, y = prep.response.y;
  const A = new Float64Array(p * p), b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const t = Math.sqrt(Math.max(0, y[i])) - (prep.offset ? prep.offset[i] : 0);
    for (let j = 0; j < p; j++) {
      b[j] += X[i * p + j] * t;
      for (let k = 0; k <= j; k++) A[j * p + k] += X[i * p + j] * X[i * p + k];
    }
  }
  // The normal equations with a small ridge (the columns are scaled to unit RMS, so 1e−8·n is
  // tiny), by the Cholesky factor's two triangular solves.
  for (let j = 0; j < p; j++) A[j * p + j] += 1e-8 * n;
  if (cholLower(A, 0, p) >= 0) return; // reads the lower triangle only
  forwardSolve(A, 0, p, b, 0, 1);
  backSolve(A, 0, p, b, 0, 1);
  if (b.every(Number.isFinite)) model.W.data.set(b);
}

// glm()'s start: the intercept at g(ȳ) (the network's output layer starts near 0), and for a
// Gaussian response σ at the SD of y, σ_b at half of it on the identity scale.
export function setStart(model: Model, prep: PreparedData): void {
  const r = prep.response, fam = model.family;
  const binomial = fam.name === 'binomial' || fam.name === 'bernoulli';
  // r.trials is m: the trials of a binomial count, else the prior weight of the row.
  let sy = 0, sm = 0, so = 0;
  for (let j = 0; j < r.nobs; j++) {
    const m = r.trials ? r.trials[j] : 1;
    sy += binomial ? r.y[j] : m * r.y[j];
    sm += m;
    if (prep.offset) so += prep.offset[j];
  }
  const ybar = sm > 0 ? sy / sm : 0;
  if (model.spec.intercept) model.b0.data[0] = interceptStart(fam.link, ybar, binomial, so / Math.max(1, r.nobs));
  else if (fam.link === 'sqrt') sqrtStart(model, prep);
  if ((fam.name === 'gamma' || fam.name === 'negbinomial') && model.thetaSigma && r.nobs > 1) {
    // Moments of y alone (covariates and groups ignored, so the variance is overstated):
    // Gamma Var = μ²/α ⇒ α ≈ ȳ²/s²; NB2 Var = μ + μ²/θ ⇒ θ ≈ ȳ²/(s² − ȳ).
    let ss = 0;
    for (let j = 0; j < r.nobs; j++) ss += (r.y[j] - ybar) ** 2;
    const v = ss / (r.nobs - 1);
    const phi = fam.name === 'gamma' ? (ybar * ybar) / v : (ybar * ybar) / Math.max(v - ybar, 0.01 * ybar * ybar);
    if (Number.isFinite(phi) && phi > 0) model.thetaSigma.data[0] = softplusInv(Math.min(1e4, Math.max(0.01, phi)));
  }
  if (fam.name === 'gaussian' && model.thetaSigma) {
    let ss = 0;
    for (let j = 0; j < r.nobs; j++) ss += (r.y[j] - ybar) ** 2;
    const sdy = Math.sqrt(ss / Math.max(1, r.nobs - 1));
    if (sdy > 0 && Number.isFinite(sdy)) {
      model.thetaSigma.data[0] = softplusInv(sdy);
      if (fam.link === 'identity') model.random.setScale(0.5 * sdy);
    }
  }
}


// With the sqrt link μ = η², so the likelihood is even under (f, b) → (−f, −b) (b's prior is
// symmetric): two optima of equal height. lme4 reports the one with η > 0 (its glm start), and
// so do we: where the mean of f over the rows is negative, f's linear part (and the network's
// output layer) change sign; the offset, being data, is even only when zero.
export function canonicalSign(model: Model, prep: PreparedData): void {
  if (prep.offset?.some((v) => v !== 0)) return;
  const f = model.fixedValues(prep.X, prep.response.nobs, null);
  let s = 0;
  for (const v of f) s += v;
  if (!(s < 0)) return;
  const neg = (t: E.Tensor) => {
    for (let i = 0; i < t.data.length; i++) t.data[i] = -t.data[i];
  };
  neg(model.b0);
  neg(model.W);
  if (model.net) {
    neg(model.net.weights[model.net.weights.length - 1]);
    neg(model.net.biases[model.net.biases.length - 1]);
  }
  // Random effects need no change: b → −b is absorbed by b's symmetric prior (for slopes too,
  // since γ = Λb and −b has the same distribution as b).
}
