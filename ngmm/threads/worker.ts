// A worker thread's side (the entry of dist/threads.js): instantiates the kernels on the fitting
// thread's shared memory, with a heap in the arena that thread reserved for it, rebuilds each
// objective it is given (ngmm/threads/replica.ts), and computes the batch pieces it is sent with
// the parameters it is pointed at — the same code the fitting thread runs for its own pieces.
import { setBackend } from '../../engine/backend';
import * as E from '../../engine/index';
import { attachBackend } from '../../kernels/attach';
import { groupedObjective, type Objective } from '../fitting/objective';
import type { Model } from '../model';
import { CMD_LEN, CMD_PTR, control, DONE, ERR_LEN, ERR_PTR, MEMORY_PAGES, READY, readText, SEQ, STATUS, waitWhile, writeText } from './channel';
import { pieceGradient } from './pieces';
import { rebuildModel, viewData, type Method, type ModelShape, type SharedData } from './replica';

/** What the fitting thread hands a new worker (workerData in Node, the first message elsewhere). */
export interface ThreadStart {
  ngmmThread: true;
  module: WebAssembly.Module;
  /** The relaxed-SIMD f32 matmuls when the fitting thread uses them: every thread runs the same kernels. */
  relaxedModule: WebAssembly.Module | null;
  memory: WebAssembly.Memory;
  /** The worker's heap: [base, base + bytes). */
  arena: [number, number];
  /** Byte offset of its control block. */
  control: number;
}

export type Command =
  | { op: 'setup'; id: number; model: ModelShape; data: SharedData; how: Method }
  | { op: 'drop'; id: number }
  | { op: 'pieces'; id: number; params: [number, number][]; wrt: number[]; batchGroups: number; pieces: { groups: [number, number]; loss: number; grads: number[] }[] }
  | { op: 'stop' };

export function serve(init: ThreadStart): void {
  const b = setBackend(attachBackend(init.module, init.relaxedModule, init.memory, init.arena[0], init.arena[1]));
  const ctl = control(b.heap, init.control);
  const replicas = new Map<number, { model: Model; obj: Objective; params: E.Tensor[] }>();
  let err = 0;
  // Read before saying READY: the fitting thread sends its first command as soon as it sees it.
  let seen = Atomics.load(ctl, SEQ);
  Atomics.store(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  for (;;) {
    waitWhile(ctl, SEQ, seen);
    seen = Atomics.load(ctl, SEQ);
    // Another thread may have grown the memory since this one last looked, and V8 updates this
    // thread's view of it (memory.buffer) only lazily; grow(0) makes it current — only when the
    // sender's memory is larger than this view, since it costs every thread on the memory an
    // interrupt (measured: 0.2–0.3 ms a batch when done every time).
    if (init.memory.buffer.byteLength < ctl[MEMORY_PAGES] * 65536) init.memory.grow(0);
    if (err) {
      b.heap.free(err);
      err = 0;
    }
    let stop = false;
    try {
      const cmd = JSON.parse(readText(b.heap, ctl[CMD_PTR], ctl[CMD_LEN])) as Command;
      if (cmd.op === 'stop') {
        for (const r of replicas.values()) r.model.dispose();
        stop = true;
      } else run(cmd);
      ctl[STATUS] = 0;
    } catch (e) {
      // Said back to the fitting thread, which then computes the pieces itself: this thread
      // must never die silently while that one waits.
      const [p, l] = writeText(b.heap, (e as Error)?.message ?? String(e));
      err = p;
      ctl[ERR_PTR] = p;
      ctl[ERR_LEN] = l;
      ctl[STATUS] = 1;
    }
    Atomics.store(ctl, DONE, seen);
    Atomics.notify(ctl, DONE);
    if (stop) return;
  }

  function run(cmd: Exclude<Command, { op: 'stop' }>): void {
    if (cmd.op === 'setup') {
      const model = rebuildModel(cmd.model);
      const obj = groupedObjective(model, viewData(b.heap.memory.buffer, cmd.data, model.family), cmd.how);
      replicas.set(cmd.id, { model, obj, params: model.parameters() });
      return;
    }
    const rep = replicas.get(cmd.id);
    if (!rep) throw new Error(`worker thread: no objective #${cmd.id}`);
    if (cmd.op === 'drop') {
      rep.model.dispose();
      replicas.delete(cmd.id);
      return;
    }
    E.tidy(() => {
      let f64 = b.heap.f64;
      rep.params.forEach((t, j) => {
        const [ptr, size] = cmd.params[j];
        if (size !== t.size) throw new Error(`worker thread: parameter ${j} has ${size} values, the replica ${t.size}`);
        t.data.set(f64.subarray(ptr >>> 3, (ptr >>> 3) + size));
      });
      const wrt = cmd.wrt.map((i) => rep.params[i]);
      for (const pc of cmd.pieces) {
        const groups = new Int32Array(b.heap.memory.buffer, pc.groups[0], pc.groups[1]).slice();
        // One scope per piece: the arena holds one piece's tape at a time. The results go
        // where the fitting thread asked: its loss slot and its gradient tensors.
        E.tidy(() => {
          const r = pieceGradient(rep.obj, groups, cmd.batchGroups, wrt);
          f64 = b.heap.f64;
          f64[pc.loss >>> 3] = r.loss;
          r.grads.forEach((g, j) => f64.set(g.data, pc.grads[j] >>> 3));
        });
      }
    });
  }
}

// Started as a thread: Node's worker_threads hands the start in workerData; a Web Worker gets it
// as its first message (and then blocks in Atomics.wait for good, which a dedicated worker may).
declare const process: { getBuiltinModule?: (id: string) => any } | undefined;
const wt = typeof process === 'object' ? process?.getBuiltinModule?.('node:worker_threads') : undefined;
if (wt && !wt.isMainThread && wt.workerData?.ngmmThread) serve(wt.workerData as ThreadStart);
else if (typeof (globalThis as any).WorkerGlobalScope === 'function' && self instanceof (globalThis as any).WorkerGlobalScope) {
  self.addEventListener('message', (e: MessageEvent) => {
    if ((e.data as ThreadStart)?.ngmmThread) serve(e.data as ThreadStart);
  }, { once: true });
}
