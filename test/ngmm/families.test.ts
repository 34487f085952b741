// Every family/link: the log-likelihood is a normalised distribution whose mean is `mean`;
// score, curvature and dispersion derivative match central finite differences of logLik;
// deviance vanishes at μ = y; validation names the first bad value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allFamilies, family, type Family } from '../../ngmm/families/index';

const all = allFamilies();

// A valid response value for the family at a given η (so derivatives are checked where the
// likelihood lives), from a uniform u.
function sample(f: Family, eta: number, m: number, u: number): number {
  if (f.name === 'gaussian') return f.mean(eta, m) + 2 * (u - 0.5);
  if (f.name === 'bernoulli') return u < 0.5 ? 0 : 1;
  if (f.name === 'binomial') return Math.floor(u * (m + 1));
  return Math.floor(u * 20);
}

// Central difference with one Richardson step (error O(h⁴)), step ~ ε^{1/5} scaled.
function derivative(fn: (x: number) => number, x: number): number {
  const h = 1e-3 * Math.max(1, Math.abs(x));
  const d = (s: number) => (fn(x + s) - fn(x - s)) / (2 * s);
  return (4 * d(h / 2) - d(h)) / 3;
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

describe.each(all)('%s', (_name, f) => {
  const etaRange = f.link === 'sqrt' ? { min: 0.3, max: 4 } : f.link === 'log' ? { min: -3, max: 3 } : { min: -6, max: 6 };

  it('score, curvature and dispersion derivative match finite differences', () => {
    fc.assert(
      fc.property(
        fc.double({ ...etaRange, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.double({ min: 0.3, max: 3, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        (eta, u, phi, m0) => {
          const m = f.name === 'binomial' ? m0 : 1;
          const y = sample(f, eta, m, u);
          // Finite differences of smooth O(1) functions with a Richardson step: error ~1e−10.
          expect(close(f.score(y, eta, phi, m), derivative((e) => f.logLik(y, e, phi, m), eta), 1e-7)).toBe(true);
          expect(close(f.hess(y, eta, phi, m), derivative((e) => f.score(y, e, phi, m), eta), 1e-7)).toBe(true);
          expect(close(f.dPhi(y, eta, phi, m), derivative((p) => f.logLik(y, eta, p, m), phi), 1e-7)).toBe(true);
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });

  it('is a normalised distribution with the stated mean', () => {
    for (const eta of f.link === 'sqrt' ? [0.5, 1.5, 3] : [-2, -0.3, 0, 1.2, 2.5]) {
      const m = f.name === 'binomial' ? 7 : 1;
      const phi = 0.8;
      let total = 0, first = 0;
      if (f.name === 'gaussian') {
        // Trapezoid on a wide fine grid: exact to ~1e−12 for a Gaussian density.
        const mu = f.mean(eta, m), h = 1e-3;
        for (let y = mu - 12 * phi; y <= mu + 12 * phi; y += h) {
          const p = Math.exp(f.logLik(y, eta, phi, m));
          total += p * h;
          first += y * p * h;
        }
      } else {
        const top = f.name === 'poisson' ? 200 : m;
        for (let y = 0; y <= top; y++) {
          const p = Math.exp(f.logLik(y, eta, phi, m));
          total += p;
          first += y * p;
        }
      }
      expect(total).toBeCloseTo(1, 10);
      expect(first).toBeCloseTo(f.mean(eta, m), 9);
      const mu = f.mean(eta, m);
      const y = f.name === 'gaussian' ? mu : Math.round(Math.min(mu, m * (f.name === 'poisson' ? 1e9 : 1)));
      expect(f.deviance(y, y === 0 && f.name !== 'gaussian' ? 1e-300 : y, m)).toBeCloseTo(0, 12);
    }
  });

  it('rejects values outside the support with the index and value', () => {
    const bad = f.name === 'gaussian' ? [1, NaN] : f.name === 'bernoulli' ? [0, 0.5] : f.name === 'binomial' ? [1, 8] : [2, -1];
    const trials = [7, 7];
    const r = f.validate(bad, trials);
    expect(r?.index).toBe(1);
    expect(r?.message).toMatch(String(bad[1]));
    expect(f.validate([1, 0], trials)).toBeNull();
  });
});

describe('numerically hard corners', () => {
  it('stays finite far into the tails (|η| = 30 and beyond)', () => {
    for (const [, f] of all) {
      if (f.name === 'gaussian') continue;
      for (const eta of f.link === 'sqrt' ? [1e-3, 30] : [-30, -300, 30, 300]) {
        for (const y of f.name === 'poisson' ? [0, 5] : [0, 1]) {
          const v = [f.logLik(y, eta, 1, 1), f.score(y, eta, 1, 1), f.hess(y, eta, 1, 1)];
          for (const x of v) expect(Number.isNaN(x)).toBe(false);
          expect(f.logLik(y, eta, 1, 1)).toBeLessThanOrEqual(1e-300);
        }
      }
    }
    // probit at η = −40 with y = 1: log Φ(−40) ≈ −804.608, score ≈ 40.02 (Mills ratio).
    const probit = family('bernoulli', 'probit');
    expect(probit.logLik(1, -40, 1, 1)).toBeCloseTo(-804.6084420137538, 9);
    expect(probit.score(1, -40, 1, 1)).toBeCloseTo(40.02495, 4);
  });

  it('unknown families and links are named in the error', () => {
    expect(() => family('poisson', 'logit')).toThrow(/poisson' has no 'logit' link \(have: log, sqrt\)/);
    expect(() => family('gamma' as never)).toThrow(/unknown family 'gamma'/);
  });
});
