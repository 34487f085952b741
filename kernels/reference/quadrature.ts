// The reference for kernels/assembly/quadrature.ts (the per-element work of the Gauss–Hermite
// marginal): the same contracts over typed-array views of the heap, written plainly. See the
// assembly file for the layout. The SIMD build's logit path agrees with this to rounding.
import type { HeapViews } from './index';
import { isConcave, obsCore, obsDphi, obsHess, obsScore, obsSup } from './marginal/obs';

export function quadLoglik(
  mem: HeapViews, code: number, G: number, offsets: number, K: number, q: number, y: number, trials: number,
  f: number, g: number, nodes: number, phi: number, ll: number, score: number, dphi: number,
): void {
  const F = mem.f64, I = mem.i32;
  F.fill(0, ll >>> 3, (ll >>> 3) + G * K);
  if (dphi) F.fill(0, dphi >>> 3, (dphi >>> 3) + G * K);
  for (let i = 0; i < G; i++) {
    const nb = (nodes >>> 3) + i * K * q;
    for (let j = I[(offsets >>> 2) + i]; j < I[(offsets >>> 2) + i + 1]; j++) {
      const yj = F[(y >>> 3) + j], m = trials ? F[(trials >>> 3) + j] : 1;
      for (let k = 0; k < K; k++) {
        let eta = F[(f >>> 3) + j];
        for (let d = 0; d < q; d++) eta += F[(g >>> 3) + j * q + d] * F[nb + k * q + d];
        F[(ll >>> 3) + i * K + k] += obsCore(code, yj, m, eta, phi);
        F[(score >>> 3) + j * K + k] = obsScore(code, yj, m, eta, phi);
        if (dphi) F[(dphi >>> 3) + i * K + k] += obsDphi(code, yj, m, eta, phi);
      }
    }
  }
}

export function quadLoglikVjp(
  mem: HeapViews, G: number, offsets: number, K: number, q: number, nodes: number, score: number, up: number, gf: number, gg: number,
): void {
  const F = mem.f64, I = mem.i32;
  for (let i = 0; i < G; i++) {
    const nb = (nodes >>> 3) + i * K * q;
    for (let j = I[(offsets >>> 2) + i]; j < I[(offsets >>> 2) + i + 1]; j++) {
      let sf = 0;
      const s = [0, 0, 0];
      for (let k = 0; k < K; k++) {
        const w = F[(up >>> 3) + i * K + k] * F[(score >>> 3) + j * K + k];
        sf += w;
        for (let d = 0; d < q; d++) s[d] += w * F[nb + k * q + d];
      }
      if (gf) F[(gf >>> 3) + j] = sf;
      if (gg) for (let d = 0; d < q; d++) F[(gg >>> 3) + j * q + d] = s[d];
    }
  }
}

/**
 * Each group's mode b̂ of ℓ(b) = Σ_j core(y_j, f_j + ⟨g_j, b⟩) − ‖b‖²/2 by damped Newton from 0
 * (step halving until ℓ does not decrease; full steps once the step is ≤ 1e−6, until it is
 * ≤ 1e−12 or stops shrinking, or ℓ gains ≤ 1e−15 relative), and the
 * Cholesky factor L (row-major, lower) of H = −∇²ℓ(b̂); L = I where H is not positive definite.
 *   Where ℓ is concave (isConcave) the full step b + δ is tried first by its derivatives, which
 * the next iteration needs anyway: ∇ℓ(b + δ)·δ ≥ 0 means ℓ rises along the whole segment (its
 * slope along δ only falls), so ℓ(b + δ) ≥ ℓ(b) with no evaluation of ℓ. Only a step that
 * overshoots falls back to the line search on ℓ. On the bench's Bernoulli groups (100 × 50)
 * that took the passes over a group from 3.6 of ℓ + 5.5 of its derivatives to 0.3 + 5.6.
 */
// Where ℓ need not be concave, Newton from b = 0 finds the nearest local maximum, not the
// highest. The start is the best point of a grid instead: for q = 1, 481 points on [−12, 12]
// and, when the bound ℓ(b) ≤ Σ_j sup_η core_j − b²/2 (obsSup) says a maximum within 40 of the
// grid's best could lie further out, at R = √(2·(sup − best + 40)) > 12, 481 more on [−R, R] (as
// the ODE's mode search, marginal/solve.ts); for q = 2 and 3, 25² and 13³ points on [−6, 6]^q.
export const START_GRID = 481;
export const START_HALF = 12;
function start(q: number, value: (b: Float64Array) => number, b: Float64Array, sup: () => number): void {
  const trial = new Float64Array(q);
  let best = -Infinity;
  if (q === 1) {
    let bt = 0;
    const scan = (half: number) => {
      const h = (2 * half) / (START_GRID - 1);
      for (let i = 0; i < START_GRID; i++) {
        trial[0] = -half + i * h;
        const v = value(trial);
        if (v > best) {
          best = v;
          bt = trial[0];
        }
      }
    };
    scan(START_HALF);
    const R = Math.sqrt(2 * (sup() - best + 40));
    if (R > START_HALF && R < Infinity) scan(R);
    b[0] = bt;
    return;
  }
  const K = q === 2 ? 25 : 13, h = 12 / (K - 1);
  const idx = new Int32Array(q);
  for (;;) {
    for (let d = 0; d < q; d++) trial[d] = -6 + idx[d] * h;
    const v = value(trial);
    if (v > best) {
      best = v;
      b.set(trial);
    }
    let d = q - 1;
    while (d >= 0 && ++idx[d] === K) idx[d--] = 0;
    if (d < 0) return;
  }
}

// H + τI for the smallest τ = 1e−8·(1 + max|H_dd|)·2ᵏ (k < 80) whose Cholesky factor exists
// (`chol` factors H in place of its caller's L); false if none does.
function regularise(H: Float64Array, q: number, chol: () => boolean): boolean {
  let scale = 0;
  for (let d = 0; d < q; d++) scale = Math.max(scale, Math.abs(H[d * q + d]));
  let tau = 1e-8 * (1 + scale), added = 0;
  for (let k = 0; k < 80; k++) {
    for (let d = 0; d < q; d++) H[d * q + d] += tau - added;
    added = tau;
    if (chol()) return true;
    tau *= 2;
  }
  return false;
}

export function quadMode(
  mem: HeapViews, code: number, G: number, offsets: number, q: number, y: number, trials: number,
  f: number, g: number, phi: number, mode: number, chol: number,
): void {
  const F = mem.f64, I = mem.i32;
  const concave = isConcave(code);
  const b = new Float64Array(q), trial = new Float64Array(q), grad = new Float64Array(q);
  const H = new Float64Array(q * q), L = new Float64Array(q * q), z = new Float64Array(q), step = new Float64Array(q);
  for (let gi = 0; gi < G; gi++) {
    const lo = I[(offsets >>> 2) + gi], hi = I[(offsets >>> 2) + gi + 1];
    const eta = (j: number, bb: Float64Array) => {
      let e = F[(f >>> 3) + j];
      for (let d = 0; d < q; d++) e += F[(g >>> 3) + j * q + d] * bb[d];
      return e;
    };
    const value = (bb: Float64Array) => {
      let v = 0;
      for (let d = 0; d < q; d++) v -= 0.5 * bb[d] * bb[d];
      for (let j = lo; j < hi; j++) v += obsCore(code, F[(y >>> 3) + j], trials ? F[(trials >>> 3) + j] : 1, eta(j, bb), phi);
      return v;
    };
    const derivs = (bb: Float64Array) => {
      for (let d = 0; d < q; d++) grad[d] = -bb[d];
      H.fill(0);
      for (let d = 0; d < q; d++) H[d * q + d] = 1;
      for (let j = lo; j < hi; j++) {
        const e = eta(j, bb), yj = F[(y >>> 3) + j], m = trials ? F[(trials >>> 3) + j] : 1;
        const r = obsScore(code, yj, m, e, phi);
        const h = obsHess(code, yj, m, e, phi);
        for (let d = 0; d < q; d++) {
          const gd = F[(g >>> 3) + j * q + d];
          grad[d] += r * gd;
          for (let e2 = 0; e2 < q; e2++) H[d * q + e2] -= h * gd * F[(g >>> 3) + j * q + e2];
        }
      }
    };
    const cholesky = (): boolean => {
      L.fill(0);
      for (let i = 0; i < q; i++) {
        for (let jj = 0; jj <= i; jj++) {
          let sum = H[i * q + jj];
          for (let k = 0; k < jj; k++) sum -= L[i * q + k] * L[jj * q + k];
          if (i === jj) {
            if (!(sum > 0)) return false;
            L[i * q + i] = Math.sqrt(sum);
          } else L[i * q + jj] = sum / L[jj * q + jj];
        }
      }
      return true;
    };
    b.fill(0);
    if (!concave) start(q, value, b, () => {
      let sup = 0;
      for (let j = lo; j < hi; j++) sup += obsSup(code, F[(y >>> 3) + j], trials ? F[(trials >>> 3) + j] : 1, phi);
      return sup;
    });
    let v = NaN;
    let known = false; // v is ℓ(b)
    let lastFull = Infinity; // the last full step's size
    derivs(b);
    for (let it = 0; it < 100; it++) {
      if (!cholesky()) {
        // Not concave here (a non-concave family away from its mode): Levenberg's H + τI,
        // τ doubling from 1e−8·(1 + max H_dd), an ascent direction the line search then accepts.
        if (concave || !regularise(H, q, cholesky)) break;
      }
      for (let i = 0; i < q; i++) {
        let sum = grad[i];
        for (let k = 0; k < i; k++) sum -= L[i * q + k] * z[k];
        z[i] = sum / L[i * q + i];
      }
      for (let i = q - 1; i >= 0; i--) {
        let sum = z[i];
        for (let k = i + 1; k < q; k++) sum -= L[k * q + i] * step[k];
        step[i] = sum / L[i * q + i];
      }
      // Near the mode (step ≤ 1e−6) take full Newton steps without the line search, whose test
      // on the gain in ℓ rounding noise swamps at the flat top, until the step is ≤ 1e−12 or
      // stops shrinking (rounding noise in ∇ℓ: the point is then as good as it gets).
      let norm = 0;
      for (let d = 0; d < q; d++) norm = Math.max(norm, Math.abs(step[d]) / (1 + Math.abs(b[d])));
      if (norm <= 1e-6) {
        for (let d = 0; d < q; d++) b[d] += step[d];
        if (norm <= 1e-12 || norm >= lastFull) break;
        lastFull = norm;
        known = false;
        derivs(b);
        continue;
      }
      if (concave) {
        for (let d = 0; d < q; d++) trial[d] = b[d] + step[d];
        derivs(trial);
        let slope = 0;
        for (let d = 0; d < q; d++) slope += grad[d] * step[d];
        if (slope >= 0) {
          b.set(trial);
          known = false;
          continue;
        }
      }
      if (!known) {
        v = value(b);
        known = true;
      }
      let lambda = 1, accepted = false, done = false;
      for (let half = 0; half < 40; half++) {
        for (let d = 0; d < q; d++) trial[d] = b[d] + lambda * step[d];
        const vt = value(trial);
        if (vt >= v) {
          accepted = true;
          b.set(trial);
          const dv = vt - v;
          v = vt;
          if (dv <= 1e-15 * (1 + Math.abs(v))) done = true;
          break;
        }
        lambda *= 0.5;
      }
      if (!accepted || done) break;
      derivs(b);
    }
    derivs(b);
    if (!cholesky()) {
      L.fill(0);
      for (let d = 0; d < q; d++) L[d * q + d] = 1;
    }
    F.set(b, (mode >>> 3) + gi * q);
    F.set(L, (chol >>> 3) + gi * q * q);
  }
}
