// Shape and indexing ops: reshape, row gather/scatter (how observations meet their groups),
// concat and stop-gradient. Reshape copies: tensors own their storage, so a scope can free
// any of them without asking what else points there.
import { apply } from '../tape';
import { Tensor, sizeOf, type Primitive } from '../tensor';

function copyInto(src: Tensor, dst: Tensor): void {
  const f = src.backend.heap.f64;
  const s = src.ptr >>> 3;
  f.copyWithin(dst.ptr >>> 3, s, s + src.size);
}

const Reshape: Primitive<readonly number[]> = {
  name: 'reshape',
  forward([x], shape) {
    if (sizeOf(shape) !== x.size) {
      throw new Error(`reshape: [${x.shape.join(', ')}] has ${x.size} elements, [${shape.join(', ')}] needs ${sizeOf(shape)}`);
    }
    const out = new Tensor(shape, x.backend);
    copyInto(x, out);
    return out;
  },
  vjp: (g, _ans, [x]) => [reshape(g, x.shape)],
};

export const reshape = (x: Tensor, shape: readonly number[]): Tensor => apply(Reshape, [x], shape);

const StopGradient: Primitive = {
  name: 'stopGradient',
  forward([x]) {
    const out = new Tensor(x.shape, x.backend);
    copyInto(x, out);
    return out;
  },
  vjp: () => [null],
};

/** The same values, treated as a constant by `grad`. */
export const stopGradient = (x: Tensor): Tensor => apply(StopGradient, [x], undefined);

interface RowIndex {
  readonly index: Int32Array;
  readonly rows: number; // row count of the indexed (source or target) matrix
}

function rowsOf(name: string, t: Tensor): [number, number] {
  if (t.shape.length === 0) throw new Error(`${name}: needs at least one dimension`);
  return [t.shape[0], sizeOf(t.shape.slice(1))];
}

// Copies the index to the heap for the duration of one kernel call.
function withIndex(x: Tensor, index: Int32Array, rows: number, name: string, fn: (ptr: number) => void): void {
  for (let r = 0; r < index.length; r++) {
    const v = index[r];
    if (v < 0 || v >= rows) throw new Error(`${name}: index ${v} at position ${r} is outside 0..${rows - 1}`);
  }
  const heap = x.backend.heap;
  const ptr = heap.alloc(index.length * 4);
  try {
    heap.i32.set(index, ptr >>> 2);
    fn(ptr);
  } finally {
    heap.free(ptr);
  }
}

const GatherRows: Primitive<RowIndex> = {
  name: 'gatherRows',
  forward([x], { index, rows }) {
    const [, cols] = rowsOf('gatherRows', x);
    const out = new Tensor([index.length, ...x.shape.slice(1)], x.backend);
    withIndex(x, index, rows, 'gatherRows', (p) => x.backend.k.gather_rows_f64(index.length, cols, x.ptr, p, out.ptr));
    return out;
  },
  vjp: (g, _ans, _x, { index, rows }) => [scatterAddRows(g, index, rows)],
};

const ScatterAddRows: Primitive<RowIndex> = {
  name: 'scatterAddRows',
  forward([x], { index, rows }) {
    const [n, cols] = rowsOf('scatterAddRows', x);
    if (n !== index.length) throw new Error(`scatterAddRows: ${n} rows but ${index.length} indices`);
    const out = new Tensor([rows, ...x.shape.slice(1)], x.backend);
    x.backend.k.fill_f64(out.size, 0, out.ptr);
    withIndex(x, index, rows, 'scatterAddRows', (p) => x.backend.k.scatter_add_rows_f64(n, cols, x.ptr, p, out.ptr));
    return out;
  },
  vjp: (g, _ans, _x, { index, rows }) => [gatherRows(g, index, rows)],
};

/** out[r] = x[index[r]] (rows of x, which has `x.shape[0]` rows). */
export const gatherRows = (x: Tensor, index: Int32Array, rows: number = x.shape[0]): Tensor =>
  apply(GatherRows, [x], { index, rows });

/** out[index[r]] += x[r], into a matrix of `rows` rows: per-group sums of per-observation rows. */
export const scatterAddRows = (x: Tensor, index: Int32Array, rows: number): Tensor =>
  apply(ScatterAddRows, [x], { index, rows });

/** Concatenation along axis 0 (rows) or 1 (columns) of matrices, or of vectors along 0. */
const Concat: Primitive<0 | 1> = {
  name: 'concat',
  forward(xs, axis) {
    const first = xs[0];
    if (axis === 0) {
      const tail = first.shape.slice(1);
      for (const x of xs) {
        if (x.shape.length !== first.shape.length || x.shape.slice(1).some((d, i) => d !== tail[i])) {
          throw new Error(`concat(axis 0): shapes [${first.shape.join(', ')}] and [${x.shape.join(', ')}] differ beyond axis 0`);
        }
      }
      const rows = xs.reduce((s, x) => s + x.shape[0], 0);
      const out = new Tensor([rows, ...tail], first.backend);
      const f = first.backend.heap.f64; // after the allocation, which may grow memory
      let o = out.ptr >>> 3;
      for (const x of xs) {
        const s = x.ptr >>> 3;
        f.copyWithin(o, s, s + x.size);
        o += x.size;
      }
      return out;
    }
    const M = first.shape[0];
    for (const x of xs) {
      if (x.shape.length !== 2 || x.shape[0] !== M) {
        throw new Error(`concat(axis 1): needs matrices with ${M} rows, got [${x.shape.join(', ')}]`);
      }
    }
    const N = xs.reduce((s, x) => s + x.shape[1], 0);
    const out = new Tensor([M, N], first.backend);
    const f = first.backend.heap.f64;
    const fo = out.ptr >>> 3;
    let col = 0;
    for (const x of xs) {
      const c = x.shape[1], s = x.ptr >>> 3;
      for (let r = 0; r < M; r++) f.copyWithin(fo + r * N + col, s + r * c, s + r * c + c);
      col += c;
    }
    return out;
  },
  vjp(g, _ans, xs, axis) {
    const outs: Tensor[] = [];
    if (axis === 0) {
      let o = g.ptr >>> 3;
      for (const x of xs) {
        const t = new Tensor(x.shape, g.backend);
        g.backend.heap.f64.copyWithin(t.ptr >>> 3, o, o + x.size);
        o += x.size;
        outs.push(t);
      }
      return outs;
    }
    const M = g.shape[0], N = g.shape[1];
    let col = 0;
    for (const x of xs) {
      const c = x.shape[1];
      const t = new Tensor(x.shape, g.backend);
      const ff = g.backend.heap.f64;
      const go = g.ptr >>> 3, to = t.ptr >>> 3;
      for (let r = 0; r < M; r++) ff.copyWithin(to + r * c, go + r * N + col, go + r * N + col + c);
      col += c;
      outs.push(t);
    }
    return outs;
  },
};

export function concat(xs: readonly Tensor[], axis: 0 | 1 = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: nothing to concatenate');
  return apply(Concat, xs, axis);
}
