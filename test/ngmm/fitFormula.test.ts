// fitFormula's rows (lme4's subset) and predictTable, the formula-level entry points: a subset
// fits exactly as the same rows written out as their own table; a missing value inside the
// subset is dropped and named by its table row; rows outside it are never read; predictTable
// routes each row to its group's posterior or the prior (one factor) and each term's level to
// its conditional mode or 0 (several terms), checked against the fitted coefficients and modes.
import { describe, expect, it } from 'vitest';
import { initSync } from '../../engine/backend';
import { readCsvTable } from '../../ngmm/csv';
import { fitFormula } from '../../ngmm/fitFormula';
import type { Model } from '../../ngmm/model';
import { predictTable } from '../../ngmm/predictFormula';

initSync();

// A small deterministic generator (the data only needs to be fixed, not good randomness).
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

// 12 groups × 8 rows of Poisson counts, a numeric x and a text column kind (levels a, b, c).
function poissonRows(): string[][] {
  const u = rng(7);
  const rows: string[][] = [];
  for (let g = 0; g < 12; g++) {
    const b = (u() - 0.5) * 1.2;
    for (let j = 0; j < 8; j++) {
      const x = (2 * u() - 1).toFixed(3);
      const kind = 'abc'[(g + j) % 3];
      const mu = Math.exp(0.3 + 0.8 * Number(x) + (kind === 'b' ? 0.4 : 0) + b);
      // A Poisson draw by inversion.
      let y = 0, p = Math.exp(-mu), c = p;
      const v = u();
      while (v > c && y < 60) c += p *= mu / ++y;
      rows.push([`s${g}`, x, kind, String(y)]);
    }
  }
  return rows;
}

const csv = (header: string, rows: string[][]) => [header, ...rows.map((r) => r.join(','))].join('\n');
const coefs = (m: Model) => m.coefficients().map((c) => [c.name, c.value]);

describe('fitFormula with rows (lme4 subset)', () => {
  const all = poissonRows();
  // Every third group left out whole, and the first row of every other group: the subset
  // changes the groups and the rows within groups. Two rows outside the subset hold values the
  // fit would refuse (a negative count, a text x): they must never be read.
  const subset = all.flatMap((r, i) => (Number(r[0].slice(1)) % 3 === 2 || i % 8 === 0 ? [] : [i]));
  const poisoned = all.map((r) => [...r]);
  const outside = all.findIndex((_, i) => !subset.includes(i));
  poisoned[outside][3] = '-4';
  poisoned[outside + 8][1] = 'oops';

  it('fits exactly as the subset written out as its own table', () => {
    const formula = 'y ~ x + kind + (1 | school)';
    const full = readCsvTable(csv('school,x,kind,y', poisoned), { source: 'all.csv' });
    const own = readCsvTable(csv('school,x,kind,y', subset.map((i) => all[i])), { source: 'own.csv' });
    const a = fitFormula(full, formula, { family: 'poisson' }, { rows: subset }, 'all.csv');
    const b = fitFormula(own, formula, { family: 'poisson' }, {}, 'own.csv');
    try {
      expect(a.model.info.converged).toBe(true);
      expect(a.notes).toEqual([]);
      // The same rows in the same order: the same floating-point operations, so equal bits.
      expect(a.model.logLik()).toBe(b.model.logLik());
      expect(coefs(a.model)).toEqual(coefs(b.model));
      expect(a.model.levels).toEqual(b.model.levels);
      expect(a.model.levels).toHaveLength(8);
      expect(a.model.ranef()).toEqual(b.model.ranef());
      expect(Array.from(a.frame.rows)).toEqual(subset);
      // Without the subset the poisoned rows are read and refused.
      expect(() => fitFormula(full, formula, { family: 'poisson' }, {}, 'all.csv')).toThrow(`all.csv: row ${outside + 9} (line ${outside + 10}), column 'x': 'oops' is not a number`);
    } finally {
      a.model.dispose();
      b.model.dispose();
    }
  });

  it('drops a missing value inside the subset and names its table row; the fit is that of the subset without it', () => {
    const withNa = all.map((r) => [...r]);
    const hole = subset[5], hole2 = subset[20];
    withNa[hole][1] = 'NA';
    withNa[hole2][3] = '';
    const t = readCsvTable(csv('school,x,kind,y', withNa), { source: 'na.csv' });
    const a = fitFormula(t, 'y ~ x + (1 | school)', { family: 'poisson' }, { rows: subset }, 'na.csv');
    const rest = subset.filter((i) => i !== hole && i !== hole2);
    const b = fitFormula(t, 'y ~ x + (1 | school)', { family: 'poisson' }, { rows: rest }, 'na.csv');
    try {
      expect(a.frame.dropped).toEqual([hole, hole2]);
      expect(Array.from(a.frame.rows)).toEqual(rest);
      expect(a.notes).toEqual([`na.csv: 2 rows with missing values were dropped (rows ${hole + 1}, ${hole2 + 1}), as R's na.omit does`]);
      expect(a.model.summary().notes).toContain(a.notes[0]);
      expect(a.model.logLik()).toBe(b.model.logLik());
      expect(coefs(a.model)).toEqual(coefs(b.model));
    } finally {
      a.model.dispose();
      b.model.dispose();
    }
  });

  it('names the table row of a bad response inside the subset, and refuses bad rows', () => {
    const bad = all.map((r) => [...r]);
    bad[subset[9]][3] = '2.5';
    const t = readCsvTable(csv('school,x,kind,y', bad), { source: 'b.csv' });
    const run = (rows: number[]) => () => fitFormula(t, 'y ~ x + (1 | school)', { family: 'poisson' }, { rows }, 'b.csv');
    expect(run(subset)).toThrow(new RegExp(`^b\\.csv: row ${subset[9] + 1}, column 'y': `));
    expect(run([0, 1, 96])).toThrow("b.csv: rows[2] is 96, not a 0-based row of the table (a whole number from 0 to 95)");
    expect(run([0, 1.5])).toThrow('b.csv: rows[1] is 1.5, not a 0-based row of the table');
    expect(run([-1])).toThrow('b.csv: rows[0] is -1, not a 0-based row');
    expect(run([3, 4, 3])).toThrow('b.csv: rows[2] asks for row 4 a second time; each row may be used once');
    expect(run([])).toThrow('b.csv: the rows to use (option rows) are an empty list');
    const na = all.map((r) => [...r]);
    na[0][1] = 'NA';
    na[1][1] = 'NA';
    const tn = readCsvTable(csv('school,x,kind,y', na), { source: 'n.csv' });
    expect(() => fitFormula(tn, 'y ~ x + (1 | school)', { family: 'poisson' }, { rows: [1, 0] }, 'n.csv'))
      .toThrow("n.csv: each of the 2 rows asked for has a missing value in a column the model uses (first missing: 'x' in 2), so no row is left");
  });
});

describe('predictTable', () => {
  // A Gaussian identity model: E[y] for a seen group is xβ + b̂_g (the conditional mode is the
  // posterior mean), for a new group xβ, so the expected values come from coefficients() and
  // ranef(), not from the prediction code.
  const u = rng(11);
  const train: string[][] = [];
  for (let g = 0; g < 10; g++) {
    const b = u() - 0.5;
    for (let j = 0; j < 6; j++) {
      const x = (2 * u() - 1).toFixed(3);
      train.push([`g${g}`, x, (1 + 2 * Number(x) + b + 0.3 * (u() - 0.5)).toFixed(4)]);
    }
  }
  // Training rows: groups g0..g7; rows of g8, g9 are the new groups.
  const trainRows = train.flatMap((r, i) => (Number(r[0].slice(1)) < 8 ? [i] : []));
  const table = readCsvTable(csv('g,x,y', train), { source: 'p.csv' });

  it('one factor: seen groups through their posterior, new groups through the prior, rows as asked', () => {
    const { model } = fitFormula(table, 'y ~ x + (1 | g)', { family: 'gaussian' }, { rows: trainRows }, 'p.csv');
    try {
      const beta = Object.fromEntries(model.coefficients().map((c) => [c.name, c.value]));
      const b = new Map(model.ranef().map((r) => [r.group, r.mean]));
      const ask = [50, 3, 59, 20, 47];
      const r = predictTable(model, table, { rows: ask, type: 'link', source: 'p.csv' });
      expect(Array.from(r.frame.rows)).toEqual(ask);
      expect(r.group).toEqual(ask.map((i) => train[i][0]));
      expect(r.seen).toEqual([false, true, false, true, true]);
      ask.forEach((i, k) => {
        const want = beta['(Intercept)'] + beta.x * Number(train[i][1]) + (b.get(train[i][0]) ?? 0);
        expect(Math.abs(r.prediction[k] - want), `row ${i}`).toBeLessThan(1e-12 * (1 + Math.abs(want)));
      });
      // All rows by default; the response read on request (its values are the table's).
      const every = predictTable(model, table, { response: true });
      expect(every.prediction).toHaveLength(train.length);
      expect(Array.from(every.frame.y)).toEqual(train.map((t) => Number(t[2])));
      expect(every.seen.filter((s) => !s)).toHaveLength(12);
    } finally {
      model.dispose();
    }
  });

  it('a missing value is an error when predicting, a dropped row when scoring; a model from arrays is refused', () => {
    const holes = train.map((r) => [...r]);
    holes[4][2] = 'NA';
    holes[7][1] = 'NA';
    const t = readCsvTable(csv('g,x,y', holes), { source: 'h.csv' });
    const { model } = fitFormula(table, 'y ~ x + (1 | g)', { family: 'gaussian' }, {}, 'p.csv');
    try {
      // The response is not read for prediction: its hole does not matter, x's does.
      expect(() => predictTable(model, t, { source: 'h.csv', rows: [4, 7] })).toThrow("h.csv: row 8 (line 9), column 'x': the value is missing");
      expect(predictTable(model, t, { source: 'h.csv', rows: [4, 5] }).prediction).toHaveLength(2);
      const scored = predictTable(model, t, { source: 'h.csv', response: true });
      expect(scored.frame.dropped).toEqual([4, 7]);
      expect(scored.prediction).toHaveLength(train.length - 2);
      const design = model.design;
      model.design = null;
      expect(() => predictTable(model, t, { source: 'h.csv' })).toThrow('h.csv: the model was fitted from arrays, not from a formula, so it cannot read a table');
      model.design = design;
    } finally {
      model.dispose();
    }
  });

  it('several terms: each term\'s level by itself, seen through its mode and new through 0, whatever order the table gives the terms', () => {
    // Crossed a × b: 6 levels of a, 4 of b in training.
    const v = rng(5);
    const rows: string[][] = [];
    const ea = Array.from({ length: 8 }, () => v() - 0.5), eb = Array.from({ length: 9 }, () => 0.8 * (v() - 0.5));
    for (let a = 0; a < 6; a++) for (let b = 0; b < 4; b++) for (let r = 0; r < 2; r++) {
      const x = (2 * v() - 1).toFixed(3);
      rows.push([`a${a}`, `b${b}`, x, (0.5 - Number(x) + ea[a] + eb[b] + 0.2 * (v() - 0.5)).toFixed(4)]);
    }
    const t = readCsvTable(csv('a,b,x,y', rows), { source: 'ab.csv' });
    const { model } = fitFormula(t, 'y ~ x + (1 | a) + (1 | b)', { family: 'gaussian' }, {}, 'ab.csv');
    try {
      if (model.random.kind !== 'terms') throw new Error('not a model of terms');
      const beta = Object.fromEntries(model.coefficients().map((c) => [c.name, c.value]));
      const mode = new Map(model.ranef().map((r) => [`${(r as { term: string }).term}=${r.group}`, r.mean]));
      expect(mode.size).toBe(10);
      const fresh: string[][] = [['a0', 'b0', '0.5'], ['a6', 'b1', '-0.25'], ['a2', 'b8', '0.1'], ['a7', 'b7', '0'], ['a1', 'b5', '1'], ['a3', 'b6', '1'], ['a4', 'b4', '1'], ['a5', 'b3', '1'], ['a0', 'b2', '0']];
      const tf = readCsvTable(csv('a,b,x', fresh), { source: 'new.csv' });
      const r = predictTable(model, tf, { type: 'link', source: 'new.csv' });
      // lme4 puts the term with more levels first: a (6) before b (4) in the fit, b (9) before
      // a (8) in this table.
      expect(model.random.terms.map((x) => x.name)).toEqual(['a', 'b']);
      expect(r.frame.terms!.map((x) => x.name)).toEqual(['b', 'a']);
      expect(r.group).toEqual(fresh.map((f) => f[0]));
      expect(r.termsSeen).toEqual([fresh.map((f) => Number(f[0].slice(1)) < 6), fresh.map((f) => Number(f[1].slice(1)) < 4)]);
      expect(r.seen).toEqual(r.termsSeen![0]);
      fresh.forEach((f, k) => {
        const want = beta['(Intercept)'] + beta.x * Number(f[2]) + (mode.get(`a=${f[0]}`) ?? 0) + (mode.get(`b=${f[1]}`) ?? 0);
        expect(Math.abs(r.prediction[k] - want), f.join(',')).toBeLessThan(1e-12 * (1 + Math.abs(want)));
      });
    } finally {
      model.dispose();
    }
  });
});
