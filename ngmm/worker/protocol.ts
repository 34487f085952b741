// The messages between a page and a fitting Web Worker (ngmm/worker/serve.ts on the worker's
// side, ngmm/worker/client.ts on the page's). Everything here survives structured cloning:
// typed arrays, plain objects, and a WebAssembly.Module (which is how a precompiled module
// reaches a worker).
import type { BackendName } from '../../kernels/load';
import type { ModelData } from '../data';
import type { FitOptions, FitProgress } from '../fit';
import type { FormulaSpec } from '../fitFormula';
import type { Table } from '../frame';
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

/** Rows of the request's table to predict once the model is fitted (predictTable), by name. */
export interface TablePredictRequest {
  name: string;
  /** The table rows to predict (0-based, each once); default all. */
  rows?: ArrayLike<number>;
  type?: 'response' | 'link';
  /**
   * Read the response too, to score the predictions: a row with a missing value is then left
   * out (as na.omit) and listed in `dropped`; otherwise a missing value is an error.
   */
  response?: boolean;
}

/**
 * A fit from a formula over a table (fitFormula in the worker): the data as CSV text (parsed in
 * the worker, only the columns the formula uses) or as a table already parsed (readCsvTable's),
 * the rows to fit on, and rows of the same table to predict afterwards.
 */
export interface FormulaFitRequest {
  type: 'fitFormula';
  id?: number | string;
  csv?: string;
  table?: Table;
  /** The data's name in messages (a file name); default 'data'. */
  source?: string;
  formula: string;
  spec: FormulaSpec;
  options?: Omit<FitOptions, 'onProgress' | 'onWarning' | 'signal'>;
  /** The table rows to fit on (0-based, each once: lme4's subset); default all. */
  rows?: ArrayLike<number>;
  /** Shorthand for spec.seed and options.seed, where those are not given. */
  seed?: number;
  predict?: TablePredictRequest[];
  /**
   * Draw what the model learned (plotModel: partial dependence with the ensemble's band and the
   * GLMM's line, the random effects, observed against predicted for these table rows; default
   * all rows): the answer's `plot` is the SVG text, as `ngmm plot` writes it.
   */
  plot?: { rows?: number[] };
  module?: WebAssembly.Module;
}

export interface CancelRequest {
  type: 'cancel';
  /** The fit to cancel; without it, whichever fit is running. */
  id?: number | string;
}

export type WorkerRequest = FitRequest | FormulaFitRequest | CancelRequest;

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
  /** What the fit did that was not asked for (rows and columns dropped); none for a fit from arrays. */
  notes: string[];
}

/** The predictions of one TablePredictRequest (its values are also in `predictions`). */
export interface TableRowsResult {
  /** The table row (0-based) of each prediction. */
  rows: Int32Array;
  prediction: Float64Array;
  /** Each row's group: its label, or with several terms the level of the model's first term. */
  group: string[];
  /** 1 where that group was in the training data (posterior), 0 where it was not (prior). */
  seen: Uint8Array;
  /** The response of each row, when asked for. */
  y?: Float64Array;
  /** Rows left out for a missing value (with `response`). */
  dropped: number[];
}

export interface FormulaFitResult extends FitResult {
  predicted: Record<string, TableRowsResult>;
  /** The SVG of `plot`, when asked for. */
  plot?: string;
}

export type WorkerResponse = { id?: number | string } & (
  | { type: 'progress'; progress: FitProgress }
  | { type: 'warning'; message: string }
  | ({ type: 'done' } & FitResult & { predicted?: FormulaFitResult['predicted']; plot?: string })
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
