// The per-element work of the (adaptive) Gauss–Hermite marginal (ngmm/marginal/quadrature.ts):
// the WASM twin of kernels/reference/quadrature.ts. Groups are contiguous row ranges
// offsets[i] … offsets[i+1]; node b_{ik} of group i is nodes[(i·K + k)·q …]; the score grid is
// row-major n × K (observation j's row holds its value at the K nodes of its group), the
// group sums G × K.
//
//   quad_loglik_f64      η_jk = f_j + ⟨g_j, b_{i(j)k}⟩, then ll_ik = Σ_j core(y_j, η_jk, ϕ)
//                        (and Σ_j ∂core/∂ϕ where dphi ≠ 0) and each score ∂core/∂η in one
//                        pass, so the backward pass needs no exp/log again and the n × K
//                        core grid is never written (nor summed, nor its gradient spread);
//   quad_loglik_vjp_f64  gf_j = Σ_k up_{i(j)k}·score_jk, gg_jd = Σ_k up_{i(j)k}·score_jk·b_{i(j)kd};
//   quad_mode_f64        each group's mode b̂ of ℓ(b) = Σ_j core(y_j, f_j + ⟨g_j, b⟩) − ‖b‖²/2 by
//                        damped Newton (a concave ℓ's full steps accepted by their slope, with
//                        no ℓ evaluation), and the Cholesky factor of −∇²ℓ(b̂) (q ≤ 3).
// The SIMD build runs the Bernoulli/binomial logit with q = 1 two lanes at a time (two nodes
// in quad_loglik, two observations in the Newton sums; logit.ts), Bernoulli groups without a
// log1p per node and observation (bernoulliGroup, baseGroup below); everything else is scalar
// obs.ts.
import { BINOMIAL_LOGIT, isConcave, obsCore, obsDphi, obsHess, obsScore, obsSup } from './marginal/obs';
import {
  PRODUCT_BLOCK, bernoulliLinear, expNegAbs, logitCore, logitNegHess, logitScore, productExponent, productLog, productMantissa, productStep, sigmaAbs,
} from './logit';
import { vlog } from './vmath';
import { ld, st } from './f64s';
import { aligned } from './scratch';

// Two lanes' scores, stored before they go to two rows of the grid.
let LANES: usize = memory.data(16, 16);

// The logit core and score on two lanes of η (../logit.ts): the score stored at ps, the core
// returned.
// @ts-ignore: decorator
@inline
function logitLanes(eta: v128, y: v128, m: v128, ps: usize): v128 {
  const e = expNegAbs(eta);
  v128.store(ps, logitScore(eta, y, m, e, sigmaAbs(e)));
  return logitCore(eta, y, m, e);
}

// @ts-ignore: decorator
@inline
function addTo(p: usize, i: i32, v: f64): void {
  st(p, i, ld(p, i) + v);
}

// Bernoulli (m = 1) groups on the SIMD build: ll_ik = Σ_j (y_j·η_jk − max(η_jk, 0)) −
// log Π_j (1 + e^{−|η_jk|}) (../logit.ts), one product per node in PROD folded into ll by a log
// per GH_BLOCK observations (each adds a factor ≤ 2 to every node's product: < 2^512), where
// the core took a log1p per node and observation. The odd last node runs across observation
// pairs, whose lanes split its product.
const MAX_PRODUCT_K: i32 = 128; // more nodes take the log1p path (the table is static data in the binary)
let PROD: usize = memory.data(MAX_PRODUCT_K << 3, 16);
const GH_BLOCK: i32 = PRODUCT_BLOCK >> 1;

// A group whose design g_j is one value g for all its observations (a random intercept: z_ij ≡
// z_i) needs no exp per node and observation at all: e^{η_jk} = B_j·F_k with B_j = e^{f_j + g·b₀}
// and F_k = e^{g·(b_k − b₀)} (b₀ the middle node; NaN where |g·(b_k − b₀)| > 30, whose rounding
// would cost ε·|g·(b_k − b₀)| relative: those nodes go direct), so Σ_j log(1 + e^{η_jk}) = log Π_j (1 + B_j·F_k),
// the product's binary exponent carried aside per node (EXPS) as in the ODE's base form
// (marginal/integrand.ts), and Σ_j y_j·η_jk = Σ_j y_j·f_j + g·b_k·Σ_j y_j. A pair whose e^{η}
// leaves [e^{−600}, e^{600}] takes the direct formula, its −softplus added to ll. Scores from
// the same e^{η}: σ(−η) = 1/(1 + e^{η}), σ(η) = e^{η}·σ(−η).
let FNODE: usize = memory.data(MAX_PRODUCT_K << 3, 16);
let EXPS: usize = memory.data(MAX_PRODUCT_K << 3, 16);
const BASE_LO: f64 = 2.6504211968491016e-261; // e^{−600}
const BASE_HI: f64 = 3.7730203009299397e+260; // e^{600}

// @ts-ignore: decorator
@inline
function sameG(lo: i32, hi: i32, g: usize): bool {
  const g0 = ld(g, lo);
  for (let j = lo + 1; j < hi; j++) if (ld(g, j) != g0) return false;
  return true;
}

// One factor 1 + x of node pair k (at byte offset o) for one observation: product, exponent,
// score; or, where x is out of range, the direct formula.
// @ts-ignore: decorator
@inline
function baseFactor(x: v128, yv: v128, omy: v128, fj: f64, gv: f64, nb: usize, o: usize, ll: usize, ps: usize): void {
  const ones = f64x2.splat(1);
  if (!i64x2.all_true(v128.and(f64x2.ge(x, f64x2.splat(BASE_LO)), f64x2.le(x, f64x2.splat(BASE_HI))))) {
    const eta = f64x2.add(f64x2.splat(fj), f64x2.mul(f64x2.splat(gv), v128.load(nb + o)));
    const e = expNegAbs(eta);
    v128.store(ps + o, logitScore(eta, yv, ones, e, sigmaAbs(e)));
    v128.store(ll + o, f64x2.add(v128.load(ll + o), f64x2.sub(logitCore(eta, yv, ones, e), f64x2.mul(yv, eta))));
    return;
  }
  const f1 = f64x2.add(ones, x);
  const p = f64x2.mul(v128.load(PROD + o), f1);
  v128.store(EXPS + o, i64x2.add(v128.load(EXPS + o), productExponent(p)));
  v128.store(PROD + o, productMantissa(p));
  const neg = f64x2.div(ones, f1);
  v128.store(ps + o, f64x2.sub(f64x2.mul(yv, neg), f64x2.mul(omy, f64x2.mul(x, neg))));
}

// The group by the base. An F_k or B_j out of range (0, ∞ or NaN) needs no check of its own:
// the product B_j·F_k then leaves [e^{−600}, e^{600}] or is NaN, and the pair goes direct.
function baseGroup(lo: i32, hi: i32, K: i32, nb: usize, y: usize, f: usize, gv: f64, ll: usize, score: usize): void {
  const b0 = ld(nb, K >> 1);
  for (let k = 0; k < K; k++) {
    const a = gv * (ld(nb, k) - b0);
    st(FNODE, k, Math.abs(a) <= 30 ? Math.exp(a) : NaN);
  }
  const Kp = (K + 1) & ~1; // PROD and EXPS are cleared in pairs, the odd last node's included
  const ones = f64x2.splat(1);
  for (let k = 0; k < Kp; k += 2) {
    v128.store(PROD + (<usize>k << 3), ones);
    v128.store(EXPS + (<usize>k << 3), i64x2.splat(0));
  }
  let sy: f64 = 0, syf: f64 = 0;
  for (let j = lo; j < hi; j++) {
    const fj = ld(f, j), yj = ld(y, j);
    const Bj = Math.exp(fj + gv * b0);
    sy += yj;
    syf += yj * fj;
    const bv = f64x2.splat(Bj), yv = f64x2.splat(yj), omy = f64x2.splat(1.0 - yj);
    const ps = score + (<usize>(j * K) << 3);
    let k = 0;
    for (; k + 2 <= K; k += 2) {
      const o = <usize>k << 3;
      baseFactor(f64x2.mul(bv, v128.load(FNODE + o)), yv, omy, fj, gv, nb, o, ll, ps);
    }
    if (k < K) {
      // The odd last node, scalar.
      const x0 = Bj * ld(FNODE, k);
      if (!(x0 >= BASE_LO && x0 <= BASE_HI)) {
        const eta = fj + gv * ld(nb, k);
        st(score, j * K + k, obsScore(BINOMIAL_LOGIT, yj, 1.0, eta, 1.0));
        addTo(ll, k, obsCore(BINOMIAL_LOGIT, yj, 1.0, eta, 1.0) - yj * eta);
      } else {
        const f1 = 1.0 + x0;
        const p = ld(PROD, k) * f1;
        const bits = reinterpret<i64>(p);
        store<i64>(EXPS + (<usize>k << 3), load<i64>(EXPS + (<usize>k << 3)) + ((bits >>> 52) - 1023));
        st(PROD, k, reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000));
        const neg = 1.0 / f1;
        st(score, j * K + k, yj * neg - (1.0 - yj) * (x0 * neg));
      }
    }
  }
  for (let k = 0; k < K; k++) {
    const logs = Math.log(ld(PROD, k)) + <f64>load<i64>(EXPS + (<usize>k << 3)) * 0.6931471805599453;
    addTo(ll, k, syf + gv * ld(nb, k) * sy - logs);
  }
}

// One group, observations lo … hi − 1; `ll` at the group's row, `nb` at its nodes.
function bernoulliGroup(lo: i32, hi: i32, K: i32, nb: usize, y: usize, f: usize, g: usize, ll: usize, score: usize): void {
  if (hi > lo && sameG(lo, hi, g)) {
    baseGroup(lo, hi, K, nb, y, f, ld(g, lo), ll, score);
    return;
  }
  const ones = f64x2.splat(1);
  const kp = K & ~1;
  let j = lo;
  while (j < hi) {
    const end = min(hi, j + GH_BLOCK);
    for (let k = 0; k < kp; k += 2) v128.store(PROD + (<usize>k << 3), ones);
    for (; j < end; j++) {
      const gj = f64x2.splat(ld(g, j)), fv = f64x2.splat(ld(f, j)), yv = f64x2.splat(ld(y, j));
      const ps = score + (<usize>(j * K) << 3);
      for (let k = 0; k < kp; k += 2) {
        const o = <usize>k << 3;
        const eta = f64x2.add(fv, f64x2.mul(gj, v128.load(nb + o)));
        const e = expNegAbs(eta);
        v128.store(ps + o, logitScore(eta, yv, ones, e, sigmaAbs(e)));
        v128.store(ll + o, f64x2.add(v128.load(ll + o), bernoulliLinear(eta, yv)));
        v128.store(PROD + o, productStep(v128.load(PROD + o), e));
      }
    }
    for (let k = 0; k < kp; k += 2) {
      const o = <usize>k << 3;
      v128.store(ll + o, f64x2.sub(v128.load(ll + o), vlog(v128.load(PROD + o))));
    }
  }
  if ((K & 1) == 0) return;
  const kl = K - 1;
  const node = v128.load64_splat(nb + (<usize>kl << 3));
  const pairsEnd = lo + ((hi - lo) & ~1);
  let acc = f64x2.splat(0);
  let logs: f64 = 0;
  j = lo;
  while (j < pairsEnd) {
    const end = min(pairsEnd, j + PRODUCT_BLOCK);
    let prod = ones;
    for (; j < end; j += 2) {
      const o = <usize>j << 3;
      const eta = f64x2.add(v128.load(f + o), f64x2.mul(v128.load(g + o), node)), yv = v128.load(y + o);
      const e = expNegAbs(eta);
      v128.store(LANES, logitScore(eta, yv, ones, e, sigmaAbs(e)));
      st(score, j * K + kl, load<f64>(LANES));
      st(score, (j + 1) * K + kl, load<f64>(LANES, 8));
      acc = f64x2.add(acc, bernoulliLinear(eta, yv));
      prod = productStep(prod, e);
    }
    logs += productLog(prod);
  }
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1) - logs;
  if (pairsEnd < hi) {
    const eta = ld(f, pairsEnd) + ld(g, pairsEnd) * ld(nb, kl);
    sum += obsCore(BINOMIAL_LOGIT, ld(y, pairsEnd), 1.0, eta, 1.0);
    st(score, pairsEnd * K + kl, obsScore(BINOMIAL_LOGIT, ld(y, pairsEnd), 1.0, eta, 1.0));
  }
  addTo(ll, kl, sum);
}

export function quad_loglik_f64(
  code: i32, G: i32, offsets: usize, K: i32, q: i32, y: usize, trials: usize, f: usize, g: usize,
  nodes: usize, phi: f64, ll: usize, score: usize, dphi: usize,
): void {
  const simd = ASC_FEATURE_SIMD && code == BINOMIAL_LOGIT && q == 1 && dphi == 0;
  memory.fill(ll, 0, <usize>(G * K) << 3);
  if (dphi != 0) memory.fill(dphi, 0, <usize>(G * K) << 3);
  for (let i = 0; i < G; i++) {
    const lo = load<i32>(offsets + (<usize>i << 2)), hi = load<i32>(offsets + (<usize>(i + 1) << 2));
    const nb = nodes + (<usize>(i * K * q) << 3);
    const li = i * K;
    if (simd && trials == 0 && K <= MAX_PRODUCT_K) {
      bernoulliGroup(lo, hi, K, nb, y, f, g, ll + (<usize>li << 3), score);
      continue;
    }
    for (let j = lo; j < hi; j++) {
      const yj = ld(y, j), m = trials != 0 ? ld(trials, j) : 1.0, fj = ld(f, j);
      const row = j * K;
      let k = 0;
      if (simd) {
        const gj = f64x2.splat(ld(g, j)), fv = f64x2.splat(fj), yv = f64x2.splat(yj), mv = f64x2.splat(m);
        for (; k + 2 <= K; k += 2) {
          const c = logitLanes(f64x2.add(fv, f64x2.mul(gj, v128.load(nb + (<usize>k << 3)))), yv, mv, score + (<usize>(row + k) << 3));
          const pl = ll + (<usize>(li + k) << 3);
          v128.store(pl, f64x2.add(v128.load(pl), c));
        }
        // An odd last node waits for the loop over observation pairs below.
        if (k < K) k++;
      }
      for (; k < K; k++) {
        let eta = fj;
        for (let d = 0; d < q; d++) eta += ld(g, j * q + d) * ld(nb, k * q + d);
        addTo(ll, li + k, obsCore(code, yj, m, eta, phi));
        st(score, row + k, obsScore(code, yj, m, eta, phi));
        if (dphi != 0) addTo(dphi, li + k, obsDphi(code, yj, m, eta, phi));
      }
    }
    if (simd && (K & 1) != 0) {
      // The odd last node K − 1 of two observations on the two lanes (both lanes on one for
      // an odd last observation): half a pair per observation, where one node a lane wasted it.
      // Their cores are added in observation order, as everywhere.
      const kl = K - 1;
      const node = v128.load64_splat(nb + (<usize>kl << 3)), ones = f64x2.splat(1);
      let j = lo;
      for (; j < hi; j += 2) {
        const o = <usize>j << 3;
        const two = j + 1 < hi;
        const fv = two ? v128.load(f + o) : v128.load64_splat(f + o), gv = two ? v128.load(g + o) : v128.load64_splat(g + o);
        const yv = two ? v128.load(y + o) : v128.load64_splat(y + o);
        const mv = trials == 0 ? ones : two ? v128.load(trials + o) : v128.load64_splat(trials + o);
        const c = logitLanes(f64x2.add(fv, f64x2.mul(gv, node)), yv, mv, LANES);
        addTo(ll, li + kl, f64x2.extract_lane(c, 0));
        st(score, j * K + kl, load<f64>(LANES));
        if (two) {
          addTo(ll, li + kl, f64x2.extract_lane(c, 1));
          st(score, (j + 1) * K + kl, load<f64>(LANES, 8));
        }
      }
    }
  }
}

export function quad_loglik_vjp_f64(
  G: i32, offsets: usize, K: i32, q: i32, nodes: usize, score: usize, up: usize, gf: usize, gg: usize,
): void {
  for (let i = 0; i < G; i++) {
    const lo = load<i32>(offsets + (<usize>i << 2)), hi = load<i32>(offsets + (<usize>(i + 1) << 2));
    const nb = nodes + (<usize>(i * K * q) << 3);
    for (let j = lo; j < hi; j++) {
      const row = j * K;
      let sf: f64 = 0;
      let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0;
      let k = 0;
      if (ASC_FEATURE_SIMD && q == 1) {
        // Two nodes at a time, each lane its own partial sums (so the sums' order differs
        // from the scalar loop's: they agree to rounding relative to Σ|terms|).
        let vf = f64x2.splat(0), v0 = f64x2.splat(0);
        for (; k + 2 <= K; k += 2) {
          const o = <usize>(row + k) << 3;
          const w = f64x2.mul(v128.load(up + (<usize>(i * K + k) << 3)), v128.load(score + o));
          vf = f64x2.add(vf, w);
          v0 = f64x2.add(v0, f64x2.mul(w, v128.load(nb + (<usize>k << 3))));
        }
        sf = f64x2.extract_lane(vf, 0) + f64x2.extract_lane(vf, 1);
        s0 = f64x2.extract_lane(v0, 0) + f64x2.extract_lane(v0, 1);
      }
      for (; k < K; k++) {
        const w = ld(up, i * K + k) * ld(score, row + k);
        sf += w;
        s0 += w * ld(nb, k * q);
        if (q > 1) s1 += w * ld(nb, k * q + 1);
        if (q > 2) s2 += w * ld(nb, k * q + 2);
      }
      if (gf != 0) st(gf, j, sf);
      if (gg != 0) {
        st(gg, j * q, s0);
        if (q > 1) st(gg, j * q + 1, s1);
        if (q > 2) st(gg, j * q + 2, s2);
      }
    }
  }
}

// Newton state for one group (q ≤ 3): b, trial, gradient, H = −∇²ℓ, its Cholesky factor L
// (row-major, lower), and the triangular-solve scratch.
let B: usize = memory.data(3 << 3, 16);
let TRIAL: usize = memory.data(3 << 3, 16);
let GRAD: usize = memory.data(3 << 3, 16);
let H: usize = memory.data(9 << 3, 16);
let L: usize = memory.data(9 << 3, 16);
let Z: usize = memory.data(3 << 3, 16);
let STEP: usize = memory.data(3 << 3, 16);

// Group state for `value` and `derivs`.
let mCode: i32 = 0, mQ: i32 = 0, mLo: i32 = 0, mHi: i32 = 0;
let mY: usize = 0, mTrials: usize = 0, mF: usize = 0, mG: usize = 0;
let mPhi: f64 = 0;

function predictor(j: i32, b: usize): f64 {
  let eta = ld(mF, j);
  for (let d = 0; d < mQ; d++) eta += ld(mG, j * mQ + d) * ld(b, d);
  return eta;
}

function value(b: usize): f64 {
  let v: f64 = 0;
  for (let d = 0; d < mQ; d++) v -= 0.5 * ld(b, d) * ld(b, d);
  let j = mLo;
  if (ASC_FEATURE_SIMD && mCode == BINOMIAL_LOGIT && mQ == 1) {
    // Two observations at a time: core = y·η − m·(max(η, 0) + log1p(e^{−|η|})).
    const bv = f64x2.splat(ld(b, 0)), ones = f64x2.splat(1);
    let acc = f64x2.splat(0);
    for (; j + 2 <= mHi; j += 2) {
      const o = <usize>j << 3;
      const eta = f64x2.add(v128.load(mF + o), f64x2.mul(v128.load(mG + o), bv));
      const m = mTrials != 0 ? v128.load(mTrials + o) : ones;
      acc = f64x2.add(acc, logitCore(eta, v128.load(mY + o), m, expNegAbs(eta)));
    }
    v += f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  }
  for (; j < mHi; j++) v += obsCore(mCode, ld(mY, j), mTrials != 0 ? ld(mTrials, j) : 1.0, predictor(j, b), mPhi);
  return v;
}

// ∇ℓ(b) into GRAD and −∇²ℓ(b) into H.
function derivs(b: usize): void {
  const q = mQ;
  for (let d = 0; d < q; d++) st(GRAD, d, -ld(b, d));
  for (let d = 0; d < q * q; d++) st(H, d, 0);
  for (let d = 0; d < q; d++) st(H, d * q + d, 1);
  let j = mLo;
  if (ASC_FEATURE_SIMD && mCode == BINOMIAL_LOGIT && q == 1) {
    // score = y·σ(−η) − (m − y)·σ(η), hess = −m·σ(η)·σ(−η), two observations at a time.
    const bv = f64x2.splat(ld(b, 0)), ones = f64x2.splat(1);
    let gr = f64x2.splat(0), hs = f64x2.splat(0);
    for (; j + 2 <= mHi; j += 2) {
      const o = <usize>j << 3;
      const gj = v128.load(mG + o);
      const eta = f64x2.add(v128.load(mF + o), f64x2.mul(gj, bv));
      const m = mTrials != 0 ? v128.load(mTrials + o) : ones;
      const e = expNegAbs(eta), big = sigmaAbs(e);
      gr = f64x2.add(gr, f64x2.mul(logitScore(eta, v128.load(mY + o), m, e, big), gj));
      hs = f64x2.add(hs, f64x2.mul(logitNegHess(m, e, big), f64x2.mul(gj, gj)));
    }
    st(GRAD, 0, ld(GRAD, 0) + (f64x2.extract_lane(gr, 0) + f64x2.extract_lane(gr, 1)));
    st(H, 0, ld(H, 0) + (f64x2.extract_lane(hs, 0) + f64x2.extract_lane(hs, 1)));
  }
  for (; j < mHi; j++) {
    const eta = predictor(j, b);
    const yj = ld(mY, j), m = mTrials != 0 ? ld(mTrials, j) : 1.0;
    const r = obsScore(mCode, yj, m, eta, mPhi);
    const h = obsHess(mCode, yj, m, eta, mPhi);
    for (let d = 0; d < q; d++) {
      const gd = ld(mG, j * q + d);
      st(GRAD, d, ld(GRAD, d) + r * gd);
      for (let e = 0; e < q; e++) st(H, d * q + e, ld(H, d * q + e) - h * gd * ld(mG, j * q + e));
    }
  }
}

function cholesky(): bool {
  const q = mQ;
  for (let d = 0; d < q * q; d++) st(L, d, 0);
  for (let i = 0; i < q; i++) {
    for (let jj = 0; jj <= i; jj++) {
      let sum = ld(H, i * q + jj);
      for (let k = 0; k < jj; k++) sum -= ld(L, i * q + k) * ld(L, jj * q + k);
      if (i == jj) {
        if (!(sum > 0)) return false;
        st(L, i * q + i, Math.sqrt(sum));
      } else st(L, i * q + jj, sum / ld(L, jj * q + jj));
    }
  }
  return true;
}

// The start where ℓ need not be concave: the best point of a grid (the reference's `start`).
const START_GRID: i32 = 481;
const START_HALF: f64 = 12;
let IDX: usize = memory.data(3 << 2, 16);
let startBest: f64 = -Infinity;

function scan1(half: f64): void {
  const h: f64 = (2.0 * half) / <f64>(START_GRID - 1);
  for (let i = 0; i < START_GRID; i++) {
    st(TRIAL, 0, -half + <f64>i * h);
    const v = value(TRIAL);
    if (v > startBest) {
      startBest = v;
      st(B, 0, ld(TRIAL, 0));
    }
  }
}

function start(): void {
  const q = mQ;
  startBest = -Infinity;
  if (q == 1) {
    st(B, 0, 0);
    scan1(START_HALF);
    let sup: f64 = 0.0;
    for (let j = mLo; j < mHi; j++) sup += obsSup(mCode, ld(mY, j), mTrials != 0 ? ld(mTrials, j) : 1.0, mPhi);
    const R = Math.sqrt(2.0 * (sup - startBest + 40.0));
    if (R > START_HALF && R < Infinity) scan1(R);
    return;
  }
  const K: i32 = q == 2 ? 25 : 13;
  const h: f64 = 12.0 / <f64>(K - 1);
  for (let d = 0; d < q; d++) store<i32>(IDX + (<usize>d << 2), 0);
  while (true) {
    for (let d = 0; d < q; d++) st(TRIAL, d, -6.0 + <f64>load<i32>(IDX + (<usize>d << 2)) * h);
    const v = value(TRIAL);
    if (v > startBest) {
      startBest = v;
      for (let d = 0; d < q; d++) st(B, d, ld(TRIAL, d));
    }
    let d = q - 1;
    while (d >= 0) {
      const p = IDX + (<usize>d << 2);
      const next = load<i32>(p) + 1;
      if (next == K) {
        store<i32>(p, 0);
        d--;
      } else {
        store<i32>(p, next);
        break;
      }
    }
    if (d < 0) return;
  }
}

// H + τI, τ = 1e−8·(1 + max|H_dd|)·2ᵏ (k < 80), until its Cholesky factor exists (the reference's `regularise`).
function regularise(): bool {
  const q = mQ;
  let scale: f64 = 0.0;
  for (let d = 0; d < q; d++) scale = Math.max(scale, Math.abs(ld(H, d * q + d)));
  let tau: f64 = 1e-8 * (1.0 + scale), added: f64 = 0.0;
  for (let k = 0; k < 80; k++) {
    for (let d = 0; d < q; d++) st(H, d * q + d, ld(H, d * q + d) + (tau - added));
    added = tau;
    if (cholesky()) return true;
    tau *= 2.0;
  }
  return false;
}

export function quad_mode_f64(
  code: i32, G: i32, offsets: usize, q: i32, y: usize, trials: usize, f: usize, g: usize, phi: f64, mode: usize, chol: usize,
): void {
  mCode = code;
  mQ = q;
  mY = y;
  mTrials = trials;
  mF = f;
  mG = g;
  mPhi = phi;
  const concave = isConcave(code);
  for (let gi = 0; gi < G; gi++) {
    mLo = load<i32>(offsets + (<usize>gi << 2));
    mHi = load<i32>(offsets + (<usize>(gi + 1) << 2));
    for (let d = 0; d < q; d++) st(B, d, 0);
    if (!concave) start();
    let v: f64 = NaN;
    let known = false; // v is ℓ(B)
    let lastFull: f64 = Infinity; // the last full step's size
    derivs(B);
    for (let it = 0; it < 100; it++) {
      if (!cholesky()) {
        if (concave || !regularise()) break;
      }
      // Newton step δ = H⁻¹∇ by the two triangular solves.
      for (let i = 0; i < q; i++) {
        let sum = ld(GRAD, i);
        for (let k = 0; k < i; k++) sum -= ld(L, i * q + k) * ld(Z, k);
        st(Z, i, sum / ld(L, i * q + i));
      }
      for (let i = q - 1; i >= 0; i--) {
        let sum = ld(Z, i);
        for (let k = i + 1; k < q; k++) sum -= ld(L, k * q + i) * ld(STEP, k);
        st(STEP, i, sum / ld(L, i * q + i));
      }
      // Near the mode (step ≤ 1e−6) take full Newton steps without the line search, whose test
      // on the gain in ℓ rounding noise swamps at the flat top, until the step is ≤ 1e−12 or
      // stops shrinking (rounding noise in ∇ℓ: the point is then as good as it gets).
      let norm: f64 = 0;
      for (let d = 0; d < q; d++) norm = Math.max(norm, Math.abs(ld(STEP, d)) / (1 + Math.abs(ld(B, d))));
      if (norm <= 1e-6) {
        for (let d = 0; d < q; d++) st(B, d, ld(B, d) + ld(STEP, d));
        if (norm <= 1e-12 || norm >= lastFull) break;
        lastFull = norm;
        known = false;
        derivs(B);
        continue;
      }
      // Concave ℓ: the full step by its derivatives first (see the reference).
      if (concave) {
        for (let d = 0; d < q; d++) st(TRIAL, d, ld(B, d) + ld(STEP, d));
        derivs(TRIAL);
        let slope: f64 = 0;
        for (let d = 0; d < q; d++) slope += ld(GRAD, d) * ld(STEP, d);
        if (slope >= 0) {
          for (let d = 0; d < q; d++) st(B, d, ld(TRIAL, d));
          known = false;
          continue;
        }
      }
      if (!known) {
        v = value(B);
        known = true;
      }
      let lambda: f64 = 1;
      let accepted = false, done = false;
      for (let half = 0; half < 40; half++) {
        for (let d = 0; d < q; d++) st(TRIAL, d, ld(B, d) + lambda * ld(STEP, d));
        const vt = value(TRIAL);
        if (vt >= v) {
          accepted = true;
          for (let d = 0; d < q; d++) st(B, d, ld(TRIAL, d));
          const dv = vt - v;
          v = vt;
          if (dv <= 1e-15 * (1 + Math.abs(v))) done = true;
          break;
        }
        lambda *= 0.5;
      }
      if (!accepted || done) break;
      derivs(B);
    }
    derivs(B);
    if (!cholesky()) {
      for (let d = 0; d < q * q; d++) st(L, d, 0);
      for (let d = 0; d < q; d++) st(L, d * q + d, 1);
    }
    for (let d = 0; d < q; d++) st(mode, gi * q + d, ld(B, d));
    for (let d = 0; d < q * q; d++) st(chol, gi * q * q + d, ld(L, d));
  }
}

// This file's scratch moved to [p, p + the returned bytes) (kernels/assembly/scratch.ts says why).
export function relocate_quadrature(p: usize): usize {
  const p0 = p;
  LANES = p; p += aligned(16);
  PROD = p; p += aligned(MAX_PRODUCT_K << 3);
  FNODE = p; p += aligned(MAX_PRODUCT_K << 3);
  EXPS = p; p += aligned(MAX_PRODUCT_K << 3);
  B = p; p += aligned(3 << 3);
  TRIAL = p; p += aligned(3 << 3);
  GRAD = p; p += aligned(3 << 3);
  H = p; p += aligned(9 << 3);
  L = p; p += aligned(9 << 3);
  Z = p; p += aligned(3 << 3);
  STEP = p; p += aligned(3 << 3);
  IDX = p; p += aligned(3 << 2);
  return p - p0;
}
