// The plain TypeScript reference for every kernel: the same contract (sizes, byte pointers,
// output last) over typed-array views of the same heap. Tests compare the WASM builds against
// it, and it is the fallback where WebAssembly is unavailable. Loops are written the obvious
// way on purpose: this is the yardstick, not a competitor.
import type { Kernels } from '../kernels';
import { erf, erfc, lgamma, log1pexp, logNdtr } from './special';
import { marginalKernel } from './marginal/kernel';
import { quadLoglik, quadLoglikVjp, quadMode } from './quadrature';
import { createF32Reference } from './f32';

export interface HeapViews {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
}

const INV_SQRT2 = 0.7071067811865476;
const INV_SQRT_2PI = 0.3989422804014327;

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function lse(f: Float64Array, o: number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = f[o + i];
    if (v !== v) return v;
    if (v > m) m = v;
  }
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(f[o + i] - m);
  return m + Math.log(s);
}

export function createReferenceKernels(mem: HeapViews): Kernels {
  const map = (fn: (v: number) => number) => (n: number, x: number, out: number): void => {
    const f = mem.f64;
    const xo = x >>> 3, oo = out >>> 3;
    for (let i = 0; i < n; i++) f[oo + i] = fn(f[xo + i]);
  };
  const zip = (fn: (a: number, b: number) => number) =>
    (n: number, a: number, b: number, out: number): void => {
      const f = mem.f64;
      const ao = a >>> 3, bo = b >>> 3, oo = out >>> 3;
      for (let i = 0; i < n; i++) f[oo + i] = fn(f[ao + i], f[bo + i]);
    };
  // C = A·B with A(i,k) at a[i·rsA + k·csA], the i-k-j loop.
  const gemm = (M: number, N: number, K: number, a: number, rsA: number, csA: number, b: number, c: number) => {
    const f = mem.f64;
    const ao = a >>> 3, bo = b >>> 3, co = c >>> 3;
    f.fill(0, co, co + M * N);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const aik = f[ao + i * rsA + k * csA];
        const bk = bo + k * N, ci = co + i * N;
        for (let j = 0; j < N; j++) f[ci + j] += aik * f[bk + j];
      }
    }
  };

  return {
    heap_base: () => 1024,
    is_simd: () => 0,
    // The reference keeps its scratch in JavaScript (and never runs on a shared memory).
    set_scratch: () => 0,

    matmul_f64: (M, N, K, a, b, c) => gemm(M, N, K, a, K, 1, b, c),
    matmul_tn_f64: (M, N, K, a, b, c, _work) => gemm(M, N, K, a, 1, M, b, c),
    ...createF32Reference(mem),

    matmul_nt_f64(M, N, K, a, b, c) {
      const f = mem.f64;
      const ao = a >>> 3, bo = b >>> 3, co = c >>> 3;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += f[ao + i * K + k] * f[bo + j * K + k];
          f[co + i * N + j] = s;
        }
      }
    },

    add_f64: zip((a, b) => a + b),
    sub_f64: zip((a, b) => a - b),
    mul_f64: zip((a, b) => a * b),
    div_f64: zip((a, b) => a / b),
    affine_f64(n, x, alpha, beta, out) {
      const f = mem.f64;
      const xo = x >>> 3, oo = out >>> 3;
      for (let i = 0; i < n; i++) f[oo + i] = f[xo + i] * alpha + beta;
    },
    rdiv_f64(n, s, x, out) {
      const f = mem.f64;
      const xo = x >>> 3, oo = out >>> 3;
      for (let i = 0; i < n; i++) f[oo + i] = s / f[xo + i];
    },
    fill_f64(n, v, out) {
      mem.f64.fill(v, out >>> 3, (out >>> 3) + n);
    },
    exp_f64: map(Math.exp),
    log_f64: map(Math.log),
    log1p_f64: map(Math.log1p),
    bias_add_f64(M, N, x, bias, out) {
      const f = mem.f64;
      const xo = x >>> 3, bo = bias >>> 3, oo = out >>> 3;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) f[oo + i * N + j] = f[xo + i * N + j] + f[bo + j];
    },
    broadcast_rows_f64(M, N, v, out) {
      const f = mem.f64;
      const vo = v >>> 3, oo = out >>> 3;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) f[oo + i * N + j] = f[vo + j];
    },
    broadcast_cols_f64(M, N, v, out) {
      const f = mem.f64;
      const vo = v >>> 3, oo = out >>> 3;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) f[oo + i * N + j] = f[vo + i];
    },

    relu_f64: map((x) => (x > 0 ? x : 0)),
    relu_vjp_f64: zip((x, g) => (x > 0 ? g : 0)),
    tanh_f64: map(Math.tanh),
    tanh_vjp_f64: zip((ans, g) => g * (1 - ans * ans)),
    sigmoid_f64: map(sigmoid),
    sigmoid_vjp_f64: zip((ans, g) => g * ans * (1 - ans)),
    softplus_f64: map(log1pexp),
    softplus_vjp_f64: zip((x, g) => g * sigmoid(x)),
    gelu_f64: map((x) => x * 0.5 * erfc(-x * INV_SQRT2)),
    gelu_vjp_f64: zip((x, g) => g * (0.5 * erfc(-x * INV_SQRT2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x))),

    sum_f64(n, x) {
      const f = mem.f64;
      const xo = x >>> 3;
      let s = 0;
      for (let i = 0; i < n; i++) s += f[xo + i];
      return s;
    },
    sum_rows_f64(M, N, x, out) {
      const f = mem.f64;
      const xo = x >>> 3, oo = out >>> 3;
      f.fill(0, oo, oo + N);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) f[oo + j] += f[xo + i * N + j];
    },
    sum_cols_f64(M, N, x, out) {
      const f = mem.f64;
      const xo = x >>> 3, oo = out >>> 3;
      for (let i = 0; i < M; i++) {
        let s = 0;
        for (let j = 0; j < N; j++) s += f[xo + i * N + j];
        f[oo + i] = s;
      }
    },
    lse_f64: (n, x) => lse(mem.f64, x >>> 3, n),
    lse_rows_f64(M, N, x, out) {
      const f = mem.f64;
      for (let i = 0; i < M; i++) f[(out >>> 3) + i] = lse(f, (x >>> 3) + i * N, N);
    },
    lse_vjp_f64(n, x, ans, g, out) {
      const f = mem.f64;
      const xo = x >>> 3, oo = out >>> 3;
      for (let i = 0; i < n; i++) f[oo + i] = g * Math.exp(f[xo + i] - ans);
    },
    lse_rows_vjp_f64(M, N, x, ans, g, out) {
      const f = mem.f64;
      const xo = x >>> 3, ao = ans >>> 3, go = g >>> 3, oo = out >>> 3;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) f[oo + i * N + j] = f[go + i] * Math.exp(f[xo + i * N + j] - f[ao + i]);
      }
    },

    gather_rows_f64(R, N, x, idx, out) {
      const f = mem.f64, ix = mem.i32;
      const xo = x >>> 3, io = idx >>> 2, oo = out >>> 3;
      for (let r = 0; r < R; r++) {
        const s = xo + ix[io + r] * N;
        f.copyWithin(oo + r * N, s, s + N);
      }
    },
    scatter_add_rows_f64(R, N, g, idx, out) {
      const f = mem.f64, ix = mem.i32;
      const go = g >>> 3, io = idx >>> 2, oo = out >>> 3;
      for (let r = 0; r < R; r++) {
        const d = oo + ix[io + r] * N;
        for (let j = 0; j < N; j++) f[d + j] += f[go + r * N + j];
      }
    },

    adam_f64(n, p, g, m, v, lr, b1, b2, eps, c1, c2, wd) {
      const f = mem.f64;
      const po = p >>> 3, go = g >>> 3, mo = m >>> 3, vo = v >>> 3;
      const ib1 = 1 - b1, ib2 = 1 - b2, ic1 = 1 / c1, ic2 = 1 / c2;
      for (let i = 0; i < n; i++) {
        const gi = f[go + i];
        const mi = b1 * f[mo + i] + ib1 * gi;
        const vi = b2 * f[vo + i] + ib2 * gi * gi;
        f[mo + i] = mi;
        f[vo + i] = vi;
        const pi = f[po + i];
        f[po + i] = pi - lr * ((mi * ic1) / (Math.sqrt(vi * ic2) + eps) + wd * pi);
      }
    },
    sgd_f64(n, p, g, buf, lr, mu, wd) {
      const f = mem.f64;
      const po = p >>> 3, go = g >>> 3, bo = buf >>> 3;
      for (let i = 0; i < n; i++) {
        const pi = f[po + i];
        const bi = mu * f[bo + i] + f[go + i] + wd * pi;
        f[bo + i] = bi;
        f[po + i] = pi - lr * bi;
      }
    },

    erf_f64: map(erf),
    erfc_f64: map(erfc),
    log_ndtr_f64: map(logNdtr),
    lgamma_f64: map(lgamma),
    log1pexp_f64: map(log1pexp),

    // Two independent chains: what plain JS code gets from one core.
    peak_probe_f64(iters) {
      let m = 1, s = 0;
      for (let i = 0; i < iters; i++) {
        m *= 1.0000001;
        s += 1e-9;
      }
      return m + s;
    },
    peak_probe_flops: () => 2,
    quad_loglik_f64: (code, G, offsets, K, q, y, trials, f, g, nodes, phi, ll, score, dphi) =>
      quadLoglik(mem, code, G, offsets, K, q, y, trials, f, g, nodes, phi, ll, score, dphi),
    quad_loglik_vjp_f64: (G, offsets, K, q, nodes, score, up, gf, gg) => quadLoglikVjp(mem, G, offsets, K, q, nodes, score, up, gf, gg),
    quad_mode_f64: (code, G, offsets, q, y, trials, f, g, phi, mode, chol) => quadMode(mem, code, G, offsets, q, y, trials, f, g, phi, mode, chol),
    vexp_f64: map(Math.exp),
    vexpneg_f64: map(Math.exp),
    vexpm1_f64: map(Math.expm1),
    vlog_f64: map(Math.log),
    vlog1p_f64: map(Math.log1p),

    // The reference records steps in JS arrays and recomputes scores; work/workSteps/cache are
    // the WASM build's scratch.
    marginal_f64: (code, G, offs, y, trials, f, s, phi, cst, opts, L, gf, gs, gphi, stats, _work, _workSteps, _cache) =>
      marginalKernel(mem, code, G, offs, y, trials, f, s, phi, cst, opts, L, gf, gs, gphi, stats),
  };
}
