// The one owner of kernel memory. JavaScript allocates, WASM kernels only read and write at
// the offsets they are given. A first-fit free list over one linear memory, 16-byte aligned
// (a v128 load never straddles a cache line it need not). Short-lived tensors are freed in
// LIFO order by scopes, so in practice frees land at the top and the list stays short.
//
// Typed-array views are re-derived whenever the buffer changes: `memory.grow` detaches the
// old ArrayBuffer, and a stale view would silently read zeros.

const PAGE = 65536;
const ALIGN = 16;
/**
 * The heap ends at 4 GiB, all of wasm32's address space (65,536 pages): pointers are unsigned
 * (views are indexed by `ptr >>> 3`, kernels take `usize`), so an offset past 2³¹ stays a
 * valid index. Issue 16; test/kernels/heap.high.test.ts runs kernels above 2 GiB.
 */
export const MAX_HEAP_BYTES = 2 ** 32;

export interface MemoryLike {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export class Heap {
  readonly memory: MemoryLike;
  private readonly base: number;
  private top: number;
  // Free blocks, sorted by offset, never adjacent to each other or to `top`.
  private freeOff: number[] = [];
  private freeLen: number[] = [];
  private readonly sizes = new Map<number, number>();
  private buf: ArrayBuffer | null = null;
  private f64View = new Float64Array(0);
  private i32View = new Int32Array(0);
  private f32View = new Float32Array(0);
  /** Bytes currently handed out. */
  inUse = 0;
  /** Largest `top` ever reached, i.e. the memory actually touched. */
  highWater: number;
  /** The end of this heap's range: all memory, or a worker thread's arena (ngmm/threads). */
  readonly limit: number;

  /** A heap over [base, limit): `limit` below the memory's end makes it an arena that never grows the memory. */
  constructor(memory: MemoryLike, base: number, limit = MAX_HEAP_BYTES) {
    this.memory = memory;
    this.limit = limit;
    this.base = Math.ceil(base / ALIGN) * ALIGN;
    this.top = this.base;
    this.highWater = this.base;
  }

  get f64(): Float64Array {
    this.refresh();
    return this.f64View;
  }

  get i32(): Int32Array {
    this.refresh();
    return this.i32View;
  }

  /** f32 data at byte offset p is `f32[p >>> 2]` (the mixed-precision network's scratch). */
  get f32(): Float32Array {
    this.refresh();
    return this.f32View;
  }

  /** Bytes of linear memory reserved (grows, never shrinks). */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  private refresh(): void {
    const b = this.memory.buffer;
    if (b !== this.buf) {
      this.buf = b;
      this.f64View = new Float64Array(b);
      this.i32View = new Int32Array(b);
      this.f32View = new Float32Array(b);
    }
  }

  /** A 16-byte aligned block of at least `bytes` bytes (contents unspecified). */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let ptr = -1;
    for (let i = 0; i < this.freeOff.length; i++) {
      const len = this.freeLen[i];
      if (len >= size) {
        ptr = this.freeOff[i];
        if (len === size) {
          this.freeOff.splice(i, 1);
          this.freeLen.splice(i, 1);
        } else {
          this.freeOff[i] += size;
          this.freeLen[i] -= size;
        }
        break;
      }
    }
    if (ptr < 0) {
      if (this.top + size > this.limit) throw this.full(size);
      ptr = this.top;
      if (ptr + size > this.memory.buffer.byteLength) this.grow(ptr + size, size);
      this.top = ptr + size;
      if (this.top > this.highWater) this.highWater = this.top;
    }
    this.sizes.set(ptr, size);
    this.inUse += size;
    return ptr;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`Heap.free: ${ptr} is not a live allocation`);
    this.sizes.delete(ptr);
    this.inUse -= size;
    if (ptr + size === this.top) {
      this.top = ptr;
      // The block below the old top may now touch it.
      const last = this.freeOff.length - 1;
      if (last >= 0 && this.freeOff[last] + this.freeLen[last] === this.top) {
        this.top = this.freeOff[last];
        this.freeOff.pop();
        this.freeLen.pop();
      }
      return;
    }
    // Insert sorted, then merge with the neighbours it touches.
    let lo = 0, hi = this.freeOff.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeOff[mid] < ptr) lo = mid + 1;
      else hi = mid;
    }
    let off = ptr, len = size;
    if (lo < this.freeOff.length && off + len === this.freeOff[lo]) {
      len += this.freeLen[lo];
      this.freeOff.splice(lo, 1);
      this.freeLen.splice(lo, 1);
    }
    if (lo > 0 && this.freeOff[lo - 1] + this.freeLen[lo - 1] === off) {
      this.freeLen[lo - 1] += len;
    } else {
      this.freeOff.splice(lo, 0, off);
      this.freeLen.splice(lo, 0, len);
    }
  }

  private grow(needed: number, size: number): void {
    const have = this.memory.buffer.byteLength;
    // Grow geometrically so a sequence of allocations costs amortised O(1) copies.
    const want = Math.min(MAX_HEAP_BYTES, Math.max(needed, Math.ceil(have * 1.5)));
    try {
      this.memory.grow(Math.ceil((want - have) / PAGE));
    } catch {
      try {
        this.memory.grow(Math.ceil((needed - have) / PAGE));
      } catch {
        throw this.full(size);
      }
    }
  }

  private full(size: number): Error {
    const mb = (b: number) => (b < 2 ** 20 ? `${Math.ceil(b / 1024)} kB` : `${(b / 2 ** 20).toFixed(0)} MB`);
    return new Error(
      `out of kernel memory: ${mb(size)} more does not fit (${mb(this.inUse)} in use, ` +
        `${mb(this.memory.buffer.byteLength)} reserved, limit ${mb(this.limit)} or the host's); ` +
        'work on fewer observations at a time (smaller batches, or a tidy() scope per step)',
    );
  }
}

/** An ArrayBuffer that grows like WebAssembly memory, for hosts without WebAssembly. */
export class PlainMemory implements MemoryLike {
  buffer: ArrayBuffer;
  constructor(pages: number) {
    this.buffer = new ArrayBuffer(pages * PAGE);
  }
  grow(pages: number): number {
    const old = this.buffer.byteLength / PAGE;
    const next = new ArrayBuffer(this.buffer.byteLength + pages * PAGE);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    this.buffer = next;
    return old;
  }
}
