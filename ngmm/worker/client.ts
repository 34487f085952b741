// The page's side: `fitInWorker(worker, request)` sends one fit of model data in arrays, and
// `fitFormulaInWorker(worker, request)` one fit of a formula over a table (CSV text or a parsed
// table), to a worker running serveFits (dist/worker.js is such a worker); each resolves with
// its result. Progress and warnings arrive through callbacks; aborting `signal` asks the worker
// to stop after the current batch, and the promise then resolves with the partial model
// (`cancelled: true`).
import type { FitProgress } from '../fit';
import type { FitRequest, FitResult, FormulaFitRequest, FormulaFitResult, WorkerLike, WorkerResponse } from './protocol';

export interface FitInWorkerOptions {
  onProgress?: (p: FitProgress) => void;
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

// Each call's messages carry its own id: several calls may share a worker (the worker answers
// a second fit while one runs with an error addressed to that call only).
let nextId = 0;

export function fitInWorker(worker: WorkerLike, request: Omit<FitRequest, 'type' | 'id'>, o: FitInWorkerOptions = {}): Promise<FitResult> {
  return send(worker, { ...request, type: 'fit' }, o);
}

export function fitFormulaInWorker(worker: WorkerLike, request: Omit<FormulaFitRequest, 'type' | 'id'>, o: FitInWorkerOptions = {}): Promise<FormulaFitResult> {
  return send(worker, { ...request, type: 'fitFormula' }, o) as Promise<FormulaFitResult>;
}

function send(worker: WorkerLike, request: Omit<FitRequest, 'id'> | Omit<FormulaFitRequest, 'id'>, o: FitInWorkerOptions): Promise<FitResult> {
  const id = `ngmm-fit-${++nextId}`;
  return new Promise((resolve, reject) => {
    const cancel = () => worker.postMessage({ type: 'cancel', id });
    const done = () => {
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
      o.signal?.removeEventListener('abort', cancel);
    };
    const onMessage = (event: { data: WorkerResponse }) => {
      const m = event.data;
      if (m.id !== id) return;
      if (m.type === 'progress') o.onProgress?.(m.progress);
      else if (m.type === 'warning') o.onWarning?.(m.message);
      else if (m.type === 'error') {
        done();
        reject(new Error(`ngmm worker: ${m.message}`));
      } else if (m.type === 'done') {
        done();
        const { type: _type, id: _id, ...result } = m;
        resolve(result);
      }
    };
    // A worker script that fails to load or throws outside a fit reports here, not by message.
    const onError = (event: { message?: string }) => {
      done();
      reject(new Error(`ngmm worker failed: ${event.message ?? 'the worker script did not load'}`));
    };
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    o.signal?.addEventListener('abort', cancel, { once: true });
    worker.postMessage({ ...request, id });
    if (o.signal?.aborted) cancel();
  });
}
