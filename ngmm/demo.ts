// `npm start`: the built-in example. It simulates the paper's §4 design with a random
// intercept (nonlinear fixed effect of five covariates, group effects b_i ~ N(0, 0.5²)), for a
// Bernoulli and a Poisson response, fits the linear GLMM and the NGMM (MLP 5→64→32→16→1, ReLU)
// with the same engine (the NGMM by the default training recipe), and prints their test metrics on held-out observations of training
// groups ("observed") and on held-out groups ("new") side by side.
// The data come from ngmm/simulate.ts.
import { initSync } from '../engine/backend';
import { fit } from './fit';
import { logLoss, poissonDeviance } from './metrics';
import type { Model } from './model';
import { simulate } from './simulate';

const GROUPS = 300, PER_GROUP = 25, SIGMA_B = 0.5;

const backend = initSync();
const t0 = performance.now();
const lines: string[][] = [];
for (const kind of ['bernoulli', 'poisson'] as const) {
  const d = simulate(kind, kind === 'bernoulli' ? 1 : 2, { groups: GROUPS, perGroup: PER_GROUP, sigmaB: SIGMA_B });
  const { xNames } = d;
  const metric = kind === 'bernoulli' ? logLoss : poissonDeviance;
  const models: Record<string, Model> = {
    GLMM: fit({ ...d.train, xNames }, { family: kind }),
    // The default recipe (docs/recipe.md): a deep ensemble of 5 networks with early stopping.
    NGMM: fit({ ...d.train, xNames }, { family: kind, hidden: [64, 32, 16], activation: 'relu', seed: 1 }, { seed: 1 }),
  };
  for (const set of ['observed', 'new'] as const) {
    const s = set === 'observed' ? d.observed : d.fresh;
    const m = Object.fromEntries(Object.entries(models).map(([k, model]) => [k, metric(s.y, model.predict(s.X, { group: s.group, groups: set }))]));
    lines.push([kind, set, kind === 'bernoulli' ? 'log-loss' : 'deviance', m.GLMM.toFixed(4), m.NGMM.toFixed(4), `${(((m.NGMM - m.GLMM) / m.GLMM) * 100).toFixed(1)} %`]);
  }
  const g = models.GLMM, n = models.NGMM;
  console.log(`${kind}: GLMM ${g.info.message}; σ_b ${g.ranefSD.toFixed(3)} | NGMM ${n.info.message} (${n.info.epochs} epochs); σ_b ${n.ranefSD.toFixed(3)} (true ${SIGMA_B})`);
  for (const m of Object.values(models)) m.dispose();
}
const header = ['family', 'test groups', 'metric', 'GLMM', 'NGMM', 'NGMM vs GLMM'];
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log('');
console.log(fmt(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const l of lines) console.log(fmt(l));
console.log(`\n${GROUPS} groups × ${PER_GROUP} observations (80 % of the groups for training, 20 % of their rows held out), backend ${backend.name}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
