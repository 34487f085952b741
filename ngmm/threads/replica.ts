// What another thread needs to evaluate a one-factor objective: the model's structure (its spec
// and column names; the parameter values travel with every job) and the data, placed once in
// the shared memory so the thread reads them where they are. Both sides of that hand-over.
import type { Backend } from '../../kernels/load';
import type { Method } from '../fitting/objective';
import type { PreparedData } from '../data';
import type { GroupedResponse } from '../marginal/groups';
import { Model, type ModelSpec } from '../model';

/** An array in the shared memory: byte offset, element count, element type. */
export type Slot = [ptr: number, length: number, kind: 'f64' | 'i32'];

/** The data of one objective, in the shared memory. */
export interface SharedData {
  X: Slot; p: number; d: number; nobs: number; ngroups: number;
  y: Slot; trials: Slot | null; offsets: Slot; groupOf: Slot; cst: Slot; Zg: Slot | null; offset: Slot | null;
}

export interface ModelShape {
  spec: ModelSpec;
  xNames: string[];
  mean: number[];
  sd: number[];
  hasOffset: boolean;
}

/** Copies the data into `b`'s heap (the owner frees the returned pointers with `freeShared`). */
export function shareData(b: Backend, prep: PreparedData): SharedData {
  const put = (a: Float64Array | Int32Array): Slot => {
    const ptr = b.heap.alloc(Math.max(1, a.length) * a.BYTES_PER_ELEMENT);
    if (a instanceof Float64Array) b.heap.f64.set(a, ptr >>> 3);
    else b.heap.i32.set(a, ptr >>> 2);
    return [ptr, a.length, a instanceof Float64Array ? 'f64' : 'i32'];
  };
  const r = prep.response;
  return {
    X: put(prep.X), p: prep.p, d: prep.d, nobs: r.nobs, ngroups: r.ngroups,
    y: put(r.y), trials: r.trials ? put(r.trials) : null, offsets: put(r.offsets), groupOf: put(r.groupOf), cst: put(r.cst),
    Zg: prep.Zg ? put(prep.Zg) : null, offset: prep.offset ? put(prep.offset) : null,
  };
}

export function freeShared(b: Backend, s: SharedData): void {
  for (const slot of [s.X, s.y, s.trials, s.offsets, s.groupOf, s.cst, s.Zg, s.offset]) if (slot) b.heap.free(slot[0]);
}

export function modelShape(m: Model): ModelShape {
  return { spec: m.spec as ModelSpec, xNames: [...m.xNames], mean: Array.from(m.mean), sd: Array.from(m.sd), hasOffset: m.hasOffset };
}

/** The model rebuilt on this thread (its parameters are overwritten before every use). */
export function rebuildModel(s: ModelShape): Model {
  const m = new Model(s.spec, s.xNames, Float64Array.from(s.mean), Float64Array.from(s.sd));
  m.hasOffset = s.hasOffset;
  return m;
}

/** The data as views of the shared memory (no copy); `family` is the rebuilt model's. */
export function viewData(buffer: ArrayBufferLike, s: SharedData, family: GroupedResponse['family']): PreparedData {
  const f64 = (slot: Slot) => new Float64Array(buffer, slot[0], slot[1]);
  const i32 = (slot: Slot) => new Int32Array(buffer, slot[0], slot[1]);
  const response: GroupedResponse = {
    family, y: f64(s.y), trials: s.trials ? f64(s.trials) : null, offsets: i32(s.offsets), groupOf: i32(s.groupOf), cst: f64(s.cst),
    nobs: s.nobs, ngroups: s.ngroups, uploads: new Map(),
  };
  return {
    response, X: f64(s.X), p: s.p, d: s.d, levels: [], order: new Int32Array(0),
    Zg: s.Zg ? f64(s.Zg) : null, weights: null, offset: s.offset ? f64(s.offset) : null,
  };
}

export type { Method };
