// The Gaussian LMM (ngmm/lmm): the profiled deviance against the dense multivariate-normal
// density computed here independently, its θ-gradient against central differences, closed-form
// ML and REML estimates of the balanced one-way random-intercept model, and lme4 reference fits
// (test/fixtures/lmm, written by scripts/lmm-fixtures.R; R is not needed to run this file).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitLmm, LmmError, ProfiledDeviance, type LmmInput } from '../../ngmm/lmm/index';
import { addTermCovariance, gaussianCriterion, lambdaFromTheta } from '../helpers/dense';
import { mulberry32, normal } from '../helpers/seeded';

const FIXTURES = join(__dirname, '..', 'fixtures', 'lmm');

/** Unbalanced data with q random effects (1, x, x²…), p = 2 fixed effects, weights and an offset. */
function simulated(seed: number, q: number, reml: boolean, opts: { weights?: boolean; offset?: boolean } = {}): LmmInput {
  const rand = mulberry32(seed);
  const sizes = [1, 3, 8, 5, 2, 7, 4, 6];
  const G = sizes.length;
  const n = sizes.reduce((a, b) => a + b, 0);
  const p = 2;
  const X = new Float64Array(n * p), Z = new Float64Array(n * q), y = new Float64Array(n);
  const group = new Int32Array(n), weights = new Float64Array(n), offset = new Float64Array(n);
  let j = 0;
  for (let g = 0; g < G; g++) {
    const b = Array.from({ length: q }, () => normal(rand));
    for (let k = 0; k < sizes[g]; k++, j++) {
      const x = 2 * rand() - 1, x2 = normal(rand);
      X[j * p] = 1; X[j * p + 1] = x2;
      for (let a = 0; a < q; a++) Z[j * q + a] = x ** a;
      group[j] = g;
      weights[j] = opts.weights ? 0.5 + 1.5 * rand() : 1;
      offset[j] = opts.offset ? 3 * rand() : 0;
      let eta = 5 + 0.7 * x2 + offset[j];
      for (let a = 0; a < q; a++) eta += b[a] * Z[j * q + a];
      y[j] = eta + (0.6 * normal(rand)) / Math.sqrt(weights[j]);
    }
  }
  return { X, p, y, group, G, Z, q, reml, weights: opts.weights ? weights : undefined, offset: opts.offset ? offset : undefined };
}

/**
 * −2 × the maximised Gaussian log-density of y (ML), or the REML criterion, at fixed θ, by
 * generalised least squares on the dense n × n marginal covariance σ²V₀ with
 * V₀ = W⁻¹ + Z_G ΛΛ' Z_G' (Z_G the n × Gq block design): no blocking, no profiling tricks.
 */
function denseCriterion(d: LmmInput, theta: number[]): number {
  const n = d.y.length;
  const V = new Float64Array(n * n);
  addTermCovariance(V, n, d.group, d.Z, d.q, lambdaFromTheta(theta, d.q));
  for (let i = 0; i < n; i++) V[i * n + i] += 1 / (d.weights ? d.weights[i] : 1);
  const yo = Float64Array.from(d.y, (v, i) => v - (d.offset ? d.offset[i] : 0));
  return gaussianCriterion(V, n, d.X, d.p, yo, d.reml);
}

describe('profiled deviance', () => {
  const cases: Array<[string, number, boolean, { weights?: boolean; offset?: boolean }, number[]]> = [
    ['q = 1 ML', 1, false, {}, [0.7]],
    ['q = 1 REML, weights', 1, true, { weights: true }, [1.3]],
    ['q = 2 ML, weights and offset', 2, false, { weights: true, offset: true }, [0.8, -0.3, 0.5]],
    ['q = 2 REML, weights and offset', 2, true, { weights: true, offset: true }, [1.1, 0.4, 0.2]],
    ['q = 2 ML at a singular θ', 2, false, { weights: true }, [0.9, 0.6, 0]],
    ['q = 3 REML', 3, true, { offset: true }, [0.8, -0.3, 0.2, 0.5, 0.1, 0.3]],
  ];
  it.each(cases)('equals the dense multivariate-normal criterion: %s', (_, q, reml, opts, theta) => {
    const d = simulated(11 + q, q, reml, opts);
    const dev = new ProfiledDeviance(d);
    const want = denseCriterion(d, theta);
    // Both are sums of O(n) terms of size ~10 evaluated in different orders: agreement to
    // 1e-11 relative is rounding, while any dropped term (a weight Jacobian, log|R_X|²) is O(1).
    expect(Math.abs(dev.evaluate(theta) - want)).toBeLessThan(1e-11 * Math.abs(want));
    // The sign of a column of Λ does not change ΛΛ', so neither may it change the deviance.
    const flipped = theta.slice();
    flipped[0] = -flipped[0];
    for (let k = 1; k < q; k++) flipped[k] = -flipped[k];
    expect(Math.abs(dev.evaluate(flipped) - want)).toBeLessThan(1e-11 * Math.abs(want));
  });

  it.each(cases)('gradient matches central differences: %s', (_, q, reml, opts, theta) => {
    const d = simulated(23 + q, q, reml, opts);
    const dev = new ProfiledDeviance(d);
    const g = new Float64Array(theta.length);
    dev.evaluate(theta, g);
    // h = 1e-5: truncation error h²·D''' ~ 1e-9 and rounding eps·|D|/h ~ 1e-9 for |D| ~ 100.
    const h = 1e-5;
    for (let k = 0; k < theta.length; k++) {
      const tp = theta.slice(), tm = theta.slice();
      tp[k] += h; tm[k] -= h;
      const fd = (dev.evaluate(tp) - dev.evaluate(tm)) / (2 * h);
      expect(Math.abs(g[k] - fd), `∂D/∂θ[${k}] = ${g[k]}, central difference ${fd}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
    }
  });
});

describe('balanced one-way random-intercept model: closed-form estimates', () => {
  // Searle, Casella & McCulloch (1992), Variance Components, ch. 3: with G groups of J
  // and SSA, SSE the between and within sums of squares, MSA = SSA/(G−1), MSE = SSE/(G(J−1)):
  // REML σ² = MSE, σ_b² = (MSA − MSE)/J;  ML σ² = MSE, σ_b² = (SSA/G − MSE)/J  (when positive).
  const G = 9, J = 4, N = G * J;
  const rand = mulberry32(2024);
  const y = new Float64Array(N);
  for (let g = 0; g < G; g++) {
    const b = 1.5 * normal(rand);
    for (let j = 0; j < J; j++) y[g * J + j] = 20 + b + normal(rand);
  }
  const input = (yy: Float64Array, reml: boolean): LmmInput => ({
    X: new Float64Array(N).fill(1), p: 1, y: yy, group: Int32Array.from({ length: N }, (_, i) => Math.floor(i / J)), G,
    Z: new Float64Array(N).fill(1), q: 1, reml,
  });
  const anova = (yy: Float64Array) => {
    const mean = yy.reduce((a, b) => a + b, 0) / N;
    let SSA = 0, SSE = 0;
    for (let g = 0; g < G; g++) {
      let m = 0;
      for (let j = 0; j < J; j++) m += yy[g * J + j] / J;
      SSA += J * (m - mean) ** 2;
      for (let j = 0; j < J; j++) SSE += (yy[g * J + j] - m) ** 2;
    }
    return { mean, SSA, SSE, MSA: SSA / (G - 1), MSE: SSE / (G * (J - 1)) };
  };

  it.each([false, true])('REML = %s: variances, mean, its SE and the log-likelihood', (reml) => {
    const { mean, SSA, SSE, MSA, MSE } = anova(y);
    const s2 = MSE;
    const sb2 = reml ? (MSA - MSE) / J : (SSA / G - MSE) / J;
    expect(sb2).toBeGreaterThan(0);
    const tau = s2 + J * sb2; // variance of a group mean times J
    // −2ℓ from the factorised density: |V| = σ^{2G(J−1)} τ^G, y'V⁻¹y = SSE/σ² + SSA/τ;
    // REML adds log|X'V⁻¹X| = log(N/τ) and counts N − 1 observations.
    const m2ll = reml
      ? (N - 1) * Math.log(2 * Math.PI) + G * (J - 1) * Math.log(s2) + G * Math.log(tau) + Math.log(N / tau) + SSE / s2 + SSA / tau
      : N * Math.log(2 * Math.PI) + G * (J - 1) * Math.log(s2) + G * Math.log(tau) + SSE / s2 + SSA / tau;
    const f = fitLmm(input(y, reml));
    expect(f.converged, f.message).toBe(true);
    expect(f.singular).toBe(false);
    // θ is found to a gradient of 1e-7, so the variances agree to ~1e-8 relative.
    expect(Math.abs(f.sigma ** 2 - s2)).toBeLessThan(1e-7 * s2);
    expect(Math.abs(f.Sigma[0] - sb2)).toBeLessThan(1e-7 * sb2);
    expect(Math.abs(f.beta[0] - mean)).toBeLessThan(1e-12 * Math.abs(mean));
    expect(Math.abs(f.se[0] - Math.sqrt(tau / N))).toBeLessThan(1e-7 * Math.sqrt(tau / N));
    expect(Math.abs(f.logLik + m2ll / 2)).toBeLessThan(1e-10 * Math.abs(m2ll));
    // BLUP: b_g = J σ_b² / τ × (ȳ_g − ȳ), with conditional variance σ_b² σ² / τ.
    for (let g = 0; g < G; g++) {
      let m = 0;
      for (let j = 0; j < J; j++) m += y[g * J + j] / J;
      expect(Math.abs(f.ranef[g] - ((J * sb2) / tau) * (m - mean))).toBeLessThan(1e-7);
      expect(Math.abs(f.condSd[g] - Math.sqrt((sb2 * s2) / tau))).toBeLessThan(1e-7);
    }
  });

  it.each([false, true])('REML = %s: equal group means give σ_b = 0 exactly, reported as singular', (reml) => {
    // Remove each group's mean: SSA = 0 < MSE, so both estimators put σ_b² at the boundary and
    // σ² = SSE/N (ML) or SSE/(N − 1) (REML).
    const yy = y.slice();
    for (let g = 0; g < G; g++) {
      let m = 0;
      for (let j = 0; j < J; j++) m += yy[g * J + j] / J;
      for (let j = 0; j < J; j++) yy[g * J + j] += 20 - m;
    }
    const { SSE } = anova(yy);
    const f = fitLmm(input(yy, reml));
    expect(f.singular).toBe(true);
    expect(f.theta[0]).toBe(0);
    expect(f.Sigma[0]).toBe(0);
    expect(f.message).toMatch(/singular/);
    expect(Math.abs(f.sigma ** 2 - SSE / (reml ? N - 1 : N))).toBeLessThan(1e-12 * SSE);
  });
});

interface Fixture {
  name: string; formula: string; reml: boolean; n: number; p: number; q: number; G: number;
  X: number[]; Z: number[]; y: number[]; group: number[]; weights: number[]; offset: number[];
  logLik: number; df: number; deviance: number; defaultLogLik: number; beta: number[]; se: number[]; vcov: number[];
  sigma: number; theta: number[]; Sigma: number[]; ranef: number[]; condsd: number[]; singular: boolean;
  devAt: Array<{ theta: number[]; value: number }>;
  /** lme4 stops at a worse point than the minimum; devAt[0] is lme4's deviance at ngmm's θ. */
  lme4Suboptimal?: boolean;
}
const fixtures: Fixture[] = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Fixture);
const fixtureInput = (fx: Fixture): LmmInput => ({
  X: Float64Array.from(fx.X), p: fx.p, y: Float64Array.from(fx.y), group: Int32Array.from(fx.group), G: fx.G,
  Z: Float64Array.from(fx.Z), q: fx.q, weights: Float64Array.from(fx.weights), offset: Float64Array.from(fx.offset), reml: fx.reml,
});
/**
 * max_k |a_k − b_k| / scale, with the scale the largest |b_k| (a vector-wise relative error),
 * or 1 when b is all zeros (Dyestuff2's θ and modes).
 */
const relErr = (a: ArrayLike<number>, b: number[]): number => {
  expect(a.length).toBe(b.length);
  if (b.length === 0) return 0;
  const scale = Math.max(...b.map(Math.abs)) || 1;
  return Math.max(...b.map((v, k) => Math.abs(a[k] - v))) / scale;
};

describe('lme4 reference fits', () => {
  it('covers what the brief asks for', () => {
    const names = fixtures.map((f) => f.name);
    for (const n of ['sleepstudy_slope_ml', 'sleepstudy_slope_reml', 'sleepstudy_int_ml', 'dyestuff_ml', 'dyestuff_reml',
      'dyestuff2_ml', 'sleepstudy_weighted_ml', 'sleepstudy_offset_ml', 'sleepstudy_noint_ml', 'sleepstudy_nofixed_reml',
      'exam_q3_ml']) {
      expect(names).toContain(n);
    }
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s: lme4\'s profiled deviance function at given θ', (_, fx) => {
    const dev = new ProfiledDeviance(fixtureInput(fx));
    for (const { theta, value } of fx.devAt) {
      expect(Math.abs(dev.evaluate(theta) - value)).toBeLessThan(1e-10 * Math.abs(value));
    }
  });

  it.each(fixtures.filter((f) => !f.lme4Suboptimal).map((f) => [f.name, f] as const))('%s: the fit', (_, fx) => {
    const f = fitLmm(fixtureInput(fx));
    expect(f.converged, f.message).toBe(true);
    expect(f.reml).toBe(fx.reml);
    expect(f.df).toBe(fx.df);
    // lme4's references are fitted to ftol_abs 1e-15, so the optima should agree to rounding of
    // the deviance (~1e-12 relative); the brief's bar is 1e-9 in the deviance.
    expect(Math.abs(f.deviance - fx.deviance)).toBeLessThan(1e-9);
    expect(Math.abs(f.logLik - fx.logLik)).toBeLessThan(1e-6 * Math.abs(fx.logLik));
    // Never worse than lmer with its default tolerances.
    expect(f.logLik).toBeGreaterThan(fx.defaultLogLik - 1e-9);
    // θ is resolved to ~1e-7 where the deviance is flat (sleepstudy without an intercept has
    // θ₁₁ ≈ 9.9 along a shallow valley), so estimates follow to ~1e-7 relative.
    for (let c = 0; c < fx.p; c++) {
      expect(Math.abs(f.beta[c] - fx.beta[c]), `beta[${c}]`).toBeLessThan(1e-6 * Math.max(Math.abs(fx.beta[c]), fx.se[c]));
      expect(Math.abs(f.se[c] - fx.se[c]), `se[${c}]`).toBeLessThan(1e-4 * fx.se[c]);
    }
    expect(relErr(f.vcov, fx.vcov)).toBeLessThan(1e-4);
    expect(Math.abs(f.sigma - fx.sigma)).toBeLessThan(1e-5 * fx.sigma);
    expect(relErr(f.theta, fx.theta)).toBeLessThan(1e-5);
    expect(relErr(f.Sigma, fx.Sigma)).toBeLessThan(1e-5);
    expect(relErr(f.ranef, fx.ranef)).toBeLessThan(1e-5);
    expect(relErr(f.condSd, fx.condsd)).toBeLessThan(1e-5);
    expect(f.singular).toBe(fx.singular);
    if (fx.singular) {
      // lme4's bounded optimiser puts the diagonal exactly on its bound; so must the fold.
      const zeroAt = fx.theta.map((v, k) => (v === 0 ? k : -1)).filter((k) => k >= 0);
      expect(zeroAt.length).toBeGreaterThan(0);
      for (const k of zeroAt) expect(f.theta[k]).toBe(0);
    }
  });

  it.each(fixtures.filter((f) => f.lme4Suboptimal).map((f) => [f.name, f] as const))('%s: a lower deviance than lme4\'s, confirmed by lme4', (_, fx) => {
    // lme4's optimisers stop on a face of its box (Λ₁₁ = 0, entries below non-zero) where the
    // gradient points outward; its own deviance function is lower at ngmm's θ (devAt[0]).
    const f = fitLmm(fixtureInput(fx));
    expect(f.converged, f.message).toBe(true);
    const { theta, value } = fx.devAt[0];
    expect(value).toBeLessThan(fx.deviance - 1);
    expect(Math.abs(f.deviance - value)).toBeLessThan(1e-9);
    expect(relErr(f.theta, theta)).toBeLessThan(1e-5);
    expect(f.singular).toBe(true);
  });

  it('Dyestuff2 is a boundary fit with σ_b = 0 and says so', () => {
    const fx = fixtures.find((f) => f.name === 'dyestuff2_reml')!;
    const f = fitLmm(fixtureInput(fx));
    expect(f.singular).toBe(true);
    expect(f.Sigma[0]).toBe(0);
    expect(f.message).toMatch(/boundary \(singular\) fit/);
    expect(Array.from(f.ranef).every((v) => v === 0)).toBe(true);
  });
});

describe('numerical care', () => {
  it('a response shifted by 1e6 changes only the intercept', () => {
    // The cross products then carry 6 more decimal digits of the shift than of the signal,
    // and the normal-equation solution loses them: without the refinement step the slope moves
    // by 2.7e-9 (1.7e-9 SE). With the residuals formed from the rows and (β, u) refined once,
    // it moves by 2e-12; the tolerances sit in between (the log-likelihood is invariant to a
    // shift absorbed by the intercept).
    const fx = fixtures.find((f) => f.name === 'sleepstudy_slope_reml')!;
    const d = fixtureInput(fx);
    const a = fitLmm(d);
    const b = fitLmm({ ...d, y: d.y.map((v) => v + 1e6) });
    expect(Math.abs(b.logLik - a.logLik)).toBeLessThan(1e-10 * Math.abs(a.logLik));
    expect(Math.abs(b.beta[0] - 1e6 - a.beta[0])).toBeLessThan(1e-9 * a.se[0]);
    expect(Math.abs(b.beta[1] - a.beta[1])).toBeLessThan(3e-10 * a.se[1]);
    expect(relErr(b.theta, Array.from(a.theta))).toBeLessThan(1e-6);
    expect(relErr(b.ranef, Array.from(a.ranef))).toBeLessThan(1e-6);
  });
});

describe('starting points', () => {
  it.each([[1, false], [2, true], [3, false]] as const)('q = %i (REML %s): random starts, signs included, reach the same fit', (q, reml) => {
    const d = simulated(100 + q, q, reml, { weights: true, offset: true });
    const ref = fitLmm(d);
    const rand = mulberry32(q);
    for (let k = 0; k < 4; k++) {
      const theta0 = Array.from({ length: (q * (q + 1)) / 2 }, () => 4 * rand() - 2);
      const f = fitLmm({ ...d, theta0 });
      expect(f.converged, f.message).toBe(true);
      expect(Math.abs(f.deviance - ref.deviance)).toBeLessThan(1e-9);
      // Negative diagonals in the start are folded back: the same θ, not a mirror image.
      expect(relErr(f.theta, Array.from(ref.theta))).toBeLessThan(1e-5);
    }
  });
});

describe('progress, cancellation and bad input', () => {
  const base = (): LmmInput => simulated(5, 2, false, { weights: true });

  it('reports every iteration with a non-increasing deviance', () => {
    const seen: number[] = [];
    const f = fitLmm({ ...base(), onIteration: (_, d) => seen.push(d) });
    expect(seen.length).toBe(f.iterations);
    for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeLessThanOrEqual(seen[k - 1]);
    expect(seen[seen.length - 1]).toBeCloseTo(f.deviance, 8);
  });

  it('stops when the signal is aborted and returns the fit at the last θ, not converged', () => {
    const ctl = new AbortController();
    const f = fitLmm({ ...base(), signal: ctl.signal, onIteration: (it) => { if (it === 2) ctl.abort(); } });
    expect(f.converged).toBe(false);
    expect(f.iterations).toBe(2);
    expect(f.message).toMatch(/aborted after 2 iterations/);
    expect(Number.isFinite(f.logLik)).toBe(true);
  });

  const bad: Array<[string, (d: LmmInput) => LmmInput, RegExp]> = [
    ['a NaN response', (d) => { const y = d.y.slice(); y[2] = NaN; return { ...d, y }; }, /^row 3: the response NaN is not a finite number$/],
    ['an infinite X', (d) => { const X = d.X.slice(); X[2 * 4 + 1] = Infinity; return { ...d, X, xNames: ['(Intercept)', 'x2'] }; },
      /^row 5, fixed-effect column 'x2': Infinity is not a finite number$/],
    ['a NaN in Z', (d) => { const Z = d.Z.slice(); Z[1] = NaN; return { ...d, Z }; }, /^row 1, random-effect column 2: NaN is not a finite number$/],
    ['a negative weight', (d) => { const w = d.weights!.slice(); w[6] = -1; return { ...d, weights: w }; }, /^row 7: the weight -1 is not a positive finite number$/],
    ['a zero weight', (d) => { const w = d.weights!.slice(); w[0] = 0; return { ...d, weights: w }; }, /^row 1: the weight 0 is not a positive finite number$/],
    ['a NaN offset', (d) => ({ ...d, offset: new Float64Array(d.y.length).fill(NaN) }), /^row 1: the offset NaN is not a finite number$/],
    ['a group out of range', (d) => { const g = d.group.slice(); g[3] = d.G; return { ...d, group: g }; }, /^row 4: group index 8 is outside 0\.\.7$/],
    ['an empty group', (d) => ({ ...d, G: d.G + 1 }), /^group 8 has no observations \(G = 9\)$/],
    ['X of the wrong size', (d) => ({ ...d, X: d.X.subarray(1) }), /^X has 71 values; 36 rows × 2 columns need 72$/],
    ['a duplicated fixed-effect column', (d) => {
      const n = d.y.length, X = new Float64Array(n * 3);
      for (let i = 0; i < n; i++) { X[i * 3] = 1; X[i * 3 + 1] = d.X[i * 2 + 1]; X[i * 3 + 2] = 2 * d.X[i * 2 + 1]; }
      return { ...d, X, p: 3, xNames: ['(Intercept)', 'x', 'x2'] };
    }, /^fixed-effect column 'x2' is \(nearly\) a linear combination of the columns before it$/],
    ['a zero fixed-effect column', (d) => { const X = d.X.slice(); for (let i = 0; i < d.y.length; i++) X[i * 2 + 1] = 0; return { ...d, X }; },
      /^fixed-effect column 2 is zero in every row$/],
    ['REML with as many fixed effects as rows', (d) => {
      const n = 2, X = Float64Array.from([1, 0, 0, 1]);
      return { ...d, X, p: 2, y: d.y.subarray(0, n), group: Int32Array.from([0, 0]), G: 1, Z: Float64Array.from([1, 1]), q: 1, weights: undefined, reml: true };
    }, /^2 observations leave no residual degrees of freedom for 2 fixed effects under REML$/],
    ['a constant response', (d) => ({ ...d, y: new Float64Array(d.y.length).fill(4.2) }),
      /^the model fits the response exactly \(residual sum of squares at rounding level\)/],
    ['a response the random intercepts fit exactly', (d) => ({ ...d, y: Float64Array.from(d.group, (g) => Math.sqrt(g + 2)) }),
      /^the residual variance is driven to zero \(theta, a random-effect SD relative to the residual SD, reached [0-9.e+]+\)/],
    ['a wrong theta0', (d) => ({ ...d, theta0: [1, 0] }), /^theta0 has 2 entries; q = 2 needs 3$/],
  ];
  it.each(bad)('%s is refused with a message naming the place', (_, mutate, message) => {
    const d = mutate(base());
    expect(() => fitLmm(d)).toThrow(LmmError);
    expect(() => fitLmm(d)).toThrow(message);
  });
});
