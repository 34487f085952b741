// The demo's data, split for fitting and checking: training rows, held-out rows of training
// groups ("observed") and all rows of held-out groups ("new"). Simulated data comes from
// ngmm/simulate.ts with the true means as the truth; a dropped CSV goes through the same
// formula and model frame as the CLI, and its observed responses are the truth.
import type { ModelData } from '../../ngmm/data';
import { readCsvTable } from '../../ngmm/csv';
import { parseFormula } from '../../ngmm/formula';
import { modelFrame } from '../../ngmm/frame';
import { simulate, type SimulatedFamily } from '../../ngmm/simulate';

export interface HeldOut {
  X: Float64Array;
  group: string[];
  truth: Float64Array;
}

export interface DemoData {
  train: ModelData;
  observed: HeldOut;
  fresh: HeldOut;
  /** What the truth is: the simulation's mean, or the observed response. */
  truthLabel: string;
  trueEffects?: ReadonlyMap<string, number>;
  randomSlopes: string[];
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
    observed: { X: d.observed.X, group: d.observed.group, truth: d.observed.mu },
    fresh: { X: d.fresh.X, group: d.fresh.group, truth: d.fresh.mu },
    truthLabel: 'true mean E[y | x, b]',
    trueEffects: new Map(bs.map(([g, b]) => [g, b - centre])),
    randomSlopes: [],
    description: `simulated ${family}: ${groups} groups × ${perGroup} rows, seed ${seed}`,
  };
}

/** A CSV file and an lme4-style formula; the last 20 % of groups and of rows are held out. */
export function fromCsv(text: string, fileName: string, formula: string): DemoData {
  const table = readCsvTable(text, { source: fileName });
  const frame = modelFrame(parseFormula(formula), table, fileName);
  if (frame.trials) throw new Error('binomial counts (cbind) are not offered in the demo: use a 0/1 response with bernoulli');
  const p = frame.xNames.length;
  const rowsOf = new Map<string, number[]>();
  frame.group.forEach((g, i) => (rowsOf.get(g) ?? rowsOf.set(g, []).get(g)!).push(i));
  const labels = [...rowsOf.keys()];
  if (labels.length < 5) throw new Error(`${fileName}: ${labels.length} groups in '${frame.groupName}'; the demo holds out 20 % of them and needs at least 5`);
  const split = { train: [] as number[], observed: [] as number[], fresh: [] as number[] };
  labels.forEach((g, k) => {
    const rows = rowsOf.get(g)!;
    if (k >= labels.length * 0.8) split.fresh.push(...rows);
    else rows.forEach((r, j) => (j < Math.max(2, Math.ceil(rows.length * 0.8)) ? split.train : split.observed).push(r));
  });
  const take = (rows: number[]) => ({
    X: Float64Array.from(rows.flatMap((r) => Array.from(frame.X.subarray(r * p, r * p + p)))),
    group: rows.map((r) => frame.group[r]),
    y: Float64Array.from(rows, (r) => frame.y[r]),
  });
  const t = take(split.train), o = take(split.observed), f = take(split.fresh);
  return {
    train: { X: t.X, xNames: frame.xNames, y: t.y, group: t.group },
    observed: { X: o.X, group: o.group, truth: o.y },
    fresh: { X: f.X, group: f.group, truth: f.y },
    truthLabel: `observed ${formula.split('~')[0].trim()}`,
    randomSlopes: frame.slopes,
    description: `${fileName}: ${frame.y.length} rows, ${labels.length} groups of '${frame.groupName}'`,
  };
}
