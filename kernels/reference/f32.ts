// The TypeScript reference of the f32 kernels (kernels/assembly/matmul32.ts, layer32.ts,
// activations32.ts), over Float32Array views of the same heap.
//
// Semantics: IEEE single precision, each operation rounded — `Math.fround` after every
// multiply and every add, sums taken sequentially over k (over rows for the bias gradient,
// which sums in f64 as the kernel does). A product or sum of two f32 values computed in f64
// and then rounded to f32 is the correctly rounded f32 result (53 ≥ 2·24 + 2: double rounding
// is innocuous, Figueroa 1995), so this is exactly what f32 hardware computes in this order.
// Hence the parity tolerance: the builds that keep the sequential order (scalar; SIMD for A·B
// and Aᵀ·B) must agree bit for bit; A·Bᵀ's SIMD lanes and the relaxed module's fused
// multiply-adds change only the rounding, so they and this reference each lie within
// γ_K·Σ|a·b| of the exact product (γ_K = K·u/(1 − K·u), u = 2⁻²⁴) and within twice that of
// each other. The transcendental activations compute in f64 and round once, as the kernels do;
// the AssemblyScript and V8 libms may differ by an f64 ulp, which can move the f32 rounding by
// one f32 ulp at most.
import type { Kernels } from '../kernels';
import { erfc, log1pexp } from './special';

export interface F32Views {
  readonly f64: Float64Array;
  readonly f32: Float32Array;
}

const INV_SQRT2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;
const fr = Math.fround;

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

type F32Kernels = Pick<Kernels,
  | 'matmul_f32' | 'matmul_tn_f32' | 'matmul_nt_f32' | 'cvt_f64_f32' | 'cvt_f32_f64'
  | 'bias_add_f32' | 'bias_relu_f32' | 'sum_rows_f32_f64'
  | 'relu_f32' | 'relu_vjp_f32' | 'tanh_f32' | 'tanh_vjp_f32' | 'sigmoid_f32' | 'sigmoid_vjp_f32'
  | 'softplus_f32' | 'softplus_vjp_f32' | 'gelu_f32' | 'gelu_vjp_f32'>;

export function createF32Reference(mem: F32Views): F32Kernels {
  const map = (fn: (v: number) => number) => (n: number, x: number, out: number): void => {
    const f = mem.f32;
    const xo = x >>> 2, oo = out >>> 2;
    for (let i = 0; i < n; i++) f[oo + i] = fn(f[xo + i]);
  };
  const zip = (fn: (a: number, g: number) => number) => (n: number, a: number, g: number, out: number): void => {
    const f = mem.f32;
    const ao = a >>> 2, go = g >>> 2, oo = out >>> 2;
    for (let i = 0; i < n; i++) f[oo + i] = fn(f[ao + i], f[go + i]);
  };
  // C = A·B with A(i,k) at a[i·rsA + k·csA]; each C(i,j) summed over k in order.
  const gemm = (M: number, N: number, K: number, a: number, rsA: number, csA: number, b: number, c: number) => {
    const f = mem.f32;
    const ao = a >>> 2, bo = b >>> 2, co = c >>> 2;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s = fr(s + fr(f[ao + i * rsA + k * csA] * f[bo + k * N + j]));
        f[co + i * N + j] = s;
      }
    }
  };
  const bias = (relu: boolean) => (M: number, N: number, x: number, b: number, out: number): void => {
    const f = mem.f32;
    const xo = x >>> 2, bo = b >>> 2, oo = out >>> 2;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const v = fr(f[xo + i * N + j] + f[bo + j]);
        f[oo + i * N + j] = relu ? (v > 0 ? v : 0) : v;
      }
    }
  };

  return {
    matmul_f32: (M, N, K, a, b, c) => gemm(M, N, K, a, K, 1, b, c),
    matmul_tn_f32: (M, N, K, a, b, c, _work) => gemm(M, N, K, a, 1, M, b, c),
    matmul_nt_f32(M, N, K, a, b, c) {
      const f = mem.f32;
      const ao = a >>> 2, bo = b >>> 2, co = c >>> 2;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s = fr(s + fr(f[ao + i * K + k] * f[bo + j * K + k]));
          f[co + i * N + j] = s;
        }
      }
    },
    cvt_f64_f32(n, x, out) {
      const xo = x >>> 3, oo = out >>> 2;
      const d = mem.f64, s = mem.f32;
      for (let i = 0; i < n; i++) s[oo + i] = d[xo + i];
    },
    cvt_f32_f64(n, x, out) {
      const xo = x >>> 2, oo = out >>> 3;
      const d = mem.f64, s = mem.f32;
      for (let i = 0; i < n; i++) d[oo + i] = s[xo + i];
    },
    bias_add_f32: bias(false),
    bias_relu_f32: bias(true),
    sum_rows_f32_f64(M, N, x, out) {
      const s = mem.f32, d = mem.f64;
      const xo = x >>> 2, oo = out >>> 3;
      d.fill(0, oo, oo + N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) d[oo + j] += s[xo + i * N + j];
    },
    relu_f32: map((x) => (x > 0 ? x : 0)),
    relu_vjp_f32: zip((x, g) => (x > 0 ? g : 0)),
    tanh_f32: map(Math.tanh),
    tanh_vjp_f32: zip((a, g) => fr(g * fr(1 - fr(a * a)))),
    sigmoid_f32: map(sigmoid),
    sigmoid_vjp_f32: zip((a, g) => fr(fr(g * a) * fr(1 - a))),
    softplus_f32: map(log1pexp),
    softplus_vjp_f32: zip((x, g) => g * sigmoid(x)),
    gelu_f32: map((x) => x * 0.5 * erfc(-x * INV_SQRT2)),
    gelu_vjp_f32: zip((x, g) => g * (0.5 * erfc(-x * INV_SQRT2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x))),
  };
}
