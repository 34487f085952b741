// Starting values for the linear fit, as glm() starts: the intercept at the link of the mean
// response (its `mustart`), the other coefficients at 0. Starting every model at η = 0 fails
// where η = 0 is a bad or singular point of the link: Poisson with the sqrt link has μ = 0
// there (the score is degenerate, so L-BFGS never leaves β = 0), and a Gaussian with the log
// link on data in the hundreds starts 5 orders of magnitude from its optimum.
import type { LinkName } from './families/family';

/** g(μ) for a mean μ in the family's support (a proportion for binomial families). */
export function linkFunction(link: LinkName, mu: number): number {
  switch (link) {
    case 'identity':
      return mu;
    case 'log':
      return Math.log(mu);
    case 'sqrt':
      return Math.sqrt(mu);
    case 'logit':
      return Math.log(mu / (1 - mu));
    case 'cloglog':
      return Math.log(-Math.log1p(-mu));
    case 'probit':
      return probitStart(mu);
    default:
      return 0;
  }
}

// Φ⁻¹(μ) to about 4.5e−4 absolute (Abramowitz & Stegun 26.2.23): ample for a starting value.
function probitStart(mu: number): number {
  const pLow = Math.min(mu, 1 - mu);
  const t = Math.sqrt(-2 * Math.log(pLow));
  const x = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
  return mu < 0.5 ? -x : x;
}

/**
 * The intercept's starting value: g(μ̄) for the mean response μ̄ (a proportion for binomial
 * families), pulled into the link's domain, minus the mean offset.
 */
export function interceptStart(link: LinkName, meanResponse: number, proportion: boolean, meanOffset = 0): number {
  let mu = meanResponse;
  if (proportion) mu = Math.min(1 - 1e-3, Math.max(1e-3, mu));
  else if (link === 'log' || link === 'sqrt') mu = Math.max(mu, 1e-3);
  const g = linkFunction(link, mu) - meanOffset;
  return Number.isFinite(g) ? g : 0;
}
