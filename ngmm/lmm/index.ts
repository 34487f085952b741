// Exact Gaussian linear mixed models with one grouping factor, fitted as lme4's lmer fits them:
// the profiled deviance (./profiled) minimised over the relative covariance factor θ by a
// quasi-Newton method (./optimise, driven by ./driver). The math is in docs/lmm.md.
import { fitTheta, termCovariance, type LmmFitBase, type LmmInputBase } from './driver';
import { ProfiledDeviance, thetaIndex, thetaLength } from './profiled';

export { LmmError, ProfiledDeviance, thetaIndex, thetaLength } from './profiled';
export { minimise, type MinimiseOptions, type MinimiseResult } from './optimise';

export interface LmmInput extends LmmInputBase {
  /** Group index of each row, 0..G−1; every group needs at least one row. */
  group: Int32Array;
  G: number;
  /** Random-effect design, n × q row-major, e.g. the columns (1, x) for `(1 + x | g)`. */
  Z: Float64Array;
  q: number;
}

export interface LmmFit extends LmmFitBase {
  /** Relative covariance factor: Λ's lower triangle by columns (lme4's getME(, "theta")). */
  theta: Float64Array;
  /** Covariance of one group's random effects, σ̂²ΛΛ' (q × q), as lme4's VarCorr(). */
  Sigma: Float64Array;
  /** Conditional modes b_g = Λu_g (G × q), as lme4's ranef(). */
  ranef: Float64Array;
  /** Conditional SDs of b_g given β̂ and θ̂ (G × q), as lme4's ranef(condVar = TRUE). */
  condSd: Float64Array;
}

/** Fits a Gaussian LMM with one grouping factor by the profiled (RE)ML deviance. */
export function fitLmm(input: LmmInput): LmmFit {
  const dev = new ProfiledDeviance(input);
  const { p, q, G } = dev;
  const m = thetaLength(q);
  const idx = thetaIndex(q);
  const { theta, s2, vcov, se, deviance, singular, converged, iterations, message } = fitTheta(
    dev, [{ q, t0: 0, ...idx }], m,
    { theta0: input.theta0, signal: input.signal, onIteration: input.onIteration, needs: `q = ${q} needs`, exactlyWhere: ' within every group' },
  );
  const Sigma = termCovariance(dev.lambdaMatrix(), q, s2);
  const cv = dev.condVar();
  const condSd = new Float64Array(G * q);
  for (let g = 0; g < G; g++) for (let a = 0; a < q; a++) condSd[g * q + a] = Math.sqrt(cv[g * q * q + a * q + a]);
  return {
    logLik: -deviance / 2, deviance, df: p + m + 1, reml: dev.reml,
    beta: dev.beta.slice(), vcov, se, sigma: Math.sqrt(s2), theta: theta.slice(), Sigma,
    ranef: dev.ranef(), condSd, singular, converged,
    iterations, evaluations: dev.evaluations, message,
  };
}
