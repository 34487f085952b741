// The heap allocator: reuse of freed blocks, alignment, and a clear error (not a negative
// offset far away) when an allocation cannot fit.
import { describe, expect, it } from 'vitest';
import { Heap, MAX_HEAP_BYTES, PlainMemory, type MemoryLike } from '../../kernels/heap';

describe('Heap', () => {
  it('hands out aligned blocks, reuses freed ones and tracks what is in use', () => {
    const h = new Heap(new PlainMemory(1), 8);
    const a = h.alloc(10), b = h.alloc(100), c = h.alloc(1);
    for (const p of [a, b, c]) expect(p % 16).toBe(0);
    expect(h.inUse).toBe(16 + 112 + 16);
    h.free(b);
    expect(h.alloc(50)).toBe(b); // first fit in the freed block
    h.free(a);
    h.free(c);
    expect(() => h.free(c)).toThrow(/not a live allocation/);
  });

  it('refuses an allocation past the 4 GiB address space with a message, before growing', () => {
    const h = new Heap(new PlainMemory(1), 0);
    expect(h.alloc(16)).toBe(0);
    expect(() => h.alloc(MAX_HEAP_BYTES)).toThrow(/out of kernel memory: 4096 MB more does not fit \(1 kB in use/);
    expect(h.capacity).toBe(65536); // nothing was reserved
    expect(h.alloc(16)).toBe(16); // and the heap goes on where it was
  });

  it('turns a host that will not grow its memory into the same message', () => {
    const buffer = new ArrayBuffer(65536);
    const stuck: MemoryLike = { buffer, grow: () => { throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'); } };
    const h = new Heap(stuck, 0);
    h.alloc(1000);
    expect(() => h.alloc(200_000)).toThrow(/out of kernel memory: 196 kB more does not fit \(1 kB in use, 64 kB reserved.*smaller batches/);
    expect(h.alloc(1000)).toBe(1008); // the failure left the top where it was
  });
});
