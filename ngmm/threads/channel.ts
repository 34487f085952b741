// The line between the fitting thread and one worker thread: a block of 16 Int32 in the shared
// memory, moved by Atomics (a worker blocked in Atomics.wait cannot take messages, and a
// synchronous fit cannot wait for them), and a command as JSON bytes the sender places in the
// shared memory. The sender bumps SEQ and notifies; the worker runs the command, writes DONE = SEQ
// and notifies back. One command is in flight per worker at a time.
import type { Heap } from '../../kernels/heap';

export const SEQ = 0, DONE = 1, READY = 2, STATUS = 3, CMD_PTR = 4, CMD_LEN = 5, ERR_PTR = 6, ERR_LEN = 7;
/** The sender's memory size in 64 KiB pages when it sent the command (the worker's view may lag). */
export const MEMORY_PAGES = 8;
export const CONTROL_BYTES = 64;

/** The control block at byte offset `ptr`. */
export function control(heap: Heap, ptr: number): Int32Array {
  return new Int32Array(heap.memory.buffer, ptr, CONTROL_BYTES / 4);
}

/** Text encoders and decoders refuse views of shared memory: bytes go through a private copy. */
export function writeText(heap: Heap, text: string): [ptr: number, len: number] {
  const bytes = new TextEncoder().encode(text);
  const ptr = heap.alloc(Math.max(1, bytes.length));
  new Uint8Array(heap.memory.buffer, ptr, bytes.length).set(bytes);
  return [ptr, bytes.length];
}

export function readText(heap: Heap, ptr: number, len: number): string {
  return new TextDecoder().decode(new Uint8Array(heap.memory.buffer, ptr, len).slice());
}

/**
 * How long a waiting thread spins before it sleeps in Atomics.wait: a tenth of a millisecond. A
 * thread woken from Atomics.wait starts 0.05–0.2 ms late here. Spinning longer (2 ms) saved no time
 * on the 2-core machine, and epochs with it sometimes took ~4 ms more per batch: a scheduler
 * slice, most likely taken by V8's background threads (GC, compilation) from a core a spinning
 * thread held (docs/threads.md).
 */
export const SPIN_MS = 0.1;

/**
 * Waits until ctl[i] ≠ v: spins for SPIN_MS, then blocks in Atomics.wait where the host allows
 * it (Node, Deno, Bun, a worker); a page's main thread may not block, so it spins on (a
 * synchronous fit holds that thread anyway). `timeoutMs` bounds the whole wait; returns false
 * when it ran out.
 */
export function waitWhile(ctl: Int32Array, i: number, v: number, timeoutMs = Infinity): boolean {
  const t0 = performance.now();
  const end = t0 + timeoutMs, spinEnd = t0 + Math.min(SPIN_MS, timeoutMs);
  while (Atomics.load(ctl, i) === v && performance.now() < spinEnd) {
    // spin
  }
  while (Atomics.load(ctl, i) === v) {
    const left = end - performance.now();
    if (left <= 0) return false;
    if (canBlock) {
      try {
        Atomics.wait(ctl, i, v, Math.min(left, 1000));
        continue;
      } catch {
        canBlock = false;
      }
    }
  }
  return true;
}
let canBlock = true;
