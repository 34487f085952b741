// Every family/link: the log-likelihood is a normalised distribution whose mean is `mean` and
// (negative binomial, Gamma) whose variance is `variance`; score, curvature and dispersion
// derivative match central finite differences of logLik, with trials or prior weights in m;
// deviance vanishes at μ = y; validation names the first bad value; the lookup is safe for
// any string.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allFamilies, family, type Family, type FamilyName, type LinkName } from '../../ngmm/families/index';
import { integrateLog } from '../helpers/gaussKronrod';

const all = allFamilies();

// A valid response value for the family at a given η (so derivatives are checked where the
// likelihood lives), from a uniform u.
function sample(f: Family, eta: number, m: number, u: number): number {
  if (f.name === 'gaussian') return f.mean(eta, m) + 2 * (u - 0.5);
  if (f.name === 'bernoulli') return u < 0.5 ? 0 : 1;
  if (f.name === 'binomial') return Math.floor(u * (m + 1));
  if (f.name === 'gamma') return f.mean(eta, m) * (0.05 + 3 * u);
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
          // Trials for the binomial, a prior weight (0.25 … 3) for every other family but Bernoulli.
          const m = f.name === 'binomial' ? m0 : f.name === 'bernoulli' ? 1 : m0 / 4;
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
      if (f.name === 'gamma') {
        // Over log y (Gauss–Kronrod to 1e−13): ∫p(y)dy = ∫p(eᵘ)eᵘdu, and the first two moments.
        const lp = (u: number) => (Math.abs(u) < 700 ? f.logLik(Math.exp(u), eta, phi, m) + u : -Infinity);
        total = Math.exp(integrateLog(lp, -Infinity, Infinity).logValue);
        first = Math.exp(integrateLog((u) => lp(u) + u, -Infinity, Infinity).logValue);
        const second = Math.exp(integrateLog((u) => lp(u) + 2 * u, -Infinity, Infinity).logValue);
        expect(second - first * first).toBeCloseTo(f.variance(f.mean(eta, m), phi, m), 8);
      } else if (f.name === 'gaussian') {
        // Trapezoid on a wide fine grid: exact to ~1e−12 for a Gaussian density.
        const mu = f.mean(eta, m), h = 1e-3;
        for (let y = mu - 12 * phi; y <= mu + 12 * phi; y += h) {
          const p = Math.exp(f.logLik(y, eta, phi, m));
          total += p * h;
          first += y * p * h;
        }
      } else {
        // Tails: Poisson's beyond 200 and NB's (ratio μ/(μ + θ) ≤ 0.94 here) beyond 3000 are < 1e−16.
        const top = f.name === 'poisson' ? 200 : f.name === 'negbinomial' ? 3000 : m;
        let second = 0;
        for (let y = 0; y <= top; y++) {
          const p = Math.exp(f.logLik(y, eta, phi, m));
          total += p;
          first += y * p;
          second += y * y * p;
        }
        if (f.name === 'negbinomial') expect(second - first * first).toBeCloseTo(f.variance(f.mean(eta, m), phi, m), 7);
      }
      expect(total).toBeCloseTo(1, 10);
      expect(first).toBeCloseTo(f.mean(eta, m), 9);
      const mu = f.mean(eta, m);
      const y = f.name === 'gaussian' || f.name === 'gamma' ? mu : Math.round(Math.min(mu, m * (f.name === 'binomial' || f.name === 'bernoulli' ? 1 : 1e9)));
      expect(f.deviance(y, y === 0 && f.name !== 'gaussian' ? 1e-300 : y, m, phi)).toBeCloseTo(0, 12);
      if (f.name !== 'binomial' && f.name !== 'bernoulli') expect(f.deviance(y, mu * 1.3 + 0.1, m, phi)).toBeGreaterThan(0);
    }
  });

  it('rejects values outside the support with the index and value', () => {
    const bad = f.name === 'gaussian' ? [1, NaN] : f.name === 'bernoulli' ? [0, 0.5] : f.name === 'binomial' ? [1, 8] :
      f.name === 'gamma' ? [2, 0] : f.name === 'negbinomial' ? [2, 1.5] : [2, -1];
    const trials = [7, 7];
    const r = f.validate(bad, trials);
    expect(r?.index).toBe(1);
    expect(r?.message).toMatch(String(bad[1]));
    expect(f.validate(f.name === 'gamma' ? [1, 0.2] : [1, 0], trials)).toBeNull();
  });
});

describe('numerically hard corners', () => {
  it('stays finite far into the tails (|η| = 30 and beyond)', () => {
    for (const [, f] of all) {
      if (f.name === 'gaussian') continue;
      for (const eta of f.link === 'sqrt' ? [1e-3, 30] : [-30, -300, 30, 300]) {
        for (const y of f.name === 'poisson' || f.name === 'negbinomial' ? [0, 5] : f.name === 'gamma' ? [0.5, 3] : [0, 1]) {
          const v = [f.logLik(y, eta, 1, 1), f.score(y, eta, 1, 1), f.hess(y, eta, 1, 1), f.dPhi(y, eta, 1, 1)];
          for (const x of v) expect(Number.isNaN(x)).toBe(false);
          // A probability (the Gamma's is a density, which may exceed 1).
          if (f.name !== 'gamma') expect(f.logLik(y, eta, 1, 1)).toBeLessThanOrEqual(1e-300);
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
    expect(() => family('gamma', 'identity')).toThrow(/gamma' has no 'identity' link \(have: log\)/);
  });

  it('the negative binomial deviance refuses a missing θ rather than return NaN', () => {
    expect(() => family('negbinomial').deviance(3, 2, 1)).toThrow(/needs θ > 0 \(got undefined\)/);
  });

  it('any string is safe as a family or link name: Object.prototype names are unknown, R spellings are aliases', () => {
    const have = 'have: gaussian, bernoulli, binomial, poisson, negbinomial, gamma';
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '']) {
      expect(() => family(name as FamilyName)).toThrow(new Error(`unknown family '${name}' (${have})`));
    }
    for (const link of ['toString', 'constructor', '__proto__']) {
      expect(() => family('poisson', link as LinkName)).toThrow(new Error(`family 'poisson' has no '${link}' link (have: log, sqrt)`));
    }
    expect(family('nbinom2' as FamilyName)).toBe(family('negbinomial'));
    expect(family('Gamma' as FamilyName, 'log')).toBe(family('gamma'));
    expect(family('negbinomial').hasDispersion && family('gamma').hasDispersion && family('gaussian').hasDispersion).toBe(true);
    expect(family('poisson').hasDispersion || family('binomial').hasDispersion).toBe(false);
  });
});
