// The model frame: a formula applied to a table gives the fixed-effect design X (with column
// names), the response (and binomial trials), prior weights, the offset and the grouping
// factor, as R's model.frame() and model.matrix() give them to lme4 (docs/frame.md):
//  - rows with a missing value in any column the formula uses (or the weights) are dropped, as
//    na.omit does, and listed; at prediction a missing value is an error instead;
//  - text columns (and factor(x)) are categorical, with levels sorted in the C locale's order
//    (R's read.csv(stringsAsFactors = TRUE) under LC_COLLATE=C; factor() of a numeric column
//    sorts by value), the first being the reference; each factor is coded by contrasts or in
//    full by R's rule, so with `0 +` the first factor keeps every level;
//  - columns that are constant or aliased with earlier columns are dropped as lme4 drops them
//    (ngmm/rank.ts) and named with the reason.
// The levels, the kept columns, the weights column and a text response's levels are kept in
// the Design, so new data is coded the same way at prediction. Every value problem is a
// DataError naming the source, row (line) and column; every formula problem a FormulaError.
import type { Column, ColumnSelection, CsvTable } from './csv';
import { DataError, didYouMean, quoteName, type DataLocation } from './errors';
import { FormulaError, columnPosition, factorKey, formatExpr, formulaColumns, groupColumns, variableOrder, type Expr, type Factor, type Formula } from './formula';
import { pivotedRank, triangularFactor } from './rank';
import { randomTerms, type ReTerm } from './reTerms';

export interface Design {
  /** The formula as written (its offset() terms are rebuilt from it on new data). */
  formula: string;
  /**
   * Levels of each categorical variable, reference first, keyed by the column's name (a text
   * column) or `factor(name)`. A null-prototype record when built here, so any column name
   * (`constructor`, `__proto__`) is a plain key; read it with Object.hasOwn.
   */
  levels: Record<string, string[]>;
  /** Names of the columns of X: the kept ones (constant and aliased columns are not among them). */
  xNames: string[];
  /** The column of prior weights the model was fitted with. */
  weights?: string;
  /** A text response's two levels: the first is failure (0), the second success (1). */
  responseLevels?: [string, string];
}

export interface Frame {
  X: Float64Array;
  xNames: string[];
  y: Float64Array;
  trials?: Float64Array;
  group: string[];
  groupName: string;
  design: Design;
  /** Columns of X with random slopes, from `(1 + x | g)` (one grouping factor). */
  slopes: string[];
  /**
   * Several random-effect terms (crossed, nested, `||`, or a term that is not `(1 [+ x…] | g)`):
   * each term's factor and design over the frame's rows, in lme4's order (ngmm/reTerms.ts).
   * `group` then holds the first term's level per row; `slopes` is empty.
   */
  terms?: ReTerm[];
  /** Prior weights per kept row (from a weights column), when given. */
  weights?: Float64Array;
  /** The sum of the formula's `offset(…)` terms per kept row, when there are any. */
  offset?: Float64Array;
  /** 0-based table rows dropped because a value the formula uses is missing (na.omit). */
  dropped: number[];
  /** Fixed-effect columns dropped as aliased (rank deficiency) or constant, with the reason. */
  droppedColumns: { name: string; reason: string }[];
  /** The 0-based table row of each row of the frame (the table's rows less `dropped`). */
  rows: Int32Array;
}

export interface FrameOptions {
  /** A column of prior weights (lme4's `weights`; for a binomial proportion, the trials). */
  weights?: string;
  /**
   * The table rows to use (0-based, each at most once; lme4's `subset`), in this order; default
   * every row. The table is read in place, not copied; levels and the rank rule see these rows
   * only (lme4's model frame drops unused levels), and a missing value among them is handled as
   * in any other row.
   */
  rows?: ArrayLike<number>;
}

/** A table as modelFrame reads it; `lines` (when known) puts file lines in messages. */
export type Table = Pick<CsvTable, 'columns' | 'nrows'> & { lines?: Int32Array };

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The name of the intercept column in messages, as R prints it. */
const INTERCEPT = '(Intercept)';

/**
 * Sorts as R does in the C locale (strcmp on UTF-8 bytes, i.e. by code point). JavaScript's
 * `<` compares UTF-16 units, which differs where a character beyond U+FFFF (two surrogate
 * units, 0xD800–0xDFFF) meets one in U+E000–U+FFFF.
 */
export function compareC(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    const sx = x >= 0xd800 && x <= 0xdfff, sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Levels for a message: the first ten, and how many there are. */
function listed(levels: readonly string[]): string {
  return levels.slice(0, 10).map(quoteName).join(', ') + (levels.length > 10 ? `, … (${levels.length} in all)` : '');
}

// ---------------------------------------------------------------------------------------------
// Reading the columns

class Reader {
  constructor(
    readonly t: Table,
    readonly source: string,
  ) {}

  at(row: number, column?: string): DataLocation {
    return { source: this.source, row: row + 1, line: this.t.lines?.[row], column };
  }

  column(name: string): Column {
    return this.t.columns.get(name)!; // every name is checked up front (checkColumns)
  }

  missing(name: string, row: number): boolean {
    return this.column(name).missing[row] === 1;
  }

  /** A number; a text column's value counts when it is written as one (a column read as text). */
  number(name: string, row: number): number {
    const c = this.column(name);
    if (c.missing[row]) throw new DataError('the value is missing', this.at(row, name));
    if (c.kind === 'number') {
      const v = c.values[row];
      if (!Number.isFinite(v)) throw new DataError(`${v} is not a finite number`, this.at(row, name));
      return v;
    }
    const text = c.values[row];
    const v = NUMBER.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(v)) throw new DataError(`${quoteName(text)} is not a number`, this.at(row, name));
    return v;
  }

  /** The value as a label: a text as written, a number as String() writes it. */
  label(name: string, row: number): string {
    const c = this.column(name);
    if (c.missing[row]) throw new DataError('the value is missing', this.at(row, name));
    return c.kind === 'number' ? String(c.values[row]) : c.values[row];
  }

  evaluate(e: Expr, row: number): number {
    switch (e.kind) {
      case 'column':
        return this.number(e.name, row);
      case 'number':
        return e.value;
      case 'negate':
        return -this.evaluate(e.arg, row);
      case 'call': {
        const v = this.evaluate(e.arg, row);
        const r = e.fn === 'log' ? Math.log(v) : e.fn === 'exp' ? Math.exp(v) : e.fn === 'sqrt' ? Math.sqrt(v) : Math.abs(v);
        if (!Number.isFinite(r)) throw new DataError(`${formatExpr(e)} = ${r} (from ${v})`, this.at(row));
        return r;
      }
      default: {
        const a = this.evaluate(e.left, row), b = this.evaluate(e.right, row);
        const r = e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : e.op === '/' ? a / b : Math.pow(a, b);
        if (!Number.isFinite(r)) throw new DataError(`${formatExpr(e)} = ${r}`, this.at(row));
        return r;
      }
    }
  }

  /**
   * How a column reads as a variable over `rows`: 'number' (numbers, also a text column whose
   * every value is written as a number, as R's read.csv would read it) or 'text' (categorical,
   * as in R: one word makes the column text). One exception, unless `hint` is null (factor(x)):
   * a column of mostly numbers that takes many distinct values (over 20, or a level for every
   * other row) looks like a measurement with a typo, not like codes such as 0, 1, 2, 3+; it
   * would silently become a factor of as many levels as values, so its first word is an error.
   */
  mode(name: string, rows: Int32Array, hint: string | null): 'number' | 'text' {
    const c = this.column(name);
    if (c.kind === 'number') return 'number';
    let numbers = 0, words = 0, first = -1;
    const distinct = new Set<string>();
    for (const i of rows) {
      if (c.missing[i]) continue;
      const v = c.values[i];
      distinct.add(v);
      if (NUMBER.test(v)) numbers++;
      else {
        words++;
        if (first < 0) first = i;
      }
    }
    if (words === 0 && numbers > 0) return 'number';
    if (hint !== null && numbers > words) {
      let distinctNumbers = 0;
      for (const v of distinct) if (NUMBER.test(v)) distinctNumbers++;
      if (distinctNumbers > 20 || 2 * distinct.size > numbers + words) {
        throw new DataError(`${quoteName(c.values[first])} is not a number (the column's other values are numbers; ${hint})`, this.at(first, name));
      }
    }
    return 'text';
  }
}

// ---------------------------------------------------------------------------------------------
// Columns the formula needs

interface Needs {
  /** Columns that must exist. */
  required: string[];
  /** Columns read when present (a model's weights at evaluation). */
  optional: string[];
  /** Columns read as labels. */
  text: string[];
}

function needs(f: Formula, o: { needResponse: boolean; weights?: string; design?: Design; extra?: readonly string[] }): Needs {
  // The right-hand side's columns: the formula's with a response that reads none.
  const required = o.needResponse ? formulaColumns(f) : formulaColumns({ ...f, response: { kind: 'transform', expr: { kind: 'number', value: 0 } } });
  const optional: string[] = [];
  if (o.weights !== undefined) required.push(o.weights);
  else if (o.design?.weights !== undefined && o.needResponse) optional.push(o.design.weights);
  for (const c of o.extra ?? []) required.push(c);
  // Group ids are labels; so are the columns a model was fitted with as text (its levels are
  // texts as written: '01' must stay '01' even when the new file's values all look numeric).
  const text = f.random.flatMap(groupColumns);
  if (o.design) for (const t of f.fixed) for (const x of t.factors) if (x.kind !== 'transform' && designMode(x, o.design) === 'text') text.push(x.name);
  return { required: [...new Set(required)], optional: optional.filter((c) => !required.includes(c)), text: [...new Set(text)] };
}

// The header as a message shows it: the first names, and a word on the separator when the
// whole header is one name holding ';' or a tab (a file from a locale whose decimal mark is a
// comma, or a TSV, read as comma-separated: without it "no column 'y'" names a column the user
// can see in the file).
function headerList(header: readonly string[]): string {
  const shown = header.length > 12 ? [...header.slice(0, 12).map(quoteName), `… (${header.length} columns)`] : header.map(quoteName);
  const sep = header.length === 1 ? (header[0].includes(';') ? ';' : header[0].includes('\t') ? 'a tab' : null) : null;
  return shown.join(', ') + (sep ? ` (one column: its fields are separated by ${sep === ';' ? "';'" : sep}, and ngmm reads comma-separated files)` : '');
}

function checkColumns(f: Formula, header: readonly string[], has: (name: string) => boolean, n: Needs, weights: string | undefined, source: string): void {
  const formulaCols = new Set(formulaColumns(f));
  for (const name of n.required) {
    if (has(name)) continue;
    const hint = didYouMean(name, header);
    if (formulaCols.has(name)) {
      throw new FormulaError(`no column ${quoteName(name)} in ${source}${hint}; the file has ${headerList(header)}`, f.text, columnPosition(f.text, name));
    }
    const what = name === weights ? 'for the weights' : 'for the random-effect covariates';
    throw new DataError(`no column ${quoteName(name)} ${what}${hint}; the header has ${headerList(header)}`, { source });
  }
}

export interface FrameColumnsOptions extends FrameOptions {
  /** Name of the input for messages (a file name). Default 'data'. */
  source?: string;
  /** The design of a fitted model, when reading new data for it. */
  design?: Design;
  /** Whether the response will be read (fitting, evaluation); default true. */
  needResponse?: boolean;
  /** Further columns to keep (e.g. random-effect covariates); they must exist. */
  extra?: readonly string[];
  /** Further columns to keep when the file has them (covariates needed only for new groups). */
  optional?: readonly string[];
}

/**
 * The columns modelFrame will read, as readCsvTable's `select`: it checks the formula against
 * the header before any row is read (a misspelt column stops at once, with "did you mean"),
 * keeps only those columns, and reads the grouping column as text (group ids are labels).
 */
export function frameColumns(f: Formula, o: FrameColumnsOptions = {}): (header: readonly string[]) => ColumnSelection {
  return (header) => {
    const n = needs(f, { needResponse: o.needResponse ?? true, weights: o.weights, design: o.design, extra: o.extra });
    const names = new Set(header);
    checkColumns(f, header, (c) => names.has(c), n, o.weights, o.source ?? 'data');
    const optional = [...n.optional, ...(o.optional ?? [])];
    return { keep: [...n.required, ...optional.filter((c) => names.has(c))], text: n.text };
  };
}

// ---------------------------------------------------------------------------------------------
// Variables and their coding

type Variable =
  | { kind: 'numeric'; key: string; label: string; at: (row: number) => number }
  | { kind: 'categorical'; key: string; label: string; levels: string[]; at: (row: number) => number /* level index */ };

function levelsOf(r: Reader, column: string, mode: 'number' | 'text', rows: Int32Array): string[] {
  const seen = new Set<string>();
  for (const i of rows) seen.add(labelFor(r, column, mode, i));
  const levels = [...seen];
  return mode === 'number' ? levels.sort((a, b) => Number(a) - Number(b)) : levels.sort(compareC);
}

// A categorical value's label: text as written; a number as String() writes it, so that '2.50'
// and '2.5' are one level, as R reads them.
function labelFor(r: Reader, column: string, mode: 'number' | 'text', row: number): string {
  return mode === 'number' ? String(r.number(column, row)) : r.label(column, row);
}

// How a fitted model read a categorical column: a plain column is categorical only as text;
// factor(x) read numbers when every level is a number as String() writes it. Null: numeric.
function designMode(fac: Factor & { name: string }, design: Design): 'number' | 'text' | null {
  const key = fac.kind === 'factor' ? `factor(${fac.name})` : fac.name;
  if (!Object.hasOwn(design.levels, key)) return null;
  if (fac.kind === 'column') return 'text';
  return design.levels[key].every((l) => NUMBER.test(l) && String(Number(l)) === l) ? 'number' : 'text';
}

function variable(fac: Factor, r: Reader, rows: Int32Array, levels: Record<string, string[]>, design: Design | undefined): Variable {
  const key = factorKey(fac);
  if (fac.kind === 'transform') {
    return { kind: 'numeric', key, label: formatExpr(fac.expr), at: (row) => r.evaluate(fac.expr, row) };
  }
  const name = fac.name;
  const levelKey = fac.kind === 'factor' ? `factor(${name})` : name;
  let lv: string[] | undefined;
  let mode: 'number' | 'text';
  if (design) {
    lv = Object.hasOwn(design.levels, levelKey) ? design.levels[levelKey] : undefined;
    if (fac.kind === 'factor' && !lv) throw new DataError(`the model's design has no levels for ${levelKey}`);
    mode = designMode(fac, design) ?? 'number';
  } else {
    mode = r.mode(name, rows, fac.kind === 'factor' ? null : `write factor(${name}) if it is categorical`);
    if (fac.kind === 'factor' || mode === 'text') {
      lv = Object.hasOwn(levels, levelKey) ? levels[levelKey] : levelsOf(r, name, mode, rows);
      if (lv.length < 2) {
        const only = lv.length ? ` (${quoteName(lv[0])})` : '';
        throw new DataError(`${levelKey} has one level${only} in the rows used; a categorical variable needs two or more`, { source: r.source, column: name });
      }
    }
  }
  if (!lv) return { kind: 'numeric', key, label: name, at: (row) => r.number(name, row) };
  levels[levelKey] = lv;
  const index = new Map(lv.map((l, k) => [l, k]));
  const all = lv;
  const m = mode;
  return {
    kind: 'categorical',
    key,
    label: levelKey,
    levels: lv,
    at: (row) => {
      const v = labelFor(r, name, m, row);
      const k = index.get(v);
      if (k === undefined) throw new DataError(`level ${quoteName(v)} was not in the training data (levels ${listed(all)})`, r.at(row, name));
      return k;
    },
  };
}

/** One column of X: the product over the term's variables of a value or a level indicator. */
interface DesignColumn {
  name: string;
  parts: { v: Variable; level: number /* −1: a numeric variable's value */ }[];
}

/**
 * The columns of X in R's order and coding (model.matrix): terms in order; within a term the
 * variables in the formula's variable order, the first varying fastest. A factor F of term T
 * is coded by contrasts (its first level dropped) when T without F is empty or contained in
 * an earlier term, and in full otherwise (R's TermCode, after Chambers & Hastie 1992, p. 38);
 * with no intercept, the first factor of the first term holding a factor is coded in full.
 */
function designColumns(f: Formula, vars: Map<string, Variable>): DesignColumn[] {
  const order = new Map(variableOrder(f).map((k, i) => [k, i]));
  const rank = (k: string) => order.get(k) ?? Infinity;
  const terms = f.fixed.map((t) => [...new Set(t.factors.map(factorKey))].sort((a, b) => rank(a) - rank(b)));
  const full = (j: number, key: string): boolean => {
    const rest = terms[j].filter((k) => k !== key);
    if (rest.length === 0) return false;
    return !terms.slice(0, j).some((earlier) => rest.every((k) => earlier.includes(k)));
  };
  let forcedTerm = -1, forcedKey = '';
  if (!f.intercept) {
    forcedTerm = terms.findIndex((t) => t.some((k) => vars.get(k)!.kind === 'categorical'));
    if (forcedTerm >= 0) forcedKey = terms[forcedTerm].find((k) => vars.get(k)!.kind === 'categorical')!;
  }
  const out: DesignColumn[] = [];
  terms.forEach((keys, j) => {
    let cols: DesignColumn[] = [{ name: '', parts: [] }];
    for (const key of keys) {
      const v = vars.get(key)!;
      const choices: { name: string; level: number }[] =
        v.kind === 'numeric'
          ? [{ name: v.label, level: -1 }]
          : v.levels.map((l, k) => ({ name: `${v.label}=${l}`, level: k })).slice((j === forcedTerm && key === forcedKey) || full(j, key) ? 0 : 1);
      // Earlier variables vary fastest: the new variable's choices are the outer loop.
      cols = choices.flatMap((c) => cols.map((a) => ({ name: a.name ? `${a.name}:${c.name}` : c.name, parts: [...a.parts, { v, level: c.level }] })));
    }
    out.push(...cols);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The frame

/**
 * Builds the frame. With `design` (from a fitted model) categorical levels, the response's
 * levels and the kept columns are taken from it, and an unseen level is an error naming the
 * row. Without `needResponse` (prediction) the response is not read and a missing value is an
 * error; otherwise rows with a missing value are dropped (na.omit) and listed in `dropped`.
 */
export function modelFrame(f: Formula, t: Table, source = 'data', design?: Design, needResponse = true, opts: FrameOptions = {}): Frame {
  const r = new Reader(t, source);
  if (f.random.length === 0) throw new FormulaError("needs a random intercept, e.g. '+ (1 | group)'", f.text, f.text.length);
  const single = oneFactor(f);
  const slopes = single ? f.random[0].terms.map((term) => (term.factors[0] as { name: string }).name) : [];
  const groupName = single ? f.random[0].group : '';
  const weightsName = opts.weights ?? (design?.weights !== undefined && needResponse && t.columns.has(design.weights) ? design.weights : undefined);
  const n = needs(f, { needResponse, weights: weightsName, design });
  checkColumns(f, [...t.columns.keys()], (c) => t.columns.has(c), n, weightsName, source);
  if (t.nrows === 0) throw new DataError('no data rows (the file has only its header)', { source });

  const { rows, dropped } = usableRows(r, t.nrows, n.required, needResponse, opts.rows);
  const levels: Record<string, string[]> = Object.create(null);
  const vars = new Map<string, Variable>();
  for (const term of f.fixed) for (const fac of term.factors) if (!vars.has(factorKey(fac))) vars.set(factorKey(fac), variable(fac, r, rows, levels, design));
  const columns = designColumns(f, vars);
  const nk = rows.length;
  const P = columns.length;
  const X = new Float64Array(nk * P);
  // Each variable is evaluated once per row; a column multiplies values and level indicators.
  const varList = [...vars.values()];
  const slot = new Map(varList.map((v, j) => [v, j]));
  const plan = columns.map((c) => c.parts.map(({ v, level }) => ({ j: slot.get(v)!, level })));
  const vals = new Float64Array(varList.length);
  const group: string[] = new Array(nk);
  for (let k = 0; k < nk; k++) {
    const i = rows[k];
    for (let j = 0; j < varList.length; j++) vals[j] = varList[j].at(i);
    for (let c = 0; c < P; c++) {
      let x = 1;
      for (const { j, level } of plan[c]) x *= level < 0 ? vals[j] : vals[j] === level ? 1 : 0;
      if (!Number.isFinite(x)) throw new DataError(`the design column ${quoteName(columns[c].name)} is ${x} (a product of large values)`, r.at(i));
      X[k * P + c] = x;
    }
    if (single) group[k] = r.label(groupName, i);
  }

  const allNames = columns.map((c) => c.name);
  const { keep, droppedColumns } = design ? keptByDesign(allNames, design, source) : keptByRank(X, nk, allNames, f.intercept);
  const xNames = keep.map((c) => allNames[c]);
  const Xk = keep.length === P ? X : compact(X, nk, P, keep);
  for (const sl of slopes) {
    const v = vars.get(factorKey({ kind: 'column', name: sl }));
    if (v?.kind !== 'numeric' || !allNames.includes(sl)) {
      throw new FormulaError(`the random slope ${quoteName(sl)} must also be a numeric fixed effect`, f.text, columnPosition(f.text, sl));
    }
    const gone = droppedColumns.find((d) => d.name === sl);
    if (gone) throw new DataError(`the random slope ${quoteName(sl)} is dropped from the fixed effects (${gone.reason}), so it cannot vary by group`, { source, column: sl });
  }

  const frameDesign: Design = { formula: f.text, levels, xNames };
  if (weightsName !== undefined) frameDesign.weights = opts.weights ?? design?.weights;
  if (design?.responseLevels) frameDesign.responseLevels = design.responseLevels;
  const frame: Frame = { X: Xk, xNames, y: new Float64Array(nk), group, groupName, design: frameDesign, slopes, dropped, droppedColumns, rows };
  if (!single) {
    const terms = randomTerms(f, t, source, rows);
    frame.terms = terms;
    frame.groupName = terms[0].name;
    for (let k = 0; k < nk; k++) group[k] = terms[0].levels[terms[0].group[k]];
  }
  if (needResponse) readResponse(f, r, rows, frame);
  if (weightsName !== undefined) {
    const w = new Float64Array(nk);
    for (let k = 0; k < nk; k++) {
      w[k] = r.number(weightsName, rows[k]);
      if (!(w[k] >= 0)) throw new DataError(`the weight ${w[k]} is negative; weights must be finite and ≥ 0`, r.at(rows[k], weightsName));
    }
    frame.weights = w;
  }
  if (f.offset?.length) {
    const o = new Float64Array(nk);
    for (let k = 0; k < nk; k++) for (const e of f.offset) o[k] += r.evaluate(e, rows[k]);
    for (let k = 0; k < nk; k++) if (!Number.isFinite(o[k])) throw new DataError(`the offsets sum to ${o[k]}`, r.at(rows[k]));
    frame.offset = o;
  }
  return frame;
}

/**
 * Whether the formula's random part is one grouping factor with an intercept and plain-column
 * slopes, `(1 | g)` or `(1 + x | g)` (ngmm/terms/grouped.ts); anything else — several terms,
 * `a/b`, `a:b`, `||`, no intercept, a transformed slope — is a model of terms (ngmm/terms/multi.ts).
 */
export function oneFactor(f: Formula): boolean {
  const r = f.random[0];
  return f.random.length === 1 && r.intercept && !r.groupFactors && r.terms.every((t) => t.factors.length === 1 && t.factors[0].kind === 'column');
}

// na.omit over the columns the formula reads, among the rows asked for; at prediction a missing
// value is an error.
function usableRows(r: Reader, nrows: number, used: string[], drop: boolean, subset?: ArrayLike<number>): { rows: Int32Array; dropped: number[] } {
  const asked = subset === undefined ? null : subsetRows(subset, nrows, r.source);
  const cols = used.map((name) => ({ name, missing: r.column(name).missing }));
  const dropped: number[] = [];
  const counts = new Map<string, number>();
  const m = asked ? asked.length : nrows;
  const rows = new Int32Array(m);
  let nk = 0;
  for (let k = 0; k < m; k++) {
    const i = asked ? asked[k] : k;
    let ok = true;
    for (const c of cols) {
      if (!c.missing[i]) continue;
      if (!drop) throw new DataError('the value is missing (a prediction needs every column the formula uses)', r.at(i, c.name));
      if (ok) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
      ok = false;
    }
    if (ok) rows[nk++] = i;
    else dropped.push(i);
  }
  if (nk === 0) {
    const by = [...counts].map(([c, k]) => `${quoteName(c)} in ${k}`).join(', ');
    if (asked) throw new DataError(`each of the ${m} rows asked for has a missing value in a column the model uses (first missing: ${by}), so no row is left`, { source: r.source });
    throw new DataError(`every row has a missing value in a column the model uses (first missing: ${by}), so no row is left`, { source: r.source });
  }
  return { rows: rows.slice(0, nk), dropped };
}

// The `rows` option checked: whole numbers naming rows of the table, each once.
function subsetRows(subset: ArrayLike<number>, nrows: number, source: string): Int32Array {
  if (subset.length === 0) throw new DataError('the rows to use (option rows) are an empty list', { source });
  const out = new Int32Array(subset.length);
  const seen = new Uint8Array(nrows);
  for (let k = 0; k < subset.length; k++) {
    const i = subset[k];
    if (!Number.isInteger(i) || i < 0 || i >= nrows) {
      throw new DataError(`rows[${k}] is ${i}, not a 0-based row of the table (a whole number from 0 to ${nrows - 1})`, { source });
    }
    if (seen[i]) throw new DataError(`rows[${k}] asks for row ${i + 1} a second time; each row may be used once`, { source });
    seen[i] = 1;
    out[k] = i;
  }
  return out;
}

function keptByDesign(names: string[], design: Design, source: string): { keep: number[]; droppedColumns: Frame['droppedColumns'] } {
  const index = new Map(names.map((c, j) => [c, j]));
  const keep = design.xNames.map((c) => index.get(c) ?? -1);
  if (keep.some((j) => j < 0)) {
    throw new DataError(`the formula gives the columns ${names.join(', ')}; the model was fitted with ${design.xNames.join(', ')}`, { source });
  }
  const kept = new Set(design.xNames);
  return { keep, droppedColumns: names.filter((c) => !kept.has(c)).map((name) => ({ name, reason: 'dropped when the model was fitted' })) };
}

// lme4's rank check on [1 | X] (the intercept first, when there is one): see ngmm/rank.ts.
// Columns are scaled by their largest entry before the factorisation, so that neither tiny nor
// huge units under- or overflow in it (the rule itself is scale-free).
export function keptByRank(X: Float64Array, n: number, names: string[], intercept: boolean): { keep: number[]; droppedColumns: Frame['droppedColumns'] } {
  const P = names.length;
  const q = P + (intercept ? 1 : 0);
  const scale = new Float64Array(P);
  for (let i = 0; i < n; i++) for (let c = 0; c < P; c++) scale[c] = Math.max(scale[c], Math.abs(X[i * P + c]));
  for (let c = 0; c < P; c++) scale[c] = scale[c] > 0 ? 1 / scale[c] : 0;
  const off = intercept ? 1 : 0;
  const R = triangularFactor(n, q, (i, out) => {
    if (intercept) out[0] = 1;
    for (let c = 0; c < P; c++) out[off + c] = X[i * P + c] * scale[c];
  });
  const all = intercept ? [INTERCEPT, ...names] : names;
  const d = pivotedRank(R, q);
  const droppedColumns = d.dropped.map(({ index, zero, aliasedWith }) => {
    const with_ = aliasedWith.map((j) => all[j]);
    const reason = zero ? 'all zeros' : with_.length === 1 && with_[0] === INTERCEPT ? 'constant' : `aliased with: ${with_.join(', ')}`;
    return { name: all[index], reason };
  });
  const keep = d.kept.filter((j) => j >= off).map((j) => j - off);
  return { keep, droppedColumns };
}

function compact(X: Float64Array, n: number, P: number, keep: number[]): Float64Array {
  const p = keep.length;
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let c = 0; c < p; c++) out[i * p + c] = X[i * P + keep[c]];
  return out;
}

// The response: numbers, cbind(successes, failures), a transform, or a two-level text column
// (R's factor response for binomial families: the first level failure, the others success).
function readResponse(f: Formula, r: Reader, rows: Int32Array, frame: Frame): void {
  const resp = f.response;
  const nk = rows.length;
  const y = frame.y;
  if (resp.kind === 'cbind') {
    const trials = new Float64Array(nk);
    for (let k = 0; k < nk; k++) {
      y[k] = r.number(resp.successes, rows[k]);
      trials[k] = r.evaluate(resp.trials, rows[k]);
    }
    frame.trials = trials;
    return;
  }
  if (resp.kind === 'transform') {
    for (let k = 0; k < nk; k++) y[k] = r.evaluate(resp.expr, rows[k]);
    return;
  }
  const name = resp.name;
  const known = frame.design.responseLevels;
  if (r.mode(name, rows, 'a text response has two levels') === 'number') {
    for (let k = 0; k < nk; k++) y[k] = r.number(name, rows[k]);
    return;
  }
  let levels: string[];
  if (known) levels = known;
  else {
    levels = levelsOf(r, name, 'text', rows);
    if (levels.length !== 2) {
      throw new DataError(
        `a text response needs exactly two levels (failure, then success), found ${levels.length}: ${listed(levels)}`,
        { source: r.source, column: name },
      );
    }
    frame.design.responseLevels = [levels[0], levels[1]];
  }
  for (let k = 0; k < nk; k++) {
    const v = r.label(name, rows[k]);
    const j = levels.indexOf(v);
    if (j < 0) throw new DataError(`${quoteName(v)} is neither response level (${levels.map(quoteName).join(' = 0, ')} = 1)`, r.at(rows[k], name));
    y[k] = j;
  }
}

/**
 * A DataError from `prepare` (whose row is a row of the frame's data) at the table's row and
 * line, in `source`; anything else unchanged.
 */
export function locateInTable(e: unknown, frame: Frame, t: Table, source: string): unknown {
  if (!(e instanceof DataError) || e.source !== undefined) return e;
  if (e.row === undefined) return e.relocated({ source });
  const i = frame.rows[e.row - 1];
  if (i === undefined) return e.relocated({ source });
  return e.relocated({ source, row: i + 1, line: t.lines?.[i] });
}

/** Group-level covariate columns (n × d, numeric), for a random-effect network g(z); `rows`: the table rows to take (a frame's `rows`), default all. */
export function covariateColumns(t: Table, names: readonly string[], source = 'data', rows?: ArrayLike<number>): Float64Array {
  const r = new Reader(t, source);
  for (const name of names) if (!t.columns.has(name)) throw new DataError(`no column ${quoteName(name)} for the random-effect covariates${didYouMean(name, t.columns.keys())}`, { source });
  const d = names.length, n = rows ? rows.length : t.nrows;
  const Z = new Float64Array(n * d);
  for (let k = 0; k < n; k++) for (let c = 0; c < d; c++) Z[k * d + c] = r.number(names[c], rows ? rows[k] : k);
  return Z;
}
