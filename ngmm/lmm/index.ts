// Exact Gaussian linear mixed models with one grouping factor, fitted as lme4's lmer fits them:
// the profiled deviance (./profiled) minimised over the relative covariance factor θ by a
// quasi-Newton method (./optimise). The math is in docs/lmm.md.
import { minimise } from './optimise';
import { LmmError, ProfiledDeviance, thetaIndex, thetaLength } from './profiled';

export { LmmError, ProfiledDeviance, thetaIndex, thetaLength } from './profiled';
export { minimise, type MinimiseOptions, type MinimiseResult } from './optimise';

export interface LmmInput {
  /** Fixed-effect design, n × p row-major, including an intercept column when wanted. */
  X: Float64Array;
  p: number;
  /** Column names of X, used only in error messages. */
  xNames?: readonly string[];
  y: Float64Array;
  /** Group index of each row, 0..G−1; every group needs at least one row. */
  group: Int32Array;
  G: number;
  /** Random-effect design, n × q row-major, e.g. the columns (1, x) for `(1 + x | g)`. */
  Z: Float64Array;
  q: number;
  /** Prior weights (lmer's `weights`): row j has residual variance σ²/w_j. Default 1. */
  weights?: Float64Array;
  /** A known term added to the linear predictor (lmer's `offset`). Default 0. */
  offset?: Float64Array;
  /** REML (lme4's default) or ML (glmmTMB's and ngmm's default). */
  reml: boolean;
  /** Starting θ (lme4's order); default: Λ = I, as lme4 starts. */
  theta0?: ArrayLike<number>;
  /** Stops the optimisation; the fit at the last accepted θ is returned, `converged: false`. */
  signal?: AbortSignal;
  onIteration?: (it: number, deviance: number) => void;
}

export interface LmmFit {
  /** ML log-likelihood, or under REML the negative half REML criterion, as lme4's logLik(). */
  logLik: number;
  /** −2 logLik: lme4's deviance() under ML, REMLcrit() under REML. */
  deviance: number;
  /** Number of parameters, p + q(q + 1)/2 + 1 (β, θ, σ), as lme4's logLik "df" (for AIC). */
  df: number;
  reml: boolean;
  beta: Float64Array;
  /** σ̂² (R_X'R_X)⁻¹, p × p row-major, as lme4's vcov(). */
  vcov: Float64Array;
  /** Standard errors: √diag(vcov). */
  se: Float64Array;
  /** Residual SD (for weight 1). */
  sigma: number;
  /** Relative covariance factor: Λ's lower triangle by columns (lme4's getME(, "theta")). */
  theta: Float64Array;
  /** Covariance of one group's random effects, σ̂²ΛΛ' (q × q), as lme4's VarCorr(). */
  Sigma: Float64Array;
  /** Conditional modes b_g = Λu_g (G × q), as lme4's ranef(). */
  ranef: Float64Array;
  /** Conditional SDs of b_g given β̂ and θ̂ (G × q), as lme4's ranef(condVar = TRUE). */
  condSd: Float64Array;
  /** A diagonal entry of θ below 1e-4 (lme4's isSingular tolerance): a boundary fit. */
  singular: boolean;
  converged: boolean;
  iterations: number;
  /** Profiled-deviance evaluations, the final ones included. */
  evaluations: number;
  message: string;
}

/** lme4's isSingular() tolerance on θ's diagonal. */
const SINGULAR_TOL = 1e-4;
/**
 * A θ entry beyond this means σ̂ → 0 with the random effects absorbing all variation: the
 * deviance then falls like −2n log θ without bound, and its gradient, −2n/θ, passes any
 * tolerance before θ overflows (lme4 stops there with a round-off warning).
 */
const THETA_DIVERGED = 1e6;

/** Fits a Gaussian LMM with one grouping factor by the profiled (RE)ML deviance. */
export function fitLmm(input: LmmInput): LmmFit {
  const dev = new ProfiledDeviance(input);
  const { p, q, G } = dev;
  const m = thetaLength(q);
  const idx = thetaIndex(q);
  const start = new Float64Array(m);
  if (input.theta0) {
    if (input.theta0.length !== m) throw new LmmError(`theta0 has ${input.theta0.length} entries; q = ${q} needs ${m}`);
    start.set(Array.from(input.theta0));
  } else {
    for (let k = 0; k < m; k++) start[k] = idx.diagonal[k] ? 1 : 0;
  }
  // Errors at the start are the data's (an exact fit, say) and are reported as they are; at a
  // trial point further on they mean θ left the range where the criterion is computable (an
  // overflowing Λ), and the line search treats them as an infinite deviance and steps back.
  dev.evaluate(start);
  const objective = (x: Float64Array, g: Float64Array): number => {
    try {
      return dev.evaluate(x, g);
    } catch (e) {
      if (e instanceof LmmError) return Infinity;
      throw e;
    }
  };
  // The deviance is O(n) and so is its θ-gradient; 1e-7 per unit of θ leaves the deviance
  // within ~1e-14/curvature of its minimum (the optimiser copes when rounding hides that).
  const res = minimise(objective, start, {
    gtol: 1e-7, maxIter: 500, signal: input.signal, onIteration: input.onIteration,
  });
  const theta = res.x;
  let message = res.message;
  let thetaMax = 0;
  for (let k = 0; k < m; k++) thetaMax = Math.max(thetaMax, Math.abs(theta[k]));
  if (thetaMax > THETA_DIVERGED) {
    throw new LmmError(`the residual variance is driven to zero (theta, a random-effect SD relative to the residual SD, reached ${thetaMax.toPrecision(3)}): `
      + 'the random effects fit the response exactly within every group, so the model is degenerate for these data');
  }
  // Fold θ into lme4's box (see ./optimise): a column of Λ with a negative diagonal changes sign.
  for (let c = 0; c < q; c++) {
    let kd = -1;
    for (let k = 0; k < m; k++) if (idx.col[k] === c && idx.row[k] === c) kd = k;
    if (theta[kd] < 0) for (let k = 0; k < m; k++) if (idx.col[k] === c) theta[k] = -theta[k];
  }
  // At a singular fit the iterates approach a zero diagonal without reaching it; put it at 0
  // when that does not raise the deviance beyond rounding, as lme4's bounded optimiser lands there.
  let fBest = dev.evaluate(theta);
  for (let k = 0; k < m; k++) {
    if (!idx.diagonal[k] || theta[k] === 0 || theta[k] >= SINGULAR_TOL) continue;
    const trial = theta.slice();
    trial[k] = 0;
    const f0 = dev.evaluate(trial);
    if (f0 <= fBest + 64 * Number.EPSILON * Math.max(1, Math.abs(fBest))) {
      theta[k] = 0;
      fBest = Math.min(f0, fBest);
    }
  }
  // Final solve with one step of iterative refinement of (β, u).
  const deviance = dev.evaluate(theta, undefined, true);
  const s2 = dev.sigma2();
  const vcov = dev.unscaledVcov();
  for (let k = 0; k < p * p; k++) vcov[k] *= s2;
  const se = new Float64Array(p);
  for (let c = 0; c < p; c++) se[c] = Math.sqrt(vcov[c * p + c]);
  const lam = dev.lambdaMatrix();
  const Sigma = new Float64Array(q * q);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < q; b++) {
      let s = 0;
      for (let k = 0; k <= Math.min(a, b); k++) s += lam[a * q + k] * lam[b * q + k];
      Sigma[a * q + b] = s2 * s;
    }
  }
  const cv = dev.condVar();
  const condSd = new Float64Array(G * q);
  for (let g = 0; g < G; g++) for (let a = 0; a < q; a++) condSd[g * q + a] = Math.sqrt(cv[g * q * q + a * q + a]);
  let singular = false;
  for (let k = 0; k < m; k++) if (idx.diagonal[k] && theta[k] < SINGULAR_TOL) singular = true;
  if (singular) message += '; boundary (singular) fit: a random-effect variance or correlation is at its limit';
  return {
    logLik: -deviance / 2, deviance, df: p + m + 1, reml: dev.reml,
    beta: dev.beta.slice(), vcov, se, sigma: Math.sqrt(s2), theta: theta.slice(), Sigma,
    ranef: dev.ranef(), condSd, singular, converged: res.converged,
    iterations: res.iterations, evaluations: dev.evaluations, message,
  };
}
