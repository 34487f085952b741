// Sums, means and log-sum-exp, over everything or along one axis of a matrix.
// logsumexp's shift (the max) is a constant of the backward pass: its VJP is softmax·g.
import { apply } from '../tape';
import { Tensor, type Primitive } from '../tensor';
import { affine } from './elementwise';

export type Axis = 0 | 1 | -1;

function matrix(name: string, x: Tensor): [number, number] {
  if (x.shape.length !== 2) {
    throw new Error(`${name} along an axis needs a matrix, got shape [${x.shape.join(', ')}]`);
  }
  return [x.shape[0], x.shape[1]];
}

const SumAll: Primitive = {
  name: 'sum',
  forward([x]) {
    const out = new Tensor([], x.backend);
    x.backend.k.fill_f64(1, x.backend.k.sum_f64(x.size, x.ptr), out.ptr);
    return out;
  },
  vjp(g, _ans, [x]) {
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.fill_f64(x.size, g.item(), out.ptr);
    return [out];
  },
};

// Axis 0 sums the rows together (→ [N]); axis 1 sums each row (→ [M]).
const SumAxis: Primitive<0 | 1> = {
  name: 'sum(axis)',
  forward([x], axis) {
    const [M, N] = matrix('sum', x);
    const out = new Tensor([axis === 0 ? N : M], x.backend);
    if (axis === 0) x.backend.k.sum_rows_f64(M, N, x.ptr, out.ptr);
    else x.backend.k.sum_cols_f64(M, N, x.ptr, out.ptr);
    return out;
  },
  vjp(g, _ans, [x], axis) {
    const [M, N] = matrix('sum', x);
    const out = new Tensor(x.shape, x.backend);
    if (axis === 0) x.backend.k.broadcast_rows_f64(M, N, g.ptr, out.ptr);
    else x.backend.k.broadcast_cols_f64(M, N, g.ptr, out.ptr);
    return [out];
  },
};

const norm = (axis: Axis): 0 | 1 => (axis === -1 ? 1 : axis);

/** Σ x, or along `axis` of a matrix. */
export function sum(x: Tensor, axis?: Axis): Tensor {
  return axis === undefined ? apply(SumAll, [x], undefined) : apply(SumAxis, [x], norm(axis));
}

export function mean(x: Tensor, axis?: Axis): Tensor {
  const n = axis === undefined ? x.size : x.shape[norm(axis)];
  return affine(sum(x, axis), 1 / n, 0);
}

const LseAll: Primitive = {
  name: 'logsumexp',
  forward([x]) {
    const out = new Tensor([], x.backend);
    x.backend.k.fill_f64(1, x.backend.k.lse_f64(x.size, x.ptr), out.ptr);
    return out;
  },
  vjp(g, ans, [x]) {
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.lse_vjp_f64(x.size, x.ptr, ans.item(), g.item(), out.ptr);
    return [out];
  },
};

const LseRows: Primitive = {
  name: 'logsumexp(rows)',
  forward([x]) {
    const [M, N] = matrix('logsumexp', x);
    const out = new Tensor([M], x.backend);
    x.backend.k.lse_rows_f64(M, N, x.ptr, out.ptr);
    return out;
  },
  vjp(g, ans, [x]) {
    const [M, N] = matrix('logsumexp', x);
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.lse_rows_vjp_f64(M, N, x.ptr, ans.ptr, g.ptr, out.ptr);
    return [out];
  },
};

/** Stable log Σ exp x over everything, or over each row (axis 1 / −1) of a matrix. */
export function logsumexp(x: Tensor, axis?: Axis): Tensor {
  if (axis === undefined) return apply(LseAll, [x], undefined);
  if (norm(axis) !== 1) throw new Error('logsumexp: only axis 1 (per row) is supported; transpose first');
  return apply(LseRows, [x], undefined);
}
