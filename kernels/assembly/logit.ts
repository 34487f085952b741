// The Bernoulli/binomial logit on two lanes of η: the SIMD build's hot per-observation work,
// shared by the ODE integrand (marginal/integrand.ts) and the Gauss–Hermite kernels
// (quadrature.ts). The formulas of marginal/obs.ts, lane-wise, from e = e^{−|η|} (never
// overflows):
//   core  = y·η − m·(max(η, 0) + log1p(e))
//   σ(|η|) = 1/(1 + e),  σ(−|η|) = e·σ(|η|)
//   score = y·σ(−η) − (m − y)·σ(η)        (not y − m·σ(η), which cancels for y = m)
//   hess  = −m·σ(η)·σ(−η)
import { vexpNeg, vlog1p } from './vmath';

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
