// A batch's objective and gradient as a sum of pieces of its groups (ngmm/threads/pieces.ts):
// the pieces depend on the batch alone, cover it in order, and their weighted sum is the batch's
// one-piece objective and gradient. Whether other threads compute some pieces is tested on the
// built bundle (test/dist/threads.test.ts), where the worker script exists.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { prepare } from '../../ngmm/data';
import { family } from '../../ngmm/families/index';
import { groupedObjective } from '../../ngmm/fitting/objective';
import { Model } from '../../ngmm/model';
import { simulate } from '../../ngmm/simulate';
import { batchGradient, cutPieces, MAX_PIECES, PIECE_ROWS } from '../../ngmm/threads/pieces';

describe('cutPieces', () => {
  it('cuts a batch in order into a power of two of pieces of whole groups, ≥ PIECE_ROWS rows on average, at most MAX_PIECES', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 64 }), (sizes) => {
      const groups = Int32Array.from(sizes.map((_, i) => (i * 7919) % 100_003)); // arbitrary group ids
      const rows = new Map<number, number>(Array.from(groups, (g, i) => [g, sizes[i]]));
      const pieces = cutPieces(groups, (g) => rows.get(g)!);
      const P = pieces.length;
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(P & (P - 1)).toBe(0); // a power of two
      expect(P).toBeLessThanOrEqual(MAX_PIECES);
      if (P > 1) expect(total / P).toBeGreaterThanOrEqual(PIECE_ROWS);
      // The largest such P: doubling it would break a rule.
      expect(2 * P > MAX_PIECES || 2 * P > groups.length || total / (2 * P) < PIECE_ROWS).toBe(true);
      for (const p of pieces) expect(p.length).toBeGreaterThan(0);
      expect(Array.from(pieces.flatMap((p) => Array.from(p)))).toEqual(Array.from(groups));
    }), { numRuns: 300 });
  });

  it('balances the rows: each cut at the first group where the running rows reach k/P of the batch', () => {
    // 16 groups of 50 rows: two pieces of 8 groups; 32 such groups: four of 8.
    const even = cutPieces(Int32Array.from({ length: 16 }, (_, i) => i), () => 50);
    expect(even.map((p) => p.length)).toEqual([8, 8]);
    expect(cutPieces(Int32Array.from({ length: 32 }, (_, i) => i), () => 50).map((p) => p.length)).toEqual([8, 8, 8, 8]);
    // Rows 100, 500, 100, 100: total 800, half 400 reached at the second group.
    expect(cutPieces(Int32Array.of(0, 1, 2, 3), (g) => [100, 500, 100, 100][g]).map((p) => Array.from(p))).toEqual([[0, 1], [2, 3]]);
    // Too few rows for two pieces of 256.
    expect(cutPieces(Int32Array.from({ length: 16 }, (_, i) => i), () => 31)).toHaveLength(1);
  });
});

describe('batchGradient', () => {
  const sim = simulate('bernoulli', 5, { groups: 60, perGroup: 40 });
  const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };

  it('equals the batch objective and gradient in one piece (the pieces weighted by their share of the groups)', () => {
    const model = new Model({ family: 'bernoulli', hidden: [16, 8], seed: 2 }, sim.xNames, new Float64Array(5), new Float64Array(5).fill(1));
    const prep = prepare(family('bernoulli'), data);
    expect(prep.response.ngroups).toBe(48); // the training rows: 32 of each of 48 groups
    const obj = groupedObjective(model, prep, { rtol: 1e-10, nodes: 25 });
    const params = model.parameters();
    const before = E.backend().heap.inUse;
    for (const batch of [Int32Array.from({ length: 16 }, (_, i) => 3 * i), Int32Array.from({ length: 40 }, (_, i) => 47 - i)]) {
      E.tidy(() => {
        const { loss, grads } = batchGradient(obj, batch, params, null);
        const rows = batch.length * 32;
        const P = Math.min(8, 2 ** Math.floor(Math.log2(rows / 256)));
        expect(cutPieces(batch, () => 32)).toHaveLength(P); // 2 and 4 pieces: the sum is really over pieces
        const L = obj.value(batch);
        const whole = E.grad(L, params);
        // The same per-group terms summed in another order: rounding (≈ 1e−16 × the number of terms).
        expect(Math.abs(loss - L.item())).toBeLessThan(1e-13 * Math.abs(L.item()));
        grads.forEach((g, i) => {
          const scale = Math.max(...whole[i].toArray().map(Math.abs), 1e-3);
          g.toArray().forEach((v, k) => expect(Math.abs(v - whole[i].data[k])).toBeLessThan(1e-12 * scale));
        });
      });
    }
    expect(E.backend().heap.inUse).toBe(before);
    model.dispose();
  });
});
