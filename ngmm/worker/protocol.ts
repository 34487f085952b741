// The messages between a page and a fitting Web Worker (ngmm/worker/serve.ts on the worker's
// side, ngmm/worker/client.ts on the page's). Everything here survives structured cloning:
// typed arrays, plain objects, and a WebAssembly.Module (which is how a precompiled module
// reaches a worker).
import type { BackendName } from '../../kernels/load';
import type { ModelData } from '../data';
import type { FitOptions, FitProgress } from '../fit';
import type { FitInfo, ModelJSON, ModelSpec } from '../model';

/** Rows to predict once the model is fitted; the answer comes back under the same name. */
export interface PredictRequest {
  name: string;
  X: ArrayLike<number>;
  group?: ArrayLike<string | number>;
  /** 'observed' (default): each row's group posterior; 'new': the prior. */
  groups?: 'observed' | 'new';
  type?: 'response' | 'link';
  Z?: ArrayLike<number>;
}

export interface FitRequest {
  type: 'fit';
  /** Echoed in every answer to this request, so that several callers can share one worker. */
  id?: number | string;
  data: ModelData;
  spec: ModelSpec;
  /** fit's options, less the callbacks (progress and warnings come back as messages). */
  options?: Omit<FitOptions, 'onProgress' | 'onWarning' | 'signal'>;
  /** Shorthand for spec.seed and options.seed, where those are not given. */
  seed?: number;
  predict?: PredictRequest[];
  /** A precompiled kernel module (from `wasmBytes('wasm-simd')`), for hosts that forbid compiling. */
  module?: WebAssembly.Module;
}

export interface CancelRequest {
  type: 'cancel';
  /** The fit to cancel; without it, whichever fit is running. */
  id?: number | string;
}

export type WorkerRequest = FitRequest | CancelRequest;

export interface RanefRow {
  group: string;
  mean: number;
  sd: number;
}

export interface FitResult {
  model: ModelJSON;
  info: FitInfo;
  /** True when a cancel stopped the fit early (the model is then the partial one). */
  cancelled: boolean;
  predictions: Record<string, Float64Array>;
  ranef: RanefRow[];
  backend: BackendName;
  elapsedMs: number;
}

export type WorkerResponse = { id?: number | string } & (
  | { type: 'progress'; progress: FitProgress }
  | { type: 'warning'; message: string }
  | ({ type: 'done' } & FitResult)
  | { type: 'error'; message: string }
);

/** What serveFits needs of a worker's global scope (`self` in a dedicated worker). */
export interface WorkerScopeLike {
  postMessage(message: WorkerResponse): void;
  addEventListener(type: 'message', listener: (event: { data: WorkerRequest }) => void): void;
}

/** What fitInWorker needs of a Worker object. */
export interface WorkerLike {
  postMessage(message: WorkerRequest): void;
  addEventListener(type: 'message', listener: (event: { data: WorkerResponse }) => void): void;
  removeEventListener(type: 'message', listener: (event: { data: WorkerResponse }) => void): void;
  addEventListener(type: 'error', listener: (event: { message?: string }) => void): void;
  removeEventListener(type: 'error', listener: (event: { message?: string }) => void): void;
}
