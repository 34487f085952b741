// One group's log marginal likelihood L = log ∫ e^{ℓ(t)} dt by the shifted log-domain ODE and
// its gradients, three ways: the WASM twin of kernels/reference/marginal/solve.ts, step for
// step (same branch order, same evaluation order, same loop order), so both take the same
// steps and agree to rounding. See the reference for the method.
//
// Differences forced by the setting, none of which changes a result the reference returns:
// - Results go to module globals (st*), not an object.
// - Modes live in a static table of MAX_MODES = 482 entries: a grid point is a local maximum
//   only if its right neighbour is strictly lower, so no two neighbours of the 481-point grid
//   are both maxima and 241 per grid (two grids at most) is the most there can be; nothing is
//   ever dropped.
// - Accepted forward steps are recorded in the caller's `work` buffer (RECORD_SIZE f64 each)
//   when a gradient method revisits them (adjoint, discrete); if it is full: STATUS_WORK.
// - Where the reference cannot proceed this returns a status instead: no mode at all (every
//   grid value −∞ or NaN, where the reference throws) gives STATUS_NOT_FINITE; a backward
//   adjoint step of size 0 or NaN short of its target (where the reference loops forever)
//   gives STATUS_MAX_STEPS.
import { E_TBL, dopri5Dense, dopri5Step, stepErr, tA, tB, tC } from './dopri5';
import { errorNorm, influence, logErrorNorm, stabilityFactor, stabilityNorm, stepFactor } from './controller';
import {
  accumulate, accumulateStage, cacheOn, clearParkedGradient, ell, fillStage, finish, gCode, gEvals, gGradEvals, gGphi, gGs, gMRef, setCentre, shifted, shiftStages, slope, slopeD2,
  supEll,
} from './integrand';
import { isConcave } from './obs';
import { ld, st } from '../f64s';
import { aligned } from '../scratch';

export const GRAD_NONE: f64 = 0;
export const GRAD_FOLDED: f64 = 1;
export const GRAD_ADJOINT: f64 = 2;
export const GRAD_DISCRETE: f64 = 3;

/** Moment tolerance tightening, as in the reference. */
export const MOMENT_SAFETY: f64 = 3;

export const STATUS_OK: i32 = 0;
export const STATUS_MAX_STEPS: i32 = 1;
export const STATUS_NOT_FINITE: i32 = 2;
export const STATUS_BASELINE: i32 = 3;
/** The step record ran out of room (work buffer too small). */
export const STATUS_WORK: i32 = 4;

/** f64 slots per recorded step: t, h, u0, u1, k[7], ev[7]. */
export const RECORD_SIZE: i32 = 18;

// Group results (the reference's GroupStats).
export let stL: f64 = NaN;
export let stSteps: i32 = 0;
export let stRejected: i32 = 0;
export let stRhs: i32 = 0;
export let stEvals: i32 = 0;
export let stGradEvals: i32 = 0;
export let stStatus: i32 = 0;
export let stMode: f64 = NaN;
export let stSd: f64 = NaN;

const GRID: i32 = 481;
const GRID_HALF: f64 = 12;
const MAX_MODES: i32 = 482; // 2·(GRID + 1)/2, two grids: see the header

// Static scratch (no allocation): grid values, modes, breakpoints, stage slopes and values.
let GRID_V: usize = memory.data(MAX_MODES << 3, 16); // grid values, then mode heights (MAX_MODES ≥ GRID)
let MODE_T: usize = memory.data(MAX_MODES << 3, 16);
let MODE_SD: usize = memory.data(MAX_MODES << 3, 16);
let BREAKS: usize = memory.data((MAX_MODES + 1) << 3, 16);
let K: usize = memory.data(7 << 3, 16);
let EV: usize = memory.data(7 << 3, 16);
let KBAR: usize = memory.data(7 << 3, 16);
let UBAR: usize = memory.data(7 << 3, 16);
let W: usize = memory.data(7 << 3, 16);

let nModes: i32 = 0;
// Result of `newton`.
let nwT: f64 = 0;
let nwSd: f64 = 0;

// Safeguarded Newton for the root of ℓ' on a bracket [lo, hi] with ℓ'(lo) > 0 > ℓ'(hi).
function newton(lo: f64, hi: f64, t: f64): void {
  let d2: f64 = -1;
  for (let it = 0; it < 200; it++) {
    const d1 = slope(t);
    const dd = slopeD2;
    d2 = dd;
    if (d1 == 0) break;
    if (d1 > 0) lo = t;
    else hi = t;
    let next = t - d1 / dd;
    if (!(dd < 0) || !(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const done = Math.abs(next - t) <= 1e-15 * (1.0 + Math.abs(t)) || hi - lo <= 1e-15 * (1.0 + Math.abs(t));
    t = next;
    if (done) break;
  }
  slope(t);
  d2 = slopeD2;
  nwT = t;
  nwSd = d2 < 0 ? 1.0 / Math.sqrt(-d2) : NaN;
}

// The mode of a concave ℓ: bracket the sign change of ℓ' by doubling steps from 0, then Newton.
function concaveMode(): void {
  const d0 = slope(0);
  if (d0 == 0) {
    newton(-1, 1, 0);
    return;
  }
  outward(0, d0 > 0 ? 1.0 : -1.0, 1);
}

// A maximum at an end of the grid where ℓ still rises outward, followed out (the reference's
// `outward`): doubling steps until ℓ' changes sign, then Newton on that bracket.
function outward(t: f64, dir: f64, h: f64): void {
  let near = t, step = h, far = t + dir * h;
  for (let i = 0; i < 1100; i++) {
    const d = slope(far);
    if (d * dir <= 0) break;
    near = far;
    step *= 2;
    far = near + dir * step;
  }
  if (dir > 0) newton(near, far, near);
  else newton(far, near, near);
}

// The grid's local maxima on [−half, half], appended to the mode table; returns the grid's
// highest value (the reference's scanGrid).
function scanGrid(half: f64): f64 {
  const h: f64 = (2.0 * half) / <f64>(GRID - 1);
  let best: f64 = -Infinity;
  for (let i = 0; i < GRID; i++) {
    const v = ell(-half + <f64>i * h);
    st(GRID_V, i, v);
    if (v > best) best = v;
  }
  for (let i = 0; i < GRID; i++) {
    const vi = ld(GRID_V, i);
    const left = i == 0 ? -Infinity : ld(GRID_V, i - 1);
    const right = i == GRID - 1 ? -Infinity : ld(GRID_V, i + 1);
    if (!(vi >= left && vi > right)) continue;
    const t = -half + <f64>i * h;
    const dir: f64 = i == GRID - 1 ? 1.0 : i == 0 ? -1.0 : 0.0;
    const rising = dir != 0 && slope(t) * dir > 0;
    if (!rising && !(vi > best - 40)) continue;
    const lo = t - h, hi = t + h;
    let mt: f64 = t, msd: f64 = NaN;
    if (rising) {
      outward(t, dir, h);
      mt = nwT;
      msd = nwSd;
    } else if (slope(lo) > 0 && slope(hi) < 0) {
      newton(lo, hi, t);
      mt = nwT;
      msd = nwSd;
    }
    st(MODE_T, nModes, mt);
    st(MODE_SD, nModes, isFinite(msd) ? msd : h);
    nModes++;
  }
  return best;
}

// Every local maximum of ℓ within 40 nats of the highest, each once: the grid over [−12, 12],
// a second over [−R, R] when the bound supEll says a maximum could lie out to R > 12 (see the
// reference). Used where ℓ need not be concave.
function allModes(): void {
  nModes = 0;
  const best = scanGrid(GRID_HALF);
  const R = Math.sqrt(2.0 * (supEll() - best + 40.0));
  if (R > GRID_HALF && R < Infinity) scanGrid(R);
  if (nModes < 2) return;
  // Heights in GRID_V (done with the grids).
  let top: f64 = -Infinity;
  for (let k = 0; k < nModes; k++) {
    const v = ell(ld(MODE_T, k));
    st(GRID_V, k, v);
    top = Math.max(top, v);
  }
  let kept = 0;
  for (let k = 0; k < nModes; k++) {
    const t = ld(MODE_T, k);
    if (!(ld(GRID_V, k) >= top - 40)) continue;
    let dup = false;
    for (let o = 0; o < kept; o++) if (Math.abs(ld(MODE_T, o) - t) <= 1e-9 * (1.0 + Math.abs(t))) dup = true;
    if (dup) continue;
    st(MODE_T, kept, t);
    st(MODE_SD, kept, ld(MODE_SD, k));
    kept++;
  }
  nModes = kept;
}

// The step's embedded error estimates of ∫e^{ℓ−m}·δᵏ, δ = (t − t̂)/σ̂, k = 0, 1, 2, against
// (atol + rtol)·zRef, zRef = √(2π)σ̂: the gradients are posterior moments, so the steps must
// resolve them too. `weights`: the stage integrand weights in units of e^{ℓ−m}.
function momentNorm(t: f64, h: f64, weights: usize, mainT: f64, mainSd: f64, zRef: f64, rtol: f64, atol: f64): f64 {
  let e0: f64 = 0.0, e1: f64 = 0.0, e2: f64 = 0.0;
  const invSd = 1.0 / mainSd;
  for (let i = 0; i < 7; i++) {
    const Ei = ld(E_TBL, i);
    if (Ei == 0) continue;
    const w = Ei * ld(weights, i);
    const d = (t + tC(i) * h - mainT) * invSd;
    e0 += w;
    e1 += w * d;
    e2 += w * d * d;
  }
  return MOMENT_SAFETY * Math.abs(h) * Math.max(Math.max(Math.abs(e0), Math.abs(e1)), Math.abs(e2)) * (1.0 / ((atol + rtol) * zRef));
}

// The interval end on one side of a mode: T·σ̂ away, or further (growing) until ℓ has dropped
// T²/2 below its peak, with the reference's slack and growth.
const REACH_SLACK: f64 = 1e-3;
const REACH_GROWTH: f64 = 1.25;
const REACH_TRIES: i32 = 200;

function reach(mdT: f64, mdSd: f64, dir: f64, T: f64): f64 {
  let k = T;
  for (let i = 0; i < REACH_TRIES; i++) {
    const t = mdT + dir * k * mdSd;
    if (shifted(t) <= -0.5 * T * T + REACH_SLACK) return t;
    k *= REACH_GROWTH;
  }
  return mdT + dir * k * mdSd;
}

function logAddExp(a: f64, b: f64): f64 {
  if (a == -Infinity) return b;
  if (b == -Infinity) return a;
  return Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
}

// @ts-ignore: decorator
@inline
function recPtr(work: usize, i: i32): usize {
  return work + ((<usize>i * <usize>RECORD_SIZE) << 3);
}

// The solve's plan for the current group, set by `prepare`: the interval [pA, pB] with the
// breakpoints in BREAKS (pNb of them, the last pB), the main mode and its SD, the shift m,
// the start u(a) and ℓ(a) − m, the first step and whether the left tail or the baseline c₀
// starts it.
export let pA: f64 = 0;
export let pB: f64 = 0;
export let pNb: i32 = 0;
export let pMainT: f64 = 0;
export let pMainSd: f64 = 0;
export let pM: f64 = 0;
export let pU0: f64 = 0;
export let pE0: f64 = 0;
export let pH0: f64 = 0;
export let pUseTail: bool = false;
export let pC0: f64 = 0;
/** √(2π)·σ̂, the Laplace estimate of ∫e^{ℓ−m} (the moment norm's scale), and its log (u's reference). */
export let pZRef: f64 = 0;
export let pURef: f64 = 0;
/** ℓ evaluations per step attempt: stages 1–4 and the end (stages 5 and 6 share it; 0 is carried). */
export const STAGE_EVALS: i32 = 5;

/** Clears the group results (st*). */
export function resetResults(): void {
  stL = NaN;
  stSteps = 0;
  stRejected = 0;
  stRhs = 0;
  stEvals = 0;
  stGradEvals = 0;
  stStatus = STATUS_OK;
  stMode = NaN;
  stSd = NaN;
}

/** Sets the counts and centre of a group solved elsewhere (lanes.ts); stL and stStatus come from `close`. */
export function setCounts(steps: i32, rejected: i32, rhs: i32, evals: i32, gradEvals: i32, mode: f64, sd: f64): void {
  stSteps = steps;
  stRejected = rejected;
  stRhs = rhs;
  stEvals = evals;
  stGradEvals = gradEvals;
  stMode = mode;
  stSd = sd;
}

/** Sets stStatus (lanes.ts: a group stopped at the step cap). */
export function setStatus(status: i32): void {
  stStatus = status;
}

/** f64 slots per group in the kernel's stats output. */
export const STAT_COUNT: i32 = 8;

/** Writes group i's results (st*, and the gradient accumulators when asked) to the kernel outputs. */
export function storeGroup(i: i32, L: usize, gs: usize, gphi: usize, stats: usize, wantGrad: bool): void {
  const io = <usize>i << 3;
  store<f64>(L + io, stL);
  if (wantGrad) {
    store<f64>(gs + io, gGs);
    store<f64>(gphi + io, gGphi);
    if (stStatus != STATUS_OK) clearParkedGradient();
  }
  const so = stats + ((<usize>i * <usize>STAT_COUNT) << 3);
  store<f64>(so, <f64>stSteps);
  store<f64>(so, <f64>stRejected, 8);
  store<f64>(so, <f64>stRhs, 16);
  store<f64>(so, <f64>stEvals, 24);
  store<f64>(so, <f64>stGradEvals, 32);
  store<f64>(so, <f64>stStatus, 40);
  store<f64>(so, stMode, 48);
  store<f64>(so, stSd, 56);
}

/** Breakpoint i of the plan. */
export function breakAt(i: i32): f64 {
  return ld(BREAKS, i);
}

/**
 * Resets the group results and plans the current group's solve (integrand.setGroup): modes,
 * interval, breakpoints and start. False when it cannot (stStatus says why).
 */
export function prepare(T: f64, c0opt: f64, centre: f64): bool {
  resetResults();
  if (isConcave(gCode)) {
    concaveMode();
    st(MODE_T, 0, nwT);
    st(MODE_SD, 0, nwSd);
    nModes = 1;
  } else {
    allModes();
  }
  if (nModes == 0) {
    // The reference throws here (modes[0] is undefined): every grid value was −∞ or NaN.
    stStatus = STATUS_NOT_FINITE;
    return false;
  }
  let mainI = 0;
  // The highest mode (each ℓ once; with a single mode nothing to compare).
  if (nModes > 1) {
    let best = ell(ld(MODE_T, 0));
    for (let i = 1; i < nModes; i++) {
      const v = ell(ld(MODE_T, i));
      if (v > best) {
        best = v;
        mainI = i;
      }
    }
  }
  const mainT = ld(MODE_T, mainI), mainSd = ld(MODE_SD, mainI);
  setCentre(mainT);
  const m = gMRef;
  stMode = mainT;
  stSd = mainSd;
  if (!isFinite(m) || !isFinite(mainSd)) {
    stStatus = STATUS_NOT_FINITE;
    return false;
  }

  let a: f64, b: f64;
  if (centre == 1) {
    a = -T;
    b = T;
  } else {
    a = Infinity;
    b = -Infinity;
    for (let i = 0; i < nModes; i++) {
      a = Math.min(a, reach(ld(MODE_T, i), ld(MODE_SD, i), -1, T));
      b = Math.max(b, reach(ld(MODE_T, i), ld(MODE_SD, i), 1, T));
    }
  }
  // Interior modes, ascending (a stable insertion sort, as Array.prototype.sort), then b.
  let nb = 0;
  for (let i = 0; i < nModes; i++) {
    const t = ld(MODE_T, i);
    if (t > a && t < b) {
      let j = nb;
      while (j > 0 && ld(BREAKS, j - 1) > t) {
        st(BREAKS, j, ld(BREAKS, j - 1));
        j--;
      }
      st(BREAKS, j, t);
      nb++;
    }
  }
  st(BREAKS, nb, b);
  nb++;

  // Start: on the left-tail estimate where ℓ is rising at a, else on the baseline c₀.
  fillStage(0);
  const ea = shifted(a);
  fillStage(-1);
  const tails = isNaN(c0opt) && centre == 0;
  const da = slope(a);
  const useTail = tails && da > 0;
  const c0: f64 = isNaN(c0opt) ? -40.0 : c0opt; // the baseline when no tail starts it
  pA = a;
  pB = b;
  pNb = nb;
  pMainT = mainT;
  pMainSd = mainSd;
  pM = m;
  pE0 = ea;
  pUseTail = useTail;
  pC0 = c0;
  pU0 = useTail ? ea - Math.log(da) : c0;
  pH0 = Math.min(0.1 * mainSd, b - a);
  pZRef = Math.sqrt(2.0 * Math.PI) * mainSd;
  pURef = Math.log(pZRef);
  return true;
}

/** log Z, Z = ∫e^{ℓ−m}, from the last `close`. */
export let cLogZ: f64 = NaN;

/**
 * Closes a plan's integral at u = u(b) (the plan's b, useTail, c₀ and m): adds the right tail,
 * or removes the baseline, and sets stL and cLogZ. False when the integral did not pass the
 * baseline (STATUS_BASELINE).
 */
export function close(u: f64, b: f64, useTail: bool, c0: f64, m: f64): bool {
  let logZ: f64;
  if (useTail) {
    const db = slope(b);
    logZ = db < 0 ? logAddExp(u, shifted(b) - Math.log(-db)) : u;
  } else {
    if (!(u > c0)) {
      stStatus = STATUS_BASELINE;
      return false;
    }
    logZ = u + Math.log1p(-Math.exp(c0 - u));
  }
  cLogZ = logZ;
  stL = m + logZ;
  if (!isFinite(stL)) stStatus = STATUS_NOT_FINITE;
  return true;
}

/**
 * Solves the current group (integrand.setGroup) and leaves the results in st*. `work` holds
 * up to `workSteps` step records for the adjoint and discrete gradients.
 */
export function solveGroup(
  rtol: f64, atol: f64, T: f64, c0opt: f64, maxSteps: f64, grad: f64, centre: f64, work: usize, workSteps: i32,
): void {
  if (!prepare(T, c0opt, centre)) return;
  const a = pA, nb = pNb, mainT = pMainT, mainSd = pMainSd;
  const record = grad == GRAD_ADJOINT || grad == GRAD_DISCRETE;
  let u = pU0, t = a, e0 = pE0, h = pH0, lastRejected = false, bi = 0;
  st(K, 0, Math.exp(e0 - u));
  const rhsBefore = gEvals;
  const zRef = pZRef, uRef = pURef;
  while (bi < nb) {
    const target = ld(BREAKS, bi);
    if (<f64>(stSteps + stRejected) >= maxSteps) {
      stStatus = STATUS_MAX_STEPS;
      return;
    }
    const last = h >= target - t;
    const hh = last ? target - t : h;
    st(EV, 0, e0);
    for (let s = 1; s < 5; s++) {
      // Scores are stored only for the stages the folded gradient weighs (B₁ = 0).
      fillStage(tB(s) != 0 ? s : -1);
      st(EV, s, shifted(t + tC(s) * hh));
    }
    fillStage(5);
    const e56 = shifted(last ? target : t + hh);
    fillStage(-1);
    st(EV, 5, e56);
    st(EV, 6, e56);
    const y1 = dopri5Step(u, hh, EV, K, false);
    // The stage integrand weights e^{ev} (stage 0 carried from the last accepted step, 6 = 5).
    if (stSteps + stRejected == 0) st(W, 0, Math.exp(ld(EV, 0)));
    for (let i = 1; i < 6; i++) st(W, i, Math.exp(ld(EV, i)));
    st(W, 6, ld(W, 5));
    const acc = Math.max(
      logErrorNorm(stepErr, rtol, atol) * influence(Math.max(u, y1), uRef),
      momentNorm(t, hh, W, mainT, mainSd, zRef, rtol, atol),
    );
    const stab = stabilityNorm(hh, K);
    const factor = Math.min(stepFactor(acc, lastRejected || acc > 1 || stab > 1), stabilityFactor(stab));
    if (acc <= 1 && stab <= 1) {
      if (grad == GRAD_FOLDED) {
        for (let s = 0; s < 6; s++) if (tB(s) != 0) accumulateStage(s, t + tC(s) * hh, hh * tB(s) * ld(W, s));
        if (cacheOn()) shiftStages();
      }
      if (record) {
        if (stSteps >= workSteps) {
          stStatus = STATUS_WORK;
          return;
        }
        const r = recPtr(work, stSteps);
        st(r, 0, t);
        st(r, 1, hh);
        st(r, 2, u);
        st(r, 3, y1);
        memory.copy(r + (4 << 3), K, 7 << 3);
        memory.copy(r + (11 << 3), EV, 7 << 3);
      }
      stSteps++;
      t = last ? target : t + hh;
      if (last) bi++;
      u = y1;
      e0 = ld(EV, 6);
      st(K, 0, ld(K, 6));
      st(W, 0, ld(W, 6));
      h = hh * factor;
      lastRejected = false;
    } else {
      stRejected++;
      h = hh * (isFinite(acc) && isFinite(stab) ? factor : 0.2);
      lastRejected = true;
    }
  }
  stRhs = gEvals - rhsBefore;

  if (!close(u, pB, pUseTail, pC0, pM)) return;
  const logZ = cLogZ;

  if (grad == GRAD_ADJOINT) {
    if (!adjointSweep(rtol, atol, work, stSteps, nb, a, u, mainT, mainSd)) {
      stL = NaN;
      stStatus = STATUS_MAX_STEPS;
      return;
    }
  } else if (grad == GRAD_DISCRETE) discreteAdjoint(work, stSteps, u);
  if (grad != GRAD_NONE) finish(Math.exp(logZ));
  stEvals = gEvals;
  stGradEvals = gGradEvals;
}

// The forward solution u(t) from the recorded steps' dense output; `uIdx` walks with t.
let uIdx: i32 = 0;
let uN: i32 = 0;
let uWork: usize = 0;

function uAt(t: f64): f64 {
  while (uIdx > 0 && t < ld(recPtr(uWork, uIdx), 0)) uIdx--;
  while (uIdx < uN - 1 && t > ld(recPtr(uWork, uIdx), 0) + ld(recPtr(uWork, uIdx), 1)) uIdx++;
  const r = recPtr(uWork, uIdx);
  const rt = ld(r, 0), rh = ld(r, 1);
  return dopri5Dense(ld(r, 2), ld(r, 3), rh, r + (4 << 3), (t - rt) / rh);
}

// α' = α·w(t), w = e^{ℓ−m−u(t)}, α(b) = 1, solved from b down to a with its own error control
// on α; ∂u(b)/∂π = ∫ α·w·∂ℓ/∂π accumulates with the backward steps' weights (×e^{u(b)}).
// Stops are the interior breakpoints in descending order, then a. False where the reference
// would loop forever (a step of size 0 or NaN short of its stop).
function adjointSweep(
  rtol: f64, atol: f64, work: usize, nrec: i32, nb: i32, a: f64, uEnd: f64, mainT: f64, mainSd: f64,
): bool {
  uWork = work;
  uN = nrec;
  uIdx = nrec - 1;
  const nStops = nb; // nb − 1 interior breakpoints, then a
  const scale = Math.exp(uEnd);
  const zRef = pZRef;
  const before = gEvals;
  let t = ld(BREAKS, nb - 1), alpha: f64 = 1, lastRejected = false, si = 0;
  let h: f64 = -(nrec > 0 ? ld(recPtr(work, nrec - 1), 1) : 0.1);
  let e0 = shifted(t) - uEnd;
  st(K, 0, alpha * Math.exp(e0));
  while (si < nStops) {
    const target = si < nb - 1 ? ld(BREAKS, nb - 2 - si) : a;
    const last = h <= target - t;
    if (!last && !(Math.abs(h) > 0)) {
      stRhs += gEvals - before;
      return false;
    }
    const hh = last ? target - t : h;
    st(EV, 0, e0);
    for (let s = 1; s < 5; s++) {
      const ts = t + tC(s) * hh;
      st(EV, s, shifted(ts) - uAt(ts));
    }
    const tEnd = last ? target : t + hh;
    const e56 = shifted(tEnd) - uAt(tEnd);
    st(EV, 5, e56);
    st(EV, 6, e56);
    const y1 = dopri5Step(alpha, hh, EV, K, true);
    // α itself, and (as forward) the moments of the weights α·w·e^{u(b)} the gradients use.
    for (let i = 0; i < 7; i++) st(W, i, ld(K, i) * scale);
    const norm = Math.max(errorNorm(stepErr, alpha, y1, rtol, atol), momentNorm(t, hh, W, mainT, mainSd, zRef, rtol, atol));
    if (norm <= 1) {
      for (let s = 0; s < 6; s++) {
        if (tB(s) != 0) accumulate(t + tC(s) * hh, -hh * tB(s) * ld(K, s) * scale);
      }
      t = tEnd;
      if (last) si++;
      alpha = y1;
      e0 = ld(EV, 6);
      st(K, 0, ld(K, 6));
      h = hh * stepFactor(norm, lastRejected);
      lastRejected = false;
    } else {
      h = hh * (isFinite(norm) ? stepFactor(norm, true) : 0.2);
      lastRejected = true;
    }
  }
  stRhs += gEvals - before;
  return true;
}

// Reverse mode through the recorded steps: u₁ = u₀ + hΣBᵢkᵢ, kᵢ = exp(eᵢ − Uᵢ),
// Uᵢ = u₀ + hΣ_{j<i}A_ij k_j. With λ = ∂u_N/∂u₁: k̄ᵢ = λhBᵢ + Σ_{l>i} Ū_l h A_li,
// Ūᵢ = −kᵢk̄ᵢ, ēᵢ = kᵢk̄ᵢ, and λ ← λ + ΣŪᵢ. ∂u_N/∂π = Σ ēᵢ·∂ℓ(tᵢ)/∂π.
function discreteAdjoint(work: usize, nrec: i32, uEnd: f64): void {
  const scale = Math.exp(uEnd);
  memory.fill(KBAR, 0, 7 << 3);
  memory.fill(UBAR, 0, 7 << 3);
  let lambda: f64 = 1;
  for (let n = nrec - 1; n >= 0; n--) {
    const r = recPtr(work, n);
    const t = ld(r, 0), h = ld(r, 1);
    const k = r + (4 << 3);
    let sumU: f64 = 0.0;
    for (let i = 6; i >= 0; i--) {
      let kb = lambda * h * tB(i);
      for (let l = i + 1; l < 7; l++) kb += ld(UBAR, l) * h * tA(l, i);
      st(KBAR, i, kb);
      const ub = -ld(k, i) * kb;
      st(UBAR, i, ub);
      sumU += ub;
    }
    // Stages 6 and 7 (indices 5, 6) share t + h: one gradient pass for both.
    for (let i = 0; i < 5; i++) accumulate(t + tC(i) * h, ld(k, i) * ld(KBAR, i) * scale);
    accumulate(t + h, (ld(k, 5) * ld(KBAR, 5) + ld(k, 6) * ld(KBAR, 6)) * scale);
    lambda += sumU;
  }
}

// This file's scratch moved to [p, p + the returned bytes) (kernels/assembly/scratch.ts says why).
export function relocate_solve(p: usize): usize {
  const p0 = p;
  GRID_V = p; p += aligned(MAX_MODES << 3);
  MODE_T = p; p += aligned(MAX_MODES << 3);
  MODE_SD = p; p += aligned(MAX_MODES << 3);
  BREAKS = p; p += aligned((MAX_MODES + 1) << 3);
  K = p; p += aligned(7 << 3);
  EV = p; p += aligned(7 << 3);
  KBAR = p; p += aligned(7 << 3);
  UBAR = p; p += aligned(7 << 3);
  W = p; p += aligned(7 << 3);
  return p - p0;
}
