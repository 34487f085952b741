// Row-wise negative log-likelihoods on the tape and inverse links, for the baselines that
// score rows one at a time (OHE, Embed, BBVI). Constants that depend on y alone are kept, so
// the losses are true negative log-likelihoods (validation numbers compare across methods):
//   Gaussian   ½ log(2π) + log σ + (y − η)² / (2σ²)          (identity link)
//   Bernoulli  softplus(η) − y·η                              (logit link)
//   Poisson    e^η − y·η + log y!                             (log link)
import * as E from '../../../engine/index';
import { lgamma } from '../../../kernels/reference/special';
import type { RFamily } from '../types';

const HALF_LOG_2PI = 0.9189385332046728;

/**
 * Σ_i −log p(y_i | η_i) over the rows of `eta` ([n] or [n × 1]). `logSigma` (a scalar tensor)
 * is the Gaussian's log residual SD; omitted, σ = 1 (the loss is then ½·RSS plus a constant).
 */
export function sumNll(family: RFamily, eta: E.Tensor, y: ArrayLike<number>, logSigma?: E.Tensor): E.Tensor {
  const n = y.length;
  const e = E.reshape(eta, [n]);
  const yt = E.tensor(y, [n]);
  let constant = 0;
  if (family === 'gaussian') {
    const r2 = E.sum(E.square(E.sub(yt, e)));
    if (!logSigma) return E.add(E.affine(r2, 0.5, 0), n * HALF_LOG_2PI);
    // n·log σ + RSS/(2σ²) = n·log σ + ½·RSS·e^{−2 log σ}
    return E.add(E.add(E.affine(logSigma, n, 0), E.mul(E.affine(r2, 0.5, 0), E.exp(E.affine(logSigma, -2, 0)))), n * HALF_LOG_2PI);
  }
  if (family === 'bernoulli') return E.sub(E.sum(E.softplus(e)), E.sum(E.mul(yt, e)));
  for (let i = 0; i < n; i++) constant += lgamma(y[i] + 1);
  return E.add(E.sub(E.sum(E.exp(e)), E.sum(E.mul(yt, e))), constant);
}

/** The mean E[y | η] of one row. */
export function meanOf(family: RFamily, eta: number): number {
  if (family === 'gaussian') return eta;
  if (family === 'poisson') return Math.exp(eta);
  return eta >= 0 ? 1 / (1 + Math.exp(-eta)) : Math.exp(eta) / (1 + Math.exp(eta));
}
