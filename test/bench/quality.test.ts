// The quality benchmark's pure parts (bench/quality): the data sets' grid, determinism and
// split, the true model's means, the text handed to R and PyTorch, and the tables. Nothing is
// timed; R and Python are never run (their output below is written by hand in the format the
// scripts emit).
import { describe, expect, it } from 'vitest';
import {
  FAMILIES, generate, grid, heldGroups, heldRows, meanOf, SIGMA_B, SIZES, STRUCTURES, trueMeans, X_NAMES, type Spec, type Split,
} from '../../bench/quality/datasets';
import { csvText, gamExclude, gamFormula, gamScript, parseGamOut, parseTorchOut, torchConfig } from '../../bench/quality/peers';
import { bestPeer, gap, meanRelativeGap, metricTable, ratio, timeTable, wins, type Cell, type Method } from '../../bench/quality/report';

const specs = grid();
const byKey = (f: string, s: string, g: number) => specs.find((x) => x.family === f && x.structure === s && x.size.groups === g)!;

describe('quality data sets: the grid', () => {
  it('has ≥ 24 data sets over 3 families × 2 structures × 4 sizes, each with its own seed', () => {
    expect(specs.length).toBeGreaterThanOrEqual(24);
    for (const f of FAMILIES) for (const s of STRUCTURES) for (const z of SIZES) expect(byKey(f, s, z.groups)).toBeDefined();
    expect(new Set(specs.map((s) => s.seed)).size).toBe(specs.length);
    expect(new Set(specs.map((s) => s.name)).size).toBe(specs.length);
    expect(new Set(FAMILIES)).toEqual(new Set(['gaussian', 'bernoulli', 'poisson']));
  });

  it('spans 50–500 groups of 10–100 rows', () => {
    const groups = SIZES.map((s) => s.groups);
    expect(Math.min(...groups)).toBe(50);
    expect(Math.max(...groups)).toBe(500);
    expect(Math.min(...SIZES.map((s) => s.minRows))).toBe(10);
    expect(Math.max(...SIZES.map((s) => s.maxRows))).toBe(100);
  });

  it('gives every family × structure both nonlinear fixed effects', () => {
    for (const f of FAMILIES) for (const s of STRUCTURES) {
      expect(new Set(specs.filter((x) => x.family === f && x.structure === s).map((x) => x.effect))).toEqual(new Set(['sine', 'ridge']));
    }
  });

  it('quick mode: one small data set per family, a random slope among them', () => {
    const q = grid(true);
    expect(q.map((s) => s.family).sort()).toEqual([...FAMILIES].sort());
    expect(q.some((s) => s.structure === 'slope')).toBe(true);
    expect(q.every((s) => s.size.groups <= 50)).toBe(true);
  });
});

// One of each structure, at the smallest sizes that keep the test fast.
const small: Spec[] = [
  { ...byKey('poisson', 'intercept', 100) },
  { ...byKey('bernoulli', 'slope', 50) },
];

describe('quality data sets: generation and split', () => {
  it('is deterministic for a seed, and another seed draws other rows', () => {
    for (const s of small) {
      const a = generate(s), b = generate(s);
      for (const k of ['train', 'seen', 'fresh'] as const) {
        expect(b[k].X).toEqual(a[k].X);
        expect(b[k].y).toEqual(a[k].y);
        expect(b[k].group).toEqual(a[k].group);
      }
      const c = generate({ ...s, seed: s.seed + 1 });
      expect(c.train.X.slice(0, 10)).not.toEqual(a.train.X.slice(0, 10));
    }
  });

  it('splits into a partition of the rows: new groups whole, 20 % of each seen group\'s rows', () => {
    for (const s of small) {
      const d = generate(s);
      const all = [...d.train.index, ...d.seen.index, ...d.fresh.index].sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: d.rows }, (_, i) => i));
      const trainG = new Set(d.train.group), seenG = new Set(d.seen.group), freshG = new Set(d.fresh.group);
      expect([...freshG].some((g) => trainG.has(g) || seenG.has(g))).toBe(false);
      expect(seenG).toEqual(trainG);
      expect(freshG.size).toBe(heldGroups(s.size.groups));
      expect(trainG.size + freshG.size).toBe(s.size.groups);
      const count = (sp: Split) => {
        const m = new Map<string, number>();
        for (const g of sp.group) m.set(g, (m.get(g) ?? 0) + 1);
        return m;
      };
      const tr = count(d.train), se = count(d.seen), fr = count(d.fresh);
      for (const [g, k] of se) {
        const n = k + tr.get(g)!;
        expect(n).toBeGreaterThanOrEqual(s.size.minRows);
        expect(n).toBeLessThanOrEqual(s.size.maxRows);
        expect(k).toBe(heldRows(n));
      }
      for (const n of fr.values()) expect(n >= s.size.minRows && n <= s.size.maxRows).toBe(true);
      expect(d.train.X.length).toBe(5 * d.train.y.length);
      expect([...d.train.X, ...d.fresh.X].every((x) => x >= -1 && x <= 1)).toBe(true);
    }
  });

  it('held-out counts: max(1, round(0.2 n)) rows, ⌈0.2 G⌉ groups', () => {
    expect([10, 12, 13, 40, 100].map(heldRows)).toEqual([2, 2, 3, 8, 20]);
    expect(heldRows(2)).toBe(1);
    expect([50, 100, 101, 500].map(heldGroups)).toEqual([10, 20, 21, 100]);
  });

  it('responses are in the family\'s support', () => {
    const d = generate(small[0]);
    expect([...d.train.y].every((y) => Number.isInteger(y) && y >= 0)).toBe(true);
    const b = generate(small[1]);
    expect([...b.train.y, ...b.fresh.y].every((y) => y === 0 || y === 1)).toBe(true);
  });

  it('draws a random intercept (and a slope on x1) per group with SD σ_b', () => {
    // η − a·f(x) − c = b0 (+ b1·x1): constant within a group for the intercept, affine in x1 with a slope.
    const big = generate(byKey('gaussian', 'slope', 500));
    const rows = new Map<string, { x1: number; r: number }[]>();
    for (const sp of [big.train, big.seen, big.fresh]) {
      for (let i = 0; i < sp.y.length; i++) {
        const g = sp.group[i];
        if (!rows.has(g)) rows.set(g, []);
        rows.get(g)!.push({ x1: sp.X[5 * i], r: sp.eta[i] - sp.etaFixed[i] });
      }
    }
    const b0: number[] = [], b1: number[] = [];
    for (const v of rows.values()) {
      const [p, q] = v;
      const slope = (q.r - p.r) / (q.x1 - p.x1);
      b1.push(slope);
      b0.push(p.r - slope * p.x1);
      for (const w of v) expect(w.r).toBeCloseTo(b0.at(-1)! + slope * w.x1, 9);
    }
    // 500 draws: the sample variance has SD σ²·√(2/499) ≈ 0.016; 4 SD.
    const variance = (a: number[]) => a.reduce((s, x) => s + x * x, 0) / a.length;
    expect(Math.abs(variance(b0) - SIGMA_B ** 2)).toBeLessThan(0.064);
    expect(Math.abs(variance(b1) - SIGMA_B ** 2)).toBeLessThan(0.064);
    const flat = generate(small[0]);
    for (let i = 1; i < flat.train.y.length; i++) {
      if (flat.train.group[i] === flat.train.group[i - 1]) {
        expect(flat.train.eta[i] - flat.train.etaFixed[i]).toBeCloseTo(flat.train.eta[i - 1] - flat.train.etaFixed[i - 1], 12);
      }
    }
  });
});

// E[h(μ + s Z)], Z ~ N(0, 1), by Simpson's rule on [−10, 10] with 4,000 panels: written here
// independently of the benchmark's trapezoid rule (error far below the 1e−10 asked).
function normalExpectation(h: (e: number) => number, mu: number, s: number): number {
  const n = 4000, a = -10, step = 20 / n;
  let sum = 0;
  for (let k = 0; k <= n; k++) {
    const z = a + k * step;
    const w = k === 0 || k === n ? 1 : k % 2 ? 4 : 2;
    sum += w * h(mu + s * z) * Math.exp(-0.5 * z * z);
  }
  return (sum * step) / 3 / Math.sqrt(2 * Math.PI);
}

describe('quality: the true model', () => {
  it('seen groups: the mean at the true η (identity, logistic, exp)', () => {
    expect(meanOf('gaussian', 0.7)).toBe(0.7);
    expect(meanOf('bernoulli', 0)).toBe(0.5);
    expect(meanOf('bernoulli', Math.log(3))).toBeCloseTo(0.75, 14);
    expect(meanOf('poisson', Math.log(4))).toBeCloseTo(4, 13);
    const d = generate(small[0]);
    const m = trueMeans('poisson', d.seen, 'seen');
    for (let i = 0; i < 20; i++) expect(m[i]).toBeCloseTo(Math.exp(d.seen.eta[i]), 12);
  });

  it('new groups: the mean marginalised over the random effects, checked by an independent rule', () => {
    const s: Split = {
      X: new Float64Array(10), y: new Float64Array(2), group: ['a', 'b'],
      eta: new Float64Array(2), etaFixed: Float64Array.from([-1.3, 0.4]), etaVar: Float64Array.from([0.25, 0.5]), index: Int32Array.from([0, 1]),
    };
    const logistic = (e: number) => 1 / (1 + Math.exp(-e));
    const b = trueMeans('bernoulli', s, 'fresh');
    const p = trueMeans('poisson', s, 'fresh');
    const g = trueMeans('gaussian', s, 'fresh');
    for (let i = 0; i < 2; i++) {
      const sd = Math.sqrt(s.etaVar[i]);
      expect(b[i]).toBeCloseTo(normalExpectation(logistic, s.etaFixed[i], sd), 10);
      expect(p[i]).toBeCloseTo(normalExpectation(Math.exp, s.etaFixed[i], sd), 10);
      expect(g[i]).toBe(s.etaFixed[i]);
    }
    // Marginalising pulls a probability towards 1/2 (a logistic-normal is flatter than the logistic).
    expect(Math.abs(b[0] - 0.5)).toBeLessThan(Math.abs(logistic(-1.3) - 0.5));
  });

  it('etaVar is σ_b²(1 + x1²) with a random slope and σ_b² without', () => {
    const d = generate(small[1]);
    for (let i = 0; i < 10; i++) expect(d.fresh.etaVar[i]).toBeCloseTo(SIGMA_B ** 2 * (1 + d.fresh.X[5 * i] ** 2), 14);
    const e = generate(small[0]);
    expect([...e.fresh.etaVar].every((v) => v === SIGMA_B ** 2)).toBe(true);
  });
});

describe('quality: the text for R and PyTorch', () => {
  const d = generate(small[1]);

  it('writes CSV that reads back to the same numbers and labels', () => {
    const text = csvText(d.seen);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('x1,x2,x3,x4,x5,y,g');
    expect(lines.length).toBe(d.seen.y.length + 1);
    const back = lines.slice(1).map((l) => l.split(','));
    back.forEach((cells, i) => {
      expect(cells.slice(0, 5).map(Number)).toEqual(Array.from(d.seen.X.subarray(5 * i, 5 * i + 5)));
      expect(Number(cells[5])).toBe(d.seen.y[i]);
      expect(cells[6]).toBe(d.seen.group[i]);
    });
  });

  it('the GAM: a smooth per covariate, the random terms, fast REML (bam), the family, new groups without their effects', () => {
    expect(gamFormula('intercept')).toBe('y ~ s(x1) + s(x2) + s(x3) + s(x4) + s(x5) + s(g, bs = "re")');
    expect(gamFormula('slope')).toBe('y ~ s(x1) + s(x2) + s(x3) + s(x4) + s(x5) + s(g, bs = "re") + s(g, x1, bs = "re")');
    // mgcv labels these smooths 's(g)' and 's(g,x1)' (checked with mgcv 1.8-41).
    expect(gamExclude('slope')).toEqual(['s(g)', 's(g,x1)']);
    const r = gamScript('/tmp/q1', 'bernoulli', 'slope');
    expect(r).toContain('m <- bam(y ~ ');
    expect(r).toContain('family = binomial(), data = train, method = "fREML")');
    expect(r).toContain('exclude = c("s(g)", "s(g,x1)")');
    expect(r).toContain('read.csv("/tmp/q1/train.csv"');
    expect(r).toContain('"/tmp/q1/gam.out"');
    expect(r).toContain('newdata = seen, type = "response"');
    expect(gamScript('/d', 'poisson', 'intercept')).toContain('family = poisson(), data = train');
    expect(gamScript('/d', 'gaussian', 'intercept')).toContain('exclude = c("s(g)")');
    expect(gamScript('/d', 'gaussian', 'intercept')).toContain('family = gaussian()');
  });

  it('parses the GAM\'s output, and names what is missing', () => {
    const o = parseGamOut('1.25\n0.1\n0.2\n0.30000000000000004\n', 2, 1);
    expect(o.seconds).toBe(1.25);
    expect([...o.seen]).toEqual([0.1, 0.2]);
    expect([...o.fresh]).toEqual([0.30000000000000004]);
    expect(() => parseGamOut('1.25\n0.1\n0.2\n', 2, 1)).toThrow('gam.out: expected 4 finite numbers (seconds, 2 seen, 1 new), got 3');
    expect(() => parseGamOut('1.25\nNA\n0.2\n0.3', 2, 1)).toThrow(/gam\.out: expected 4 finite numbers/);
  });

  it('the PyTorch NGMM has the issue\'s recipe; quick lowers only the epoch cap', () => {
    const c = torchConfig('/d', 'poisson', 9);
    expect(c).toEqual({ dir: '/d', family: 'poisson', hidden: [64, 32, 16], lr: 1e-3, batchGroups: 16, maxEpochs: 300, patience: 20, validation: 0.1, gridPoints: 401, gridHalfWidth: 6, seed: 9 });
    expect(torchConfig('/d', 'poisson', 9, true)).toEqual({ ...c, maxEpochs: 10 });
    const o = parseTorchOut(JSON.stringify({ seconds: 2, epochs: 31, bestEpoch: 11, seen: [0.5], fresh: [0.25, 0.75] }), 1, 2);
    expect(o).toEqual({ seconds: 2, epochs: 31, seen: Float64Array.from([0.5]), fresh: Float64Array.from([0.25, 0.75]) });
    expect(() => parseTorchOut(JSON.stringify({ seconds: 2, epochs: 3, seen: [], fresh: [1] }), 1, 1)).toThrow('torch.out: expected 1 seen and 1 new predictions, got 0 and 1');
  });

  it('X_NAMES are the CSV\'s covariates', () => {
    expect(X_NAMES).toEqual(['x1', 'x2', 'x3', 'x4', 'x5']);
  });
});

const v = (o: Partial<Record<Method, number | null>>): Record<Method, number | null> => ({ truth: null, ngmm: null, glmm: null, gam: null, torch: null, ...o });

describe('quality: the tables', () => {
  it('the best peer is the lower of PyTorch and the GAM, whatever ngmm or the truth score', () => {
    expect(bestPeer(v({ truth: 0.1, ngmm: 0.2, glmm: 0.01, gam: 0.5, torch: 0.4 }))).toEqual({ method: 'torch', value: 0.4 });
    expect(bestPeer(v({ gam: 0.3, torch: 0.4 }))).toEqual({ method: 'gam', value: 0.3 });
    expect(bestPeer(v({ gam: null, torch: 0.4 }))).toEqual({ method: 'torch', value: 0.4 });
    expect(bestPeer(v({ ngmm: 0.2 }))).toBeNull();
  });

  it('formats ratios and signed gaps, a dash where a number is missing', () => {
    expect(ratio(0.95, 1)).toBe('0.950×');
    expect(ratio(3, 2)).toBe('1.500×');
    expect(ratio(null, 2)).toBe('—');
    expect(ratio(1, null)).toBe('—');
    expect(gap(0.5123, 0.5)).toBe('+0.0123');
    expect(gap(0.45, 0.5)).toBe('−0.0500');
    expect(gap(0.5, 0.5)).toBe('+0.0000');
    expect(gap(null, 0.5)).toBe('—');
  });

  it('counts the wins against the best peer and the mean relative gap to the truth', () => {
    const cells: Cell[] = [
      { dataset: 'a', kind: 'seen', metric: 'RMSE', values: v({ truth: 0.5, ngmm: 0.55, gam: 0.6, torch: 0.7 }) },
      { dataset: 'a', kind: 'new', metric: 'RMSE', values: v({ truth: 0.5, ngmm: 0.65, gam: 0.6, torch: 0.7 }) },
      { dataset: 'b', kind: 'seen', metric: 'RMSE', values: v({ truth: 1, ngmm: 1.2 }) },
    ];
    expect(wins(cells)).toEqual({ won: 1, of: 2 });
    const g = meanRelativeGap(cells, 'ngmm');
    expect(g.n).toBe(3);
    expect(g.mean).toBeCloseTo((0.1 + 0.3 + 0.2) / 3, 14);
    expect(meanRelativeGap(cells, 'gam')).toEqual({ mean: expect.closeTo(0.2, 14), n: 2 });
    expect(meanRelativeGap(cells, 'glmm').n).toBe(0);
  });

  it('writes one row per data set and held-out kind with the ratio to the best peer and the gaps', () => {
    const md = metricTable([{ dataset: 'bernoulli/x', kind: 'new', metric: 'log-loss', values: v({ truth: 0.46, ngmm: 0.5, glmm: 0.52, gam: 0.48, torch: null }) }]);
    const lines = md.split('\n');
    expect(lines.length).toBe(3);
    expect(lines[0]).toBe('| data set | held out | metric | true model | ngmm NGMM | ngmm GLMM | mgcv GAM | PyTorch NGMM | NGMM / best peer | best peer | ngmm NGMM − truth | ngmm GLMM − truth | mgcv GAM − truth | PyTorch NGMM − truth |');
    expect(lines[2]).toBe('| bernoulli/x | new groups | log-loss | 0.4600 | 0.5000 | 0.5200 | 0.4800 | — | 1.042× | mgcv GAM | +0.0400 | +0.0600 | +0.0200 | — |');
    const t = timeTable([{ dataset: 'd', trainRows: 1234, seconds: { truth: null, ngmm: 3, glmm: 0.5, gam: 2, torch: 1.5 } }]).split('\n');
    expect(t[0]).toBe('| data set | training rows | ngmm NGMM s | ngmm GLMM s | mgcv GAM s | PyTorch NGMM s | NGMM / PyTorch time |');
    expect(t[2]).toBe('| d | 1234 | 3.00 | 0.50 | 2.00 | 1.50 | 2.000× |');
  });
});
