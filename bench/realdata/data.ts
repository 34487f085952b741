// Reading the exported CSVs and one repetition's split and preprocessing (the paper's
// Appendix 15.2, written down in bench/realdata/README.md):
//   1. up to MAX_GROUPS groups drawn at random;
//   2. NEW_SHARE of them held out whole ("unseen" groups, fixed effects only at prediction);
//   3. in every other group, a share HELD_SHARE of the rows (at least one when the group has
//      two or more) held out as the seen groups' test rows; the rest are the training rows D;
//   4. of D, VALID_SHARE of each group's rows (at least one when it has three or more) are the
//      baselines' early-stopping rows (the NGMM draws its own held-out rows from D the same way);
//   5. covariates: dropped when more than 5 % of D is missing or when constant in D; missing
//      values imputed with D's median; every column standardised with D's mean and SD; a
//      column aliased with earlier ones in D (lme4's rank rule, ngmm/frame.ts) dropped;
//   6. the response: log first where the data set says so; a Gaussian response standardised
//      with D's mean and SD.
// Everything a method sees is computed from D alone.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../engine/random';
import { readCsvTable } from '../../ngmm/csv';
import { keptByRank } from '../../ngmm/frame';
import type { RealDataset } from './datasets';
import type { Rows, TrainSet } from './types';

export const MAX_GROUPS = 500;
export const NEW_SHARE = 0.2;
export const HELD_SHARE = 0.2;
export const VALID_SHARE = 0.2;
export const MAX_MISSING = 0.05;

export interface RawData {
  readonly name: string;
  readonly groupLabel: readonly string[];
  readonly y: Float64Array;
  /** n × p, NaN where missing (an empty cell or NA). */
  readonly X: Float64Array;
  readonly names: readonly string[];
}

/**
 * Reads `<dir>/<name>.csv` (header `group,y,<covariates>`) with the library's CSV reader, which
 * names the file, row, line and column of a bad cell; here every column but `group` must be
 * numeric, and `y` complete.
 */
export function readDataset(dir: string, ds: RealDataset): RawData {
  const file = join(dir, `${ds.name}.csv`);
  const t = readCsvTable(readFileSync(file, 'utf8'), {
    source: file,
    select: (header) => {
      if (header[0] !== 'group' || header[1] !== 'y') throw new Error(`${file}: the header must start with group,y (got '${header.join(',')}')`);
      return { keep: header, text: ['group'] };
    },
  });
  const names = t.names.slice(2), p = names.length, n = t.nrows;
  const num = (name: string): Float64Array => {
    const c = t.columns.get(name)!;
    if (c.kind !== 'number') {
      const i = c.values.findIndex((v, k) => !c.missing[k] && !Number.isFinite(Number(v)));
      throw new Error(`${file}: row ${i + 1} (line ${t.lines[i]}), column ${name}: '${c.values[i]}' is not a number`);
    }
    return c.values;
  };
  const y = num('y');
  const miss = y.findIndex((v) => Number.isNaN(v));
  if (miss >= 0) throw new Error(`${file}: row ${miss + 1} (line ${t.lines[miss]}), column y: the response is missing (rows without a response are not exported)`);
  const X = new Float64Array(n * p);
  names.forEach((name, j) => num(name).forEach((v, i) => (X[i * p + j] = v)));
  return { name: ds.name, groupLabel: t.columns.get('group')!.values as string[], y, X, names };
}

export interface RepSplit {
  readonly set: TrainSet;
  /** Held-out rows of the training groups. */
  readonly seen: Rows;
  /** Rows of the unseen groups (group −1). */
  readonly fresh: Rows;
  /** D = train ∪ valid, in one table (the NGMM and GLMM fit these and choose their own held-out rows). */
  readonly all: Rows;
  readonly covariates: readonly string[];
  /** What preprocessing dropped, in words. */
  readonly notes: readonly string[];
  readonly counts: { groups: number; newGroups: number; train: number; valid: number; seen: number; fresh: number };
  /** Each part's rows as indices into the raw table (D is train then valid). */
  readonly index: { readonly train: Int32Array; readonly valid: Int32Array; readonly seen: Int32Array; readonly fresh: Int32Array };
}

function shuffle<T>(a: T[], rng: Rng): T[] {
  rng.shuffle(a);
  return a;
}

/** How many of a group's n rows are held out at share s (at least one once n ≥ min). */
export function heldCount(n: number, s: number, min: number): number {
  return n >= min ? Math.min(n - 1, Math.max(1, Math.round(s * n))) : 0;
}

export function splitRepetition(raw: RawData, ds: RealDataset, seed: number, maxGroups = MAX_GROUPS): RepSplit {
  const rng = new Rng(seed);
  const byGroup = new Map<string, number[]>();
  raw.groupLabel.forEach((g, i) => {
    const rows = byGroup.get(g);
    if (rows) rows.push(i);
    else byGroup.set(g, [i]);
  });
  const chosen = shuffle([...byGroup.keys()], rng).slice(0, maxGroups);
  const nNew = Math.round(NEW_SHARE * chosen.length);
  const newGroups = chosen.slice(0, nNew), trainGroups = chosen.slice(nNew);
  const trainIdx: number[] = [], validIdx: number[] = [], seenIdx: number[] = [], freshIdx: number[] = [];
  const trainG: number[] = [], validG: number[] = [], seenG: number[] = [];
  trainGroups.forEach((g, k) => {
    const rows = shuffle([...byGroup.get(g)!], rng);
    const h = heldCount(rows.length, HELD_SHARE, 2);
    rows.slice(0, h).forEach((i) => (seenIdx.push(i), seenG.push(k)));
    const d = rows.slice(h);
    const v = heldCount(d.length, VALID_SHARE, 3);
    d.slice(0, v).forEach((i) => (validIdx.push(i), validG.push(k)));
    d.slice(v).forEach((i) => (trainIdx.push(i), trainG.push(k)));
  });
  for (const g of newGroups) freshIdx.push(...byGroup.get(g)!);
  const D = [...trainIdx, ...validIdx];

  // Columns: drop the mostly missing and the constant, from D alone.
  const p0 = raw.names.length, notes: string[] = [];
  const keep: { j: number; median: number; mean: number; sd: number }[] = [];
  for (let j = 0; j < p0; j++) {
    const vals = D.map((i) => raw.X[i * p0 + j]).filter((v) => !Number.isNaN(v));
    const missing = 1 - vals.length / D.length;
    if (missing > MAX_MISSING) {
      notes.push(`${raw.names[j]} dropped: ${(100 * missing).toFixed(1)} % missing in the training rows`);
      continue;
    }
    vals.sort((a, b) => a - b);
    const m = vals.length, median = m % 2 ? vals[(m - 1) / 2] : (vals[m / 2 - 1] + vals[m / 2]) / 2;
    const filled = D.map((i) => (Number.isNaN(raw.X[i * p0 + j]) ? median : raw.X[i * p0 + j]));
    const mean = filled.reduce((s, v) => s + v, 0) / filled.length;
    const sd = Math.sqrt(filled.reduce((s, v) => s + (v - mean) ** 2, 0) / (filled.length - 1));
    if (!(sd > 0)) {
      notes.push(`${raw.names[j]} dropped: constant in the training rows`);
      continue;
    }
    if (missing > 0) notes.push(`${raw.names[j]}: ${(100 * missing).toFixed(1)} % missing in the training rows, imputed with their median ${median}`);
    keep.push({ j, median, mean, sd });
  }
  // Indicators of rare levels can become aliased in a subsample of groups: the GLMM cannot
  // estimate such a column, so no method gets it (the same covariates for every method).
  {
    const P = keep.length, XD = new Float64Array(D.length * P);
    D.forEach((i, r) => keep.forEach((c, k) => (XD[r * P + k] = Number.isNaN(raw.X[i * p0 + c.j]) ? c.median : raw.X[i * p0 + c.j])));
    const rank = keptByRank(XD, D.length, keep.map((c) => raw.names[c.j]), true);
    for (const d of rank.droppedColumns) notes.push(`${d.name} dropped: ${d.reason} in the training rows`);
    const kept = rank.keep.map((k) => keep[k]);
    keep.length = 0;
    keep.push(...kept);
  }
  const p = keep.length;
  const yOf = (i: number) => {
    const v = raw.y[i];
    if (ds.logResponse && !(v > 0)) throw new Error(`${ds.name}: row ${i + 1}: the response ${v} has no logarithm`);
    return ds.logResponse ? Math.log(v) : v;
  };
  let yMean = 0, ySd = 1;
  if (ds.family === 'gaussian') {
    const ys = D.map(yOf);
    yMean = ys.reduce((s, v) => s + v, 0) / ys.length;
    ySd = Math.sqrt(ys.reduce((s, v) => s + (v - yMean) ** 2, 0) / (ys.length - 1));
  }
  const rows = (idx: readonly number[], grp: readonly number[] | null): Rows => {
    const X = new Float64Array(idx.length * p), y = new Float64Array(idx.length);
    idx.forEach((i, r) => {
      keep.forEach((c, k) => {
        const v = raw.X[i * p0 + c.j];
        X[r * p + k] = ((Number.isNaN(v) ? c.median : v) - c.mean) / c.sd;
      });
      y[r] = (yOf(i) - yMean) / ySd;
    });
    return { X, p, y, group: grp ? Int32Array.from(grp) : new Int32Array(idx.length).fill(-1) };
  };
  const train = rows(trainIdx, trainG), valid = rows(validIdx, validG);
  return {
    set: { family: ds.family, groups: trainGroups.length, train, valid },
    seen: rows(seenIdx, seenG),
    fresh: rows(freshIdx, null),
    all: rows(D, [...trainG, ...validG]),
    covariates: keep.map((c) => raw.names[c.j]),
    notes,
    counts: { groups: trainGroups.length, newGroups: newGroups.length, train: trainIdx.length, valid: validIdx.length, seen: seenIdx.length, fresh: freshIdx.length },
    index: { train: Int32Array.from(trainIdx), valid: Int32Array.from(validIdx), seen: Int32Array.from(seenIdx), fresh: Int32Array.from(freshIdx) },
  };
}
