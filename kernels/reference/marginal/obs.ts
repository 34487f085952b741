// Per-observation log-likelihood pieces in η, by family code (ngmm/families/family.ts):
// the part of log p(y | η, ϕ) that depends on η or ϕ (`core`; the rest, c(y), is summed once per
// group), its score ∂/∂η, curvature ∂²/∂η² and dispersion derivative ∂/∂ϕ (ϕ = σ, Gaussian).
// m is the number of trials (binomial; 1 for Bernoulli). kernels/assembly/marginal/obs.ts is
// the same code for WASM; ngmm/families builds its user-facing families on these.
import { log1pexp, logNdtr } from '../special';

export const GAUSSIAN_IDENTITY = 0;
export const GAUSSIAN_LOG = 1;
export const BINOMIAL_LOGIT = 2;
export const BINOMIAL_PROBIT = 3;
export const BINOMIAL_CLOGLOG = 4;
export const POISSON_LOG = 5;
export const POISSON_SQRT = 6;

const HALF_LN_2PI = 0.9189385332046728;

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** φ(x)/Φ(x) in the log domain: ≈ −x for x ≪ 0 without 0/0. */
export function millsRatio(x: number): number {
  return Math.exp(-0.5 * x * x - HALF_LN_2PI - logNdtr(x));
}

// (expm1(x) − x·eˣ)/expm1(x)²: d/dx of x/expm1(x), by expansions where the direct form
// cancels (small x) or overflows (large x).
function cloglogCurv(x: number): number {
  if (x < 1e-5) return -0.5 - x / 3;
  if (x > 30) return x > 700 ? 0 : (1 - x) * Math.exp(-x);
  const em = Math.expm1(x);
  return (em - x * Math.exp(x)) / (em * em);
}

export function obsCore(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY: {
      const r = (y - eta) / phi;
      return -0.5 * r * r - Math.log(phi);
    }
    case GAUSSIAN_LOG: {
      const r = (y - Math.exp(eta)) / phi;
      return -0.5 * r * r - Math.log(phi);
    }
    case BINOMIAL_LOGIT:
      return y * eta - m * log1pexp(eta);
    case BINOMIAL_PROBIT:
      return (y > 0 ? y * logNdtr(eta) : 0) + (m - y > 0 ? (m - y) * logNdtr(-eta) : 0);
    case BINOMIAL_CLOGLOG: {
      // Each term only where its count is positive: (m − y)·x is 0·∞ for y = m at large η.
      const x = Math.exp(eta);
      return (y > 0 ? y * Math.log(-Math.expm1(-x)) : 0) - (m - y > 0 ? (m - y) * x : 0);
    }
    case POISSON_LOG:
      return y * eta - Math.exp(eta);
    default: // POISSON_SQRT
      return (y > 0 ? 2 * y * Math.log(Math.abs(eta)) : 0) - eta * eta;
  }
}

export function obsScore(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return (y - eta) / (phi * phi);
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return ((y - mu) * mu) / (phi * phi);
    }
    case BINOMIAL_LOGIT:
      // y·σ(−η) − (m − y)·σ(η), not y − m·σ(η): for y = m and η = 30 the latter is
      // 1 − (1 − 9e−14), a difference that keeps only three digits.
      return y * sigmoid(-eta) - (m - y) * sigmoid(eta);
    case BINOMIAL_PROBIT:
      return (y > 0 ? y * millsRatio(eta) : 0) - (m - y > 0 ? (m - y) * millsRatio(-eta) : 0);
    case BINOMIAL_CLOGLOG: {
      const x = Math.exp(eta);
      return (y > 0 && x < 700 ? (y * x) / Math.expm1(x) : 0) - (m - y > 0 ? (m - y) * x : 0);
    }
    case POISSON_LOG:
      return y - Math.exp(eta);
    default:
      return (y > 0 ? (2 * y) / eta : 0) - 2 * eta;
  }
}

export function obsHess(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return -1 / (phi * phi);
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return ((y - 2 * mu) * mu) / (phi * phi);
    }
    case BINOMIAL_LOGIT: {
      const p = sigmoid(eta);
      return -m * p * (1 - p);
    }
    case BINOMIAL_PROBIT: {
      let h = 0;
      if (y > 0) {
        const l = millsRatio(eta);
        h -= y * l * (eta + l);
      }
      if (m - y > 0) {
        const l = millsRatio(-eta);
        h -= (m - y) * l * (l - eta);
      }
      return h;
    }
    case BINOMIAL_CLOGLOG: {
      const x = Math.exp(eta);
      return (y > 0 ? y * x * cloglogCurv(x) : 0) - (m - y > 0 ? (m - y) * x : 0);
    }
    case POISSON_LOG:
      return -Math.exp(eta);
    default:
      return (y > 0 ? (-2 * y) / (eta * eta) : 0) - 2;
  }
}

/** ∂ core / ∂ϕ: only the Gaussian has a dispersion (ϕ = σ). */
export function obsDphi(code: number, y: number, _m: number, eta: number, phi: number): number {
  if (code === GAUSSIAN_IDENTITY || code === GAUSSIAN_LOG) {
    const mu = code === GAUSSIAN_IDENTITY ? eta : Math.exp(eta);
    const r = (y - mu) / phi;
    return (r * r - 1) / phi;
  }
  return 0;
}

/** True when core is concave in η for every y (one posterior mode). */
export function isConcave(code: number): boolean {
  return code !== GAUSSIAN_LOG && code !== POISSON_SQRT;
}
