// Reductions: sums and stable log-sum-exp, over a whole array or per row of an M×N matrix.
// Sums in the SIMD build keep four partial sums, so they differ from a sequential sum by
// rounding only (bounded by n·ε·Σ|x|).
import { add_f64, fill_f64 } from './elementwise';

export function sum_f64(n: i32, x: usize): f64 {
  let i = 0;
  let s = 0.0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 3;
      a0 = f64x2.add(a0, v128.load(x + o));
      a1 = f64x2.add(a1, v128.load(x + o, 16));
    }
    const a = f64x2.add(a0, a1);
    s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  }
  for (; i < n; i++) s += load<f64>(x + (<usize>i << 3));
  return s;
}

/** out[j] = Σ_i x[i,j]: the column sums (a bias gradient). */
export function sum_rows_f64(M: i32, N: i32, x: usize, out: usize): void {
  const ld = <usize>N << 3;
  fill_f64(N, 0, out);
  for (let r = 0; r < M; r++) add_f64(N, out, x + <usize>r * ld, out);
}

/** out[i] = Σ_j x[i,j]. */
export function sum_cols_f64(M: i32, N: i32, x: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) store<f64>(out + (<usize>r << 3), sum_f64(N, x + <usize>r * ld));
}

/** log Σ exp x, shifted by the max; −∞ for an empty or all −∞ input, NaN if any NaN. */
export function lse_f64(n: i32, x: usize): f64 {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    if (v != v) return v;
    if (v > m) m = v;
  }
  if (m == -Infinity || m == Infinity) return m;
  let s = 0.0;
  for (let i = 0; i < n; i++) s += Math.exp(load<f64>(x + (<usize>i << 3)) - m);
  return m + Math.log(s);
}

export function lse_rows_f64(M: i32, N: i32, x: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) store<f64>(out + (<usize>r << 3), lse_f64(N, x + <usize>r * ld));
}

/** out = g · exp(x − ans): the softmax weights times the upstream gradient. */
export function lse_vjp_f64(n: i32, x: usize, ans: f64, g: f64, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, g * Math.exp(load<f64>(x + o) - ans));
  }
}

export function lse_rows_vjp_f64(M: i32, N: i32, x: usize, ans: usize, g: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) {
    const o = <usize>r << 3;
    lse_vjp_f64(N, x + <usize>r * ld, load<f64>(ans + o), load<f64>(g + o), out + <usize>r * ld);
  }
}
