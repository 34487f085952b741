// The random-effect terms of a formula built from a table, as lme4's mkReTrms builds them
// (Bates et al. 2015, J. Stat. Softw. 67(1), §2.3): one term per bar after the formula's
// shorthands are expanded (ngmm/formula.ts: `||` splits, `a/b` nests), each with its grouping
// factor (levels and the level of every row) and its design columns, ordered by decreasing
// number of levels. The result is the `terms` input of fitMultiLmm (ngmm/lmm/multi.ts).
// The conventions are in docs/reterms.md.
import type { Column } from './csv';
import { DataError, quoteName, type DataLocation } from './errors';
import { FormulaError, columnPosition, formatExpr, groupColumns, type Expr, type Factor, type Formula, type RandomTerm } from './formula';
import { compareC, type Table } from './frame';
import type { LmmTerm } from './lmm/multi';

/** One random-effect term: fitMultiLmm's input, with the labels that go with it. */
export interface ReTerm extends LmmTerm {
  /** The grouping factor's levels as text; an interaction's level joins its columns' with ':'. */
  levels: string[];
  /** Names of the q design columns: '(Intercept)', then the slopes ('Days', 'I(x^2)', 'x:z'). */
  columns: string[];
  /** Always false: `(x || g)` gives separate terms, as in lme4, so no term is diagonal. */
  diagonal: false;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The formula's random-effect terms over `rows` of the table (0-based table rows, e.g. a
 * frame's `rows`; all rows when absent), in lme4's order. A missing value in a column a term
 * reads is an error naming its row and column: dropping such rows (na.omit) is the frame's job.
 */
export function randomTerms(f: Formula, t: Table, source = 'data', rows?: ArrayLike<number>): ReTerm[] {
  if (f.random.length === 0) throw new FormulaError("needs a random-effect term, e.g. '+ (1 | group)'", f.text, f.text.length);
  const use = rows ? Int32Array.from(rows) : Int32Array.from({ length: t.nrows }, (_, i) => i);
  if (use.length === 0) throw new DataError('no data rows to build the random-effect terms from', { source });
  const at = (row: number, column?: string): DataLocation => ({ source, row: row + 1, line: t.lines?.[row], column });
  const column = (name: string): Column => {
    const c = t.columns.get(name);
    if (!c) throw new FormulaError(`no column ${quoteName(name)} in ${source}`, f.text, columnPosition(f.text, name));
    return c;
  };
  const number = (name: string, row: number): number => {
    const c = column(name);
    if (c.missing[row]) throw new DataError('the value is missing', at(row, name));
    const v = c.kind === 'number' ? c.values[row] : NUMBER.test(c.values[row]) ? Number(c.values[row]) : NaN;
    if (!Number.isFinite(v)) throw new DataError(`${c.kind === 'number' ? v : quoteName(c.values[row])} is not a finite number`, at(row, name));
    return v;
  };
  const evaluate = (e: Expr, row: number): number => {
    switch (e.kind) {
      case 'column':
        return number(e.name, row);
      case 'number':
        return e.value;
      case 'negate':
        return -evaluate(e.arg, row);
      case 'call': {
        const v = evaluate(e.arg, row);
        const r = e.fn === 'log' ? Math.log(v) : e.fn === 'exp' ? Math.exp(v) : e.fn === 'sqrt' ? Math.sqrt(v) : Math.abs(v);
        if (!Number.isFinite(r)) throw new DataError(`${formatExpr(e)} = ${r} (from ${v})`, at(row));
        return r;
      }
      default: {
        const a = evaluate(e.left, row), b = evaluate(e.right, row);
        const r = e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : e.op === '/' ? a / b : Math.pow(a, b);
        if (!Number.isFinite(r)) throw new DataError(`${formatExpr(e)} = ${r}`, at(row));
        return r;
      }
    }
  };
  const factors = new Map<string, { levels: string[]; index: Int32Array }>();
  const groupingFactor = (name: string) => {
    let g = factors.get(name);
    if (!g) factors.set(name, (g = columnFactor(column(name), name, use, at)));
    return g;
  };

  const built = f.random.map((r) => {
    const grouping = interaction(groupColumns(r).map(groupingFactor), use.length);
    const { columns, value } = designOf(r, f, (name) => isNumeric(column(name), use), (x, row) => (x.kind === 'transform' ? evaluate(x.expr, row) : number(x.name, row)));
    const q = columns.length;
    const Z = new Float64Array(use.length * q);
    use.forEach((row, j) => {
      for (let a = 0; a < q; a++) {
        const z = value(a, row);
        if (!Number.isFinite(z)) throw new DataError(`the random-effect column ${quoteName(columns[a])} is ${z} (a product of large values)`, at(row));
        Z[j * q + a] = z;
      }
    });
    const term: ReTerm = { name: r.group, group: grouping.index, G: grouping.levels.length, levels: grouping.levels, Z, q, columns, diagonal: false };
    return term;
  });
  return lme4Order(built);
}

/**
 * mkReTrms's order: when some term has more levels than the one before it, the terms are
 * permuted by rev(order(nl)) — decreasing number of levels, and, since R's order() is stable,
 * ties in reverse of the formula's order. Otherwise the formula's order stays.
 */
export function lme4Order<T extends { G: number }>(terms: readonly T[]): T[] {
  if (!terms.some((t, k) => k > 0 && t.G > terms[k - 1].G)) return [...terms];
  const ascending = terms.map((t, k) => [t, k] as const).sort((a, b) => a[0].G - b[0].G || a[1] - b[1]);
  return ascending.reverse().map(([t]) => t);
}

/**
 * A grouping column as a factor: its labels (text as written, a number as String() writes it)
 * sorted as R's factor() sorts them after read.csv — numerically when every value is a number
 * (ties such as '01' and '1', which R would merge, keep apart in the C locale's order), else in
 * the C locale's order.
 */
function columnFactor(c: Column, name: string, rows: Int32Array, at: (row: number, column?: string) => DataLocation): { levels: string[]; index: Int32Array } {
  const labels: string[] = new Array(rows.length);
  rows.forEach((row, j) => {
    if (c.missing[row]) throw new DataError('the grouping value is missing (rows with missing values must be dropped before the random-effect terms are built)', at(row, name));
    labels[j] = c.kind === 'number' ? String(c.values[row]) : c.values[row];
  });
  const distinct = [...new Set(labels)];
  const numeric = distinct.every((l) => NUMBER.test(l));
  const levels = distinct.sort((a, b) => (numeric ? Number(a) - Number(b) : 0) || compareC(a, b));
  const position = new Map(levels.map((l, k) => [l, k]));
  return { levels, index: Int32Array.from(labels, (l) => position.get(l)!) };
}

/**
 * The interaction of factors as R's `:` of factors makes it and lme4 keeps it (unused
 * combinations dropped): levels in lexicographic order of the factors' level indices, the first
 * factor varying slowest, each level its labels joined by ':'. One factor is itself.
 */
function interaction(fs: { levels: string[]; index: Int32Array }[], n: number): { levels: string[]; index: Int32Array } {
  if (fs.length === 1) return fs[0];
  const keyOf = (j: number): number[] => fs.map((f) => f.index[j]);
  const seen = new Map<string, number[]>();
  for (let j = 0; j < n; j++) {
    const key = keyOf(j);
    seen.set(key.join(','), key);
  }
  const combos = [...seen.values()].sort((a, b) => {
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] - b[k];
    return 0;
  });
  const position = new Map(combos.map((c, k) => [c.join(','), k]));
  return {
    levels: combos.map((c) => c.map((l, k) => fs[k].levels[l]).join(':')),
    index: Int32Array.from({ length: n }, (_, j) => position.get(keyOf(j).join(','))!),
  };
}

/**
 * A term's design columns: the intercept, then each term of its left side as the product of
 * its numeric variables, named as R's model.matrix names them. A categorical variable (text
 * column, factor()) on the left of '|' is refused: its coding within a random-effect term
 * (lme4 codes it in full with the intercept's contrasts) is not implemented.
 */
function designOf(
  r: RandomTerm,
  f: Formula,
  numeric: (name: string) => boolean,
  read: (x: Factor, row: number) => number,
): { columns: string[]; value: (a: number, row: number) => number } {
  const parts: Factor[][] = [];
  const columns: string[] = [];
  if (r.intercept) {
    parts.push([]);
    columns.push('(Intercept)');
  }
  for (const term of r.terms) {
    for (const x of term.factors) {
      if (x.kind === 'factor' || (x.kind === 'column' && !numeric(x.name))) {
        throw new FormulaError(
          `the categorical variable ${quoteName(x.kind === 'factor' ? `factor(${x.name})` : x.name)} in a random-effect term is not supported yet: only numeric slopes`,
          f.text,
          columnPosition(f.text, x.name),
        );
      }
    }
    parts.push(term.factors);
    columns.push(term.factors.map((x) => (x.kind === 'transform' ? (x.expr.kind === 'call' ? formatExpr(x.expr) : `I(${formatExpr(x.expr)})`) : x.name)).join(':'));
  }
  return {
    columns,
    value: (a, row) => {
      let z = 1;
      for (const x of parts[a]) z *= read(x, row);
      return z;
    },
  };
}

// A column read as text counts as numeric when every present value of the rows used is written
// as a number (as R's read.csv reads it).
function isNumeric(c: Column, rows: Int32Array): boolean {
  if (c.kind === 'number') return true;
  let any = false;
  for (const i of rows) {
    if (c.missing[i]) continue;
    if (!NUMBER.test(c.values[i])) return false;
    any = true;
  }
  return any;
}
