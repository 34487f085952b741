// A worker thread's kernels (ngmm/threads): the fitting thread's compiled modules instantiated on
// its shared memory. Apart from the loader so that the worker script carries no module bytes.
import { Heap } from './heap';
import { instantiate } from './instance';
import type { Backend } from './load';

/**
 * A worker thread's backend: the fitting thread's modules instantiated on its shared `memory`,
 * with a heap confined to the arena [base, base + bytes) that thread reserved for this one.
 */
export function attachBackend(module: WebAssembly.Module, relaxedModule: WebAssembly.Module | null, memory: WebAssembly.Memory, base: number, bytes: number): Backend {
  const { k, relaxed, name } = instantiate(memory, module, relaxedModule);
  if ((relaxed !== null) !== (relaxedModule !== null)) throw new Error('attachBackend: the relaxed-SIMD module did not instantiate on this thread');
  const heap = new Heap(memory, base, base + bytes);
  // Static scratch is shared by every instance on the memory: this one gets its own. A call at
  // address 0 only measures it (the next call moves every pointer).
  k.set_scratch(heap.alloc(k.set_scratch(0)));
  return { name, heap, k, relaxed: relaxed !== null, wasm: { memory, module, relaxedModule: relaxed, shared: true } };
}

