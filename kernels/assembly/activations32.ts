// The activations and their VJPs on f32 arrays, for the mixed-precision MLP: `(n, x, out)` and
// `(n, x|ans, g, out)` as activations.ts. ReLU, the hot one, and the polynomial VJPs of tanh
// and sigmoid run in f32 lanes; the transcendental ones (tanh, sigmoid, softplus, GELU and the
// latter two's VJPs) evaluate activations.ts's f64 formula per element and round once, so each
// of them is the f32 rounding of a result accurate to a few f64 ulps.
// `out` may alias the inputs.
import { sigmoid } from './activations';
import { erfc, log1pexp } from './special';

const INV_SQRT2: f64 = 0.7071067811865476;
const INV_SQRT_2PI: f64 = 0.3989422804014327;

/** relu(x) = x if x > 0 else 0 (NaN and −0 map to +0). */
export function relu_f32(n: i32, x: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const v = v128.load(x + o);
      v128.store(out + o, v128.and(v, f32x4.gt(v, zero)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(out + o, v > 0 ? v : 0);
  }
}

/** out = g · 1{x > 0}; x may be the ReLU's input or its answer (positive at the same places). */
export function relu_vjp_f32(n: i32, x: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, v128.and(v128.load(g + o), f32x4.gt(v128.load(x + o), zero)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) > 0 ? load<f32>(g + o) : 0);
  }
}

export function tanh_f32(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>Math.tanh(<f64>load<f32>(x + o)));
  }
}

/** out = g · (1 − ans²), in f32. */
export function tanh_vjp_f32(n: i32, ans: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const a = v128.load(ans + o);
      v128.store(out + o, f32x4.mul(v128.load(g + o), f32x4.sub(one, f32x4.mul(a, a))));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(ans + o);
    store<f32>(out + o, load<f32>(g + o) * (<f32>1 - a * a));
  }
}

export function sigmoid_f32(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>sigmoid(<f64>load<f32>(x + o)));
  }
}

/** out = g · ans · (1 − ans), in f32, multiplied left to right. */
export function sigmoid_vjp_f32(n: i32, ans: usize, g: usize, out: usize): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const a = v128.load(ans + o);
      v128.store(out + o, f32x4.mul(f32x4.mul(v128.load(g + o), a), f32x4.sub(one, a)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const a = load<f32>(ans + o);
    store<f32>(out + o, load<f32>(g + o) * a * (<f32>1 - a));
  }
}

export function softplus_f32(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>log1pexp(<f64>load<f32>(x + o)));
  }
}

/** out = g · σ(x), the product in f64, rounded once. */
export function softplus_vjp_f32(n: i32, x: usize, g: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>(<f64>load<f32>(g + o) * sigmoid(<f64>load<f32>(x + o))));
  }
}

/** x·Φ(x) as gelu_f64, rounded once. */
export function gelu_f32(n: i32, x: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = <f64>load<f32>(x + o);
    store<f32>(out + o, <f32>(v * 0.5 * erfc(-v * INV_SQRT2)));
  }
}

/** out = g · (Φ(x) + x·φ(x)), in f64, rounded once. */
export function gelu_vjp_f32(n: i32, x: usize, g: usize, out: usize): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const v = <f64>load<f32>(x + o);
    const d = 0.5 * erfc(-v * INV_SQRT2) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
    store<f32>(out + o, <f32>(<f64>load<f32>(g + o) * d));
  }
}
