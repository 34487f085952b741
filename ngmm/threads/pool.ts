// The fitting thread's side of the worker threads: starts them on the current backend's shared
// memory, gives each an arena and a control block there, hands them objectives and batch pieces
// (ngmm/threads/pieces.ts), and reads their results back. The calling thread is thread 0 and
// computes its own share of the pieces while the others run.
import { backend } from '../../engine/backend';
import * as E from '../../engine/index';
import type { Backend } from '../../kernels/load';
import type { PreparedData } from '../data';
import type { Objective } from '../fitting/objective';
import { CMD_LEN, CMD_PTR, CONTROL_BYTES, control, DONE, ERR_LEN, ERR_PTR, MEMORY_PAGES, READY, readText, SEQ, STATUS, waitWhile, writeText } from './channel';
import { pieceGradient, type PieceRunner } from './pieces';
import { freeShared, modelShape, shareData, type SharedData } from './replica';
import type { Command, ThreadStart } from './worker';

/**
 * Kernel memory each worker thread may use for its pieces: 512 MB for one worker (the whole kernel
 * heap of bench -- scale's 10⁶-row NGMM, in 50,000-row parts through a 64-32-16 network, peaked
 * at 257 MB), 2 GB shared among
 * more. Address space: pages are touched only as used.
 */
export function arenaBytes(workers: number): number {
  return Math.min(512 * 2 ** 20, Math.floor(2 ** 31 / Math.max(1, workers) / 65536) * 65536);
}
/** Most threads a pool runs (pieces.ts cuts a batch into at most 8). */
export const MAX_THREADS = 8;
const START_TIMEOUT_MS = 30_000;

declare const process: { getBuiltinModule?: (id: string) => any; versions?: { node?: string } } | undefined;
function nodeBuiltin(id: string): any {
  return typeof process === 'object' ? process?.getBuiltinModule?.(id) : undefined;
}

/** The threads this host offers: Node's availableParallelism, a browser's hardwareConcurrency. */
export function availableThreads(): number {
  const os = nodeBuiltin('node:os');
  const n = os?.availableParallelism?.() ?? (typeof navigator === 'object' ? navigator.hardwareConcurrency : 1);
  return Math.max(1, Math.min(MAX_THREADS, Number.isInteger(n) ? n : 1));
}

let script: string | URL | null = null;
/** Where the worker script (dist/threads.js) is; by default next to this bundle. */
export function setThreadScript(url: string | URL): void {
  script = url;
}
function scriptUrl(): URL {
  return new URL(script ?? new URL('./threads.js', import.meta.url));
}

interface Thread {
  ctl: Int32Array;
  ctlPtr: number;
  arena: number;
  terminate(): void;
}

interface Attached {
  id: number;
  data: SharedData;
  prep: PreparedData;
}

export class ThreadPool {
  private readonly workers: Thread[] = [];
  private readonly attached = new Map<Objective, Attached>();
  private readonly sharedData = new Map<PreparedData, { data: SharedData; refs: number }>();
  private nextId = 1;
  /** Pieces a worker failed on and the calling thread computed instead (same numbers; time lost), and the last reason. */
  fallbacks = 0;
  lastFailure = '';

  private constructor(readonly backend: Backend) {}

  /** Threads including the calling one. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Why the pool cannot run on `b` here, or null. */
  static unavailable(b: Backend): string | null {
    if (!b.wasm) return `the '${b.name}' backend has no WebAssembly memory`;
    if (!b.wasm.shared) return 'the kernel memory is not shared (this host has no SharedArrayBuffer: a page must be cross-origin isolated; workerd has none)';
    if (nodeBuiltin('node:worker_threads')) {
      const url = scriptUrl();
      try {
        const fs = nodeBuiltin('node:fs');
        if (url.protocol === 'file:' && fs && !fs.existsSync(nodeBuiltin('node:url').fileURLToPath(url))) return `the worker script ${url.pathname} is missing (setThreadScript)`;
      } catch (e) {
        // Deno without --allow-read: no file access, so no worker script either.
        return `the worker script ${url.href} cannot be read here (${(e as Error).message})`;
      }
      return null;
    }
    if (typeof Worker !== 'function') return 'this host has no worker threads';
    return null;
  }

  /** Starts `n − 1` workers, blocking until they run (Node only: a browser starts workers asynchronously). */
  static startSync(b: Backend, n: number, arena = arenaBytes(n - 1)): ThreadPool {
    const pool = new ThreadPool(b);
    const wt = nodeBuiltin('node:worker_threads');
    if (!wt) throw new Error('threads: a synchronous start needs Node\'s worker_threads; call `await startThreads()` first');
    try {
      for (let k = 1; k < n; k++) pool.spawn(wt, arena);
      for (const w of pool.workers) {
        if (!waitWhile(w.ctl, READY, 0, START_TIMEOUT_MS)) throw new Error(`threads: a worker thread did not start within ${START_TIMEOUT_MS / 1000} s (script ${scriptUrl().href})`);
      }
    } catch (e) {
      pool.stop();
      throw e;
    }
    return pool;
  }

  static async start(b: Backend, n: number, arena = arenaBytes(n - 1)): Promise<ThreadPool> {
    const pool = new ThreadPool(b);
    const wt = nodeBuiltin('node:worker_threads');
    try {
      for (let k = 1; k < n; k++) pool.spawn(wt, arena);
      const t0 = performance.now();
      while (pool.workers.some((w) => Atomics.load(w.ctl, READY) === 0)) {
        if (performance.now() - t0 > START_TIMEOUT_MS) throw new Error(`threads: a worker thread did not start within ${START_TIMEOUT_MS / 1000} s (script ${scriptUrl().href})`);
        await new Promise((r) => setTimeout(r, 2));
      }
    } catch (e) {
      pool.stop();
      throw e;
    }
    return pool;
  }

  private spawn(wt: any, bytes: number): void {
    const heap = this.backend.heap;
    const ctlPtr = heap.alloc(CONTROL_BYTES);
    const arena = heap.alloc(bytes);
    const ctl = control(heap, ctlPtr);
    ctl.fill(0);
    const start: ThreadStart = { ngmmThread: true, module: this.backend.wasm!.module, relaxedModule: this.backend.wasm!.relaxedModule, memory: this.backend.wasm!.memory, arena: [arena, bytes], control: ctlPtr };
    let terminate: () => void;
    if (wt) {
      const w = new wt.Worker(scriptUrl(), { workerData: start });
      w.unref();
      terminate = () => void w.terminate();
    } else {
      const w = new Worker(scriptUrl(), { type: 'module' });
      w.postMessage(start);
      terminate = () => w.terminate();
    }
    this.workers.push({ ctl, ctlPtr, arena, terminate });
  }

  private send(w: Thread, cmd: Command): [number, number] {
    const [ptr, len] = writeText(this.backend.heap, JSON.stringify(cmd));
    w.ctl[CMD_PTR] = ptr;
    w.ctl[CMD_LEN] = len;
    w.ctl[MEMORY_PAGES] = this.backend.heap.memory.buffer.byteLength / 65536;
    Atomics.add(w.ctl, SEQ, 1);
    Atomics.notify(w.ctl, SEQ);
    return [ptr, Atomics.load(w.ctl, SEQ)];
  }

  /** Waits for the command `sent` returned; its error message, or null. */
  private finish(w: Thread, sent: [number, number]): string | null {
    for (;;) {
      const done = Atomics.load(w.ctl, DONE);
      if (done === sent[1]) break;
      waitWhile(w.ctl, DONE, done);
    }
    this.backend.heap.free(sent[0]);
    return w.ctl[STATUS] === 0 ? null : readText(this.backend.heap, w.ctl[ERR_PTR], w.ctl[ERR_LEN]);
  }

  private attach(obj: Objective): Attached {
    const have = this.attached.get(obj);
    if (have) return have;
    const rep = obj.replica;
    if (!rep) throw new Error('threads: this objective cannot be split over threads');
    let shared = this.sharedData.get(rep.prep);
    if (!shared) this.sharedData.set(rep.prep, (shared = { data: shareData(this.backend, rep.prep), refs: 0 }));
    shared.refs++;
    const a: Attached = { id: this.nextId++, data: shared.data, prep: rep.prep };
    const cmd: Command = { op: 'setup', id: a.id, model: modelShape(rep.model), data: a.data, how: rep.how };
    const sent = this.workers.map((w) => this.send(w, cmd));
    const errors = this.workers.map((w, i) => this.finish(w, sent[i])).filter((e) => e !== null);
    this.attached.set(obj, a);
    if (errors.length > 0) {
      this.release(obj);
      throw new Error(`threads: a worker thread could not set up the objective: ${errors[0]}`);
    }
    return a;
  }

  /** Frees what `obj` holds on the workers and in the shared memory. */
  release(obj: Objective): void {
    const a = this.attached.get(obj);
    if (!a) return;
    this.attached.delete(obj);
    const sent = this.workers.map((w) => this.send(w, { op: 'drop', id: a.id }));
    this.workers.forEach((w, i) => this.finish(w, sent[i]));
    const shared = this.sharedData.get(a.prep)!;
    if (--shared.refs === 0) {
      freeShared(this.backend, shared.data);
      this.sharedData.delete(a.prep);
    }
  }

  /**
   * Sends the pieces i with i % T ≠ 0 to the workers; `params` are the parameters to
   * differentiate (all of the objective's model's, or some: the linear stage), the model's
   * others held at their values.
   */
  start(obj: Objective, pieces: Int32Array[], batchGroups: number, params: readonly E.Tensor[], T: number) {
    const a = this.attach(obj);
    const heap = this.backend.heap;
    const all = obj.replica!.model.parameters();
    const wrt = params.map((p) => all.indexOf(p));
    if (wrt.includes(-1)) throw new Error('threads: a parameter to differentiate is not one of the objective\'s model');
    const paramSlots = all.map((t) => [t.ptr, t.size] as [number, number]);
    // The worker writes each piece's gradients straight into tensors made here (in the caller's
    // scope, shaped as `params`), and its loss into one slot: nothing is copied back.
    type Job = { i: number; groups: number; loss: number; grads: E.Tensor[] };
    const jobs: { w: Thread; sent: [number, number]; pieces: Job[] }[] = [];
    for (let t = 1; t < T; t++) {
      const mine: Job[] = [];
      for (let i = t; i < pieces.length; i += T) {
        const groups = heap.alloc(pieces[i].length * 4);
        heap.i32.set(pieces[i], groups >>> 2);
        mine.push({ i, groups, loss: heap.alloc(8), grads: params.map((p) => new E.Tensor(p.shape, this.backend)) });
      }
      const w = this.workers[t - 1];
      const sent = this.send(w, {
        op: 'pieces', id: a.id, params: paramSlots, wrt, batchGroups,
        pieces: mine.map((m) => ({ groups: [m.groups, pieces[m.i].length], loss: m.loss, grads: m.grads.map((g) => g.ptr) })),
      });
      jobs.push({ w, sent, pieces: mine });
    }
    return () => {
      const out = new Map<number, { loss: number; grads: E.Tensor[] }>();
      for (const job of jobs) {
        const failed = this.finish(job.w, job.sent);
        for (const m of job.pieces) {
          if (failed) {
            this.fallbacks++;
            this.lastFailure = failed;
            for (const g of m.grads) g.dispose();
            // Whatever went wrong there (its arena full, a non-finite step), the same piece here
            // gives the same numbers — or the same error, now on the fitting thread.
            out.set(m.i, E.tidy(() => pieceGradient(obj, pieces[m.i], batchGroups, params)));
          } else out.set(m.i, { loss: heap.f64[m.loss >>> 3], grads: m.grads });
          heap.free(m.groups);
          heap.free(m.loss);
        }
      }
      return out;
    };
  }

  stop(): void {
    for (const obj of [...this.attached.keys()]) this.release(obj);
    for (const w of this.workers) {
      try {
        if (Atomics.load(w.ctl, READY) === 1) this.finish(w, this.send(w, { op: 'stop' }));
      } finally {
        w.terminate();
      }
    }
    for (const w of this.workers) {
      this.backend.heap.free(w.arena);
      this.backend.heap.free(w.ctlPtr);
    }
    this.workers.length = 0;
  }
}

let pool: ThreadPool | null = null;

/**
 * Starts worker threads for fits on the current backend (`n`: threads in all, the calling one
 * included; default: the host's cores, at most 8). Needed before a fit uses threads in a browser
 * (where workers start asynchronously) and with a synchronous `fit` outside Node; `fitAsync`
 * and Node's `fit` start them themselves. Returns the threads a fit can now use. `arenaBytes`:
 * the kernel memory each worker may use (default arenaBytes(n − 1)), for a memory-tight host; a
 * piece that does not fit is computed by the calling thread, with a warning.
 */
export async function startThreads(n = availableThreads(), o: { arenaBytes?: number } = {}): Promise<number> {
  const b = backend();
  checkCount(n, 'startThreads');
  if (n > MAX_THREADS) throw new Error(`startThreads: at most ${MAX_THREADS} threads (a batch is cut into at most ${MAX_THREADS} pieces), got ${n}`);
  if (o.arenaBytes !== undefined && !(Number.isInteger(o.arenaBytes) && o.arenaBytes >= 65536)) throw new Error(`startThreads: arenaBytes must be a whole number of bytes ≥ 65536, got ${o.arenaBytes}`);
  if (pool && pool.backend === b && pool.threads >= n && o.arenaBytes === undefined) return pool.threads;
  const why = n > 1 ? ThreadPool.unavailable(b) : null;
  if (why) throw new Error(`startThreads: ${why}`);
  stopThreads();
  if (n > 1) pool = await ThreadPool.start(b, n, o.arenaBytes);
  return pool?.threads ?? 1;
}

/** Stops the worker threads (fits then run on the calling thread alone). */
export function stopThreads(): void {
  pool?.stop();
  pool = null;
}

let lastStartError: string | null = null;

/**
 * For fitAsync: starts the pool asynchronously where a synchronous start is impossible (a
 * browser), so that the fit's threadRunner finds it. A failure is kept as the reason the fit
 * then gives for running on one thread.
 */
export async function prepareThreads(threads: number | undefined): Promise<void> {
  if (threads !== undefined) checkCount(threads, 'fit');
  const want = Math.min(MAX_THREADS, threads ?? availableThreads());
  const b = backend();
  if (want <= 1 || nodeBuiltin('node:worker_threads') || (pool && pool.backend === b && pool.threads >= want)) return;
  if (ThreadPool.unavailable(b)) return;
  try {
    await startThreads(want);
    lastStartError = null;
  } catch (e) {
    lastStartError = (e as Error).message;
  }
}

function checkCount(n: unknown, what: string): void {
  if (!(Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 64)) throw new Error(`${what}: threads must be a whole number from 1 to 64, got ${String(n)}`);
}

/**
 * The runner a fit's training uses for `threads` (FitOptions.threads; undefined: the host's
 * cores), or null for the calling thread alone, with the reason when fewer threads run than were
 * asked for. Starts the pool synchronously in Node when none runs.
 */
export function threadRunner(threads: number | undefined, onWarning?: (message: string) => void): { runner: PieceRunner | null; threads: number; why: string | null } {
  if (threads !== undefined) checkCount(threads, 'fit');
  const want = Math.min(MAX_THREADS, threads ?? availableThreads());
  // Asked for more than a batch has pieces: said, not silently fewer.
  const capped = threads !== undefined && threads > MAX_THREADS ? `at most ${MAX_THREADS} threads run (a batch is cut into at most ${MAX_THREADS} pieces)` : null;
  if (want <= 1) return { runner: null, threads: 1, why: null };
  const b = backend();
  if (!(pool && pool.backend === b && pool.threads >= want)) {
    const why = ThreadPool.unavailable(b);
    if (why) return { runner: null, threads: 1, why };
    if (!nodeBuiltin('node:worker_threads')) return pool && pool.backend === b ? limited(pool, want, capped, onWarning) : { runner: null, threads: 1, why: lastStartError ?? 'no worker threads were started (call `await startThreads()` before a synchronous fit here)' };
    stopThreads();
    try {
      pool = ThreadPool.startSync(b, want);
    } catch (e) {
      return { runner: null, threads: 1, why: (e as Error).message };
    }
  }
  return limited(pool, want, capped, onWarning);
}

// The pool as a fit's runner on `want` threads at most. A piece a worker fails on is computed by
// the fitting thread (the same numbers, more time); the fit is told once, so that threads that
// never run (an arena too small for the pieces) are not a silent slowdown.
function limited(p: ThreadPool, want: number, capped: string | null, onWarning?: (message: string) => void): { runner: PieceRunner; threads: number; why: string | null } {
  const threads = Math.min(want, p.threads);
  let told = false;
  return {
    runner: {
      threads,
      start: (obj, pieces, batchGroups, params) => {
        const before = p.fallbacks;
        const wait = p.start(obj, pieces, batchGroups, params, Math.min(threads, pieces.length));
        return () => {
          const out = wait();
          if (p.fallbacks > before && !told) {
            told = true;
            onWarning?.(`fit: a worker thread could not compute its piece of a batch (${p.lastFailure}); this thread computed it instead — the same numbers, more time`);
          }
          return out;
        };
      },
      release: (obj) => p.release(obj),
    },
    threads,
    why: capped ?? (threads < want ? `${p.threads} threads were started` : null),
  };
}
