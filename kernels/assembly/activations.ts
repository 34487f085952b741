// Activations and their vector-Jacobian products, `(n, x, out)` and `(n, x|ans, g, out)`.
// Each VJP takes whichever of input or output makes it cheapest: tanh and sigmoid reuse the
// forward answer, relu/softplus/gelu need the input.
import { erfc, log1pexp } from './special';

const INV_SQRT2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;

/** relu(x) = x if x > 0 else 0 (NaN maps to 0, as the comparison does). */
export function relu_f64(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f64x2.splat(0);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      const v = v128.load(x + o);
      v128.store(out + o, v128.and(v, f64x2.gt(v, zero)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    const v = load<f64>(x + o);
    store<f64>(out + o, v > 0 ? v : 0);
  }
}

/** out = g · 1{x > 0}. */
export function relu_vjp_f64(n: i32, x: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f64x2.splat(0);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      v128.store(out + o, v128.and(v128.load(g + o), f64x2.gt(v128.load(x + o), zero)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(x + o) > 0 ? load<f64>(g + o) : 0);
  }
}

export function tanh_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, Math.tanh(load<f64>(x + o)));
  }
}

/** out = g · (1 − ans²). */
export function tanh_vjp_f64(n: i32, ans: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f64x2.splat(1);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      const a = v128.load(ans + o);
      v128.store(out + o, f64x2.mul(v128.load(g + o), f64x2.sub(one, f64x2.mul(a, a))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    const a = load<f64>(ans + o);
    store<f64>(out + o, load<f64>(g + o) * (1 - a * a));
  }
}

// σ(x) without overflow: e^x is only formed for x < 0.
@inline
export function sigmoid(x: f64): f64 {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export function sigmoid_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, sigmoid(load<f64>(x + o)));
  }
}

/** out = g · ans · (1 − ans). */
export function sigmoid_vjp_f64(n: i32, ans: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f64x2.splat(1);
    for (; i + 2 <= n; i += 2) {
      const o = <usize>i << 3;
      const a = v128.load(ans + o);
      v128.store(out + o, f64x2.mul(f64x2.mul(v128.load(g + o), a), f64x2.sub(one, a)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    const a = load<f64>(ans + o);
    store<f64>(out + o, load<f64>(g + o) * a * (1 - a));
  }
}

/** softplus(x) = log(1 + e^x), stably. */
export function softplus_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, log1pexp(load<f64>(x + o)));
  }
}

/** out = g · σ(x). */
export function softplus_vjp_f64(n: i32, x: usize, g: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    store<f64>(out + o, load<f64>(g + o) * sigmoid(load<f64>(x + o)));
  }
}

/** The exact GELU, x·Φ(x), with Φ(x) = erfc(−x/√2)/2 (accurate in the left tail). */
export function gelu_f64(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    const v = load<f64>(x + o);
    store<f64>(out + o, v * 0.5 * erfc(-v * INV_SQRT2));
  }
}

/** out = g · (Φ(x) + x·φ(x)). */
export function gelu_vjp_f64(n: i32, x: usize, g: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    const v = load<f64>(x + o);
    const d = 0.5 * erfc(-v * INV_SQRT2) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
    store<f64>(out + o, load<f64>(g + o) * d);
  }
}
