// The embedding layer: lookups are the table's rows, the VJP (a scatter-add over repeated
// indices) against finite differences and against the per-row sum written out by hand, the
// missing row, the seeded initialisation, refused inputs, JSON, and memory.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { Embedding, embedding, lookupRows } from '../../engine/embedding';
import { simd, ts } from '../helpers/backends';
import { checkVjp, weights } from '../helpers/checkVjp';

// A smooth loss of looked-up rows: Σ w ⊙ tanh(e) + ½ Σ e², so each entry's gradient is
// w·(1 − tanh²e) + e, nonlinear in e (a linear loss would not tell a missed row from a doubled one).
const lossOf = (e: E.Tensor, w: E.Tensor): E.Tensor =>
  E.add(E.sum(E.mul(w, E.tanh(e))), E.affine(E.sum(E.square(e)), 0.5, 0));

describe.each([simd, ts])('embedding on $name', (b) => {
  it('forward returns the table rows, repeated indices and the missing row included', () => {
    E.withBackend(b, () => {
      const levels = 4, dim = 3;
      const values = Float64Array.from({ length: (levels + 1) * dim }, (_, i) => i + 0.5);
      const emb = new Embedding(levels, dim, values, true);
      const index = Int32Array.from([2, 0, 2, -1, 3, 2]);
      E.tidy(() => {
        const out = emb.forward(index);
        expect(out.shape).toEqual([6, 3]);
        const want: number[] = [];
        for (const k of index) {
          const row = k === -1 ? levels : k;
          for (let j = 0; j < dim; j++) want.push(values[row * dim + j]);
        }
        expect(Array.from(out.data)).toEqual(want);
      });
      emb.dispose();
    });
  });

  it('the lookup VJP matches central finite differences (random sizes, repeated and missing indices)', () => {
    E.withBackend(b, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 7 }),
          fc.integer({ min: 1, max: 5 }),
          fc.boolean(),
          fc.integer({ min: 1, max: 15 }),
          fc.integer({ min: 0, max: 1000 }),
          (levels, dim, missing, n, seed) => {
            // n draws from levels (+ missing) values: with n > levels some index repeats.
            const rng = new E.Rng(seed);
            const index = Int32Array.from({ length: n }, () => {
              const k = rng.int(levels + (missing ? 1 : 0));
              return k === levels ? -1 : k;
            });
            const rows = levels + (missing ? 1 : 0);
            E.tidy(() => {
              const w = E.tensor(weights(n * dim, seed + 1), [n, dim]);
              const r = checkVjp(
                (t) => lossOf(lookupRows(t, index, levels, missing), w),
                [{ values: weights(rows * dim, seed + 2).map((v) => 2 * v), shape: [rows, dim] }],
                seed,
              );
              // checkVjp's bound for smooth losses of order 1 (its header derives the step).
              if (!(r.worst <= 1e-7)) throw new Error(`levels ${levels} dim ${dim} index [${index}]\n${r.details}`);
            });
          },
        ),
        { numRuns: 40, seed: 5 },
      );
    });
  });

  it("the table's gradient is, row by row, the sum over the positions that looked the row up", () => {
    E.withBackend(b, () => {
      const levels = 5, dim = 2;
      const emb = embedding(levels, dim, { seed: 3, missing: true });
      const index = Int32Array.from([1, 4, 1, -1, 1, 0, -1]);
      const wv = weights(index.length * dim, 9);
      E.tidy(() => {
        const [g] = E.grad(lossOf(emb.forward(index), E.tensor(wv, [index.length, dim])), emb.parameters());
        const t = emb.table.data;
        const want = new Float64Array((levels + 1) * dim);
        index.forEach((k, r) => {
          const row = k === -1 ? levels : k;
          for (let j = 0; j < dim; j++) {
            const e = t[row * dim + j];
            want[row * dim + j] += wv[r * dim + j] * (1 - Math.tanh(e) ** 2) + e;
          }
        });
        // Level 2 and 3 are never looked up: exactly zero. Elsewhere ≤ 3 terms of order 1
        // summed in another order, and tanh from a different implementation: 1e−12 absolute.
        for (let i = 0; i < want.length; i++) expect(Math.abs(g.data[i] - want[i])).toBeLessThan(1e-12);
        expect(Array.from(g.data.subarray(2 * dim, 4 * dim))).toEqual([0, 0, 0, 0]);
      });
      emb.dispose();
    });
  });
});

describe('embedding', () => {
  it('starts from scale·N(0, 1), reproducibly by seed', () => {
    // 10⁴ draws: the sample SD's standard error is ≈ σ/√(2·10⁴) = 0.007σ and the mean's 0.01σ;
    // the bounds are 5 standard errors.
    const a = embedding(200, 50, { seed: 1 });
    const c = embedding(200, 50, { seed: 1, scale: 0.1 });
    const d = embedding(200, 50, { seed: 2 });
    const stats = (v: Float64Array) => {
      const m = v.reduce((s, x) => s + x, 0) / v.length;
      return [m, Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1))];
    };
    const [ma, sa] = stats(a.table.toArray());
    expect(Math.abs(ma)).toBeLessThan(0.05);
    expect(Math.abs(sa - 1)).toBeLessThan(0.035);
    const [mc, sc] = stats(c.table.toArray());
    expect(Math.abs(mc)).toBeLessThan(0.005);
    expect(Math.abs(sc - 0.1)).toBeLessThan(0.0035);
    expect(Array.from(embedding(200, 50, { seed: 1 }).table.data.subarray(0, 20))).toEqual(Array.from(a.table.data.subarray(0, 20)));
    expect(Array.from(d.table.data.subarray(0, 20))).not.toEqual(Array.from(a.table.data.subarray(0, 20)));
    for (const e of [a, c, d]) e.dispose();
  });

  it('meanRow averages the category rows and leaves the missing row out', () => {
    const emb = new Embedding(3, 2, [1, 10, 2, 20, 6, 60, 1000, 1000], true);
    expect(Array.from(emb.meanRow())).toEqual([3, 30]);
    emb.dispose();
  });

  it('refuses out-of-range indices, −1 without a missing row, and tables of the wrong size', () => {
    const emb = embedding(4, 2, { seed: 1 });
    expect(() => emb.forward(Int32Array.from([0, 4]))).toThrow(/index 4 at position 1 is outside 0\.\.3/);
    expect(() => emb.forward(Int32Array.from([-1]))).toThrow(/no missing row \(create it with missing: true\)/);
    expect(() => emb.forward([0, 1] as unknown as Int32Array)).toThrow(/must be an Int32Array/);
    const withMissing = embedding(4, 2, { seed: 1, missing: true });
    expect(() => withMissing.forward(Int32Array.from([-2]))).toThrow(/index -2 at position 0 is outside 0\.\.3 \(or −1 for missing\)/);
    expect(() => new Embedding(3, 2, [1, 2, 3])).toThrow(/\[3 × 2\] table needs 6 values, got 3/);
    expect(() => new Embedding(3, 2, new Float64Array(6), true)).toThrow(/\[4 × 2\] table needs 8 values/);
    expect(() => embedding(0, 2)).toThrow(/positive integers, got 0 and 2/);
    expect(() => embedding(3, 1.5)).toThrow(/positive integers/);
    expect(() => embedding(3, 2, { scale: -1 })).toThrow(/scale/);
    E.tidy(() => expect(() => lookupRows(E.zeros([4, 2]), Int32Array.from([0]), 4, true)).toThrow(/table must be \[5 × dim\]/));
    emb.dispose();
    withMissing.dispose();
  });

  it('a JSON round trip reproduces the table bitwise; malformed records are refused', () => {
    const emb = embedding(6, 3, { seed: 4, missing: true });
    const copy = Embedding.fromJSON(JSON.parse(JSON.stringify(emb)));
    expect([copy.levels, copy.dim, copy.missing]).toEqual([6, 3, true]);
    expect(Array.from(copy.table.data)).toEqual(Array.from(emb.table.data));
    expect(() => Embedding.fromJSON({ ...emb.toJSON(), version: 2 })).toThrow(/version-1/);
    expect(() => Embedding.fromJSON({ ...emb.toJSON(), table: [1, 'x'] })).toThrow(/finite numbers/);
    expect(() => Embedding.fromJSON({ ...emb.toJSON(), missing: false })).toThrow(/\[6 × 3\] table needs 18 values, got 21/);
    copy.dispose();
    emb.dispose();
  });

  it('creation, lookups with their gradient, and dispose leave the heap as they found it', () => {
    const heap = E.backend().heap;
    const before = heap.inUse;
    const emb = embedding(50, 8, { seed: 2, missing: true });
    for (let s = 0; s < 3; s++) {
      E.tidy(() => {
        const e = emb.forward(Int32Array.from([3, -1, 3, 49]));
        E.grad(E.sum(E.square(e)), emb.parameters());
      });
    }
    expect(heap.inUse).toBeGreaterThan(before);
    emb.dispose();
    expect(heap.inUse).toBe(before);
  });
});
