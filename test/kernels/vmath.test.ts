// The SIMD build's lane-wise exp, expm1, log and log1p against V8's Math (itself within an ulp
// of the correctly rounded value): within 4 ulp (relative 1e−15) over their domains, including
// the ends (0, ±708 and beyond, tiny arguments where expm1(x) ≈ x and log1p(e) ≈ e, subnormals
// for log, and the special values).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../kernels/load';
import { simd } from '../helpers/backends';

function apply(b: Backend, kernel: 'vexp_f64' | 'vexpneg_f64' | 'vexpm1_f64' | 'vlog_f64' | 'vlog1p_f64', xs: Float64Array): Float64Array {
  const p = b.heap.alloc(xs.length * 8), o = b.heap.alloc(xs.length * 8);
  b.heap.f64.set(xs, p >>> 3);
  b.k[kernel](xs.length, p, o);
  const out = b.heap.f64.slice(o >>> 3, (o >>> 3) + xs.length);
  b.heap.free(o);
  b.heap.free(p);
  return out;
}

const rel = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.abs(b));

// Pairs only: the odd last element goes through NativeMath, not the lane function.
const pairs = (xs: Float64Array) => xs.subarray(0, xs.length & ~1);

describe('vexp, vexpm1, vlog and vlog1p (SIMD lanes)', () => {
  it('exp over the whole range: 1e−15 relative where normal, within a subnormal ulp below, 0 and +∞ beyond', () => {
    fc.assert(
      fc.property(fc.float64Array({ min: -746, max: 709.8, noNaN: true, minLength: 2, maxLength: 64 }), (xs0) => {
        const xs = pairs(xs0);
        const got = apply(simd, 'vexp_f64', xs);
        xs.forEach((x, i) => {
          const want = Math.exp(x);
          if (want >= 2.2250738585072014e-308 || want === Infinity) expect(rel(got[i], want), `exp(${x})`).toBeLessThanOrEqual(1e-15);
          else expect(Math.abs(got[i] - want), `exp(${x}) (subnormal)`).toBeLessThanOrEqual(5e-324);
        });
      }),
      { numRuns: 300, seed: 3 },
    );
    const edge = apply(simd, 'vexp_f64', Float64Array.of(709.8, Infinity, -Infinity, NaN, 1e-300, 709.78, -745.1, -745.2));
    expect([...edge.subarray(0, 3)]).toEqual([Infinity, Infinity, 0]);
    expect(edge[3]).toBeNaN();
    expect(edge[4]).toBe(1);
    expect(rel(edge[5], Math.exp(709.78))).toBeLessThanOrEqual(1e-15);
    expect(edge[6]).toBe(Math.exp(-745.1)); // the smallest subnormal
    expect(edge[7]).toBe(0);
  });

  it('expm1 on [−745, 709.43] within 1e−15 relative (tiny arguments included), −1 below −708', () => {
    fc.assert(
      fc.property(
        fc.float64Array({ min: -745, max: 709.43, noNaN: true, minLength: 2, maxLength: 64 }),
        fc.integer({ min: 0, max: 40 }),
        (xs0, scale) => {
          const xs = pairs(xs0).map((x) => x * 10 ** -(scale % 20));
          const got = apply(simd, 'vexpm1_f64', xs);
          xs.forEach((x, i) => {
            if (x < -708) expect(got[i]).toBe(-1);
            else expect(rel(got[i], Math.expm1(x)), `expm1(${x})`).toBeLessThanOrEqual(1e-15);
          });
        },
      ),
      { numRuns: 300, seed: 4 },
    );
    const edge = apply(simd, 'vexpm1_f64', Float64Array.of(0, -0, 5e-324, -0.34657359, 0.3465736, 709.44, -Infinity, NaN));
    expect(edge[0] === 0 && edge[1] === 0).toBe(true); // −0 → +0: (2⁰ − 1) + 2⁰·(−0)
    expect(edge[2]).toBe(5e-324);
    expect(rel(edge[3], Math.expm1(-0.34657359))).toBeLessThanOrEqual(1e-15);
    expect(rel(edge[4], Math.expm1(0.3465736))).toBeLessThanOrEqual(1e-15);
    expect([...edge.subarray(5, 7)]).toEqual([Infinity, -1]);
    expect(edge[7]).toBeNaN();
  });

  it('log on (0, ∞) within 1e−15 relative (near 1 and subnormals included), its ends exact', () => {
    fc.assert(
      fc.property(
        fc.float64Array({ min: Number.MIN_VALUE, max: Number.MAX_VALUE, noNaN: true, minLength: 2, maxLength: 64 }),
        fc.float64Array({ min: 0.5, max: 2, noNaN: true, minLength: 2, maxLength: 64 }),
        (wide, near1) => {
          for (const xs of [pairs(wide), pairs(near1)]) {
            const got = apply(simd, 'vlog_f64', xs);
            // Relative even near 1, where log x is small.
            xs.forEach((x, i) => expect(rel(got[i], Math.log(x)), `log(${x})`).toBeLessThanOrEqual(1e-15));
          }
        },
      ),
      { numRuns: 300, seed: 5 },
    );
    const edge = apply(simd, 'vlog_f64', Float64Array.of(1, 0, Infinity, -1, NaN, 5e-324, 2.2250738585072014e-308, Math.SQRT2));
    expect([...edge.subarray(0, 3)]).toEqual([0, -Infinity, Infinity]);
    expect(edge[3]).toBeNaN();
    expect(edge[4]).toBeNaN();
    expect(rel(edge[5], Math.log(5e-324))).toBeLessThanOrEqual(1e-15);
    expect(rel(edge[6], Math.log(2.2250738585072014e-308))).toBeLessThanOrEqual(1e-15);
    expect(rel(edge[7], Math.LN2 / 2)).toBeLessThanOrEqual(1e-15);
  });

  it('exp for x ≤ 0 (the logit exp): within 1e−15 relative on [−708, 0], 0 below −708', () => {
    fc.assert(
      fc.property(fc.float64Array({ min: -745, max: 0, noNaN: true, minLength: 1, maxLength: 64 }), (xs) => {
        const got = apply(simd, 'vexpneg_f64', xs);
        xs.forEach((x, i) => {
          if (x < -708) {
            if (i < (xs.length & ~1)) expect(got[i]).toBe(0);
          } else expect(rel(got[i], Math.exp(x)), `exp(${x})`).toBeLessThanOrEqual(1e-15);
        });
      }),
      { numRuns: 300, seed: 1 },
    );
    const edge = apply(simd, 'vexpneg_f64', Float64Array.of(0, -0, -1e-300, -0.34657359, -0.34657360, -707.9));
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
