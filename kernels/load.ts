// Backends: a heap plus the kernels that run on it. The WASM bytes are embedded (generated
// module), so nothing is fetched or read from disk. Three ways in:
//   createBackend()             async compile, works everywhere (browsers' main thread too)
//   createBackendSync()         sync compile, for Node, Deno, Bun and workers
//   either with { module }      a precompiled WebAssembly.Module, for hosts such as Cloudflare
//                               workerd that forbid compiling from bytes at run time.
// The SIMD backend may also take the small relaxed-SIMD module (the f32 matmuls with fused
// multiply-adds, kernels/assembly/relaxed.ts): where the host validates it, it is instantiated
// on the same memory and its three exports replace the plain f32 matmuls. Node 20 needs
// `--experimental-wasm-relaxed-simd` for it; Chromium accepts it. With { module } it is not
// used (such hosts cannot compile the extra bytes either).
import { RELAXED_WASM_BASE64, SCALAR_WASM_BASE64, SIMD_WASM_BASE64 } from './generated/wasm';
import { decodeBase64 } from './base64';
import { Heap, PlainMemory } from './heap';
import type { Kernels } from './kernels';
import { createReferenceKernels } from './reference/index';

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'ts';

export interface Backend {
  readonly name: BackendName;
  readonly heap: Heap;
  readonly k: Kernels;
  /** True when the f32 matmuls are the relaxed-SIMD (fused multiply-add) ones. */
  readonly relaxed: boolean;
}

export interface BackendOptions {
  /** 'auto' (default): WASM SIMD where the host validates it, else scalar WASM, else TypeScript. */
  backend?: 'auto' | BackendName;
  /** A module compiled from `wasmBytes(...)`, for hosts that cannot compile at run time. */
  module?: WebAssembly.Module;
  /**
   * Use the relaxed-SIMD f32 matmuls where the host validates them (default true); false keeps
   * the plain f32x4 ones, e.g. to compare both or for results that do not depend on the host's FMA.
   */
  relaxed?: boolean;
}

const INITIAL_PAGES = 16;

let simdBytes: Uint8Array | null = null;
let scalarBytes: Uint8Array | null = null;
let relaxedBytes: Uint8Array | null = null;

/** The embedded module bytes ('wasm-simd' or 'wasm-scalar'), e.g. to precompile at build time. */
export function wasmBytes(name: 'wasm-simd' | 'wasm-scalar'): Uint8Array {
  if (name === 'wasm-simd') return (simdBytes ??= decodeBase64(SIMD_WASM_BASE64));
  return (scalarBytes ??= decodeBase64(SCALAR_WASM_BASE64));
}

/** The relaxed-SIMD module's bytes when this host validates them, else null. */
function relaxedModuleBytes(): Uint8Array | null {
  relaxedBytes ??= decodeBase64(RELAXED_WASM_BASE64);
  return WebAssembly.validate(relaxedBytes as BufferSource) ? relaxedBytes : null;
}

const RELAXED_EXPORTS = ['matmul_f32', 'matmul_tn_f32', 'matmul_nt_f32'] as const;
// A relaxed module that validates but cannot be instantiated on this memory (a host that
// compiles only some modules, or a memory whose type it does not import) is an optional
// speed-up missing, not an error: the plain f32 matmuls stay, and `Backend.relaxed` says so.
// Where the flag is on, test/kernels/f32.parity.test.ts requires `relaxed` to be true.

function wantsRelaxed(name: BackendName, opts: BackendOptions): boolean {
  return name === 'wasm-simd' && !opts.module && opts.relaxed !== false;
}

function hasWasm(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.Memory === 'function';
}

function pick(opts: BackendOptions): BackendName {
  const want = opts.backend ?? 'auto';
  if (want !== 'auto') return want;
  if (opts.module) return 'wasm-simd'; // the instance reports which build it is
  if (!hasWasm()) return 'ts';
  return WebAssembly.validate(wasmBytes('wasm-simd') as BufferSource) ? 'wasm-simd' : 'wasm-scalar';
}

function instantiateSync(name: 'wasm-simd' | 'wasm-scalar', opts: BackendOptions): Backend {
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES });
  const mod = opts.module ?? new WebAssembly.Module(wasmBytes(name) as BufferSource);
  const instance = new WebAssembly.Instance(mod, imports(memory));
  const rb = wantsRelaxed(name, opts) ? relaxedModuleBytes() : null;
  let relaxed: WebAssembly.Instance | null = null;
  if (rb) {
    try {
      relaxed = new WebAssembly.Instance(new WebAssembly.Module(rb as BufferSource), imports(memory));
    } catch {
      relaxed = null; // see RELAXED_EXPORTS
    }
  }
  return fromInstance(memory, instance, relaxed);
}

function imports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`ngmm kernel aborted at ${line}:${col}`);
      },
    },
  };
}

function fromInstance(memory: WebAssembly.Memory, instance: WebAssembly.Instance, relaxed: WebAssembly.Instance | null = null): Backend {
  let k = instance.exports as unknown as Kernels;
  if (relaxed) {
    // An Instance's exports object is frozen: the kernels become a copy with three replaced.
    const r = relaxed.exports as unknown as Pick<Kernels, (typeof RELAXED_EXPORTS)[number]>;
    k = { ...k };
    for (const e of RELAXED_EXPORTS) (k as unknown as Record<string, unknown>)[e] = r[e];
  }
  const name: BackendName = k.is_simd() ? 'wasm-simd' : 'wasm-scalar';
  return { name, heap: new Heap(memory, k.heap_base()), k, relaxed: relaxed !== null };
}

function referenceBackend(): Backend {
  const memory = hasWasm() ? new WebAssembly.Memory({ initial: INITIAL_PAGES }) : new PlainMemory(INITIAL_PAGES);
  const heap = new Heap(memory, 1024);
  return { name: 'ts', heap, k: createReferenceKernels(heap), relaxed: false };
}

export function createBackendSync(opts: BackendOptions = {}): Backend {
  const name = pick(opts);
  if (name === 'ts') return referenceBackend();
  return instantiateSync(name, opts);
}

export async function createBackend(opts: BackendOptions = {}): Promise<Backend> {
  const name = pick(opts);
  if (name === 'ts') return referenceBackend();
  if (opts.module) return instantiateSync(name, opts);
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES });
  const { instance } = await WebAssembly.instantiate(wasmBytes(name) as BufferSource, imports(memory));
  const rb = wantsRelaxed(name, opts) ? relaxedModuleBytes() : null;
  const relaxed = rb ? await WebAssembly.instantiate(rb as BufferSource, imports(memory)).then((r) => r.instance, () => null) : null;
  return fromInstance(memory, instance, relaxed);
}
