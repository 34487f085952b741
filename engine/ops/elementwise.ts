// Elementwise arithmetic. Binary ops take equal shapes, or one operand with a single element
// (broadcast as a scalar); row broadcasting is `bias` (linalg.ts). Forward and VJP together.
import { apply } from '../tape';
import { Tensor, type Primitive } from '../tensor';

type BinaryKernel = 'add_f64' | 'sub_f64' | 'mul_f64' | 'div_f64';

function checkShapes(name: string, a: Tensor, b: Tensor): readonly number[] {
  if (a.size === b.size && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])) {
    return a.shape;
  }
  if (b.size === 1) return a.shape;
  if (a.size === 1) return b.shape;
  throw new Error(`${name}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not broadcast`);
}

// The scalar value of a one-element tensor, read at the time of the call.
const val = (t: Tensor): number => t.item();

function binaryForward(name: string, kernel: BinaryKernel, a: Tensor, b: Tensor): Tensor {
  const shape = checkShapes(name, a, b);
  const out = new Tensor(shape, a.backend);
  const k = a.backend.k;
  const n = out.size;
  if (a.size === b.size) {
    k[kernel](n, a.ptr, b.ptr, out.ptr);
  } else if (b.size === 1) {
    const s = val(b);
    if (kernel === 'add_f64') k.affine_f64(n, a.ptr, 1, s, out.ptr);
    else if (kernel === 'sub_f64') k.affine_f64(n, a.ptr, 1, -s, out.ptr);
    else if (kernel === 'mul_f64') k.affine_f64(n, a.ptr, s, 0, out.ptr);
    else k.affine_f64(n, a.ptr, 1 / s, 0, out.ptr);
  } else {
    const s = val(a);
    if (kernel === 'add_f64') k.affine_f64(n, b.ptr, 1, s, out.ptr);
    else if (kernel === 'sub_f64') k.affine_f64(n, b.ptr, -1, s, out.ptr);
    else if (kernel === 'mul_f64') k.affine_f64(n, b.ptr, s, 0, out.ptr);
    else k.rdiv_f64(n, s, b.ptr, out.ptr);
  }
  return out;
}

const Add: Primitive = {
  name: 'add',
  forward: ([a, b]) => binaryForward('add', 'add_f64', a, b),
  vjp: (g) => [g, g],
};

const Sub: Primitive = {
  name: 'sub',
  forward: ([a, b]) => binaryForward('sub', 'sub_f64', a, b),
  vjp: (g) => [g, neg(g)],
};

const Mul: Primitive = {
  name: 'mul',
  forward: ([a, b]) => binaryForward('mul', 'mul_f64', a, b),
  vjp: (g, _ans, [a, b]) => [a.requiresGrad ? mul(g, b) : null, b.requiresGrad ? mul(g, a) : null],
};

// d(a/b) = da/b − (a/b)·db/b: the VJP reuses the answer.
const Div: Primitive = {
  name: 'div',
  forward: ([a, b]) => binaryForward('div', 'div_f64', a, b),
  vjp: (g, ans, [a, b]) => [
    a.requiresGrad ? div(g, b) : null,
    b.requiresGrad ? neg(div(mul(g, ans), b)) : null,
  ],
};

export const add = (a: Tensor, b: Tensor | number): Tensor =>
  typeof b === 'number' ? affine(a, 1, b) : apply(Add, [a, b], undefined);
export const sub = (a: Tensor, b: Tensor | number): Tensor =>
  typeof b === 'number' ? affine(a, 1, -b) : apply(Sub, [a, b], undefined);
export const mul = (a: Tensor, b: Tensor | number): Tensor =>
  typeof b === 'number' ? affine(a, b, 0) : apply(Mul, [a, b], undefined);
export const div = (a: Tensor, b: Tensor | number): Tensor =>
  typeof b === 'number' ? affine(a, 1 / b, 0) : apply(Div, [a, b], undefined);

/** alpha·x + beta for constants alpha, beta: scalar add/mul/neg in one primitive. */
const Affine: Primitive<{ alpha: number; beta: number }> = {
  name: 'affine',
  forward([x], { alpha, beta }) {
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.affine_f64(x.size, x.ptr, alpha, beta, out.ptr);
    return out;
  },
  vjp: (g, _ans, _x, { alpha }) => [alpha === 1 ? g : affine(g, alpha, 0)],
};

export const affine = (x: Tensor, alpha: number, beta: number): Tensor => apply(Affine, [x], { alpha, beta });
export const neg = (x: Tensor): Tensor => affine(x, -1, 0);

/** s / x for a constant s. */
const RDiv: Primitive<number> = {
  name: 'rdiv',
  forward([x], s) {
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.rdiv_f64(x.size, s, x.ptr, out.ptr);
    return out;
  },
  vjp: (g, ans, [x]) => [neg(div(mul(g, ans), x))],
};
export const rdiv = (s: number, x: Tensor): Tensor => apply(RDiv, [x], s);

export const square = (x: Tensor): Tensor => mul(x, x);

function unary(name: string, kernel: 'exp_f64' | 'log_f64' | 'log1p_f64', vjp: Primitive['vjp']): (x: Tensor) => Tensor {
  const prim: Primitive = {
    name,
    forward([x]) {
      const out = new Tensor(x.shape, x.backend);
      x.backend.k[kernel](x.size, x.ptr, out.ptr);
      return out;
    },
    vjp,
  };
  return (x) => apply(prim, [x], undefined);
}

export const exp = unary('exp', 'exp_f64', (g, ans) => [mul(g, ans)]);
export const log = unary('log', 'log_f64', (g, _ans, [x]) => [div(g, x)]);
export const log1p = unary('log1p', 'log1p_f64', (g, _ans, [x]) => [div(g, affine(x, 1, 1))]);
