// Binomial response: y successes out of m trials (Bernoulli is m = 1), success probability
// p = h(η) for the logit (canonical), probit and cloglog links; all three are concave in η.
import { lgamma, logNdtr } from '../../kernels/reference/special';
import { BINOMIAL_CLOGLOG, BINOMIAL_LOGIT, BINOMIAL_PROBIT, sigmoid } from '../../kernels/reference/marginal/obs';
import { fromCode, xlogy, type BadValue, type Family } from './family';

const probability = {
  logit: sigmoid,
  probit: (eta: number) => Math.exp(logNdtr(eta)),
  cloglog: (eta: number) => -Math.expm1(-Math.exp(eta)),
};
const codes = { logit: BINOMIAL_LOGIT, probit: BINOMIAL_PROBIT, cloglog: BINOMIAL_CLOGLOG };

function make(name: 'bernoulli' | 'binomial', link: 'logit' | 'probit' | 'cloglog'): Family {
  const p = probability[link];
  return fromCode(codes[link], {
    name,
    link,
    constant: (y, m) => (name === 'bernoulli' ? 0 : lgamma(m + 1) - lgamma(y + 1) - lgamma(m - y + 1)),
    mean: (eta, m) => m * p(eta),
    variance: (mu, _phi, m) => mu * (1 - mu / m),
    deviance: (y, mu, m) => 2 * (xlogy(y, mu) + xlogy(m - y, m - mu)),
    validate(y: ArrayLike<number>, trials?: ArrayLike<number>): BadValue | null {
      for (let i = 0; i < y.length; i++) {
        const v = y[i];
        if (name === 'bernoulli') {
          if (v !== 0 && v !== 1) return { index: i, message: `bernoulli response must be 0 or 1, got ${v}` };
          continue;
        }
        const m = trials ? trials[i] : NaN;
        if (!(Number.isInteger(m) && m >= 1)) return { index: i, message: `binomial trials must be a positive integer, got ${m}` };
        if (!(Number.isInteger(v) && v >= 0 && v <= m)) {
          return { index: i, message: `binomial successes must be an integer in 0..${m}, got ${v}` };
        }
      }
      return null;
    },
  });
}

export const bernoulli = { logit: make('bernoulli', 'logit'), probit: make('bernoulli', 'probit'), cloglog: make('bernoulli', 'cloglog') };
export const binomial = { logit: make('binomial', 'logit'), probit: make('binomial', 'probit'), cloglog: make('binomial', 'cloglog') };
