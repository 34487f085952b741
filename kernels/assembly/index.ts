// The kernel module's exports. Every kernel takes sizes first, then byte pointers into the
// memory that JavaScript owns (imported), output last; none allocates and none keeps state.
// The same source builds twice: with SIMD (`ASC_FEATURE_SIMD` branches) and without.
export { matmul_f64, matmul_tn_f64, matmul_nt_f64 } from './matmul';
export { matmul_f32, matmul_tn_f32, matmul_nt_f32 } from './matmul32';
export { cvt_f64_f32, cvt_f32_f64, bias_add_f32, bias_relu_f32, sum_rows_f32_f64 } from './layer32';
export {
  relu_f32, relu_vjp_f32, tanh_f32, tanh_vjp_f32, sigmoid_f32, sigmoid_vjp_f32,
  softplus_f32, softplus_vjp_f32, gelu_f32, gelu_vjp_f32,
} from './activations32';
export {
  add_f64, sub_f64, mul_f64, div_f64, affine_f64, rdiv_f64, fill_f64,
  exp_f64, log_f64, log1p_f64, bias_add_f64, broadcast_rows_f64, broadcast_cols_f64,
} from './elementwise';
export {
  relu_f64, relu_vjp_f64, tanh_f64, tanh_vjp_f64, sigmoid_f64, sigmoid_vjp_f64,
  softplus_f64, softplus_vjp_f64, gelu_f64, gelu_vjp_f64,
} from './activations';
export {
  sum_f64, sum_rows_f64, sum_cols_f64, lse_f64, lse_rows_f64, lse_vjp_f64, lse_rows_vjp_f64,
} from './reduce';
export { gather_rows_f64, scatter_add_rows_f64 } from './rows';
export { adam_f64, sgd_f64 } from './optim';
export { erf_f64, erfc_f64, log_ndtr_f64, lgamma_f64, log1pexp_f64 } from './special';
export { peak_probe_f64, peak_probe_flops } from './peak';
export { vexp_f64, vexpneg_f64, vexpm1_f64, vlog_f64, vlog1p_f64 } from './vmath';
export { quad_loglik_f64, quad_loglik_vjp_f64, quad_mode_f64 } from './quadrature';
export { set_scratch } from './scratch';
export { marginal_f64 } from './marginal/kernel';

/** First byte past the module's static data: where the JavaScript heap may begin. */
export function heap_base(): usize {
  return __heap_base;
}

/** 1 in the SIMD build, 0 in the scalar one: lets a precompiled Module say which it is. */
export function is_simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}
