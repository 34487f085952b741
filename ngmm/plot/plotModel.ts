// What a fitted model learned, drawn as one SVG (text, no DOM), in the spirit of mgcv's
// plot(gam) and lme4's dotplot(ranef(m, condVar = TRUE)):
//  - partial dependence of the fitted f on each numeric covariate: the covariate over its range
//    in the data (without data: the training mean ± 2 SD, which the model keeps), every other
//    numeric covariate at its median in the data (without data: its training mean) and every
//    factor at its reference level; f on the link scale, beside the model's own linear part
//    β₀ + xᵀβ at the same rows. For a linear model the two are the same line.
//  - the random effects' caterpillar plot: each level's conditional mean ± 2 conditional SDs,
//    sorted, one panel per term (the first column of each term: the intercept of a random-slope
//    term);
//  - observed against predicted (response scale) for the rows of a data table, when given.
// The numbers behind each panel are computed by the exported functions below, so they can be
// checked on their own; docs/plot.md says what is drawn and why.
import * as E from '../../engine/index';
import type { Table } from '../frame';
import type { Model } from '../model';
import { predictTable, type TablePrediction } from '../predictFormula';
import { extent, legend, openPanel, Svg } from './svg';

export interface PlotOptions {
  /** The table's name in messages. */
  source?: string;
  /** Points along each partial-dependence curve (default 101). */
  points?: number;
  /** The table's rows to draw (0-based; default all), as predictTable's `rows`. */
  rows?: readonly number[];
}

export interface DependenceCurve {
  /** The column of X varied. */
  covariate: string;
  x: Float64Array;
  /** The fitted f (link scale) at each x: a deep ensemble's mean of its members' f. */
  f: Float64Array;
  /** A deep ensemble's band: its members' f at each x, mean ∓ 2 SD (null for one network). */
  band: { lo: Float64Array; hi: Float64Array } | null;
  /**
   * A line to compare f with at the same rows: the linear GLMM's β₀ + xᵀβ, which the network
   * started from (kept by the fit as Model.glmm), or else the model's own linear part.
   */
  linear: Float64Array;
  /** Which line `linear` is. */
  linearIs: 'glmm' | 'linear part';
  /** Where x's range came from. */
  range: 'data' | 'training mean ± 2 SD';
}

export interface CaterpillarPanel {
  term: string;
  /** The effect's column (the intercept, or a slope's covariate for a `(0 + x | g)` term). */
  column: string;
  /** Levels sorted by their conditional mean, ascending. */
  rows: { level: string; mean: number; sd: number }[];
}

const needsDesign = (what: string) =>
  `plot: the model was fitted from arrays, not from a formula, so ${what}; fit it with a formula (fitFormula or ngmm fit --formula)`;

/** Columns of X that are a factor's indicator (`f=b`), by the design's factor names. */
function factorPart(model: Model, part: string): { key: string; level: string } | null {
  const levels = model.design!.levels;
  for (let k = part.indexOf('='); k > 0; k = part.indexOf('=', k + 1)) {
    const key = part.slice(0, k);
    if (Object.hasOwn(levels, key)) return { key, level: part.slice(k + 1) };
  }
  return null;
}

/** The numeric covariates: columns of X that are neither a factor's indicator nor an interaction. */
export function numericCovariates(model: Model): string[] {
  if (!model.design) throw new Error(needsDesign('its columns are not known to be covariates or factor levels'));
  return model.xNames.filter((name) => !name.includes(':') && factorPart(model, name) === null);
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The partial-dependence curves of f, one per numeric covariate (see the file's head). `frame`:
 * the data's rows as the model reads them (from predictTable), or null for the training scale.
 */
export function partialDependence(model: Model, frame: TablePrediction['frame'] | null, points = 101): DependenceCurve[] {
  const names = numericCovariates(model);
  const p = model.xNames.length;
  const n = frame ? frame.rows.length : 0;
  const column = (j: number) => Array.from({ length: n }, (_, i) => frame!.X[i * p + j]);
  const held = new Map<string, number>();
  const range = new Map<string, [number, number]>();
  for (const name of names) {
    const j = model.xNames.indexOf(name);
    if (frame && n > 0) {
      const v = column(j);
      held.set(name, median(v));
      range.set(name, [Math.min(...v), Math.max(...v)]);
    } else {
      held.set(name, model.mean[j]);
      range.set(name, [model.mean[j] - 2 * model.sd[j], model.mean[j] + 2 * model.sd[j]]);
    }
  }
  // A column's value at the held row with `name` set to v: an interaction is the product of
  // its parts, a factor's indicator is 1 at the reference level (coded in full without an
  // intercept) and 0 otherwise, a part that is no main column is held at its training mean.
  const value = (c: number, name: string, v: number): number => {
    let out = 1;
    for (const part of model.xNames[c].split(':')) {
      const fp = factorPart(model, part);
      if (fp) out *= model.design!.levels[fp.key][0] === fp.level ? 1 : 0;
      else if (part === name) out *= v;
      else if (held.has(part)) out *= held.get(part)!;
      else return model.mean[c];
    }
    return out;
  };
  const coef = model.glmm ?? model.coefficients();
  const icpt = model.spec.intercept ? coef[0].value : 0;
  const beta = coef.slice(model.spec.intercept ? 1 : 0).map((c) => c.value);
  const all = [model, ...model.members];
  return names.map((name) => {
    const [lo, hi] = range.get(name)!;
    const m = lo === hi ? 1 : points;
    const x = Float64Array.from({ length: m }, (_, i) => (m === 1 ? lo : lo + ((hi - lo) * i) / (m - 1)));
    const X = new Float64Array(m * p);
    const linear = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let l = icpt;
      for (let c = 0; c < p; c++) {
        X[i * p + c] = value(c, name, x[i]);
        l += beta[c] * X[i * p + c];
      }
      linear[i] = l;
    }
    const Xs = model.standardise(X);
    const fs = all.map((mk) => Float64Array.from(E.tidy(() => mk.f(E.tensor(Xs, [m, p])).toArray())));
    const K = fs.length;
    const f = Float64Array.from({ length: m }, (_, i) => fs.reduce((a, v) => a + v[i], 0) / K);
    let band: DependenceCurve['band'] = null;
    if (K > 1) {
      const sd = Float64Array.from({ length: m }, (_, i) => Math.sqrt(fs.reduce((a, v) => a + (v[i] - f[i]) ** 2, 0) / (K - 1)));
      band = { lo: f.map((v, i) => v - 2 * sd[i]), hi: f.map((v, i) => v + 2 * sd[i]) };
    }
    return { covariate: name, x, f, band, linear, linearIs: model.glmm ? 'glmm' : 'linear part', range: frame && n > 0 ? 'data' : 'training mean ± 2 SD' };
  });
}

/** Each random-effect term's levels, sorted by conditional mean, with their conditional SDs. */
export function caterpillar(model: Model): CaterpillarPanel[] {
  const sorted = (rows: CaterpillarPanel['rows']) => rows.sort((a, b) => a.mean - b.mean || (a.level < b.level ? -1 : 1));
  if (model.random.kind === 'terms') {
    const all = model.random.ranef();
    return model.random.terms.map((t) => ({
      term: t.name,
      column: t.columns[0],
      rows: sorted(all.filter((r) => r.term === t.name && r.columns.join(',') === t.columns.join(',')).map((r) => ({ level: r.group, mean: r.effects[0], sd: r.sds[0] }))),
    }));
  }
  const term = model.design ? model.design.formula.match(/\|\s*([^)\s]+)\s*\)/)?.[1] ?? 'group' : 'group';
  return [{ term, column: '(Intercept)', rows: sorted(model.random.ranef().map((r) => ({ level: r.group, mean: r.mean, sd: r.sd }))) }];
}

const COLORS = { f: '#1f5fa8', linear: '#c2571a', seen: '#1f5fa8', unseen: '#c2571a', interval: '#1f5fa8' };
const PW = 380, PH = 280, COLS = 2;

/**
 * One SVG with every panel: partial dependence per numeric covariate, the caterpillar plot per
 * random-effect term and, with a table, observed against predicted. The model must have been
 * fitted from a formula (its design names the covariates and factor levels).
 */
export function plotModel(model: Model, table?: Table, o: PlotOptions = {}): string {
  const source = o.source ?? 'data';
  if (!model.design) throw new Error(needsDesign(table ? `it cannot read ${source}` : 'its columns are not known to be covariates or factor levels'));
  const pred = table ? predictTable(model, table, { response: true, source, ...(o.rows ? { rows: o.rows } : {}) }) : null;
  if (pred && pred.frame.rows.length === 0) throw new Error(`${source}: no rows left to plot after dropping rows with missing values`);
  const curves = partialDependence(model, pred ? pred.frame : null, o.points ?? 101);
  const cats = caterpillar(model);
  const link = model.spec.link;
  const response = model.design.formula.split('~')[0].trim();
  const nPanels = curves.length + cats.length + (pred ? 1 : 0);
  const rows = Math.ceil(nPanels / COLS);
  const top = 58;
  const W = COLS * PW + 20, H = top + rows * PH + 10;
  const svg = new Svg(W, H);
  svg.text(W / 2, 24, `What the model learned: ${model.design.formula}`, { 'text-anchor': 'middle', 'font-size': 15, 'font-weight': 'bold', fill: '#111' });
  const kind = model.isLinear ? 'linear GLMM' : `NGMM, hidden [${model.spec.hidden.join(', ')}]`;
  svg.text(W / 2, 42, `${model.spec.family} family, ${link} link; ${kind}; ${model.nobs} training rows${pred ? `; data: ${source}, ${pred.frame.rows.length} rows` : ''}`, { 'text-anchor': 'middle', 'font-size': 12, fill: '#444' });
  let k = 0;
  const box = () => {
    const r = Math.floor(k / COLS), c = k % COLS;
    k++;
    return { x: 10 + c * PW, y: top + r * PH, width: PW, height: PH };
  };

  for (const cv of curves) {
    const xd = extent(cv.x, 0), yd = extent([...cv.f, ...cv.linear, ...(cv.band ? [...cv.band.lo, ...cv.band.hi] : [])], 0.08);
    const f = openPanel(svg, {
      ...box(), title: `Partial dependence on ${cv.covariate}`, xLabel: `${cv.covariate}${cv.range === 'data' ? '' : ' (training mean ± 2 SD)'}`, yLabel: `f(x), ${link} scale`,
      xDomain: xd, yDomain: yd, attrs: { class: 'panel dependence', 'data-covariate': cv.covariate },
    });
    const pts = (v: Float64Array) => Array.from(cv.x, (x, i) => [f.x(x), f.y(v[i])] as const);
    if (cv.band) {
      // The band as one closed outline: along the upper edge, back along the lower one.
      const outline = [...pts(cv.band.hi), ...pts(cv.band.lo).reverse()];
      svg.path(outline, { class: 'band', fill: COLORS.f, 'fill-opacity': 0.18, stroke: 'none' });
    }
    svg.path(pts(cv.linear), { class: 'linear', stroke: COLORS.linear, 'stroke-width': 2, 'stroke-dasharray': '6 4' });
    svg.path(pts(cv.f), { class: 'curve', stroke: COLORS.f, 'stroke-width': 2 });
    const K = model.members.length + 1;
    legend(svg, f, [
      { label: K > 1 ? `fitted f, mean of ${K} networks` : 'fitted f', color: COLORS.f },
      ...(cv.band ? [{ label: 'ensemble ± 2 SD of the networks', color: COLORS.f, dot: true }] : []),
      { label: cv.linearIs === 'glmm' ? 'linear GLMM β₀ + xᵀβ' : model.isLinear ? 'linear part β₀ + xᵀβ (f itself)' : 'linear part β₀ + xᵀβ', color: COLORS.linear, dash: '6 4' },
    ], [...pts(cv.f), ...pts(cv.linear), ...(cv.band ? [...pts(cv.band.lo), ...pts(cv.band.hi)] : [])]);
    svg.close();
  }

  for (const cat of cats) {
    const n = cat.rows.length;
    const xd = extent(cat.rows.flatMap((r) => [r.mean - 2 * r.sd, r.mean + 2 * r.sd, 0]), 0.05);
    const labelled = n <= 30;
    const f = openPanel(svg, {
      ...box(), title: `Random effects: ${cat.column === '(Intercept)' ? '' : `${cat.column} | `}${cat.term} (${n} levels)`,
      xLabel: `conditional mean ± 2 SD, ${link} scale`, yLabel: labelled ? '' : `${cat.term} (sorted)`,
      xDomain: xd, yDomain: [-0.5, Math.max(n, 1) - 0.5], noYTicks: true,
      attrs: { class: 'panel caterpillar', 'data-term': cat.term },
    }, labelled ? { left: 62 } : {});
    svg.line(f.x(0), f.top, f.x(0), f.bottom, { stroke: '#777', 'stroke-dasharray': '4 3' });
    cat.rows.forEach((r, i) => {
      const y = f.y(i);
      svg.line(f.x(r.mean - 2 * r.sd), y, f.x(r.mean + 2 * r.sd), y, { class: 'interval', 'data-level': r.level, stroke: COLORS.interval, 'stroke-width': n > 60 ? 1 : 1.5 });
      svg.circle(f.x(r.mean), y, n > 60 ? 1.2 : 2.5, { fill: '#111' });
      if (labelled) svg.text(f.left - 5, y + 3.5, r.level.length > 9 ? `${r.level.slice(0, 8)}…` : r.level, { 'text-anchor': 'end', 'font-size': 10, fill: '#333' });
    });
    svg.close();
  }

  if (pred) {
    const fr = pred.frame;
    // A binomial cbind(k, n − k) response is drawn as the proportion k / n.
    const successes = response.match(/^cbind\(\s*([^,]+?)\s*,/)?.[1] ?? response;
    const observed = Float64Array.from(fr.y, (y, i) => (fr.trials ? y / fr.trials[i] : y));
    const d = extent([...observed, ...pred.prediction], 0.05);
    const f = openPanel(svg, {
      ...box(), title: `Observed against predicted (${source})`,
      xLabel: fr.trials ? 'predicted success probability' : `predicted E[${response}]`,
      yLabel: fr.trials ? `observed ${successes} / trials` : `observed ${response}`,
      xDomain: d, yDomain: d, attrs: { class: 'panel observed' },
    });
    svg.line(f.x(d[0]), f.y(d[0]), f.x(d[1]), f.y(d[1]), { stroke: '#777', 'stroke-dasharray': '4 3' });
    const small = observed.length > 2000;
    const at = Array.from(observed, (o, i) => [f.x(pred.prediction[i]), f.y(o)] as const);
    for (let i = 0; i < observed.length; i++) {
      svg.circle(at[i][0], at[i][1], small ? 1 : observed.length > 200 ? 2 : 3, { class: `point ${pred.seen[i] ? 'seen' : 'new'}`, fill: pred.seen[i] ? COLORS.seen : COLORS.unseen, 'fill-opacity': 0.55 });
    }
    const items = [{ label: 'training group (its posterior)', color: COLORS.seen, dot: true }];
    if (pred.seen.some((s) => !s)) items.push({ label: 'new group (the prior)', color: COLORS.unseen, dot: true });
    legend(svg, f, items, at);
    svg.close();
  }
  return svg.toString();
}
