// Evaluation metrics on predicted means (docs/marginal.md §11), one per kind of response, each defined
// only where it means something: a response outside the family's support, or a prediction
// outside the mean's range, is refused with its index (MetricError), never scored as something
// else (a Bernoulli y = 5 is not a failure, a Poisson y = −3 has no deviance).
//
//   Gaussian           RMSE  √(Σ (y − μ)² / n)
//   Bernoulli          log-loss  −Σ [y log p + (1 − y) log(1 − p)] / n,  y ∈ {0, 1}
//   binomial k of m    log-loss per trial  −Σ [k log p + (m − k) log(1 − p)] / Σ m: the proportion
//                      k/m is scored as k successes and m − k failures, i.e. weighted by m
//                      (R's glm: a proportion response with weights = trials)
//   Poisson            mean deviance  Σ 2[y log(y/μ) − (y − μ)] / n,  y a non-negative integer
//   any other family   mean unit deviance Σ d(y, μ) / n with the family's own d (McCullagh &
//                      Nelder 1989, §2.3), after the family's own support check
//
// Probabilities are clipped to [1e−15, 1 − 1e−15] in the log-losses so that one confident wrong
// prediction gives a large finite loss (34.5) rather than Infinity (as scikit-learn's log_loss).
import { xlogy, type Family } from './families/family';

/** A value a metric cannot score: `index` is the 0-based observation. */
export class MetricError extends Error {
  override name = 'MetricError';
  constructor(readonly index: number, message: string) {
    super(message);
  }
}

const EPS = 1e-15;

// The mean over no observations is undefined: each metric returns NaN for empty input (the
// CLI reports "no rows" instead of calling it).
function sameLength(y: ArrayLike<number>, mu: ArrayLike<number>): void {
  if (y.length !== mu.length) throw new RangeError(`metrics: ${y.length} responses but ${mu.length} predictions`);
}

function finitePrediction(mu: ArrayLike<number>, i: number): number {
  const v = mu[i];
  if (!Number.isFinite(v)) throw new MetricError(i, `the prediction ${v} is not a finite number`);
  return v;
}

function probability(p: ArrayLike<number>, i: number): number {
  const v = finitePrediction(p, i);
  if (v < 0 || v > 1) throw new MetricError(i, `the predicted probability ${v} is outside [0, 1]`);
  return Math.min(1 - EPS, Math.max(EPS, v));
}

// Prior weights (lme4's `weights`): row i counts w_i times, so every mean below is Σ w_i·ℓ_i / Σ w_i
// (w absent: all 1). A zero weight leaves its row out; all-zero weights leave nothing to score.
function weight(w: ArrayLike<number> | undefined, i: number): number {
  return w ? w[i] : 1;
}
function total(w: number, n: number): number {
  if (!(w > 0) && n > 0) throw new MetricError(0, 'every row has weight 0: there is nothing to score');
  return w;
}

export function rmse(y: ArrayLike<number>, mu: ArrayLike<number>, w?: ArrayLike<number>): number {
  sameLength(y, mu);
  let s = 0, sw = 0;
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i])) throw new MetricError(i, `the response ${y[i]} is not a finite number`);
    s += weight(w, i) * (y[i] - finitePrediction(mu, i)) ** 2;
    sw += weight(w, i);
  }
  return Math.sqrt(s / total(sw, y.length));
}

/** Mean negative log predictive probability of 0/1 outcomes. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>, w?: ArrayLike<number>): number {
  sameLength(y, p);
  let s = 0, sw = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (v !== 0 && v !== 1) throw new MetricError(i, `a Bernoulli response must be 0 or 1, got ${v}`);
    const q = probability(p, i);
    s -= weight(w, i) * (v === 1 ? Math.log(q) : Math.log1p(-q));
    sw += weight(w, i);
  }
  return s / total(sw, y.length);
}

/** Log-loss per trial of k successes out of m trials (see the file comment). */
export function binomialLogLoss(k: ArrayLike<number>, m: ArrayLike<number>, p: ArrayLike<number>, w?: ArrayLike<number>): number {
  sameLength(k, p);
  if (m.length !== k.length) throw new RangeError(`metrics: ${k.length} responses but ${m.length} trial counts`);
  let s = 0, trials = 0;
  for (let i = 0; i < k.length; i++) {
    const n = m[i], v = k[i];
    if (!(Number.isInteger(n) && n >= 0)) throw new MetricError(i, `binomial trials must be a non-negative integer, got ${n}`);
    if (!(Number.isInteger(v) && v >= 0 && v <= n)) throw new MetricError(i, `binomial successes must be an integer in 0..${n}, got ${v}`);
    if (n === 0) continue;
    const q = probability(p, i);
    s -= weight(w, i) * (v * Math.log(q) + (n - v) * Math.log1p(-q));
    trials += weight(w, i) * n;
  }
  if (trials === 0 && k.length > 0) throw new MetricError(0, 'every row has 0 trials: there is nothing to score');
  return s / trials;
}

/** Mean Poisson deviance 2[y log(y/μ) − (y − μ)], with 0·log 0 = 0. */
export function poissonDeviance(y: ArrayLike<number>, mu: ArrayLike<number>, w?: ArrayLike<number>): number {
  sameLength(y, mu);
  let s = 0, sw = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!(Number.isInteger(v) && v >= 0)) throw new MetricError(i, `a Poisson response must be a non-negative integer count, got ${v}`);
    const m = finitePrediction(mu, i);
    if (!(m > 0)) throw new MetricError(i, `the predicted mean ${m} is not positive`);
    s += weight(w, i) * 2 * (xlogy(v, m) - (v - m));
    sw += weight(w, i);
  }
  return s / total(sw, y.length);
}

/**
 * Mean unit deviance under `fam` (its support check first); `m` are binomial trials, `phi` the
 * model's dispersion where the deviance depends on it (the negative binomial's θ).
 */
export function meanDeviance(fam: Pick<Family, 'deviance' | 'validate'>, y: ArrayLike<number>, mu: ArrayLike<number>, m?: ArrayLike<number>, w?: ArrayLike<number>, phi?: number): number {
  sameLength(y, mu);
  const bad = fam.validate(y, m);
  if (bad) throw new MetricError(bad.index, bad.message);
  let s = 0, sw = 0;
  for (let i = 0; i < y.length; i++) {
    const d = fam.deviance(y[i], finitePrediction(mu, i), m ? m[i] : 1, phi);
    if (!Number.isFinite(d)) throw new MetricError(i, `the deviance of y = ${y[i]} at the prediction ${mu[i]} is ${d}`);
    s += weight(w, i) * d;
    sw += weight(w, i);
  }
  return s / total(sw, y.length);
}

export interface Metric {
  /** What the number is, for the report. */
  name: string;
  /** Scores responses y (successes, with trials m for a binomial) against predicted means. */
  score(y: ArrayLike<number>, mu: ArrayLike<number>, m?: ArrayLike<number>, w?: ArrayLike<number>): number;
}

/**
 * The metric for a family: RMSE (Gaussian), log-loss (Bernoulli; binomial per trial),
 * mean deviance (Poisson; any other family through its own unit deviance).
 */
export function metricFor(fam: Pick<Family, 'name' | 'deviance' | 'validate'>, phi?: number): Metric {
  switch (fam.name) {
    case 'gaussian':
      return { name: 'RMSE', score: (y, mu, _m, w) => rmse(y, mu, w) };
    case 'bernoulli':
      return { name: 'log-loss', score: (y, p, _m, w) => logLoss(y, p, w) };
    case 'binomial':
      return {
        name: 'log-loss per trial',
        score: (k, p, m, w) => binomialLogLoss(k, m ?? Float64Array.from({ length: k.length }, () => 1), p, w),
      };
    case 'poisson':
      return { name: 'mean deviance', score: (y, mu, _m, w) => poissonDeviance(y, mu, w) };
    default:
      return { name: 'mean deviance', score: (y, mu, m, w) => meanDeviance(fam, y, mu, m, w, phi) };
  }
}
