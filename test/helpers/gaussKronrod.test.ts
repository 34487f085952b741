// The Gauss–Kronrod test oracle against closed forms. Every integral here has an O(1) answer
// (or is compared in the log domain, where an absolute error in logValue is a relative error
// of the integral), and the target is 1e-13 relative.
import { describe, expect, it } from 'vitest';
import { GK15, integrateLog, integrateLogMoments } from './gaussKronrod';
import { logNdtr } from '../../kernels/reference/special';

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const TOL = 1e-13;
const logNormal = (mu: number, sigma: number) => (t: number) =>
  -0.5 * ((t - mu) / sigma) ** 2 - Math.log(sigma) - LOG_SQRT_2PI;

const SIGMAS = [1e-4, 1e-3, 1e-2, 0.1, 0.3, 1, 3, 10];
const MUS = [-50, -13.7, -1, 0, 0.5, 7, 50];

describe('GK15 table (QUADPACK qk15)', () => {
  // ∫_{-1}^{1} x^{2p} dx = 2/(2p+1); odd powers vanish by the symmetry of the table.
  it('K15 is exact to degree 22, G7 to degree 12 (13 by symmetry)', () => {
    const { xgk, wgk, wg } = GK15;
    for (let p = 0; p <= 11; p++) {
      let k = p === 0 ? wgk[7]! : 0;
      for (let j = 0; j < 7; j++) k += 2 * wgk[j]! * xgk[j]! ** (2 * p);
      expect(Math.abs(k - 2 / (2 * p + 1)) / (2 / (2 * p + 1))).toBeLessThan(1e-15);
    }
    for (let p = 0; p <= 6; p++) {
      let g = p === 0 ? wg[3]! : 0;
      for (let j = 1; j < 7; j += 2) g += 2 * wg[(j - 1) >> 1]! * xgk[j]! ** (2 * p);
      expect(Math.abs(g - 2 / (2 * p + 1)) / (2 / (2 * p + 1))).toBeLessThan(1e-15);
    }
  });
});

describe('integrateLog', () => {
  it('∫ N(t; μ, σ²) dt over ℝ = 1 for σ ∈ [1e-4, 10], μ ∈ [−50, 50], without hints', () => {
    let worst = 0;
    for (const s of SIGMAS)
      for (const m of MUS) {
        const r = integrateLog(logNormal(m, s), -Infinity, Infinity);
        worst = Math.max(worst, Math.abs(r.logValue));
        expect(Math.abs(r.logValue), `σ=${s} μ=${m}`).toBeLessThan(TOL);
        expect(r.error).toBeLessThan(2 * TOL);
      }
    expect(worst).toBeLessThan(TOL);
  });

  it('a narrow bump far from the origin inside a wide finite range, with and without a hint', () => {
    for (const [m, s] of [
      [123.456, 1e-4],
      [-777.7, 1e-3],
      [0.001, 1e-6],
    ] as const) {
      for (const breakpoints of [undefined, [m]]) {
        const r = integrateLog(logNormal(m, s), -1000, 1000, { breakpoints });
        expect(Math.abs(r.logValue), `μ=${m} σ=${s}`).toBeLessThan(TOL);
      }
    }
  });

  it('half-lines and truncated ranges against log Φ (endpoints taken as rounded)', () => {
    for (const s of [1e-4, 0.2, 3])
      for (const m of [-40, 0, 2.5, 31])
        for (const z of [-2, 0.3, 3]) {
          const c = m + z * s;
          const zc = (c - m) / s; // the endpoint actually used, not the intended z
          const below = integrateLog(logNormal(m, s), -Infinity, c);
          const above = integrateLog(logNormal(m, s), c, Infinity);
          expect(Math.abs(below.logValue - logNdtr(zc)), `σ=${s} μ=${m} z=${z}`).toBeLessThan(TOL);
          expect(Math.abs(above.logValue - logNdtr(-zc)), `σ=${s} μ=${m} z=${z}`).toBeLessThan(TOL);
        }
  });

  it('log ∫ exp(−t²/2 + c) dt = c + ½ log 2π for c = ±1e4 (log-domain shift)', () => {
    for (const c of [1e4, -1e4, 700, -745, 0]) {
      const r = integrateLog((t) => -0.5 * t * t + c, -Infinity, Infinity);
      // logValue ≈ c: its own rounding is ulp(c), so allow a few of those on top of TOL.
      expect(Math.abs(r.logValue - (c + LOG_SQRT_2PI))).toBeLessThan(TOL + 8 * Number.EPSILON * Math.abs(c));
    }
  });

  it('∫_0^1 t^k dt = 1/(k+1), k = 0..30', () => {
    for (let k = 0; k <= 30; k++) {
      const r = integrateLog((t) => (k === 0 ? 0 : k * Math.log(t)), 0, 1);
      expect(Math.abs(r.logValue + Math.log(k + 1)), `k=${k}`).toBeLessThan(TOL);
    }
  });

  it('probit identity ∫ Φ(f + s t) φ(t) dt = Φ(f/√(1+s²))', () => {
    for (const f of [-6, -2, -0.5, 0, 0.3, 1, 4])
      for (const s of [0.1, 0.5, 1, 2, 5, 20]) {
        const r = integrateLog((t) => logNdtr(f + s * t) - 0.5 * t * t - LOG_SQRT_2PI, -Infinity, Infinity);
        expect(Math.abs(r.logValue - logNdtr(f / Math.sqrt(1 + s * s))), `f=${f} s=${s}`).toBeLessThan(TOL);
      }
  });

  it('other closed forms: Cauchy, exponential, Γ(5), ∫_1^∞ t⁻², constant', () => {
    const cases: [(t: number) => number, number, number, number][] = [
      [(t) => -Math.log(Math.PI * (1 + t * t)), -Infinity, Infinity, 0], // heavy tails through the map
      [(t) => -t, 0, Infinity, 0],
      [(t) => 4 * Math.log(t) - t, 0, Infinity, Math.log(24)],
      [(t) => -2 * Math.log(t), 1, Infinity, 0],
      [() => 0, -3, 5, Math.log(8)],
      [(t) => -0.5 * t * t, 0, Infinity, LOG_SQRT_2PI - Math.log(2)],
    ];
    for (const [lf, a, b, want] of cases) expect(Math.abs(integrateLog(lf, a, b).logValue - want)).toBeLessThan(TOL);
  });

  it('a bimodal mixture needs its modes as breakpoints', () => {
    const a = logNormal(-30, 1e-3);
    const b = logNormal(40, 1e-2);
    const mix = (t: number) => {
      const u = a(t) + Math.log(0.3);
      const v = b(t) + Math.log(0.7);
      const m = Math.max(u, v);
      return m + Math.log(Math.exp(u - m) + Math.exp(v - m));
    };
    const r = integrateLog(mix, -Infinity, Infinity, { breakpoints: [-30, 40] });
    expect(Math.abs(r.logValue)).toBeLessThan(TOL);
  });

  it('edge cases: empty range, reversed range, NaN integrand', () => {
    expect(integrateLog(() => 0, 2, 2).logValue).toBe(-Infinity);
    expect(() => integrateLog(() => 0, 3, 2)).toThrow();
    expect(() => integrateLog(() => NaN, 0, 1)).toThrow(/NaN/);
    expect(integrateLog(() => -Infinity, 0, 1).logValue).toBe(-Infinity);
  });
});

describe('integrateLogMoments', () => {
  it('E[t], E[t²], E[(t−μ)²] of a Gaussian, on the same mesh as Z', () => {
    for (const s of [1e-4, 0.01, 1, 10])
      for (const m of [-50, 0, 3, 50]) {
        const c = 1.234e3; // unnormalised: logZ = c + log(σ√2π)
        const r = integrateLogMoments((t) => -0.5 * ((t - m) / s) ** 2 + c, -Infinity, Infinity, [
          (t) => t,
          (t) => t * t,
          (t) => (t - m) ** 2,
        ]);
        expect(Math.abs(r.logZ - (c + Math.log(s) + LOG_SQRT_2PI))).toBeLessThan(TOL + 8 * Number.EPSILON * c);
        const [m1, m2, v] = r.moments as [number, number, number];
        expect(Math.abs(m1 - m) / Math.max(Math.abs(m), s), `σ=${s} μ=${m}`).toBeLessThan(TOL);
        expect(Math.abs(m2 - (m * m + s * s)) / (m * m + s * s)).toBeLessThan(TOL);
        expect(Math.abs(v - s * s) / (s * s)).toBeLessThan(TOL);
      }
  });

  it('posterior of a probit likelihood: E[t] = s·φ(z)/(Φ(z)·√(1+s²)), z = f/√(1+s²)', () => {
    // d/df log Φ(f/√(1+s²)) = E[∂_f log Φ(f + s t)], which gives the closed-form posterior mean
    // E[t | y=1] = s/√(1+s²) · φ(z)/Φ(z).
    for (const f of [-3, 0, 1.5])
      for (const s of [0.5, 2]) {
        const r = integrateLogMoments((t) => logNdtr(f + s * t) - 0.5 * t * t - LOG_SQRT_2PI, -Infinity, Infinity, [
          (t) => t,
        ]);
        const z = f / Math.sqrt(1 + s * s);
        const want = (s / Math.sqrt(1 + s * s)) * Math.exp(-0.5 * z * z - LOG_SQRT_2PI - logNdtr(z));
        expect(Math.abs(r.moments[0]! - want) / Math.abs(want)).toBeLessThan(TOL);
      }
  });
});
