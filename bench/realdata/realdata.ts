// The paper's real-data comparison (§5.1, Appendix 13 and 15.2; issue 14) on six grouped data
// sets from Debian's R packages: the NGMM against the GLMM, the conjugate neural mixed models
// (LMMNN for Gaussian, PGNN for counts), one-hot and embedding networks and BBVI, every method
// fitted by this engine. bench/realdata/README.md has the protocol.
//
//   npm run experiments -- realdata            the full run: tuning repetition + 10 repetitions,
//                                              bench/results/realdata.{json,md,svg} + RESULTS.md
//   npm run experiments -- realdata --quick    40 groups per data set, one repetition, the first
//                                              grid point, ≤ 3 epochs (checks the code, measures
//                                              nothing); writes .build/realdata-quick/
//   options: --reps N  --only <data set>  --out DIR  --data DIR  --replot
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { initSync } from '../../engine/backend';
import { logLoss, poissonDeviance, rmse } from '../../ngmm/metrics';
import { machine, table, writeSection } from '../lib';
import { finishRun, parseExperimentArgs } from '../experimentArgs';
import { ProgressBar } from '../progressBar';
import { dotIntervalFigure, type Panel } from '../study/svg';
import { readDataset, splitRepetition, MAX_GROUPS, type RepSplit } from './data';
import { DATASETS, type RealDataset } from './datasets';
import { COLOR, fitMethod, LABEL, methodsFor, SETTINGS_OF, UNTUNED, type MethodName } from './methods';
import type { Fitted, RFamily, TrainOptions } from './types';

/** The hyper-parameter grid, searched on one repetition excluded from the results. */
export const GRID = { hidden: [[16], [64], [256]] as number[][], lr: [1e-3, 3e-3, 1e-2] };
const BATCH = 128;
const PATIENCE = 20;
/**
 * Epoch caps: the library's recipe for the NGMM (300); for the others the paper's 500 epochs
 * (OHE, Embed) or MIN_STEPS steps (its BBVI ran 5,000–10,000), whichever is more — on the
 * small data sets 500 epochs are only a few hundred steps. Early stopping ends most fits
 * well before either.
 */
const EPOCHS = { ngmm: 300, other: 500 };
const MIN_STEPS = 10_000;
const QUICK = { maxGroups: 40, epochs: 3 };

export const METRIC: Record<RFamily, { name: string; fn: (y: ArrayLike<number>, mu: ArrayLike<number>) => number }> = {
  gaussian: { name: 'RMSE', fn: rmse },
  bernoulli: { name: 'log-loss', fn: logLoss },
  poisson: { name: 'Poisson deviance', fn: poissonDeviance },
};

export interface Config {
  readonly hidden: readonly number[];
  readonly lr: number;
}

export interface Score {
  readonly seen: number;
  readonly fresh: number;
  /** Unseen groups with the random effect integrated over its prior (methods that have one). */
  readonly freshMarginal: number | null;
}

export interface RunRecord {
  readonly dataset: string;
  readonly method: MethodName;
  /** 0 is the tuning repetition (excluded from the results). */
  readonly rep: number;
  readonly config: Config | null;
  readonly score: Score | null;
  readonly seconds: number;
  readonly info: Record<string, number | string | null>;
  readonly error?: string;
}

interface Cell {
  mean: number;
  sd: number;
  n: number;
}

const cell = (v: readonly number[]): Cell => {
  const n = v.length;
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, sd, n };
};

function trainOptions(m: MethodName, c: Config, seed: number, quick: boolean, trainRows: number): TrainOptions {
  if (quick) return { hidden: c.hidden, lr: c.lr, epochs: QUICK.epochs, batchSize: BATCH, patience: PATIENCE, seed };
  const cap = m === 'ngmm' || m === 'ngmm5' ? EPOCHS.ngmm : Math.max(EPOCHS.other, Math.ceil(MIN_STEPS / Math.ceil(trainRows / BATCH)));
  return { hidden: c.hidden, lr: c.lr, epochs: cap, batchSize: BATCH, patience: PATIENCE, seed };
}

function scoreOf(f: Fitted, split: RepSplit, family: RFamily): Score {
  const m = METRIC[family].fn;
  return {
    seen: m(split.seen.y, f.predictSeen(split.seen)),
    fresh: m(split.fresh.y, f.predictNew(split.fresh)),
    freshMarginal: f.predictNewMarginal ? m(split.fresh.y, f.predictNewMarginal(split.fresh)) : null,
  };
}

function run(ds: RealDataset, m: MethodName, split: RepSplit, rep: number, c: Config | null, seed: number, quick: boolean): RunRecord {
  const t = performance.now();
  let f: Fitted | null = null;
  try {
    f = fitMethod(m, split, trainOptions(m, c ?? { hidden: [], lr: 0 }, seed, quick, split.set.train.y.length));
    const score = scoreOf(f, split, ds.family);
    return { dataset: ds.name, method: m, rep, config: c, score, seconds: (performance.now() - t) / 1000, info: f.info };
  } catch (e) {
    // Said in the table and the notes, never dropped silently.
    const error = (e as Error).message.split('\n')[0].slice(0, 300);
    return { dataset: ds.name, method: m, rep, config: c, score: null, seconds: (performance.now() - t) / 1000, info: {}, error };
  } finally {
    f?.dispose();
  }
}

const configs = (): Config[] => GRID.hidden.flatMap((hidden) => GRID.lr.map((lr) => ({ hidden, lr })));

/** The tuning criterion: both test regimes, each relative to the GLMM of the same split. */
function criterion(s: Score, glmm: Score): number {
  return s.seen / glmm.seen + s.fresh / glmm.fresh;
}

function splitSeed(dsIndex: number, rep: number): number {
  return 1000 * (dsIndex + 1) + rep;
}

export interface RealdataData {
  command: string;
  quick: boolean;
  reps: number;
  maxGroups: number;
  grid: typeof GRID;
  batchSize: number;
  patience: number;
  epochs: typeof EPOCHS;
  minSteps: number;
  seconds: number;
  backend: string;
  datasets: { name: string; family: RFamily; source: string; label: string; group: string; rows: number; groups: number; covariates: readonly string[]; notes: string[] }[];
  chosen: Record<string, Partial<Record<MethodName, Config>>>;
  tuning: RunRecord[];
  runs: RunRecord[];
}

// ---- the table ----
const fmt = (c: Cell, digits = 4) => (c.n > 1 ? `${c.mean.toFixed(digits)} ± ${c.sd.toFixed(digits)}` : c.mean.toFixed(digits));
const pct = (c: Cell) => `${c.mean >= 0 ? '+' : ''}${(100 * c.mean).toFixed(1)} %${c.n > 1 ? ` ± ${(100 * c.sd).toFixed(1)}` : ''}`;

type Regime = 'seen' | 'fresh' | 'freshMarginal';

/** Per repetition, (metric − NGMM's)/NGMM's on the same split; NGMM's fixed-effects metric is the reference for 'freshMarginal'. */
function relative(d: RealdataData, ds: string, m: MethodName, regime: Regime): number[] {
  const out: number[] = [];
  for (const r of d.runs.filter((x) => x.dataset === ds && x.method === m && x.score)) {
    const ref = d.runs.find((x) => x.dataset === ds && x.method === 'ngmm' && x.rep === r.rep)?.score;
    const v = r.score![regime];
    const base = ref ? (regime === 'seen' ? ref.seen : ref.fresh) : null;
    if (v !== null && base !== null && base !== undefined) out.push(v / base - 1);
  }
  return out;
}

export function markdown(d: RealdataData): string {
  const lines: string[] = [];
  if (d.quick) lines.push('**Quick run (`--quick`): 40 groups per data set, one repetition, the first grid point, ≤ 3 epochs. It checks the code; its numbers measure nothing.**', '');
  lines.push(
    `Command: \`${d.command}\`; wall time ${(d.seconds / 60).toFixed(1)} min; backend ${d.backend}.`,
    `${d.reps} repetition${d.reps > 1 ? 's' : ''}${d.quick ? ' (no tuning)' : ' (plus one tuning repetition, excluded)'}; per repetition up to ${d.maxGroups} groups, 20 % of them unseen, 20 % of each seen group's rows held out (bench/realdata/README.md).`,
    `Every network: MLP with ReLU, the grid's hidden layer; Adam; batch ${d.batchSize} rows (the NGMM: its library default of 16 groups); early stopping with patience ${d.patience} on 20 % of the training rows; ≤ ${d.epochs.ngmm} epochs (NGMM), ≤ ${d.epochs.other} epochs or ${d.minSteps} mini-batches, whichever is more (the others).`,
    `Grid (searched on the tuning repetition by seen/GLMM + unseen/GLMM): hidden ∈ {${d.grid.hidden.map((h) => `[${h.join(', ')}]`).join(', ')}} × learning rate ∈ {${d.grid.lr.join(', ')}}.`,
    'Metric per data set (lower is better): RMSE of the standardised response (Gaussian), mean Poisson deviance (counts), log-loss (binary).',
    'Cells: mean ± SD over repetitions; "vs NGMM": the per-repetition relative difference (method − NGMM)/NGMM, mean ± SD (positive: NGMM better), and in how many repetitions NGMM is better.',
    'Unseen groups are predicted from the fixed effects alone (random effect 0, an all-zero one-hot vector, the mean embedding); "marginal" rows average over the random effect\'s prior instead and are compared with NGMM\'s fixed-effects prediction.',
    '',
  );
  for (const ds of d.datasets) {
    const fam = ds.family;
    lines.push(`### ${ds.name} (${ds.source}): ${ds.label}, ${ds.family}; ${ds.rows} rows in ${ds.groups} ${DATASETS.find((x) => x.name === ds.name)?.groups ?? ds.group}; covariates ${ds.covariates.join(', ')}`, '');
    const rows: string[][] = [];
    for (const m of methodsFor(fam)) {
      const runs = d.runs.filter((r) => r.dataset === ds.name && r.method === m);
      const ok = runs.filter((r) => r.score);
      const chosen = d.chosen[ds.name]?.[m];
      const label = `${LABEL[m]}${chosen ? ` [${chosen.hidden.join(', ')}], lr ${chosen.lr}` : ''}${ok.length < runs.length ? ` (${runs.length - ok.length} failed)` : ''}`;
      const regimes: Regime[] = ok.some((r) => r.score!.freshMarginal !== null) && fam !== 'gaussian' ? ['seen', 'fresh', 'freshMarginal'] : ['seen', 'fresh'];
      const cellsFor = (regime: Regime) => {
        const vals = ok.map((r) => r.score![regime]).filter((v): v is number => v !== null);
        if (vals.length === 0) return ['—', '—'];
        const rel = relative(d, ds.name, m, regime);
        const better = rel.filter((v) => v > 0).length;
        return [fmt(cell(vals)), m === 'ngmm' && regime !== 'freshMarginal' ? '—' : `${pct(cell(rel))} (NGMM better in ${better}/${rel.length})`];
      };
      const s = cellsFor('seen'), f = cellsFor('fresh');
      const mg = regimes.includes('freshMarginal') ? cellsFor('freshMarginal') : ['—', '—'];
      const secs = cell(ok.map((r) => r.seconds));
      rows.push([label, ...s, ...f, ...mg, ok.length ? secs.mean.toFixed(2) : '—']);
    }
    lines.push(table([`method`, `seen groups ${METRIC[fam].name}`, 'vs NGMM', `unseen groups ${METRIC[fam].name}`, 'vs NGMM', 'unseen, marginal', 'vs NGMM (fixed)', 'fit (s)'], rows), '');
    if (ds.notes.length) lines.push(`Preprocessing notes (over the repetitions): ${ds.notes.join('; ')}.`, '');
    const errors = d.runs.filter((r) => r.dataset === ds.name && r.error);
    for (const e of errors) lines.push(`- ${LABEL[e.method]} failed in repetition ${e.rep}: ${e.error}`);
    if (errors.length) lines.push('');
  }
  return lines.join('\n');
}

export function figure(d: RealdataData): string {
  const panels: Panel[] = d.datasets.map((ds) => {
    const others = methodsFor(ds.family).filter((m) => m !== 'ngmm');
    const point = (m: MethodName, regime: Regime) => {
      const rel = relative(d, ds.name, m, regime);
      if (rel.length === 0) return null;
      const c = cell(rel);
      const sd = Number.isFinite(c.sd) ? c.sd : 0;
      return { mean: 100 * c.mean, lo: 100 * (c.mean - sd), hi: 100 * (c.mean + sd) };
    };
    return {
      title: `${ds.name}: ${METRIC[ds.family].name} (${ds.family})`,
      rows: others.map((m) => LABEL[m]),
      points: [others.map((m) => point(m, 'seen')), others.map((m) => point(m, 'fresh'))],
    };
  });
  return dotIntervalFigure({
    title: 'Real data: each method against NGMM, held-out rows of seen groups and rows of unseen groups',
    subtitle: `(method − NGMM)/NGMM of the test metric, mean ± SD over ${d.reps} repetitions; right of 0: NGMM better`,
    panelRows: ['Gaussian (continuous response)', 'Poisson (counts)', 'Bernoulli (binary)'],
    panels,
    series: [{ name: 'seen groups', color: COLOR.ngmm }, { name: 'unseen groups', color: COLOR.ohe }],
    xLabel: 'relative difference of the metric (%)',
    unit: '%',
    columns: 2,
    clip: [-60, 100],
    note: `${d.quick ? 'QUICK RUN — measures nothing. ' : ''}Unseen groups: fixed effects only. Axes stop at −60 % and +100 %: an arrowhead marks a value beyond, with the mean written. ${d.command}; ${(d.seconds / 60).toFixed(1)} min.`,
  });
}

// ---- the run ----
export async function runRealdata(argv: readonly string[]): Promise<void> {
  const { flag, opt } = parseExperimentArgs('realdata', argv, ['quick', 'replot', 'export'], ['reps', 'only', 'out', 'data']);
  const quick = flag('quick');
  const outDir = opt('out') ?? (quick ? '.build/realdata-quick' : 'bench/results');
  const dataDir = opt('data') ?? 'bench/realdata/data';
  const reps = Number(opt('reps') ?? (quick ? 1 : 10));
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`realdata: --reps must be a positive integer, got ${opt('reps')}`);
  const only = opt('only');
  const chosenSets = DATASETS.filter((d) => !only || d.name === only);
  if (chosenSets.length === 0) throw new Error(`realdata: --only ${only}: no such data set (have: ${DATASETS.map((d) => d.name).join(', ')})`);
  mkdirSync(outDir, { recursive: true });
  const write = (d: RealdataData) => {
    const md = markdown(d);
    writeFileSync(`${outDir}/realdata.md`, `# Real-data comparison (paper §5.1, Appendix 13)\n\n${md}\n`);
    writeFileSync(`${outDir}/realdata.svg`, figure(d));
    if (outDir === 'bench/results' && !only) writeSection({ name: 'realdata', title: 'Real-data comparison (paper §5.1, Appendix 13)', markdown: md, data: d });
    else writeFileSync(`${outDir}/realdata.json`, JSON.stringify({ name: 'realdata', data: d, machine: machine() }, null, 2) + '\n');
  };
  if (flag('replot')) {
    const saved = JSON.parse(readFileSync(`${outDir}/realdata.json`, 'utf8')) as { data: RealdataData };
    write(saved.data);
    console.log(`realdata: redrew ${outDir}/realdata.{md,svg} from ${outDir}/realdata.json`);
    return;
  }
  if (flag('export') || !quick) {
    // The CSVs come from R at run time (installing R's packages from Debian when missing).
    execFileSync('bash', ['scripts/realdata/export.sh', dataDir], { stdio: 'inherit' });
  }
  const backend = initSync();
  const maxGroups = quick ? QUICK.maxGroups : MAX_GROUPS;
  const grid = quick ? [configs()[0]] : configs();
  const bar = new ProgressBar('realdata');
  const perSet = (ds: RealDataset) => {
    const ms = methodsFor(ds.family);
    const tuned = ms.filter((m) => !UNTUNED.has(m)).length;
    // (the GLMM's tuning fit is the 1 below)
    return (quick ? 0 : 1 + tuned * grid.length) + reps * ms.length;
  };
  const total = chosenSets.reduce((s, ds) => s + perSet(ds), 0);
  let done = 0;
  const data: RealdataData = {
    command: `npm run experiments -- realdata ${argv.join(' ')}`.trim(),
    quick, reps, maxGroups, grid: quick ? { hidden: [grid[0].hidden as number[]], lr: [grid[0].lr] } : GRID,
    batchSize: BATCH, patience: PATIENCE, epochs: quick ? { ngmm: QUICK.epochs, other: QUICK.epochs } : EPOCHS, minSteps: quick ? 0 : MIN_STEPS,
    seconds: 0, backend: backend.name, datasets: [], chosen: {}, tuning: [], runs: [],
  };
  process.stderr.write(`realdata: ${chosenSets.length} data sets × ${reps} repetitions${quick ? ' (quick)' : ' + 1 tuning repetition'}, up to ${maxGroups} groups each, backend ${backend.name}\n`);
  for (const [k, ds] of chosenSets.entries()) {
    const dsIndex = DATASETS.indexOf(ds);
    const raw = readDataset(dataDir, ds);
    const notes = new Set<string>();
    const methods = methodsFor(ds.family);
    const chosen: Partial<Record<MethodName, Config>> = {};
    const step = (label: string) => bar.update(done, total, label, true);
    if (quick) {
      for (const m of methods) if (m !== 'glmm') chosen[m] = grid[0];
    } else {
      const split = splitRepetition(raw, ds, splitSeed(dsIndex, 0), maxGroups);
      split.notes.forEach((n) => notes.add(n));
      step(`${ds.name} tuning GLMM`);
      const glmm = run(ds, 'glmm', split, 0, null, splitSeed(dsIndex, 0), quick);
      data.tuning.push(glmm);
      done++;
      for (const m of methods.filter((x) => !UNTUNED.has(x))) {
        let best: { c: Config; v: number } | null = null;
        for (const c of grid) {
          step(`${ds.name} tuning ${LABEL[m]} [${c.hidden.join(',')}] lr ${c.lr}`);
          const r = run(ds, m, split, 0, c, splitSeed(dsIndex, 0), quick);
          data.tuning.push(r);
          done++;
          const v = r.score && glmm.score ? criterion(r.score, glmm.score) : NaN;
          if (Number.isFinite(v) && (!best || v < best.v)) best = { c, v };
        }
        // No grid point fitted: the first one is used, and every repetition's failure is reported.
        chosen[m] = best?.c ?? grid[0];
      }
    }
    for (const [m, from] of Object.entries(SETTINGS_OF) as [MethodName, MethodName][]) if (methods.includes(m) && chosen[from]) chosen[m] = chosen[from];
    data.chosen[ds.name] = chosen;
    for (let rep = 1; rep <= reps; rep++) {
      const seed = splitSeed(dsIndex, rep);
      const split = splitRepetition(raw, ds, seed, maxGroups);
      split.notes.forEach((n) => notes.add(n));
      for (const m of methods) {
        step(`${ds.name} rep ${rep}/${reps} ${LABEL[m]}`);
        data.runs.push(run(ds, m, split, rep, chosen[m] ?? null, seed, quick));
        done++;
      }
    }
    const groupCount = new Set(raw.groupLabel).size;
    const first = splitRepetition(raw, ds, splitSeed(dsIndex, 1), maxGroups);
    data.datasets.push({ name: ds.name, family: ds.family, source: ds.source, label: ds.label, group: ds.group, rows: raw.y.length, groups: groupCount, covariates: first.covariates, notes: [...notes] });
    data.seconds = bar.seconds;
    if (!quick) writeFileSync(`${outDir}/realdata.partial.json`, JSON.stringify(data, null, 1));
    bar.newline();
    const last = data.runs.filter((r) => r.dataset === ds.name);
    process.stderr.write(`  ${ds.name}: ${methods.map((m) => {
      const ok = last.filter((r) => r.method === m && r.score);
      return `${LABEL[m]} seen ${ok.length ? cell(ok.map((r) => r.score!.seen)).mean.toFixed(4) : '—'} new ${ok.length ? cell(ok.map((r) => r.score!.fresh)).mean.toFixed(4) : '—'}`;
    }).join(' | ')}${k + 1 < chosenSets.length ? '' : ''}\n`);
  }
  finishRun('realdata', outDir, bar, total, data, write);
}
