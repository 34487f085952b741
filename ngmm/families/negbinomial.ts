// Negative binomial NB2 counts (glmmTMB's nbinom2): mean μ = e^η, Var = μ + μ²/θ, the size
// θ > 0 learned as the dispersion ϕ;
//   log p = lgamma(y + θ) − lgamma(θ) − log y! + θ·log(θ/(θ + μ)) + y·log(μ/(θ + μ)).
// Concave in η (∂²/∂η² = −(θ + y)·σ(x)·σ(−x), x = η − log θ). A prior weight w counts the
// row's log-density w times, c(y, w) = −w·log y!. Derivations: docs/families.md.
import { lgamma } from '../../kernels/reference/special';
import { NEGBIN_LOG } from '../../kernels/reference/marginal/obs';
import { fromCode, xlogy, type Family } from './family';

export const negbinomialLog: Family = fromCode(NEGBIN_LOG, {
  name: 'negbinomial',
  link: 'log',
  constant: (y, m) => -lgamma(y + 1) * m,
  mean: (eta) => Math.exp(eta),
  variance: (mu, theta, m) => (mu + (mu * mu) / theta) / m,
  // 2[y·log(y/μ) − (y + θ)·log((y + θ)/(μ + θ))]: glm.nb's deviance at a known θ.
  deviance(y, mu, m, theta) {
    if (!(theta !== undefined && theta > 0)) throw new Error(`the negative binomial deviance needs θ > 0 (got ${theta})`);
    return 2 * (xlogy(y, mu) - xlogy(y + theta, mu + theta)) * m;
  },
  validate(y: ArrayLike<number>) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (!(Number.isInteger(v) && v >= 0)) {
        return { index: i, message: `negative binomial response must be a non-negative integer count, got ${v}` };
      }
    }
    return null;
  },
});
