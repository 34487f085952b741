// From a data file's rows to what the library takes, and back: which file row each row of a
// model frame came from (the frame drops rows with missing values, as R's na.omit), the name of
// the response for messages, the response's support check with file, row and column, and the
// predictions per row for a fitted model (a training group's posterior, or the prior for a
// group the model has not seen).
import type { CsvTable } from '../csv';
import type { Family } from '../families/family';
import { parseFormula, type Formula } from '../formula';
import { droppedNote, responseColumn } from '../fitFormula';

export { droppedNote, responseColumn };
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

/** The first response outside the family's support, as file, row and column. */
export function checkResponse(fam: Family, y: ArrayLike<number>, trials: ArrayLike<number> | undefined, source: string, column: string, kept: Int32Array): void {
  const bad = fam.validate(y, trials);
  if (bad) throw new Error(`${source}: row ${kept[bad.index] + 1}, column '${column}': ${bad.message}`);
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
  if (model.random.kind === 'terms') {
    // Each of the model's terms from the file's: matched by grouping factor and columns (the
    // order of terms follows their level counts, which may differ in this file).
    const key = (name: string, columns: readonly string[]) => `${name}|${columns.join(',')}`;
    const byKey = new Map((frame.terms ?? []).map((t) => [key(t.name, t.columns), t]));
    const terms = model.random.terms.map((t) => {
      const ft = byKey.get(key(t.name, t.columns));
      if (!ft) throw new Error(`${rows.formula.text}: the file gives no random-effect term '${t.name}' with the columns ${t.columns.join(', ')}`);
      return { levels: Array.from(ft.group, (g) => ft.levels[g]), Z: ft.Z };
    });
    return model.predict(frame.X, { type, terms, ...(frame.offset ? { offset: frame.offset } : {}) });
  }
  const p = frame.xNames.length;
  const out = new Float64Array(observed.length);
  for (const isObs of [true, false]) {
    const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
    if (idx.length === 0) continue;
    const X = new Float64Array(idx.length * p);
    idx.forEach((r, k) => X.set(frame.X.subarray(r * p, r * p + p), k * p));
    const d = model.random.kind === 'grouped' ? model.random.zMean.length : 0;
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
