// One instance of the kernels on a memory: the main module plus, where given and instantiable,
// the relaxed-SIMD module whose f32 matmuls replace the plain ones. Shared by the loader and by
// worker threads (kernels/attach.ts), which must not carry the embedded module bytes.
import type { Kernels } from './kernels';

export const RELAXED_EXPORTS = ['matmul_f32', 'matmul_tn_f32', 'matmul_nt_f32'] as const;
// A relaxed module that validates but cannot be instantiated on this memory (a host that
// compiles only some modules, or a memory whose type it does not import) is an optional
// speed-up missing, not an error: the plain f32 matmuls stay, and `Backend.relaxed` says so.
// Where the flag is on, test/kernels/f32.parity.test.ts requires `relaxed` to be true.

export function imports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`ngmm kernel aborted at ${line}:${col}`);
      },
    },
  };
}

/** The kernels of `module` (with the relaxed f32 matmuls of `relaxedModule` where it instantiates) on `memory`. */
export function instantiate(memory: WebAssembly.Memory, module: WebAssembly.Module, relaxedModule: WebAssembly.Module | null): { k: Kernels; relaxed: WebAssembly.Module | null; name: 'wasm-simd' | 'wasm-scalar' } {
  let k = new WebAssembly.Instance(module, imports(memory)).exports as unknown as Kernels;
  let relaxed: WebAssembly.Instance | null = null;
  if (relaxedModule) {
    try {
      relaxed = new WebAssembly.Instance(relaxedModule, imports(memory));
    } catch {
      relaxed = null; // see RELAXED_EXPORTS
    }
  }
  if (relaxed) {
    // An Instance's exports object is frozen: the kernels become a copy with three replaced.
    const r = relaxed.exports as unknown as Pick<Kernels, (typeof RELAXED_EXPORTS)[number]>;
    k = { ...k };
    for (const e of RELAXED_EXPORTS) (k as unknown as Record<string, unknown>)[e] = r[e];
  }
  return { k, relaxed: relaxed ? relaxedModule : null, name: k.is_simd() ? 'wasm-simd' : 'wasm-scalar' };
}

