// The worker protocol without a browser: serveFits on one end and fitInWorker on the other,
// joined by a fake message channel that delivers each message as a macrotask (as postMessage
// does). The real Web Worker is exercised by test/runtimes (Chromium).
import { describe, expect, it } from 'vitest';
import { initSync } from '../../engine/backend';
import { fit } from '../../ngmm/fit';
import { simulate } from '../../ngmm/simulate';
import { fitInWorker } from '../../ngmm/worker/client';
import type { FitRequest, WorkerLike, WorkerRequest, WorkerResponse, WorkerScopeLike } from '../../ngmm/worker/protocol';
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
  options: { epochs: 3, batchSize: 4, lr: 0.005, validation: 0.25 },
  seed: 2,
  predict: [{ name: 'new', X: d.fresh.X, group: d.fresh.group, groups: 'new' }],
};

describe('serveFits and fitInWorker', () => {
  it('reports every epoch and returns the same model, predictions and effects as fit()', async () => {
    const { worker, sent } = channel();
    const epochs: number[] = [];
    const r = await fitInWorker(worker, request, { onProgress: (p) => p.phase === 'adam' && epochs.push(p.epoch) });
    expect(epochs).toEqual([1, 2, 3]);
    expect(sent.filter((m) => m.type === 'progress' && m.progress.phase === 'adam')).toHaveLength(3);
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
    })).rejects.toThrow(/unknown message type 'train'/);
  });

  it('a bad request comes back as an error naming the problem', async () => {
    const { worker } = channel();
    await expect(fitInWorker(worker, { ...request, spec: { family: 'poisson', activation: 'swish' as never } })).rejects.toThrow(/ngmm worker: unknown activation 'swish'/);
  });
});
