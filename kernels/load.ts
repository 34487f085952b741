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
import { sharedVariant } from './sharedModule';
import { instantiate } from './instance';

export type BackendName = 'wasm-simd' | 'wasm-scalar' | 'ts';

export interface Backend {
  readonly name: BackendName;
  readonly heap: Heap;
  readonly k: Kernels;
  /** True when the f32 matmuls are the relaxed-SIMD (fused multiply-add) ones. */
  readonly relaxed: boolean;
  /**
   * For the WASM builds: the memory and the compiled modules (the relaxed one when used). When
   * the memory is shared (SharedArrayBuffer), worker threads instantiate the same modules on it
   * (ngmm/threads), so every thread runs the same kernels.
   */
  readonly wasm?: { readonly memory: WebAssembly.Memory; readonly module: WebAssembly.Module; readonly relaxedModule: WebAssembly.Module | null; readonly shared: boolean };
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

// A shared memory where asked and possible, else null (a plain one). A host without
// SharedArrayBuffer (a page that is not cross-origin isolated, workerd) throws or hands back a
// plain buffer.
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

/** The bytes to compile for a memory: the modules import a shared memory when it is one (kernels/sharedModule.ts). */
const forMemory = (bytes: Uint8Array, shared: boolean) => (shared ? sharedVariant(bytes) : bytes) as BufferSource;

function instantiateSync(name: 'wasm-simd' | 'wasm-scalar', opts: BackendOptions): Backend {
  const shared = sharedMemory(opts);
  if (shared) {
    try {
      return build(shared, new WebAssembly.Module(forMemory(wasmBytes(name), true)), relaxedSync(name, opts, true), true);
    } catch (e) {
      if (opts.shared === true) throw e;
      // A host that makes shared memories but cannot compile the shared import: plain memory.
    }
  }
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
  const mod = opts.module ?? new WebAssembly.Module(wasmBytes(name) as BufferSource);
  return build(memory, mod, relaxedSync(name, opts, false), false);
}

function relaxedSync(name: BackendName, opts: BackendOptions, shared: boolean): WebAssembly.Module | null {
  const rb = wantsRelaxed(name, opts) ? relaxedModuleBytes() : null;
  if (!rb) return null;
  try {
    return new WebAssembly.Module(forMemory(rb, shared));
  } catch {
    return null; // see RELAXED_EXPORTS (kernels/instance.ts)
  }
}

function build(memory: WebAssembly.Memory, module: WebAssembly.Module, relaxedModule: WebAssembly.Module | null, shared: boolean): Backend {
  const { k, relaxed, name } = instantiate(memory, module, relaxedModule);
  return { name, heap: new Heap(memory, k.heap_base()), k, relaxed: relaxed !== null, wasm: { memory, module, relaxedModule: relaxed, shared } };
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
  const compileRelaxed = async (shared: boolean) => {
    const rb = wantsRelaxed(name, opts) ? relaxedModuleBytes() : null;
    return rb ? WebAssembly.compile(forMemory(rb, shared)).catch(() => null) : null;
  };
  const shared = sharedMemory(opts);
  if (shared) {
    try {
      return build(shared, await WebAssembly.compile(forMemory(wasmBytes(name), true)), await compileRelaxed(true), true);
    } catch (e) {
      if (opts.shared === true) throw e;
    }
  }
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
  return build(memory, await WebAssembly.compile(wasmBytes(name) as BufferSource), await compileRelaxed(false), false);
}
