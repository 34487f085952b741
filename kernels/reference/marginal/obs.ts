// Per-observation log-likelihood pieces in η, by family code (ngmm/families/family.ts):
// the part of log p(y | η, ϕ) that depends on η or ϕ (`core`; the rest, c(y, m), is summed once
// per group), its score ∂/∂η, curvature ∂²/∂η² and dispersion derivative ∂/∂ϕ.
// kernels/assembly/marginal/obs.ts is the same code for WASM; ngmm/families builds its
// user-facing families on these. The formulas and their derivations: docs/families.md.
//
// m per observation: the number of trials for the binomial codes (1 for Bernoulli; a weighted
// Bernoulli row is y·w successes in w trials), the prior weight w otherwise, with glm's
// convention that a row's log-density counts w times — except the Gaussian, whose weight
// divides the variance as lmer's does (y ~ N(μ, σ²/w): the −log σ term is not multiplied; its
// ½·log w is in c(y, m)). A row of weight 0 contributes nothing. m = 1 leaves every formula
// bit for bit as unweighted (each weight enters as a final factor).
//
// The dispersion ϕ: σ (Gaussian), θ (negative binomial NB2, Var = μ + μ²/θ), the shape α
// (Gamma, Var = μ²/α); unused elsewhere.
import { digamma, lgamma, log1pexp, logMinusDigamma, logNdtr, stirlerr } from '../special';

export const GAUSSIAN_IDENTITY = 0;
export const GAUSSIAN_LOG = 1;
export const BINOMIAL_LOGIT = 2;
export const BINOMIAL_PROBIT = 3;
export const BINOMIAL_CLOGLOG = 4;
export const POISSON_LOG = 5;
export const POISSON_SQRT = 6;
export const NEGBIN_LOG = 7;
export const GAMMA_LOG = 8;

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

// The sqrt link's log|η| and 1/η at η = 0 are −∞ and ±∞: y·log|η| is −∞ there (μ = 0 cannot
// produce y > 0), and the score's 2y/η is taken with a sign so Newton and the ODE see a
// finite slope pointing away from the pole (see docs/families.md, "Poisson, sqrt link").
function sqrtInv(eta: number): number {
  return eta === 0 ? Infinity : 1 / eta;
}

export function obsCore(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY: {
      if (m === 0) return 0;
      const r = (y - eta) / phi;
      return -0.5 * r * r * m - Math.log(phi);
    }
    case GAUSSIAN_LOG: {
      if (m === 0) return 0;
      const r = (y - Math.exp(eta)) / phi;
      return -0.5 * r * r * m - Math.log(phi);
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
      return (y * eta - Math.exp(eta)) * m;
    case POISSON_SQRT:
      return ((y > 0 ? 2 * y * Math.log(Math.abs(eta)) : 0) - eta * eta) * m;
    case NEGBIN_LOG: {
      // x = η − log θ: log(θ + μ) = log θ + log1pexp(x), so θ·log θ + y·η − (θ + y)·log(θ + μ)
      // is y·x − (θ + y)·log1pexp(x), with no log θ terms to cancel.
      if (m === 0) return 0;
      const x = eta - Math.log(phi);
      return (lgamma(y + phi) - lgamma(phi) + y * x - (phi + y) * log1pexp(x)) * m;
    }
    default: { // GAMMA_LOG: u = log(y/μ); α·log α − α − lgamma(α) = ½·log(α/2π) − stirlerr(α)
      if (m === 0) return 0;
      const u = Math.log(y) - eta;
      return (phi * (u - Math.expm1(u)) + 0.5 * Math.log(phi) - HALF_LN_2PI - stirlerr(phi)) * m;
    }
  }
}

export function obsScore(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return ((y - eta) / (phi * phi)) * m;
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return (((y - mu) * mu) / (phi * phi)) * m;
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
      return (y - Math.exp(eta)) * m;
    case POISSON_SQRT:
      return ((y > 0 ? 2 * y * sqrtInv(eta) : 0) - 2 * eta) * m;
    case NEGBIN_LOG: {
      // y − (θ + y)·σ(x) as y·σ(−x) − θ·σ(x): no cancellation when μ ≫ θ or μ ≪ θ.
      const x = eta - Math.log(phi);
      return (y * sigmoid(-x) - phi * sigmoid(x)) * m;
    }
    default: // GAMMA_LOG
      return phi * Math.expm1(Math.log(y) - eta) * m;
  }
}

export function obsHess(code: number, y: number, m: number, eta: number, phi: number): number {
  switch (code) {
    case GAUSSIAN_IDENTITY:
      return (-1 / (phi * phi)) * m;
    case GAUSSIAN_LOG: {
      const mu = Math.exp(eta);
      return (((y - 2 * mu) * mu) / (phi * phi)) * m;
    }
    case BINOMIAL_LOGIT: {
      // σ(η)·σ(−η), not p·(1 − p): for η = 20, 1 − p keeps only seven digits, and the
      // mode's curvature (σ̂, the GH scale) would carry that error.
      return -m * sigmoid(eta) * sigmoid(-eta);
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
      return -Math.exp(eta) * m;
    case POISSON_SQRT: {
      const v = sqrtInv(eta);
      return ((y > 0 ? -2 * y * v * v : 0) - 2) * m;
    }
    case NEGBIN_LOG: {
      const x = eta - Math.log(phi);
      return -(phi + y) * sigmoid(x) * sigmoid(-x) * m;
    }
    default: // GAMMA_LOG
      return -phi * Math.exp(Math.log(y) - eta) * m;
  }
}

/** ∂ core / ∂ϕ: σ (Gaussian), θ (negative binomial), α (Gamma); 0 for the others. */
export function obsDphi(code: number, y: number, m: number, eta: number, phi: number): number {
  if (m === 0) return 0;
  if (code === GAUSSIAN_IDENTITY || code === GAUSSIAN_LOG) {
    const mu = code === GAUSSIAN_IDENTITY ? eta : Math.exp(eta);
    const r = (y - mu) / phi;
    return (r * r * m - 1) / phi;
  }
  if (code === NEGBIN_LOG) {
    // ψ(y + θ) − ψ(θ) − log(1 + μ/θ) + (μ − y)/(θ + μ), the last as σ(x) − (y/θ)·σ(−x).
    const x = eta - Math.log(phi);
    const dg = y > 0 ? digamma(y + phi) - digamma(phi) : 0;
    return (dg - log1pexp(x) + sigmoid(x) - (y / phi) * sigmoid(-x)) * m;
  }
  if (code === GAMMA_LOG) {
    const u = Math.log(y) - eta;
    return (u - Math.expm1(u) + logMinusDigamma(phi)) * m;
  }
  return 0;
}

/** True when core is concave in η for every y (one posterior mode). */
export function isConcave(code: number): boolean {
  return code !== GAUSSIAN_LOG && code !== POISSON_SQRT;
}

/** True when the family has a learned dispersion ϕ (obsDphi is not identically 0). */
export function hasDispersion(code: number): boolean {
  return code === GAUSSIAN_IDENTITY || code === GAUSSIAN_LOG || code === NEGBIN_LOG || code === GAMMA_LOG;
}

/**
 * sup over η of core, for the codes whose core is not concave in η (+∞ for the others, where
 * it is not needed): bounds ℓ(t) ≤ C + Σ sup − t²/2 − ½·log 2π, which tells the mode search how
 * far out in t a maximum could still matter (solve.ts, allModes).
 *   Gaussian (μ free in ℝ, or μ = e^η > 0 for the log link): −log σ, less ½w·(y/σ)² where y ≤ 0
 *   cannot be reached by μ > 0; Poisson-sqrt: w·(y·log y − y), at η² = y.
 */
export function obsSup(code: number, y: number, m: number, phi: number): number {
  if (m === 0) return 0;
  if (code === GAUSSIAN_IDENTITY) return -Math.log(phi);
  if (code === GAUSSIAN_LOG) {
    const r = y > 0 ? 0 : y / phi;
    return -0.5 * r * r * m - Math.log(phi);
  }
  if (code === POISSON_SQRT) return (y > 0 ? y * Math.log(y) - y : 0) * m;
  return Infinity;
}

// The negative binomial's and the Gamma's core split into a part that depends on ϕ alone and a
// remainder that carries η: the integrand sums the first once per group (it is constant in t)
// instead of at every evaluation of ℓ (two lgamma per observation, or Stirling's error), and the
// dispersion derivative likewise (two digamma). obsCore = obsCoreEta + obsPhiPart and
// obsDphi = obsDphiEta + obsDphiPart, to rounding; for every other code the parts are 0.

/** The part of core that depends on ϕ alone: w·(lgamma(y + θ) − lgamma(θ)), or w·(½·log(α/2π) − stirlerr(α)). */
export function obsPhiPart(code: number, y: number, m: number, phi: number): number {
  if (m === 0) return 0;
  if (code === NEGBIN_LOG) return y > 0 ? (lgamma(y + phi) - lgamma(phi)) * m : 0;
  if (code === GAMMA_LOG) return (0.5 * Math.log(phi) - HALF_LN_2PI - stirlerr(phi)) * m;
  return 0;
}

/** core − obsPhiPart. */
export function obsCoreEta(code: number, y: number, m: number, eta: number, phi: number): number {
  if (code === NEGBIN_LOG) {
    if (m === 0) return 0;
    const x = eta - Math.log(phi);
    return (y * x - (phi + y) * log1pexp(x)) * m;
  }
  if (code === GAMMA_LOG) {
    if (m === 0) return 0;
    const u = Math.log(y) - eta;
    return phi * (u - Math.expm1(u)) * m;
  }
  return obsCore(code, y, m, eta, phi);
}

/** The part of ∂core/∂ϕ that depends on ϕ alone: w·(ψ(y + θ) − ψ(θ)), or w·(log α − ψ(α)). */
export function obsDphiPart(code: number, y: number, m: number, phi: number): number {
  if (m === 0) return 0;
  if (code === NEGBIN_LOG) return y > 0 ? (digamma(y + phi) - digamma(phi)) * m : 0;
  if (code === GAMMA_LOG) return logMinusDigamma(phi) * m;
  return 0;
}

/** ∂core/∂ϕ − obsDphiPart. */
export function obsDphiEta(code: number, y: number, m: number, eta: number, phi: number): number {
  if (code === NEGBIN_LOG) {
    if (m === 0) return 0;
    const x = eta - Math.log(phi);
    return (sigmoid(x) - log1pexp(x) - (y / phi) * sigmoid(-x)) * m;
  }
  if (code === GAMMA_LOG) {
    if (m === 0) return 0;
    const u = Math.log(y) - eta;
    return (u - Math.expm1(u)) * m;
  }
  return obsDphi(code, y, m, eta, phi);
}
