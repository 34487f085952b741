// The model frame: a formula applied to a table gives the fixed-effect design X (with column
// names), the response (and binomial trials) and the grouping factor. Categorical variables
// (string columns, or factor(x)) are one-hot coded against a reference level, the first in
// sorted order as in R; the levels are kept in the design so that new data is coded the same
// way at prediction time. Every value problem names the source, row and column.
import type { CsvTable } from './csv';
import { formatExpr, type Expr, type Factor, type Formula } from './formula';

export interface Design {
  /** The formula as written. */
  formula: string;
  /** Levels of each categorical variable, reference first. */
  levels: Record<string, string[]>;
  /** Names of the columns of X. */
  xNames: string[];
}

export interface Frame {
  X: Float64Array;
  xNames: string[];
  y: Float64Array;
  trials?: Float64Array;
  group: string[];
  groupName: string;
  design: Design;
  /** Columns of X with random slopes, from `(1 + x | g)`. */
  slopes: string[];
  /** Prior weights per kept row (from a weights column), when given. */
  weights?: Float64Array;
  /** The sum of the formula's `offset(…)` terms per kept row, when there are any. */
  offset?: Float64Array;
  /** 0-based table rows dropped because a value the formula uses is missing (na.omit). */
  dropped: number[];
  /** Fixed-effect columns dropped as aliased (rank deficiency) or constant, with the reason. */
  droppedColumns: { name: string; reason: string }[];
}

type Table = Pick<CsvTable, 'columns' | 'nrows'>;

function where(source: string, row: number, col: string): string {
  return `${source}: row ${row + 1}, column '${col}'`;
}

function column(t: Table, name: string, source: string) {
  const c = t.columns.get(name);
  if (!c) throw new Error(`${source}: no column '${name}' (the formula uses it; the file has ${[...t.columns.keys()].map((k) => `'${k}'`).join(', ')})`);
  return c;
}

function numeric(t: Table, name: string, source: string, row: number): number {
  const c = column(t, name, source);
  if (c.missing[row]) throw new Error(`${where(source, row, name)}: value is missing`);
  if (c.kind !== 'number') throw new Error(`${where(source, row, name)}: '${c.values[row]}' is not a number`);
  const v = c.values[row];
  if (!Number.isFinite(v)) throw new Error(`${where(source, row, name)}: ${v} is not a finite number`);
  return v;
}

function label(t: Table, name: string, source: string, row: number): string {
  const c = column(t, name, source);
  if (c.missing[row]) throw new Error(`${where(source, row, name)}: value is missing`);
  return String(c.values[row]);
}

function evaluate(e: Expr, t: Table, source: string, row: number): number {
  switch (e.kind) {
    case 'column':
      return numeric(t, e.name, source, row);
    case 'number':
      return e.value;
    case 'negate':
      return -evaluate(e.arg, t, source, row);
    case 'call': {
      const v = evaluate(e.arg, t, source, row);
      const r = e.fn === 'log' ? Math.log(v) : e.fn === 'exp' ? Math.exp(v) : e.fn === 'sqrt' ? Math.sqrt(v) : Math.abs(v);
      if (!Number.isFinite(r)) throw new Error(`${source}: row ${row + 1}: ${formatExpr(e)} = ${r} (from ${v})`);
      return r;
    }
    default: {
      const a = evaluate(e.left, t, source, row), b = evaluate(e.right, t, source, row);
      const r = e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : e.op === '/' ? a / b : Math.pow(a, b);
      if (!Number.isFinite(r)) throw new Error(`${source}: row ${row + 1}: ${formatExpr(e)} = ${r}`);
      return r;
    }
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

// Whether a factor is categorical in this table, and its name. A text column is categorical,
// unless most of it is numbers: a column of numbers with a stray word ('abc', 'Inf') is a data
// error, reported at its first non-number (factor(x) says it really is categorical).
function categorical(f: Factor, t: Table, source: string): string | null {
  if (f.kind === 'factor') return f.name;
  if (f.kind !== 'column') return null;
  const c = column(t, f.name, source);
  if (c.kind !== 'string') return null;
  let numbers = 0, first = -1;
  for (let i = 0; i < t.nrows; i++) {
    if (c.missing[i]) continue;
    if (NUMBER.test(c.values[i])) numbers++;
    else if (first < 0) first = i;
  }
  if (numbers > 0 && first >= 0) {
    throw new Error(`${where(source, first, f.name)}: '${c.values[first]}' is not a number (the column's other values are numbers; write factor(${f.name}) if it is categorical)`);
  }
  return f.name;
}

/**
 * Builds the frame. With `design` (from a fitted model) categorical levels and the column
 * order are taken from it, and an unseen level is an error naming the row.
 */
export function modelFrame(f: Formula, t: Table, source = 'data', design?: Design, needResponse = true): Frame {
  if (f.random.length !== 1 || !f.random[0].intercept) {
    throw new Error(
      f.random.length === 0
        ? `formula '${f.text}': needs a random intercept, e.g. '+ (1 | group)'`
        : `formula '${f.text}': one random-effects term with an intercept, '(1 | g)' or '(1 + x | g)', is supported so far`,
    );
  }
  const slopes = f.random[0].terms.map((term) => {
    const fac = term.factors[0];
    if (term.factors.length !== 1 || fac.kind !== 'column') {
      throw new Error(`formula '${f.text}': random slopes must be plain columns that are also fixed effects`);
    }
    return fac.name;
  });
  const groupName = f.random[0].group;
  const n = t.nrows;
  const levels: Record<string, string[]> = design ? design.levels : {};
  const factorsOf = f.fixed.flatMap((term) => term.factors);
  if (!design) {
    for (const fac of factorsOf) {
      const name = categorical(fac, t, source);
      if (name && !levels[name]) {
        const c = column(t, name, source);
        const set = new Set<string>();
        for (let i = 0; i < n; i++) if (!c.missing[i]) set.add(String(c.values[i]));
        levels[name] = [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      }
    }
  }
  // Each factor's column block: names and a row evaluator.
  let firstCategorical = !f.intercept;
  const blocks = (fac: Factor, main: boolean): { names: string[]; at: (row: number) => number[] } => {
    const name = fac.kind === 'transform' ? null : categorical(fac, t, source) ?? (fac.kind === 'factor' ? fac.name : null);
    if (name !== null && levels[name]) {
      const all = levels[name];
      const keepAll = main && firstCategorical;
      if (main) firstCategorical = false;
      const used = keepAll ? all : all.slice(1);
      return {
        names: used.map((l) => `${name}=${l}`),
        at: (row) => {
          const v = label(t, name, source, row);
          const k = all.indexOf(v);
          if (k < 0) throw new Error(`${where(source, row, name)}: level '${v}' was not in the training data`);
          return used.map((l) => (l === v ? 1 : 0));
        },
      };
    }
    if (fac.kind === 'column') return { names: [fac.name], at: (row) => [numeric(t, fac.name, source, row)] };
    if (fac.kind === 'transform') return { names: [formatExpr(fac.expr)], at: (row) => [evaluate(fac.expr, t, source, row)] };
    throw new Error(`${source}: '${(fac as { name: string }).name}' is not categorical`);
  };
  const termBlocks = f.fixed.map((term) => {
    const parts = term.factors.map((fac) => blocks(fac, term.factors.length === 1));
    let names = [''];
    for (const p of parts) names = names.flatMap((a) => p.names.map((b) => (a ? `${a}:${b}` : b)));
    return {
      names,
      at: (row: number) => {
        let vals = [1];
        for (const p of parts) {
          const v = p.at(row);
          vals = vals.flatMap((a) => v.map((b) => a * b));
        }
        return vals;
      },
    };
  });
  const xNames = termBlocks.flatMap((b) => b.names);
  if (design && (xNames.length !== design.xNames.length || xNames.some((v, i) => v !== design.xNames[i]))) {
    throw new Error(`${source}: the formula gives columns ${xNames.join(', ')}, the model was fitted with ${design.xNames.join(', ')}`);
  }
  const p = xNames.length;
  const X = new Float64Array(n * p);
  const group: string[] = [];
  for (let i = 0; i < n; i++) {
    let o = i * p;
    for (const b of termBlocks) for (const v of b.at(i)) X[o++] = v;
    group.push(label(t, groupName, source, i));
  }
  for (const sl of slopes) {
    if (!xNames.includes(sl)) throw new Error(`formula '${f.text}': the random slope '${sl}' must also be a numeric fixed effect`);
  }
  const frame: Frame = { X, xNames, y: new Float64Array(n), group, groupName, design: { formula: f.text, levels, xNames }, slopes, dropped: [], droppedColumns: [] };
  if (needResponse) {
    const r = f.response;
    if (r.kind === 'cbind') {
      frame.trials = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        frame.y[i] = numeric(t, r.successes, source, i);
        frame.trials[i] = evaluate(r.trials, t, source, i);
      }
    } else {
      for (let i = 0; i < n; i++) frame.y[i] = r.kind === 'column' ? numeric(t, r.name, source, i) : evaluate(r.expr, t, source, i);
    }
  }
  return frame;
}

/** Group-level covariate columns (n × d, numeric), for a random-effect network g(z). */
export function covariateColumns(t: Table, names: readonly string[], source = 'data'): Float64Array {
  const d = names.length, n = t.nrows;
  const Z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) Z[i * d + c] = numeric(t, names[c], source, i);
  return Z;
}
