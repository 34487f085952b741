// A quasi-Newton minimiser for the few (≤ ~15) covariance parameters θ of an LMM.
//
// lme4 bounds Λ's diagonal below by 0, but the profiled deviance is defined on all of R^m and
// is unchanged when a column of Λ changes sign (ΛΛ' is the same). Every θ therefore has a
// mirror image inside lme4's box with the same deviance, and the box's minimum is the
// unconstrained minimum folded back (./index does the folding). Minimising without bounds
// avoids the false stationary points a bounded method meets on the box's faces: with a
// diagonal entry at 0 and the entries below it non-zero, the gradient can point out of the box
// (a Karush–Kuhn–Tucker point) although the mirror image of a better point lies just inside.
// A projected BFGS on the box stops on such faces for sleepstudy without an intercept and for
// Exam, 19 deviance units above lme4's optimum; lme4's BOBYQA does on some q = 3 data
// (test/fixtures/lmm/random_q3_lme4_suboptimal_ml.json).
//
// BFGS with the inverse-Hessian update and an Armijo backtracking line search (Nocedal &
// Wright 2006, Algorithm 6.1 and §3.1).

export interface MinimiseOptions {
  /** Stop when every component of the gradient is below this in absolute value. */
  gtol: number;
  maxIter: number;
  signal?: AbortSignal;
  onIteration?: (it: number, f: number) => void;
  /** The objective's value and gradient at x0, when the caller has them (saves one call). */
  start?: { f: number; g: Float64Array };
  /**
   * The objective in two parts: `value(x)` alone, and `gradient(g)` at the x of the last
   * `value` call. Given, the line search computes gradients only at the points it accepts —
   * where the gradient costs more than the value (a selected inverse after a factorisation),
   * rejected trial points then cost a value only. The iterates are the same as with `f`.
   */
  split?: { value: (x: Float64Array) => number; gradient: (g: Float64Array) => void };
}

export interface MinimiseResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  aborted: boolean;
  message: string;
}

/** f(x, g) returns the objective and writes the gradient into g. */
export type Objective = (x: Float64Array, g: Float64Array) => number;

export function minimise(f: Objective, x0: ArrayLike<number>, o: MinimiseOptions): MinimiseResult {
  const m = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(m);
  let fx: number;
  let evaluations = 0;
  if (o.start) {
    if (o.start.g.length !== m) throw new Error(`internal: the start gradient has ${o.start.g.length} entries for ${m} parameters`);
    fx = o.start.f;
    g.set(o.start.g);
  } else {
    fx = f(x, g);
    evaluations++;
  }
  const H = identity(m);
  let fresh = true; // H is the identity (no curvature information yet)
  const xn = new Float64Array(m), gn = new Float64Array(m), dir = new Float64Array(m);
  const s = new Float64Array(m), yv = new Float64Array(m), Hy = new Float64Array(m);
  let it = 0;
  let message = '';
  let converged = false;
  while (true) {
    const gMax = maxAbs(g);
    if (gMax <= o.gtol) {
      converged = true;
      message = `converged: gradient ${gMax.toExponential(2)} <= ${o.gtol}`;
      break;
    }
    if (o.signal?.aborted) {
      message = `aborted after ${it} iterations`;
      return { x, f: fx, iterations: it, evaluations, converged: false, aborted: true, message };
    }
    if (it >= o.maxIter) {
      message = `stopped at the iteration limit (${o.maxIter}) with gradient ${gMax.toExponential(2)}`;
      break;
    }
    it++;
    let slope = 0;
    for (let k = 0; k < m; k++) {
      let v = 0;
      for (let l = 0; l < m; l++) v -= H[k * m + l] * g[l];
      dir[k] = v;
      slope += v * g[k];
    }
    if (fresh) {
      // Without curvature information, cap the first step at 0.5 in every θ entry (θ is a
      // ratio of SDs, so this is a large but not a wild move).
      let dMax = 0;
      for (let k = 0; k < m; k++) dMax = Math.max(dMax, Math.abs(dir[k]));
      if (dMax > 0.5) {
        for (let k = 0; k < m; k++) dir[k] *= 0.5 / dMax;
        slope *= 0.5 / dMax;
      }
    }
    let alpha = 1;
    let fn = Infinity;
    let accepted = false;
    for (let back = 0; back < 60; back++) {
      for (let k = 0; k < m; k++) xn[k] = x[k] + alpha * dir[k];
      fn = o.split ? o.split.value(xn) : f(xn, gn);
      evaluations++;
      if (!Number.isFinite(fn)) {
        alpha *= 0.5;
        continue;
      }
      if (fn < fx && fn <= fx + 1e-4 * alpha * slope) {
        o.split?.gradient(gn);
        accepted = true;
        break;
      }
      // Where the predicted decrease is below the deviance's rounding, comparisons of f say
      // nothing (sum of n logs and squares: ~1e-13 relative); the step is then judged by the
      // gradient it leads to, whose rounding is far smaller than its size at 1e-7.
      if (-alpha * slope <= 1e-11 * Math.max(1, Math.abs(fx))) {
        o.split?.gradient(gn);
        if (maxAbs(gn) < gMax) {
          accepted = true;
          break;
        }
      }
      alpha *= 0.5;
    }
    if (!accepted) {
      if (!fresh) {
        resetIdentity(H, m);
        fresh = true;
        continue;
      }
      // Not even a short steepest-descent step decreases f: the minimum is resolved to rounding.
      converged = true;
      message = `converged: no further decrease possible (gradient ${gMax.toExponential(2)})`;
      break;
    }
    let sy = 0, ss = 0, yy = 0;
    for (let k = 0; k < m; k++) {
      s[k] = xn[k] - x[k];
      yv[k] = gn[k] - g[k];
      sy += s[k] * yv[k]; ss += s[k] * s[k]; yy += yv[k] * yv[k];
    }
    x.set(xn); g.set(gn); fx = fn;
    o.onIteration?.(it, fx);
    // The update needs positive curvature along the step; an Armijo-only search does not
    // guarantee it, and the update is skipped without it (Nocedal & Wright 2006, §6.1).
    if (sy > 1e-12 * Math.sqrt(ss * yy)) {
      if (fresh) {
        // Shanno–Phua scaling of the initial inverse Hessian (Nocedal & Wright 2006, eq. 6.20).
        const scale = sy / yy;
        for (let k = 0; k < m * m; k++) H[k] *= scale;
        fresh = false;
      }
      bfgsUpdate(H, m, s, yv, sy, Hy);
    }
  }
  return { x, f: fx, iterations: it, evaluations, converged, aborted: false, message };
}

function maxAbs(v: Float64Array): number {
  let m = 0;
  for (let k = 0; k < v.length; k++) m = Math.max(m, Math.abs(v[k]));
  return m;
}

function identity(m: number): Float64Array {
  const H = new Float64Array(m * m);
  resetIdentity(H, m);
  return H;
}

function resetIdentity(H: Float64Array, m: number): void {
  H.fill(0);
  for (let k = 0; k < m; k++) H[k * m + k] = 1;
}

/** The BFGS inverse update H ← (I − ρ s y')H(I − ρ y s') + ρ s s', ρ = 1/(s'y). */
function bfgsUpdate(H: Float64Array, m: number, s: Float64Array, y: Float64Array, sy: number, Hy: Float64Array): void {
  const rho = 1 / sy;
  let yHy = 0;
  for (let k = 0; k < m; k++) {
    let v = 0;
    for (let l = 0; l < m; l++) v += H[k * m + l] * y[l];
    Hy[k] = v;
    yHy += y[k] * v;
  }
  const c = rho * rho * yHy + rho;
  for (let k = 0; k < m; k++) {
    for (let l = 0; l < m; l++) {
      H[k * m + l] += c * s[k] * s[l] - rho * (Hy[k] * s[l] + s[k] * Hy[l]);
    }
  }
}
