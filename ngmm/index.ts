// ngmm's public entry point: the engine, the response families, and the per-group marginal
// likelihood (ODE for a scalar random effect, adaptive Gauss–Hermite for random slopes).
export * from '../engine/index';
export { family, type Family, type FamilyName, type LinkName } from './families/index';
export { groupResponse, releaseResponse, type GroupedResponse } from './marginal/groups';
export { logMarginal, type OdeOptions, type GradientMethod, type MarginalResult, type SolverStats } from './marginal/ode';
export { logMarginalQuadrature, type QuadratureOptions } from './marginal/quadrature';
export { gaussHermite, adaptiveNodes, productRule } from './marginal/gaussHermite';
export { fit, fitAsync, type FitOptions, type FitProgress } from './fit';
export { Model, type ModelSpec, type ModelJSON, type FitInfo } from './model';
export { summary, formatSummary, type Summary, type Coefficient } from './summary';
export { type ModelData, type DataTerm } from './data';
export { parseFormula, formatFormula, FormulaError, type Formula } from './formula';
export { fitFormula, fitFormulaAsync, type FormulaSpec, type FormulaOptions, type FormulaFit } from './fitFormula';
export { plotModel, partialDependence, caterpillar, numericCovariates, type PlotOptions, type DependenceCurve, type CaterpillarPanel } from './plot/plotModel';
export { predictTable, type TablePredictOptions, type TablePrediction } from './predictFormula';
export { readCsvTable, CsvParser, CsvError, type CsvTable, type ColumnSelection, type ReadCsvOptions } from './csv';
export { modelFrame, frameColumns, locateInTable, type Frame, type Design, type FrameOptions, type FrameColumnsOptions, type Table } from './frame';
export { NgmmError, DataError, type DataLocation } from './errors';
export { rmse, logLoss, poissonDeviance } from './metrics';
export { simulate, trueEffect, type Simulated, type SimulatedSplit, type SimulatedFamily, type SimulateOptions } from './simulate';
export { serveFits } from './worker/serve';
export { fitInWorker, fitFormulaInWorker, type FitInWorkerOptions } from './worker/client';
export type { FitRequest, FormulaFitRequest, TablePredictRequest, TableRowsResult, FormulaFitResult, CancelRequest, WorkerRequest, WorkerResponse, FitResult, PredictRequest, RanefRow, WorkerLike, WorkerScopeLike } from './worker/protocol';
export { startThreads, stopThreads, setThreadScript, availableThreads } from './threads/pool';
