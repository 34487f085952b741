// Step-size control for the embedded pair: the WASM twin of kernels/reference/marginal/controller.ts
// (same constants, same operations). See the reference for the rationale of each piece.
export const SAFETY: f64 = 0.9;
export const FAC_MIN: f64 = 0.2;
export const FAC_MAX: f64 = 5.0;
/** The step's |h|·max|kᵢ| bound: see `stabilityNorm`. */
export const STABILITY: f64 = 3.0;
export const INV_STABILITY: f64 = 1.0 / STABILITY;

/** The standard mixed norm, for a solution component measured on its own scale (the adjoint α). */
export function errorNorm(err: f64, y0: f64, y1: f64, rtol: f64, atol: f64): f64 {
  return Math.abs(err) / (atol + rtol * Math.max(Math.abs(y0), Math.abs(y1)));
}

/** The forward solve's u is a log: its tolerance is atol + rtol whatever its size. */
export function logErrorNorm(err: f64, rtol: f64, atol: f64): f64 {
  return Math.abs(err) * (1.0 / (atol + rtol));
}

/** min(1, e^{y1 − yRef}): the local error's influence on u(b). */
export function influence(y1: f64, yRef: f64): f64 {
  return y1 >= yRef ? 1.0 : Math.exp(y1 - yRef);
}

/** |h|·max|kᵢ|·(1/STABILITY) over the seven stage slopes at byte pointer k. */
export function stabilityNorm(h: f64, k: usize): f64 {
  let m: f64 = 0;
  for (let i = 0; i < 7; i++) m = Math.max(m, Math.abs(load<f64>(k + (<usize>i << 3))));
  return Math.abs(h) * m * INV_STABILITY;
}

/** The factor to scale h by for the stability bound alone (linear in h, so straight to it). */
export function stabilityFactor(stab: f64): f64 {
  return stab == 0 ? FAC_MAX : Math.min(FAC_MAX, SAFETY / stab);
}

/** The factor to scale h by, given the error norm (≤ 1 accepts) and whether the last step was rejected. */
export function stepFactor(norm: f64, lastRejected: bool): f64 {
  if (norm == 0) return lastRejected ? 1.0 : FAC_MAX;
  const f = Math.min(FAC_MAX, Math.max(FAC_MIN, SAFETY * Math.exp(-0.2 * Math.log(norm))));
  return lastRejected ? Math.min(1.0, f) : f;
}
