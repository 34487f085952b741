// Accuracy of the special functions in kernels/reference/special.ts against mpmath (40 digits,
// test/fixtures/special.json, made by scripts/gen-special-fixture.py), plus identities.
// The WASM build runs the same algorithm operation for operation; the parity suite compares it
// with this reference.
//
// Tolerances. Every fixture x is a double and every expected value is the exact function at that
// double rounded to nearest, so only the implementation's own rounding counts, not the function's
// condition number with respect to x (that would be unbounded, e.g. 2x² for erfc). Measured
// maxima are ≤ 6.1e-16 relative everywhere below; the bounds leave ~3x headroom:
//   erf       ≤ 1e-15 rel  (≈ 4.5 ulp): x + x·P/Q or ERX + P/Q (approximation error < 2^-57.9
//                          relative, fdlibm) or 1 - erfc with erfc ≤ 0.08.
//   erfc      ≤ 2e-15 rel  (≈ 9 ulp): in the tail exp(-th²)·exp((th-t)(th+t) + g(t))/t with an
//                          exact exp argument -th² (split t), two exp (≤ 1 ulp each), one division
//                          and |g - R/S| < 2^-61; 1 - erf pieces are ≥ 0.15 so no cancellation.
//             subnormal results (x > 26.55): absolute ≤ 4 subnormal ulps (2e-323); relative
//             accuracy is not representable there.
//   log_ndtr  ≤ 2e-15 rel everywhere (the task requires ≤ 1e-14 for x ≤ -40 and ≤ 1e-13 for
//             x ≥ 5; checked separately below at the named points). x ≤ -20: an asymptotic series
//             truncated below 1.2e-21, added to the exact -x²/2 = hi + lo; all terms have the same
//             sign, no cancellation. -20 < x < 0: log(erfc(-x/√2)/2) in log form. x > 0:
//             log1p(-q), q = Φ(-x) to a few ulp relative (same exact -x²/2), and log1p is
//             well-conditioned for q ≤ 1/2 (condition ≤ 1.45).
//   lgamma    ≤ 1e-15 rel away from the zeros at 1 and 2 (polynomial/rational pieces, or
//             (x-½)(log x - 1) + W(1/x) with no cancellation for x ≥ 8).
//             Near 1 and 2 (|x-1| < 0.25, |x-2| < 0.3) lgamma → 0 while its derivative does not
//             (ψ(1) = -γ, ψ(2) = 1-γ), so relative error of the value is not the right yardstick:
//             an O(ulp) perturbation of x or of any intermediate is an O(1e-16) absolute change.
//             Bound: 1e-16 + 1e-15·|value| absolute. (The pieces there are y·(…) in y = x-1
//             or 2-x, exact, so in practice relative accuracy survives: measured 2.1e-16.)
//             x < 0 (reflection log(π/|x sin πx|) - lgamma(-x)): the two terms cancel near the
//             zeros of lgamma on the negative axis, so the bound is 1e-15 relative to the sum of
//             the magnitudes of the two terms.
//   log1pexp  ≤ 1e-15 rel: log1p(exp(x)) or x + log1p(exp(-x)), each step condition ≤ 1.
//             Subnormal results (x < -708.4): absolute ≤ 2e-323.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { digamma, erf, erfc, lgamma, log1pexp, logMinusDigamma, logNdtr, stirlerr } from '../../kernels/reference/special';

type Row = [number, number];
interface Fixture {
  erf: Row[];
  erfc: Row[];
  log_ndtr: Row[];
  lgamma: Row[];
  lgamma_neg: Row[];
  log1pexp: Row[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/special.json', import.meta.url), 'utf8'),
) as Fixture;

const MIN_NORMAL = 2.2250738585072014e-308;
const SUBNORMAL_ABS = 2e-323;
const EPS = Number.EPSILON; // 2^-52

/** Allowed |got - want| for one point. */
type Bound = (x: number, want: number) => number;

const rel = (r: number): Bound => (_x, want) =>
  Math.abs(want) < MIN_NORMAL ? SUBNORMAL_ABS : r * Math.abs(want);

/** Checks every row; reports the worst offenders (x, got, want, |err|/bound) if any fail. */
function checkRows(rows: Row[], fn: (x: number) => number, bound: Bound): void {
  expect(rows.length).toBeGreaterThan(50);
  const bad: [number, number, number, number][] = [];
  for (const [x, want] of rows) {
    const got = fn(x);
    if (Object.is(got, want) || got === want) continue;
    const b = bound(x, want);
    const e = Math.abs(got - want);
    if (!(e <= b)) bad.push([x, got, want, e / b]);
  }
  bad.sort((a, b) => b[3] - a[3]);
  expect(bad.slice(0, 5)).toEqual([]);
}

describe('erf / erfc vs mpmath', () => {
  it('erf: relative ≤ 1e-15', () => checkRows(fixture.erf, erf, rel(1e-15)));
  it('erfc: relative ≤ 2e-15, to x = 26.5 (and subnormal results absolutely)', () => {
    expect(fixture.erfc.some(([x, v]) => x > 26 && v > MIN_NORMAL)).toBe(true);
    checkRows(fixture.erfc, erfc, rel(2e-15));
  });
  it('special values', () => {
    expect(erf(0)).toBe(0);
    expect(Object.is(erf(-0), -0)).toBe(true);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erfc(0)).toBe(1);
    expect(erfc(40)).toBe(0);
    expect(erf(1e-300)).toBe(1.1283791670955126e-300);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(NaN)).toBeNaN();
  });
});

describe('log_ndtr vs mpmath', () => {
  it('relative ≤ 2e-15 on [-200, 40] (x ≤ -40 and x ≥ 5 included)', () => {
    const rows = fixture.log_ndtr;
    expect(rows.filter(([x]) => x <= -40).length).toBeGreaterThan(50);
    expect(rows.filter(([x]) => x >= 5).length).toBeGreaterThan(200);
    checkRows(rows, logNdtr, rel(2e-15));
  });
  it('accurate to -40 and beyond: relative ≤ 1e-14, never -Infinity', () => {
    for (const [x, want] of fixture.log_ndtr.filter(([x]) => x <= -40)) {
      const got = logNdtr(x);
      expect(Number.isFinite(got)).toBe(true);
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-14 * Math.abs(want));
    }
    expect(logNdtr(-40)).toBeCloseTo(-804.6084420137538, 10);
    expect(logNdtr(-200)).toBeCloseTo(-20006.21728089819, 8);
    expect(logNdtr(-1e10)).toBeCloseTo(-5e19, -6);
    expect(logNdtr(-1e200)).toBe(-Infinity); // -5e399 is beyond double range
  });
  it('x ≥ 5: relative accuracy of the tiny value -Φ(-x) ≤ 1e-13', () => {
    for (const [x, want] of fixture.log_ndtr.filter(([x]) => x >= 5)) {
      const got = logNdtr(x);
      expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) < MIN_NORMAL ? SUBNORMAL_ABS : 1e-13 * Math.abs(want));
    }
    expect(Math.abs(logNdtr(10) / -7.619853024160525e-24 - 1)).toBeLessThan(1e-13);
  });
  it('is non-decreasing across all branch points (-200 … 40 in steps of 1/64)', () => {
    let prev = -Infinity;
    const drops: number[] = [];
    for (let i = -200 * 64; i <= 40 * 64; i++) {
      const v = logNdtr(i / 64);
      if (!(v >= prev)) drops.push(i / 64);
      prev = v;
    }
    expect(drops).toEqual([]);
  });
  it('special values', () => {
    expect(logNdtr(0)).toBe(-Math.LN2);
    expect(logNdtr(-Infinity)).toBe(-Infinity);
    expect(logNdtr(Infinity)).toBe(-0);
    expect(logNdtr(NaN)).toBeNaN();
  });
});

describe('lgamma vs mpmath', () => {
  const nearZero = (x: number) => Math.abs(x - 1) < 0.25 || Math.abs(x - 2) < 0.3;
  const bound: Bound = (x, want) => (nearZero(x) ? 1e-16 + 1e-15 * Math.abs(want) : 1e-15 * Math.abs(want));
  it('x > 0: relative ≤ 1e-15, absolute ≈ 1e-16 near the zeros at 1 and 2', () => {
    const rows = fixture.lgamma;
    expect(rows.filter(([x]) => nearZero(x)).length).toBeGreaterThan(50);
    checkRows(rows, lgamma, bound);
  });
  it('integers: lgamma(n+1) = log n!, exact zeros at 1 and 2', () => {
    expect(lgamma(1)).toBe(0);
    expect(lgamma(2)).toBe(0);
    let logFact = 0;
    for (let n = 1; n <= 170; n++) {
      logFact += Math.log(n);
      // the running sum of logs carries ~n/2 ulp of rounding; the fixture checks tighter
      expect(Math.abs(lgamma(n + 1) - logFact)).toBeLessThanOrEqual(n * EPS * Math.abs(logFact) + 1e-300);
    }
  });
  it('x < 0 (reflection): ≤ 1e-15 relative to the size of the two reflected terms', () => {
    checkRows(fixture.lgamma_neg, lgamma, (x, want) => {
      const a = Math.abs(lgamma(-x));
      return 1e-15 * (a + Math.abs(want + a)) + 1e-300;
    });
  });
  it('poles and special values', () => {
    for (const x of [0, -0, -1, -2, -3, -100, -4503599627370496, -1e300, Infinity, -Infinity]) {
      expect(lgamma(x)).toBe(Infinity);
    }
    expect(lgamma(NaN)).toBeNaN();
    expect(lgamma(0.5)).toBe(0.5723649429247001); // log √π, correctly rounded
  });
});

describe('log1pexp vs mpmath', () => {
  it('relative ≤ 1e-15 on [-800, 800]', () => checkRows(fixture.log1pexp, log1pexp, rel(1e-15)));
  it('never overflows, exact limits', () => {
    expect(log1pexp(800)).toBe(800);
    expect(log1pexp(1e308)).toBe(1e308);
    expect(log1pexp(Infinity)).toBe(Infinity);
    expect(log1pexp(-Infinity)).toBe(0);
    expect(log1pexp(-800)).toBe(0);
    expect(log1pexp(0)).toBe(Math.LN2);
    expect(log1pexp(NaN)).toBeNaN();
  });
});

describe('identities (fast-check)', () => {
  it('erf(x) + erfc(x) = 1 within 4 ε where erfc is not tiny', () => {
    // erf + erfc ∈ [1, 2]-sized operands: each value has ≤ 1 ulp of its own error (≤ 2.2e-16 at
    // magnitude 2) plus one rounding of the sum.
    fc.assert(
      fc.property(fc.double({ min: -8, max: 3, noNaN: true }), (x) => {
        expect(Math.abs(erf(x) + erfc(x) - 1)).toBeLessThanOrEqual(4 * EPS);
      }),
    );
  });
  it('erf is odd, exactly', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => {
        expect(Object.is(erf(-x), -erf(x))).toBe(true);
      }),
    );
  });
  it('lgamma(x+1) - lgamma(x) = log x on [0.5, 1e3]', () => {
    // x is snapped so x+1 is exact. Each lgamma has ≤ ~1e-15 relative error, so the difference
    // carries ~2e-15·max|lgamma|; 1e-13·max(1, |lgamma|) leaves ample room.
    fc.assert(
      fc.property(fc.double({ min: 0.5, max: 1e3, noNaN: true }), (x0) => {
        const x = x0 + 1 - 1;
        const a = lgamma(x + 1), b = lgamma(x);
        expect(Math.abs(a - b - Math.log(x))).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(a), Math.abs(b)));
      }),
    );
  });
  it('log1pexp(x) - log1pexp(-x) = x', () => {
    // both sides share log1p(e^-|x|) bit for bit; only the rounding of |x| + log1p(e^-|x|) and of
    // the difference remain: ≤ 2 ε·(|x| + 1).
    fc.assert(
      fc.property(fc.double({ min: -800, max: 800, noNaN: true }), (x) => {
        expect(Math.abs(log1pexp(x) - log1pexp(-x) - x)).toBeLessThanOrEqual(2 * EPS * (Math.abs(x) + 1));
      }),
    );
  });
});

// The negative binomial's and the Gamma's dispersion pieces. Reference values by mpmath at 40
// digits (mp.digamma, log x − mp.digamma, mp.loggamma(x) − (x − ½)·log x + x − ½·log 2π),
// across each branch (x < 8 direct, lgamma's tail from 8, the series from 10).
describe('digamma, log x − ψ(x), Stirling error vs mpmath', () => {
  const rows: [number, number, number, number][] = [
    [1e-300, -9.9999999999999997e+299, 9.9999999999999997e+299, 344.46882541590218],
    [1e-8, -100000000.57721565, 99999982.156534902, 8.2914020272061609],
    [0.3, -3.5025242222001331, 2.2985514178741971, 0.23606490074821559],
    [1.0, -0.57721566490153286, 0.57721566490153286, 0.081061466795327258],
    [2.5, 0.70315664064524319, 0.21313409122891188, 0.033162873519936287],
    [7.9, 2.002238487563571, 0.064624271909404819, 0.010542914704115186],
    [8.0, 2.01564147795561, 0.063800063724225932, 0.010411265261972096],
    [9.99, 2.2507003728312011, 0.05088421982926105, 0.0083388967977343301],
    [10.0, 2.2517525890667211, 0.050832503927324576, 0.0083305634333628713],
    [15.0, 2.6743466616607937, 0.033703539441416364, 0.0055547335519628014],
    [123.4, 4.8113737751162774, 0.0040573363550100663, 0.00067530916465940111],
    [100000.0, 11.512920464961895, 5.0000083333333332e-6, 8.3333333333055556e-7],
    [1000000000000.0, 27.631021115928048, 5.0000000000008333e-13, 8.3333333333333433e-14],
  ];
  // ψ and log − ψ: the recurrence's sums and log x each round (≤ 10 terms of size ≤ the result
  // below x = 10): 1e-14 relative. Stirling's error below 8 is a difference of terms ≤ 12 (its
  // value ≥ 0.0104): 1e-15·12/0.0104 ≈ 1e-12 relative; from 8, lgamma's tail polynomial: 1e-14.
  it.each(rows)('x = %s', (x, psi, lmd, st) => {
    expect(Math.abs(digamma(x) - psi)).toBeLessThanOrEqual(1e-14 * Math.abs(psi));
    expect(Math.abs(logMinusDigamma(x) - lmd)).toBeLessThanOrEqual(1e-14 * Math.abs(lmd));
    expect(Math.abs(stirlerr(x) - st)).toBeLessThanOrEqual((x < 8 ? 1e-12 : 1e-14) * Math.abs(st));
  });
  it('outside x > 0: NaN', () => {
    for (const f of [digamma, logMinusDigamma, stirlerr]) for (const x of [0, -1, NaN]) expect(f(x)).toBeNaN();
  });
});
