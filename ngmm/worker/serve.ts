// The worker's side of fitting off the main thread: `serveFits(self)` answers fit requests
// with progress messages (one per epoch), honours a cancel sent while the fit runs (fitAsync
// returns to the event loop between epochs, so the cancel message is dispatched and aborts the
// fit's signal), and posts the model's JSON, the requested predictions and the group effects.
// One fit at a time per worker: a second request while one runs is answered with an error.
import { backend, initSync } from '../../engine/backend';
import { fitAsync } from '../fit';
import type { FitRequest, WorkerResponse, WorkerScopeLike } from './protocol';

/** Answers fit and cancel messages on `scope`: by default the worker's own global scope. */
export function serveFits(scope: WorkerScopeLike = globalThis as unknown as WorkerScopeLike): void {
  let running: { id: FitRequest['id']; controller: AbortController } | null = null;
  scope.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg?.type === 'cancel') {
      if (running && (msg.id === undefined || msg.id === running.id)) running.controller.abort();
    } else if (msg?.type === 'fit') {
      const post = (m: WorkerResponse) => scope.postMessage(msg.id === undefined ? m : { ...m, id: msg.id });
      if (running) {
        post({ type: 'error', message: 'a fit is already running in this worker; cancel it or wait for its result' });
        return;
      }
      const current = (running = { id: msg.id, controller: new AbortController() });
      runFit(msg, current.controller.signal, post)
        .catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
        .finally(() => (running = null));
    } else {
      scope.postMessage({ type: 'error', message: `unknown message type '${(msg as { type?: unknown } | null)?.type}' (expected 'fit' or 'cancel')` });
    }
  });
}

async function runFit(req: FitRequest, signal: AbortSignal, post: (m: WorkerResponse) => void): Promise<void> {
  const t0 = performance.now();
  const b = req.module ? initSync({ module: req.module }) : backend();
  const spec = { ...req.spec, seed: req.spec.seed ?? req.seed };
  const options = { ...req.options, seed: req.options?.seed ?? req.seed };
  const model = await fitAsync(req.data, spec, {
    ...options,
    signal,
    onProgress: (progress) => post({ type: 'progress', progress }),
    onWarning: (message) => post({ type: 'warning', message }),
  });
  try {
    const predictions: Record<string, Float64Array> = {};
    for (const p of req.predict ?? []) {
      predictions[p.name] = model.predict(p.X, { group: p.group, groups: p.groups, type: p.type, Z: p.Z });
    }
    const ranef = model.ranef().map(({ group, mean, sd }) => ({ group, mean, sd }));
    post({
      type: 'done', model: model.toJSON(), info: { ...model.info }, cancelled: signal.aborted,
      predictions, ranef, backend: b.name, elapsedMs: performance.now() - t0,
    });
  } finally {
    model.dispose();
  }
}
