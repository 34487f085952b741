// The real-data comparison (bench/realdata, issue 14): reading the exported CSVs, one
// repetition's split and preprocessing (Appendix 15.2), and the quick run end to end (every
// method on every data set, the table and the figure). Nothing here is timed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldCount, readDataset, splitRepetition, MAX_GROUPS, type RawData } from '../../bench/realdata/data';
import { DATASETS, type RealDataset } from '../../bench/realdata/datasets';
import { LABEL, methodsFor } from '../../bench/realdata/methods';
import { runRealdata, type RealdataData } from '../../bench/realdata/realdata';

const DATA = 'bench/realdata/data';

describe('realdata: the data sets', () => {
  it('six data sets, two per family, each with at least 50 groups, read from the committed CSVs', () => {
    expect(DATASETS.length).toBe(6);
    for (const fam of ['gaussian', 'poisson', 'bernoulli'] as const) expect(DATASETS.filter((d) => d.family === fam).length).toBe(2);
    for (const ds of DATASETS) {
      const raw = readDataset(DATA, ds);
      const groups = new Set(raw.groupLabel).size;
      expect(groups, ds.name).toBeGreaterThanOrEqual(50);
      expect(raw.X.length).toBe(raw.y.length * raw.names.length);
      if (ds.family === 'bernoulli') expect(raw.y.every((v) => v === 0 || v === 1)).toBe(true);
      if (ds.family === 'poisson') expect(raw.y.every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
    }
  });

  it('names the file, row, line and column of a cell that is not a number, a short row, a bad header, a missing response', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'ngmm-realdata-'));
    try {
      const ds: RealDataset = { ...DATASETS[0], name: 'bad' };
      writeFileSync(join(dir, 'bad.csv'), 'group,y,a,b\n1,2,3,4\n1,2,x3,4\n');
      expect(() => readDataset(dir, ds)).toThrow(/bad\.csv: row 2 \(line 3\), column a: 'x3' is not a number/);
      writeFileSync(join(dir, 'bad.csv'), 'group,y,a,b\n1,2,3\n');
      expect(() => readDataset(dir, ds)).toThrow(/bad\.csv: row 1 \(line 2\) has 3 fields, the header has 4/);
      writeFileSync(join(dir, 'bad.csv'), 'id,y,a\n1,2,3\n');
      expect(() => readDataset(dir, ds)).toThrow(/must start with group,y/);
      writeFileSync(join(dir, 'bad.csv'), 'group,y,a\n1,,3\n');
      expect(() => readDataset(dir, ds)).toThrow(/bad\.csv: row 1 \(line 2\), column y: the response is missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A table built by hand: 60 groups of 1–9 rows; a complete; b 20 % missing (dropped); c
// constant (dropped); d = 2a + 1 (aliased with a and the intercept: dropped); e 2 % missing
// (imputed with the training rows' median); a positive response modelled on the log scale.
function handMade(): { raw: RawData; ds: RealDataset } {
  const groupLabel: string[] = [], y: number[] = [], X: number[] = [];
  let i = 0;
  for (let g = 0; g < 60; g++) {
    const n = 1 + (g % 9);
    for (let j = 0; j < n; j++, i++) {
      const a = Math.sin(i) * 3 + (g % 5);
      groupLabel.push(`g${g}`);
      y.push(Math.exp(0.3 * a + 0.1 * (g % 7) + 0.01 * i));
      X.push(a, i % 5 === 0 ? NaN : Math.cos(i), 4, 2 * a + 1, i % 50 === 7 ? NaN : Math.cos(3 * i) + 0.1 * i);
    }
  }
  const raw: RawData = { name: 'hand', groupLabel, y: Float64Array.from(y), X: Float64Array.from(X), names: ['a', 'b', 'c', 'd', 'e'] };
  const ds: RealDataset = { name: 'hand', family: 'gaussian', label: 'hand', group: 'g', groups: 'gs', logResponse: true, source: 'test' };
  return { raw, ds };
}

describe('realdata: one repetition’s split and preprocessing', () => {
  it('partitions the chosen groups’ rows into train, valid, seen and unseen, the unseen groups whole', () => {
    const ds = DATASETS.find((d) => d.name === 'psid')!;
    const raw = readDataset(DATA, ds);
    const s = splitRepetition(raw, ds, 7, 100);
    const c = s.counts;
    expect(c.groups + c.newGroups).toBe(100);
    expect(c.newGroups).toBe(20);
    // psid has 7 rows per worker: 1 seen row (round(1.4)), then 1 of the 6 left for validation.
    expect(c.seen).toBe(c.groups * 1);
    expect(c.valid).toBe(c.groups * 1);
    expect(c.train).toBe(c.groups * 5);
    expect(c.fresh).toBe(c.newGroups * 7);
    expect(s.fresh.group.every((g) => g === -1)).toBe(true);
    for (const r of [s.set.train, s.set.valid, s.seen]) expect(r.group.every((g) => g >= 0 && g < c.groups)).toBe(true);
    // Every training group has rows in each of train, valid and seen.
    for (const r of [s.set.train, s.set.valid, s.seen]) expect(new Set(r.group).size).toBe(c.groups);
    expect(s.all.y.length).toBe(c.train + c.valid);
  });

  it('standardises covariates and a Gaussian response with the training rows’ mean and SD only', () => {
    const ds = DATASETS.find((d) => d.name === 'psid')!;
    const s = splitRepetition(readDataset(DATA, ds), ds, 3, 200);
    const { X, p, y } = s.all, n = y.length;
    for (let j = 0; j < p; j++) {
      let m = 0, v = 0;
      for (let i = 0; i < n; i++) m += X[i * p + j];
      m /= n;
      for (let i = 0; i < n; i++) v += (X[i * p + j] - m) ** 2;
      expect(Math.abs(m)).toBeLessThan(1e-12);
      expect(Math.sqrt(v / (n - 1))).toBeCloseTo(1, 12);
    }
    const my = y.reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(my)).toBeLessThan(1e-12);
  });

  it('log response, median imputation from the training rows, and the dropped columns said', () => {
    const { raw, ds } = handMade();
    const s = splitRepetition(raw, ds, 11);
    expect(s.covariates).toEqual(['a', 'e']);
    expect(s.notes.some((n) => /^b dropped: \d+\.\d % missing in the training rows$/.test(n))).toBe(true);
    expect(s.notes).toContain('c dropped: constant in the training rows');
    expect(s.notes.some((n) => /^d dropped: aliased with: .*a/.test(n))).toBe(true);
    expect(s.notes.some((n) => /^e: \d+\.\d % missing in the training rows, imputed with their median /.test(n))).toBe(true);
    // Recompute by hand from the raw table and D's indices.
    const D = [...s.index.train, ...s.index.valid];
    const p0 = 5;
    const present = D.map((i) => raw.X[i * p0 + 4]).filter((v) => !Number.isNaN(v)).sort((u, v) => u - v);
    expect(present.length).toBeLessThan(D.length); // some e in D are missing, else the test proves nothing
    const m = present.length;
    const median = m % 2 ? present[(m - 1) / 2] : (present[m / 2 - 1] + present[m / 2]) / 2;
    const filled = D.map((i) => (Number.isNaN(raw.X[i * p0 + 4]) ? median : raw.X[i * p0 + 4]));
    const mean = filled.reduce((u, v) => u + v, 0) / filled.length;
    const sd = Math.sqrt(filled.reduce((u, v) => u + (v - mean) ** 2, 0) / (filled.length - 1));
    const logY = D.map((i) => Math.log(raw.y[i]));
    const my = logY.reduce((u, v) => u + v, 0) / logY.length;
    const sy = Math.sqrt(logY.reduce((u, v) => u + (v - my) ** 2, 0) / (logY.length - 1));
    D.forEach((i, r) => {
      expect(s.all.X[r * 2 + 1]).toBeCloseTo((filled[r] - mean) / sd, 12);
      expect(s.all.y[r]).toBeCloseTo((Math.log(raw.y[i]) - my) / sy, 12);
    });
    // The held-out rows (seen and unseen groups) are scaled with D's statistics, not their own,
    // and a missing e there gets D's median too.
    let missingOutside = 0;
    for (const [idx, rows] of [[s.index.seen, s.seen], [s.index.fresh, s.fresh]] as const) {
      idx.forEach((i, r) => {
        const e = raw.X[i * p0 + 4];
        if (Number.isNaN(e)) missingOutside++;
        expect(rows.X[r * 2 + 1]).toBeCloseTo(((Number.isNaN(e) ? median : e) - mean) / sd, 12);
        expect(rows.y[r]).toBeCloseTo((Math.log(raw.y[i]) - my) / sy, 12);
      });
    }
    expect(missingOutside).toBeGreaterThan(0); // the imputation branch is exercised
  });

  it('heldCount: a share of the rows, at least one from a minimum size, never the whole group', () => {
    expect(heldCount(1, 0.2, 2)).toBe(0);
    expect(heldCount(2, 0.2, 2)).toBe(1);
    expect(heldCount(2, 0.2, 3)).toBe(0);
    expect(heldCount(10, 0.2, 2)).toBe(2);
    expect(heldCount(7, 0.2, 2)).toBe(1);
    expect(heldCount(100, 0.99, 2)).toBe(99);
  });

  it('caps the groups at MAX_GROUPS (chem97 has 2,410)', () => {
    const ds = DATASETS.find((d) => d.name === 'chem97')!;
    const s = splitRepetition(readDataset(DATA, ds), ds, 1);
    expect(s.counts.groups + s.counts.newGroups).toBe(MAX_GROUPS);
  });
});

describe('realdata: the quick run, end to end', () => {
  let dir = '';
  let data: RealdataData;
  let md = '', svg = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(os.tmpdir(), 'ngmm-realdata-'));
    // In-process (the command line itself is exercised by the refusal test below).
    await runRealdata(['--quick', '--out', dir]);
    data = (JSON.parse(readFileSync(join(dir, 'realdata.json'), 'utf8')) as { data: RealdataData }).data;
    md = readFileSync(join(dir, 'realdata.md'), 'utf8');
    svg = readFileSync(join(dir, 'realdata.svg'), 'utf8');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fits every method on every data set, each scored on seen and unseen groups', () => {
    expect(data.quick).toBe(true);
    expect(data.datasets.map((d) => d.name)).toEqual(DATASETS.map((d) => d.name));
    for (const ds of DATASETS) {
      for (const m of methodsFor(ds.family)) {
        const runs = data.runs.filter((r) => r.dataset === ds.name && r.method === m);
        expect(runs.length, `${ds.name} ${m}`).toBe(1);
        expect(runs[0].error, `${ds.name} ${m}`).toBeUndefined();
        expect(Number.isFinite(runs[0].score!.seen) && runs[0].score!.seen > 0, `${ds.name} ${m}`).toBe(true);
        expect(Number.isFinite(runs[0].score!.fresh) && runs[0].score!.fresh > 0, `${ds.name} ${m}`).toBe(true);
      }
    }
  });

  it('writes the table (every data set, every method) and a figure of six panels', () => {
    expect(md).toMatch(/Quick run/);
    for (const ds of DATASETS) {
      expect(md).toContain(`### ${ds.name} (${ds.source})`);
      for (const m of methodsFor(ds.family)) expect(md, `${ds.name} ${m}`).toContain(`| ${LABEL[m]} `);
    }
    expect(svg.startsWith('<svg')).toBe(true);
    for (const ds of DATASETS) expect(svg).toContain(`${ds.name}: `);
    expect(svg).toContain('relative difference of the metric (%)');
    expect(svg).toContain('unseen groups');
  });

  it('refuses a bad option with one message and status 1, writing nothing', async () => {
    const out = join(dir, 'bad');
    // The command line once (status and message of bench/experiments.ts) …
    const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', 'bench/experiments.ts', 'realdata', '--quick', '--out', out, '--repz', '3'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^experiments: realdata: unknown option --repz/);
    expect(r.stderr).not.toMatch(/ at /);
    // … and the other refusals in-process (the same code path, without a bundler per case).
    for (const [args, msg] of [
      [['--reps', '0'], /--reps must be a positive integer, got 0/],
      [['--only', 'nosuch'], /--only nosuch: no such data set/],
      [['--out'], /--out needs a value/],
      [['stray'], /unexpected argument 'stray'/],
    ] as const) {
      await expect(runRealdata(['--quick', '--out', out, ...args])).rejects.toThrow(msg);
    }
    expect(() => readFileSync(join(out, 'realdata.json'))).toThrow();
  });
});
