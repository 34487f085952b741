// Elementwise arithmetic on f64 arrays: `(n, a, b, out)` with byte pointers, out may alias an
// input exactly (same pointer) but must not partially overlap one. SIMD builds process two
// lanes per step and finish an odd tail with one scalar.

export function add_f64(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.add(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(a + o) + load<f64>(b + o));
  }
}

export function sub_f64(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.sub(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(a + o) - load<f64>(b + o));
  }
}

export function mul_f64(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.mul(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(a + o) * load<f64>(b + o));
  }
}

export function div_f64(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.div(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(a + o) / load<f64>(b + o));
  }
}

/** out = alpha·x + beta: scaling, shifting and negation in one kernel. */
export function affine_f64(n: i32, x: usize, alpha: f64, beta: f64, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f64x2.splat(alpha);
    const vb = f64x2.splat(beta);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.add(f64x2.mul(v128.load(x + o), va), vb));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(x + o) * alpha + beta);
  }
}

/** out = s / x. */
export function rdiv_f64(n: i32, s: f64, x: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vs = f64x2.splat(s);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, f64x2.div(vs, v128.load(x + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, s / load<f64>(x + o));
  }
}

/** out[i] = v. */
export function fill_f64(n: i32, v: f64, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vv = f64x2.splat(v);
    for (; i + 2 <= n; i += 2) v128.store(out + (<usize>i << 3), vv);
  }
  for (; i < n; i++) store<f64>(out + (<usize>i << 3), v);
}

export function exp_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, Math.exp(load<f64>(x + o)));
  }
}

export function log_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, Math.log(load<f64>(x + o)));
  }
}

export function log1p_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, Math.log1p(load<f64>(x + o)));
  }
}

/** out[i,j] = x[i,j] + bias[j] for x of M rows × N columns. */
export function bias_add_f64(M: i32, N: i32, x: usize, bias: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) add_f64(N, x + <usize>r * ld, bias, out + <usize>r * ld);
}

/** out[i,j] = v[j]: the transpose of a column sum. */
export function broadcast_rows_f64(M: i32, N: i32, v: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) memory.copy(out + <usize>r * ld, v, ld);
}

/** out[i,j] = v[i]: the transpose of a row sum. */
export function broadcast_cols_f64(M: i32, N: i32, v: usize, out: usize): void {
  const ld = <usize>N << 3;
  for (let r = 0; r < M; r++) fill_f64(N, load<f64>(v + (<usize>r << 3)), out + <usize>r * ld);
}
