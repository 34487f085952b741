// The optimisation of θ shared by fitLmm (./index, one grouping factor) and fitMultiLmm
// (./multi, several terms): the profiled deviance minimised by the quasi-Newton method of
// ./optimise, then brought to lme4's conventions (signs folded into its box, a singular fit
// snapped to the boundary). The math is in docs/lmm.md and docs/sparse.md.
import { minimise } from './optimise';
import { LmmError } from './profiled';

/** lme4's isSingular() tolerance on θ's diagonal. */
const SINGULAR_TOL = 1e-4;
/**
 * A θ entry beyond this means σ̂ → 0 with the random effects absorbing all variation: the
 * deviance then falls like −2n log θ without bound, and its gradient, −2n/θ, passes any
 * tolerance before θ overflows (lme4 stops there with a round-off warning).
 */
const THETA_DIVERGED = 1e6;

/** The inputs fitLmm and fitMultiLmm share (./index, ./multi add the random-effect terms). */
export interface LmmInputBase {
  /** Fixed-effect design, n × p row-major, including an intercept column when wanted. */
  X: Float64Array;
  p: number;
  /** Column names of X, used only in error messages. */
  xNames?: readonly string[];
  y: Float64Array;
  /** Prior weights (lmer's `weights`): row j has residual variance σ²/w_j. Default 1. */
  weights?: Float64Array;
  /** A known term added to the linear predictor (lmer's `offset`). Default 0. */
  offset?: Float64Array;
  /** REML (lme4's default) or ML (glmmTMB's and ngmm's default). */
  reml: boolean;
  /** Starting θ in lme4's order (the terms' θ concatenated); default: Λ = I, as lme4 starts. */
  theta0?: ArrayLike<number>;
  /** Stops the optimisation; the fit at the last accepted θ is returned, `converged: false`. */
  signal?: AbortSignal;
  onIteration?: (it: number, deviance: number) => void;
}

/** What fitLmm and fitMultiLmm both return (./index, ./multi add the random-effect summaries). */
export interface LmmFitBase {
  /** ML log-likelihood, or under REML the negative half REML criterion, as lme4's logLik(). */
  logLik: number;
  /** −2 logLik: lme4's deviance() under ML, REMLcrit() under REML. */
  deviance: number;
  /** Number of parameters, p + length(θ) + 1 (β, θ, σ), as lme4's logLik "df" (for AIC). */
  df: number;
  reml: boolean;
  beta: Float64Array;
  /** σ̂² (R_X'R_X)⁻¹, p × p row-major, as lme4's vcov(). */
  vcov: Float64Array;
  /** Standard errors: √diag(vcov). */
  se: Float64Array;
  /** Residual SD (for weight 1). */
  sigma: number;
  theta: Float64Array;
  /** A diagonal entry of θ below 1e-4 (lme4's isSingular tolerance): a boundary fit. */
  singular: boolean;
  converged: boolean;
  iterations: number;
  /** Profiled-deviance evaluations, the final ones included. */
  evaluations: number;
  message: string;
}

/** One term's share of θ: entry e, at θ[t0 + e], is Λ's (row[e], col[e]) entry (q × q). */
export interface ThetaBlock {
  q: number;
  t0: number;
  row: Int32Array;
  col: Int32Array;
  diagonal: Uint8Array;
}

/** What the driver needs of a profiled deviance (./profiled or ./multi). */
export interface ProfiledCriterion {
  readonly p: number;
  evaluate(theta: ArrayLike<number>, grad?: Float64Array, refine?: boolean): number;
  /**
   * The gradient at the θ of the last evaluate() call, as evaluate(θ, grad) gives it; where
   * present, the optimiser asks for gradients only at the points it accepts.
   */
  lastGradient?(grad: Float64Array): void;
  sigma2(): number;
  unscaledVcov(): Float64Array;
}

export interface ThetaFitOptions {
  theta0?: ArrayLike<number>;
  signal?: AbortSignal;
  onIteration?: (it: number, deviance: number) => void;
  /** Completes the theta0 length message '…; <needs> m', e.g. 'q = 2 needs' or 'the terms need'. */
  needs: string;
  /** Where the random effects fit the response exactly, for the degenerate-fit message. */
  exactlyWhere: string;
}

export interface ThetaFit {
  /** θ̂ in lme4's box; the criterion was last evaluated (with refinement) here. */
  theta: Float64Array;
  deviance: number;
  s2: number;
  /** σ̂² (R_X'R_X)⁻¹, p × p. */
  vcov: Float64Array;
  se: Float64Array;
  singular: boolean;
  converged: boolean;
  iterations: number;
  message: string;
}

/**
 * Minimises the profiled deviance over θ (m entries, laid out by `blocks` in order) and leaves
 * `dev` evaluated at the returned θ̂ with one step of iterative refinement of (β, u).
 */
export function fitTheta(dev: ProfiledCriterion, blocks: readonly ThetaBlock[], m: number, o: ThetaFitOptions): ThetaFit {
  const p = dev.p;
  const start = new Float64Array(m);
  if (o.theta0) {
    if (o.theta0.length !== m) throw new LmmError(`theta0 has ${o.theta0.length} entries; ${o.needs} ${m}`);
    start.set(Array.from(o.theta0));
  } else {
    for (const b of blocks) for (let e = 0; e < b.row.length; e++) start[b.t0 + e] = b.diagonal[e] ? 1 : 0;
  }
  // Errors at the start are the data's (an exact fit, say) and are reported as they are; at a
  // trial point further on they mean θ left the range where the criterion is computable (an
  // overflowing Λ), and the line search treats them as an infinite deviance and steps back.
  const g0 = new Float64Array(m);
  const f0 = dev.evaluate(start, g0);
  const objective = (x: Float64Array, g: Float64Array): number => {
    try {
      return dev.evaluate(x, g);
    } catch (e) {
      if (e instanceof LmmError) return Infinity;
      throw e;
    }
  };
  const split = dev.lastGradient
    ? {
      value: (x: Float64Array): number => {
        try {
          return dev.evaluate(x);
        } catch (e) {
          if (e instanceof LmmError) return Infinity;
          throw e;
        }
      },
      gradient: (g: Float64Array): void => dev.lastGradient!(g),
    }
    : undefined;
  // The deviance is O(n) and so is its θ-gradient; 1e-7 per unit of θ leaves the deviance
  // within ~1e-14/curvature of its minimum (the optimiser copes when rounding hides that).
  const res = minimise(objective, start, {
    gtol: 1e-7, maxIter: 500, signal: o.signal, onIteration: o.onIteration,
    start: { f: f0, g: g0 }, ...(split ? { split } : {}),
  });
  const theta = res.x;
  let message = res.message;
  let thetaMax = 0;
  for (let k = 0; k < m; k++) thetaMax = Math.max(thetaMax, Math.abs(theta[k]));
  if (thetaMax > THETA_DIVERGED) {
    throw new LmmError(`the residual variance is driven to zero (theta, a random-effect SD relative to the residual SD, reached ${thetaMax.toPrecision(3)}): `
      + `the random effects fit the response exactly${o.exactlyWhere}, so the model is degenerate for these data`);
  }
  // Fold each term's θ into lme4's box: a column of Λ_k with a negative diagonal changes sign
  // (Λ_kΛ_k', hence the deviance, is unchanged; ./optimise explains the unbounded search).
  let folded = false;
  for (const b of blocks) {
    for (let c = 0; c < b.q; c++) {
      let kd = -1;
      for (let e = 0; e < b.row.length; e++) if (b.row[e] === c && b.col[e] === c) kd = e;
      if (theta[b.t0 + kd] < 0) {
        folded = true;
        for (let e = 0; e < b.row.length; e++) if (b.col[e] === c) theta[b.t0 + e] = -theta[b.t0 + e];
      }
    }
  }
  // At a singular fit the iterates approach a zero diagonal without reaching it; put it at 0
  // when that does not raise the deviance beyond rounding, as lme4's bounded optimiser lands there.
  // Unfolded, θ is the optimiser's last point, whose deviance it returned.
  let fBest = folded ? dev.evaluate(theta) : res.f;
  for (const b of blocks) {
    for (let e = 0; e < b.row.length; e++) {
      const k = b.t0 + e;
      if (!b.diagonal[e] || theta[k] === 0 || theta[k] >= SINGULAR_TOL) continue;
      const trial = theta.slice();
      trial[k] = 0;
      const f0 = dev.evaluate(trial);
      if (f0 <= fBest + 64 * Number.EPSILON * Math.max(1, Math.abs(fBest))) {
        theta[k] = 0;
        fBest = Math.min(f0, fBest);
      }
    }
  }
  // Final solve with one step of iterative refinement of (β, u).
  const deviance = dev.evaluate(theta, undefined, true);
  const s2 = dev.sigma2();
  const vcov = dev.unscaledVcov();
  for (let k = 0; k < p * p; k++) vcov[k] *= s2;
  const se = new Float64Array(p);
  for (let c = 0; c < p; c++) se[c] = Math.sqrt(vcov[c * p + c]);
  let singular = false;
  for (const b of blocks) for (let e = 0; e < b.row.length; e++) if (b.diagonal[e] && theta[b.t0 + e] < SINGULAR_TOL) singular = true;
  if (singular) message += '; boundary (singular) fit: a random-effect variance or correlation is at its limit';
  return { theta, deviance, s2, vcov, se, singular, converged: res.converged, iterations: res.iterations, message };
}

/** σ²ΛΛ' for a lower-triangular q × q Λ (row-major): a term's VarCorr(), as lme4. */
export function termCovariance(lam: Float64Array, q: number, s2: number): Float64Array {
  const Sigma = new Float64Array(q * q);
  for (let a = 0; a < q; a++) {
    for (let b = 0; b < q; b++) {
      let acc = 0;
      for (let r = 0; r <= Math.min(a, b); r++) acc += lam[a * q + r] * lam[b * q + r];
      Sigma[a * q + b] = s2 * acc;
    }
  }
  return Sigma;
}

/**
 * Row j of the weighted problem both criteria factor: ỹ_j = √w_j·(y_j − offset_j) and
 * X̃_j = √w_j·X_j, into yt and Xt; returns w_j (its log enters the deviance). Every value is
 * checked, naming the row (and the column, by `name`).
 */
export function weightedRow(inp: LmmInputBase, j: number, name: (c: number) => string, yt: Float64Array, Xt: Float64Array): number {
  const { X, p, y } = inp;
  const w = inp.weights ? inp.weights[j] : 1;
  if (!(w > 0) || !Number.isFinite(w)) throw new LmmError(`row ${j + 1}: the weight ${w} is not a positive finite number`);
  const sw = Math.sqrt(w);
  const o = inp.offset ? inp.offset[j] : 0;
  if (!Number.isFinite(o)) throw new LmmError(`row ${j + 1}: the offset ${o} is not a finite number`);
  if (!Number.isFinite(y[j])) throw new LmmError(`row ${j + 1}: the response ${y[j]} is not a finite number`);
  yt[j] = sw * (y[j] - o);
  for (let c = 0; c < p; c++) {
    const v = X[j * p + c];
    if (!Number.isFinite(v)) throw new LmmError(`row ${j + 1}, fixed-effect column ${name(c)}: ${v} is not a finite number`);
    Xt[j * p + c] = sw * v;
  }
  return w;
}
