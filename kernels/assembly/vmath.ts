// exp, expm1, log and log1p on two f64 lanes, for the hot loops: the Bernoulli/binomial
// logit per observation, and the two-group ODE integrator (marginal/lanes.ts). WASM SIMD128
// has no transcendental instructions, and the scalar NativeMath calls cost ≈4× a vector
// evaluation here.
//
// vexpNeg (x ≤ 0): Cody–Waite reduction x = k·ln2 + r, |r| ≤ ln2/2, the Taylor polynomial of
// e^r to degree 13 (truncation ≤ r¹⁴/14! ≈ 4e−18), scaled by 2^k built in the exponent bits.
// Lanes below −708 (where 2^k would be subnormal) return 0: every caller adds the result to 1
// or to a sum of order 1, where it vanishes anyway.
// vexp (any x): the same, and +∞ above 709.43, where k would pass 1023 (the true value is
// finite up to 709.78; nothing here comes near either).
// vexpm1: e^r − 1 by the same polynomial without its leading 1, so for |x| ≤ ln2/2 (k = 0)
// it is the series itself and keeps full relative accuracy near 0; else 2^k·(e^r − 1) + (2^k − 1).
// vlog1p (for e ∈ [0, 1]): u = 1 + e, log u = k·ln2 + 2·atanh(s), s = (m−1)/(m+1) with
// m ∈ [√½, √2] (|s| ≤ 0.1716, series to s²¹), plus the rounding correction (e − (u−1))/u.
// vlog (x > 0, with 0 → −∞, +∞ → +∞, negative and NaN → NaN): the same series on x's own
// mantissa, subnormals scaled by 2⁵⁴ first.
// All are within a few ulp of the correctly rounded value (test/kernels/vmath.test.ts).
// Constants live in a static table and are loaded with v128.load64_splat: a v128.const
// inside a loop is rebuilt on every iteration by V8.

const C = memory.data<f64>([
  1.4426950408889634, // 0  log2(e)
  6.93147180369123816490e-01, // 1  ln2 hi (Cody–Waite, fdlibm)
  1.90821492927058770002e-10, // 2  ln2 lo
  -708.0, // 3  smallest x with a normal 2^k
  1.0, // 4
  0.5, // 5
  1.0 / 6.0, // 6
  1.0 / 24.0, // 7
  1.0 / 120.0, // 8
  1.0 / 720.0, // 9
  1.0 / 5040.0, // 10
  1.0 / 40320.0, // 11
  1.0 / 362880.0, // 12
  1.0 / 3628800.0, // 13
  1.0 / 39916800.0, // 14
  1.0 / 479001600.0, // 15
  1.0 / 6227020800.0, // 16  1/13!
  1.4142135623730951, // 17 √2
  0.6931471805599453, // 18 ln2
  2.0, // 19
  1.0 / 3.0, // 20
  1.0 / 5.0, // 21
  1.0 / 7.0, // 22
  1.0 / 9.0, // 23
  1.0 / 11.0, // 24
  1.0 / 13.0, // 25
  1.0 / 15.0, // 26
  1.0 / 17.0, // 27
  1.0 / 19.0, // 28
  1.0 / 21.0, // 29
  0.0, // 30
  709.43, // 31 largest x with k ≤ 1023
  Infinity, // 32
  -1.0, // 33
  2.2250738585072014e-308, // 34 smallest normal
  18014398509481984.0, // 35 2^54
  54.0, // 36
  4503599627370496.0, // 37 2^52
  4503599627370496.0 + 1023.0, // 38 2^52 + 1023
  NaN, // 39
  -Infinity, // 40
  1.90821492927058770002e-10, // 41 ln2 lo (= 2), for log's k·ln2
]);

// @ts-ignore: decorator
@inline
function k(i: i32): v128 {
  return v128.load64_splat(C + (<usize>i << 3));
}

// Σ_{1≤i≤13} rⁱ/i! (lead 0) or 1 + that (lead 1) by Estrin's scheme: four levels of
// independent mul+add instead of a 13-deep Horner chain (its latency, not its flops, bounded
// the loops).
// @ts-ignore: decorator
@inline
function expPoly(r: v128, lead: v128): v128 {
  const r2 = f64x2.mul(r, r);
  const r4 = f64x2.mul(r2, r2);
  const r8 = f64x2.mul(r4, r4);
  const q0 = f64x2.add(lead, r);
  const q1 = f64x2.add(k(5), f64x2.mul(k(6), r));
  const q2 = f64x2.add(k(7), f64x2.mul(k(8), r));
  const q3 = f64x2.add(k(9), f64x2.mul(k(10), r));
  const q4 = f64x2.add(k(11), f64x2.mul(k(12), r));
  const q5 = f64x2.add(k(13), f64x2.mul(k(14), r));
  const q6 = f64x2.add(k(15), f64x2.mul(k(16), r));
  const p0 = f64x2.add(q0, f64x2.mul(q1, r2));
  const p1 = f64x2.add(q2, f64x2.mul(q3, r2));
  const p2 = f64x2.add(q4, f64x2.mul(q5, r2));
  return f64x2.add(f64x2.add(p0, f64x2.mul(p1, r4)), f64x2.mul(f64x2.add(p2, f64x2.mul(q6, r4)), r8));
}

// k = nearest(x/ln2) and r = x − k·ln2 (Cody–Waite), then 2^k from k's bits: (k + 1023) << 52.
// @ts-ignore: decorator
@inline
function expK(x: v128): v128 {
  return f64x2.nearest(f64x2.mul(x, k(0)));
}

// @ts-ignore: decorator
@inline
function expR(x: v128, kf: v128): v128 {
  return f64x2.sub(f64x2.sub(x, f64x2.mul(kf, k(1))), f64x2.mul(kf, k(2)));
}

// @ts-ignore: decorator
@inline
function pow2(kf: v128): v128 {
  const ki = i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(kf));
  return i64x2.shl(i64x2.add(ki, i64x2.splat(1023)), 52);
}

/** e^x for x ≤ 0 on both lanes (0 below −708). */
// @ts-ignore: decorator
@inline
export function vexpNeg(x: v128): v128 {
  const kf = expK(x);
  const y = f64x2.mul(expPoly(expR(x, kf), k(4)), pow2(kf));
  return v128.andnot(y, f64x2.lt(x, k(3)));
}

/** e^x on both lanes (0 below −708, +∞ above 709.43). */
// @ts-ignore: decorator
@inline
export function vexp(x: v128): v128 {
  return v128.bitselect(k(32), vexpNeg(x), f64x2.gt(x, k(31)));
}

/** e^x − 1 on both lanes (−1 below −708, +∞ above 709.43). */
// @ts-ignore: decorator
@inline
export function vexpm1(x: v128): v128 {
  const kf = expK(x);
  const q = expPoly(expR(x, kf), k(30));
  const sc = pow2(kf);
  const y = f64x2.add(f64x2.sub(sc, k(4)), f64x2.mul(sc, q));
  return v128.bitselect(k(32), v128.bitselect(k(33), y, f64x2.lt(x, k(3))), f64x2.gt(x, k(31)));
}

// atanh(s)/s = 1 + z/3 + … + z¹⁰/21, z = s², by Estrin's scheme.
// @ts-ignore: decorator
@inline
function atanhPoly(z: v128): v128 {
  const one = k(4);
  const z2 = f64x2.mul(z, z);
  const z4 = f64x2.mul(z2, z2);
  const z8 = f64x2.mul(z4, z4);
  const a0 = f64x2.add(one, f64x2.mul(k(20), z));
  const a1 = f64x2.add(k(21), f64x2.mul(k(22), z));
  const a2 = f64x2.add(k(23), f64x2.mul(k(24), z));
  const a3 = f64x2.add(k(25), f64x2.mul(k(26), z));
  const a4 = f64x2.add(k(27), f64x2.mul(k(28), z));
  const b0 = f64x2.add(a0, f64x2.mul(a1, z2));
  const b1 = f64x2.add(a2, f64x2.mul(a3, z2));
  const b2 = f64x2.add(a4, f64x2.mul(k(29), z2));
  return f64x2.add(f64x2.add(b0, f64x2.mul(b1, z4)), f64x2.mul(b2, z8));
}

/** log x on both lanes (x > 0; 0 → −∞, +∞ → +∞, x < 0 or NaN → NaN). */
// @ts-ignore: decorator
@inline
export function vlog(x: v128): v128 {
  const one = k(4);
  const tiny = f64x2.lt(x, k(34));
  const xs = v128.bitselect(f64x2.mul(x, k(35)), x, tiny);
  // x = 2^e·m, m ∈ [1, 2): the exponent field as a float by the 2⁵² trick, the mantissa with
  // the exponent of 1.
  const bits = xs;
  const ebits = v128.or(i64x2.shr_u(bits, 52), v128.load64_splat(C + (37 << 3)));
  let ef = f64x2.sub(f64x2.sub(ebits, k(38)), v128.and(k(36), tiny));
  let m = v128.or(v128.and(bits, i64x2.splat(0x000fffffffffffff)), one);
  const big = f64x2.gt(m, k(17));
  m = v128.bitselect(f64x2.mul(m, k(5)), m, big);
  ef = f64x2.add(ef, v128.and(one, big));
  const f = f64x2.sub(m, one);
  const s = f64x2.div(f, f64x2.add(k(19), f));
  const logm = f64x2.mul(f64x2.mul(k(19), s), atanhPoly(f64x2.mul(s, s)));
  const y = f64x2.add(f64x2.mul(ef, k(1)), f64x2.add(logm, f64x2.mul(ef, k(41))));
  // Ends: 0 → −∞, +∞ → +∞, negative or NaN → NaN.
  const e1 = v128.bitselect(k(40), y, f64x2.eq(x, k(30)));
  const e2 = v128.bitselect(k(32), e1, f64x2.eq(x, k(32)));
  return v128.bitselect(e2, k(39), f64x2.ge(x, k(30)));
}

/** log(1 + e) for e ∈ [0, 1] on both lanes. */
// @ts-ignore: decorator
@inline
export function vlog1p(e: v128): v128 {
  const one = k(4);
  const u = f64x2.add(one, e);
  const c = f64x2.div(f64x2.sub(e, f64x2.sub(u, one)), u);
  // u ∈ [1, 2]: halve where u > √2 so m ∈ [√½, √2].
  const big = f64x2.gt(u, k(17));
  const m = v128.bitselect(f64x2.mul(u, k(5)), u, big);
  const kl = v128.and(k(18), big);
  const f = f64x2.sub(m, one);
  const s = f64x2.div(f, f64x2.add(k(19), f));
  const logm = f64x2.mul(f64x2.mul(k(19), s), atanhPoly(f64x2.mul(s, s)));
  return f64x2.add(f64x2.add(kl, logm), c);
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
      v128.store(out + (<usize>i << 3), fn == 0 ? vexp(v) : fn == 1 ? vexpm1(v) : fn == 2 ? vlog(v) : vlog1p(v));
    }
  }
  for (; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    store<f64>(out + (<usize>i << 3), fn == 0 ? Math.exp(v) : fn == 1 ? Math.expm1(v) : fn == 2 ? Math.log(v) : Math.log1p(v));
  }
}

/** out = e^x. */
export function vexp_f64(n: i32, x: usize, out: usize): void {
  lanes(n, x, out, 0);
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
