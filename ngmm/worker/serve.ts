// The worker's side of fitting off the main thread: `serveFits(self)` answers fit requests
// with progress messages (one per epoch), honours a cancel sent while the fit runs (fitAsync
// returns to the event loop between epochs, so the cancel message is dispatched and aborts the
// fit's signal), and posts the model's JSON, the requested predictions and the group effects.
// A request is either model data in arrays ('fit': fitAsync) or a formula over a table ('fitFormula':
// fitFormulaAsync on the rows asked for, then predictTable on other rows of the same table).
// One fit at a time per worker: a second request while one runs is answered with an error.
import { backend, initSync } from '../../engine/backend';
import { readCsvTable } from '../csv';
import { fitAsync, type FitProgress } from '../fit';
import { fitFormulaAsync } from '../fitFormula';
import { plotModel } from '../plot/plotModel';
import { parseFormula } from '../formula';
import { frameColumns, type Table } from '../frame';
import type { Model } from '../model';
import { predictTable } from '../predictFormula';
import type { FitRequest, FitResult, FormulaFitRequest, TableRowsResult, WorkerResponse, WorkerScopeLike } from './protocol';

/** Answers fit and cancel messages on `scope`: by default the worker's own global scope. */
export function serveFits(scope: WorkerScopeLike = globalThis as unknown as WorkerScopeLike): void {
  let running: { id: FitRequest['id']; controller: AbortController } | null = null;
  scope.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg?.type === 'cancel') {
      if (running && (msg.id === undefined || msg.id === running.id)) running.controller.abort();
    } else if (msg?.type === 'fit' || msg?.type === 'fitFormula') {
      const post = (m: WorkerResponse) => scope.postMessage(msg.id === undefined ? m : { ...m, id: msg.id });
      if (running) {
        post({ type: 'error', message: 'a fit is already running in this worker; cancel it or wait for its result' });
        return;
      }
      const current = (running = { id: msg.id, controller: new AbortController() });
      (msg.type === 'fit' ? runFit(msg, current.controller.signal, post) : runFormulaFit(msg, current.controller.signal, post))
        .catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
        .finally(() => (running = null));
    } else {
      scope.postMessage({ type: 'error', message: `unknown message type '${(msg as { type?: unknown } | null)?.type}' (expected 'fit', 'fitFormula' or 'cancel')` });
    }
  });
}

// What both kinds of request share: the kernels, the seed, progress and warnings as messages.
function setup(req: FitRequest | FormulaFitRequest, signal: AbortSignal, post: (m: WorkerResponse) => void) {
  const b = req.module ? initSync({ module: req.module }) : backend();
  return {
    backend: b.name,
    spec: { ...req.spec, seed: req.spec.seed ?? req.seed },
    options: {
      ...req.options,
      seed: req.options?.seed ?? req.seed,
      signal,
      onProgress: (progress: FitProgress) => post({ type: 'progress', progress }),
      onWarning: (message: string) => post({ type: 'warning', message }),
    },
  };
}

// The model's JSON, information and effects, as every answer carries them.
function answer(model: Model, signal: AbortSignal, backendName: FitResult['backend'], t0: number): Omit<FitResult, 'predictions' | 'notes'> {
  return {
    model: model.toJSON(), info: { ...model.info }, cancelled: signal.aborted,
    ranef: model.ranef().map(({ group, mean, sd }) => ({ group, mean, sd })),
    backend: backendName, elapsedMs: performance.now() - t0,
  };
}

async function runFit(req: FitRequest, signal: AbortSignal, post: (m: WorkerResponse) => void): Promise<void> {
  const t0 = performance.now();
  const s = setup(req, signal, post);
  const model = await fitAsync(req.data, s.spec, s.options);
  try {
    const predictions: Record<string, Float64Array> = {};
    for (const p of req.predict ?? []) {
      predictions[p.name] = model.predict(p.X, { group: p.group, groups: p.groups, type: p.type, Z: p.Z });
    }
    post({ type: 'done', ...answer(model, signal, s.backend, t0), predictions, notes: [] });
  } finally {
    model.dispose();
  }
}

async function runFormulaFit(req: FormulaFitRequest, signal: AbortSignal, post: (m: WorkerResponse) => void): Promise<void> {
  const t0 = performance.now();
  const source = req.source ?? 'data';
  const s = setup(req, signal, post);
  const table = tableOf(req, source);
  const { model, notes } = await fitFormulaAsync(table, req.formula, s.spec, { ...s.options, ...(req.rows ? { rows: req.rows } : {}) }, source);
  try {
    const predictions: Record<string, Float64Array> = {};
    const predicted: Record<string, TableRowsResult> = {};
    for (const p of req.predict ?? []) {
      let r;
      try {
        r = predictTable(model, table, { ...(p.rows ? { rows: p.rows } : {}), type: p.type, response: p.response, source });
      } catch (e) {
        throw new Error(`predict '${p.name}': ${(e as Error).message}`);
      }
      predictions[p.name] = r.prediction;
      predicted[p.name] = {
        rows: r.frame.rows, prediction: r.prediction, group: r.group, seen: Uint8Array.from(r.seen, Number),
        ...(p.response ? { y: r.frame.y } : {}), dropped: r.frame.dropped,
      };
    }
    // The same drawing as `ngmm plot` (a cancelled fit's partial model is drawn as it is).
    const plot = req.plot ? plotModel(model, table, { source, ...(req.plot.rows ? { rows: req.plot.rows } : {}) }) : undefined;
    post({ type: 'done', ...answer(model, signal, s.backend, t0), predictions, predicted, notes, ...(plot !== undefined ? { plot } : {}) });
  } finally {
    model.dispose();
  }
}

// The request's table: given, or parsed from its CSV text with the columns the formula uses
// (group ids as text, as the CLI reads a file).
function tableOf(req: FormulaFitRequest, source: string): Table {
  if (req.table && req.csv !== undefined) throw new Error(`${source}: a fitFormula request carries the data once: csv (the text) or table, not both`);
  if (req.table) return req.table;
  if (req.csv === undefined) throw new Error(`${source}: a fitFormula request needs the data: csv (the text) or table (a parsed table)`);
  const select = frameColumns(parseFormula(req.formula), { source, ...(req.spec.weights ? { weights: req.spec.weights } : {}), ...(req.spec.reCovariates ? { extra: req.spec.reCovariates } : {}) });
  return readCsvTable(req.csv, { source, select });
}
