// plotModel: the SVG parses as XML, and the numbers drawn are the model's, read back from the
// coordinates through each panel's axis scale: one partial-dependence curve per numeric
// covariate over the data's range (training mean ± 2 SD without data) with f's values, the
// caterpillar's intervals equal to ranef() ± 2 SD in sorted order, one observed/predicted
// point per row the model reads. Coordinates are written to 0.01 px, so a value read back is
// within 0.005 px of the truth: the tolerance is 0.006 px in data units (the scale's slope).
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random';
import { fitFormula, Model, plotModel, readCsvTable, type CsvTable } from '../../ngmm/index';
import { findAll, hasClass, parseXml, type XmlElement } from '../helpers/xml';

interface Axis { d: [number, number]; r: [number, number] }
const pair = (s: string) => s.split(' ').map(Number) as [number, number];
const axes = (panel: XmlElement) => ({
  x: { d: pair(panel.attrs['data-x-domain']), r: pair(panel.attrs['data-x-range']) },
  y: { d: pair(panel.attrs['data-y-domain']), r: pair(panel.attrs['data-y-range']) },
});
const invert = (a: Axis, px: number) => a.d[0] + ((px - a.r[0]) / (a.r[1] - a.r[0])) * (a.d[1] - a.d[0]);
const tol = (a: Axis) => (0.006 * Math.abs(a.d[1] - a.d[0])) / Math.abs(a.r[1] - a.r[0]);
const pathPoints = (p: XmlElement) => p.attrs.d.trim().split(/\s+/).map((s) => s.slice(1).split(',').map(Number) as [number, number]);
const panels = (root: XmlElement, cls: string) => findAll(root, (e) => e.name === 'g' && hasClass(e, 'panel') && hasClass(e, cls));
const children = (e: XmlElement, name: string, cls: string) => findAll(e, (c) => c.name === name && hasClass(c, cls));
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// y = 1 + 0.3·x1 − 0.5·x2 + 0.4·[kind = b] + school + term2 + noise; x1 on [2, 12] so its
// range is not the standardised one.
function simulate(seed: number, groups: number, perGroup: number): { csv: string[]; x1: number[]; x2: number[] } {
  const rng = new Rng(seed);
  const csv = ['y,x1,x2,school,kind,site'], x1: number[] = [], x2: number[] = [];
  const site = [0.6, -0.2, 0.1, -0.5];
  for (let g = 0; g < groups; g++) {
    const b = rng.normal();
    for (let j = 0; j < perGroup; j++) {
      const a = 2 + 10 * rng.uniform(), c = rng.normal(), k = rng.uniform() < 0.5 ? 'a' : 'b', s = (g + j) % 4;
      x1.push(a);
      x2.push(c);
      csv.push(`${1 + 0.3 * a - 0.5 * c + (k === 'b' ? 0.4 : 0) + b + site[s] + 0.3 * rng.normal()},${a},${c},s${g},${k},w${s}`);
    }
  }
  return { csv, x1, x2 };
}

describe('plotModel', () => {
  let model: Model, table: CsvTable, svg: string, root: XmlElement, kept: { x1: number[]; x2: number[] };
  beforeAll(() => {
    const sim = simulate(11, 10, 12);
    const train = readCsvTable(sim.csv.join('\n'));
    model = fitFormula(train, 'y ~ x1 + x2 + kind + (1 | school)', { family: 'gaussian' }, {}, 'train.csv').model;
    // The plotted table: the training rows, two rows of a new group, and a row without a
    // response (dropped, as na.omit) whose x1 lies far outside the others.
    const extra = ['1.5,4,0.3,s99,a,w0', '2.5,6,-0.2,s99,b,w1', ',100,0,s1,a,w0'];
    table = readCsvTable([...sim.csv, ...extra].join('\n'));
    kept = { x1: [...sim.x1, 4, 6], x2: [...sim.x2, 0.3, -0.2] };
    svg = plotModel(model, table, { source: 'plot.csv' });
    root = parseXml(svg);
  });

  it('is one well-formed SVG document with a title naming the formula', () => {
    expect(root.name).toBe('svg');
    expect(findAll(root, (e) => e.name === 'text').some((t) => t.text.includes('y ~ x1 + x2 + kind + (1 | school)'))).toBe(true);
  });

  it('draws one partial-dependence curve per numeric covariate over the data range, f read back equal to the fitted linear f', () => {
    const pd = panels(root, 'dependence');
    // kind is a factor: held at its reference level, not a curve.
    expect(pd.map((p) => p.attrs['data-covariate'])).toEqual(['x1', 'x2']);
    const coef = new Map(model.coefficients().map((c) => [c.name, c.value]));
    const held = { x1: median(kept.x1), x2: median(kept.x2) };
    for (const p of pd) {
      const name = p.attrs['data-covariate'] as 'x1' | 'x2';
      const { x, y } = axes(p);
      const curves = children(p, 'path', 'curve');
      expect(curves).toHaveLength(1);
      const pts = pathPoints(curves[0]);
      expect(pts.length).toBeGreaterThan(20);
      // The range of the rows the model reads (the dropped row's x1 = 100 is not among them).
      expect(Math.abs(invert(x, pts[0][0]) - Math.min(...kept[name]))).toBeLessThan(tol(x));
      expect(Math.abs(invert(x, pts[pts.length - 1][0]) - Math.max(...kept[name]))).toBeLessThan(tol(x));
      // The linear model's f, the other covariate at its median and kind at its reference.
      for (const [px, py] of pts) {
        const v = invert(x, px);
        const other = name === 'x1' ? 'x2' : 'x1';
        const want = coef.get('(Intercept)')! + coef.get(name)! * v + coef.get(other)! * held[other];
        expect(Math.abs(invert(y, py) - want)).toBeLessThan(tol(y) + Math.abs(coef.get(name)!) * tol(x));
      }
      // For a linear model the linear part is f itself.
      const lin = children(p, 'path', 'linear');
      expect(lin).toHaveLength(1);
      expect(lin[0].attrs.d).toBe(curves[0].attrs.d);
    }
  });

  it("draws the caterpillar: one interval per level, sorted, equal to ranef() ± 2 SD", () => {
    const [cat] = panels(root, 'caterpillar');
    expect(cat.attrs['data-term']).toBe('school');
    const { x, y } = axes(cat);
    const iv = children(cat, 'line', 'interval');
    const re = model.ranef();
    expect(iv).toHaveLength(re.length);
    const byLevel = new Map(re.map((r) => [r.group, r]));
    expect(new Set(iv.map((l) => l.attrs['data-level']))).toEqual(new Set(byLevel.keys()));
    let prevMean = -Infinity, prevY = Infinity;
    for (const l of iv) {
      const r = byLevel.get(l.attrs['data-level'])!;
      expect(Math.abs(invert(x, Number(l.attrs.x1)) - (r.mean - 2 * r.sd))).toBeLessThan(tol(x));
      expect(Math.abs(invert(x, Number(l.attrs.x2)) - (r.mean + 2 * r.sd))).toBeLessThan(tol(x));
      // Sorted by the conditional mean, each level one row further up.
      expect(r.mean).toBeGreaterThanOrEqual(prevMean);
      const yy = Number(l.attrs.y1);
      expect(yy).toBeLessThan(prevY);
      expect(invert(y, yy)).toBeCloseTo(iv.indexOf(l), 2);
      prevMean = r.mean;
      prevY = yy;
    }
  });

  it('draws one observed/predicted point per row the model reads, new groups apart', () => {
    const [obs] = panels(root, 'observed');
    const pts = children(obs, 'circle', 'point');
    // 120 training rows and 2 of a new group; the row without a response is dropped.
    expect(pts).toHaveLength(122);
    expect(pts.filter((c) => hasClass(c, 'new'))).toHaveLength(2);
    const { x, y } = axes(obs);
    // The first new-group row: observed 1.5, predicted with the prior (the school effect's mean 0).
    const c = pts.filter((p) => hasClass(p, 'new'))[0];
    expect(Math.abs(invert(y, Number(c.attrs.cy)) - 1.5)).toBeLessThan(tol(y));
    const pred = model.predict([4, 0.3, 0], { groups: 'new' })[0];
    expect(Math.abs(invert(x, Number(c.attrs.cx)) - pred)).toBeLessThan(tol(x));
  });

  it('without data: no observed panel, curves over the training mean ± 2 SD', () => {
    const r = parseXml(plotModel(model));
    expect(panels(r, 'observed')).toHaveLength(0);
    const [p] = panels(r, 'dependence');
    const { x } = axes(p);
    const pts = pathPoints(children(p, 'path', 'curve')[0]);
    const m = kept.x1.slice(0, 120).reduce((a, b) => a + b, 0) / 120;
    expect(Math.abs(invert(x, pts[0][0]) - (m - 2 * model.sd[0]))).toBeLessThan(tol(x));
    expect(Math.abs(invert(x, pts[pts.length - 1][0]) - (m + 2 * model.sd[0]))).toBeLessThan(tol(x));
  });
});

// Draws a network model of x1, x2 without data, its networks enlarged so that f bends visibly
// away from a line (an untrained network's last layer is scaled by 0.1 in Model's constructor):
// each partial-dependence panel's axes, curve and dashed line.
function drawBent(m: Model, points: number) {
  for (const k of [m, ...m.members]) for (const w of k.net!.weights) for (let i = 0; i < w.data.length; i++) w.data[i] *= 3;
  m.design = { formula: 'y ~ x1 + x2 + (1 | g)', levels: Object.create(null), xNames: ['x1', 'x2'] };
  const root = parseXml(plotModel(m, undefined, { points }));
  const pd = panels(root, 'dependence');
  expect(pd).toHaveLength(2);
  return { root, pd: pd.map((p) => ({ p, ...axes(p), pts: pathPoints(children(p, 'path', 'curve')[0]), lin: pathPoints(children(p, 'path', 'linear')[0]) })) };
}

describe('plotModel with a network f', () => {
  it("draws f (the network's, as predict's link for a new group), not the linear part", () => {
    const mean = Float64Array.from([5, -1]), sd = Float64Array.from([2, 0.5]);
    const m = new Model({ family: 'gaussian', hidden: [6], activation: 'tanh', seed: 4 }, ['x1', 'x2'], mean, sd);
    const { pd } = drawBent(m, 41);
    pd.forEach(({ x, y, pts, lin }, j) => {
      expect(pts).toHaveLength(41);
      expect(Math.abs(invert(x, pts[0][0]) - (mean[j] - 2 * sd[j]))).toBeLessThan(tol(x));
      expect(Math.abs(invert(x, pts[40][0]) - (mean[j] + 2 * sd[j]))).toBeLessThan(tol(x));
      const X = pts.flatMap(([px]) => (j === 0 ? [invert(x, px), mean[1]] : [mean[0], invert(x, px)]));
      const f = m.predict(X, { groups: 'new', type: 'link' });
      // The x read back is off by at most tol(x): f's slope times it bounds the change in f.
      const slope = Math.max(...pts.slice(1).map((q, i) => Math.abs(invert(y, q[1]) - invert(y, pts[i][1])) / Math.max(1e-12, invert(x, q[0]) - invert(x, pts[i][0]))));
      pts.forEach(([, py], i) => expect(Math.abs(invert(y, py) - f[i])).toBeLessThan(tol(y) + 2 * slope * tol(x)));
      expect(Math.max(...pts.map((q, i) => Math.abs(q[1] - lin[i][1])))).toBeGreaterThan(5);
    });
    m.dispose();
  });
});

describe('plotModel with a deep ensemble', () => {
  it("draws the members' mean f, a band of ± 2 SD of their f, and the linear GLMM's line", () => {
    const mean = Float64Array.from([5, -1]), sd = Float64Array.from([2, 0.5]);
    const spec = { family: 'gaussian' as const, hidden: [6], activation: 'tanh' as const, seed: 4 };
    const all = [0, 1, 2].map((k) => new Model(spec, ['x1', 'x2'], mean, sd, 4 + k));
    const [m, ...members] = all;
    m.members = members;
    m.glmm = [{ name: '(Intercept)', value: 0.5 }, { name: 'x1', value: 0.25 }, { name: 'x2', value: -2 }];
    const { root, pd } = drawBent(m, 31);
    pd.forEach(({ x, y, pts, lin, p }, j) => {
      const band = pathPoints(children(p, 'path', 'band')[0]);
      expect(band).toHaveLength(62);
      const X = pts.flatMap(([px]) => (j === 0 ? [invert(x, px), mean[1]] : [mean[0], invert(x, px)]));
      const each = all.map((k) => {
        const one = new Model(spec, ['x1', 'x2'], mean, sd);
        one.parameters().forEach((t, i) => t.data.set(k.parameters()[i].data));
        const f = one.predict(X, { groups: 'new', type: 'link' });
        one.dispose();
        return f;
      });
      const slope = Math.max(...pts.slice(1).map((q, i) => Math.abs(invert(y, q[1]) - invert(y, pts[i][1])) / Math.max(1e-12, invert(x, q[0]) - invert(x, pts[i][0]))));
      const near = (py: number, v: number) => expect(Math.abs(invert(y, py) - v)).toBeLessThan(tol(y) + 4 * slope * tol(x));
      pts.forEach(([px, py], i) => {
        const v = each.map((f) => f[i]);
        const mu = (v[0] + v[1] + v[2]) / 3;
        const s = Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / 2);
        near(py, mu);
        // The outline runs along the upper edge, then back along the lower one.
        near(band[i][1], mu + 2 * s);
        near(band[61 - i][1], mu - 2 * s);
        const xv = invert(x, px);
        near(lin[i][1], 0.5 + 0.25 * (j === 0 ? xv : mean[0]) - 2 * (j === 1 ? xv : mean[1]));
      });
    });
    const legendText = findAll(root, (e) => e.name === 'text').map((e) => e.text).join('\n');
    expect(legendText).toMatch(/fitted f, mean of 3 networks/);
    expect(legendText).toMatch(/linear GLMM/);
    m.dispose();
  });
});

describe('plotModel with several random-effect terms', () => {
  it('draws one caterpillar per term, each equal to its ranef() ± 2 SD', () => {
    const t = readCsvTable(simulate(12, 10, 8).csv.join('\n'));
    const m = fitFormula(t, 'y ~ x1 + (1 | school) + (1 | site)', { family: 'gaussian' }, {}, 'crossed.csv').model;
    const root = parseXml(plotModel(m, t));
    const cats = panels(root, 'caterpillar');
    expect(cats.map((c) => c.attrs['data-term']).sort()).toEqual(['school', 'site']);
    const re = m.ranef() as { term: string; group: string; mean: number; sd: number }[];
    for (const cat of cats) {
      const mine = re.filter((r) => r.term === cat.attrs['data-term']);
      const iv = children(cat, 'line', 'interval');
      expect(iv).toHaveLength(mine.length);
      expect(iv.map((l) => l.attrs['data-level'])).toEqual([...mine].sort((a, b) => a.mean - b.mean).map((r) => r.group));
      const { x } = axes(cat);
      for (const l of iv) {
        const r = mine.find((q) => q.group === l.attrs['data-level'])!;
        expect(Math.abs(invert(x, Number(l.attrs.x1)) - (r.mean - 2 * r.sd))).toBeLessThan(tol(x));
        expect(Math.abs(invert(x, Number(l.attrs.x2)) - (r.mean + 2 * r.sd))).toBeLessThan(tol(x));
      }
    }
    expect(children(panels(root, 'observed')[0], 'circle', 'point')).toHaveLength(80);
    m.dispose();
  });
});

describe('plotModel: bad input', () => {
  it('a model fitted from arrays (no design) is refused with one message', () => {
    const m = new Model({ family: 'gaussian' }, ['x'], Float64Array.from([0]), Float64Array.from([1]));
    expect(() => plotModel(m)).toThrow(/^plot: the model was fitted from arrays, not from a formula, so its columns are not known to be covariates or factor levels; fit it with a formula/);
    const t = readCsvTable('y,x,g\n1,2,a\n');
    expect(() => plotModel(m, t, { source: 'd.csv' })).toThrow(/^plot: the model was fitted from arrays, not from a formula, so it cannot read d\.csv/);
    m.dispose();
  });

  it('a table without a column the formula uses names the file and the column', () => {
    const t = readCsvTable(simulate(13, 4, 5).csv.join('\n'));
    const m = fitFormula(t, 'y ~ x1 + x2 + (1 | school)', { family: 'gaussian' }).model;
    const bad = readCsvTable('y,x1,school\n1,2,s0\n');
    expect(() => plotModel(m, bad, { source: 'bad.csv' })).toThrow(/bad\.csv.*x2/);
    m.dispose();
  });
});

describe('the XML reader used here', () => {
  it('rejects what is not well-formed', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow(/closes <g>/);
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow(/bare '&'/);
    expect(() => parseXml('<svg a="1" a="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<svg x=1/>')).toThrow(/not quoted/);
    expect(() => parseXml('<svg/><svg/>')).toThrow(/after the root/);
    expect(parseXml('<svg><text x="&lt;1">a &amp; b</text></svg>').children[0]).toMatchObject({ name: 'text', attrs: { x: '<1' }, text: 'a & b' });
  });
});

describe('plotModel with a binomial cbind(k, n − k) response', () => {
  it('draws each row at its observed proportion k / n', () => {
    const rng = new Rng(21);
    const rows = ['k,n,x,g'], props: number[] = [];
    for (let g = 0; g < 6; g++) {
      for (let j = 0; j < 6; j++) {
        const n = 3 + j, x = rng.normal();
        let k = 0;
        for (let t = 0; t < n; t++) k += rng.uniform() < 1 / (1 + Math.exp(-(0.2 + 0.8 * x))) ? 1 : 0;
        rows.push(`${k},${n},${x},g${g}`);
        props.push(k / n);
      }
    }
    const t = readCsvTable(rows.join('\n'));
    const m = fitFormula(t, 'cbind(k, n - k) ~ x + (1 | g)', { family: 'binomial' }).model;
    const root = parseXml(plotModel(m, t));
    const [obs] = panels(root, 'observed');
    const { y } = axes(obs);
    const read = children(obs, 'circle', 'point').map((c) => invert(y, Number(c.attrs.cy)));
    expect(read).toHaveLength(props.length);
    read.forEach((v, i) => expect(Math.abs(v - props[i])).toBeLessThan(tol(y)));
    expect(findAll(obs, (e) => e.name === 'text').map((e) => e.text)).toContain('observed k / trials');
    m.dispose();
  });
});

describe('plotModel: other designs', () => {
  const t = readCsvTable(simulate(31, 8, 8).csv.join('\n'));

  it('an interaction with a factor is held at the reference level; no covariate, no curve', () => {
    const m = fitFormula(t, 'y ~ x1 * kind + (1 | school)', { family: 'gaussian' }).model;
    const coef = new Map(m.coefficients().map((c) => [c.name, c.value]));
    expect([...coef.keys()]).toEqual(['(Intercept)', 'x1', 'kind=b', 'x1:kind=b']);
    const [p] = panels(parseXml(plotModel(m)), 'dependence');
    expect(p.attrs['data-covariate']).toBe('x1');
    const { x, y } = axes(p);
    for (const [px, py] of pathPoints(children(p, 'path', 'curve')[0])) {
      const want = coef.get('(Intercept)')! + coef.get('x1')! * invert(x, px);
      expect(Math.abs(invert(y, py) - want)).toBeLessThan(tol(y) + Math.abs(coef.get('x1')!) * tol(x));
    }
    m.dispose();
    const m0 = fitFormula(t, 'y ~ 1 + (1 | school)', { family: 'gaussian' }).model;
    const root = parseXml(plotModel(m0, t));
    expect(panels(root, 'dependence')).toHaveLength(0);
    expect(children(panels(root, 'caterpillar')[0], 'line', 'interval')).toHaveLength(8);
    m0.dispose();
  });

  it("a random-slope term's caterpillar is its intercept: ranef()'s effects[0] ± 2 sds[0]", () => {
    const m = fitFormula(t, 'y ~ x1 + (1 + x1 | school)', { family: 'gaussian' }).model;
    const [cat] = panels(parseXml(plotModel(m)), 'caterpillar');
    const { x } = axes(cat);
    const re = new Map((m.ranef() as { group: string; effects?: number[]; sds?: number[] }[]).map((r) => [r.group, r]));
    const iv = children(cat, 'line', 'interval');
    expect(iv).toHaveLength(8);
    for (const l of iv) {
      const r = re.get(l.attrs['data-level'])!;
      expect(r.effects).toHaveLength(2);
      expect(Math.abs(invert(x, Number(l.attrs.x1)) - (r.effects![0] - 2 * r.sds![0]))).toBeLessThan(tol(x));
      expect(Math.abs(invert(x, Number(l.attrs.x2)) - (r.effects![0] + 2 * r.sds![0]))).toBeLessThan(tol(x));
    }
    m.dispose();
  });
});

describe('plotModel: names and numeric interactions', () => {
  it('a numeric interaction varies with the covariate; names with XML characters are escaped', () => {
    const sim = simulate(41, 6, 8);
    const csv = sim.csv.map((l, i) => (i === 0 ? l.replace('x2', 'dose<mg>') : l.replace(/,s(\d+),/, ',"s&$1",')));
    const t = readCsvTable(csv.join('\n'));
    const m = fitFormula(t, 'y ~ x1 * `dose<mg>` + (1 | school)', { family: 'gaussian' }).model;
    const coef = new Map(m.coefficients().map((c) => [c.name, c.value]));
    expect([...coef.keys()]).toEqual(['(Intercept)', 'x1', 'dose<mg>', 'x1:dose<mg>']);
    const root = parseXml(plotModel(m, t));
    expect(panels(root, 'dependence').map((p) => p.attrs['data-covariate'])).toEqual(['x1', 'dose<mg>']);
    expect(children(panels(root, 'caterpillar')[0], 'line', 'interval').map((l) => l.attrs['data-level']).every((s) => /^s&\d$/.test(s))).toBe(true);
    const held = median(sim.x2);
    const p = panels(root, 'dependence')[0];
    const { x, y } = axes(p);
    for (const [px, py] of pathPoints(children(p, 'path', 'curve')[0])) {
      const v = invert(x, px);
      const want = coef.get('(Intercept)')! + coef.get('x1')! * v + coef.get('dose<mg>')! * held + coef.get('x1:dose<mg>')! * v * held;
      expect(Math.abs(invert(y, py) - want)).toBeLessThan(tol(y) + Math.abs(coef.get('x1')! + coef.get('x1:dose<mg>')! * held) * tol(x));
    }
    m.dispose();
  });
});
