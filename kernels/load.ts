// Backends: a heap plus the kernels that run on it. The WASM bytes are embedded (generated
// module), so nothing is fetched or read from disk. Three ways in:
//   createBackend()             async compile, works everywhere (browsers' main thread too)
//   createBackendSync()         sync compile, for Node, Deno, Bun and workers
//   either with { module }      a precompiled WebAssembly.Module, for hosts such as Cloudflare
//                               workerd that forbid compiling from bytes at run time.
import { SCALAR_WASM_BASE64, SIMD_WASM_BASE64 } from './generated/wasm';
import { decodeBase64 } from './base64';
import { Heap, PlainMemory } from './heap';
import type { Kernels } from './kernels';
import { createReferenceKernels } from './reference/index';

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'ts';

export interface Backend {
  readonly name: BackendName;
  readonly heap: Heap;
  readonly k: Kernels;
}

export interface BackendOptions {
  /** 'auto' (default): WASM SIMD where the host validates it, else scalar WASM, else TypeScript. */
  backend?: 'auto' | BackendName;
  /** A module compiled from `wasmBytes(...)`, for hosts that cannot compile at run time. */
  module?: WebAssembly.Module;
}

const INITIAL_PAGES = 16;

let simdBytes: Uint8Array | null = null;
let scalarBytes: Uint8Array | null = null;

/** The embedded module bytes ('wasm-simd' or 'wasm-scalar'), e.g. to precompile at build time. */
export function wasmBytes(name: 'wasm-simd' | 'wasm-scalar'): Uint8Array {
  if (name === 'wasm-simd') return (simdBytes ??= decodeBase64(SIMD_WASM_BASE64));
  return (scalarBytes ??= decodeBase64(SCALAR_WASM_BASE64));
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

function instantiateSync(name: 'wasm-simd' | 'wasm-scalar', module?: WebAssembly.Module): Backend {
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES });
  const mod = module ?? new WebAssembly.Module(wasmBytes(name) as BufferSource);
  const instance = new WebAssembly.Instance(mod, imports(memory));
  return fromInstance(memory, instance);
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

function fromInstance(memory: WebAssembly.Memory, instance: WebAssembly.Instance): Backend {
  const k = instance.exports as unknown as Kernels;
  const name: BackendName = k.is_simd() ? 'wasm-simd' : 'wasm-scalar';
  return { name, heap: new Heap(memory, k.heap_base()), k };
}

function referenceBackend(): Backend {
  const memory = hasWasm() ? new WebAssembly.Memory({ initial: INITIAL_PAGES }) : new PlainMemory(INITIAL_PAGES);
  const heap = new Heap(memory, 1024);
  return { name: 'ts', heap, k: createReferenceKernels(heap) };
}

export function createBackendSync(opts: BackendOptions = {}): Backend {
  const name = pick(opts);
  if (name === 'ts') return referenceBackend();
  return instantiateSync(name, opts.module);
}

export async function createBackend(opts: BackendOptions = {}): Promise<Backend> {
  const name = pick(opts);
  if (name === 'ts') return referenceBackend();
  if (opts.module) return instantiateSync(name, opts.module);
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES });
  const { instance } = await WebAssembly.instantiate(wasmBytes(name) as BufferSource, imports(memory));
  return fromInstance(memory, instance);
}
