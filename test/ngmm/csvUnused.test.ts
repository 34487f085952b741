// Columns a formula does not use (issue 16: the CSV reader keeps only the formula's columns).
// What is right: R's model.frame() evaluates only the formula's variables, and read.csv or
// readr read any other column as text without complaint, so a non-numeric value ('n/a?', '1.2.3')
// in a column the formula does not name is not an error, and the fit is exactly the fit of the
// file without those columns. The same value in a column the formula uses is an error naming
// the file, row, line and column.
import { describe, expect, it } from 'vitest';
import { fitFormula } from '../../ngmm/fitFormula';
import { frameColumns } from '../../ngmm/frame';
import { parseFormula } from '../../ngmm/formula';
import { readCsvTable } from '../../ngmm/csv';
import { simulate } from '../../ngmm/simulate';

const FORMULA = 'y ~ x1 + x2 + log(x3 + 2) + (1 | school)';
const sim = simulate('poisson', 31, { groups: 20, perGroup: 8 });
const n = sim.train.y.length;

// The narrow file: the formula's columns only. The wide one: the same values, with unused
// columns before, between and after them — numbers with malformed text, words, a quoted field
// holding the delimiter and a line end, an empty (missing) value, a column named like a function.
function csv(wide: boolean): string {
  const head = wide ? ['u_num', 'school', 'u_word', 'x1', 'x2', 'u_quoted', 'x3', 'log', 'y', 'u_empty'] : ['school', 'x1', 'x2', 'x3', 'y'];
  const lines = [head.join(',')];
  for (let i = 0; i < n; i++) {
    const x = (k: number) => String(sim.train.X[i * 5 + k]);
    const v: Record<string, string> = {
      school: sim.train.group[i], x1: x(0), x2: x(1), x3: x(2), y: String(sim.train.y[i]),
      u_num: i % 5 === 4 ? (i % 2 ? 'n/a?' : '1.2.3') : String(i * 0.5),
      u_word: `w${i % 3}`,
      u_quoted: i % 4 === 0 ? '"a, b\nc ""d"""' : 'plain',
      log: i % 2 ? 'NaN text' : '-1',
      u_empty: i % 3 ? '' : '7',
    };
    lines.push(head.map((h) => v[h]).join(','));
  }
  return lines.join('\n') + '\n';
}

const read = (text: string, source: string) => readCsvTable(text, { source, select: frameColumns(parseFormula(FORMULA), { source }) });

describe('columns the formula does not use', () => {
  it('are not stored: only the formula\'s columns, numbers as Float64Array, labels as text', () => {
    const t = read(csv(true), 'wide.csv');
    expect(t.nrows).toBe(n);
    expect([...t.columns.keys()].sort()).toEqual(['school', 'x1', 'x2', 'x3', 'y']);
    expect(t.header.length).toBe(10);
    for (const k of ['x1', 'x2', 'x3', 'y']) {
      const c = t.columns.get(k)!;
      expect(c.kind).toBe('number');
      expect(c.values).toBeInstanceOf(Float64Array);
    }
    expect(Array.from(t.columns.get('x1')!.values as Float64Array)).toEqual(Array.from({ length: n }, (_, i) => sim.train.X[i * 5]));
    expect(t.columns.get('school')!.kind).toBe('string');
    // The quoted field's line ends still count: row k's line is past the earlier embedded ones.
    expect(t.lines[n - 1]).toBe(n + 1 + Math.ceil(n / 4));
  });

  it('fit exactly as the file without them, malformed text there included', () => {
    const a = fitFormula(read(csv(false), 'narrow.csv'), FORMULA, { family: 'poisson' }, {}, 'narrow.csv');
    const b = fitFormula(read(csv(true), 'wide.csv'), FORMULA, { family: 'poisson' }, {}, 'wide.csv');
    try {
      expect(JSON.stringify(b.model)).toBe(JSON.stringify(a.model));
      expect(b.model.summary().logLik).toBe(a.model.summary().logLik);
      expect(Number.isFinite(a.model.summary().logLik)).toBe(true);
    } finally {
      a.model.dispose();
      b.model.dispose();
    }
  });

  it('the same malformed text in a column the formula uses is an error naming file, row, line and column', () => {
    const formula = 'y ~ x1 + u_num + (1 | school)';
    const source = 'wide.csv';
    const t = readCsvTable(csv(true), { source, select: frameColumns(parseFormula(formula), { source }) });
    // Row 5 (0-based 4) holds '1.2.3'; rows 1 and 5 of the file start a quoted field with a line
    // end (rows 0 and 4), so row 5 starts on line 5 + 1 (header) + 1 (row 1's embedded line end).
    expect(() => fitFormula(t, formula, { family: 'poisson' }, {}, source)).toThrow(/wide\.csv.*row 5 \(line 7\).*'u_num'.*'1\.2\.3' is not a number/s);
  });

  it('a numeric column longer than the reader\'s first buffer keeps every value and missing flag', () => {
    // 5000 rows: the typed column doubles from 1024 to 8192 and is cut to 5000 at the end.
    const m = 5000;
    const text = ['a,b', ...Array.from({ length: m }, (_, i) => `${i % 7 === 3 ? 'NA' : String(i * 0.25 - 3)},${i}`)].join('\n');
    const c = readCsvTable(text).columns.get('a')!;
    expect(c.kind).toBe('number');
    expect(c.values.length).toBe(m);
    for (let i = 0; i < m; i++) {
      if (i % 7 === 3) {
        expect(c.missing[i]).toBe(1);
        expect(Number.isNaN(c.values[i])).toBe(true);
      } else {
        expect(c.missing[i]).toBe(0);
        expect(c.values[i]).toBe(i * 0.25 - 3);
      }
    }
  });
});
