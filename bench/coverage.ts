// The full coverage check behind test/ngmm/summary.test.ts: 95 % Wald intervals from summary()
// over 100 simulated GLMMs per family. Writes bench/results/coverage.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fit } from '../ngmm/fit';

import { simulateGlmm, TRUE_BETA } from '../test/helpers/glmm';

const seeds = Number(process.argv[2] ?? 100);
const result: Record<string, { covered: number[]; seeds: number; meanEstimate: number[]; meanSE: number[]; sdEstimate: number[] }> = {};
for (const fam of ['bernoulli', 'poisson'] as const) {
  const covered = TRUE_BETA.map(() => 0);
  const est: number[][] = TRUE_BETA.map(() => []), ses: number[][] = TRUE_BETA.map(() => []);
  for (let seed = 1; seed <= seeds; seed++) {
    const d = simulateGlmm(fam, seed);
    const m = fit(d, { family: fam });
    const s = m.summary();
    Object.values(s.fixef!).forEach((c, i) => {
      est[i].push(c.estimate);
      ses[i].push(c.se);
      if (Math.abs(c.estimate - TRUE_BETA[i]) <= 1.959964 * c.se) covered[i]++;
    });
    m.dispose();
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const sd = (a: number[]) => Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1));
  result[fam] = { covered, seeds, meanEstimate: est.map(mean), meanSE: ses.map(mean), sdEstimate: est.map(sd) };
  console.log(fam, 'covered', covered.join('/'), 'of', seeds, 'mean est', est.map(mean).map((v) => v.toFixed(3)).join(' '), 'mean SE', ses.map(mean).map((v) => v.toFixed(3)).join(' '), 'SD of est', est.map(sd).map((v) => v.toFixed(3)).join(' '));
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/coverage.json', JSON.stringify({ truth: TRUE_BETA, command: `node scripts/run-ts.mjs bench/coverage.ts ${seeds}`, result }, null, 2) + '\n');
