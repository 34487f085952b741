// Gamma responses y > 0 with mean μ = e^η (log link) and shape α > 0 learned as the dispersion
// ϕ (Var = μ²/α; R's dispersion is 1/α, glmmTMB's sigma 1/√α):
//   log p = α·log(α/μ) + (α − 1)·log y − α·y/μ − lgamma(α).
// Concave in η (∂²/∂η² = −α·y/μ). A prior weight w counts the row's log-density w times
// (glm's Gamma()$aic), c(y, w) = −w·log y. Only the log link: identity and inverse need
// μ > 0, a constraint on η (docs/families.md).
import { GAMMA_LOG } from '../../kernels/reference/marginal/obs';
import { fromCode, type Family } from './family';

export const gammaLog: Family = fromCode(GAMMA_LOG, {
  name: 'gamma',
  link: 'log',
  constant: (y, m) => -Math.log(y) * m,
  mean: (eta) => Math.exp(eta),
  variance: (mu, alpha, m) => (mu * mu) / (alpha * m),
  // 2[−log(y/μ) + (y − μ)/μ], R's Gamma()$dev.resids.
  deviance: (y, mu, m) => 2 * (-Math.log(y / mu) + (y - mu) / mu) * m,
  validate(y: ArrayLike<number>) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (!(v > 0 && Number.isFinite(v))) return { index: i, message: `gamma response must be a finite number > 0, got ${v}` };
    }
    return null;
  },
});
