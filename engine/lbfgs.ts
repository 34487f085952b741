// Full-batch quasi-Newton minimisation: L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd
// ed., Alg. 7.4–7.5) with a line search satisfying the strong Wolfe conditions (Alg. 3.5–3.6,
// cubic interpolation in the zoom phase). For linear models and small data, and to polish an
// Adam fit: near the optimum it converges superlinearly where Adam only hovers.
//
// The stopping rule is on the gradient, ‖∇f‖∞ ≤ gtol, because that is what "at the maximum
// likelihood" means; the result says in plain words whether it was reached and, if not, why.
import { tidy, type Tensor } from './tensor';
import { grad as tapeGrad } from './tape';

export interface LbfgsOptions {
  /** Converged when the largest gradient component is at most this (default 1e−6). */
  gtol?: number;
  maxIter?: number;
  /** History pairs kept (default 10). */
  memory?: number;
  onIteration?: (it: number, f: number, gradNorm: number) => void;
  /**
   * Checked at the start of every iteration, after `onIteration` (which may abort it): once
   * aborted, the result is the last accepted iterate with converged = false and message
   * 'aborted'. The run is synchronous, so only code it calls (onIteration, the objective) can
   * abort it mid-run; an already aborted signal stops it after the first evaluation.
   */
  signal?: AbortSignal;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  /** ‖∇f‖∞ at x. */
  gradNorm: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
  /** Why it stopped, in plain words. */
  message: string;
}

export type Objective = (x: Float64Array, g: Float64Array) => number;

const C1 = 1e-4; // sufficient decrease
const C2 = 0.9; // curvature (the usual quasi-Newton choice)

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// The minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside [lo, hi] away
// from the ends; bisection when the cubic has no minimum there.
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  const lo = Math.min(a, b), hi = Math.max(a, b);
  if (disc >= 0) {
    const d2 = Math.sign(b - a) * Math.sqrt(disc);
    const t = b - (b - a) * ((db + d2 - d1) / (db - da + 2 * d2));
    const margin = 0.1 * (hi - lo);
    if (Number.isFinite(t) && t > lo + margin && t < hi - margin) return t;
  }
  return 0.5 * (lo + hi);
}

/** Minimises f from x0; `fg(x, g)` returns f(x) and writes ∇f(x) into g. */
export function lbfgs(fg: Objective, x0: ArrayLike<number>, o: LbfgsOptions = {}): LbfgsResult {
  const gtol = o.gtol ?? 1e-6, maxIter = o.maxIter ?? 500, mem = o.memory ?? 10;
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let evaluations = 1;
  let f = fg(x, g);
  const S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const d = new Float64Array(n), alpha = new Float64Array(mem);
  const xt = new Float64Array(n), gt = new Float64Array(n);
  const done = (it: number, converged: boolean, message: string): LbfgsResult =>
    ({ x, f, gradNorm: maxAbs(g), iterations: it, evaluations, converged, message });
  if (!Number.isFinite(f)) return done(0, false, `the objective is not finite at the start (${f})`);

  for (let it = 0; it < maxIter; it++) {
    const gn = maxAbs(g);
    o.onIteration?.(it, f, gn);
    if (o.signal?.aborted) return done(it, false, 'aborted');
    if (gn <= gtol) return done(it, true, `converged: largest gradient component ${gn.toExponential(2)} ≤ ${gtol}`);
    // Two-loop recursion: d = −H·g with H₀ = (sᵀy / yᵀy)·I.
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], d);
      for (let i = 0; i < n; i++) d[i] -= alpha[k] * Y[k][i];
    }
    const gamma = S.length > 0 ? dot(S[S.length - 1], Y[S.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1, gn);
    for (let i = 0; i < n; i++) d[i] *= gamma;
    for (let k = 0; k < S.length; k++) {
      const b = rho[k] * dot(Y[k], d);
      for (let i = 0; i < n; i++) d[i] += S[k][i] * (alpha[k] - b);
    }
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // Not a descent direction (lost curvature information): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i] / Math.max(1, gn);
      dg = dot(d, g);
    }

    // Strong Wolfe line search (bracketing, then zoom).
    const phi = (a: number): [number, number] => {
      for (let i = 0; i < n; i++) xt[i] = x[i] + a * d[i];
      evaluations++;
      const v = fg(xt, gt);
      return [v, dot(gt, d)];
    };
    let aPrev = 0, fPrev = f, dPrev = dg, a = 1, found = -1;
    let fa = NaN, da = NaN;
    for (let ls = 0; ls < 30 && found < 0; ls++) {
      [fa, da] = phi(a);
      if (!Number.isFinite(fa) || fa > f + C1 * a * dg || (ls > 0 && fa >= fPrev)) {
        found = zoom(aPrev, fPrev, dPrev, a, fa, da);
        break;
      }
      if (Math.abs(da) <= -C2 * dg) {
        found = a;
        break;
      }
      if (da >= 0) {
        found = zoom(a, fa, da, aPrev, fPrev, dPrev);
        break;
      }
      aPrev = a;
      fPrev = fa;
      dPrev = da;
      a *= 2;
    }
    function zoom(lo: number, flo: number, dlo: number, hi: number, fhi: number, dhi: number): number {
      for (let z = 0; z < 40; z++) {
        const aj = Number.isFinite(fhi) ? cubicMin(lo, flo, dlo, hi, fhi, dhi) : 0.5 * (lo + hi);
        const [fj, dj] = phi(aj);
        if (!Number.isFinite(fj) || fj > f + C1 * aj * dg || fj >= flo) {
          hi = aj;
          fhi = fj;
          dhi = dj;
        } else {
          if (Math.abs(dj) <= -C2 * dg) return aj;
          if (dj * (hi - lo) >= 0) {
            hi = lo;
            fhi = flo;
            dhi = dlo;
          }
          lo = aj;
          flo = fj;
          dlo = dj;
        }
        if (Math.abs(hi - lo) < 1e-16 * Math.max(1, Math.abs(lo))) break;
      }
      return lo > 0 ? lo : -1;
    }
    if (found <= 0) return done(it, false, 'stopped: the line search found no step that lowers the objective (the gradient may be inaccurate, or this is as close to the optimum as rounding allows)');
    // Move to the accepted point (recomputing there if the last evaluation was elsewhere).
    for (let i = 0; i < n; i++) xt[i] = x[i] + found * d[i];
    evaluations++;
    const fNew = fg(xt, gt);
    const s = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xt[i] - x[i];
      y[i] = gt[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === mem) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    // No stop on a small change in f: near an optimum f moves by ~‖∇f‖², far below any useful
    // ftol while the gradient is still well above gtol. Rounding limits end in the line search.
    x.set(xt);
    g.set(gt);
    f = fNew;
  }
  if (o.signal?.aborted) return done(maxIter, false, 'aborted');
  const gn = maxAbs(g);
  if (gn <= gtol) return done(maxIter, true, `converged: largest gradient component ${gn.toExponential(2)} ≤ ${gtol}`);
  return done(maxIter, false, `not converged after ${maxIter} iterations: largest gradient component ${gn.toExponential(2)} (> ${gtol}); raise maxIter or check the scaling of the parameters`);
}

/**
 * L-BFGS over tensors: minimises `loss()` (a scalar built on the tape) with respect to
 * `params`, which are updated in place. Each evaluation runs in its own memory scope.
 */
export function minimize(params: readonly Tensor[], loss: () => Tensor, o: LbfgsOptions = {}): LbfgsResult {
  return minimizeSum(params, 1, () => loss(), o);
}

/**
 * L-BFGS on a loss that is a sum of `parts` scalars, each built on the tape and differentiated
 * in its own memory scope, so that the peak memory is that of the largest part, not of the
 * whole (a likelihood over 10⁶ rows, in chunks of groups). One part is `minimize`.
 */
export function minimizeSum(params: readonly Tensor[], parts: number, part: (k: number) => Tensor, o: LbfgsOptions = {}): LbfgsResult {
  if (!(Number.isInteger(parts) && parts >= 1)) throw new Error(`minimizeSum: parts must be a positive integer, got ${parts}`);
  return minimizeWith(params, (gOut) => {
    let f = 0;
    for (let j = 0; j < parts; j++) {
      f += tidy(() => {
        const L = part(j);
        const gs = tapeGrad(L, params);
        let k = 0;
        for (const gt of gs) {
          // One part writes the gradient as it is (the single-part path is bit for bit the
          // plain one); further parts add theirs.
          if (j === 0) gOut.set(gt.data, k);
          else for (let i = 0; i < gt.size; i++) gOut[k + i] += gt.data[i];
          k += gt.size;
        }
        return L.item();
      });
    }
    return f;
  }, o);
}

/**
 * L-BFGS over tensors with the objective and its gradient computed by `evaluate` at the current
 * values of `params` (which it reads; the gradient goes to `gOut` in `params`' order): for
 * callers that compute the sum of parts their own way (ngmm/threads: the parts on several threads).
 */
export function minimizeWith(params: readonly Tensor[], evaluate: (gOut: Float64Array) => number, o: LbfgsOptions = {}): LbfgsResult {
  const sizes = params.map((p) => p.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const x0 = new Float64Array(total);
  let off = 0;
  for (const p of params) {
    x0.set(p.data, off);
    off += p.size;
  }
  const setParams = (x: Float64Array) => {
    let k = 0;
    for (const p of params) {
      p.data.set(x.subarray(k, k + p.size));
      k += p.size;
    }
  };
  const fg: Objective = (x, gOut) => {
    setParams(x);
    return evaluate(gOut);
  };
  // A trial point of the line search where the objective cannot be evaluated (the marginal
  // kernel refuses a non-finite integrand: a step into η = ±1e300) counts as +∞, so the search
  // backs off, as it does for a non-finite value; at the start it is the caller's error.
  let started = false;
  const guarded: Objective = (x, gOut) => {
    if (!started) {
      started = true;
      return fg(x, gOut);
    }
    try {
      return fg(x, gOut);
    } catch {
      gOut.fill(NaN);
      return Infinity;
    }
  };
  const r = lbfgs(guarded, x0, o);
  setParams(r.x);
  return r;
}
