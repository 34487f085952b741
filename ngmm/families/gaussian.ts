// Gaussian response, residual SD σ (the dispersion ϕ is σ, not σ², so it is positive on the
// data's scale). Identity link (canonical) and log link (μ = e^η; not concave in η). A prior
// weight w divides the variance, as lmer's weights do: y ~ N(μ, σ²/w), so c(y, w) = ½·log w − ½·log 2π;
// a row of weight 0 carries no information and contributes 0.
import { GAUSSIAN_IDENTITY, GAUSSIAN_LOG } from '../../kernels/reference/marginal/obs';
import { fromCode, LN_2PI, type Family } from './family';

const common = {
  name: 'gaussian' as const,
  constant: (_y: number, m: number) => (m > 0 ? 0.5 * Math.log(m) - 0.5 * LN_2PI : 0),
  variance: (_mu: number, s: number, m: number) => (s * s) / m,
  deviance: (y: number, mu: number, m: number) => (y - mu) ** 2 * m,
  validate(y: ArrayLike<number>) {
    for (let i = 0; i < y.length; i++) {
      if (!Number.isFinite(y[i])) return { index: i, message: `gaussian response must be finite, got ${y[i]}` };
    }
    return null;
  },
};

export const gaussianIdentity: Family = fromCode(GAUSSIAN_IDENTITY, { ...common, link: 'identity', mean: (eta) => eta });
export const gaussianLog: Family = fromCode(GAUSSIAN_LOG, { ...common, link: 'log', mean: (eta) => Math.exp(eta) });
