// From a data file's rows to what the library takes, and back: which file row each row of a
// model frame came from (the frame drops rows with missing values, as R's na.omit), the name of
// the response for messages, the response's support check with file, row and column, and the
// predictions per row for a fitted model (a training group's posterior, or the prior for a
// group the model has not seen).
import type { CsvTable } from '../csv';
import type { Family } from '../families/family';
import { formatExpr, parseFormula, type Formula } from '../formula';
import { covariateColumns, frameColumns, modelFrame, type Frame } from '../frame';
import type { Model } from '../model';
import { readTable } from './io';

/** The file row (0-based, header not counted) of each frame row. */
export function keptRows(nrows: number, dropped: readonly number[]): Int32Array {
  const gone = new Uint8Array(nrows);
  for (const r of dropped) if (r >= 0 && r < nrows) gone[r] = 1;
  const kept = new Int32Array(nrows - gone.reduce((a, v) => a + v, 0));
  let k = 0;
  for (let r = 0; r < nrows; r++) if (!gone[r]) kept[k++] = r;
  return kept;
}

/**
 * Rewrites "row N" (1-based rows of the frame, as the library's messages give them) to the
 * file's row numbers, which differ once rows with missing values are dropped.
 */
export function fileRows(message: string, kept: Int32Array): string {
  return message.replace(/\brow (\d+)\b/g, (all, n: string) => {
    const i = Number(n) - 1;
    return i >= 0 && i < kept.length ? `row ${kept[i] + 1}` : all;
  });
}

/** The response as a column name (cbind: the successes), or the expression as written. */
export function responseColumn(f: Formula): string {
  const r = f.response;
  return r.kind === 'column' ? r.name : r.kind === 'cbind' ? r.successes : formatExpr(r.expr);
}

/** The first response outside the family's support, as file, row and column. */
export function checkResponse(fam: Family, y: ArrayLike<number>, trials: ArrayLike<number> | undefined, source: string, column: string, kept: Int32Array): void {
  const bad = fam.validate(y, trials);
  if (bad) throw new Error(`${source}: row ${kept[bad.index] + 1}, column '${column}': ${bad.message}`);
}

/** "3 rows with missing values were dropped (rows 4, 9, 17)", first few rows named. */
export function droppedNote(source: string, dropped: readonly number[], what: string): string | null {
  if (dropped.length === 0) return null;
  const shown = dropped.slice(0, 8).map((r) => r + 1).join(', ');
  const more = dropped.length > 8 ? `, … (${dropped.length - 8} more)` : '';
  return `${source}: ${dropped.length} row${dropped.length === 1 ? '' : 's'} with missing values ${dropped.length === 1 ? 'was' : 'were'} ${what} (row${dropped.length === 1 ? '' : 's'} ${shown}${more}), as R's na.omit does`;
}

export interface Rows {
  table: CsvTable;
  frame: Frame;
  /** File row of each frame row. */
  kept: Int32Array;
  /** Whether each row's group was in the training data. */
  observed: boolean[];
  /** Group-level covariates per row, when the model has a random-effect network and new groups. */
  Z: Float64Array | null;
  formula: Formula;
}

/** A data file as the fitted model's formula and coding read it. */
export function rowsFor(model: Model, modelPath: string, path: string, needResponse: boolean): Rows {
  if (!model.design) throw new Error(`${modelPath}: the model was fitted from arrays, not from a formula, so it cannot read '${path}'`);
  const formula = parseFormula(model.design.formula);
  const re0 = model.spec.randomEffect;
  const table = readTable(path, frameColumns(formula, { source: path, design: model.design, needResponse, ...(re0 ? { extra: re0.covariates } : {}) }));
  const frame = modelFrame(formula, table, path, model.design, needResponse);
  const kept = keptRows(table.nrows, frame.dropped ?? []);
  const known = new Set(model.levels);
  const observed = frame.group.map((g) => known.has(g));
  const re = model.spec.randomEffect;
  const Z = re && observed.some((o) => !o) ? covariateColumns(table, re.covariates, path) : null;
  return { table, frame, kept, observed, Z, formula };
}

/** Predictions per row: the group's posterior where the group was in the training data, else the prior (a new group). */
export function predictRows(model: Model, rows: Rows, type: 'response' | 'link'): Float64Array {
  const { frame, observed, Z } = rows;
  const p = frame.xNames.length;
  const out = new Float64Array(observed.length);
  for (const isObs of [true, false]) {
    const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
    if (idx.length === 0) continue;
    const X = new Float64Array(idx.length * p);
    idx.forEach((r, k) => X.set(frame.X.subarray(r * p, r * p + p), k * p));
    const d = model.zMean.length;
    // covariateColumns reads every file row; the frame's rows are the kept ones.
    const Zs = Z ? Float64Array.from({ length: idx.length * d }, (_, k) => Z[rows.kept[idx[Math.floor(k / d)]] * d + (k % d)]) : undefined;
    // The formula's offset() terms of these rows (issue 12's contract: Model.predict adds them to η).
    const offset = frame.offset ? Float64Array.from(idx, (r) => frame.offset![r]) : undefined;
    const opts = { type, groups: isObs ? 'observed' as const : 'new' as const, group: idx.map((r) => frame.group[r]), Z: Zs, ...(offset ? { offset } : {}) };
    const pred = model.predict(X, opts);
    idx.forEach((r, k) => (out[r] = pred[k]));
  }
  return out;
}
