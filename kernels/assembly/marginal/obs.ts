// Per-observation log-likelihood pieces in η, by family code: the WASM twin of
// kernels/reference/marginal/obs.ts, operation for operation (same constants, same branch
// order, same evaluation order), so the two agree to the rounding of exp/log/log1p/expm1.
// Change both files together.
//   core  the part of log p(y | η, ϕ) that depends on η or ϕ
//   score ∂core/∂η, hess ∂²core/∂η², dphi ∂core/∂ϕ (ϕ = σ, Gaussian only)
// m is the number of trials (binomial; 1 for Bernoulli).
import { log1pexp, log_ndtr } from '../special';

export const GAUSSIAN_IDENTITY: i32 = 0;
export const GAUSSIAN_LOG: i32 = 1;
export const BINOMIAL_LOGIT: i32 = 2;
export const BINOMIAL_PROBIT: i32 = 3;
export const BINOMIAL_CLOGLOG: i32 = 4;
export const POISSON_LOG: i32 = 5;
export const POISSON_SQRT: i32 = 6;

const HALF_LN_2PI: f64 = 0.9189385332046728;

export function sigmoid(x: f64): f64 {
  if (x >= 0) return 1.0 / (1.0 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1.0 + e);
}

/** φ(x)/Φ(x) in the log domain: ≈ −x for x ≪ 0 without 0/0. */
export function millsRatio(x: f64): f64 {
  return Math.exp(-0.5 * x * x - HALF_LN_2PI - log_ndtr(x));
}

// (expm1(x) − x·eˣ)/expm1(x)²: d/dx of x/expm1(x), by expansions where the direct form
// cancels (small x) or overflows (large x).
function cloglogCurv(x: f64): f64 {
  if (x < 1e-5) return -0.5 - x / 3.0;
  if (x > 30.0) return x > 700.0 ? 0.0 : (1.0 - x) * Math.exp(-x);
  const em = Math.expm1(x);
  return (em - x * Math.exp(x)) / (em * em);
}

export function obsCore(code: i32, y: f64, m: f64, eta: f64, phi: f64): f64 {
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
      return (y > 0 ? y * log_ndtr(eta) : 0.0) + (m - y > 0 ? (m - y) * log_ndtr(-eta) : 0.0);
    case BINOMIAL_CLOGLOG: {
      // Each term only where its count is positive: (m − y)·x is 0·∞ for y = m at large η.
      const x = Math.exp(eta);
      return (y > 0 ? y * Math.log(-Math.expm1(-x)) : 0.0) - (m - y > 0 ? (m - y) * x : 0.0);
    }
    case POISSON_LOG:
      return y * eta - Math.exp(eta);
    default: // POISSON_SQRT
      return (y > 0 ? 2.0 * y * Math.log(Math.abs(eta)) : 0.0) - eta * eta;
  }
}

export function obsScore(code: i32, y: f64, m: f64, eta: f64, phi: f64): f64 {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return (y - eta) / (phi * phi);
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return ((y - mu) * mu) / (phi * phi);
    }
    case BINOMIAL_LOGIT:
      // y·σ(−η) − (m − y)·σ(η), not y − m·σ(η), which cancels for y = m at large η.
      return y * sigmoid(-eta) - (m - y) * sigmoid(eta);
    case BINOMIAL_PROBIT:
      return (y > 0 ? y * millsRatio(eta) : 0.0) - (m - y > 0 ? (m - y) * millsRatio(-eta) : 0.0);
    case BINOMIAL_CLOGLOG: {
      const x = Math.exp(eta);
      return (y > 0 && x < 700.0 ? (y * x) / Math.expm1(x) : 0.0) - (m - y > 0 ? (m - y) * x : 0.0);
    }
    case POISSON_LOG:
      return y - Math.exp(eta);
    default:
      return (y > 0 ? (2.0 * y) / eta : 0.0) - 2.0 * eta;
  }
}

export function obsHess(code: i32, y: f64, m: f64, eta: f64, phi: f64): f64 {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return -1.0 / (phi * phi);
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return ((y - 2.0 * mu) * mu) / (phi * phi);
    }
    case BINOMIAL_LOGIT: {
      const p = sigmoid(eta);
      return -m * p * (1.0 - p);
    }
    case BINOMIAL_PROBIT: {
      let h: f64 = 0.0;
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
      return (y > 0 ? y * x * cloglogCurv(x) : 0.0) - (m - y > 0 ? (m - y) * x : 0.0);
    }
    case POISSON_LOG:
      return -Math.exp(eta);
    default:
      return (y > 0 ? (-2.0 * y) / (eta * eta) : 0.0) - 2.0;
  }
}

/** ∂ core / ∂ϕ: only the Gaussian has a dispersion (ϕ = σ). */
export function obsDphi(code: i32, y: f64, m: f64, eta: f64, phi: f64): f64 {
  if (code == GAUSSIAN_IDENTITY || code == GAUSSIAN_LOG) {
    const mu = code == GAUSSIAN_IDENTITY ? eta : Math.exp(eta);
    const r = (y - mu) / phi;
    return (r * r - 1.0) / phi;
  }
  return 0.0;
}

/** True when core is concave in η for every y (one posterior mode). */
export function isConcave(code: i32): bool {
  return code != GAUSSIAN_LOG && code != POISSON_SQRT;
}
