// Poisson counts: log link (canonical, concave) and sqrt link (μ = η²; log p = 2y·log|η| − η²
// is symmetric in η, so a group's posterior can have two modes: not concave).
import { lgamma } from '../../kernels/reference/special';
import { POISSON_LOG, POISSON_SQRT } from '../../kernels/reference/marginal/obs';
import { fromCode, xlogy, type Family } from './family';

const common = {
  name: 'poisson' as const,
  constant: (y: number) => -lgamma(y + 1),
  variance: (mu: number) => mu,
  deviance: (y: number, mu: number) => 2 * (xlogy(y, mu) - (y - mu)),
  validate(y: ArrayLike<number>) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i];
      if (!(Number.isInteger(v) && v >= 0)) {
        return { index: i, message: `poisson response must be a non-negative integer count, got ${v}` };
      }
    }
    return null;
  },
};

export const poissonLog: Family = fromCode(POISSON_LOG, { ...common, link: 'log', mean: (eta) => Math.exp(eta) });
export const poissonSqrt: Family = fromCode(POISSON_SQRT, { ...common, link: 'sqrt', mean: (eta) => eta * eta });
