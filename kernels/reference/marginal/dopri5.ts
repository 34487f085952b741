// The Dormand–Prince 5(4) pair (Dormand & Prince 1980; Hairer, Nørsett & Wanner I, §II.5,
// Table 5.2) as data, and one step of it for the scalar ODEs the marginal likelihood needs.
// Both have a right-hand side whose expensive part depends on t only (the group
// log-integrand ℓ(t) is a sum over observations; u and α enter through one exp):
//   forward   u' = exp(e(t) − u)        e(t) = ℓ(t) − m
//   adjoint   α' = α · w(t)             w(t) = exp(ℓ(t) − m − u(t)) from the dense forward u
// so a step evaluates e(t) at the distinct stage times once, and `combine` turns stage values
// into slopes. Stages 6 and 7 share t + h (and FSAL: stage 7 is the next step's stage 1).

export const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
export const A: readonly (readonly number[])[] = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
/** Fifth-order weights (= the last row of A: first same as last). */
export const B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0];
/** Embedded fourth-order weights. */
export const BSTAR = [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40];
/** Error weights B − B*. */
export const E = B.map((b, i) => b - BSTAR[i]);
/** Dense output (Hairer's contd5): the fourth-order continuous extension's extra coefficients. */
export const D = [
  -12715105075 / 11282082432, 0, 87487479700 / 32700410799, -10690763975 / 1880347072,
  701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423,
];

export type Combine = (stageValue: number, y: number) => number;

export interface StepResult {
  /** Fifth-order solution at t + h. */
  y1: number;
  /** Local error estimate h·Σ eᵢkᵢ. */
  err: number;
}

/**
 * One step from y with slope k[0] = combine(ev[0], y) already set. `ev[i]` is the time-only part
 * at t + Cᵢ·h (ev[5] = ev[6], both at t + h). Writes the stage values into Y and the slopes
 * into k (k[6] is the slope at t + h: the next step's k[0]).
 */
export function dopri5Step(y: number, h: number, ev: ArrayLike<number>, combine: Combine, k: Float64Array, Y: Float64Array): StepResult {
  Y[0] = y;
  for (let s = 1; s < 7; s++) {
    let acc = 0;
    const row = A[s];
    for (let j = 0; j < s; j++) acc += row[j] * k[j];
    Y[s] = y + h * acc;
    k[s] = combine(ev[s], Y[s]);
  }
  let y1 = 0, err = 0;
  for (let s = 0; s < 7; s++) {
    y1 += B[s] * k[s];
    err += E[s] * k[s];
  }
  return { y1: y + h * y1, err: h * err };
}

/** Dense output at θ ∈ [0, 1] of a step from y0 to y1 with slopes k (order 4). */
export function dopri5Dense(y0: number, y1: number, h: number, k: ArrayLike<number>, theta: number): number {
  const ydiff = y1 - y0;
  const bspl = h * k[0] - ydiff;
  const r4 = ydiff - h * k[6] - bspl;
  let r5 = 0;
  for (let s = 0; s < 7; s++) r5 += D[s] * k[s];
  r5 *= h;
  const t1 = 1 - theta;
  return y0 + theta * (ydiff + t1 * (bspl + theta * (r4 + t1 * r5)));
}
