// The f32 pieces of a linear layer around the matmuls of matmul32.ts, and the conversions
// between the f64 world (parameters, data, the objective) and the f32 network.
//
//   cvt_f64_f32        f64 → f32, round to nearest even (the one rounding of each input)
//   cvt_f32_f64        f32 → f64, exact
//   bias_add_f32       out[i,j] = x[i,j] + b[j]                 (f32 out)
//   bias_relu_f32      out[i,j] = max(x[i,j] + b[j], 0)         (f32 out)
//   sum_rows_f32_f64   out[j] = Σ_i x[i,j]: f32 in, f64 sum out (a bias gradient)
//
// Pointers are byte offsets; an f32 array at p is f32[p >>> 2], an f64 one f64[p >>> 3].
// `out` may alias `x` (elementwise, each element read before it is written); in sum_rows it
// must not, nor in the conversions (they change the element size). Every f32 result is the correctly rounded f32 of its f64 formula, in every build.
//
// bias_relu_f32 is fused because the ReLU layer is the hot one: the unfused pair reads and
// writes the batch × width activation twice, the fused one once; the ReLU's VJP needs only
// its answer (answer > 0 exactly where input > 0), so the pre-activation is never kept.
//
// sum_rows_f32_f64 sums in f64: the bias gradient of a batch of B rows in f32 would carry a
// relative error up to γ_B ≈ B·2⁻²⁴ (5·10⁻⁵ at B = 800) for no speed gain — the sum is a
// sliver of the backward pass next to its matmuls — whereas widening is exact.

export function cvt_f64_f32(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const lo = f32x4.demote_f64x2_zero(v128.load(x + (<usize>i << 3)));
      const hi = f32x4.demote_f64x2_zero(v128.load(x + (<usize>i << 3), 16));
      v128.store(out + (<usize>i << 2), v128.shuffle<f32>(lo, hi, 0, 1, 4, 5));
    }
  }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), <f32>load<f64>(x + (<usize>i << 3)));
}

export function cvt_f32_f64(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      v128.store(out + (<usize>i << 3), f64x2.promote_low_f32x4(v));
      v128.store(out + (<usize>i << 3), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), 16);
    }
  }
  for (; i < n; i++) store<f64>(out + (<usize>i << 3), <f64>load<f32>(x + (<usize>i << 2)));
}

export function bias_add_f32(M: i32, N: i32, x: usize, bias: usize, out: usize): void {
  for (let r = 0; r < M; r++) {
    const o = (<usize>r * N) << 2;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= N; j += 4) {
        const q = <usize>j << 2;
        v128.store(out + o + q, f32x4.add(v128.load(x + o + q), v128.load(bias + q)));
      }
    }
    for (; j < N; j++) {
      const q = <usize>j << 2;
      store<f32>(out + o + q, load<f32>(x + o + q) + load<f32>(bias + q));
    }
  }
}

/** max(x + b, 0); NaN maps to 0 as the comparison does, −0 to +0. */
export function bias_relu_f32(M: i32, N: i32, x: usize, bias: usize, out: usize): void {
  for (let r = 0; r < M; r++) {
    const o = (<usize>r * N) << 2;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      for (; j + 4 <= N; j += 4) {
        const q = <usize>j << 2;
        const v = f32x4.add(v128.load(x + o + q), v128.load(bias + q));
        v128.store(out + o + q, v128.and(v, f32x4.gt(v, zero)));
      }
    }
    for (; j < N; j++) {
      const q = <usize>j << 2;
      const v = load<f32>(x + o + q) + load<f32>(bias + q);
      store<f32>(out + o + q, v > 0 ? v : 0);
    }
  }
}

export function sum_rows_f32_f64(M: i32, N: i32, x: usize, out: usize): void {
  memory.fill(out, 0, <usize>N << 3);
  for (let r = 0; r < M; r++) {
    const o = (<usize>r * N) << 2;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= N; j += 4) {
        const v = v128.load(x + o + (<usize>j << 2));
        const p = out + (<usize>j << 3);
        v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
        v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3))), 16);
      }
    }
    for (; j < N; j++) {
      const p = out + (<usize>j << 3);
      store<f64>(p, load<f64>(p) + <f64>load<f32>(x + o + (<usize>j << 2)));
    }
  }
}
