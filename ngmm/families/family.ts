// The exponential-family response distributions and their links (docs/marginal.md §2; the
// formulas: docs/families.md). Each family is written directly in the linear predictor η: the
// log-likelihood, its score ∂/∂η and curvature ∂²/∂η² (Newton for the posterior mode), the
// dispersion derivative, and the GLM summaries (mean, variance, deviance). The η-dependent
// formulas live once, in the marginal kernels' per-observation code
// (kernels/reference/marginal/obs.ts, mirrored in WASM), selected by `code`; a family adds its
// constant c(y), summaries and validation.
import { hasDispersion, isConcave, obsCore, obsDphi, obsHess, obsScore } from '../../kernels/reference/marginal/obs';

export type FamilyName = 'gaussian' | 'bernoulli' | 'binomial' | 'poisson' | 'negbinomial' | 'gamma';
export type LinkName = 'identity' | 'log' | 'logit' | 'probit' | 'cloglog' | 'sqrt';


export interface BadValue {
  /** 0-based index of the offending observation. */
  readonly index: number;
  readonly message: string;
}

export interface Family {
  readonly name: FamilyName;
  readonly link: LinkName;
  /** Kernel selector (kernels/reference/marginal/obs.ts); Bernoulli runs as Binomial, m = 1. */
  readonly code: number;
  /**
   * True when the family has a learned dispersion ϕ > 0: the Gaussian residual SD σ, the
   * negative binomial's θ (glmmTMB's nbinom2 size), the Gamma's shape α.
   */
  readonly hasDispersion: boolean;
  /**
   * True when log p(y | η) is concave in η for every y: then the group log-integrand, which adds
   * −t²/2, has one mode and Newton finds it. False (Gaussian-log, Poisson-sqrt): the integrator
   * scans for further modes.
   */
  readonly concave: boolean;
  /**
   * log p(y | η, ϕ) in full, including the constant c(y, m). `m` is the number of trials
   * (binomial) or the observation's prior weight (every other family; 1 = unweighted): the
   * log-density counted m times, or for the Gaussian y ~ N(μ, σ²/m) (docs/families.md).
   */
  logLik(y: number, eta: number, phi: number, m: number): number;
  /** c(y, m): the part of logLik that depends on neither η nor ϕ (precomputed once per dataset). */
  constant(y: number, m: number): number;
  /** ∂ log p / ∂η. */
  score(y: number, eta: number, phi: number, m: number): number;
  /** ∂² log p / ∂η². */
  hess(y: number, eta: number, phi: number, m: number): number;
  /** ∂ log p / ∂ϕ (ϕ = σ, θ or α; 0 where there is no dispersion). */
  dPhi(y: number, eta: number, phi: number, m: number): number;
  /** E[y | η] (for binomial: of the count, m·p; a prior weight does not change the mean). */
  mean(eta: number, m: number): number;
  /** Var[y | η] from the mean (divided by the prior weight m where m is one). */
  variance(mu: number, phi: number, m: number): number;
  /**
   * Deviance 2[log p(y | μ = y) − log p(y | μ)] without the dispersion scale (× the prior
   * weight m where m is one). The negative binomial's depends on θ, passed as ϕ.
   */
  deviance(y: number, mu: number, m: number, phi?: number): number;
  /** The first observation outside the family's support, or null. */
  validate(y: ArrayLike<number>, m?: ArrayLike<number>): BadValue | null;
}

export const LN_2PI = 1.8378770664093453;

/** x·log(x/y) with 0·log 0 = 0: the deviance's building block. */
export function xlogy(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(x / y);
}

type Extras = Pick<Family, 'name' | 'link' | 'constant' | 'mean' | 'variance' | 'deviance' | 'validate'>;

/** A family from its kernel code plus what the code does not define. */
export function fromCode(code: number, x: Extras): Family {
  return {
    ...x,
    code,
    hasDispersion: hasDispersion(code),
    concave: isConcave(code),
    logLik: (y, eta, phi, m) => obsCore(code, y, m, eta, phi) + x.constant(y, m),
    score: (y, eta, phi, m) => obsScore(code, y, m, eta, phi),
    hess: (y, eta, phi, m) => obsHess(code, y, m, eta, phi),
    dPhi: (y, eta, phi, m) => obsDphi(code, y, m, eta, phi),
  };
}
