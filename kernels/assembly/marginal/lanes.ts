// Two groups at once on the two f64 lanes: the forward solve of solve.ts (its loop, operation
// for operation) for the families whose ℓ is O(1) to evaluate, Gaussian-identity and
// Poisson-log, with no gradient or the folded one. Why: there a step is nothing but the
// solver's own scalar work, about a dozen exps in a dependent chain plus the norms, and one
// group's step leaves most of the core idle; two independent groups fill the vector lanes and
// the chain's latency with each other's work, and a lane exp (vmath.ts) gives two results for
// about 1.4 NativeMath calls (9.2 against 6.6 ns here).
//
// Each lane runs its own group: own step size, own accept/reject (selected lane-wise), own
// interval and breakpoints. A lane whose group finishes (or fails) is closed and refilled with
// the next group in scalar code, so the lanes never wait on each other. Per-group planning
// (mode, interval, start) and closing (tails, gradient map) are solve.ts's own functions, run
// in between. The arithmetic per lane is the scalar loop's, in its order; only the exp, expm1
// and log are the lane versions (a few ulp from NativeMath, as NativeMath is from V8's Math),
// so a group takes the scalar path's steps and its results agree to rounding
// (test/kernels/marginal-parity.test.ts runs both builds against the TypeScript reference).
//
// Where NaN cannot change the outcome the loop uses pmin/pmax (one instruction) instead of
// Math.min/max's NaN-propagating min/max (about eight on x64): a NaN slope makes the error
// norm NaN through the step's own sums (each slope feeds the later stages, and the error sum
// keeps every term, E₁ = 0 included), which rejects the step with the fixed factor 0.2
// whatever the stability bound, the moment norm or the factor say; the norm itself and
// max(u, y₁) keep the exact semantics.
//
// Poisson: ℓ's expm1(s·d) at each stage time is kept for the folded gradient, which needs it at
// the same times; stage 0's is the last accepted step's stage 5 (the same t), and only a
// breakpoint step's stage 5, whose gradient time t + h can differ from ℓ's `target` by an
// ulp, takes a fresh one.
import { A_TBL, B_TBL, C_TBL, E_TBL } from './dopri5';
import { FAC_MAX, FAC_MIN, INV_STABILITY, SAFETY } from './controller';
import {
  breakAt, cLogZ, close, pA, pB, pC0, pE0, pH0, pM, pMainSd, pMainT, pNb, pU0, pURef, pUseTail, pZRef, prepare, resetResults, setCounts,
  setStatus, stStatus, storeGroup, MOMENT_SAFETY, STAGE_EVALS, STATUS_MAX_STEPS,
} from './solve';
import { fastQ1, fastQ2, finish, gEvals, gPhi, gS, restoreFast, saveFast, setGroup, setMoments } from './integrand';
import { GAUSSIAN_IDENTITY, POISSON_LOG } from './obs';
import { vexp, vexpm1, vlog } from '../vmath';
import { aligned } from '../scratch';

/** Whether a call's groups go through the lanes (the caller checks the build has SIMD). */
export function lanesApply(code: i32, grad: f64): bool {
  return (code == GAUSSIAN_IDENTITY || code == POISSON_LOG) && (grad == 0 || grad == 1);
}

// The lane state: field f of lane l at STATE + 16·f + 8·l, so v128.load(STATE + 16·f) is the
// field on both lanes. Masks (LASTREJ, ACTIVE) are all-ones or all-zeros per lane.
const T_: i32 = 0; // t
const H_: i32 = 1; // the next step size
const U_: i32 = 2; // u(t)
const E0_: i32 = 3; // ℓ(t) − m
const K0_: i32 = 4; // the slope at t (first same as last)
const W0_: i32 = 5; // e^{ℓ(t) − m}
const X0_: i32 = 6; // Poisson: expm1(s·(t − t̂))
const LASTREJ_: i32 = 7;
const STEPS_: i32 = 8;
const REJ_: i32 = 9;
const GRADN_: i32 = 10; // gradient evaluations (accumulations with a nonzero weight)
const M0_: i32 = 11; // the folded gradient's moments about t̂ (integrand.ts's m0 … mte)
const MT_: i32 = 12;
const MTT_: i32 = 13;
const ME_: i32 = 14;
const MTE_: i32 = 15;
const BI_: i32 = 16; // breakpoint index
const NB_: i32 = 17; // breakpoints (1 or 2: ℓ is concave, so one mode)
const BRK0_: i32 = 18;
const BRK1_: i32 = 19;
const CENTRE_: i32 = 20; // t̂
const SD_: i32 = 21; // σ̂
const S_: i32 = 22; // s
const Q1_: i32 = 23; // integrand.fastQ1
const Q2_: i32 = 24; // integrand.fastQ2
const PHI2_: i32 = 25; // ϕ·ϕ
const ZREF_: i32 = 26; // √(2π)·σ̂
const UREF_: i32 = 27; // log zRef
const ACTIVE_: i32 = 28;
const FIELDS: i32 = 29;
let STATE: usize = memory.data(FIELDS << 4, 16);
// Per lane, scalar: the group, its ℓ evaluations in planning, and the plan's close arguments.
let LANE_GROUP: usize = memory.data(2 << 2, 4);
let LANE_EVALS: usize = memory.data(2 << 2, 4);
let LANE_B: usize = memory.data(2 << 3, 8);
let LANE_M: usize = memory.data(2 << 3, 8);
let LANE_TAIL: usize = memory.data(2 << 2, 4);
let LANE_C0: usize = memory.data(2 << 3, 8);

// @ts-ignore: decorator
@inline
function fld(f: i32): v128 {
  return v128.load(STATE + (<usize>f << 4));
}

// @ts-ignore: decorator
@inline
function setFld(f: i32, v: v128): void {
  v128.store(STATE + (<usize>f << 4), v);
}

// @ts-ignore: decorator
@inline
function lane(f: i32, l: i32): f64 {
  return load<f64>(STATE + (<usize>f << 4) + (<usize>l << 3));
}

// @ts-ignore: decorator
@inline
function setLane(f: i32, l: i32, x: f64): void {
  store<f64>(STATE + (<usize>f << 4) + (<usize>l << 3), x);
}

// @ts-ignore: decorator
@inline
function setMask(f: i32, l: i32, on: bool): void {
  store<i64>(STATE + (<usize>f << 4) + (<usize>l << 3), on ? -1 : 0);
}

// @ts-ignore: decorator
@inline
function maskOn(f: i32, l: i32): bool {
  return load<i64>(STATE + (<usize>f << 4) + (<usize>l << 3)) != 0;
}

// Dormand–Prince coefficients on both lanes.
// @ts-ignore: decorator
@inline
function cA(s: i32, j: i32): v128 {
  return v128.load64_splat(A_TBL + (<usize>(s * 7 + j) << 3));
}

// @ts-ignore: decorator
@inline
function cB(s: i32): v128 {
  return v128.load64_splat(B_TBL + (<usize>s << 3));
}

// @ts-ignore: decorator
@inline
function cE(s: i32): v128 {
  return v128.load64_splat(E_TBL + (<usize>s << 3));
}

// @ts-ignore: decorator
@inline
function cC(s: i32): v128 {
  return v128.load64_splat(C_TBL + (<usize>s << 3));
}

// Scalars used in the loop, splat once per call into a table (v128.const in a loop is rebuilt
// on every iteration by V8).
const K_ZERO: i32 = 0;
const K_ONE: i32 = 1;
const K_HALF: i32 = 2;
const K_SAFETY: i32 = 3;
const K_FAC_MIN: i32 = 4;
const K_FAC_MAX: i32 = 5;
const K_INV_STAB: i32 = 6; // 1/STABILITY
const K_MSAFE: i32 = 7;
const K_FIFTH: i32 = 8; // −0.2
const K_TOL: i32 = 9; // atol + rtol
const K_MAXSTEPS: i32 = 10;
const K_REJECT: i32 = 11; // 0.2, the factor after a non-finite norm
let KS: usize = memory.data(12 << 4, 16);

// @ts-ignore: decorator
@inline
function ks(i: i32): v128 {
  return v128.load(KS + (<usize>i << 4));
}

/** Lanes where x is finite. */
// @ts-ignore: decorator
@inline
function finite(x: v128): v128 {
  return f64x2.eq(f64x2.sub(x, x), ks(K_ZERO));
}

// ℓ(t) − m at the lanes' times (integrand.shifted), given expm1(s·d) for Poisson.
// @ts-ignore: decorator
@inline
function shiftedAt(d: v128, x: v128, poisson: bool, centre: v128, s: v128, q1: v128, q2: v128, invPhi2: v128): v128 {
  const prior = f64x2.mul(f64x2.neg(d), f64x2.add(centre, f64x2.mul(ks(K_HALF), d)));
  const sd = f64x2.mul(s, d);
  if (poisson) return f64x2.add(f64x2.sub(f64x2.mul(sd, q1), f64x2.mul(q2, x)), prior);
  return f64x2.add(f64x2.mul(f64x2.sub(f64x2.mul(sd, q1), f64x2.mul(f64x2.mul(q2, d), d)), invPhi2), prior);
}

// The stage slope k = exp(ev − (u + h·acc)) (dopri5Step's forward combine).
// @ts-ignore: decorator
@inline
function slopeAt(u: v128, h: v128, acc: v128, ev: v128): v128 {
  return vexp(f64x2.sub(ev, f64x2.add(u, f64x2.mul(h, acc))));
}

// One stage's term of the folded gradient's moments about t̂ (integrand.accumulate on the fast
// path) on the accepted lanes with a nonzero weight w, at d = t − t̂; x = expm1(s·d) (Poisson).
// @ts-ignore: decorator
@inline
function foldedTerm(accept: v128, w: v128, d: v128, x: v128, poisson: bool): void {
  const on = v128.andnot(accept, f64x2.eq(w, f64x2.splat(0)));
  setFld(M0_, v128.bitselect(f64x2.add(fld(M0_), w), fld(M0_), on));
  setFld(MT_, v128.bitselect(f64x2.add(fld(MT_), f64x2.mul(w, d)), fld(MT_), on));
  setFld(MTT_, v128.bitselect(f64x2.add(fld(MTT_), f64x2.mul(f64x2.mul(w, d), d)), fld(MTT_), on));
  if (poisson) {
    const e = f64x2.mul(w, x);
    setFld(ME_, v128.bitselect(f64x2.add(fld(ME_), e), fld(ME_), on));
    setFld(MTE_, v128.bitselect(f64x2.add(fld(MTE_), f64x2.mul(e, d)), fld(MTE_), on));
  }
  setFld(GRADN_, f64x2.add(fld(GRADN_), v128.and(on, f64x2.splat(1))));
}

/**
 * Steps both lanes until one of them finishes its group (its last breakpoint reached) or
 * reaches the step cap; the state stays in STATE.
 */
// @ts-ignore: decorator
@inline
function run(poisson: bool): void {
  let t = fld(T_), h = fld(H_), u = fld(U_), e0 = fld(E0_), k0 = fld(K0_), w0 = fld(W0_), x0 = fld(X0_);
  let lastRej = fld(LASTREJ_), steps = fld(STEPS_), rej = fld(REJ_), bi = fld(BI_);
  const nb = fld(NB_), brk0 = fld(BRK0_), brk1 = fld(BRK1_), centre = fld(CENTRE_), sd = fld(SD_), s = fld(S_);
  const q1 = fld(Q1_), q2 = fld(Q2_), phi2 = fld(PHI2_), zRef = fld(ZREF_), uRef = fld(UREF_), active = fld(ACTIVE_);
  const zero = ks(K_ZERO), one = ks(K_ONE);
  const tolScale = ks(K_TOL);
  // The per-step quotients as products by reciprocals computed once, exactly as the scalar
  // loop computes them (1/σ̂, 1/(atol + rtol), 1/((atol + rtol)·zRef), 1/STABILITY, 1/ϕ²).
  const invSd = f64x2.div(one, sd), invTol = f64x2.div(one, tolScale), invMoment = f64x2.div(one, f64x2.mul(tolScale, zRef));
  const invStab = ks(K_INV_STAB), invPhi2 = f64x2.div(one, phi2);
  while (true) {
    // The step cap, checked before a step as the scalar loop does.
    if (v128.any_true(v128.and(active, f64x2.ge(f64x2.add(steps, rej), ks(K_MAXSTEPS))))) break;
    const target = v128.bitselect(brk1, brk0, f64x2.ge(bi, one));
    const last = f64x2.ge(h, f64x2.sub(target, t));
    const hh = v128.bitselect(f64x2.sub(target, t), h, last);
    // Stage times and ℓ − m there (stages 5 and 6 share the end).
    const t1 = f64x2.add(t, f64x2.mul(cC(1), hh));
    const t2 = f64x2.add(t, f64x2.mul(cC(2), hh));
    const t3 = f64x2.add(t, f64x2.mul(cC(3), hh));
    const t4 = f64x2.add(t, f64x2.mul(cC(4), hh));
    const t5 = v128.bitselect(target, f64x2.add(t, hh), last);
    const d1 = f64x2.sub(t1, centre), d2 = f64x2.sub(t2, centre), d3 = f64x2.sub(t3, centre);
    const d4 = f64x2.sub(t4, centre), d5 = f64x2.sub(t5, centre);
    let x1 = zero, x2 = zero, x3 = zero, x4 = zero, x5 = zero;
    if (poisson) {
      x1 = vexpm1(f64x2.mul(s, d1));
      x2 = vexpm1(f64x2.mul(s, d2));
      x3 = vexpm1(f64x2.mul(s, d3));
      x4 = vexpm1(f64x2.mul(s, d4));
      x5 = vexpm1(f64x2.mul(s, d5));
    }
    const ev1 = shiftedAt(d1, x1, poisson, centre, s, q1, q2, invPhi2);
    const ev2 = shiftedAt(d2, x2, poisson, centre, s, q1, q2, invPhi2);
    const ev3 = shiftedAt(d3, x3, poisson, centre, s, q1, q2, invPhi2);
    const ev4 = shiftedAt(d4, x4, poisson, centre, s, q1, q2, invPhi2);
    const ev5 = shiftedAt(d5, x5, poisson, centre, s, q1, q2, invPhi2);
    // Stage weights e^{ev} (0 carried, 6 = 5).
    const w1 = vexp(ev1), w2 = vexp(ev2), w3 = vexp(ev3), w4 = vexp(ev4), w5 = vexp(ev5);
    // The moments' error norm (momentNorm; E₁ = 0 is skipped there): it needs no slope, so it
    // runs while the slope chain below waits on its exps. Its three sums stay in locals, stage
    // by stage: kept in STATE fields through a helper, as the folded moments are below, they
    // cost 6 % (Gaussian) and 14 % (Poisson) of the kernel, measured side by side.
    let e0s = zero, e1s = zero, e2s = zero;
    {
      const w = f64x2.mul(cE(0), w0);
      const d = f64x2.mul(f64x2.sub(f64x2.add(t, f64x2.mul(cC(0), hh)), centre), invSd);
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d), d));
    }
    {
      const w = f64x2.mul(cE(2), w2);
      const d = f64x2.mul(f64x2.sub(t2, centre), invSd);
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d), d));
    }
    {
      const w = f64x2.mul(cE(3), w3);
      const d = f64x2.mul(f64x2.sub(t3, centre), invSd);
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d), d));
    }
    {
      const w = f64x2.mul(cE(4), w4);
      const d = f64x2.mul(f64x2.sub(t4, centre), invSd);
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d), d));
    }
    // Stages 5 and 6: momentNorm's time is t + C·h for both (not `target`).
    const t56 = f64x2.add(t, f64x2.mul(cC(5), hh));
    const d56 = f64x2.mul(f64x2.sub(t56, centre), invSd);
    {
      const w = f64x2.mul(cE(5), w5);
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d56));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d56), d56));
    }
    {
      const w = f64x2.mul(cE(6), w5); // C₆ = C₅: the same d
      e0s = f64x2.add(e0s, w);
      e1s = f64x2.add(e1s, f64x2.mul(w, d56));
      e2s = f64x2.add(e2s, f64x2.mul(f64x2.mul(w, d56), d56));
    }
    const emax = f64x2.pmax(f64x2.pmax(f64x2.abs(e0s), f64x2.abs(e1s)), f64x2.abs(e2s));
    const momNorm = f64x2.mul(f64x2.mul(f64x2.mul(ks(K_MSAFE), f64x2.abs(hh)), emax), invMoment);
    // The Dormand–Prince step (dopri5Step: the same sums in the same order, zeros included).
    let acc = f64x2.add(zero, f64x2.mul(cA(1, 0), k0));
    const k1 = slopeAt(u, hh, acc, ev1);
    acc = f64x2.add(f64x2.add(zero, f64x2.mul(cA(2, 0), k0)), f64x2.mul(cA(2, 1), k1));
    const k2 = slopeAt(u, hh, acc, ev2);
    acc = f64x2.add(f64x2.add(f64x2.add(zero, f64x2.mul(cA(3, 0), k0)), f64x2.mul(cA(3, 1), k1)), f64x2.mul(cA(3, 2), k2));
    const k3 = slopeAt(u, hh, acc, ev3);
    acc = f64x2.add(f64x2.add(f64x2.add(f64x2.add(zero, f64x2.mul(cA(4, 0), k0)), f64x2.mul(cA(4, 1), k1)), f64x2.mul(cA(4, 2), k2)),
      f64x2.mul(cA(4, 3), k3));
    const k4 = slopeAt(u, hh, acc, ev4);
    acc = f64x2.add(f64x2.add(f64x2.add(f64x2.add(f64x2.add(zero, f64x2.mul(cA(5, 0), k0)), f64x2.mul(cA(5, 1), k1)),
      f64x2.mul(cA(5, 2), k2)), f64x2.mul(cA(5, 3), k3)), f64x2.mul(cA(5, 4), k4));
    const k5 = slopeAt(u, hh, acc, ev5);
    acc = f64x2.add(f64x2.add(f64x2.add(f64x2.add(f64x2.add(f64x2.add(zero, f64x2.mul(cA(6, 0), k0)), f64x2.mul(cA(6, 1), k1)),
      f64x2.mul(cA(6, 2), k2)), f64x2.mul(cA(6, 3), k3)), f64x2.mul(cA(6, 4), k4)), f64x2.mul(cA(6, 5), k5));
    const k6 = slopeAt(u, hh, acc, ev5);
    let y1s = f64x2.add(zero, f64x2.mul(cB(0), k0));
    let err = f64x2.add(zero, f64x2.mul(cE(0), k0));
    y1s = f64x2.add(y1s, f64x2.mul(cB(1), k1));
    err = f64x2.add(err, f64x2.mul(cE(1), k1));
    y1s = f64x2.add(y1s, f64x2.mul(cB(2), k2));
    err = f64x2.add(err, f64x2.mul(cE(2), k2));
    y1s = f64x2.add(y1s, f64x2.mul(cB(3), k3));
    err = f64x2.add(err, f64x2.mul(cE(3), k3));
    y1s = f64x2.add(y1s, f64x2.mul(cB(4), k4));
    err = f64x2.add(err, f64x2.mul(cE(4), k4));
    y1s = f64x2.add(y1s, f64x2.mul(cB(5), k5));
    err = f64x2.add(err, f64x2.mul(cE(5), k5));
    y1s = f64x2.add(y1s, f64x2.mul(cB(6), k6));
    err = f64x2.add(err, f64x2.mul(cE(6), k6));
    const stepErr = f64x2.mul(hh, err);
    const y1 = f64x2.add(u, f64x2.mul(hh, y1s));
    // The log error × influence.
    const yy = f64x2.max(u, y1);
    const infl = v128.bitselect(one, vexp(f64x2.sub(yy, uRef)), f64x2.ge(yy, uRef));
    const logNorm = f64x2.mul(f64x2.mul(f64x2.abs(stepErr), invTol), infl);
    const norm = f64x2.max(logNorm, momNorm);
    // Stability: |h|·max|kᵢ|·(1/STABILITY).
    let km = f64x2.pmax(zero, f64x2.abs(k0));
    km = f64x2.pmax(km, f64x2.abs(k1));
    km = f64x2.pmax(km, f64x2.abs(k2));
    km = f64x2.pmax(km, f64x2.abs(k3));
    km = f64x2.pmax(km, f64x2.abs(k4));
    km = f64x2.pmax(km, f64x2.abs(k5));
    km = f64x2.pmax(km, f64x2.abs(k6));
    const stab = f64x2.mul(f64x2.mul(f64x2.abs(hh), km), invStab);
    // factor = min(stepFactor(norm, lastRejected ∨ norm > 1 ∨ stab > 1), stabilityFactor(stab)).
    const lr = v128.or(lastRej, v128.or(f64x2.gt(norm, one), f64x2.gt(stab, one)));
    const raw = f64x2.mul(ks(K_SAFETY), vexp(f64x2.mul(ks(K_FIFTH), vlog(norm))));
    let sf = f64x2.pmin(ks(K_FAC_MAX), f64x2.pmax(ks(K_FAC_MIN), raw));
    sf = v128.bitselect(f64x2.pmin(one, sf), sf, lr);
    sf = v128.bitselect(v128.bitselect(one, ks(K_FAC_MAX), lr), sf, f64x2.eq(norm, zero));
    const stf = v128.bitselect(ks(K_FAC_MAX), f64x2.pmin(ks(K_FAC_MAX), f64x2.div(ks(K_SAFETY), stab)), f64x2.eq(stab, zero));
    const factor = f64x2.pmin(sf, stf);
    const accept = v128.and(active, v128.and(f64x2.le(norm, one), f64x2.le(stab, one)));
    const reject = v128.andnot(active, accept);

    if (aWantGrad && v128.any_true(accept)) {
      // The folded gradient's moments (integrand.accumulate on the fast path), stages with
      // Bᵢ ≠ 0 (0, 2, 3, 4, 5) at t + Cᵢ·h with weight (h·Bᵢ)·Wᵢ.
      // They accumulate in their STATE fields (foldedTerm): only accepted steps pay for that.
      let x5g = x5;
      if (poisson && v128.any_true(v128.and(accept, last))) {
        x5g = v128.bitselect(vexpm1(f64x2.mul(s, f64x2.sub(t56, centre))), x5, last);
      }
      foldedTerm(accept, f64x2.mul(f64x2.mul(hh, cB(0)), w0), f64x2.sub(f64x2.add(t, f64x2.mul(cC(0), hh)), centre), x0, poisson);
      foldedTerm(accept, f64x2.mul(f64x2.mul(hh, cB(2)), w2), f64x2.sub(t2, centre), x2, poisson);
      foldedTerm(accept, f64x2.mul(f64x2.mul(hh, cB(3)), w3), f64x2.sub(t3, centre), x3, poisson);
      foldedTerm(accept, f64x2.mul(f64x2.mul(hh, cB(4)), w4), f64x2.sub(t4, centre), x4, poisson);
      foldedTerm(accept, f64x2.mul(f64x2.mul(hh, cB(5)), w5), f64x2.sub(t56, centre), x5g, poisson);
    }
    // Accepted lanes move on; rejected lanes retry with a smaller step.
    steps = f64x2.add(steps, v128.and(accept, one));
    rej = f64x2.add(rej, v128.and(reject, one));
    t = v128.bitselect(t5, t, accept);
    bi = f64x2.add(bi, v128.and(v128.and(accept, last), one));
    u = v128.bitselect(y1, u, accept);
    e0 = v128.bitselect(ev5, e0, accept);
    k0 = v128.bitselect(k6, k0, accept);
    w0 = v128.bitselect(w5, w0, accept);
    x0 = v128.bitselect(x5, x0, accept);
    const okNorms = v128.and(finite(norm), finite(stab));
    const hReject = f64x2.mul(hh, v128.bitselect(factor, ks(K_REJECT), okNorms));
    h = v128.bitselect(f64x2.mul(hh, factor), v128.bitselect(hReject, h, reject), accept);
    lastRej = v128.bitselect(reject, lastRej, active);
    if (v128.any_true(v128.and(active, f64x2.ge(bi, nb)))) break;
  }
  setFld(T_, t);
  setFld(H_, h);
  setFld(U_, u);
  setFld(E0_, e0);
  setFld(K0_, k0);
  setFld(W0_, w0);
  setFld(X0_, x0);
  setFld(LASTREJ_, lastRej);
  setFld(STEPS_, steps);
  setFld(REJ_, rej);
  setFld(BI_, bi);
}

function runGaussian(): void {
  run(false);
}

function runPoisson(): void {
  run(true);
}

// Kernel arguments, for the lane loading and closing below.
let aCode: i32 = 0;
let aOffs: usize = 0;
let aY: usize = 0;
let aTrials: usize = 0;
let aF: usize = 0;
let aGf: usize = 0;
let aS: usize = 0;
let aPhi: f64 = 0;
let aCst: usize = 0;
let aT: f64 = 0;
let aC0opt: f64 = 0;
let aCentre: f64 = 0;
let aWantGrad: bool = false;
let aL: usize = 0;
let aGs: usize = 0;
let aGphi: usize = 0;
let aStats: usize = 0;
let aG: i32 = 0;
let aFailed: i32 = 0;

// integrand.setGroup for group i.
function setGroupI(i: i32, zeroGf: bool, sums: bool = true): void {
  const start = load<i32>(aOffs + (<usize>i << 2));
  const end = load<i32>(aOffs + (<usize>(i + 1) << 2));
  const o = <usize>start << 3;
  setGroup(aCode, max(0, end - start), aY + o, aTrials != 0 ? aTrials + o : 0, aF + o, aGf + o, load<f64>(aS + (<usize>i << 3)), aPhi,
    load<f64>(aCst + (<usize>i << 3)), zeroGf, 0, false, sums);
}

/**
 * Plans group i and puts it on lane l. False when the plan failed (its results are then in
 * solve.ts's st*, as the scalar path leaves them).
 */
function loadLane(l: i32, i: i32): bool {
  setGroupI(i, aWantGrad);
  if (!prepare(aT, aC0opt, aCentre)) return false;
  saveFast(l);
  store<i32>(LANE_GROUP + (<usize>l << 2), i);
  store<i32>(LANE_EVALS + (<usize>l << 2), gEvals);
  store<f64>(LANE_B + (<usize>l << 3), pB);
  store<f64>(LANE_M + (<usize>l << 3), pM);
  store<i32>(LANE_TAIL + (<usize>l << 2), pUseTail ? 1 : 0);
  store<f64>(LANE_C0 + (<usize>l << 3), pC0);
  setLane(T_, l, pA);
  setLane(H_, l, pH0);
  setLane(U_, l, pU0);
  setLane(E0_, l, pE0);
  setLane(K0_, l, Math.exp(pE0 - pU0));
  setLane(W0_, l, Math.exp(pE0));
  setLane(X0_, l, aCode == POISSON_LOG ? Math.expm1(gS * (pA - pMainT)) : 0);
  setMask(LASTREJ_, l, false);
  setLane(STEPS_, l, 0);
  setLane(REJ_, l, 0);
  setLane(GRADN_, l, 0);
  setLane(M0_, l, 0);
  setLane(MT_, l, 0);
  setLane(MTT_, l, 0);
  setLane(ME_, l, 0);
  setLane(MTE_, l, 0);
  setLane(BI_, l, 0);
  setLane(NB_, l, <f64>pNb);
  setLane(BRK0_, l, breakAt(0));
  setLane(BRK1_, l, pNb > 1 ? breakAt(1) : 0);
  setLane(CENTRE_, l, pMainT);
  setLane(SD_, l, pMainSd);
  setLane(S_, l, gS);
  setLane(Q1_, l, fastQ1());
  setLane(Q2_, l, fastQ2());
  setLane(PHI2_, l, gPhi * gPhi);
  setLane(ZREF_, l, pZRef);
  setLane(UREF_, l, pURef);
  setMask(ACTIVE_, l, true);
  return true;
}


/**
 * Closes lane l's group (finished, or at the step cap) into solve.ts's st* and the gradient
 * outputs, as the scalar path would have left them.
 */
function closeLane(l: i32): void {
  const i = load<i32>(LANE_GROUP + (<usize>l << 2));
  const steps = <i32>lane(STEPS_, l), rejected = <i32>lane(REJ_, l);
  const done = lane(BI_, l) >= lane(NB_, l);
  // The integrand is another group's by now: set this one's up again, its sums as saved.
  setGroupI(i, false, false);
  restoreFast(l);
  resetResults();
  if (!done) {
    // The step cap: the scalar path stops there with only its counts.
    setCounts(steps, rejected, 0, 0, 0, lane(CENTRE_, l), lane(SD_, l));
    setStatus(STATUS_MAX_STEPS);
    return;
  }
  const before = gEvals;
  const ok = close(lane(U_, l), load<f64>(LANE_B + (<usize>l << 3)), load<i32>(LANE_TAIL + (<usize>l << 2)) != 0, load<f64>(LANE_C0 + (<usize>l << 3)),
    load<f64>(LANE_M + (<usize>l << 3)));
  const rhs = STAGE_EVALS * (steps + rejected);
  if (!ok) {
    setCounts(steps, rejected, rhs, 0, 0, lane(CENTRE_, l), lane(SD_, l));
    return;
  }
  const evals = load<i32>(LANE_EVALS + (<usize>l << 2)) + rhs + (gEvals - before);
  setCounts(steps, rejected, rhs, evals, <i32>lane(GRADN_, l), lane(CENTRE_, l), lane(SD_, l));
  if (aWantGrad) {
    setMoments(lane(M0_, l), lane(MT_, l), lane(MTT_, l), lane(ME_, l), lane(MTE_, l));
    finish(Math.exp(cLogZ));
  }
}

// Group i's results to the outputs; the first failing group (by index) is the kernel's answer.
function storeI(i: i32): void {
  storeGroup(i, aL, aGs, aGphi, aStats, aWantGrad);
  if (stStatus != 0 && (aFailed == 0 || i + 1 < aFailed)) aFailed = i + 1;
}

// Puts the next group that plans on lane l (storing those that do not); returns the next index.
function fill(l: i32, next: i32): i32 {
  while (next < aG) {
    const i = next++;
    if (loadLane(l, i)) return next;
    storeI(i);
  }
  setMask(ACTIVE_, l, false);
  return next;
}

function setConst(i: i32, x: f64): void {
  v128.store(KS + (<usize>i << 4), f64x2.splat(x));
}

/** marginal_f64 for a call `lanesApply` accepts (same arguments and results). */
export function solveLanes(
  code: i32, G: i32, offs: usize, y: usize, trials: usize, f: usize, s: usize, phi: f64, cst: usize,
  rtol: f64, atol: f64, T: f64, c0: f64, maxSteps: f64, grad: f64, centre: f64,
  L: usize, gf: usize, gs: usize, gphi: usize, stats: usize,
): i32 {
  aCode = code;
  aOffs = offs;
  aY = y;
  aTrials = trials;
  aF = f;
  aGf = gf;
  aS = s;
  aPhi = phi;
  aCst = cst;
  aT = T;
  aC0opt = c0;
  aCentre = centre;
  aWantGrad = grad != 0;
  aL = L;
  aGs = gs;
  aGphi = gphi;
  aStats = stats;
  aG = G;
  aFailed = 0;
  setConst(K_ZERO, 0);
  setConst(K_ONE, 1);
  setConst(K_HALF, 0.5);
  setConst(K_SAFETY, SAFETY);
  setConst(K_FAC_MIN, FAC_MIN);
  setConst(K_FAC_MAX, FAC_MAX);
  setConst(K_INV_STAB, INV_STABILITY);
  setConst(K_MSAFE, MOMENT_SAFETY);
  setConst(K_FIFTH, -0.2);
  setConst(K_TOL, atol + rtol);
  setConst(K_MAXSTEPS, maxSteps);
  setConst(K_REJECT, 0.2);
  let next = fill(0, 0);
  next = fill(1, next);
  while (maskOn(ACTIVE_, 0) || maskOn(ACTIVE_, 1)) {
    if (code == POISSON_LOG) runPoisson();
    else runGaussian();
    for (let l = 0; l < 2; l++) {
      if (!maskOn(ACTIVE_, l)) continue;
      // Finished, or at the cap (as `run` tests it: never for a NaN cap, like the scalar loop).
      if (lane(BI_, l) < lane(NB_, l) && !(lane(STEPS_, l) + lane(REJ_, l) >= maxSteps)) continue;
      closeLane(l);
      storeI(load<i32>(LANE_GROUP + (<usize>l << 2)));
      next = fill(l, next);
    }
  }
  return aFailed;
}

// This file's scratch moved to [p, p + the returned bytes) (kernels/assembly/scratch.ts says why).
export function relocate_lanes(p: usize): usize {
  const p0 = p;
  STATE = p; p += aligned(FIELDS << 4);
  LANE_GROUP = p; p += aligned(2 << 2);
  LANE_EVALS = p; p += aligned(2 << 2);
  LANE_B = p; p += aligned(2 << 3);
  LANE_M = p; p += aligned(2 << 3);
  LANE_TAIL = p; p += aligned(2 << 2);
  LANE_C0 = p; p += aligned(2 << 3);
  KS = p; p += aligned(12 << 4);
  return p - p0;
}
