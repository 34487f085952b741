// Gaussian LMMs with several random-effect terms (ngmm/lmm/multi): the profiled criterion at
// given θ against the dense multivariate-normal density computed here independently (crossed,
// nested and uncorrelated terms, weights, offsets, ML and REML); its θ-gradient against central
// differences; the reduction to fitLmm for one term; the fill of the sparse factor; and lme4
// reference fits (test/fixtures/lmm-multi, written by scripts/lmm-multi-fixtures.R; R is not
// needed to run this file).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitLmm, LmmError, ProfiledDeviance } from '../../ngmm/lmm/index';
import { fitMultiLmm, MultiProfiledDeviance, type LmmTerm, type MultiLmmInput } from '../../ngmm/lmm/multi';
import { addTermCovariance, gaussianCriterion, lambdaFromTheta } from '../helpers/dense';
import { mulberry32, normal } from '../helpers/seeded';

const FIXTURES = join(__dirname, '..', 'fixtures', 'lmm-multi');

type Design = 'crossed' | 'nested' | 'uncorrelated';

/**
 * Simulated unbalanced data, n = 70, p = 2:
 *  crossed:      (1 + x | a) with 8 levels, (1 | b) with 5 levels, a and b crossed at random;
 *  nested:       (1 | c) with 4 levels, (1 | c:e) with 3 levels of e in each c;
 *  uncorrelated: (1 + x || a), (1 | b).
 */
function simulated(seed: number, design: Design, reml: boolean, opts: { weights?: boolean; offset?: boolean } = {}): MultiLmmInput {
  const rand = mulberry32(seed);
  const n = 70, p = 2;
  const X = new Float64Array(n * p), y = new Float64Array(n);
  const weights = new Float64Array(n), offset = new Float64Array(n);
  const a = new Int32Array(n), b = new Int32Array(n), c = new Int32Array(n), ce = new Int32Array(n);
  const xs = new Float64Array(n);
  const ea = Array.from({ length: 8 }, () => [normal(rand), 0.5 * normal(rand)]);
  const eb = Array.from({ length: 5 }, () => 0.8 * normal(rand));
  const ec = Array.from({ length: 4 }, () => normal(rand));
  const ece = Array.from({ length: 12 }, () => 0.6 * normal(rand));
  for (let j = 0; j < n; j++) {
    // The first rows visit every level, so that none is empty.
    a[j] = j < 8 ? j : Math.floor(rand() * 8);
    b[j] = j < 5 ? j : Math.floor(rand() * 5);
    ce[j] = j < 12 ? j : Math.floor(rand() * 12);
    c[j] = Math.floor(ce[j] / 3);
    const x = 2 * rand() - 1, x2 = normal(rand);
    xs[j] = x;
    X[j * p] = 1; X[j * p + 1] = x2;
    weights[j] = opts.weights ? 0.5 + 1.5 * rand() : 1;
    offset[j] = opts.offset ? 3 * rand() : 0;
    let eta = 5 + 0.7 * x2 + offset[j];
    eta += design === 'nested' ? ec[c[j]] + ece[ce[j]] : ea[a[j]][0] + ea[a[j]][1] * x + eb[b[j]];
    y[j] = eta + (0.6 * normal(rand)) / Math.sqrt(weights[j]);
  }
  const slope = Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 1 : xs[i >> 1]));
  const ones = new Float64Array(n).fill(1);
  const terms: LmmTerm[] = design === 'nested'
    ? [{ name: 'c', group: c, G: 4, Z: ones, q: 1 }, { name: 'c:e', group: ce, G: 12, Z: ones, q: 1 }]
    : [{ name: 'a', group: a, G: 8, Z: slope, q: 2, diagonal: design === 'uncorrelated' }, { name: 'b', group: b, G: 5, Z: ones, q: 1 }];
  return { X, p, y, terms, reml, weights: opts.weights ? weights : undefined, offset: opts.offset ? offset : undefined };
}

/**
 * −2 × the maximised Gaussian log-density (ML) or the REML criterion at θ, by generalised least
 * squares on the dense marginal covariance σ²V₀, V₀ = W⁻¹ + Σ_k Z_k (I ⊗ Λ_kΛ_k') Z_k': rows
 * i and j share term k's covariance when they are in the same level of its factor.
 */
function denseCriterion(d: MultiLmmInput, theta: number[]): number {
  const n = d.y.length;
  const V = new Float64Array(n * n);
  let t0 = 0;
  for (const t of d.terms) {
    const m = t.diagonal ? t.q : (t.q * (t.q + 1)) / 2;
    addTermCovariance(V, n, t.group, t.Z, t.q, lambdaFromTheta(theta.slice(t0, t0 + m), t.q, t.diagonal));
    t0 += m;
  }
  for (let i = 0; i < n; i++) V[i * n + i] += 1 / (d.weights ? d.weights[i] : 1);
  return gaussianCriterion(V, n, d.X, d.p, Float64Array.from(d.y, (v, i) => v - (d.offset ? d.offset[i] : 0)), d.reml);
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('the multi-term profiled criterion at given θ', () => {
  // θ for crossed/uncorrelated: term a then term b; for nested: c then c:e.
  const thetas: Record<Design, number[][]> = {
    crossed: [[1, 0, 1, 1], [0.7, -0.4, 0.3, 1.6], [0, 0.5, 0.2, 0.9], [1.2, 0.3, 0.5, 0]],
    nested: [[1, 1], [2.5, 0.4], [0, 1.3], [0.8, 0]],
    uncorrelated: [[1, 1, 1], [0.6, 0.2, 1.4], [0, 0.7, 0.3]],
  };
  for (const design of ['crossed', 'nested', 'uncorrelated'] as const) {
    for (const reml of [false, true]) {
      it(`equals the dense multivariate-normal ${reml ? 'REML criterion' : 'deviance'} (${design}, with and without weights and offset)`, () => {
        for (const [seed, opts] of [[1, {}], [2, { weights: true, offset: true }]] as const) {
          const d = simulated(seed, design, reml, opts);
          const dev = new MultiProfiledDeviance(d);
          for (const th of thetas[design]) {
            // Both sides sum O(n) logs and squares of O(1) numbers: agreement to 1e-12 relative
            // leaves room for the rounding of the dense n × n Cholesky.
            expect(relErr(dev.evaluate(th), denseCriterion(d, th))).toBeLessThan(1e-12);
          }
        }
      });
    }
  }

  it('is unchanged when a column of a term\'s Λ changes sign', () => {
    const d = simulated(3, 'crossed', false);
    const dev = new MultiProfiledDeviance(d);
    const f = dev.evaluate([0.7, -0.4, 0.3, 1.6]);
    expect(relErr(dev.evaluate([-0.7, 0.4, 0.3, 1.6]), f)).toBeLessThan(1e-13);
    expect(relErr(dev.evaluate([0.7, -0.4, -0.3, -1.6]), f)).toBeLessThan(1e-13);
  });

  for (const design of ['crossed', 'nested', 'uncorrelated'] as const) {
    it(`has a gradient that matches central differences (${design}, ML and REML)`, () => {
      for (const reml of [false, true]) {
        const d = simulated(4, design, reml, { weights: true, offset: true });
        const dev = new MultiProfiledDeviance(d);
        for (const th of thetas[design]) {
          const g = new Float64Array(th.length);
          dev.evaluate(th, g);
          for (let k = 0; k < th.length; k++) {
            const h = 1e-5;
            const up = th.slice(), dn = th.slice();
            up[k] += h; dn[k] -= h;
            const fd = (dev.evaluate(up) - dev.evaluate(dn)) / (2 * h);
            // Central differences of a criterion of size ~200 with rounding ~1e-13: error
            // ~1e-8 from rounding and ~1e-10 × f''' from truncation.
            expect(Math.abs(g[k] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
          }
        }
      }
    });
  }
});

describe('the gradient at the last evaluation (the optimiser\'s split objective)', () => {
  it('equals the gradient evaluate() gives at the same θ, bit for bit, and refuses after a failure', () => {
    for (const design of ['crossed', 'nested', 'uncorrelated'] as const) {
      for (const reml of [false, true]) {
        const d = simulated(4, design, reml, { weights: true, offset: true });
        const dev = new MultiProfiledDeviance(d);
        const [th1, th2] = {
          crossed: [[0.7, -0.4, 0.3, 1.6], [1.2, 0.3, 0.5, 0]],
          nested: [[2.5, 0.4], [0.8, 0]],
          uncorrelated: [[0.6, 0.2, 1.4], [0, 0.7, 0.3]],
        }[design];
        const g = new Float64Array(th1.length), gLast = new Float64Array(th1.length);
        dev.evaluate(th1, g);
        // A different θ in between: lastGradient must use the state of the last call only.
        dev.evaluate(th2);
        dev.evaluate(th1);
        dev.lastGradient(gLast);
        expect(Array.from(gLast)).toEqual(Array.from(g));
        expect(() => dev.evaluate([NaN, ...th1.slice(1)])).toThrow(LmmError);
        expect(() => dev.lastGradient(gLast)).toThrow(/no successful evaluation/);
      }
    }
  });
});

describe('one term reduces to fitLmm', () => {
  // Seed 5 gives a singular fit under ML (Λ₂₂ = 0), seed 9 a regular one.
  for (const [seed, reml] of [[5, false], [5, true], [9, false], [9, true]] as const) {
    it(`gives fitLmm's criterion and fit for (1 + x | a) (seed ${seed}, ${reml ? 'REML' : 'ML'})`, () => {
      const d = simulated(seed, 'crossed', reml, { weights: true, offset: true });
      const term = d.terms[0];
      const single = { X: d.X, p: d.p, y: d.y, group: term.group, G: term.G, Z: term.Z, q: term.q, reml, weights: d.weights, offset: d.offset };
      const multi = { ...d, terms: [term] };
      const dense = new ProfiledDeviance(single), sparse = new MultiProfiledDeviance(multi);
      for (const th of [[1, 0, 1], [0.4, -0.3, 0.2], [0, 0.3, 0.6]]) {
        expect(relErr(sparse.evaluate(th), dense.evaluate(th))).toBeLessThan(1e-13);
      }
      const a = fitLmm(single), b = fitMultiLmm(multi);
      expect(b.singular).toBe(a.singular);
      expect(relErr(b.logLik, a.logLik)).toBeLessThan(1e-12);
      // Both optimisers stop at a gradient below 1e-7; the estimates then agree to ~1e-7.
      for (let k = 0; k < 3; k++) expect(Math.abs(b.theta[k] - a.theta[k])).toBeLessThan(1e-6);
      for (let c = 0; c < 2; c++) {
        expect(Math.abs(b.beta[c] - a.beta[c])).toBeLessThan(1e-6 * a.se[c]);
        expect(relErr(b.se[c], a.se[c])).toBeLessThan(1e-6);
      }
      expect(relErr(b.sigma, a.sigma)).toBeLessThan(1e-6);
      for (let i = 0; i < 4; i++) expect(Math.abs(b.terms[0].Sigma[i] - a.Sigma[i])).toBeLessThan(1e-6 * Math.max(a.Sigma[0], a.Sigma[3]));
      for (let i = 0; i < a.ranef.length; i++) {
        expect(Math.abs(b.terms[0].ranef[i] - a.ranef[i])).toBeLessThan(1e-6);
        expect(relErr(b.terms[0].condSd![i], a.condSd[i])).toBeLessThan(1e-6);
      }
    });
  }
});

describe('the fill of the sparse factor', () => {
  it('eliminates the factor with more levels first, whatever the order of the terms', () => {
    const d = simulated(6, 'crossed', false);
    const b = d.terms[1];
    // Scalar crossed terms with 8 and 5 levels: eliminating a's columns first fills only the
    // 5 × 5 block of b, so L has 8 × (1 + 5) + 15 entries at most (a level of a may meet fewer
    // than all 5 levels of b).
    const aScalar: LmmTerm = { name: 'a', group: d.terms[0].group, G: 8, Z: new Float64Array(d.y.length).fill(1), q: 1 };
    const count = (terms: LmmTerm[]): number => new MultiProfiledDeviance({ ...d, terms }).chol.nnzL;
    const met = new Set<number>();
    for (let j = 0; j < d.y.length; j++) met.add(aScalar.group[j] * 5 + b.group[j]);
    const best = 8 + met.size + 15;
    expect(count([aScalar, b])).toBe(best);
    expect(count([b, aScalar])).toBe(best);
  });
});

interface Fixture {
  name: string; reml: boolean; n: number; p: number; X: number[]; y: number[];
  terms: { name: string; G: number; q: number; diagonal: boolean; group: number[]; Z: number[]; Sigma: number[]; ranef: number[]; condsd: number[] }[];
  logLik: number; defaultLogLik: number; beta: number[]; se: number[]; sigma: number; theta: number[];
  singular: boolean; devAt: { theta: number[]; value: number }[];
}

function input(f: Fixture): MultiLmmInput {
  return {
    X: Float64Array.from(f.X), p: f.p, y: Float64Array.from(f.y), reml: f.reml,
    terms: f.terms.map((t) => ({ name: t.name, G: t.G, q: t.q, diagonal: t.diagonal, group: Int32Array.from(t.group), Z: Float64Array.from(t.Z) })),
  };
}

describe('lme4 reference fits', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();
  it('are all present', () => {
    expect(files.length).toBe(8);
  });
  for (const file of files) {
    const f = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Fixture;
    it(`${f.name}: lme4's deviance function at given θ, and the fit`, () => {
      const d = input(f);
      const dev = new MultiProfiledDeviance(d);
      for (const pr of f.devAt) expect(relErr(dev.evaluate(pr.theta), pr.value)).toBeLessThan(1e-12);
      const fit = fitMultiLmm(d);
      expect(fit.converged).toBe(true);
      expect(fit.singular).toBe(f.singular);
      // lme4's fit was run with BOBYQA's tolerances tightened; ours must be no worse than it
      // (1e-9 of deviance is far below both optimisers' resolution) and agree to 1e-6 relative.
      expect(-2 * fit.logLik).toBeLessThanOrEqual(-2 * f.logLik + 1e-9);
      expect(relErr(fit.logLik, f.logLik)).toBeLessThan(1e-6);
      expect(fit.logLik).toBeGreaterThanOrEqual(f.defaultLogLik - 1e-9);
      for (let c = 0; c < f.p; c++) {
        expect(Math.abs(fit.beta[c] - f.beta[c])).toBeLessThan(1e-6 * Math.max(Math.abs(f.beta[c]), f.se[c]));
        expect(relErr(fit.se[c], f.se[c])).toBeLessThan(1e-4);
      }
      expect(relErr(fit.sigma, f.sigma)).toBeLessThan(1e-5);
      for (let k = 0; k < f.theta.length; k++) expect(Math.abs(fit.theta[k] - f.theta[k])).toBeLessThan(1e-5 * Math.max(1, f.theta[k]));
      for (const [k, t] of f.terms.entries()) {
        const got = fit.terms[k];
        expect(got.name).toBe(t.name);
        for (let a = 0; a < t.q; a++) {
          for (let b = 0; b < t.q; b++) {
            const ref = t.Sigma[a * t.q + b], v = got.Sigma[a * t.q + b];
            if (a === b) expect(relErr(Math.sqrt(v), Math.sqrt(ref))).toBeLessThan(1e-5);
            else expect(Math.abs(v - ref)).toBeLessThan(1e-5 * Math.sqrt(t.Sigma[a * t.q + a] * t.Sigma[b * t.q + b]));
          }
        }
        const scale = Math.max(...t.ranef.map(Math.abs));
        for (let i = 0; i < t.ranef.length; i++) {
          expect(Math.abs(got.ranef[i] - t.ranef[i])).toBeLessThan(1e-5 * scale);
          expect(relErr(got.condSd![i], t.condsd[i])).toBeLessThan(1e-5);
        }
      }
    });
  }
});

describe('the fit', () => {
  const f = JSON.parse(readFileSync(join(FIXTURES, 'penicillin_crossed_ml.json'), 'utf8')) as Fixture;
  it('folds a θ found on the negative side back into lme4\'s box', () => {
    // From a negative start the unbounded search finds the mirror image of the optimum.
    const fit = fitMultiLmm({ ...input(f), theta0: [-1, -1] });
    for (let k = 0; k < 2; k++) expect(Math.abs(fit.theta[k] - f.theta[k])).toBeLessThan(1e-5 * f.theta[k]);
  });
  it('moves only the intercept when the response is shifted by 1e6', () => {
    const d = input(f);
    const a = fitMultiLmm(d);
    const b = fitMultiLmm({ ...d, y: d.y.map((v) => v + 1e6) });
    // The shifted fit works with numbers 1e6 times larger: its rounding is ~1e6 ε relative to
    // the data's spread, ~1e-10 here, and the optimiser's resolution in θ is ~1e-7.
    expect(Math.abs(b.beta[0] - 1e6 - a.beta[0])).toBeLessThan(1e-6 * a.se[0]);
    expect(relErr(b.logLik, a.logLik)).toBeLessThan(1e-10);
    expect(relErr(b.sigma, a.sigma)).toBeLessThan(1e-6);
    for (let k = 0; k < 2; k++) {
      const ra = a.terms[k].ranef, rb = b.terms[k].ranef;
      for (let i = 0; i < ra.length; i++) expect(Math.abs(rb[i] - ra[i])).toBeLessThan(1e-6);
    }
  });
});

describe('bad input', () => {
  const d = simulated(7, 'nested', false);
  it('names the term and the row', () => {
    const group = d.terms[1].group.slice();
    group[9] = 12;
    expect(() => new MultiProfiledDeviance({ ...d, terms: [d.terms[0], { ...d.terms[1], group }] }))
      .toThrow(new LmmError("random-effect term 2 ('c:e'), row 10: group index 12 is outside 0..11"));
    const Z = d.terms[0].Z.slice();
    Z[4] = NaN;
    expect(() => new MultiProfiledDeviance({ ...d, terms: [{ ...d.terms[0], Z }, d.terms[1]] }))
      .toThrow(/random-effect term 1 \('c'\), row 5, random-effect column 1: NaN is not a finite number/);
    expect(() => new MultiProfiledDeviance({ ...d, terms: [{ ...d.terms[0], G: 5 }] }))
      .toThrow(/random-effect term 1 \('c'\): level 4 has no observations \(G = 5\)/);
    expect(() => new MultiProfiledDeviance({ ...d, terms: [] })).toThrow(/no random-effect terms/);
  });
  it('refuses a collinear fixed design and a response fitted exactly', () => {
    const X = d.X.slice();
    for (let j = 0; j < d.y.length; j++) X[j * 2 + 1] = 3 * X[j * 2];
    expect(() => new MultiProfiledDeviance({ ...d, X, xNames: ['(Intercept)', 'x'] }))
      .toThrow(/fixed-effect column 'x' is \(nearly\) a linear combination of the columns before it/);
    const y = Float64Array.from({ length: d.y.length }, (_, j) => 2 + 0.5 * d.X[j * 2 + 1]);
    expect(() => fitMultiLmm({ ...d, y })).toThrow(/fits the response exactly/);
  });
  it('refuses a θ of the wrong length', () => {
    const dev = new MultiProfiledDeviance(d);
    expect(() => dev.evaluate([1])).toThrow(new LmmError('theta has 1 entries; the terms need 2'));
    expect(() => fitMultiLmm({ ...d, theta0: [1, 1, 1] })).toThrow(/theta0 has 3 entries; the terms need 2/);
  });
});
