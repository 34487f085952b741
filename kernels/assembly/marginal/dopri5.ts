// The Dormand–Prince 5(4) pair as static tables, one step of it for the scalar ODEs of the
// marginal likelihood, and its dense output: the WASM twin of kernels/reference/marginal/dopri5.ts
// (same coefficients, same loop and summation order). The tables are the reference's values
// (its fractions evaluated in f64), written out exactly: shortest round-trip decimals.
//   forward   u' = exp(e(t) − u)        (combine: exp(ev − y))
//   adjoint   α' = α · exp(w(t))        (combine: y · exp(ev))
// No allocation: stage slopes and stage values live in caller-provided 7-slot f64 buffers.

/** Nodes cᵢ. */
export const C_TBL = memory.data<f64>([0.0, 0.2, 0.3, 0.8, 0.8888888888888888, 1.0, 1.0]);
/** Coupling coefficients, row-major 7×7: A(s, j) at s·7 + j, zero for j ≥ s. */
export const A_TBL = memory.data<f64>([
  0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
  0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
  0.075, 0.225, 0.0, 0.0, 0.0, 0.0, 0.0,
  0.9777777777777777, -3.7333333333333334, 3.5555555555555554, 0.0, 0.0, 0.0, 0.0,
  2.9525986892242035, -11.595793324188385, 9.822892851699436, -0.2908093278463649, 0.0, 0.0, 0.0,
  2.8462752525252526, -10.757575757575758, 8.906422717743473, 0.2784090909090909, -0.2735313036020583, 0.0, 0.0,
  0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096, 0.0,
]);
/** Fifth-order weights (= the last row of A: first same as last). */
export const B_TBL = memory.data<f64>([
  0.09114583333333333, 0.0, 0.44923629829290207, 0.6510416666666666, -0.322376179245283, 0.13095238095238096, 0.0,
]);
/** Error weights B − B* (computed in f64 exactly as the reference does). */
export const E_TBL = memory.data<f64>([
  0.0012326388888888873, 0.0, -0.004252770290506136, 0.036979166666666674, -0.05086379716981132, 0.04190476190476192, -0.025,
]);
/** Dense output (Hairer's contd5) coefficients. */
export const D_TBL = memory.data<f64>([
  -1.1270175653862835, 0.0, 2.675424484351598, -5.685526961588504, 3.5219323679207912, -1.7672812570757455, 2.382468931778144,
]);

// @ts-ignore: decorator
@inline
export function tC(i: i32): f64 {
  return load<f64>(C_TBL + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
export function tB(i: i32): f64 {
  return load<f64>(B_TBL + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline
export function tA(s: i32, j: i32): f64 {
  return load<f64>(A_TBL + (<usize>(s * 7 + j) << 3));
}

/** Local error estimate h·Σ eᵢkᵢ of the last `dopri5Step`. */
export let stepErr: f64 = 0;

/**
 * One step from y with slope k[0] already set; `ev[i]` is the time-only part at t + Cᵢ·h
 * (ev[5] = ev[6]). Writes the slopes into k (k[6]: the slope at t + h, the next step's k[0]),
 * the error estimate into `stepErr`, and returns the fifth-order solution at t + h.
 * `linear` selects the adjoint combine y·exp(ev), else the forward exp(ev − y).
 */
export function dopri5Step(y: f64, h: f64, ev: usize, k: usize, linear: bool): f64 {
  for (let s = 1; s < 7; s++) {
    let acc: f64 = 0.0;
    for (let j = 0; j < s; j++) acc += tA(s, j) * load<f64>(k + (<usize>j << 3));
    const Ys = y + h * acc;
    const e = load<f64>(ev + (<usize>s << 3));
    store<f64>(k + (<usize>s << 3), linear ? Ys * Math.exp(e) : Math.exp(e - Ys));
  }
  let y1: f64 = 0.0, err: f64 = 0.0;
  for (let s = 0; s < 7; s++) {
    const ks = load<f64>(k + (<usize>s << 3));
    y1 += tB(s) * ks;
    err += load<f64>(E_TBL + (<usize>s << 3)) * ks;
  }
  stepErr = h * err;
  return y + h * y1;
}

/** Dense output at θ ∈ [0, 1] of a step from y0 to y1 with slopes k (order 4). */
export function dopri5Dense(y0: f64, y1: f64, h: f64, k: usize, theta: f64): f64 {
  const ydiff = y1 - y0;
  const bspl = h * load<f64>(k) - ydiff;
  const r4 = ydiff - h * load<f64>(k, 48) - bspl;
  let r5: f64 = 0.0;
  for (let s = 0; s < 7; s++) r5 += load<f64>(D_TBL + (<usize>s << 3)) * load<f64>(k + (<usize>s << 3));
  r5 *= h;
  const t1 = 1.0 - theta;
  return y0 + theta * (ydiff + t1 * (bspl + theta * (r4 + t1 * r5)));
}
