// The demo's data, split for fitting and checking: training rows, held-out rows of training
// groups ("observed") and all rows of held-out groups ("new"). Simulated data comes from
// ngmm/simulate.ts as arrays, with the true means as the truth; a dropped CSV is split into
// table rows here and fitted in the worker by the library's fitFormula on the training rows
// (the same formula and model frame as the CLI), its held-out rows predicted by predictTable,
// with their observed responses as the truth.
import type { ModelData } from '../../ngmm/data';
import { readCsvTable, type Column, type CsvTable } from '../../ngmm/csv';
import type { Table } from '../../ngmm/frame';
import { groupColumns, parseFormula } from '../../ngmm/formula';
import { frameColumns } from '../../ngmm/frame';
import { simulate, type SimulatedFamily } from '../../ngmm/simulate';

export interface HeldOut {
  X: Float64Array;
  group: string[];
  truth: Float64Array;
  /** The held-out rows' own responses (simulated data: drawn with the truth). */
  y?: Float64Array;
}

export interface DemoData {
  train: ModelData;
  observed: HeldOut;
  fresh: HeldOut;
  /** What the truth is: the simulation's mean, or the observed response. */
  truthLabel: string;
  trueEffects?: ReadonlyMap<string, number>;
  description: string;
}

export function simulated(family: SimulatedFamily, seed: number, groups: number, perGroup: number): DemoData {
  const d = simulate(family, seed, { groups, perGroup });
  // Group effects are identified only up to the intercept, which absorbs their sample mean:
  // the truth to compare the posteriors with is centred over the training groups.
  const trained = new Set(d.train.group);
  const bs = [...d.effects].filter(([g]) => trained.has(g));
  const centre = bs.reduce((a, [, b]) => a + b, 0) / Math.max(1, bs.length);
  return {
    train: { X: d.train.X, xNames: d.xNames, y: d.train.y, group: d.train.group },
    observed: { X: d.observed.X, group: d.observed.group, truth: d.observed.mu, y: d.observed.y },
    fresh: { X: d.fresh.X, group: d.fresh.group, truth: d.fresh.mu, y: d.fresh.y },
    truthLabel: 'true mean E[y | x, b]',
    trueEffects: new Map(bs.map(([g, b]) => [g, b - centre])),
    description: `simulated ${family}: ${groups} groups × ${perGroup} rows, seed ${seed}`,
  };
}

/**
 * A dropped CSV for the worker's fitFormula: the table (read with the columns the formula uses,
 * group ids as text, as the CLI reads a file), the training rows and the held-out rows. The
 * worker's fitFormula and predictTable do the model frame; the page only chooses rows.
 */
export interface CsvData {
  table: CsvTable;
  source: string;
  formula: string;
  train: number[];
  heldOut: number[];
  truthLabel: string;
  description: string;
}

/**
 * A CSV file and an lme4-style formula: the last 20 % of groups (of the formula's first
 * random-effect term, in order of appearance) are held out whole, and of every other group the
 * rows after its first 80 % (at least two rows stay in training). A row whose grouping value is
 * missing stays in the training rows, where fitFormula drops it and says so.
 */
export function fromCsv(text: string, fileName: string, formula: string): CsvData {
  const f = parseFormula(formula);
  if (f.response.kind === 'cbind') throw new Error('binomial counts (cbind) are not offered in the demo: use a 0/1 response with bernoulli');
  const table = readCsvTable(text, { source: fileName, select: frameColumns(f, { source: fileName }) });
  const by = groupColumns(f.random[0]);
  const cols = by.map((c) => table.columns.get(c)!);
  const rowsOf = new Map<string, number[]>();
  const train: number[] = [];
  for (let i = 0; i < table.nrows; i++) {
    if (cols.some((c) => c.missing[i])) {
      train.push(i);
      continue;
    }
    const key = cols.map((c) => String(c.values[i])).join(':');
    (rowsOf.get(key) ?? rowsOf.set(key, []).get(key)!).push(i);
  }
  const labels = [...rowsOf.keys()];
  const name = by.join(':');
  if (labels.length < 5) throw new Error(`${fileName}: ${labels.length} groups in '${name}'; the demo holds out 20 % of them and needs at least 5`);
  const heldOut: number[] = [];
  labels.forEach((g, k) => {
    const rows = rowsOf.get(g)!;
    if (k >= labels.length * 0.8) heldOut.push(...rows);
    else rows.forEach((r, j) => (j < Math.max(2, Math.ceil(rows.length * 0.8)) ? train : heldOut).push(r));
  });
  train.sort((a, b) => a - b);
  heldOut.sort((a, b) => a - b);
  return {
    table, source: fileName, formula, train, heldOut,
    truthLabel: `observed ${formula.split('~')[0].trim()}`,
    description: `${fileName}: ${table.nrows} rows, ${labels.length} groups of '${name}'`,
  };
}

/**
 * The simulated data as one table (x1…x5, y, g; the training rows first, then the observed
 * groups' held-out rows, then the new groups'), so the worker fits it by the formula path as a
 * CSV is fitted and can draw the model with `plotModel`.
 */
export function simulatedTable(d: DemoData): { table: Table; formula: string; train: number[]; observed: number[]; fresh: number[] } {
  const parts = [
    { X: d.train.X as Float64Array, y: Float64Array.from(d.train.y), group: Array.from(d.train.group, String) },
    { X: d.observed.X, y: d.observed.y!, group: d.observed.group },
    { X: d.fresh.X, y: d.fresh.y!, group: d.fresh.group },
  ];
  const names = d.train.xNames, p = names.length;
  const n = parts.reduce((a, q) => a + q.y.length, 0);
  const columns = new Map<string, Column>();
  const none = () => new Uint8Array(n);
  names.forEach((name, j) => {
    const v = new Float64Array(n);
    let r = 0;
    for (const q of parts) for (let i = 0; i < q.y.length; i++) v[r++] = q.X[i * p + j];
    columns.set(name, { kind: 'number', values: v, missing: none() });
  });
  columns.set('y', { kind: 'number', values: Float64Array.from(parts.flatMap((q) => Array.from(q.y))), missing: none() });
  columns.set('g', { kind: 'string', values: parts.flatMap((q) => q.group), missing: none() });
  const [a, b] = [parts[0].y.length, parts[1].y.length];
  const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, i) => lo + i);
  return {
    table: { columns, nrows: n }, formula: `y ~ ${names.join(' + ')} + (1 | g)`,
    train: range(0, a), observed: range(a, a + b), fresh: range(a + b, n),
  };
}
