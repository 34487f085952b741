// The Bernoulli/binomial logit on two lanes of η: the SIMD build's hot per-observation work,
// shared by the ODE integrand (marginal/integrand.ts) and the Gauss–Hermite kernels
// (quadrature.ts). The formulas of marginal/obs.ts, lane-wise, from e = e^{−|η|} (never
// overflows):
//   core  = y·η − m·(max(η, 0) + log1p(e))
//   σ(|η|) = 1/(1 + e),  σ(−|η|) = e·σ(|η|)
//   score = y·σ(−η) − (m − y)·σ(η)        (not y − m·σ(η), which cancels for y = m)
//   hess  = −m·σ(η)·σ(−η)
// A sum of Bernoulli cores (m = 1) needs no log1p per observation: Σ_j log1p(e_j) =
// log Π_j (1 + e_j), each factor in [1, 2], so one log per PRODUCT_BLOCK observations replaces
// a log1p each. Its error is a rounding per factor and per product, ≤ 2.2e−16 relative each:
// ≤ 4.4e−16·n absolute in the sum, the order of the sum's own rounding (|terms| up to ~|η|).
// The product of PRODUCT_BLOCK / 2 factors on a lane is < 2^512: far from overflow.
import { vexpNeg, vlog, vlog1p } from './vmath';

/** Observations per product in the Bernoulli core sums (an even number). */
export const PRODUCT_BLOCK: i32 = 1024;

/** e^{−|η|} on both lanes. */
// @ts-ignore: decorator
@inline
export function expNegAbs(eta: v128): v128 {
  return vexpNeg(f64x2.neg(f64x2.abs(eta)));
}

// @ts-ignore: decorator
@inline
export function logitCore(eta: v128, y: v128, m: v128, e: v128): v128 {
  // pmax (one instruction) for max: equal here, NaN η included (NaN < 0 is false: η).
  const sp = f64x2.add(f64x2.pmax(eta, f64x2.splat(0)), vlog1p(e));
  return f64x2.sub(f64x2.mul(y, eta), f64x2.mul(m, sp));
}

/** σ(|η|) = 1/(1 + e). */
// @ts-ignore: decorator
@inline
export function sigmaAbs(e: v128): v128 {
  const one = f64x2.splat(1);
  return f64x2.div(one, f64x2.add(one, e));
}

/** The score, given e and σ(|η|). */
// @ts-ignore: decorator
@inline
export function logitScore(eta: v128, y: v128, m: v128, e: v128, big: v128): v128 {
  const small = f64x2.mul(e, big);
  const pos = f64x2.ge(eta, f64x2.splat(0));
  return f64x2.sub(f64x2.mul(y, v128.bitselect(small, big, pos)), f64x2.mul(f64x2.sub(m, y), v128.bitselect(big, small, pos)));
}

/** −hess = m·σ(η)·σ(−η), given e and σ(|η|). */
// @ts-ignore: decorator
@inline
export function logitNegHess(m: v128, e: v128, big: v128): v128 {
  return f64x2.mul(m, f64x2.mul(big, f64x2.mul(e, big)));
}

/** The Bernoulli core without its log1p term: y·η − max(η, 0) (m = 1). */
// @ts-ignore: decorator
@inline
export function bernoulliLinear(eta: v128, y: v128): v128 {
  return f64x2.sub(f64x2.mul(y, eta), f64x2.pmax(eta, f64x2.splat(0)));
}

/** prod·(1 + e): one factor of Π(1 + e^{−|η|}) per lane. */
// @ts-ignore: decorator
@inline
export function productStep(prod: v128, e: v128): v128 {
  return f64x2.mul(prod, f64x2.add(f64x2.splat(1), e));
}

/** log of a block's product, both lanes summed. */
// @ts-ignore: decorator
@inline
export function productLog(prod: v128): f64 {
  const l = vlog(prod);
  return f64x2.extract_lane(l, 0) + f64x2.extract_lane(l, 1);
}

// A product of unbounded factors ≥ 1 kept as a mantissa in [1, 2) and a binary exponent, both
// per lane: after p = mantissa·factor, productMantissa(p) is the new mantissa and
// productExponent(p) (i64 lanes) what to add to the exponent. p must be normal: a factor
// below 2^1022 keeps it so.

// @ts-ignore: decorator
@inline
export function productMantissa(p: v128): v128 {
  return v128.or(v128.and(p, i64x2.splat(0x000fffffffffffff)), i64x2.splat(0x3ff0000000000000));
}

// @ts-ignore: decorator
@inline
export function productExponent(p: v128): v128 {
  return i64x2.sub(i64x2.shr_u(p, 52), i64x2.splat(1023));
}
