// exp, expm1, log and log1p on two f64 lanes, for the hot loops: the Bernoulli/binomial
// logit per observation, and the two-group ODE integrator (marginal/lanes.ts). WASM SIMD128
// has no transcendental instructions, and the scalar NativeMath calls cost ≈4× a vector
// evaluation here.
//
// vexpNeg (x ≤ 0): Cody–Waite reduction x = k·ln2 + r, |r| ≤ ln2/2, e^r = 1 + r + r²·s(r)
// with s a degree-9 fit (within 4e−17), scaled by 2^k built in the exponent bits.
// Lanes below −708 (where 2^k would be subnormal) return 0: every caller adds the result to 1
// or to a sum of order 1, where it vanishes anyway.
// vexp (any x): the same with 2^k applied in two halves, so that subnormal results and those
// up to the largest double come out as Math.exp's do (the ODE's stage weights compare them
// with 0, as the scalar solver does).
// vexpm1: e^r − 1 = r + r²·s(r), so for |x| ≤ ln2/2 (k = 0) it keeps full relative accuracy
// near 0; else 2^k·(e^r − 1) + (2^k − 1).
// vlog1p (for e ∈ [0, 1]): u = 1 + e, log u = k·ln2 + 2·atanh(s), s = (m−1)/(m+1) with
// m ∈ [√½, √2] (|s| ≤ 0.1716), plus the rounding correction (e − (u−1))/u. 2·atanh(s) is
// 2s + 2s·z·Q(z), z = s², with Q a degree-6 Chebyshev fit: the correction term is at most
// 1.0e−2 of the result, so Q needs far less relative accuracy than the whole series did.
// vlog (x > 0, with 0 → −∞, +∞ → +∞, negative and NaN → NaN): the same series on x's own
// mantissa, subnormals scaled by 2⁵⁴ first.
// All are within a few ulp of the correctly rounded value (test/kernels/vmath.test.ts).
// Constants live in a static table and are loaded with v128.load64_splat: a v128.const
// inside a loop is rebuilt on every iteration by V8.

// Constants by name: indices into C.
const LOG2E = 0;
const LN2_HI = 1; // Cody–Waite split of ln 2 (fdlibm): k·LN2_HI is exact for |k| < 2²⁰
const LN2_LO = 2;
const EXP_MIN = 3; // smallest x with a normal 2^k
const EXP_MAX = 4; // largest x with k ≤ 1023 (vexpm1's range)
const ONE = 5;
const HALF = 6;
const TWO = 7;
const ZERO = 8;
const SQRT2 = 9;
const LN2 = 10;
const INF = 11;
const NEG_INF = 12;
const MINUS_ONE = 13;
const NAN = 14;
const MAGIC = 15; // 1.5·2⁵²: k + MAGIC holds the integer k in its low bits
const TINY = 16; // smallest normal
const TWO54 = 17;
const FIFTY_FOUR = 18;
const TWO52 = 19;
const TWO52_BIAS = 20; // 2⁵² + 1023
const ES = 21; // s(r) = (e^r − 1 − r)/r², degree 9: 10 coefficients, constant term first
const AT = 31; // Q(z) = (atanh(s)/s − 1)/z, z = s²: 7 coefficients
const EXP_UNDER = 38; // e^x rounds to 0 below
const EXP_OVER = 39; // e^x overflows above

const C = memory.data<f64>([
  1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10, -708.0, 709.43,
  1.0, 0.5, 2.0, 0.0, 1.4142135623730951, 0.6931471805599453,
  Infinity, -Infinity, -1.0, NaN, 6755399441055744.0, 2.2250738585072014e-308,
  18014398509481984.0, 54.0, 4503599627370496.0, 4503599627370496.0 + 1023.0,
  // s(r) on |r| ≤ ln2/2: a Chebyshev fit (mpmath.chebyfit, 40 digits) whose polynomial
  // 1 + r + r²·s(r) is within 4e−17 of e^r and r + r²·s(r) of e^r − 1, relative, before
  // rounding; two fewer terms than the Taylor series for the same accuracy.
  0.5000000000000001, 0.16666666666666669, 0.041666666666624164, 0.008333333333330065, 0.0013888888917196719,
  0.00019841269863040545, 2.4801521322368692e-05, 2.7557268480310024e-06, 2.7620075879983367e-07, 2.5100375832561234e-08,
  // Q(z) on 0 ≤ z ≤ (3 − 2√2)² (mpmath.chebyfit, 50 digits): 1 + z·Q(z) is within 5e−18 of
  // atanh(s)/s, relative, before rounding, where the Taylor series needs 11 terms.
  0.3333333333333335, 0.19999999999949752, 0.14285714312987743, 0.1111110556739754, 0.09091444562630861,
  0.07665860800278021, 0.07308224842521703,
  -745.2, 709.79,
]);

// @ts-ignore: decorator
@inline
function k(i: i32): v128 {
  return v128.load64_splat(C + (<usize>i << 3));
}

// s(r) by Estrin's scheme (independent mul+add levels instead of a 9-deep Horner chain: its
// latency, not its flops, bounded the loops), given r² and r⁴.
// @ts-ignore: decorator
@inline
function expS(r: v128, r2: v128, r4: v128): v128 {
  const a0 = f64x2.add(k(ES), f64x2.mul(k(ES + 1), r));
  const a1 = f64x2.add(k(ES + 2), f64x2.mul(k(ES + 3), r));
  const a2 = f64x2.add(k(ES + 4), f64x2.mul(k(ES + 5), r));
  const a3 = f64x2.add(k(ES + 6), f64x2.mul(k(ES + 7), r));
  const a4 = f64x2.add(k(ES + 8), f64x2.mul(k(ES + 9), r));
  const b0 = f64x2.add(a0, f64x2.mul(a1, r2));
  const b1 = f64x2.add(a2, f64x2.mul(a3, r2));
  const r8 = f64x2.mul(r4, r4);
  return f64x2.add(f64x2.add(b0, f64x2.mul(b1, r4)), f64x2.mul(a4, r8));
}

// k = nearest(x/ln2) and r = x − k·ln2 (Cody–Waite).
// @ts-ignore: decorator
@inline
function expK(x: v128): v128 {
  return f64x2.nearest(f64x2.mul(x, k(LOG2E)));
}

// @ts-ignore: decorator
@inline
function expR(x: v128, kf: v128): v128 {
  return f64x2.sub(f64x2.sub(x, f64x2.mul(kf, k(LN2_HI))), f64x2.mul(kf, k(LN2_LO)));
}

// 2^k for integral k ∈ [−1022, 1023]: k + MAGIC carries k in its low bits, and adding the bias
// then shifting by 52 leaves (k + 1023) << 52 (MAGIC's own bits shift out). One add, one
// integer add and a shift, where i32x4.trunc_sat_f64x2_s_zero costs V8 a saturating sequence.
// @ts-ignore: decorator
@inline
function pow2(kf: v128): v128 {
  return i64x2.shl(i64x2.add(f64x2.add(kf, k(MAGIC)), i64x2.splat(1023)), 52);
}

/** e^x for x ≤ 0 on both lanes (0 below −708). */
// @ts-ignore: decorator
@inline
export function vexpNeg(x: v128): v128 {
  const kf = expK(x);
  const r = expR(x, kf);
  const r2 = f64x2.mul(r, r);
  const p = f64x2.add(k(ONE), f64x2.add(r, f64x2.mul(r2, expS(r, r2, f64x2.mul(r2, r2)))));
  return v128.andnot(f64x2.mul(p, pow2(kf)), f64x2.lt(x, k(EXP_MIN)));
}

/** e^x on both lanes over the whole range, subnormal results and overflow to +∞ included. */
// @ts-ignore: decorator
@inline
export function vexp(x: v128): v128 {
  const kf = expK(x);
  const r = expR(x, kf);
  const r2 = f64x2.mul(r, r);
  const p = f64x2.add(k(ONE), f64x2.add(r, f64x2.mul(r2, expS(r, r2, f64x2.mul(r2, r2)))));
  // 2^k as 2^{k₁}·2^{k₂}, k₁ = ⌊k/2⌋: both factors are normal for k ∈ [−1075, 1024], so a
  // subnormal result, or one near the top of the range, is rounded once, as Math.exp's is.
  const k1 = f64x2.floor(f64x2.mul(kf, k(HALF)));
  const y = f64x2.mul(f64x2.mul(p, pow2(k1)), pow2(f64x2.sub(kf, k1)));
  // Beyond that range (and ±∞, where k is not a number the bit trick can take): 0 and +∞.
  return v128.bitselect(k(INF), v128.andnot(y, f64x2.lt(x, k(EXP_UNDER))), f64x2.gt(x, k(EXP_OVER)));
}

/** e^x − 1 on both lanes (−1 below −708, +∞ above 709.43). */
// @ts-ignore: decorator
@inline
export function vexpm1(x: v128): v128 {
  const kf = expK(x);
  const r = expR(x, kf);
  const r2 = f64x2.mul(r, r);
  const q = f64x2.add(r, f64x2.mul(r2, expS(r, r2, f64x2.mul(r2, r2))));
  const sc = pow2(kf);
  const y = f64x2.add(f64x2.sub(sc, k(ONE)), f64x2.mul(sc, q));
  return v128.bitselect(k(INF), v128.bitselect(k(MINUS_ONE), y, f64x2.lt(x, k(EXP_MIN))), f64x2.gt(x, k(EXP_MAX)));
}

// Q(z) by Estrin's scheme.
// @ts-ignore: decorator
@inline
function atanhQ(z: v128): v128 {
  const z2 = f64x2.mul(z, z);
  const a0 = f64x2.add(k(AT), f64x2.mul(k(AT + 1), z));
  const a1 = f64x2.add(k(AT + 2), f64x2.mul(k(AT + 3), z));
  const a2 = f64x2.add(k(AT + 4), f64x2.mul(k(AT + 5), z));
  const b0 = f64x2.add(a0, f64x2.mul(a1, z2));
  const b1 = f64x2.add(a2, f64x2.mul(k(AT + 6), z2));
  return f64x2.add(b0, f64x2.mul(b1, f64x2.mul(z2, z2)));
}

// log m for m ∈ [√½, √2]: 2·atanh(s) = 2s + 2s·z·Q(z), s = (m − 1)/(m + 1), |s| ≤ 0.1716.
// @ts-ignore: decorator
@inline
function logMid(m: v128): v128 {
  const f = f64x2.sub(m, k(ONE));
  const s = f64x2.div(f, f64x2.add(k(TWO), f));
  const s2 = f64x2.add(s, s);
  const z = f64x2.mul(s, s);
  return f64x2.add(s2, f64x2.mul(f64x2.mul(s2, z), atanhQ(z)));
}

/** log x on both lanes (x > 0; 0 → −∞, +∞ → +∞, x < 0 or NaN → NaN). */
// @ts-ignore: decorator
@inline
export function vlog(x: v128): v128 {
  const one = k(ONE);
  const tiny = f64x2.lt(x, k(TINY));
  const bits = v128.bitselect(f64x2.mul(x, k(TWO54)), x, tiny);
  // x = 2^e·m, m ∈ [1, 2): the exponent field as a float by the 2⁵² trick, the mantissa with
  // the exponent of 1; then m ∈ [√½, √2] by halving where m > √2.
  const ebits = v128.or(i64x2.shr_u(bits, 52), k(TWO52));
  let ef = f64x2.sub(f64x2.sub(ebits, k(TWO52_BIAS)), v128.and(k(FIFTY_FOUR), tiny));
  let m = v128.or(v128.and(bits, i64x2.splat(0x000fffffffffffff)), one);
  const big = f64x2.gt(m, k(SQRT2));
  m = v128.bitselect(f64x2.mul(m, k(HALF)), m, big);
  ef = f64x2.add(ef, v128.and(one, big));
  const y = f64x2.add(f64x2.mul(ef, k(LN2_HI)), f64x2.add(logMid(m), f64x2.mul(ef, k(LN2_LO))));
  // Ends: 0 → −∞, +∞ → +∞, negative or NaN → NaN.
  const e1 = v128.bitselect(k(NEG_INF), y, f64x2.eq(x, k(ZERO)));
  const e2 = v128.bitselect(k(INF), e1, f64x2.eq(x, k(INF)));
  return v128.bitselect(e2, k(NAN), f64x2.ge(x, k(ZERO)));
}

/** log(1 + e) for e ∈ [0, 1] on both lanes. */
// @ts-ignore: decorator
@inline
export function vlog1p(e: v128): v128 {
  const one = k(ONE);
  const u = f64x2.add(one, e);
  const c = f64x2.div(f64x2.sub(e, f64x2.sub(u, one)), u);
  // u ∈ [1, 2]: halve where u > √2 so m ∈ [√½, √2].
  const big = f64x2.gt(u, k(SQRT2));
  const m = v128.bitselect(f64x2.mul(u, k(HALF)), u, big);
  const kl = v128.and(k(LN2), big);
  return f64x2.add(f64x2.add(kl, logMid(m)), c);
}

// Test kernels: out[i] = F(x[i]) by the lane function two at a time, the odd last element by
// NativeMath (the scalar build: NativeMath throughout). test/kernels/vmath.test.ts.
// @ts-ignore: decorator
@inline
function lanes(n: i32, x: usize, out: usize, fn: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const v = v128.load(x + (<usize>i << 3));
      v128.store(out + (<usize>i << 3), fn == 0 ? vexp(v) : fn == 1 ? vexpm1(v) : fn == 2 ? vlog(v) : fn == 3 ? vlog1p(v) : vexpNeg(v));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    store<f64>(out + (<usize>i << 3), fn == 0 || fn == 4 ? Math.exp(v) : fn == 1 ? Math.expm1(v) : fn == 2 ? Math.log(v) : Math.log1p(v));
  }
}

/** out = e^x. */
export function vexp_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 0);
}

/** out = e^x for x ≤ 0, flushed to 0 below −708 (the logit's exp). */
export function vexpneg_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 4);
}

/** out = e^x − 1. */
export function vexpm1_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 1);
}

/** out = log x. */
export function vlog_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 2);
}

/** out = log(1 + x), x ∈ [0, 1]. */
export function vlog1p_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 3);
}
