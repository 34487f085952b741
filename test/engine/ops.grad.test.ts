// Every op's VJP against central finite differences (see helpers/checkVjp for the step and
// the error measure), over random shapes (including 1 and odd sizes) and values, on the WASM
// SIMD backend and on the TypeScript reference backend.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import type { Tensor } from '../../engine/index';
import { simd, ts } from '../helpers/backends';
import { checkVjp, weights, type Input } from '../helpers/checkVjp';

const TOL = 1e-6;
const RUNS = 25;

const dim = fc.integer({ min: 1, max: 7 });
const vals = (n: number, min: number, max: number) =>
  fc.float64Array({ min, max, noNaN: true, noDefaultInfinity: true, minLength: n, maxLength: n });
const matrix = (min = -3, max = 3) =>
  fc.tuple(dim, dim).chain(([m, n]) => vals(m * n, min, max).map((v): Input => ({ values: v, shape: [m, n] })));
// Values kept off a kink (relu at 0) or a pole by at least `gap`.
const awayFromZero = (gap: number, max = 3) =>
  matrix(-max, max).map((x) => ({ ...x, values: x.values.map((v) => (v >= 0 ? v + gap : v - gap)) }));

// L = Σ op(x) ⊙ w for fixed random w, so every output element's gradient is exercised.
function weighted(op: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor {
  return (...xs) => {
    const y = op(...xs);
    return E.sum(E.mul(y, E.tensor(weights(y.size, y.size), y.shape)));
  };
}

function prop(arb: fc.Arbitrary<Input[]>, op: (...xs: Tensor[]) => Tensor) {
  fc.assert(
    fc.property(arb, (inputs) => {
      const r = checkVjp(weighted(op), inputs);
      if (!(r.worst <= TOL)) throw new Error(r.details);
    }),
    { numRuns: RUNS, seed: 20261125 },
  );
}

const one = (a: fc.Arbitrary<Input>) => a.map((x) => [x]);
const sameShapePair = (min = -3, max = 3) =>
  fc.tuple(dim, dim).chain(([m, n]) =>
    fc.tuple(vals(m * n, min, max), vals(m * n, min, max)).map(([a, b]): Input[] => [
      { values: a, shape: [m, n] },
      { values: b, shape: [m, n] },
    ]),
  );
const withScalar = fc.tuple(matrix(), vals(1, 0.5, 3)).map(([x, s]): Input[] => [x, { values: s, shape: [] }]);

describe.each([simd, ts])('op gradients on $name', (b) => {
  const run = (fn: () => void) => () => E.withBackend(b, fn);

  it('unary elementwise', run(() => {
    prop(one(matrix(-3, 3)), E.exp);
    prop(one(matrix(0.1, 5)), E.log);
    prop(one(matrix(-0.5, 5)), E.log1p);
    prop(one(matrix()), E.square);
    prop(one(matrix()), E.neg);
    prop(one(matrix()), (x) => E.affine(x, -1.7, 0.3));
    prop(one(awayFromZero(0.3)), (x) => E.rdiv(2.5, x));
  }));

  it('activations', run(() => {
    prop(one(awayFromZero(0.01)), E.relu);
    prop(one(matrix(-4, 4)), E.tanh);
    prop(one(matrix(-8, 8)), E.sigmoid);
    prop(one(matrix(-30, 30)), E.softplus);
    prop(one(matrix(-6, 6)), E.gelu);
  }));

  it('binary elementwise, same shape and scalar broadcast', run(() => {
    prop(sameShapePair(), E.add);
    prop(sameShapePair(), E.sub);
    prop(sameShapePair(), E.mul);
    prop(sameShapePair().map(([a, d]) => [a, { ...d, values: d.values.map((v) => (v >= 0 ? v + 0.5 : v - 0.5)) }]), E.div);
    prop(withScalar, E.add);
    prop(withScalar, (x, s) => E.sub(s, x));
    prop(withScalar, E.mul);
    prop(withScalar, E.div);
    prop(withScalar, (x, s) => E.div(s, E.add(E.square(x), 1)));
  }));

  it('matmul in its three forms, and bias', run(() => {
    const mmArb = fc.tuple(dim, dim, dim).chain(([m, k, n]) =>
      fc.tuple(vals(m * k, -2, 2), vals(k * n, -2, 2)).map(([a, c]) => ({ m, k, n, a, c })),
    );
    prop(mmArb.map(({ m, k, n, a, c }) => [{ values: a, shape: [m, k] }, { values: c, shape: [k, n] }]), E.matmul);
    prop(mmArb.map(({ m, k, n, a, c }) => [{ values: a, shape: [m, k] }, { values: c, shape: [n, k] }]), E.matmulNT);
    prop(mmArb.map(({ m, k, n, a, c }) => [{ values: a, shape: [k, m] }, { values: c, shape: [k, n] }]), E.matmulTN);
    const biasArb = fc.tuple(dim, dim).chain(([m, n]) =>
      fc.tuple(vals(m * n, -3, 3), vals(n, -3, 3)).map(([x, c]): Input[] => [
        { values: x, shape: [m, n] },
        { values: c, shape: [n] },
      ]),
    );
    prop(biasArb, E.bias);
  }));

  it('reductions: sum, mean, logsumexp, whole and by axis', run(() => {
    prop(one(matrix()), (x) => E.sum(x));
    prop(one(matrix()), (x) => E.sum(x, 0));
    prop(one(matrix()), (x) => E.sum(x, 1));
    prop(one(matrix()), (x) => E.mean(x));
    prop(one(matrix()), (x) => E.mean(x, 0));
    prop(one(matrix()), (x) => E.mean(x, -1));
    prop(one(matrix(-20, 20)), (x) => E.logsumexp(x));
    prop(one(matrix(-20, 20)), (x) => E.logsumexp(x, 1));
  }));

  it('shape ops: reshape, gather/scatter rows, concat', run(() => {
    prop(one(matrix()), (x) => E.reshape(x, [x.size]));
    const idxArb = fc.tuple(matrix(), fc.array(fc.nat(), { minLength: 1, maxLength: 9 }));
    prop(idxArb.map(([x]) => [x]), (x) => {
      const idx = Int32Array.from({ length: 2 * x.shape[0] + 1 }, (_, i) => (i * 7) % x.shape[0]);
      return E.gatherRows(x, idx);
    });
    prop(one(matrix()), (x) => {
      const rows = 3;
      const idx = Int32Array.from({ length: x.shape[0] }, (_, i) => (i * 5) % rows);
      return E.scatterAddRows(x, idx, rows);
    });
    const cat = fc.tuple(dim, dim, dim).chain(([m, n1, n2]) =>
      fc.tuple(vals(m * n1, -3, 3), vals(m * n2, -3, 3)).map(([a, c]): Input[] => [
        { values: a, shape: [m, n1] },
        { values: c, shape: [m, n2] },
      ]),
    );
    prop(cat, (a, c) => E.concat([a, c], 1));
    prop(cat.map(([a, c]) => [a, { values: c.values, shape: [c.shape[1], c.shape[0]] }]), (a, c) =>
      E.concat([E.reshape(a, [a.size]), E.reshape(c, [c.size])], 0),
    );
  }));

  it('a custom op with a hand-written VJP enters the tape like a built-in', run(() => {
    // cube(x) = x³ with its own forward (through the kernels) and VJP 3x²·g.
    const cube = E.defineOp<undefined>({
      name: 'cube',
      forward: ([x]) => E.mul(E.mul(x, x), x),
      vjp: (g, _ans, [x]) => [E.mul(g, E.mul(E.square(x), 3))],
    });
    prop(one(matrix(-2, 2)), (x) => E.tanh(cube([x], undefined)));
  }));
});

describe('tape bookkeeping', () => {
  it('stopGradient cuts the graph, and unused parameters get zero gradients', () => {
    E.tidy(() => {
      const x = E.param([1, 2, 3]);
      const y = E.param([4]);
      const L = E.sum(E.mul(E.stopGradient(x), x));
      const [gx, gy] = E.grad(L, [x, y]);
      expect(Array.from(gx.data)).toEqual([1, 2, 3]);
      expect(Array.from(gy.data)).toEqual([0]);
      x.dispose();
      y.dispose();
    });
  });

  it('a tensor used many times accumulates its gradient', () => {
    E.tidy(() => {
      const x = E.param([0.5, -1.5]);
      let h: Tensor = x;
      for (let i = 0; i < 50; i++) h = E.add(h, x);
      const [g] = E.grad(E.sum(h), [x]);
      expect(Array.from(g.data)).toEqual([51, 51]);
      x.dispose();
    });
  });

  it('shape errors name the primitive', () => {
    E.tidy(() => {
      expect(() => E.matmul(E.zeros([2, 3]), E.zeros([2, 3]))).toThrow(/matmul: inner dimensions differ/);
      expect(() => E.add(E.zeros([2, 3]), E.zeros([3, 2]))).toThrow(/add: shapes \[2, 3\] and \[3, 2\]/);
      expect(() => E.gatherRows(E.zeros([2, 3]), Int32Array.of(0, 2))).toThrow(/gatherRows: index 2 at position 1/);
      expect(() => E.grad(E.zeros([2]), [])).toThrow(/loss must have one element/);
    });
  });
});
