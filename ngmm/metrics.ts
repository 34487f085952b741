// The paper's evaluation metrics (MATH.md §10), on predicted means.
import { xlogy } from './families/family';

export function rmse(y: ArrayLike<number>, mu: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (y[i] - mu[i]) ** 2;
  return Math.sqrt(s / y.length);
}

/** Mean negative log predictive probability of 0/1 outcomes, probabilities clipped to [1e−15, 1 − 1e−15]. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(1 - 1e-15, Math.max(1e-15, p[i]));
    s -= y[i] === 1 ? Math.log(q) : Math.log1p(-q);
  }
  return s / y.length;
}

/** Mean Poisson deviance 2[y log(y/μ) − (y − μ)], with 0·log 0 = 0. */
export function poissonDeviance(y: ArrayLike<number>, mu: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += 2 * (xlogy(y[i], mu[i]) - (y[i] - mu[i]));
  return s / y.length;
}
