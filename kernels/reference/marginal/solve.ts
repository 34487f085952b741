// One group's log marginal likelihood L = log ∫ e^{ℓ(t)} dt by the shifted log-domain ODE
// (docs/marginal.md §3–6) and its gradients, three ways. The reference for the WASM kernel
// kernels/assembly/marginal/solve.ts, which follows it step for step.
//
//  1. Centre: posterior mode t̂ (safeguarded Newton; a grid scan first when ℓ need not be
//     concave) and scale σ̂ = (−ℓ''(t̂))^{−1/2}; integrate over [t̂ − Tσ̂, t̂ + Tσ̂] with a
//     breakpoint at t̂ (the adaptive solver cannot step over the bump), shift m = ℓ(t̂).
//  2. Start on the solution: u(a) = ℓ(a) − m − log ℓ'(a), the Mills-ratio estimate of the
//     left tail, so u'(a) = ℓ'(a) and there is no stiff transient; the right tail
//     e^{ℓ(b)−m}/|ℓ'(b)| is added at the end. (With an explicit baseline c₀ instead,
//     u(a) = c₀ and e^{c₀} is subtracted exactly.)
//  3. u' = e^{ℓ(t) − m − u} by Dormand–Prince 5(4), mixed-norm error control on u.
//  4. Gradients ∂L/∂π = E[∂ℓ/∂π | y] (Fisher's identity) by
//       folded    — the closed-form adjoint α = e^{u−u(b)}: integrate e^{ℓ−m}·∂ℓ/∂π with the
//                   step's own quadrature weights during the forward solve (default);
//       adjoint   — the continuous adjoint α' = α·e^{ℓ−m−u} solved backward from b with its
//                   own error control, u from the forward dense output;
//       discrete  — reverse-mode through the accepted forward steps (step sizes constant).
//     The tails and the interval ends are held fixed: their derivatives are of the order of
//     the tail mass, e^{−T²/2} relative.
import { C, B, A, E, dopri5Dense, dopri5Step } from './dopri5';
import { errorNorm, influence, logErrorNorm, stabilityFactor, stabilityNorm, stepFactor } from './controller';
import { Integrand } from './integrand';
import { isConcave } from './obs';

export const GRAD_NONE = 0;
export const GRAD_FOLDED = 1;
export const GRAD_ADJOINT = 2;
export const GRAD_DISCRETE = 3;

export const STATUS_OK = 0;
export const STATUS_MAX_STEPS = 1;
export const STATUS_NOT_FINITE = 2;
export const STATUS_BASELINE = 3;
/** The WASM build's step record ran out of room (work buffer too small). */
export const STATUS_WORK = 4;

export interface SolveOptions {
  rtol: number;
  atol: number;
  /** Half-width of the interval in units of σ̂ (mode centre) or in t (prior centre). */
  T: number;
  /** Baseline u(a) relative to m; NaN starts on the Mills-ratio tail estimate instead. */
  c0: number;
  maxSteps: number;
  grad: number;
  /** 0: mode-centred interval t̂ ± Tσ̂; 1: the prior interval [−T, T] (the paper's baseline). */
  centre: number;
}

export interface GroupStats {
  L: number;
  steps: number;
  rejected: number;
  /** ℓ evaluations by the ODE solves (forward, and backward for the adjoint). */
  rhs: number;
  /** All ℓ evaluations, mode search included. */
  evals: number;
  /** Gradient passes (each O(n) outside the fast paths). */
  gradEvals: number;
  status: number;
  mode: number;
  sd: number;
}

interface Mode {
  t: number;
  sd: number;
}

// Safeguarded Newton for the root of ℓ' on a bracket [lo, hi] with ℓ'(lo) > 0 > ℓ'(hi).
function newton(g: Integrand, lo: number, hi: number, t: number): Mode {
  let d2 = -1;
  for (let it = 0; it < 200; it++) {
    const [d1, dd] = g.slope(t);
    d2 = dd;
    if (d1 === 0) break;
    if (d1 > 0) lo = t;
    else hi = t;
    let next = t - d1 / dd;
    if (!(dd < 0) || !(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const done = Math.abs(next - t) <= 1e-15 * (1 + Math.abs(t)) || hi - lo <= 1e-15 * (1 + Math.abs(t));
    t = next;
    if (done) break;
  }
  d2 = g.slope(t)[1];
  return { t, sd: d2 < 0 ? 1 / Math.sqrt(-d2) : NaN };
}

// The mode of a concave ℓ: bracket the sign change of ℓ' by doubling steps from 0, then Newton.
function concaveMode(g: Integrand): Mode {
  const [d0] = g.slope(0);
  if (d0 === 0) return newton(g, -1, 1, 0);
  return outward(g, 0, d0 > 0 ? 1 : -1, 1);
}

// Every local maximum of ℓ within 40 nats of the highest. Used where ℓ need not be concave.
// A grid over the prior's range [−12, 12], then Newton between grid neighbours. Two ways a
// mode can lie beyond it, both met by the Gaussian-log link on raw data at a fit's start
// (y ≈ 500 needs η ≈ 6.2, i.e. t ≈ 62 at s = 0.1), where the solver then started thousands
// of nats below the peak and ran into its step cap:
//  - an end of the grid where ℓ still rises outward: followed out (`outward`: doubling
//    steps, as concaveMode, until ℓ' changes sign, then Newton on that bracket), however low
//    it is on the grid;
//  - ℓ falling at the grid's end but rising again further out (an interior local maximum
//    near 0 where the likelihood is still flat, the real one far out): ℓ(t) ≤ S − t²/2 with
//    S = supEll() bounds where a maximum within 40 nats of the grid's best can be, |t| ≤ R,
//    R = √(2·(S − best + 40)); when R > 12 a second grid of the same size covers [−R, R].
// The heights of all maxima found then decide which are kept.
const GRID = 481;
const GRID_HALF = 12;
function outward(g: Integrand, t: number, dir: number, h: number): Mode {
  let near = t, step = h, far = t + dir * h;
  for (let i = 0; i < 1100; i++) {
    const [d] = g.slope(far);
    if (d * dir <= 0) break;
    near = far;
    step *= 2;
    far = near + dir * step;
  }
  return dir > 0 ? newton(g, near, far, near) : newton(g, far, near, near);
}

// The grid's local maxima on [−half, half] (appended to `found`); returns the grid's highest value.
function scanGrid(g: Integrand, half: number, found: Mode[]): number {
  const h = (2 * half) / (GRID - 1);
  const v = new Float64Array(GRID);
  let best = -Infinity;
  for (let i = 0; i < GRID; i++) {
    v[i] = g.ell(-half + i * h);
    if (v[i] > best) best = v[i];
  }
  for (let i = 0; i < GRID; i++) {
    const left = i === 0 ? -Infinity : v[i - 1];
    const right = i === GRID - 1 ? -Infinity : v[i + 1];
    if (!(v[i] >= left && v[i] > right)) continue;
    const t = -half + i * h;
    const dir = i === GRID - 1 ? 1 : i === 0 ? -1 : 0;
    const rising = dir !== 0 && g.slope(t)[0] * dir > 0;
    if (!rising && !(v[i] > best - 40)) continue;
    const lo = t - h, hi = t + h;
    const m = rising ? outward(g, t, dir, h) : g.slope(lo)[0] > 0 && g.slope(hi)[0] < 0 ? newton(g, lo, hi, t) : { t, sd: NaN };
    found.push({ t: m.t, sd: Number.isFinite(m.sd) ? m.sd : h });
  }
  return best;
}

function allModes(g: Integrand): Mode[] {
  const found: Mode[] = [];
  const best = scanGrid(g, GRID_HALF, found);
  const R = Math.sqrt(2 * (g.supEll() - best + 40));
  if (R > GRID_HALF && R < Infinity) scanGrid(g, R, found);
  if (found.length < 2) return found;
  // Keep the maxima within 40 nats of the highest, each once (both grids can find one).
  const heights = found.map((md) => g.ell(md.t));
  const top = Math.max(...heights);
  const kept: Mode[] = [];
  found.forEach((md, k) => {
    if (heights[k] >= top - 40 && !kept.some((o) => Math.abs(o.t - md.t) <= 1e-9 * (1 + Math.abs(md.t)))) kept.push(md);
  });
  return kept;
}

// The gradients are posterior expectations, integrated on the forward steps, so the steps must
// resolve the posterior's shape and not only its mass: the step's embedded error estimates of
// ∫e^{ℓ−m}·δᵏ, δ = (t − t̂)/σ̂, k = 0, 1, 2, are held to (atol + rtol)·√(2π)σ̂/MOMENT_SAFETY
// (√(2π)σ̂ is the Laplace estimate of ∫e^{ℓ−m}). Controlling u alone left E[δ²] ten times less
// accurate than L (∂L/∂σ of Gaussian groups off by 1e−7 relative at rtol 1e−10, where Fisher's
// identity subtracts terms 100× the result); the factor 3 brought the worst of 300 random
// groups from 1.1e−7 to 6e−8 for 8% more steps.
const MOMENT_SAFETY = 3;
/** The forward step's stage weights e^{ℓ−m}, shared by the moment norm and the folded gradient. */
const stageWeights = new Float64Array(7);

// The moment error norm of a step with the given stage integrand weights (units of e^{ℓ−m}).
function momentNorm(t: number, h: number, weights: ArrayLike<number>, main: Mode, zRef: number, o: SolveOptions): number {
  let e0 = 0, e1 = 0, e2 = 0;
  const invSd = 1 / main.sd;
  for (let i = 0; i < 7; i++) {
    if (E[i] === 0) continue;
    const w = E[i] * weights[i];
    const d = (t + C[i] * h - main.t) * invSd;
    e0 += w;
    e1 += w * d;
    e2 += w * d * d;
  }
  return MOMENT_SAFETY * Math.abs(h) * Math.max(Math.abs(e0), Math.abs(e1), Math.abs(e2)) * (1 / ((o.atol + o.rtol) * zRef));
}

// The interval end on one side of a mode: T·σ̂ away, or further (growing) until ℓ has
// dropped T²/2 below its peak. On a Gaussian bump that is exactly T·σ̂; on a skewed posterior
// (an all-zero Bernoulli group: flat likelihood to the left, so the prior's tail) the
// curvature at the mode understates the width, and stopping at T·σ̂ left the Mills-ratio
// estimate to stand for mass it approximates only to O(1/ℓ'(a)²) (measured errors 3e−9).
//   The test has a slack of REACH_SLACK: on an exactly Gaussian ℓ it sits on the boundary, and
// rounding of ℓ(t̂ ± Tσ̂) − ℓ(t̂) used to fail it and double the interval (a Gaussian group then
// started at −13.6σ̂). Growing by 1.25 rather than 2 keeps a skewed side from overshooting.
function reach(g: Integrand, md: Mode, dir: number, T: number): number {
  let k = T;
  for (let i = 0; i < REACH_TRIES; i++) {
    const t = md.t + dir * k * md.sd;
    if (g.shifted(t) <= -0.5 * T * T + REACH_SLACK) return t;
    k *= REACH_GROWTH;
  }
  return md.t + dir * k * md.sd;
}

/** Slack in ℓ units (a 0.1 % change of the tail mass the Mills ratio stands for), growth, tries (1.25²⁰⁰ ≫ any σ̂ ratio). */
const REACH_SLACK = 1e-3;
const REACH_GROWTH = 1.25;
const REACH_TRIES = 200;

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
}

interface StepRecord {
  t: number;
  h: number;
  u0: number;
  u1: number;
  k: Float64Array;
  ev: Float64Array;
}

export function solveGroup(g: Integrand, o: SolveOptions): GroupStats {
  const stats: GroupStats = { L: NaN, steps: 0, rejected: 0, rhs: 0, evals: 0, gradEvals: 0, status: STATUS_OK, mode: NaN, sd: NaN };
  const modes = isConcave(g.code) ? [concaveMode(g)] : allModes(g);
  if (modes.length === 0) {
    // Every grid value −∞ or NaN: nothing to integrate around.
    stats.status = STATUS_NOT_FINITE;
    return stats;
  }
  let main = modes[0];
  // The highest mode (each ℓ once; with a single mode nothing to compare).
  if (modes.length > 1) {
    let best = g.ell(main.t);
    for (let i = 1; i < modes.length; i++) {
      const v = g.ell(modes[i].t);
      if (v > best) {
        best = v;
        main = modes[i];
      }
    }
  }
  g.setCentre(main.t);
  const m = g.mRef;
  stats.mode = main.t;
  stats.sd = main.sd;
  if (!Number.isFinite(m) || !Number.isFinite(main.sd)) {
    stats.status = STATUS_NOT_FINITE;
    return stats;
  }

  let a: number, b: number;
  if (o.centre === 1) {
    a = -o.T;
    b = o.T;
  } else {
    a = Infinity;
    b = -Infinity;
    for (const md of modes) {
      a = Math.min(a, reach(g, md, -1, o.T));
      b = Math.max(b, reach(g, md, 1, o.T));
    }
  }
  const breaks = modes.map((md) => md.t).filter((t) => t > a && t < b).sort((x, y) => x - y);
  breaks.push(b);

  // Start: on the left-tail estimate where ℓ is rising at a, else on the baseline c₀.
  const ea = g.shifted(a);
  const tails = Number.isNaN(o.c0) && o.centre === 0;
  const [da] = g.slope(a);
  const useTail = tails && da > 0;
  const c0 = Number.isNaN(o.c0) ? -40 : o.c0;
  let u = useTail ? ea - Math.log(da) : c0;

  const record = o.grad === GRAD_ADJOINT || o.grad === GRAD_DISCRETE;
  const recs: StepRecord[] = [];
  const k = new Float64Array(7), Y = new Float64Array(7), ev = new Float64Array(7);
  const forward = (e: number, y: number) => Math.exp(e - y);
  let t = a, e0 = ea, h = Math.min(0.1 * main.sd, b - a), lastRejected = false, bi = 0;
  k[0] = forward(e0, u);
  const rhsBefore = g.evals;
  const zRef = Math.sqrt(2 * Math.PI) * main.sd;
  const uRef = Math.log(zRef);
  while (bi < breaks.length) {
    const target = breaks[bi];
    if (stats.steps + stats.rejected >= o.maxSteps) {
      stats.status = STATUS_MAX_STEPS;
      return stats;
    }
    const last = h >= target - t;
    const hh = last ? target - t : h;
    ev[0] = e0;
    for (let s = 1; s < 5; s++) ev[s] = g.shifted(t + C[s] * hh);
    ev[5] = ev[6] = g.shifted(last ? target : t + hh);
    const r = dopri5Step(u, hh, ev, forward, k, Y);
    // The stage integrand weights e^{ev}, once: the moment norm and the folded gradients share
    // them. Stage 0 is the last accepted step's stage 6 (kept in stageWeights[0]) and stages 5
    // and 6 share t + h, so a step takes five exps.
    if (stats.steps + stats.rejected === 0) stageWeights[0] = Math.exp(ev[0]);
    for (let i = 1; i < 6; i++) stageWeights[i] = Math.exp(ev[i]);
    stageWeights[6] = stageWeights[5];
    const acc = Math.max(
      logErrorNorm(r.err, o.rtol, o.atol) * influence(Math.max(u, r.y1), uRef),
      momentNorm(t, hh, stageWeights, main, zRef, o),
    );
    const stab = stabilityNorm(hh, k);
    const factor = Math.min(stepFactor(acc, lastRejected || acc > 1 || stab > 1), stabilityFactor(stab));
    if (acc <= 1 && stab <= 1) {
      if (o.grad === GRAD_FOLDED) {
        for (let s = 0; s < 6; s++) if (B[s] !== 0) g.accumulate(t + C[s] * hh, hh * B[s] * stageWeights[s]);
      }
      if (record) recs.push({ t, h: hh, u0: u, u1: r.y1, k: k.slice(), ev: ev.slice() });
      stats.steps++;
      t = last ? target : t + hh;
      if (last) bi++;
      u = r.y1;
      e0 = ev[6];
      k[0] = k[6];
      stageWeights[0] = stageWeights[6];
      h = hh * factor;
      lastRejected = false;
    } else {
      stats.rejected++;
      h = hh * (Number.isFinite(acc) && Number.isFinite(stab) ? factor : 0.2);
      lastRejected = true;
    }
  }
  stats.rhs = g.evals - rhsBefore;

  // Close: add the right tail, or remove the baseline.
  let logZ: number;
  if (useTail) {
    const [db] = g.slope(b);
    logZ = db < 0 ? logAddExp(u, g.shifted(b) - Math.log(-db)) : u;
  } else {
    if (!(u > c0)) {
      stats.status = STATUS_BASELINE;
      return stats;
    }
    logZ = u + Math.log1p(-Math.exp(c0 - u));
  }
  stats.L = m + logZ;
  if (!Number.isFinite(stats.L)) stats.status = STATUS_NOT_FINITE;

  if (o.grad === GRAD_ADJOINT && !adjointSweep(g, o, recs, breaks, a, u, main, stats)) {
    stats.L = NaN;
    stats.status = STATUS_MAX_STEPS;
    return stats;
  }
  else if (o.grad === GRAD_DISCRETE) discreteAdjoint(g, recs, u);
  if (o.grad !== GRAD_NONE) g.finish(Math.exp(logZ));
  stats.evals = g.evals;
  stats.gradEvals = g.gradEvals;
  return stats;
}

// α' = α·w(t), w = e^{ℓ−m−u(t)}, α(b) = 1, solved from b down to a with its own error control
// on α; ∂u(b)/∂π = ∫ α·w·∂ℓ/∂π accumulates with the backward steps' weights (×e^{u(b)}, to share
// finish(Z) with the other methods).
// False when the step collapses (size 0 or NaN) short of its stop.
function adjointSweep(g: Integrand, o: SolveOptions, recs: StepRecord[], breaks: number[], a: number, uEnd: number, main: Mode, stats: GroupStats): boolean {
  let idx = recs.length - 1;
  const uAt = (t: number): number => {
    while (idx > 0 && t < recs[idx].t) idx--;
    while (idx < recs.length - 1 && t > recs[idx].t + recs[idx].h) idx++;
    const r = recs[idx];
    return dopri5Dense(r.u0, r.u1, r.h, r.k, (t - r.t) / r.h);
  };
  const stops = [...breaks.slice(0, -1).reverse(), a];
  const scale = Math.exp(uEnd);
  const k = new Float64Array(7), Y = new Float64Array(7), ev = new Float64Array(7), kw = new Float64Array(7);
  const zRef = Math.sqrt(2 * Math.PI) * main.sd;
  const linear = (w: number, alpha: number) => alpha * Math.exp(w);
  const before = g.evals;
  let t = breaks[breaks.length - 1], alpha = 1, h = -(recs[recs.length - 1]?.h ?? 0.1), lastRejected = false, si = 0;
  let e0 = g.shifted(t) - uEnd;
  k[0] = linear(e0, alpha);
  while (si < stops.length) {
    const target = stops[si];
    const last = h <= target - t;
    if (!last && !(Math.abs(h) > 0)) {
      stats.rhs += g.evals - before;
      return false;
    }
    const hh = last ? target - t : h;
    ev[0] = e0;
    for (let s = 1; s < 5; s++) {
      const ts = t + C[s] * hh;
      ev[s] = g.shifted(ts) - uAt(ts);
    }
    const tEnd = last ? target : t + hh;
    ev[5] = ev[6] = g.shifted(tEnd) - uAt(tEnd);
    const r = dopri5Step(alpha, hh, ev, linear, k, Y);
    // α itself, and (as forward) the moments of the weights α·w·e^{u(b)} the gradients use.
    for (let i = 0; i < 7; i++) kw[i] = k[i] * scale;
    const norm = Math.max(errorNorm(r.err, alpha, r.y1, o.rtol, o.atol), momentNorm(t, hh, kw, main, zRef, o));
    if (norm <= 1) {
      for (let s = 0; s < 6; s++) {
        if (B[s] !== 0) g.accumulate(t + C[s] * hh, -hh * B[s] * k[s] * scale);
      }
      t = tEnd;
      if (last) si++;
      alpha = r.y1;
      e0 = ev[6];
      k[0] = k[6];
      h = hh * stepFactor(norm, lastRejected);
      lastRejected = false;
    } else {
      h = hh * (Number.isFinite(norm) ? stepFactor(norm, true) : 0.2);
      lastRejected = true;
    }
  }
  stats.rhs += g.evals - before;
  return true;
}

// Reverse mode through the recorded steps: u₁ = u₀ + hΣBᵢkᵢ, kᵢ = exp(eᵢ − Uᵢ),
// Uᵢ = u₀ + hΣ_{j<i}A_ij k_j. With λ = ∂u_N/∂u₁: k̄ᵢ = λhBᵢ + Σ_{l>i} Ū_l h A_li,
// Ūᵢ = −kᵢk̄ᵢ, ēᵢ = kᵢk̄ᵢ, and λ ← λ + ΣŪᵢ. ∂u_N/∂π = Σ ēᵢ·∂ℓ(tᵢ)/∂π.
function discreteAdjoint(g: Integrand, recs: StepRecord[], uEnd: number): void {
  const scale = Math.exp(uEnd);
  const kbar = new Float64Array(7), Ubar = new Float64Array(7);
  let lambda = 1;
  for (let n = recs.length - 1; n >= 0; n--) {
    const { t, h, k } = recs[n];
    let sumU = 0;
    for (let i = 6; i >= 0; i--) {
      let kb = lambda * h * B[i];
      for (let l = i + 1; l < 7; l++) kb += Ubar[l] * h * A[l][i];
      kbar[i] = kb;
      Ubar[i] = -k[i] * kb;
      sumU += Ubar[i];
    }
    // Stages 6 and 7 (indices 5, 6) share t + h: one gradient pass for both.
    for (let i = 0; i < 5; i++) g.accumulate(t + C[i] * h, k[i] * kbar[i] * scale);
    g.accumulate(t + h, (k[5] * kbar[5] + k[6] * kbar[6]) * scale);
    lambda += sumU;
  }
}
