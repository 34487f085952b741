// The model side of the design: a formula without an intercept, columns on extreme scales, and
// progress from the linear fit. Each comparison is between two parametrisations of one model,
// whose maximised likelihoods must agree (the optimum does not depend on how it is written).
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { fit } from '../../ngmm/fit';

const rng = new E.Rng(21);
const G = 30, per = 6;
const x: number[] = [], kind: string[] = [], y: number[] = [], group: string[] = [];
for (let g = 0; g < G; g++) {
  const b = 0.6 * rng.normal();
  for (let j = 0; j < per; j++) {
    const xi = rng.normal(), k = ['a', 'b', 'c'][Math.floor(3 * rng.uniform())];
    const eta = 0.3 + 0.5 * xi + (k === 'b' ? 0.4 : k === 'c' ? -0.3 : 0) + b;
    x.push(xi);
    kind.push(k);
    y.push(rng.poisson(Math.exp(eta)));
    group.push(`g${g}`);
  }
}
const n = y.length;

describe('the fixed-effect design on the model side', () => {
  it('0 + x + kind (all three levels, no intercept) is the same model as 1 + x + kind', () => {
    const Xa = new Float64Array(n * 3), Xb = new Float64Array(n * 4);
    for (let i = 0; i < n; i++) {
      Xa.set([x[i], kind[i] === 'b' ? 1 : 0, kind[i] === 'c' ? 1 : 0], i * 3);
      Xb.set([x[i], kind[i] === 'a' ? 1 : 0, kind[i] === 'b' ? 1 : 0, kind[i] === 'c' ? 1 : 0], i * 4);
    }
    const withIcpt = fit({ X: Xa, xNames: ['x', 'kind=b', 'kind=c'], y, group }, { family: 'poisson' }, { gtol: 1e-8 });
    const without = fit({ X: Xb, xNames: ['x', 'kind=a', 'kind=b', 'kind=c'], y, group }, { family: 'poisson', intercept: false }, { gtol: 1e-8 });
    expect(withIcpt.info.converged && without.info.converged).toBe(true);
    expect(Math.abs(without.logLik() - withIcpt.logLik())).toBeLessThan(1e-7 * Math.abs(withIcpt.logLik()));
    const a = Object.fromEntries(withIcpt.coefficients().map((c) => [c.name, c.value]));
    const b = Object.fromEntries(without.coefficients().map((c) => [c.name, c.value]));
    expect(Object.keys(b)).toEqual(['x', 'kind=a', 'kind=b', 'kind=c']); // no '(Intercept)'
    expect(b['kind=a']).toBeCloseTo(a['(Intercept)'], 5);
    expect(b['kind=b']).toBeCloseTo(a['(Intercept)'] + a['kind=b'], 5);
    expect(b['x']).toBeCloseTo(a['x'], 5);
    // Its summary has no intercept row and one parameter fewer in df than a model with both.
    const s = without.summary();
    expect(Object.keys(s.fixef!)).toEqual(['x', 'kind=a', 'kind=b', 'kind=c']);
    expect(s.df).toBe(withIcpt.summary().df); // 4 coefficients + σ_b on both sides
    expect(Number.isFinite(s.fixef!['kind=a'].se) && s.fixef!['kind=a'].se < 1).toBe(true);
    withIcpt.dispose();
    without.dispose();
  });

  it('a predictor times 1e−300 is the same predictor: coefficient ×1e300, same logLik', () => {
    const X1 = Float64Array.from(x), X2 = Float64Array.from(x, (v) => v * 1e-300);
    const m1 = fit({ X: X1, xNames: ['x'], y, group }, { family: 'poisson' }, { gtol: 1e-8 });
    const m2 = fit({ X: X2, xNames: ['x'], y, group }, { family: 'poisson' }, { gtol: 1e-8 });
    expect(Math.abs(m2.logLik() - m1.logLik())).toBeLessThan(1e-9 * Math.abs(m1.logLik()));
    const c1 = m1.coefficients()[1].value, c2 = m2.coefficients()[1].value;
    expect(c2 / 1e300 / c1).toBeCloseTo(1, 6);
    m1.dispose();
    m2.dispose();
  });

  it('the linear fit reports its L-BFGS iterations as progress', () => {
    const seen: { phase: string; epoch: number }[] = [];
    const m = fit({ X: Float64Array.from(x), xNames: ['x'], y, group }, { family: 'poisson' }, { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((p) => p.phase === 'linear')).toBe(true);
    expect(seen.map((p) => p.epoch)).toEqual(seen.map((_, i) => i));
    m.dispose();
  });
});

describe('Poisson with the sqrt link', () => {
  it('leaves β = 0 and reports the η > 0 optimum of its two mirror images, with finite SEs', () => {
    const r = new E.Rng(5);
    const X: number[] = [], yy: number[] = [], gg: string[] = [];
    for (let g = 0; g < 40; g++) {
      const b = 0.4 * r.normal();
      for (let j = 0; j < 8; j++) {
        const xi = r.normal();
        X.push(xi);
        yy.push(r.poisson(Math.max(0, 3 + 0.5 * xi + b) ** 2));
        gg.push(`g${g}`);
      }
    }
    const m = fit({ X: Float64Array.from(X), xNames: ['x'], y: yy, group: gg }, { family: 'poisson', link: 'sqrt' });
    expect(m.info.converged, m.info.message).toBe(true);
    const [b0, b1] = m.coefficients().map((c) => c.value);
    expect(Math.abs(b0 - 3)).toBeLessThan(0.3);
    expect(Math.abs(b1 - 0.5)).toBeLessThan(0.15);
    const s = m.summary();
    for (const c of Object.values(s.fixef!)) expect(c.se > 0 && c.se < 0.5, c.name).toBe(true);
    expect(s.ranefSD).toBeGreaterThan(0.2);
    m.dispose();
  });
});

describe('X as the user has it', () => {
  it('a Float64Array, a plain number[] and an array of rows give the same fit and predictions', () => {
    const Xf = Float64Array.from(x);
    const a = fit({ X: Xf, xNames: ['x'], y, group }, { family: 'poisson' });
    const b = fit({ X: [...x], xNames: ['x'], y, group }, { family: 'poisson' });
    const c = fit({ X: x.map((v) => [v]), xNames: ['x'], y, group }, { family: 'poisson' });
    expect(b.logLik()).toBe(a.logLik());
    expect(c.logLik()).toBe(a.logLik());
    const pa = a.predict(Xf.subarray(0, 5), { group: group.slice(0, 5) });
    expect(a.predict(x.slice(0, 5), { group: group.slice(0, 5) })).toEqual(pa);
    expect(a.predict(x.slice(0, 5).map((v) => [v]), { group: group.slice(0, 5) })).toEqual(pa);
    expect(() => fit({ X: [[1], [2, 3]], xNames: ['x'], y: [0, 1], group: ['a', 'a'] }, { family: 'poisson' })).toThrow(/row 2/);
    for (const m of [a, b, c]) m.dispose();
  });

  it('duplicate column names are refused', () => {
    expect(() => fit({ X: new Float64Array(8), xNames: ['x', 'x'], y: [0, 1, 0, 1], group: ['a', 'a', 'b', 'b'] }, { family: 'poisson' })).toThrow(/'x' appears twice/);
  });
});
