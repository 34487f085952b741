// Step-size control for the embedded pair (Hairer, Nørsett & Wanner I, §II.4): the error is
// measured in the mixed norm |err| / (atol + rtol·max(|y₀|, |y₁|)) and the next step is
// h·min(FAC_MAX, max(FAC_MIN, SAFETY·norm^{−1/5})); after a rejection the step may not grow
// (avoids rejection cycles). The initial step is the caller's: for the marginal it is a fraction
// of the posterior scale σ̂, which is known before the solve.
export const SAFETY = 0.9;
export const FAC_MIN = 0.2;
export const FAC_MAX = 5;

/** The standard mixed norm, for a solution component measured on its own scale (the adjoint α). */
export function errorNorm(err: number, y0: number, y1: number, rtol: number, atol: number): number {
  return Math.abs(err) / (atol + rtol * Math.max(Math.abs(y0), Math.abs(y1)));
}

/**
 * The forward solve's u is a log: an error δ in u is a relative error δ of the marginal
 * likelihood whatever u's size, and u's size is arbitrary anyway (it moves with the shift m
 * and with σ̂). So its tolerance is atol + rtol, rtol being the relative accuracy asked of e^L;
 * measuring against |u| instead made the achieved accuracy depend on log σ̂.
 */
export function logErrorNorm(err: number, rtol: number, atol: number): number {
  return Math.abs(err) * (1 / (atol + rtol));
}

/**
 * The forward marginal solve weights each local error by its influence on the answer: an
 * error δ in u at t reaches u(b) multiplied by ∂u(b)/∂u(t) = α(t) = e^{u(t)−u(b)} (the
 * closed-form adjoint, docs/marginal.md §6), which is e^{−T²/2} in the far left tail and 1 past the
 * mode. Weighting by min(1, e^{u − u_ref}), with u_ref = log(√(2π)·σ̂) the Laplace estimate
 * of u(b), spends steps only where the integral is made. Where the weight is tiny the step
 * is bounded by `stabilityNorm` instead: beyond the explicit method's stability limit errors
 * grow from step to step, and a weight of e^{−30} would let them through.
 */
export function influence(y1: number, yRef: number): number {
  return y1 >= yRef ? 1 : Math.exp(y1 - yRef);
}

/**
 * Dormand–Prince 5(4) is stable for h·λ ≥ −3.3 on the real axis (Hairer & Wanner II, §IV.2);
 * the forward ODE's ∂f/∂u = −u' is read off the stage slopes, so h·max|kᵢ| ≤ STABILITY keeps
 * every step inside with a margin. Together with `influence` this crosses the left tail in
 * about Δu/3 steps (measured on a Bernoulli group of 100 at rtol 1e−8: 510 ℓ evaluations
 * against 765 with the weight clamped at 10⁻³, the error unchanged at 8e−10).
 */
export const STABILITY = 3;
/** Its reciprocal: the bound is a product, as every per-step quotient of the solver is (the
 * two-lane loop hoists the reciprocals, and the twins must compute the same values). */
export const INV_STABILITY = 1 / STABILITY;

export function stabilityNorm(h: number, k: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < 7; i++) m = Math.max(m, Math.abs(k[i]));
  return Math.abs(h) * m * INV_STABILITY;
}

/**
 * The factor to scale h by for the stability bound alone. The bound is linear in h, so the step
 * goes straight to it (with SAFETY); passed through `stepFactor`'s fifth root instead, h grew
 * about 1 % per step in the left tail, which held steps at h·|u'| ≈ 1.6 and spent half a
 * Gaussian group's steps crossing it (112 steps against 60 at rtol 1e−8).
 */
export function stabilityFactor(stab: number): number {
  return stab === 0 ? FAC_MAX : Math.min(FAC_MAX, SAFETY / stab);
}

/** The factor to scale h by, given the error norm (≤ 1 accepts) and whether the last step was rejected. */
export function stepFactor(norm: number, lastRejected: boolean): number {
  if (norm === 0) return lastRejected ? 1 : FAC_MAX;
  const f = Math.min(FAC_MAX, Math.max(FAC_MIN, SAFETY * Math.exp(-0.2 * Math.log(norm))));
  return lastRejected ? Math.min(1, f) : f;
}
