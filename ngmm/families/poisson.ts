// Poisson counts: log link (canonical, concave) and sqrt link (μ = η², as lme4's sqrt link;
// log p = 2y·log|η| − η² is even in η, so a group's posterior can have two modes: not
// concave; docs/families.md says why η ≤ 0 is allowed). A prior weight w counts the row's
// log-density w times (glm's convention), c(y, w) = −w·log y!.
import { lgamma } from '../../kernels/reference/special';
import { POISSON_LOG, POISSON_SQRT } from '../../kernels/reference/marginal/obs';
import { fromCode, xlogy, type Family } from './family';

const common = {
  name: 'poisson' as const,
  constant: (y: number, m: number) => -lgamma(y + 1) * m,
  variance: (mu: number, _phi: number, m: number) => mu / m,
  deviance: (y: number, mu: number, m: number) => 2 * (xlogy(y, mu) - (y - mu)) * m,
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
