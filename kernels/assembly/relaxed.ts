// The relaxed-SIMD module: only the f32 matmuls, built from matmul32.ts with
// `--enable relaxed-simd` so their multiply-adds are `f32x4.relaxed_madd` (one FMA where the
// hardware has it). It imports the main module's memory (`env.memory`) and must carry no
// static data: it is instantiated on that same memory, and a data segment would overwrite the
// main module's (scripts/build-wasm.mjs refuses one). kernels/load.ts validates it at load
// and, where the host accepts relaxed SIMD, lets these exports replace the plain ones.
export { matmul_f32, matmul_tn_f32, matmul_nt_f32 } from './matmul32';
