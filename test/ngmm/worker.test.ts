// The worker protocol without a browser: serveFits on one end and fitInWorker on the other,
// joined by a fake message channel that delivers each message as a macrotask (as postMessage
// does). The real Web Worker is exercised by test/runtimes (Chromium).
import { describe, expect, it } from 'vitest';
import { initSync } from '../../engine/backend';
import { readCsvTable } from '../../ngmm/csv';
import { fit } from '../../ngmm/fit';
import { fitFormula } from '../../ngmm/fitFormula';
import { predictTable } from '../../ngmm/predictFormula';
import { simulate } from '../../ngmm/simulate';
import { fitFormulaInWorker, fitInWorker } from '../../ngmm/worker/client';
import type { FitRequest, FormulaFitRequest, WorkerLike, WorkerRequest, WorkerResponse, WorkerScopeLike } from '../../ngmm/worker/protocol';
import { serveFits } from '../../ngmm/worker/serve';

initSync();

function channel(): { worker: WorkerLike; sent: WorkerResponse[] } {
  const toWorker: ((e: { data: WorkerRequest }) => void)[] = [];
  let toPage: ((e: { data: WorkerResponse }) => void)[] = [];
  const sent: WorkerResponse[] = [];
  const scope: WorkerScopeLike = {
    postMessage: (m) => {
      sent.push(m);
      setTimeout(() => toPage.forEach((l) => l({ data: m })), 0);
    },
    addEventListener: (_type, l) => toWorker.push(l),
  };
  serveFits(scope);
  const worker = {
    postMessage: (m: WorkerRequest) => setTimeout(() => toWorker.forEach((l) => l({ data: m })), 0),
    addEventListener: (type: string, l: (e: { data: WorkerResponse }) => void) => {
      if (type === 'message') toPage.push(l);
    },
    removeEventListener: (type: string, l: (e: { data: WorkerResponse }) => void) => {
      if (type === 'message') toPage = toPage.filter((x) => x !== l);
    },
  } as WorkerLike;
  return { worker, sent };
}

const d = simulate('poisson', 5, { groups: 20, perGroup: 8 });
const request: Omit<FitRequest, 'type'> = {
  data: { X: d.train.X, xNames: d.xNames, y: d.train.y, group: d.train.group },
  spec: { family: 'poisson', hidden: [4], activation: 'tanh' },
  options: { epochs: 3, batchSize: 4, lr: 0.005, validation: 0.25, ensemble: 2 },
  seed: 2,
  predict: [{ name: 'new', X: d.fresh.X, group: d.fresh.group, groups: 'new' }],
};

describe('serveFits and fitInWorker', () => {
  it('reports every epoch and returns the same model, predictions and effects as fit()', async () => {
    const { worker, sent } = channel();
    const epochs: number[] = [];
    const r = await fitInWorker(worker, request, { onProgress: (p) => p.phase === 'adam' && epochs.push(p.member! * 10 + p.epoch) });
    // Each of the two ensemble members reports its epochs (member·10 + epoch).
    expect(epochs).toEqual([11, 12, 13, 21, 22, 23]);
    expect(sent.filter((m) => m.type === 'progress' && m.progress.phase === 'adam')).toHaveLength(6);
    expect(r.cancelled).toBe(false);
    const direct = fit(request.data, { ...request.spec, seed: 2 }, { ...request.options, seed: 2 });
    expect(r.model).toEqual(JSON.parse(JSON.stringify(direct)));
    expect(Array.from(r.predictions.new)).toEqual(Array.from(direct.predict(d.fresh.X, { group: d.fresh.group, groups: 'new' })));
    expect(r.ranef).toEqual(direct.ranef().map(({ group, mean, sd }) => ({ group, mean, sd })));
    direct.dispose();
  });

  it('a cancel during the fit stops it early and answers with the partial model', async () => {
    const { worker } = channel();
    const ctl = new AbortController();
    const r = await fitInWorker(worker, { ...request, options: { ...request.options, epochs: 200 } }, {
      signal: ctl.signal,
      onProgress: () => ctl.abort(),
    });
    // The cancel travels while the worker goes on: it lands after one or two more epochs.
    expect(r.cancelled).toBe(true);
    expect(r.info.message).toMatch(/^aborted at epoch \d+;/);
    expect(r.info.epochs).toBeLessThanOrEqual(3);
  });

  it('refuses a second fit while one runs, and an unknown message, with a message', async () => {
    const { worker } = channel();
    const first = fitInWorker(worker, request);
    await expect(fitInWorker(worker, request)).rejects.toThrow(/a fit is already running in this worker/);
    await first;
    await expect(new Promise((resolve, reject) => {
      worker.addEventListener('message', (e) => (e.data.type === 'error' ? reject(new Error(e.data.message)) : resolve(e.data)));
      worker.postMessage({ type: 'train' } as unknown as WorkerRequest);
    })).rejects.toThrow(/unknown message type 'train' \(expected 'fit', 'fitFormula' or 'cancel'\)/);
  });

  it('a bad request comes back as an error naming the problem', async () => {
    const { worker } = channel();
    await expect(fitInWorker(worker, { ...request, spec: { family: 'poisson', activation: 'swish' as never } })).rejects.toThrow(/ngmm worker: unknown activation 'swish'/);
  });
});

// The same simulated data as a CSV: the training rows, then the held-out rows of training
// groups, then the new groups' rows; one missing x among the training rows and one among the
// held-out rows.
const lines = ['school,x1,x2,y'];
for (const part of [d.train, d.observed, d.fresh]) {
  for (let i = 0; i < part.y.length; i++) lines.push(`${part.group[i]},${part.X[i * 5]},${part.X[i * 5 + 1]},${part.y[i]}`);
}
const nTrain = d.train.y.length, nRows = lines.length - 1;
lines[1 + 3] = lines[1 + 3].replace(/^([^,]*),[^,]*/, '$1,NA');
lines[1 + nTrain + 2] = lines[1 + nTrain + 2].replace(/^([^,]*),[^,]*/, '$1,NA');
const text = lines.join('\n');
const trainRows = Array.from({ length: nTrain }, (_, i) => i);
const heldRows = Array.from({ length: nRows - nTrain }, (_, i) => nTrain + i);
const formulaRequest: Omit<FormulaFitRequest, 'type'> = {
  csv: text, source: 'schools.csv', formula: 'y ~ x1 + x2 + (1 | school)',
  spec: { family: 'poisson', hidden: [4], activation: 'tanh' },
  options: { epochs: 3, batchSize: 4, lr: 0.005, ensemble: 2 },
  seed: 2, rows: trainRows,
  predict: [{ name: 'held', rows: heldRows, response: true }],
};

describe('fitFormulaInWorker: a formula over a CSV fitted in the worker', () => {
  it('fits the training rows and predicts the held-out rows as fitFormula and predictTable do', async () => {
    const { worker } = channel();
    const epochs: number[] = [];
    const r = await fitFormulaInWorker(worker, formulaRequest, { onProgress: (p) => p.phase === 'adam' && epochs.push(p.epoch) });
    expect(epochs).toEqual([1, 2, 3, 1, 2, 3]);
    expect(r.notes).toEqual(["schools.csv: 1 row with missing values was dropped (row 4), as R's na.omit does"]);
    const table = readCsvTable(text, { source: 'schools.csv' });
    const direct = fitFormula(table, formulaRequest.formula, { ...formulaRequest.spec, seed: 2 }, { ...formulaRequest.options, seed: 2, rows: trainRows }, 'schools.csv');
    try {
      expect(r.model).toEqual(JSON.parse(JSON.stringify(direct.model)));
      const p = predictTable(direct.model, table, { rows: heldRows, response: true, source: 'schools.csv' });
      const held = r.predicted.held;
      expect(Array.from(held.prediction)).toEqual(Array.from(p.prediction));
      expect(r.predictions.held).toBe(held.prediction);
      // The held-out row with a missing x is left out and named; the others keep their table rows.
      expect(held.dropped).toEqual([nTrain + 2]);
      expect(Array.from(held.rows)).toEqual(heldRows.filter((i) => i !== nTrain + 2));
      // Rows of training groups are seen, rows of the simulation's new groups are not.
      const fresh = new Set(d.fresh.group);
      expect(Array.from(held.seen)).toEqual(Array.from(held.rows, (i) => (fresh.has(lines[1 + i].split(',')[0]) ? 0 : 1)));
      expect(held.group).toEqual(Array.from(held.rows, (i) => lines[1 + i].split(',')[0]));
      expect(Array.from(held.y!)).toEqual(Array.from(held.rows, (i) => Number(lines[1 + i].split(',')[3])));
    } finally {
      direct.model.dispose();
    }
  });

  it('takes a parsed table instead of the text, with the same result', async () => {
    const { csv: _csv, ...rest } = formulaRequest;
    const a = await fitFormulaInWorker(channel().worker, formulaRequest);
    const b = await fitFormulaInWorker(channel().worker, { ...rest, table: readCsvTable(text, { source: 'schools.csv' }) });
    expect(b.model).toEqual(a.model);
    expect(Array.from(b.predicted.held.prediction)).toEqual(Array.from(a.predicted.held.prediction));
  });

  it('a cancel stops a formula fit too', async () => {
    const ctl = new AbortController();
    const r = await fitFormulaInWorker(channel().worker, { ...formulaRequest, options: { ...formulaRequest.options, epochs: 200 } }, { signal: ctl.signal, onProgress: (p) => p.phase === 'adam' && ctl.abort() });
    expect(r.cancelled).toBe(true);
    expect(r.info.epochs).toBeLessThanOrEqual(3);
  });

  it('bad requests come back as errors naming the column, the data or the prediction', async () => {
    const { worker } = channel();
    await expect(fitFormulaInWorker(worker, { ...formulaRequest, formula: 'y ~ x1 + nope + (1 | school)' })).rejects.toThrow(/^ngmm worker: formula: no column 'nope' in schools\.csv/);
    const { csv: _csv, ...rest } = formulaRequest;
    await expect(fitFormulaInWorker(worker, rest)).rejects.toThrow('ngmm worker: schools.csv: a fitFormula request needs the data: csv (the text) or table (a parsed table)');
    await expect(fitFormulaInWorker(worker, { ...formulaRequest, table: readCsvTable(text) })).rejects.toThrow('ngmm worker: schools.csv: a fitFormula request carries the data once: csv (the text) or table, not both');
    await expect(fitFormulaInWorker(worker, { ...formulaRequest, rows: [0, 1, nRows] })).rejects.toThrow(`ngmm worker: schools.csv: rows[2] is ${nRows}, not a 0-based row of the table`);
    // Predicting without the response reads x; the held-out row with a missing x is an error.
    await expect(fitFormulaInWorker(worker, { ...formulaRequest, predict: [{ name: 'held', rows: heldRows }] }))
      .rejects.toThrow(`ngmm worker: predict 'held': schools.csv: row ${nTrain + 3} (line ${nTrain + 4}), column 'x1': the value is missing`);
  });
});
