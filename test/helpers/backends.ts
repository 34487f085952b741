// The three kernel backends, created once per test file.
import { createBackendSync, type Backend } from '../../kernels/load';

export const simd: Backend = createBackendSync({ backend: 'wasm-simd' });
export const scalar: Backend = createBackendSync({ backend: 'wasm-scalar' });
export const ts: Backend = createBackendSync({ backend: 'ts' });
export const all: readonly Backend[] = [simd, scalar, ts];
