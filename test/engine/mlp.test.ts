// An MLP's loss end to end: gradients against finite differences over random architectures,
// training that actually reduces the loss, JSON round trips, and memory that stays flat.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import type { ActivationName } from '../../engine/ops/activations';
import { simd, ts } from '../helpers/backends';
import { checkVjp, weights } from '../helpers/checkVjp';

// Mean squared error of an MLP whose parameters are the checked inputs.
function mlpLoss(sizes: number[], act: ActivationName, x: E.Tensor, y: E.Tensor) {
  return (...ps: E.Tensor[]): E.Tensor => {
    let h = x;
    for (let l = 0; l < ps.length / 2; l++) {
      h = E.bias(E.matmul(h, ps[2 * l]), ps[2 * l + 1]);
      if (l + 1 < ps.length / 2) h = E.activations[act](h);
    }
    return E.mean(E.square(E.sub(h, y)));
  };
}

describe.each([simd, ts])('MLP on $name', (b) => {
  it('the loss gradient with respect to every weight matches finite differences', () => {
    E.withBackend(b, () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 4 }),
          fc.integer({ min: 1, max: 17 }),
          fc.constantFrom<ActivationName>('relu', 'tanh', 'softplus', 'sigmoid', 'gelu'),
          fc.integer({ min: 0, max: 1000 }),
          (sizes, batch, act, seed) => {
            const net = E.mlp(sizes, act, seed);
            try {
              E.tidy(() => {
                const x = E.tensor(weights(batch * sizes[0], seed + 1).map((v) => 2 * v), [batch, sizes[0]]);
                const y = E.tensor(weights(batch * sizes.at(-1)!, seed + 2), [batch, sizes.at(-1)!]);
                // Biases nudged off zero so relu units do not sit exactly on their kink.
                const inputs = net.parameters().map((p, i) => ({
                  values: p.data.map((v, j) => v + 0.05 * Math.sin(7 * i + j + seed)),
                  shape: p.shape,
                }));
                const r = checkVjp(mlpLoss(sizes, act, x, y), inputs, seed);
                if (!(r.worst <= 1e-6)) throw new Error(`sizes ${sizes} ${act}\n${r.details}`);
              });
            } finally {
              net.dispose();
            }
          },
        ),
        { numRuns: 30, seed: 7 },
      );
    });
  });

  it('Adam fits a smooth function, and a JSON round trip reproduces the predictions bitwise', () => {
    E.withBackend(b, () => {
      const net = E.mlp([2, 16, 16, 1], 'tanh', 3);
      const opt = new E.Adam(net.parameters(), { lr: 1e-2 });
      const rng = new E.Rng(11);
      const n = 128;
      const xs = new Float64Array(2 * n), ys = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        xs[2 * i] = 2 * rng.uniform() - 1;
        xs[2 * i + 1] = 2 * rng.uniform() - 1;
        ys[i] = Math.sin(3 * xs[2 * i]) * xs[2 * i + 1];
      }
      const x = E.untracked(() => E.tensor(xs, [n, 2]));
      const y = E.untracked(() => E.tensor(ys, [n, 1]));
      const lossOf = () => E.mean(E.square(E.sub(net.forward(x), y)));
      const first = E.tidy(() => lossOf().item());
      for (let s = 0; s < 500; s++) {
        E.tidy(() => opt.step(E.grad(lossOf(), net.parameters())));
      }
      const last = E.tidy(() => lossOf().item());
      expect(last).toBeLessThan(0.05 * first);

      const copy = E.MLP.fromJSON(JSON.parse(JSON.stringify(net)));
      E.tidy(() => {
        expect(Array.from(copy.forward(x).data)).toEqual(Array.from(net.forward(x).data));
      });
      expect(() => E.MLP.fromJSON({ ...net.toJSON(), params: [[1, 2]] })).toThrow(/expected 6 parameter arrays/);
      expect(() => E.MLP.fromJSON({ kind: 'mlp', version: 2 })).toThrow(/version-1/);
      copy.dispose();
      net.dispose();
      opt.dispose();
      x.dispose();
      y.dispose();
    });
  });
});

describe('memory', () => {
  it('stays flat over 10⁵ training steps (heap in use returns to baseline; no growth after warm-up)', () => {
    E.withBackend(simd, () => {
      const heap = simd.heap;
      const net = E.mlp([3, 8, 1], 'relu', 1);
      const opt = new E.SGD(net.parameters(), { lr: 1e-3, momentum: 0.9 });
      const x = E.untracked(() => E.tensor(weights(12, 5), [4, 3]));
      const y = E.untracked(() => E.tensor(weights(4, 6), [4, 1]));
      const step = () => E.tidy(() => opt.step(E.grad(E.mean(E.square(E.sub(net.forward(x), y))), net.parameters())));
      for (let s = 0; s < 10; s++) step();
      const inUse = heap.inUse;
      const high = heap.highWater;
      const capacity = heap.capacity;
      for (let s = 0; s < 100_000; s++) step();
      expect(heap.inUse).toBe(inUse);
      expect(heap.highWater).toBe(high);
      expect(heap.capacity).toBe(capacity);
      net.dispose();
      opt.dispose();
      x.dispose();
      y.dispose();
    });
  });

  it('views survive memory growth (a tensor allocated before growth reads the same after)', () => {
    E.withBackend(simd, () => {
      const a = E.untracked(() => E.tensor([1, 2, 3]));
      const before = simd.heap.capacity;
      const big = E.untracked(() => E.zeros([before / 8 + 1000]));
      expect(simd.heap.capacity).toBeGreaterThan(before);
      expect(Array.from(a.data)).toEqual([1, 2, 3]);
      E.tidy(() => expect(E.sum(E.mul(a, a)).item()).toBe(14));
      big.dispose();
      a.dispose();
    });
  });

  it('tidy frees what it made and keeps what it returns', () => {
    E.withBackend(simd, () => {
      const start = simd.heap.inUse;
      const kept = E.tidy(() => {
        E.zeros([100]);
        return E.ones([3]);
      });
      expect(simd.heap.inUse - start).toBe(32);
      kept.dispose();
      expect(simd.heap.inUse).toBe(start);
      expect(() => kept.ptr).toThrow(/disposed/);
    });
  });
});
