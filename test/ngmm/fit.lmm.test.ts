// fit() on linear Gaussian models against lme4 (fixtures written by scripts/lmm-fixtures.R): the
// whole path a user takes — the exact profiled likelihood, the mapping into the model's
// standardised parameters, the posterior rules, ranef() and summary() on the user's scale.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fit } from '../../ngmm/fit';
import { Model } from '../../ngmm/model';
import { formatSummary } from '../../ngmm/summary';

interface Fixture {
  name: string; reml: boolean; n: number; p: number; q: number; G: number; xNames: string[]; zNames: string[];
  X: number[]; y: number[]; group: number[]; weights: number[]; offset: number[];
  logLik: number; beta: number[]; se: number[]; sigma: number; Sigma: number[]; ranef: number[]; condsd: number[]; singular: boolean;
}
const load = (name: string): Fixture => JSON.parse(readFileSync(`test/fixtures/lmm/${name}.json`, 'utf8'));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('fit() of linear Gaussian models equals lme4', () => {
  for (const name of ['sleepstudy_slope_reml', 'sleepstudy_slope_ml', 'sleepstudy_int_reml', 'sleepstudy_noint_ml', 'sleepstudy_offset_ml', 'sleepstudy_weighted_reml', 'dyestuff2_ml']) {
    it(name, () => {
      const fx = load(name);
      const icpt = fx.xNames[0] === '(Intercept)';
      const cols = fx.xNames.map((_, j) => j).filter((j) => !(icpt && j === 0));
      const X = new Float64Array(fx.n * cols.length);
      for (let i = 0; i < fx.n; i++) cols.forEach((j, c) => (X[i * cols.length + c] = fx.X[i * fx.p + j]));
      const xNames = cols.map((j) => fx.xNames[j]);
      const weighted = fx.weights.some((w) => w !== 1), offset = fx.offset.some((v) => v !== 0);
      const m = fit(
        { X, xNames, y: fx.y, group: fx.group.map(String), ...(weighted ? { weights: fx.weights } : {}), ...(offset ? { offset: fx.offset } : {}) },
        { family: 'gaussian', intercept: icpt, ...(fx.q > 1 ? { randomSlopes: fx.zNames.slice(1) } : {}) },
        { reml: fx.reml },
      );
      // logLik (under REML lme4's −½·REMLcrit): to 1e−7 relative (the optimiser's θ tolerance
      // moves the criterion by ~1e−10; the posterior rules are rebuilt from the mapped θ).
      expect(rel(m.logLik(), fx.logLik)).toBeLessThan(1e-7);
      const coef = m.coefficients();
      coef.forEach((c, k) => expect(rel(c.value, fx.beta[k]), c.name).toBeLessThan(1e-6));
      const s = m.summary();
      expect(s.method).toBe(fx.reml ? 'REML' : 'ML');
      expect(s.statistic).toBe('t');
      coef.forEach((c, k) => expect(rel(s.fixef![c.name].se, fx.se[k]), c.name).toBeLessThan(1e-5));
      expect(rel(s.sigma!, fx.sigma)).toBeLessThan(1e-6);
      // Random effects on the user's scale: SDs, and each group's conditional mode and SD.
      const sd0 = Math.sqrt(fx.Sigma[0]);
      if (fx.singular) expect(s.ranefSD).toBeLessThan(1e-6 * fx.sigma);
      else expect(rel(s.ranefSD, sd0)).toBeLessThan(1e-5);
      expect(s.singular).toBe(fx.singular);
      if (fx.singular) expect(formatSummary(s)).toMatch(/singular/);
      const re = m.ranef();
      const tol = 1e-5 * Math.max(sd0, 1e-3 * fx.sigma);
      re.forEach((r) => {
        const g = Number(r.group);
        const eff = r.effects ?? [r.mean], sds = r.sds ?? [r.sd];
        for (let d = 0; d < fx.q; d++) {
          expect(Math.abs(eff[d] - fx.ranef[g * fx.q + d]), `${name} group ${g} term ${d}`).toBeLessThan(tol * (d === 0 ? 1 : Math.sqrt(fx.Sigma[fx.q + 1]) / sd0));
          if (!fx.singular) expect(rel(sds[d], fx.condsd[g * fx.q + d]), `${name} group ${g} sd ${d}`).toBeLessThan(1e-4);
        }
      });
      // Saved and loaded, the model predicts the same and keeps its summary.
      const back = Model.load(JSON.parse(JSON.stringify(m)));
      const Xp = X.subarray(0, 10 * cols.length), gp = fx.group.slice(0, 10).map(String);
      const off = offset ? fx.offset.slice(0, 10) : undefined;
      expect(back.predict(Xp, { group: gp, offset: off })).toEqual(m.predict(Xp, { group: gp, offset: off }));
      expect(back.summary()).toEqual(JSON.parse(JSON.stringify(s)));
      back.dispose();
      m.dispose();
    });
  }

  it('REML is refused where it does not apply', () => {
    expect(() => fit({ X: new Float64Array([0, 1, 2, 3]), xNames: ['x'], y: [0, 1, 0, 1], group: ['a', 'a', 'b', 'b'] }, { family: 'bernoulli' }, { reml: true })).toThrow(/reml applies to linear Gaussian/);
  });
});
