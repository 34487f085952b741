// summary(): standard errors from the observed information give 95 % intervals that cover the
// true fixed effects of simulated Bernoulli and Poisson GLMMs in at least 90 of 100 seeds, for
// every coefficient — the full count, in CI (≈1 min). `bench/coverage.ts` prints the same with
// the mean estimates and SEs (bench/results/coverage.json).
import { describe, expect, it } from 'vitest';
import { simulateGlmm, TRUE_BETA } from '../helpers/glmm';
import { fit } from '../../ngmm/fit';
import { formatSummary } from '../../ngmm/summary';

describe('summary', () => {
  it.each(['bernoulli', 'poisson'] as const)('%s: 95 per cent intervals cover the true coefficients', (fam) => {
    const covered = TRUE_BETA.map(() => 0);
    const seeds = 100;
    for (let seed = 1; seed <= seeds; seed++) {
      const d = simulateGlmm(fam, seed);
      const m = fit(d, { family: fam });
      const s = m.summary();
      expect(s.converged, s.message).toBe(true);
      Object.values(s.fixef!).forEach((c, i) => {
        if (Math.abs(c.estimate - TRUE_BETA[i]) <= 1.959964 * c.se) covered[i]++;
      });
      if (seed === 1) {
        const text = formatSummary(s);
        expect(text).toMatch(/Fixed effects:/);
        expect(text).toMatch(/\(Intercept\)/);
        expect(s.AIC).toBeCloseTo(-2 * s.logLik + 2 * s.df!, 10);
      }
      m.dispose();
    }
    for (const c of covered) expect(c).toBeGreaterThanOrEqual(90);
  }, 180_000);
});
