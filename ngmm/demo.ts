// `npm start`: the built-in example. It simulates the paper's §4 design with a random
// intercept (nonlinear fixed effect of five covariates, group effects b_i ~ N(0, 0.5²)), for a
// Bernoulli and a Poisson response, fits the linear GLMM and the NGMM (MLP 5→64→32→16→1, ReLU)
// with the same engine, and prints their test metrics on held-out observations of training
// groups ("observed") and on held-out groups ("new") side by side.
// The paper's constants were lost in extraction; these are ours, fixed here.
import { initSync } from '../engine/backend';
import { Rng } from '../engine/random';
import { fit } from './fit';
import { logLoss, poissonDeviance } from './metrics';
import type { Model } from './model';

const GROUPS = 300, PER_GROUP = 25, SIGMA_B = 0.5;
const f = (x: ArrayLike<number>) => Math.sin(Math.PI * x[0] * x[1]) + 2 * (x[2] - 0.5) ** 2 + Math.abs(x[3]) - 0.5 * x[4];

interface Split {
  X: Float64Array;
  y: Float64Array;
  group: string[];
}

function simulate(kind: 'bernoulli' | 'poisson', seed: number) {
  const rng = new Rng(seed);
  const rows = { train: [] as number[][], observed: [] as number[][], fresh: [] as number[][] };
  for (let i = 0; i < GROUPS; i++) {
    const b = SIGMA_B * rng.normal();
    const isNew = i >= GROUPS * 0.8; // the last 20 % of groups are held out whole
    for (let j = 0; j < PER_GROUP; j++) {
      const x = Array.from({ length: 5 }, () => 2 * rng.uniform() - 1);
      const eta = kind === 'bernoulli' ? 1.5 * f(x) - 1 + b : 0.8 * f(x) + b;
      const y = kind === 'bernoulli' ? (rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0) : rng.poisson(Math.exp(eta));
      const row = [...x, y, i];
      if (isNew) rows.fresh.push(row);
      else if (j < PER_GROUP * 0.8) rows.train.push(row);
      else rows.observed.push(row);
    }
  }
  const pack = (r: number[][]): Split => ({
    X: Float64Array.from(r.flatMap((v) => v.slice(0, 5))),
    y: Float64Array.from(r, (v) => v[5]),
    group: r.map((v) => `g${v[6]}`),
  });
  return { train: pack(rows.train), observed: pack(rows.observed), fresh: pack(rows.fresh) };
}

const backend = initSync();
const t0 = performance.now();
const lines: string[][] = [];
for (const kind of ['bernoulli', 'poisson'] as const) {
  const d = simulate(kind, kind === 'bernoulli' ? 1 : 2);
  const xNames = ['x1', 'x2', 'x3', 'x4', 'x5'];
  const metric = kind === 'bernoulli' ? logLoss : poissonDeviance;
  const models: Record<string, Model> = {
    GLMM: fit({ ...d.train, xNames }, { family: kind }),
    NGMM: fit({ ...d.train, xNames }, { family: kind, hidden: [64, 32, 16], activation: 'relu', seed: 1 }, {
      epochs: 60, lr: 2e-3, batchSize: 16, validation: 0.15, patience: 12, seed: 1,
    }),
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
