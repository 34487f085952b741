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
import { sharedVariant } from './sharedModule';

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'ts';

export interface Backend {
  readonly name: BackendName;
  readonly heap: Heap;
  readonly k: Kernels;
  /**
   * For the WASM builds: the memory and the compiled module. When the memory is shared
   * (SharedArrayBuffer), worker threads instantiate the module on it (ngmm/threads).
   */
  readonly wasm?: { readonly memory: WebAssembly.Memory; readonly module: WebAssembly.Module; readonly shared: boolean };
}

export interface BackendOptions {
  /** 'auto' (default): WASM SIMD where the host validates it, else scalar WASM, else TypeScript. */
  backend?: 'auto' | BackendName;
  /** A module compiled from `wasmBytes(...)`, for hosts that cannot compile at run time. */
  module?: WebAssembly.Module;
  /**
   * Put the heap in a shared memory, so that worker threads can work on it (ngmm/threads).
   * 'auto' (default): where the host allows it (SharedArrayBuffer: Node, Deno, Bun, a
   * cross-origin isolated page) and no precompiled module is given; false: never.
   */
  shared?: 'auto' | boolean;
}

const INITIAL_PAGES = 16;
/** The modules' declared maximum (asconfig.json maximumMemory): all of wasm32's 4 GiB. */
const MAX_PAGES = 65536;

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

// A shared memory where asked and possible, else a plain one. A host without SharedArrayBuffer
// (a page that is not cross-origin isolated, workerd) throws or hands back a plain buffer.
function sharedMemory(opts: BackendOptions): WebAssembly.Memory | null {
  if (opts.shared === false || opts.module || typeof SharedArrayBuffer !== 'function') return null;
  try {
    const m = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
    return m.buffer instanceof SharedArrayBuffer ? m : null;
  } catch (e) {
    if (opts.shared === true) throw new Error(`ngmm: this host cannot make a shared WebAssembly memory (${(e as Error).message})`, { cause: e });
    return null;
  }
}

function instantiateSync(name: 'wasm-simd' | 'wasm-scalar', opts: BackendOptions): Backend {
  const shared = sharedMemory(opts);
  if (shared) {
    try {
      const mod = new WebAssembly.Module(sharedVariant(wasmBytes(name)) as BufferSource);
      return fromInstance(shared, mod, new WebAssembly.Instance(mod, imports(shared)), true);
    } catch (e) {
      if (opts.shared === true) throw e;
      // A host that makes shared memories but cannot compile the shared import: plain memory.
    }
  }
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
  const mod = opts.module ?? new WebAssembly.Module(wasmBytes(name) as BufferSource);
  return fromInstance(memory, mod, new WebAssembly.Instance(mod, imports(memory)), false);
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

function fromInstance(memory: WebAssembly.Memory, module: WebAssembly.Module, instance: WebAssembly.Instance, shared: boolean): Backend {
  const k = instance.exports as unknown as Kernels;
  const name: BackendName = k.is_simd() ? 'wasm-simd' : 'wasm-scalar';
  return { name, heap: new Heap(memory, k.heap_base()), k, wasm: { memory, module, shared } };
}

/**
 * A worker thread's backend: `module` instantiated on another thread's shared `memory`, with a
 * heap confined to the arena [base, base + bytes) that thread reserved for this one.
 */
export function attachBackend(module: WebAssembly.Module, memory: WebAssembly.Memory, base: number, bytes: number): Backend {
  const instance = new WebAssembly.Instance(module, imports(memory));
  const k = instance.exports as unknown as Kernels;
  const name: BackendName = k.is_simd() ? 'wasm-simd' : 'wasm-scalar';
  const heap = new Heap(memory, base, base + bytes);
  // Static scratch is shared by every instance on the memory: this one gets its own. A call at
  // address 0 only measures it (the next call moves every pointer).
  k.set_scratch(heap.alloc(k.set_scratch(0)));
  return { name, heap, k, wasm: { memory, module, shared: true } };
}

function referenceBackend(): Backend {
  const memory = hasWasm() ? new WebAssembly.Memory({ initial: INITIAL_PAGES }) : new PlainMemory(INITIAL_PAGES);
  const heap = new Heap(memory, 1024);
  return { name: 'ts', heap, k: createReferenceKernels(heap) };
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
  const shared = sharedMemory(opts);
  if (shared) {
    try {
      const module = await WebAssembly.compile(sharedVariant(wasmBytes(name)) as BufferSource);
      return fromInstance(shared, module, await WebAssembly.instantiate(module, imports(shared)), true);
    } catch (e) {
      if (opts.shared === true) throw e;
    }
  }
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
  const module = await WebAssembly.compile(wasmBytes(name) as BufferSource);
  return fromInstance(memory, module, await WebAssembly.instantiate(module, imports(memory)), false);
}
