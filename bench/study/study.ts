// The simulation study (paper §4 and Appendix 12): for every setting (data-generating process ×
// family × random-effect structure × variance) and repetition, simulate, fit the linear GLMM
// and the NGMM with the same engine, and score both on held-out observations of training
// groups ("observed") and on held-out groups ("new").
//
//   npm run study -- --reps 10        the full study: bench/results/study.{json,md,svg} + RESULTS.md
//   npm run study -- --quick          one repetition of smaller data sets (CI); writes .build/study-quick/
//   options: --reps N  --groups G  --per-group n  --epochs E  --only <text in the setting name>  --out DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { initSync } from '../../engine/backend';
import { fit, type FitOptions } from '../../ngmm/fit';
import { logLoss, poissonDeviance, rmse } from '../../ngmm/metrics';
import type { Model, ModelSpec } from '../../ngmm/model';
import { machine, table, writeSection } from '../lib';
import { settingName, settings, simulate, X_NAMES, type Family, type Setting, type Simulated } from './simulate';
import { dotIntervalFigure, type Panel } from './svg';
import { ProgressBar } from '../progressBar';

// ---- options ----
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('quick');
let config = {
  reps: Number(opt('reps') ?? (quick ? 1 : 10)),
  groups: Number(opt('groups') ?? (quick ? 100 : 250)),
  perGroup: Number(opt('per-group') ?? 20),
  /** Adam epochs when given; otherwise the recipe's (an upper bound with its early stopping). */
  epochs: opt('epochs') === undefined ? undefined : Number(opt('epochs')),
};
const only = opt('only');
const outDir = opt('out') ?? (quick ? '.build/study-quick' : 'bench/results');
let command = `npm run study -- ${argv.join(' ')}`.trim();

/** The NGMM of §4: MLP 5 → 64 → 32 → 16 → 1 with ReLU, on top of the linear part. */
export const NGMM_HIDDEN = [64, 32, 16];
// fit's default recipe for a network (docs/recipe.md: a deep ensemble of 5, early stopping on
// held-out rows, the polish of the linear part), as a user gets it; only the seed is set.
const ngmmFit = (seed: number): FitOptions => ({ ...(config.epochs !== undefined ? { epochs: config.epochs } : {}), seed });

const METRIC: Record<Family, { name: string; fn: (y: ArrayLike<number>, mu: ArrayLike<number>) => number }> = {
  gaussian: { name: 'RMSE', fn: rmse },
  bernoulli: { name: 'log-loss', fn: logLoss },
  poisson: { name: 'Poisson deviance', fn: poissonDeviance },
};

// ---- progress bar (stderr) ----
const bar = new ProgressBar('study');
const tty = process.stderr.isTTY;
const progress = (done: number, total: number, label: string, force = false) => bar.update(done, total, label, force);

// ---- one repetition ----
interface RepResult {
  seed: number;
  glmm: { observed: number; new: number; message: string; converged: boolean; sigmaB: number; seconds: number };
  ngmm: { observed: number; new: number; message: string; epochs: number; sigmaB: number; seconds: number };
  /** (NGMM − GLMM)/GLMM per test set. */
  rel: { observed: number; new: number };
}

function score(model: Model, d: Simulated, family: Family) {
  const m = METRIC[family].fn;
  return {
    observed: m(d.observed.y, model.predict(d.observed.X, { group: d.observed.group, groups: 'observed' })),
    new: m(d.fresh.y, model.predict(d.fresh.X, { group: d.fresh.group, groups: 'new' })),
  };
}

function runRep(s: Setting, seed: number, onEpoch: (frac: number) => void): RepResult {
  const d = simulate(s, { groups: config.groups, perGroup: config.perGroup }, seed);
  const spec: ModelSpec = { family: s.family, randomSlopes: s.structure === 'slope' ? ['x1'] : undefined };
  const data = { ...d.train, xNames: X_NAMES };
  let t = performance.now();
  const glmm = fit(data, spec);
  const gs = score(glmm, d, s.family);
  const gSec = (performance.now() - t) / 1000;
  onEpoch(0);
  t = performance.now();
  const ngmm = fit(data, { ...spec, hidden: NGMM_HIDDEN, activation: 'relu', seed }, { ...ngmmFit(seed), onProgress: (p) => onEpoch(p.members ? (p.member! - 1 + p.epoch / p.epochs) / p.members : p.epoch / p.epochs) });
  const ns = score(ngmm, d, s.family);
  const nSec = (performance.now() - t) / 1000;
  const r: RepResult = {
    seed,
    glmm: { ...gs, message: glmm.info.message, converged: glmm.info.converged, sigmaB: glmm.ranefSD, seconds: gSec },
    ngmm: { ...ns, message: ngmm.info.message, epochs: ngmm.info.epochs, sigmaB: ngmm.ranefSD, seconds: nSec },
    rel: { observed: (ns.observed - gs.observed) / gs.observed, new: (ns.new - gs.new) / gs.new },
  };
  glmm.dispose();
  ngmm.dispose();
  return r;
}

// ---- summaries ----
interface Cell {
  n: number;
  mean: number;
  sd: number;
  min: number;
  max: number;
  /** Repetitions where NGMM's metric is lower. */
  wins: number;
}
function cell(v: number[]): Cell {
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd, min: Math.min(...v), max: Math.max(...v), wins: v.filter((x) => x < 0).length };
}
const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

interface SettingResult {
  setting: Setting;
  name: string;
  metric: string;
  reps: RepResult[];
  observed: Cell;
  new: Cell;
}

const pct = (v: number, digits = 1) => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(digits)} %`;

function markdown(results: SettingResult[], seconds: number): string {
  const rows = results.flatMap((r) =>
    (['observed', 'new'] as const).map((set) => [
      r.setting.dgp,
      r.setting.family,
      r.metric,
      r.setting.structure,
      r.setting.variance,
      set,
      avg(r.reps.map((x) => x.glmm[set])).toPrecision(4),
      avg(r.reps.map((x) => x.ngmm[set])).toPrecision(4),
      `**${pct(r[set].mean)}** ± ${(100 * r[set].sd).toFixed(1)}`,
      `${pct(r[set].min)} … ${pct(r[set].max)}`,
      `${r[set].wins}/${r[set].n}`,
    ]),
  );
  const nonlinear = results.filter((r) => r.setting.dgp === 'nonlinear');
  const cells = nonlinear.flatMap((r) => [r.observed, r.new]);
  const better = cells.filter((c) => c.mean < 0).length;
  const linear = results.filter((r) => r.setting.dgp === 'linear').flatMap((r) => [r.observed, r.new]);
  const lines = [
    `Command: \`${command}\` (${(seconds / 60).toFixed(1)} min). ${config.groups} groups × ${config.perGroup} observations per data set,`,
    `${config.reps} repetitions per setting; design and constants in \`bench/study/README.md\`; figure \`${outDir}/study.svg\`.`,
    `Relative change (NGMM − GLMM)/GLMM of the test metric (lower is better, negative = NGMM better): mean ± SD`,
    `over repetitions, range, and the number of repetitions NGMM won. GLMM and NGMM columns are mean metrics.`,
    '',
    `Nonlinear design: NGMM has the lower mean metric in ${better} of ${cells.length} cells` +
      (linear.length ? `; linear design: mean |relative change| ${(100 * avg(linear.map((c) => Math.abs(c.mean)))).toFixed(1)} % (largest ${(100 * Math.max(...linear.map((c) => Math.abs(c.mean)))).toFixed(1)} %).` : '.'),
    '',
    table(['DGP', 'family', 'metric', 'random effects', 'σ_b²', 'test groups', 'GLMM', 'NGMM', 'relative change ± SD', 'range', 'NGMM wins'], rows),
  ];
  return lines.join('\n');
}

function figure(results: SettingResult[]): string {
  const dgps = [...new Set(results.map((r) => r.setting.dgp))];
  const fams = [...new Set(results.map((r) => r.setting.family))];
  const panels: Panel[] = [];
  for (const dgp of dgps) {
    for (const fam of fams) {
      const rs = results.filter((r) => r.setting.dgp === dgp && r.setting.family === fam);
      panels.push({
        title: `${fam[0].toUpperCase()}${fam.slice(1)}: ${METRIC[fam].name.replace('Poisson ', '')}`,
        rows: rs.map((r) => `${r.setting.structure === 'intercept' ? 'intercept' : 'int. + slope'}, σ²=${r.setting.variance}`),
        points: (['observed', 'new'] as const).map((set) => rs.map((r) => ({ mean: 100 * r[set].mean, lo: 100 * (r[set].mean - r[set].sd), hi: 100 * (r[set].mean + r[set].sd) }))),
      });
    }
  }
  return dotIntervalFigure({
    title: 'NGMM vs linear GLMM on simulated grouped data (paper §4 and Appendix 12)',
    subtitle: `relative change of the test metric, dot = mean, bar = ±1 SD over ${config.reps} repetition${config.reps > 1 ? 's' : ''}; left of the dashed line: NGMM better; each panel has its own scale`,
    panelRows: dgps.map((d) => (d === 'nonlinear' ? 'Nonlinear fixed effect (§4)' : 'Linear fixed effect (Appendix 12)')),
    panels,
    series: [
      { name: 'observed groups', color: '#1f77b4' },
      { name: 'new groups', color: '#d62728' },
    ],
    xLabel: '(NGMM − GLMM) / GLMM  [%]',
    unit: '%',
    columns: fams.length,
    note: `${config.groups} groups × ${config.perGroup} observations; NGMM: MLP 5→64→32→16→1 (ReLU); both fitted by the ngmm engine. ${command}`,
  });
}

// ---- main ----
if (flag('replot')) {
  // Redraw the table and figure from a finished run's JSON (no fitting).
  const saved = JSON.parse((await import('node:fs')).readFileSync(`${outDir}/study.json`, 'utf8')) as { data: { command: string; config: typeof config; seconds: number; backend: string; results: SettingResult[] } };
  ({ command, config } = saved.data);
  const md = markdown(saved.data.results, saved.data.seconds);
  writeFileSync(`${outDir}/study.md`, `# Simulation study\n\n${md}\n`);
  writeFileSync(`${outDir}/study.svg`, figure(saved.data.results));
  if (outDir === 'bench/results') writeSection({ name: 'study', title: 'Simulation study (paper §4 and Appendix 12)', markdown: md, data: saved.data });
  console.log(`study: redrew ${outDir}/study.{md,svg} from ${outDir}/study.json`);
  process.exit(0);
}
const backend = initSync();
const all = settings().filter((s) => !only || settingName(s).includes(only));
if (all.length === 0) throw new Error(`no setting matches --only ${only}`);
mkdirSync(outDir, { recursive: true });
const total = all.length * config.reps;
process.stderr.write(`study: ${all.length} settings × ${config.reps} repetitions, ${config.groups} groups × ${config.perGroup} observations, NGMM ${config.epochs === undefined ? 'by the default recipe' : `≤ ${config.epochs} epochs`}, backend ${backend.name}\n`);
const results: SettingResult[] = [];
let done = 0;
for (const [k, s] of all.entries()) {
  const reps: RepResult[] = [];
  for (let rep = 0; rep < config.reps; rep++) {
    const seed = 1 + rep + 1000 * (settings().findIndex((x) => settingName(x) === settingName(s)) + 1);
    const label = `${settingName(s)} rep ${rep + 1}/${config.reps}`;
    progress(done, total, label, true);
    reps.push(runRep(s, seed, (frac) => progress(done + 0.35 + 0.65 * frac, total, label)));
    done++;
  }
  const res: SettingResult = {
    setting: s,
    name: settingName(s),
    metric: METRIC[s.family].name,
    reps,
    observed: cell(reps.map((r) => r.rel.observed)),
    new: cell(reps.map((r) => r.rel.new)),
  };
  results.push(res);
  if (!tty || k === all.length - 1) {
    process.stderr.write(`${tty ? '\n' : ''}  ${res.name}: observed ${pct(res.observed.mean)} ± ${(100 * res.observed.sd).toFixed(1)}, new ${pct(res.new.mean)} ± ${(100 * res.new.sd).toFixed(1)}\n`);
  }
  writeFileSync(`${outDir}/study.partial.json`, JSON.stringify({ config, command, results }, null, 1));
}
progress(total, total, 'done', true);
bar.newline();
const seconds = bar.seconds;
const md = markdown(results, seconds);
const data = { command, config, seconds, backend: backend.name, results };
writeFileSync(`${outDir}/study.md`, `# Simulation study\n\n${md}\n`);
writeFileSync(`${outDir}/study.svg`, figure(results));
if (outDir === 'bench/results' && !only) {
  writeSection({ name: 'study', title: 'Simulation study (paper §4 and Appendix 12)', markdown: md, data });
} else {
  writeFileSync(`${outDir}/study.json`, JSON.stringify({ name: 'study', data, machine: machine() }, null, 2) + '\n');
}
try {
  (await import('node:fs')).unlinkSync(`${outDir}/study.partial.json`);
} catch {
  /* already gone */
}
console.log(md);
console.log(`\nstudy: ${(seconds / 60).toFixed(1)} min; wrote ${outDir}/study.{json,md,svg}`);
