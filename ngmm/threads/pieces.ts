// A mini-batch's objective and gradient as a sum over fixed pieces of its groups.
//
// The objective of a batch B of groups is −(1/|B|) Σ_{i∈B} log p(y_i), so it splits into pieces
// B₁ … B_P: Σ_k (|B_k|/|B|) · value(B_k), and so does its gradient. The pieces are cut from the
// batch alone (never from the thread count), each piece's value and gradient are computed by the
// same code on whichever thread runs it, and the pieces' gradients are summed in piece order by
// the same kernel: so a fit gives the same bits on 1, 2 or 8 threads (test/dist/threads.test.ts).
import * as E from '../../engine/index';
import type { Objective } from '../fitting/objective';

/**
 * Rows a piece should at least have: below a few hundred rows the tape's per-operation cost
 * (≈ 1–2 µs an op, ~100 ops a piece) outweighs the work a second thread takes over, and a
 * piece that small is better left to the thread that has the batch.
 */
export const PIECE_ROWS = 256;
/** Most pieces a batch is cut into (and so the most threads one batch can use). */
export const MAX_PIECES = 8;

/**
 * The batch `groups` cut in order into P pieces of whole groups, P the largest power of two
 * ≤ MAX_PIECES with at least PIECE_ROWS rows per piece on average (a power of two so 2, 4 or 8
 * threads share the pieces evenly). Each cut falls at the group where the running row count
 * first reaches k/P of the batch's rows.
 */
export function cutPieces(groups: Int32Array, rowsOf: (g: number) => number): Int32Array[] {
  let total = 0;
  for (const g of groups) total += rowsOf(g);
  let P = 1;
  while (2 * P <= MAX_PIECES && 2 * P <= groups.length && total / (2 * P) >= PIECE_ROWS) P *= 2;
  if (P === 1) return [groups];
  const out: Int32Array[] = [];
  let start = 0, rows = 0;
  for (let i = 0; i < groups.length && out.length < P - 1; i++) {
    rows += rowsOf(groups[i]);
    // Leave at least one group for each piece still to come.
    if (rows * P >= (out.length + 1) * total || groups.length - (i + 1) === P - 1 - out.length) {
      out.push(groups.subarray(start, i + 1));
      start = i + 1;
    }
  }
  out.push(groups.subarray(start));
  return out;
}

/** One piece's share of the batch objective, value and gradient in `params`' order. */
export function pieceGradient(obj: Objective, piece: Int32Array, batchGroups: number, params: readonly E.Tensor[]): { loss: number; grads: E.Tensor[] } {
  const L = E.mul(obj.value(piece), piece.length / batchGroups);
  return { loss: L.item(), grads: E.grad(L, params) };
}

/** Computes the pieces not given to other threads; `remote` fills in the rest. */
export interface PieceRunner {
  /**
   * Starts the pieces whose index i has i % threads ≠ 0 on the other threads and returns a
   * function that waits for them and returns their results (loss and gradients, as tensors in
   * the caller's scope), by piece index.
   */
  start(obj: Objective, pieces: Int32Array[], batchGroups: number, params: readonly E.Tensor[]): () => Map<number, { loss: number; grads: E.Tensor[] }>;
  /** Threads in all, the calling one included. */
  readonly threads: number;
  /** Frees what the other threads hold for `obj` (call when done with it). */
  release(obj: Objective): void;
}

/**
 * The batch's objective and gradient (in `params`' order): by pieces, on `runner`'s threads
 * when given, summed in piece order. Call inside a tidy scope.
 */
export function batchGradient(obj: Objective, groups: Int32Array, params: readonly E.Tensor[], runner: PieceRunner | null): { loss: number; grads: E.Tensor[] } {
  const one = new Int32Array(1);
  const pieces = obj.rowsIn ? cutPieces(groups, (g) => { one[0] = g; return obj.rowsIn!(one); }) : [groups];
  return sumPieces(obj, pieces, groups.length, params, runner);
}

/**
 * Σ_k (|B_k| / batchGroups)·value(B_k) over the given pieces and its gradient in `params`, the
 * pieces spread over `runner`'s threads (thread t takes k ≡ t mod T) and summed in piece order.
 * Call inside a tidy scope.
 */
export function sumPieces(obj: Objective, pieces: Int32Array[], batchGroups: number, params: readonly E.Tensor[], runner: PieceRunner | null): { loss: number; grads: E.Tensor[] } {
  const T = runner && obj.replica && pieces.length > 1 ? Math.min(runner.threads, pieces.length) : 1;
  const wait = T > 1 ? runner!.start(obj, pieces, batchGroups, params) : null;
  const results = new Map<number, { loss: number; grads: E.Tensor[] }>();
  // Each piece in its own scope: its tape is freed before the next is built (only its gradient
  // is kept), so a pass in parts needs the memory of one part, as on one thread.
  for (let i = 0; i < pieces.length; i += T) results.set(i, E.tidy(() => pieceGradient(obj, pieces[i], batchGroups, params)));
  if (wait) for (const [i, r] of wait()) results.set(i, r);
  let loss = 0;
  let grads: E.Tensor[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const r = results.get(i);
    if (!r) throw new Error(`sumPieces: piece ${i} of ${pieces.length} has no result`);
    loss += r.loss;
    grads = i === 0 ? r.grads : grads.map((g, j) => E.add(g, r.grads[j]));
  }
  return { loss, grads };
}
