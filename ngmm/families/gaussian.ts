// Gaussian response, residual SD σ (the dispersion ϕ is σ, not σ², so it is positive on the
// data's scale). Identity link (canonical) and log link (μ = e^η; not concave in η).
import { GAUSSIAN_IDENTITY, GAUSSIAN_LOG } from '../../kernels/reference/marginal/obs';
import { fromCode, LN_2PI, type Family } from './family';

const common = {
  name: 'gaussian' as const,
  constant: () => -0.5 * LN_2PI,
  variance: (_mu: number, s: number) => s * s,
  deviance: (y: number, mu: number) => (y - mu) ** 2,
  validate(y: ArrayLike<number>) {
    for (let i = 0; i < y.length; i++) {
      if (!Number.isFinite(y[i])) return { index: i, message: `gaussian response must be finite, got ${y[i]}` };
    }
    return null;
  },
};

export const gaussianIdentity: Family = fromCode(GAUSSIAN_IDENTITY, { ...common, link: 'identity', mean: (eta) => eta });
export const gaussianLog: Family = fromCode(GAUSSIAN_LOG, { ...common, link: 'log', mean: (eta) => Math.exp(eta) });
