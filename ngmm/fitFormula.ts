// fitFormula(table, formula, spec, options): the formula-level entry point, as lme4's
// lmer/glmer: the model frame (na.omit, R's coding, the rank rule, the random-effect terms),
// the response checked against the family with its row and column, the structure chosen from
// the formula (one grouping factor, or several terms), the fit, and the notes a user must see
// (dropped rows and columns). The CLI and the web page both go through it. `rows` fits on some
// of the table's rows (lme4's subset) without copying it. Rows in messages are the table's
// (1-based), whatever rows na.omit dropped or `rows` left out.
import { family as familyOf } from './families/index';
import { fit, fitAsync, type FitOptions } from './fit';
import { formatExpr, parseFormula, type Formula } from './formula';
import { covariateColumns, modelFrame, type Frame, type Table } from './frame';
import type { ModelData } from './data';
import type { Model, ModelSpec } from './model';

export interface FormulaSpec extends Omit<ModelSpec, 'intercept' | 'randomSlopes' | 'terms' | 'randomEffect'> {
  /** A column of prior weights (lme4's `weights`; for a binomial proportion, the trials). */
  weights?: string;
  /** Group-level covariates of a random-effect network g(z) (one grouping factor only). */
  reCovariates?: string[];
  /** Hidden layers of g (with reCovariates). */
  reHidden?: number[];
}

export interface FormulaFit {
  model: Model;
  frame: Frame;
  /** What the user did not ask for but must know: dropped rows and columns. */
  notes: string[];
}

/** "3 rows with missing values were dropped (rows 4, 9, 17)", first few rows named. */
export function droppedNote(source: string, dropped: readonly number[], what: string): string | null {
  if (dropped.length === 0) return null;
  const shown = dropped.slice(0, 8).map((r) => r + 1).join(', ');
  const more = dropped.length > 8 ? `, … (${dropped.length - 8} more)` : '';
  return `${source}: ${dropped.length} row${dropped.length === 1 ? '' : 's'} with missing values ${dropped.length === 1 ? 'was' : 'were'} ${what} (row${dropped.length === 1 ? '' : 's'} ${shown}${more}), as R's na.omit does`;
}

/** Rewrites "row N" of the frame (1-based) to the table's row, given the frame's table rows. */
export function tableRows(message: string, rows: ArrayLike<number>): string {
  return message.replace(/\brow (\d+)\b/g, (all, n: string) => {
    const i = Number(n) - 1;
    return i >= 0 && i < rows.length ? `row ${rows[i] + 1}` : all;
  });
}

/** The response as a column name (cbind: the successes), or the expression as written. */
export function responseColumn(f: Formula): string {
  const r = f.response;
  return r.kind === 'column' ? r.name : r.kind === 'cbind' ? r.successes : formatExpr(r.expr);
}

/** fit's options and the rows of the table to fit on. */
export interface FormulaOptions extends FitOptions {
  /**
   * The table rows to fit on (0-based, each once; lme4's `subset`), default all. Rows with a
   * missing value among them are still dropped and said; messages keep naming the table's rows.
   */
  rows?: ArrayLike<number>;
}

/** Fits a model given as a formula over a table (see the file's head). */
export function fitFormula(table: Table, formula: string | Formula, spec: FormulaSpec, o: FormulaOptions = {}, source = 'data'): FormulaFit {
  const { rows, ...options } = o;
  const p = prepare(table, formula, spec, rows, source);
  let model: Model;
  try {
    model = fit(p.data, p.modelSpec, options);
  } catch (e) {
    throw located(e, p.frame, source);
  }
  return finish(model, p.frame, source);
}

/**
 * The same fit through fitAsync: it returns to the event loop between epochs, so a Web Worker
 * can take a cancel message while it runs (ngmm/worker/serve.ts). The numbers are fitFormula's.
 */
export async function fitFormulaAsync(table: Table, formula: string | Formula, spec: FormulaSpec, o: FormulaOptions = {}, source = 'data'): Promise<FormulaFit> {
  const { rows, ...options } = o;
  const p = prepare(table, formula, spec, rows, source);
  let model: Model;
  try {
    model = await fitAsync(p.data, p.modelSpec, options);
  } catch (e) {
    throw located(e, p.frame, source);
  }
  return finish(model, p.frame, source);
}

// fit's messages count the rows it was given (the frame's): the table's rows are named instead.
function located(e: unknown, frame: Frame, source: string): Error {
  return new Error(`${source}: ${tableRows((e as Error).message.split('\n')[0], frame.rows)}`);
}

// The frame, the response checked, and the data and spec fit takes.
function prepare(table: Table, formula: string | Formula, spec: FormulaSpec, rows: ArrayLike<number> | undefined, source: string): { frame: Frame; f: Formula; data: ModelData; modelSpec: ModelSpec } {
  const f = typeof formula === 'string' ? parseFormula(formula) : formula;
  const fam = familyOf(spec.family, spec.link);
  const frame = modelFrame(f, table, source, undefined, true, { ...(spec.weights ? { weights: spec.weights } : {}), ...(rows ? { rows } : {}) });
  if (frame.terms && spec.reCovariates) throw new Error(`${source}: a random-effect network (reCovariates) needs one grouping factor; the formula '${f.text}' has the terms ${frame.terms.map((t) => t.name).join(', ')}`);
  // A 0/1 response under the binomial family is one trial per row, as in glm and glmer.
  const trials = frame.trials ?? (fam.name === 'binomial' && !frame.weights ? new Float64Array(frame.y.length).fill(1) : undefined);
  // A binomial proportion with weights has its trials in the weights: the library checks
  // k = y·w; every other response is checked here, where the table's row and column are known.
  if (!(fam.name === 'binomial' && !trials)) {
    const bad = fam.validate(frame.y, trials);
    if (bad) throw new Error(`${source}: row ${frame.rows[bad.index] + 1}, column '${responseColumn(f)}': ${bad.message}`);
  }
  let Z: Float64Array | undefined;
  // Read at the frame's rows only: a row outside `rows`, or dropped by na.omit, is not fitted.
  if (spec.reCovariates) Z = covariateColumns(table, spec.reCovariates, source, frame.rows);
  const data: ModelData = {
    X: frame.X, xNames: frame.xNames, y: frame.y, group: frame.group,
    ...(trials ? { trials } : {}),
    ...(frame.weights ? { weights: frame.weights } : {}),
    ...(frame.offset ? { offset: frame.offset } : {}),
    ...(Z ? { Z, zNames: spec.reCovariates } : {}),
    ...(frame.terms ? { terms: frame.terms.map((t) => ({ name: t.name, columns: t.columns, levels: t.levels, group: t.group, Z: t.Z })) } : {}),
  };
  const { weights: _w, reCovariates, reHidden, ...rest } = spec;
  const modelSpec: ModelSpec = {
    ...rest,
    intercept: f.intercept,
    ...(frame.slopes.length ? { randomSlopes: frame.slopes } : {}),
    ...(frame.terms ? { terms: frame.terms.map((t) => ({ name: t.name, columns: [...t.columns] })) } : {}),
    ...(reCovariates ? { randomEffect: { covariates: reCovariates, hidden: reHidden ?? [] } } : {}),
  };
  return { frame, f, data, modelSpec };
}

// The design travels with the model (prediction codes new data by it), and so do the notes.
function finish(model: Model, frame: Frame, source: string): FormulaFit {
  model.design = frame.design;
  const notes = [
    droppedNote(source, frame.dropped ?? [], 'dropped'),
    ...(frame.droppedColumns ?? []).map((c) => `${source}: the column '${c.name}' was dropped from the fixed effects (${c.reason})`),
  ].filter((n): n is string => !!n);
  // The notes travel with the model: its summary shows them too.
  if (model.stored && notes.length) model.stored.notes = [...notes, ...(model.stored.notes ?? [])];
  return { model, frame, notes };
}
