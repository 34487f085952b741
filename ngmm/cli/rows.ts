// From a data file to a fitted model's predictions, for `ngmm predict` and `ngmm eval`: the file
// is read with only the columns the model's formula uses (group ids as text), then predicted by
// the library's predictTable (a training group's posterior, the prior for a group the model has
// not seen). Also the response's support check with file, row and column.
import type { Family } from '../families/family';
import { parseFormula } from '../formula';
import { droppedNote, responseColumn } from '../fitFormula';
import { frameColumns } from '../frame';
import type { Model } from '../model';
import { predictTable, type TablePrediction } from '../predictFormula';
import { readTable } from './io';

export { droppedNote, responseColumn };

/** The first response outside the family's support, as file, row and column; `rows`: the file row of each value. */
export function checkResponse(fam: Family, y: ArrayLike<number>, trials: ArrayLike<number> | undefined, source: string, column: string, rows: ArrayLike<number>): void {
  const bad = fam.validate(y, trials);
  if (bad) throw new Error(`${source}: row ${rows[bad.index] + 1}, column '${column}': ${bad.message}`);
}

/** A data file read as the fitted model's formula and coding read it, and predicted row by row. */
export function predictFile(model: Model, modelPath: string, path: string, needResponse: boolean, type: 'response' | 'link'): TablePrediction {
  if (!model.design) throw new Error(`${modelPath}: the model was fitted from arrays, not from a formula, so it cannot read '${path}'`);
  const formula = parseFormula(model.design.formula);
  const re = model.spec.randomEffect;
  const table = readTable(path, frameColumns(formula, { source: path, design: model.design, needResponse, ...(re ? { extra: re.covariates } : {}) }));
  return predictTable(model, table, { type, response: needResponse, source: path });
}
