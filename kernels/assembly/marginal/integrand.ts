// One group's log-integrand ℓ(t) and its parameter sensitivities: the WASM twin of
// kernels/reference/marginal/integrand.ts, operation for operation. The reference's class
// instance becomes module state (globals) set by `setGroup` (a stub runtime cannot allocate);
// per-observation arrays are byte pointers into the caller's memory.
//   ℓ(t) = C + Σ_j core(y_j, f_j + s·t, ϕ) − t²/2 − ½ log 2π
// Gaussian-identity and Poisson-log run on per-group sufficient statistics (O(1) per ℓ; weighted
// by the prior weights in the trials slot, as the reference's), their
// shifted ℓ(t) − m and gradient moments taken about the mode t̂ (`setCentre`), as the reference.
import {
  BINOMIAL_LOGIT, GAMMA_LOG, GAUSSIAN_IDENTITY, NEGBIN_LOG, POISSON_LOG, hasDispersion, obsCore, obsCoreEta, obsDphiEta, obsDphiPart, obsHess, obsPhiPart,
  obsScore, obsSup,
} from './obs';
import {
  expNegAbs, logitCore, logitNegHess, logitScore, productExponent, productLog, productMantissa, sigmaAbs,
} from '../logit';
import { vexp } from '../vmath';
import { aligned } from '../scratch';

const LN2: f64 = 0.6931471805599453;

const HALF_LN_2PI: f64 = 0.9189385332046728;

export let gCode: i32 = 0;
let gFast: bool = false;
let gN: i32 = 0;
let gSw: f64 = 0; // Gaussian Σw (= n without weights)
let gNpos: f64 = 0; // Gaussian #{w > 0}
let gY: usize = 0;
let gTrials: usize = 0; // trials (binomial) or prior weights (others); 0: all 1
let gF: usize = 0;
let gGf: usize = 0; // this group's slice of ∂L/∂f (written only when a gradient is asked)
let gParked: bool = false; // it holds e^{f_j} (Poisson-log) until `finish`
export let gS: f64 = 0;
export let gPhi: f64 = 0;
let gCst: f64 = 0;
let gHalfNss: f64 = 0; // Gaussian ½·Σw·s·s, ℓ's curvature term
// Sufficient statistics (fast path).
let s1: f64 = 0; // Gaussian Σr; Poisson Σy
let s2: f64 = 0; // Gaussian Σr²; Poisson Σy·f
let se: f64 = 0; // Poisson Σe^f
// Negative binomial, Gamma: the parts in ϕ alone of core and ∂core/∂ϕ, summed once (the
// reference's phiCst, dphiCst), and Σ of the accumulation weights.
let phiCst: f64 = 0;
let dphiCst: f64 = 0;
let wsum: f64 = 0;
// Gradient accumulators, in units of e^{ℓ−m} (normalised by Z in `finish`).
export let gGs: f64 = 0;
export let gGphi: f64 = 0;
/** The posterior mode t̂: the fast paths' moments are taken about it (see setCentre). */
export let gCentre: f64 = 0;
/** ℓ(t̂), the solver's shift m. */
export let gMRef: f64 = 0;
let rho1: f64 = 0; // Gaussian Σρ_j, ρ_j = r_j − s·t̂
let efHat: f64 = 0; // Poisson Σe^{f_j + s·t̂}
let m0: f64 = 0;
let mt: f64 = 0;
let mtt: f64 = 0;
let me: f64 = 0;
let mte: f64 = 0;
/** Evaluations of ℓ (value only / with derivatives) and gradient passes. */
export let gEvals: i32 = 0;
export let gGradEvals: i32 = 0;
/** ℓ''(t) of the last `slope(t)`. */
export let slopeD2: f64 = 0;

// The stage score cache (SIMD logit with the folded gradient): the value pass at a stage time
// already has e^{−|η_j|}, so it also stores each observation's score there, and the accepted
// step's gradient pass is then a multiply-add over the stored scores instead of a second
// exp and division per observation. Six slots of n f64 in the caller's `cache` (stage 0 and
// stages 1–5; 5 and 6 share t + h); STAGE_SLOT maps a stage to its slot, and stage 5's slot
// becomes the next step's stage 0 by a swap. The results are the uncached path's to rounding.
let gCache: usize = 0;
let gFill: i32 = -1; // the stage the next value pass stores scores for; −1: none

// The Bernoulli exp base (SIMD, no trials column): once the centre t̂ is fixed, B_j = e^{f_j + s·t̂}
// for every observation, in the cache's seventh slot, so that e^{η_j(t)} = B_j·e^{s·(t − t̂)} is
// a product with one exp per evaluation, and Σ_j log(1 + e^{η_j}) = log Π_j (1 + B_j·E) with
// the product's binary exponent carried aside (the factors are unbounded). B_j is NaN where
// |f_j + s·t̂| > BASE_LIMIT, and a pair with such a B or |η| > BASE_LIMIT at t takes the direct
// formula: the product form needs e^{η} normal. Evaluations with |s·(t − t̂)| > BASE_SPAN go
// direct too, for accuracy: e^{s·(t − t̂)} carries the rounding of its argument, ε·|s·(t − t̂)|
// relative. Error: e^{η} to a few ulp plus that (≤ 30ε) plus the rounding of f_j + s·t̂, which
// with y·η's own fl(f_j + s·t) is up to ~ε·|η_j| per observation, and one rounding per factor
// and per product: ≲ ε·Σ_j (|η_j| + 30) absolute in ℓ, the order of the direct sum's own
// rounding (its terms are up to |η_j|).
let gBase: usize = 0;
let gBaseOk: bool = false; // B holds this group's values (after setCentre)
const BASE_LIMIT: f64 = 600;
const BASE_SPAN: f64 = 30;
let STAGE_SLOT: usize = memory.data<i32>([0, 1, 2, 3, 4, 5]);

// @ts-ignore: decorator
@inline
function slotPtr(stage: i32): usize {
  return gCache + ((<usize>load<i32>(STAGE_SLOT + (<usize>stage << 2)) * <usize>gN) << 3);
}

/** True when the stage score cache is on for this group. */
export function cacheOn(): bool {
  return gCache != 0;
}

/** The next `shifted` call stores its scores for `stage` (−1: stores nothing). */
export function fillStage(stage: i32): void {
  gFill = stage;
}

/** After an accepted step: stage 5's scores are the next step's stage 0. */
export function shiftStages(): void {
  const a = load<i32>(STAGE_SLOT), b = load<i32>(STAGE_SLOT, 20);
  store<i32>(STAGE_SLOT, b);
  store<i32>(STAGE_SLOT, a, 20);
}

/** `accumulate(t, w)` from the scores stored for `stage` (whose time is t). */
export function accumulateStage(stage: i32, t: f64, w: f64): void {
  if (!ASC_FEATURE_SIMD || gCache == 0) {
    accumulate(t, w);
    return;
  }
  if (w == 0) return;
  gGradEvals++;
  const p = slotPtr(stage);
  const wv = f64x2.splat(w);
  let srv = f64x2.splat(0);
  let j = 0;
  for (; j + 2 <= gN; j += 2) {
    const o = <usize>j << 3;
    const r = v128.load(p + o);
    v128.store(gGf + o, f64x2.add(v128.load(gGf + o), f64x2.mul(wv, r)));
    srv = f64x2.add(srv, r);
  }
  let sr = f64x2.extract_lane(srv, 0) + f64x2.extract_lane(srv, 1);
  for (; j < gN; j++) {
    const r = at(p, j);
    const q = gGf + (<usize>j << 3);
    store<f64>(q, load<f64>(q) + w * r);
    sr += r;
  }
  gGs += w * t * sr;
}

// @ts-ignore: decorator
@inline
function at(p: usize, j: i32): f64 {
  return load<f64>(p + (<usize>j << 3));
}

// @ts-ignore: decorator
@inline
function trials(j: i32): f64 {
  return gTrials != 0 ? at(gTrials, j) : 1.0;
}

/**
 * Starts a group (the reference's constructor). `zeroGf`: a gradient is wanted (clear the ∂L/∂f
 * slice; Poisson-log parks e^{f_j} there instead). `cache`: room for seven slots of n f64 (six
 * stage score slots and the Bernoulli exp base, see above), or 0; `scores`: use its score slots
 * (the folded gradient). `sums`: compute the fast paths' sufficient statistics (false only
 * when restoreFast follows).
 */
export function setGroup(
  code: i32, n: i32, y: usize, trialsPtr: usize, f: usize, gf: usize, s: f64, phi: f64, cst: f64, zeroGf: bool, cache: usize,
  scores: bool, sums: bool = true,
): void {
  gCode = code;
  gCache = ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT && scores ? cache : 0;
  gBase = ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT && trialsPtr == 0 && cache != 0 ? cache + ((<usize>(6 * n)) << 3) : 0;
  gBaseOk = false;
  gParked = false;
  gFill = -1;
  for (let i = 0; i < 6; i++) store<i32>(STAGE_SLOT + (<usize>i << 2), i);
  gFast = code == GAUSSIAN_IDENTITY || code == POISSON_LOG;
  gN = n;
  gY = y;
  gTrials = trialsPtr;
  gF = f;
  gGf = gf;
  gS = s;
  gPhi = phi;
  gCst = cst;
  s1 = 0;
  s2 = 0;
  se = 0;
  gGs = 0;
  gGphi = 0;
  gCentre = 0;
  gMRef = 0;
  rho1 = 0;
  efHat = 0;
  m0 = 0;
  mt = 0;
  mtt = 0;
  me = 0;
  mte = 0;
  gEvals = 0;
  gGradEvals = 0;
  gSw = 0;
  gNpos = 0;
  gHalfNss = 0;
  phiCst = 0;
  dphiCst = 0;
  wsum = 0;
  if (!sums) return; // restoreFast follows (the two-group integrator closing a group)
  if (code == GAUSSIAN_IDENTITY) {
    for (let j = 0; j < n; j++) {
      const r = at(y, j) - at(f, j), w = trials(j);
      s1 += r * w;
      s2 += r * r * w;
      gSw += w;
      if (w > 0) gNpos += 1.0;
    }
    gHalfNss = 0.5 * gSw * s * s;
  } else if (code == POISSON_LOG) {
    // With a gradient, e^{f_j} is also kept in ∂L/∂f's slice, which `finish` overwrites with
    // y_j·E[1] − e^{f_j}·(…): one exp per observation there, not two.
    const ef = zeroGf ? gf : 0;
    gParked = zeroGf;
    for (let j = 0; j < n; j++) {
      const e = Math.exp(at(f, j)), w = trials(j);
      s1 += at(y, j) * w;
      s2 += at(y, j) * at(f, j) * w;
      se += e * w;
      if (ef != 0) store<f64>(ef + (<usize>j << 3), e);
    }
    return;
  }
  if (code == NEGBIN_LOG || code == GAMMA_LOG) {
    for (let j = 0; j < n; j++) {
      phiCst += obsPhiPart(code, at(y, j), trials(j), phi);
      dphiCst += obsDphiPart(code, at(y, j), trials(j), phi);
    }
  }
  if (zeroGf) memory.fill(gf, 0, <usize>n << 3);
}

/**
 * A group that failed before `finish` leaves ∂L/∂f = 0, as the reference does; the Poisson-log
 * setup parked e^{f_j} there (the slice is the caller's only when a gradient was asked for,
 * which is when anything is parked).
 */
export function clearParkedGradient(): void {
  if (gParked) memory.fill(gGf, 0, <usize>gN << 3);
  gParked = false;
}

// The fast paths' per-group state after setCentre (and whether e^{f_j} is parked), saved per lane by the two-group integrator
// (lanes.ts), so that closing a group restores it instead of recomputing it: O(n), and an exp
// per observation for Poisson.
const FAST_FIELDS: i32 = 11;
let SAVED: usize = memory.data((2 * FAST_FIELDS) << 3, 16);

export function saveFast(slot: i32): void {
  const p = SAVED + (<usize>(slot * FAST_FIELDS) << 3);
  store<f64>(p, s1);
  store<f64>(p, s2, 8);
  store<f64>(p, se, 16);
  store<f64>(p, gCentre, 24);
  store<f64>(p, gMRef, 32);
  store<f64>(p, rho1, 40);
  store<f64>(p, efHat, 48);
  store<f64>(p, gParked ? 1.0 : 0.0, 56);
  store<f64>(p, gSw, 64);
  store<f64>(p, gNpos, 72);
  store<f64>(p, gHalfNss, 80);
}

/** After setGroup(…, sums = false): the state saveFast(slot) saved, as setCentre left it. */
export function restoreFast(slot: i32): void {
  const p = SAVED + (<usize>(slot * FAST_FIELDS) << 3);
  s1 = load<f64>(p);
  s2 = load<f64>(p, 8);
  se = load<f64>(p, 16);
  gCentre = load<f64>(p, 24);
  gMRef = load<f64>(p, 32);
  rho1 = load<f64>(p, 40);
  efHat = load<f64>(p, 48);
  gParked = load<f64>(p, 56) != 0;
  gSw = load<f64>(p, 64);
  gNpos = load<f64>(p, 72);
  gHalfNss = load<f64>(p, 80);
}

/** An upper bound of ℓ(t) + t²/2 over t (the reference's supEll). */
export function supEll(): f64 {
  let sum: f64 = 0.0;
  for (let j = 0; j < gN; j++) sum += obsSup(gCode, at(gY, j), trials(j), gPhi);
  return gCst + sum - HALF_LN_2PI;
}

/** ℓ(t). */
export function ell(t: f64): f64 {
  gEvals++;
  const code = gCode, s = gS, phi = gPhi;
  let sum: f64;
  if (code == GAUSSIAN_IDENTITY) {
    const st = s * t;
    sum = -0.5 * (s2 - 2.0 * st * s1 + gSw * st * st) / (phi * phi) - gNpos * Math.log(phi);
  } else if (code == POISSON_LOG) {
    sum = s2 + s * t * s1 - Math.exp(s * t) * se;
  } else if (ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT) {
    sum = logitCoreSum(t);
  } else {
    sum = phiCst;
    for (let j = 0; j < gN; j++) sum += obsCoreEta(code, at(gY, j), trials(j), at(gF, j) + s * t, phi);
  }
  return gCst + sum - 0.5 * t * t - HALF_LN_2PI;
}

/** Fixes the centre t̂ and the shift m = ℓ(t̂) (the fast paths' centred forms use them). */
export function setCentre(tc: f64): void {
  gCentre = tc;
  if (ASC_FEATURE_SIMD && gBase != 0) setBase(tc);
  gMRef = ell(tc);
  const s = gS, n = gN;
  if (gCode == GAUSSIAN_IDENTITY) {
    let a: f64 = 0.0;
    for (let j = 0; j < n; j++) a += (at(gY, j) - at(gF, j) - s * tc) * trials(j);
    rho1 = a;
  } else if (gCode == POISSON_LOG) {
    efHat = se * Math.exp(s * tc);
  }
}

/**
 * The fast paths' shifted ℓ as `shifted` computes it, for the two-group integrator (lanes.ts):
 *   Gaussian   ((s·d)·q1 − (q2·d)·d) / ϕ² + prior,  q1 = Σρ_j, q2 = ½·n·s·s
 *   Poisson    (s·d)·q1 − q2·expm1(s·d) + prior,     q1 = Σy_j, q2 = Σe^{f_j + s·t̂}
 * with d = t − t̂ and prior = −d·(t̂ + d/2). Valid after setCentre.
 */
export function fastQ1(): f64 {
  return gCode == GAUSSIAN_IDENTITY ? rho1 : s1;
}

export function fastQ2(): f64 {
  return gCode == GAUSSIAN_IDENTITY ? gHalfNss : efHat;
}

/** Sets the fast paths' moment accumulators (lanes.ts kept them on its lane), for `finish`. */
export function setMoments(a0: f64, at: f64, att: f64, ae: f64, ate: f64): void {
  m0 = a0;
  mt = at;
  mtt = att;
  me = ae;
  mte = ate;
}

/** ℓ(t) − m, the solver's shifted log-integrand. */
export function shifted(t: f64): f64 {
  if (!gFast) return ell(t) - gMRef;
  gEvals++;
  const s = gS, phi = gPhi;
  const d = t - gCentre;
  const prior = -d * (gCentre + 0.5 * d);
  if (gCode == GAUSSIAN_IDENTITY) return (s * d * rho1 - gHalfNss * d * d) * (1.0 / (phi * phi)) + prior;
  return s * d * s1 - efHat * Math.expm1(s * d) + prior;
}

/** ℓ'(t), with ℓ''(t) in `slopeD2` (for Newton). */
export function slope(t: f64): f64 {
  gEvals++;
  const code = gCode, s = gS, phi = gPhi;
  let d1: f64, d2: f64;
  if (code == GAUSSIAN_IDENTITY) {
    d1 = (s * (s1 - gSw * s * t)) / (phi * phi);
    d2 = -(gSw * s * s) / (phi * phi);
  } else if (code == POISSON_LOG) {
    const e = Math.exp(s * t) * se;
    d1 = s * (s1 - e);
    d2 = -s * s * e;
  } else if (ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT) {
    d1 = logitScoreSum(t);
    d2 = logitHessSum;
    d1 *= s;
    d2 *= s * s;
  } else {
    d1 = 0.0;
    d2 = 0.0;
    for (let j = 0; j < gN; j++) {
      const eta = at(gF, j) + s * t;
      d1 += obsScore(code, at(gY, j), trials(j), eta, phi);
      d2 += obsHess(code, at(gY, j), trials(j), eta, phi);
    }
    d1 *= s;
    d2 *= s * s;
  }
  slopeD2 = d2 - 1.0;
  return d1 - t;
}

/** Adds w·∂ℓ(t)/∂π for every parameter π (f_j, s, ϕ). */
export function accumulate(t: f64, w: f64): void {
  if (w == 0) return;
  gGradEvals++;
  const code = gCode, s = gS, phi = gPhi;
  if (gFast) {
    const d = t - gCentre;
    m0 += w;
    mt += w * d;
    mtt += w * d * d;
    if (code == POISSON_LOG) {
      const e = w * Math.expm1(s * d);
      me += e;
      mte += e * d;
    }
    return;
  }
  if (ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT) {
    logitAccumulate(t, w);
    return;
  }
  let sr: f64 = 0.0, sp: f64 = 0.0;
  for (let j = 0; j < gN; j++) {
    const eta = at(gF, j) + s * t;
    const r = obsScore(code, at(gY, j), trials(j), eta, phi);
    const p = gGf + (<usize>j << 3);
    store<f64>(p, load<f64>(p) + w * r);
    sr += r;
    if (hasDispersion(code)) sp += obsDphiEta(code, at(gY, j), trials(j), eta, phi);
  }
  gGs += w * t * sr;
  gGphi += w * sp;
  wsum += w;
}

/**
 * Divides the accumulators by Z (in units of e^{ℓ−m}): gf, gGs, gGphi become ∂L/∂f_j, ∂L/∂s,
 * ∂L/∂ϕ. The fast paths map their moments about t̂ (e0 = E[1], ed = E[δ], edd = E[δ²]).
 */
export function finish(Z: f64): void {
  gParked = false;
  const code = gCode, s = gS, phi = gPhi, n = gN;
  const tc = gCentre;
  const e0 = m0 / Z, ed = mt / Z;
  if (code == GAUSSIAN_IDENTITY) {
    const edd = mtt / Z, p2 = phi * phi;
    let sr: f64 = 0.0, srr: f64 = 0.0;
    const sw = gSw;
    for (let j = 0; j < n; j++) {
      const rho = at(gY, j) - at(gF, j) - s * tc, w = trials(j);
      store<f64>(gGf + (<usize>j << 3), ((rho * e0 - s * ed) / p2) * w);
      sr += rho * w;
      srr += rho * rho * w;
    }
    gGs = (tc * sr * e0 + sr * ed - sw * s * tc * ed - sw * s * edd) / p2;
    gGphi = (-gNpos * e0) / phi + (srr * e0 - 2.0 * s * sr * ed + sw * s * s * edd) / (p2 * phi);
  } else if (code == POISSON_LOG) {
    const es = Math.exp(s * tc), em = me / Z, edm = mte / Z, sef = se * es;
    const d0 = s1 - sef;
    // gf holds e^{f_j} (setGroup).
    for (let j = 0; j < n; j++) store<f64>(gGf + (<usize>j << 3), (at(gY, j) * e0 - at(gGf, j) * es * (e0 + em)) * trials(j));
    gGs = tc * d0 * e0 + d0 * ed - sef * (tc * em + edm);
    gGphi = 0.0;
  } else {
    for (let j = 0; j < n; j++) {
      const p = gGf + (<usize>j << 3);
      store<f64>(p, load<f64>(p) / Z);
    }
    gGs /= Z;
    gGphi = (gGphi + dphiCst * wsum) / Z;
  }
}

// The logit family two observations at a time (the SIMD build's hot loop: one exp and one log1p
// per observation and ℓ evaluation, or for Bernoulli the exp base below, one exp per
// evaluation; lane formulas in ../logit.ts). The odd last
// observation goes scalar (obs.ts).

// @ts-ignore: decorator
@inline
function etaAt(o: usize, st: v128): v128 {
  return f64x2.add(v128.load(gF + o), st);
}

// @ts-ignore: decorator
@inline
function trialsAt(o: usize): v128 {
  return gTrials != 0 ? v128.load(gTrials + o) : f64x2.splat(1);
}

function logitCoreSum(t: f64): f64 {
  return logitCoreScores(t, gCache != 0 && gFill >= 0 ? slotPtr(gFill) : 0);
}

// The same sum, also storing each observation's score at `out` when it is not 0 (the stage
// score cache).
function logitCoreScores(t: f64, out: usize): f64 {
  // One loop per (trials, scores) case: no per-pair branch, no per-pair splat of 1.
  if (gTrials != 0) return out != 0 ? logitPairs(t, out, true, true) : logitPairs(t, 0, true, false);
  return out != 0 ? logitPairs(t, out, false, true) : logitPairs(t, 0, false, false);
}

// @ts-ignore: decorator
@inline
function logitPairs(t: f64, out: usize, withTrials: bool, withScores: bool): f64 {
  const st = f64x2.splat(gS * t);
  const n = gN, fp = gF, yp = gY, mp = gTrials;
  const ones = f64x2.splat(1);
  // Bernoulli by the exp base where it applies (its evaluations are nearly all of them).
  if (!withTrials && gBaseOk && baseScale(t)) return bernoulliBase(t, out, withScores);
  let acc = f64x2.splat(0);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const o = <usize>j << 3;
    const eta = f64x2.add(v128.load(fp + o), st), y = v128.load(yp + o);
    const m = withTrials ? v128.load(mp + o) : ones;
    const e = expNegAbs(eta);
    acc = f64x2.add(acc, logitCore(eta, y, m, e));
    if (withScores) v128.store(out + o, logitScore(eta, y, m, e, sigmaAbs(e)));
  }
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; j < n; j++) {
    const eta = at(fp, j) + gS * t;
    sum += obsCore(BINOMIAL_LOGIT, at(yp, j), trials(j), eta, gPhi);
    if (withScores) store<f64>(out + (<usize>j << 3), obsScore(BINOMIAL_LOGIT, at(yp, j), trials(j), eta, gPhi));
  }
  return sum;
}

// B_j = e^{f_j + s·t̂} (NaN beyond BASE_LIMIT), two at a time.
function setBase(tc: f64): void {
  const n = gN, st = f64x2.splat(gS * tc), lim = f64x2.splat(BASE_LIMIT), nan = f64x2.splat(NaN);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const o = <usize>j << 3;
    const eta = f64x2.add(v128.load(gF + o), st);
    v128.store(gBase + o, v128.bitselect(nan, vexp(eta), f64x2.gt(f64x2.abs(eta), lim)));
  }
  for (; j < n; j++) {
    const eta = at(gF, j) + gS * tc;
    store<f64>(gBase + (<usize>j << 3), Math.abs(eta) > BASE_LIMIT ? NaN : Math.exp(eta));
  }
  gBaseOk = true;
}

// E = e^{s·(t − t̂)} for the product form; false beyond BASE_SPAN (then the direct formula).
let baseE: f64 = 0;

// @ts-ignore: decorator
@inline
function baseScale(t: f64): bool {
  const a = gS * (t - gCentre);
  if (!(Math.abs(a) <= BASE_SPAN)) return false;
  baseE = Math.exp(a);
  return true;
}

// The Bernoulli core sum at t by the base: Σ_j y_j·η_j − log Π_j (1 + B_j·E), the product kept
// as a mantissa in [1, 2) and an exponent sum per lane; the scores from the same e^{η}:
// σ(−η) = 1/(1 + e^{η}), σ(η) = e^{η}·σ(−η). Pairs outside the base's range go direct.
// @ts-ignore: decorator
@inline
function bernoulliBase(t: f64, out: usize, withScores: bool): f64 {
  const st = f64x2.splat(gS * t), ev = f64x2.splat(baseE);
  const n = gN, fp = gF, yp = gY, bp = gBase;
  const ones = f64x2.splat(1), lim = f64x2.splat(BASE_LIMIT);
  let acc = f64x2.splat(0), prod = ones, expSum = i64x2.splat(0);
  let j = 0;
  for (; j + 2 <= n; j += 2) {
    const o = <usize>j << 3;
    const eta = f64x2.add(v128.load(fp + o), st), y = v128.load(yp + o);
    const x = f64x2.mul(v128.load(bp + o), ev);
    if (v128.any_true(v128.or(f64x2.ne(x, x), f64x2.gt(f64x2.abs(eta), lim)))) {
      const e = expNegAbs(eta);
      acc = f64x2.add(acc, logitCore(eta, y, ones, e));
      if (withScores) v128.store(out + o, logitScore(eta, y, ones, e, sigmaAbs(e)));
      continue;
    }
    const f1 = f64x2.add(ones, x);
    acc = f64x2.add(acc, f64x2.mul(y, eta));
    const p = f64x2.mul(prod, f1);
    expSum = i64x2.add(expSum, productExponent(p));
    prod = productMantissa(p);
    if (withScores) {
      const neg = f64x2.div(ones, f1); // σ(−η)
      v128.store(out + o, f64x2.sub(f64x2.mul(y, neg), f64x2.mul(f64x2.sub(ones, y), f64x2.mul(x, neg))));
    }
  }
  const logs = productLog(prod) + <f64>(i64x2.extract_lane(expSum, 0) + i64x2.extract_lane(expSum, 1)) * LN2;
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1) - logs;
  for (; j < n; j++) {
    const eta = at(fp, j) + gS * t;
    sum += obsCore(BINOMIAL_LOGIT, at(yp, j), 1.0, eta, gPhi);
    if (withScores) store<f64>(out + (<usize>j << 3), obsScore(BINOMIAL_LOGIT, at(yp, j), 1.0, eta, gPhi));
  }
  return sum;
}

// Σ score and (in logitHessSum) Σ hess at t (the Newton iterations for the mode).
let logitHessSum: f64 = 0;

function logitScoreSum(t: f64): f64 {
  const st = f64x2.splat(gS * t);
  let sv = f64x2.splat(0), hv = f64x2.splat(0);
  let j = 0;
  for (; j + 2 <= gN; j += 2) {
    const o = <usize>j << 3;
    const eta = etaAt(o, st), m = trialsAt(o);
    const e = expNegAbs(eta), big = sigmaAbs(e);
    sv = f64x2.add(sv, logitScore(eta, v128.load(gY + o), m, e, big));
    hv = f64x2.sub(hv, logitNegHess(m, e, big));
  }
  let d1 = f64x2.extract_lane(sv, 0) + f64x2.extract_lane(sv, 1);
  let d2 = f64x2.extract_lane(hv, 0) + f64x2.extract_lane(hv, 1);
  for (; j < gN; j++) {
    const eta = at(gF, j) + gS * t;
    d1 += obsScore(BINOMIAL_LOGIT, at(gY, j), trials(j), eta, gPhi);
    d2 += obsHess(BINOMIAL_LOGIT, at(gY, j), trials(j), eta, gPhi);
  }
  logitHessSum = d2;
  return d1;
}

function logitAccumulate(t: f64, w: f64): void {
  const st = f64x2.splat(gS * t);
  const wv = f64x2.splat(w);
  let srv = f64x2.splat(0);
  let j = 0;
  for (; j + 2 <= gN; j += 2) {
    const o = <usize>j << 3;
    const eta = etaAt(o, st);
    const e = expNegAbs(eta);
    const r = logitScore(eta, v128.load(gY + o), trialsAt(o), e, sigmaAbs(e));
    v128.store(gGf + o, f64x2.add(v128.load(gGf + o), f64x2.mul(wv, r)));
    srv = f64x2.add(srv, r);
  }
  let sr = f64x2.extract_lane(srv, 0) + f64x2.extract_lane(srv, 1);
  for (; j < gN; j++) {
    const r = obsScore(BINOMIAL_LOGIT, at(gY, j), trials(j), at(gF, j) + gS * t, gPhi);
    const p = gGf + (<usize>j << 3);
    store<f64>(p, load<f64>(p) + w * r);
    sr += r;
  }
  gGs += w * t * sr;
}

// This file's scratch moved to [p, p + the returned bytes) (kernels/assembly/scratch.ts says why).
export function relocate_integrand(p: usize): usize {
  const p0 = p;
  // Written as it is used (stages swap slots), so it moves too, starting as the identity.
  if (p != 0) for (let i = 0; i < 6; i++) store<i32>(p + (<usize>i << 2), i);
  STAGE_SLOT = p; p += aligned(6 << 2);
  SAVED = p; p += aligned((2 * FAST_FIELDS) << 3);
  return p - p0;
}
