// The kernel contract shared by the WASM builds and the TypeScript reference: sizes first,
// then byte offsets into the heap's memory, output last. A pointer `p` to f64 data addresses
// `f64[p >>> 3]`; f32 data (the mixed-precision network) `f32[p >>> 2]`; index arrays are i32
// (`i32[p >>> 2]`).
type P = number;
type N = number;

export interface Kernels {
  heap_base(): number;
  /** 1 for the SIMD build, 0 for the scalar one. */
  is_simd(): number;

  matmul_f64(M: N, Nc: N, K: N, a: P, b: P, c: P): void;
  /** `work`: scratch of at least MATMUL_TN_WORK bytes. */
  matmul_tn_f64(M: N, Nc: N, K: N, a: P, b: P, c: P, work: P): void;
  matmul_nt_f64(M: N, Nc: N, K: N, a: P, b: P, c: P): void;

  /** The f32 twins (kernels/assembly/matmul32.ts); replaced by the relaxed-SIMD module's where valid. */
  matmul_f32(M: N, Nc: N, K: N, a: P, b: P, c: P): void;
  /** `work`: scratch of at least MATMUL_TN_WORK bytes. */
  matmul_tn_f32(M: N, Nc: N, K: N, a: P, b: P, c: P, work: P): void;
  matmul_nt_f32(M: N, Nc: N, K: N, a: P, b: P, c: P): void;
  /** f64 → f32 (round to nearest) and f32 → f64 (exact); x and out do not overlap. */
  cvt_f64_f32(n: N, x: P, out: P): void;
  cvt_f32_f64(n: N, x: P, out: P): void;
  bias_add_f32(M: N, Nc: N, x: P, bias: P, out: P): void;
  /** max(x + bias, 0), fused (kernels/assembly/layer32.ts says why). */
  bias_relu_f32(M: N, Nc: N, x: P, bias: P, out: P): void;
  /** Column sums of an f32 matrix, summed and written in f64 (a bias gradient). */
  sum_rows_f32_f64(M: N, Nc: N, x: P, out: P): void;
  relu_f32(n: N, x: P, out: P): void;
  relu_vjp_f32(n: N, x: P, g: P, out: P): void;
  tanh_f32(n: N, x: P, out: P): void;
  tanh_vjp_f32(n: N, ans: P, g: P, out: P): void;
  sigmoid_f32(n: N, x: P, out: P): void;
  sigmoid_vjp_f32(n: N, ans: P, g: P, out: P): void;
  softplus_f32(n: N, x: P, out: P): void;
  softplus_vjp_f32(n: N, x: P, g: P, out: P): void;
  gelu_f32(n: N, x: P, out: P): void;
  gelu_vjp_f32(n: N, x: P, g: P, out: P): void;

  add_f64(n: N, a: P, b: P, out: P): void;
  sub_f64(n: N, a: P, b: P, out: P): void;
  mul_f64(n: N, a: P, b: P, out: P): void;
  div_f64(n: N, a: P, b: P, out: P): void;
  affine_f64(n: N, x: P, alpha: number, beta: number, out: P): void;
  rdiv_f64(n: N, s: number, x: P, out: P): void;
  fill_f64(n: N, v: number, out: P): void;
  exp_f64(n: N, x: P, out: P): void;
  log_f64(n: N, x: P, out: P): void;
  log1p_f64(n: N, x: P, out: P): void;
  bias_add_f64(M: N, Nc: N, x: P, bias: P, out: P): void;
  broadcast_rows_f64(M: N, Nc: N, v: P, out: P): void;
  broadcast_cols_f64(M: N, Nc: N, v: P, out: P): void;

  relu_f64(n: N, x: P, out: P): void;
  relu_vjp_f64(n: N, x: P, g: P, out: P): void;
  tanh_f64(n: N, x: P, out: P): void;
  tanh_vjp_f64(n: N, ans: P, g: P, out: P): void;
  sigmoid_f64(n: N, x: P, out: P): void;
  sigmoid_vjp_f64(n: N, ans: P, g: P, out: P): void;
  softplus_f64(n: N, x: P, out: P): void;
  softplus_vjp_f64(n: N, x: P, g: P, out: P): void;
  gelu_f64(n: N, x: P, out: P): void;
  gelu_vjp_f64(n: N, x: P, g: P, out: P): void;

  sum_f64(n: N, x: P): number;
  sum_rows_f64(M: N, Nc: N, x: P, out: P): void;
  sum_cols_f64(M: N, Nc: N, x: P, out: P): void;
  lse_f64(n: N, x: P): number;
  lse_rows_f64(M: N, Nc: N, x: P, out: P): void;
  lse_vjp_f64(n: N, x: P, ans: number, g: number, out: P): void;
  lse_rows_vjp_f64(M: N, Nc: N, x: P, ans: P, g: P, out: P): void;

  gather_rows_f64(R: N, Nc: N, x: P, idx: P, out: P): void;
  scatter_add_rows_f64(R: N, Nc: N, g: P, idx: P, out: P): void;

  adam_f64(
    n: N, p: P, g: P, m: P, v: P,
    lr: number, b1: number, b2: number, eps: number, c1: number, c2: number, wd: number,
  ): void;
  sgd_f64(n: N, p: P, g: P, buf: P, lr: number, mu: number, wd: number): void;

  erf_f64(n: N, x: P, out: P): void;
  erfc_f64(n: N, x: P, out: P): void;
  log_ndtr_f64(n: N, x: P, out: P): void;
  lgamma_f64(n: N, x: P, out: P): void;
  log1pexp_f64(n: N, x: P, out: P): void;

  /** The batched NGMM marginal likelihood: see kernels/reference/marginal/kernel.ts. */
  marginal_f64(
    code: N, G: N, offs: P, y: P, trials: P, f: P, s: P, phi: number, cst: P, opts: P,
    L: P, gf: P, gs: P, gphi: P, stats: P, work: P, workSteps: N, cache: P,
  ): number;

  /** The Gauss–Hermite marginal's per-element work (kernels/assembly/quadrature.ts). */
  quad_loglik_f64(code: N, G: N, offsets: P, K: N, q: N, y: P, trials: P, f: P, g: P, nodes: P, phi: number, ll: P, score: P, dphi: P): void;
  quad_loglik_vjp_f64(G: N, offsets: P, K: N, q: N, nodes: P, score: P, up: P, gf: P, gg: P): void;
  quad_mode_f64(code: N, G: N, offsets: P, q: N, y: P, trials: P, f: P, g: P, phi: number, mode: P, chol: P): void;
  /**
   * Moves the kernels' static scratch (static data by default) to [p, p + the returned bytes):
   * a worker thread's instance on a shared memory needs its own (kernels/assembly/scratch.ts).
   */
  set_scratch(p: P): number;

  /** Lane-wise exp, expm1, log and log1p (x ∈ [0, 1]) of the SIMD build's hot loops (test kernels). */
  vexp_f64(n: N, x: P, out: P): void;
  vexpneg_f64(n: N, x: P, out: P): void;
  vexpm1_f64(n: N, x: P, out: P): void;
  vlog_f64(n: N, x: P, out: P): void;
  vlog1p_f64(n: N, x: P, out: P): void;

  peak_probe_f64(iters: N): number;
  peak_probe_flops(): number;
}

/**
 * Bytes of scratch `matmul_tn_f64` needs (32 × its largest K-block of 256); `matmul_tn_f32`
 * needs the same (16 × its largest K-block of 512).
 */
export const MATMUL_TN_WORK = 8192;

export type KernelName = Exclude<keyof Kernels, 'heap_base' | 'is_simd' | 'peak_probe_f64' | 'peak_probe_flops' | 'marginal_f64' | 'set_scratch'>;
