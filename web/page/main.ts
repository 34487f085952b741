// The demo page: reads the controls, prepares the data on the main thread (cheap: simulated
// arrays, or a dropped CSV read and split into training and held-out rows), fits in a Web Worker
// (dist's worker script, serveFits; a CSV by the library's fitFormula and predictTable there)
// while drawing the loss curve on every progress message, then draws predictions against the
// truth and the groups' posterior effects.
import type { FitProgress } from '../../ngmm/fit';
import type { ActivationName } from '../../engine/ops/activations';
import type { SimulatedFamily } from '../../ngmm/simulate';
import { rmse } from '../../ngmm/metrics';
import { fitFormulaInWorker, type FitInWorkerOptions } from '../../ngmm/worker/client';
import type { FitResult, FormulaFitResult } from '../../ngmm/worker/protocol';
import { fromCsv, simulated, simulatedTable, type CsvData, type DemoData } from './data';
import { drawEffects } from './effects';
import { drawLoss } from './lossChart';
import { drawScatter } from './scatter';

const $ = <T extends HTMLElement = HTMLInputElement>(id: string) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`demo page: no element #${id}`);
  return node as T;
};
const num = (id: string) => {
  const v = Number($(id).value);
  if (!Number.isFinite(v)) throw new Error(`${id.replace('-', ' ')}: '${$(id).value}' is not a number`);
  return v;
};

const status = $<HTMLDivElement>('status');
const fitButton = $<HTMLButtonElement>('fit');
const cancelButton = $<HTMLButtonElement>('cancel');
let csv: { text: string; name: string } | null = null;
let worker: Worker | null = null;
let controller: AbortController | null = null;

function say(text: string, state: 'idle' | 'running' | 'done' | 'cancelled' | 'error') {
  status.textContent = text;
  status.dataset.state = state;
}

/** Held-out predictions and their truth, by whether the row's group was fitted. */
interface Shown {
  observed: { predicted: Float64Array; truth: Float64Array };
  fresh: { predicted: Float64Array; truth: Float64Array };
  truthLabel: string;
  trueEffects?: ReadonlyMap<string, number>;
}

function hiddenSizes(): number[] {
  const text = $('hidden').value.trim();
  if (!text) return [];
  return text.split(',').map((s) => {
    const v = Number(s.trim());
    if (!Number.isInteger(v) || v < 1) throw new Error(`hidden layers: '${s.trim()}' is not a positive whole number`);
    return v;
  });
}

function showResult(data: Shown, r: FitResult, history: FitProgress[]) {
  const obs = data.observed.predicted, fresh = data.fresh.predicted;
  drawScatter($('pred-chart'), [
    { label: `observed groups (${obs.length} rows)`, cls: 'observed', predicted: obs, truth: data.observed.truth },
    { label: `new groups (${fresh.length} rows)`, cls: 'new', predicted: fresh, truth: data.fresh.truth },
  ], data.truthLabel);
  // RMSE of no rows is undefined: say so rather than print NaN.
  const score = (p: Float64Array, t: Float64Array) => (p.length ? rmse(p, t).toFixed(4) : 'no rows');
  $('pred-note').textContent = `RMSE against the ${data.truthLabel}: observed groups ${score(obs, data.observed.truth)}, new groups ${score(fresh, data.fresh.truth)}`;
  drawEffects($('effects-chart'), r.ranef, data.trueEffects);
  const sb = r.model.params.thetaB === null ? undefined : r.model.summary?.ranefSD; // σ_b of a random intercept
  $('effects-note').textContent = sb === undefined ? '' : `σ_b = ${sb.toFixed(3)}${data.trueEffects ? ' (simulated with 0.5)' : ''}`;
  // The same numbers the runtime tests compare across runtimes (test/runtimes/fixtures/case.mjs).
  $('result-json').textContent = JSON.stringify({
    backend: r.backend,
    loss: history.map((p) => p.loss),
    validation: history.map((p) => p.validation),
    observed: Array.from(obs),
    fresh: Array.from(fresh),
    ranefMean: r.ranef.map((e) => e.mean),
    ranefSd: r.ranef.map((e) => e.sd),
  });
}

/** What both kinds of data are fitted with: the spec, fit's options and the seed. */
interface Common { spec: { family: SimulatedFamily; hidden: number[]; activation: ActivationName }; options: { epochs: number; lr: number; batchSize: number; validation: number; ensemble?: number }; seed: number }

// The simulated data as a table, fitted by the formula path as a CSV is (so the worker can draw
// it with plotModel); then the held-out rows of each kind predicted.
async function fitSimulated(data: DemoData, common: Common, callbacks: FitInWorkerOptions): Promise<{ r: FormulaFitResult; shown: Shown; description: string }> {
  say(`${data.description}. Fitting the linear GLMM first, then the network…`, 'running');
  const t = simulatedTable(data);
  const r = await fitFormulaInWorker(worker!, {
    table: t.table, source: 'simulated', formula: t.formula, rows: t.train, ...common,
    predict: [{ name: 'observed', rows: t.observed }, { name: 'new', rows: t.fresh }],
    plot: { rows: [...t.observed, ...t.fresh] },
  }, callbacks);
  const shown: Shown = {
    observed: { predicted: r.predicted.observed.prediction, truth: data.observed.truth },
    fresh: { predicted: r.predicted.new.prediction, truth: data.fresh.truth },
    truthLabel: data.truthLabel, ...(data.trueEffects ? { trueEffects: data.trueEffects } : {}),
  };
  return { r, shown, description: data.description };
}

// A CSV: the worker's fitFormula on the training rows, predictTable on the held-out rows (each
// through its group's posterior where the group was fitted, the prior otherwise).
async function fitCsv(data: CsvData, common: Common, callbacks: FitInWorkerOptions): Promise<{ r: FormulaFitResult; shown: Shown; description: string }> {
  say(`${data.description}. Fitting the linear GLMM first, then the network…`, 'running');
  const r = await fitFormulaInWorker(worker!, {
    table: data.table, source: data.source, formula: data.formula, rows: data.train, ...common,
    predict: [{ name: 'held-out', rows: data.heldOut, response: true }],
    plot: { rows: data.heldOut },
  }, callbacks);
  const h = r.predicted['held-out'];
  const pick = (seen: number) => {
    const idx = Array.from(h.seen.keys()).filter((k) => h.seen[k] === seen);
    return { predicted: Float64Array.from(idx, (k) => h.prediction[k]), truth: Float64Array.from(idx, (k) => h.y![k]) };
  };
  const dropped = h.dropped.length ? [`${h.dropped.length} held-out row${h.dropped.length === 1 ? '' : 's'} with missing values not predicted`] : [];
  return {
    r, shown: { observed: pick(1), fresh: pick(0), truthLabel: data.truthLabel },
    description: [data.description, ...r.notes, ...dropped].join('; '),
  };
}

async function runFit() {
  const family = $<HTMLSelectElement>('family').value as SimulatedFamily;
  const epochs = num('epochs');
  const common: Common = {
    spec: { family, hidden: hiddenSizes(), activation: $<HTMLSelectElement>('activation').value as ActivationName },
    // A linear GLMM has no ensemble (the option is for networks only).
    options: { epochs, lr: num('lr'), batchSize: num('batch'), validation: num('validation'), ...(hiddenSizes().length > 0 ? { ensemble: num('ensemble') } : {}) },
    seed: num('seed'),
  };
  // The data first: a problem with it (a formula naming no column) leaves the last result shown.
  let data: { csv: CsvData } | { sim: DemoData };
  if ($<HTMLSelectElement>('source').value === 'csv') {
    if (!csv) throw new Error('drop a CSV file first (or choose the simulated data)');
    data = { csv: fromCsv(csv.text, csv.name, $('formula').value) };
  } else {
    data = { sim: simulated(family, num('data-seed'), num('groups'), num('per-group')) };
  }
  const history: FitProgress[] = [];
  drawLoss($('loss-chart'), history, epochs);
  for (const id of ['pred-chart', 'effects-chart', 'loss-note', 'pred-note', 'effects-note', 'result-json', 'plot-svg']) $(id).replaceChildren();
  // Every epoch of every ensemble member (the result's numbers), and the current member's (the chart).
  const all: FitProgress[] = [];
  worker ??= new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  controller = new AbortController();
  fitButton.disabled = true;
  cancelButton.disabled = false;
  const callbacks: FitInWorkerOptions = {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.phase !== 'adam') {
        // L-BFGS iterations (the linear fit, the polish): a status line, not a loss-curve point.
        say(`Fitting (${(p.elapsedMs / 1000).toFixed(1)} s) — ${p.phase === 'linear' ? 'linear model' : 'polish'}, L-BFGS iteration ${p.epoch}: ${p.loss.toFixed(4)}`, 'running');
        return;
      }
      if (history.length > 0 && history[history.length - 1].member !== p.member) history.length = 0;
      history.push(p);
      all.push(p);
      drawLoss($('loss-chart'), history, epochs);
      const member = p.member !== undefined ? `member ${p.member}/${p.members}, ` : '';
      const last = `${member}epoch ${p.epoch}/${p.epochs}: training ${p.loss.toFixed(4)}${p.validation === undefined ? '' : `, validation ${p.validation.toFixed(4)}`}`;
      $('loss-note').textContent = last;
      say(`Fitting (${(p.elapsedMs / 1000).toFixed(1)} s) — ${last}`, 'running');
    },
    onWarning: (m) => ($('loss-note').textContent = `warning: ${m}`),
  };
  try {
    const { r, shown, description } = 'csv' in data ? await fitCsv(data.csv, common, callbacks) : await fitSimulated(data.sim, common, callbacks);
    showResult(shown, r, all);
    // The SVG text comes from the library's own writer (every label escaped), as ngmm plot writes it.
    if (r.plot) $('plot-svg').innerHTML = r.plot;
    // A linear GLMM (no hidden layers) is fitted by L-BFGS alone: there are no epochs to draw.
    if (all.length === 0) $('loss-note').textContent = `the linear GLMM is fitted by L-BFGS (${r.info.epochs} iterations), without epochs to plot`;
    say(`${r.cancelled ? 'Cancelled' : 'Done'} in ${(r.elapsedMs / 1000).toFixed(1)} s on ${r.backend}: ${r.info.message}. ${description}.`, r.cancelled ? 'cancelled' : 'done');
  } finally {
    fitButton.disabled = false;
    cancelButton.disabled = true;
    controller = null;
  }
}

$<HTMLFormElement>('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  runFit().catch((err: unknown) => say(err instanceof Error ? err.message : String(err), 'error'));
});
cancelButton.addEventListener('click', () => {
  controller?.abort();
  say('Cancelling after the current batch…', 'running');
});
$<HTMLSelectElement>('source').addEventListener('change', (e) => {
  const isCsv = (e.target as HTMLSelectElement).value === 'csv';
  $('sim-fields').hidden = isCsv;
  $('csv-fields').hidden = !isCsv;
});

async function takeFile(file: File) {
  csv = { text: await file.text(), name: file.name };
  $<HTMLSelectElement>('source').value = 'csv';
  $('sim-fields').hidden = true;
  $('csv-fields').hidden = false;
  const header = csv.text.slice(0, csv.text.indexOf('\n')).trim();
  say(`Loaded ${file.name} (columns: ${header}). Write a formula and press Fit.`, 'idle');
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) takeFile(file).catch((err: unknown) => say(String(err), 'error'));
});
$('file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) takeFile(file).catch((err: unknown) => say(String(err), 'error'));
});
drawLoss($('loss-chart'), [], num('epochs'));
