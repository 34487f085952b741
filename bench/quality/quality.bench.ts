// `npm run bench -- quality` (issue 17): held-out prediction quality of ngmm's NGMM with its
// defaults beside its GLMM, mgcv's GAM (Rscript), a hand-written PyTorch NGMM
// (bench/quality/torch_ngmm.py) and the true model, on the simulated data sets of
// bench/quality/datasets.ts. Each method fits the training rows and predicts the held-out rows
// of seen groups (with the groups' own effects) and the rows of new groups (without). `--quick`:
// three small data sets, ngmm's NGMM and the PyTorch NGMM capped at 10 epochs (checks the code,
// measures nothing). R/mgcv and PyTorch are skipped with a notice when missing
// (scripts/setup-peers.sh installs PyTorch).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { initSync } from '../../engine/backend';
import { fitFormula } from '../../ngmm/fitFormula';
import type { Column } from '../../ngmm/csv';
import { logLoss, poissonDeviance, rmse } from '../../ngmm/metrics';
import type { Model } from '../../ngmm/model';
import type { Section } from '../lib';
import { FAMILIES, generate, grid, trueMeans, X_NAMES, type Dataset, type Family, type Split } from './datasets';
import { RECIPE } from '../../ngmm/fit';
import { csvText, gamScript, parseGamOut, parseTorchOut, torchConfig } from './peers';
import { meanRelativeGap, metricTable, timeTable, wins, LABEL, METHODS, type Cell, type Method, type Timing } from './report';

const PYTHON = '/usr/bin/python3';
const RSCRIPT = '/usr/bin/Rscript';
const HIDDEN = [64, 32, 16];
const QUICK_EPOCHS = 10;

export const METRIC: Record<Family, { name: string; fn: (y: ArrayLike<number>, mu: ArrayLike<number>) => number }> = {
  gaussian: { name: 'RMSE', fn: rmse },
  bernoulli: { name: 'log-loss', fn: logLoss },
  poisson: { name: 'Poisson deviance', fn: poissonDeviance },
};

/** The version string a command prints, or null when it fails (the peer is then skipped). */
function probe(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** A split as the formula path's table: x1..x5 and y numbers, g a label. */
function tableOf(s: Split): { columns: Map<string, Column>; nrows: number } {
  const n = s.y.length, p = X_NAMES.length;
  const columns = new Map<string, Column>();
  X_NAMES.forEach((name, k) => columns.set(name, { kind: 'number', values: Float64Array.from({ length: n }, (_, i) => s.X[i * p + k]), missing: new Uint8Array(n) }));
  columns.set('y', { kind: 'number', values: Float64Array.from(s.y), missing: new Uint8Array(n) });
  columns.set('g', { kind: 'string', values: [...s.group], missing: new Uint8Array(n) });
  return { columns, nrows: n };
}

interface Predicted {
  seen: Float64Array;
  fresh: Float64Array;
  seconds: number;
  info?: Record<string, unknown>;
}

/** ngmm through the formula path with no options but the family and the hidden layers. */
function runNgmm(d: Dataset, hidden: number[], quick: boolean): Predicted {
  const formula = `y ~ ${X_NAMES.join(' + ')} + (${d.spec.structure === 'slope' ? '1 + x1' : '1'} | g)`;
  const t = performance.now();
  const { model } = fitFormula(tableOf(d.train), formula, { family: d.spec.family, hidden }, quick && hidden.length > 0 ? { epochs: QUICK_EPOCHS } : {}, 'train');
  const seconds = (performance.now() - t) / 1000;
  const out = predictBoth(model, d);
  const info = { epochs: model.info.epochs, message: model.info.message, sigmaB: model.ranefSD };
  model.dispose();
  return { ...out, seconds, info };
}

function predictBoth(model: Model, d: Dataset): { seen: Float64Array; fresh: Float64Array } {
  if (model.xNames.join(',') !== X_NAMES.join(',')) throw new Error(`quality: the model's columns are ${model.xNames.join(', ')}, expected ${X_NAMES.join(', ')}`);
  return {
    seen: model.predict(d.seen.X, { group: d.seen.group, groups: 'observed' }),
    fresh: model.predict(d.fresh.X, { group: d.fresh.group, groups: 'new' }),
  };
}

function writeSplits(dir: string, d: Dataset): void {
  writeFileSync(join(dir, 'train.csv'), csvText(d.train));
  writeFileSync(join(dir, 'seen.csv'), csvText(d.seen));
  writeFileSync(join(dir, 'fresh.csv'), csvText(d.fresh));
}

const ONE_THREAD = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

function runGam(dir: string, d: Dataset): Predicted {
  writeFileSync(join(dir, 'gam.R'), gamScript(dir, d.spec.family, d.spec.structure));
  execFileSync(RSCRIPT, [join(dir, 'gam.R')], { env: ONE_THREAD, stdio: ['ignore', 'ignore', 'pipe'] });
  const o = parseGamOut(readFileSync(join(dir, 'gam.out'), 'utf8'), d.seen.y.length, d.fresh.y.length);
  return { seen: o.seen, fresh: o.fresh, seconds: o.seconds };
}

function runTorch(dir: string, d: Dataset, quick: boolean): Predicted {
  writeFileSync(join(dir, 'torch.json'), JSON.stringify(torchConfig(dir, d.spec.family, d.spec.seed, quick)));
  execFileSync(PYTHON, [resolve('bench/quality/torch_ngmm.py'), join(dir, 'torch.json')], { env: ONE_THREAD, stdio: ['ignore', 'ignore', 'pipe'] });
  const text = readFileSync(join(dir, 'torch.out'), 'utf8');
  const o = parseTorchOut(text, d.seen.y.length, d.fresh.y.length);
  const raw = JSON.parse(text) as { bestEpoch: number; sigmaB: number };
  return { seen: o.seen, fresh: o.fresh, seconds: o.seconds, info: { epochs: o.epochs, bestEpoch: raw.bestEpoch, sigmaB: raw.sigmaB } };
}

/** The first line of a failed child's or fit's message, for the notes. */
function why(e: unknown): string {
  const err = e as Error & { stderr?: Buffer | string };
  const text = err.stderr ? String(err.stderr) : err.message;
  return (text.split('\n').find((l) => /error/i.test(l)) ?? text.split('\n')[0]).trim().slice(0, 300);
}

export async function runQuality(): Promise<Section> {
  const quick = process.argv.includes('--quick');
  const backend = initSync();
  const torchVersion = probe(PYTHON, ['-c', 'import torch; print(torch.__version__)']);
  const mgcvVersion = probe(RSCRIPT, ['-e', 'cat(as.character(packageVersion("mgcv")))']);
  const notes: string[] = [];
  if (!torchVersion) notes.push(`PyTorch skipped: ${PYTHON} cannot import torch (scripts/setup-peers.sh installs python3-torch).`);
  if (!mgcvVersion) notes.push(`mgcv GAM skipped: ${RSCRIPT} with mgcv not found (apt-get install r-cran-mgcv).`);
  notes.forEach((n) => console.log(`  quality: ${n}`));
  const specs = grid(quick);
  const cells: Cell[] = [];
  const timings: Timing[] = [];
  const details: Record<string, unknown>[] = [];
  for (const spec of specs) {
    const d = generate(spec);
    const metric = METRIC[spec.family];
    const preds: Partial<Record<Method, Predicted>> = {};
    preds.truth = { seen: trueMeans(spec.family, d.seen, 'seen'), fresh: trueMeans(spec.family, d.fresh, 'fresh'), seconds: NaN };
    const attempt = (m: Method, run: () => Predicted) => {
      try {
        preds[m] = run();
      } catch (e) {
        notes.push(`${spec.name}: ${LABEL[m]} failed: ${why(e)}`);
        console.log(`  quality: ${spec.name}: ${LABEL[m]} failed: ${why(e)}`);
      }
    };
    attempt('ngmm', () => runNgmm(d, HIDDEN, quick));
    attempt('glmm', () => runNgmm(d, [], quick));
    const dir = mkdtempSync(join(os.tmpdir(), 'ngmm-quality-'));
    try {
      writeSplits(dir, d);
      if (mgcvVersion) attempt('gam', () => runGam(dir, d));
      if (torchVersion) attempt('torch', () => runTorch(dir, d, quick));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const kind of ['seen', 'new'] as const) {
      const split = kind === 'seen' ? d.seen : d.fresh;
      const values = {} as Record<Method, number | null>;
      for (const m of METHODS) {
        const p = preds[m];
        values[m] = p ? metric.fn(split.y, kind === 'seen' ? p.seen : p.fresh) : null;
      }
      cells.push({ dataset: spec.name, kind, metric: metric.name, values });
    }
    const seconds = {} as Record<Method, number | null>;
    for (const m of METHODS) seconds[m] = m === 'truth' ? null : (preds[m]?.seconds ?? null);
    timings.push({ dataset: spec.name, trainRows: d.train.y.length, seconds });
    details.push({ dataset: spec.name, spec, rows: { train: d.train.y.length, seen: d.seen.y.length, fresh: d.fresh.y.length }, ngmm: preds.ngmm?.info, glmm: preds.glmm?.info, torch: preds.torch?.info });
    const last = cells.slice(-2);
    console.log(`  quality ${spec.name}: ${last.map((c) => `${c.kind} ${METHODS.map((m) => `${m} ${c.values[m]?.toFixed(4) ?? '—'}`).join(' ')}`).join(' | ')}`);
  }
  // Bar 3: a default fit of 4,000 training rows against the PyTorch NGMM's, side by side in this
  // run: the §4 design (sine, random intercept) with 125 groups of 50 rows, so 100 training
  // groups keep 40 rows each (25 groups are new, 10 rows of each seen group held out).
  const speed: { family: Family; trainRows: number; ngmm: number | null; torch: number | null; metric: string; ngmmMetric: number | null; torchMetric: number | null }[] = [];
  for (const [i, family] of FAMILIES.entries()) {
    if (quick) break;
    const spec: Dataset['spec'] = { name: `speed/${family}/4000rows`, family, structure: 'intercept', effect: 'sine', size: { groups: 125, minRows: 50, maxRows: 50 }, seed: 30001 + i };
    const d = generate(spec);
    const metric = METRIC[family];
    let ng: Predicted | null = null, tp: Predicted | null = null;
    try {
      ng = runNgmm(d, HIDDEN, false);
    } catch (e) {
      notes.push(`${spec.name}: ngmm failed: ${why(e)}`);
    }
    if (torchVersion) {
      const dir = mkdtempSync(join(os.tmpdir(), 'ngmm-quality-'));
      try {
        writeSplits(dir, d);
        tp = runTorch(dir, d, false);
      } catch (e) {
        notes.push(`${spec.name}: PyTorch failed: ${why(e)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    speed.push({
      family, trainRows: d.train.y.length, ngmm: ng?.seconds ?? null, torch: tp?.seconds ?? null, metric: metric.name,
      ngmmMetric: ng ? metric.fn(d.seen.y, ng.seen) : null, torchMetric: tp ? metric.fn(d.seen.y, tp.seen) : null,
    });
    const last = speed[speed.length - 1];
    console.log(`  quality ${spec.name}: ngmm ${last.ngmm?.toFixed(2)} s, PyTorch ${last.torch?.toFixed(2)} s (${last.ngmm && last.torch ? (last.ngmm / last.torch).toFixed(2) : '—'}×); seen ${metric.name} ngmm ${last.ngmmMetric?.toFixed(4)} PyTorch ${last.torchMetric?.toFixed(4)}`);
  }
  const w = wins(cells);
  const md = [
    quick ? '**Quick run (`--quick`): three small data sets, the networks capped at 10 epochs. It checks the code; its numbers measure nothing.**\n' : '',
    `${specs.length} simulated data sets (bench/quality/README.md: the design and the split). Each method fits the training rows and`,
    'predicts the held-out rows of seen groups (with each group\'s own effects) and the rows of new groups (random effects at their',
    'prior). Metric: RMSE (Gaussian), log-loss (Bernoulli), mean Poisson deviance (Poisson); lower is better.',
    `ngmm NGMM: \`fitFormula\` with the family and \`hidden: [${HIDDEN.join(', ')}]\` only, i.e. its default recipe (${JSON.stringify(RECIPE)}, Gauss–Hermite 25 while training); ngmm GLMM: no hidden layers.`,
    `mgcv GAM${mgcvVersion ? ` ${mgcvVersion}` : ''}: \`y ~ s(x1) + … + s(x5) + s(g, bs = "re")\` (+ \`s(g, x1, bs = "re")\` with a random slope) by \`bam(method = "fREML")\` (gam's REML had not finished after 9 min, when it was stopped, on 500 groups with slopes); new groups with the random terms excluded.`,
    `PyTorch NGMM${torchVersion ? ` ${torchVersion}` : ''}: bench/quality/torch_ngmm.py (float64, one thread, the same MLP, Adam 1e−3, 16 groups a batch, ≤ 300 epochs,`,
    'patience 20 on 10 % of the groups, a 401-point log-sum-exp grid for a random intercept; it models no random slope).',
    'The true model: the true means with each group\'s effects (seen groups), and marginalised over the random effects (new groups).',
    `Backend: ${backend.name}.`,
    '',
    ...(notes.length ? [...notes.map((n) => `- ${n}`), ''] : []),
    `ngmm's NGMM is below the best peer in ${w.won} of ${w.of} cells. Mean relative gap to the true model (metric/truth − 1): ${
      METHODS.filter((m) => m !== 'truth').map((m) => {
        const g = meanRelativeGap(cells, m);
        return `${LABEL[m]} ${g.n > 0 ? `${(100 * g.mean).toFixed(1)} %` : '—'} (${g.n} cells)`;
      }).join(', ')}.`,
    '',
    metricTable(cells),
    '',
    'Fit times (seconds; ngmm in this process, mgcv and PyTorch timed inside their own processes around the fit alone):',
    '',
    timeTable(timings),
    ...(speed.length ? [
      '',
      'A default fit of 4,000 training rows (the §4 design: 125 groups of 50 rows, sine, random intercept; 100 training groups of 40 rows), side by side in this run:',
      '',
      '| family | training rows | ngmm NGMM (s) | PyTorch NGMM (s) | ngmm / PyTorch | seen-rows metric: ngmm | PyTorch |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...speed.map((r) => `| ${r.family} | ${r.trainRows} | ${r.ngmm?.toFixed(2) ?? '—'} | ${r.torch?.toFixed(2) ?? '—'} | ${r.ngmm && r.torch ? (r.ngmm / r.torch).toFixed(2) : '—'} | ${r.metric} ${r.ngmmMetric?.toFixed(4) ?? '—'} | ${r.torchMetric?.toFixed(4) ?? '—'} |`),
    ] : []),
  ].join('\n');
  return {
    name: 'quality',
    title: 'Quality: held-out predictions of ngmm, mgcv, PyTorch and the true model',
    markdown: md,
    data: { quick, backend: backend.name, torch: torchVersion, mgcv: mgcvVersion, recipe: RECIPE, cells, timings, speed, details, notes },
  };
}
