// Several random-effect terms: the formula's shorthands (`||`, `a/b`, `a:b`) as lme4 expands
// them, and the terms randomTerms builds from a CSV against lme4's mkReTrms on the same file
// (test/fixtures/reterms, written by scripts/reterms-fixtures.R; R is not needed here), then
// fitted by fitMultiLmm against lme4's logLik (test/fixtures/lmm-multi and the fixtures here).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCsvTable } from '../../ngmm/csv';
import { DataError } from '../../ngmm/errors';
import { FormulaError, formatFormula, formulaColumns, parseFormula, type RandomTerm } from '../../ngmm/formula';
import { modelFrame } from '../../ngmm/frame';
import { fitMultiLmm } from '../../ngmm/lmm/multi';
import { lme4Order, randomTerms } from '../../ngmm/reTerms';

const RETERMS = join(__dirname, '..', 'fixtures', 'reterms');
const MULTI = join(__dirname, '..', 'fixtures', 'lmm-multi');

const col = (name: string) => ({ factors: [{ kind: 'column' as const, name }] });
const random = (text: string): RandomTerm[] => parseFormula(text).random;
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('parsing several random-effect terms', () => {
  it('keeps the single-term results as they were (no groupFactors key)', () => {
    const r = random('y ~ x + (1 + x | g)');
    expect(r).toStrictEqual([{ intercept: true, terms: [col('x')], group: 'g' }]);
  });

  it('reads several bar terms in order', () => {
    expect(random('y ~ 1 + (1 | plate) + (1 | sample)')).toStrictEqual([
      { intercept: true, terms: [], group: 'plate' },
      { intercept: true, terms: [], group: 'sample' },
    ]);
  });

  it("splits (x || g) into (1 | g) + (0 + x | g), one term per part of the left side (lme4's expandDoubleVerts)", () => {
    expect(random('y ~ Days + (Days || Subject)')).toStrictEqual([
      { intercept: true, terms: [], group: 'Subject' },
      { intercept: false, terms: [col('Days')], group: 'Subject' },
    ]);
    expect(random('y ~ (0 + x + z || g)')).toStrictEqual([
      { intercept: false, terms: [col('x')], group: 'g' },
      { intercept: false, terms: [col('z')], group: 'g' },
    ]);
    expect(random('y ~ (1 || g)')).toStrictEqual([{ intercept: true, terms: [], group: 'g' }]);
  });

  it('reads a:b as one interaction grouping and a/b as b:a then a (the order of lme4 findbars)', () => {
    expect(random('y ~ (1 | a:b)')).toStrictEqual([{ intercept: true, terms: [], group: 'a:b', groupFactors: ['a', 'b'] }]);
    expect(random('y ~ (1 | batch/cask)')).toStrictEqual([
      { intercept: true, terms: [], group: 'cask:batch', groupFactors: ['cask', 'batch'] },
      { intercept: true, terms: [], group: 'batch' },
    ]);
    expect(random('y ~ (1 | a/b/c)').map((r) => r.group)).toEqual(['c:b:a', 'b:a', 'a']);
    // R: findbars(y ~ (x || a/b)) lists 1 | b:a, 1 | a, 0 + x | b:a, 0 + x | a.
    expect(random('y ~ (x || a/b)').map((r) => `${r.intercept ? 1 : 0}+${r.terms.length}|${r.group}`)).toEqual(['1+0|b:a', '1+0|a', '0+1|b:a', '0+1|a']);
  });

  it('names the interaction columns among the columns read, and formats and parses back the same', () => {
    const f = parseFormula('y ~ x + (x || a/b) + (1 | `c d`:e)');
    expect(formulaColumns(f)).toEqual(['y', 'x', 'b', 'a', 'c d', 'e']);
    const canon = formatFormula(f);
    expect(canon).toBe('y ~ x + (1 | b:a) + (1 | a) + (0 + x | b:a) + (0 + x | a) + (1 | `c d`:e)');
    const back = parseFormula(canon);
    expect({ ...back, text: '' }).toStrictEqual({ ...f, text: '' });
  });

  it('keeps a column named with a colon apart from an interaction', () => {
    const f = parseFormula('y ~ (1 | `a:b`) + (1 | a:b)');
    expect(f.random).toHaveLength(2);
    expect(formulaColumns(f)).toEqual(['y', 'a:b', 'a', 'b']);
  });

  it('formats and parses back the same for any mix of bars, ||, a:b and a/b', () => {
    const lhs = fc.constantFrom('1', '0 + x', 'x', '1 + x + z', 'x:z', 'I(x^2)');
    // Distinct columns joined by ':' or '/' (a column twice in one grouping is refused; that
    // refusal is tested with its position below).
    const group = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', '`d e`'), { minLength: 1, maxLength: 4 })
      .chain((cols) => fc.array(fc.constantFrom(':', '/'), { minLength: cols.length - 1, maxLength: cols.length - 1 })
        .map((ops) => cols.map((c, i) => (i === 0 ? c : `${ops[i - 1]}${c}`)).join('')));
    const bar = fc.tuple(lhs, fc.constantFrom('|', '||'), group).map(([l, op, g]) => `(${l} ${op} ${g})`);
    fc.assert(
      fc.property(fc.array(bar, { minLength: 1, maxLength: 4 }), (bars) => {
        const f = parseFormula(`y ~ x + ${bars.join(' + ')}`);
        const canon = formatFormula(f);
        expect({ ...parseFormula(canon), text: '' }).toStrictEqual({ ...f, text: '' });
        expect(formatFormula(parseFormula(canon))).toBe(canon);
      }),
      { numRuns: 300 },
    );
  });

  it('modelFrame gives an interaction grouping and `||` as terms (randomTerms over the kept rows), the one-factor fields empty', () => {
    const t = readCsvTable('y,x,a,b\n1,0.5,p,u\n2,1.5,q,v\n3,2,p,v\nNA,1,q,u\n', { source: 'd.csv' });
    const inter = modelFrame(parseFormula('y ~ x + (1 | a:b)'), t, 'd.csv');
    expect(inter.terms!.map((r) => [r.name, r.levels, Array.from(r.group)])).toEqual([['a:b', ['p:u', 'p:v', 'q:v'], [0, 2, 1]]]);
    expect(inter.slopes).toEqual([]);
    expect(inter.group).toEqual(['p:u', 'q:v', 'p:v']); // the first term's level of each kept row
    const split = modelFrame(parseFormula('y ~ x + (x || a)'), t, 'd.csv');
    expect(split.terms!.map((r) => [r.name, r.columns, Array.from(r.Z)])).toEqual([['a', ['(Intercept)'], [1, 1, 1]], ['a', ['x'], [0.5, 1.5, 2]]]);
    expect(split.dropped).toEqual([3]);
    // One plain term stays the one-factor model.
    expect(modelFrame(parseFormula('y ~ x + (1 + x | a)'), t, 'd.csv').terms).toBeUndefined();
  });

  const cases: [string, number, RegExp][] = [
    ['y ~ x || g', 6, /'\|\|' outside parentheses/],
    ['y ~ (1 || g', 4, /unclosed '\('/],
    ['y ~ (0 || g)', 4, /no effects: put 1 or a slope before '\|\|'/],
    ['y ~ (1 || )', 10, /expected a grouping factor after '\|\|'/],
    ['y ~ (1 | a:)', 11, /expected a grouping factor after ':'/],
    ['y ~ (1 | a/)', 11, /expected a grouping factor after '\/'/],
    ['y ~ (1 | a/factor(b))', 11, /grouping factor after '\/' must be a column name/],
    ['y ~ (1 | a:2)', 11, /grouping factor after ':' must be a column name/],
    ['y ~ (1 | a:a)', 11, /"a" appears twice in one grouping factor/],
    ['y ~ (1 | a/b:a)', 13, /"a" appears twice/],
    ['y ~ (1 | a b)', 11, /expected '\)' after the grouping factor 'a'/],
    ['y ~ (1 | a/b c)', 13, /expected '\)' after the grouping factor 'b'/],
    ['y ~ (1 | a*b)', 10, /expected '\)' after the grouping factor 'a', found '\*'/],
    ['y ~ x:(1 || g)', 6, /must be added on its own/],
    ['y ~ x - (1 | a/b)', 8, /cannot be subtracted/],
  ];
  it.each(cases)('%j fails at %i', (text, position, message) => {
    let e: unknown;
    try {
      parseFormula(text);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(FormulaError);
    expect((e as FormulaError).message).toMatch(message);
    expect((e as FormulaError).position).toBe(position);
  });
});

interface ReFixture {
  name: string; formula: string; n: number; Zt: number[];
  terms: { name: string; nlevels: number; levels: string[]; group: number[]; cnms: string[]; q: number; Z: number[] }[];
  logLikML?: number;
}
const readFixture = (name: string) => JSON.parse(readFileSync(join(RETERMS, `${name}.json`), 'utf8')) as ReFixture;
const readTable = (name: string) => readCsvTable(readFileSync(join(RETERMS, `${name}.csv`), 'utf8'), { source: `${name}.csv` });

describe("randomTerms against lme4's mkReTrms on the same CSV", () => {
  for (const name of ['penicillin', 'pastes', 'sleepstudy', 'interaction']) {
    it(`${name}: names, order, levels, level of each row, design columns and Z`, () => {
      const fx = readFixture(name);
      const f = parseFormula(fx.formula);
      const terms = randomTerms(f, readTable(name), `${name}.csv`);
      expect(terms.map((t) => t.name)).toEqual(fx.terms.map((t) => t.name));
      terms.forEach((t, k) => {
        const r = fx.terms[k];
        expect(t.G).toBe(r.nlevels);
        expect(t.levels).toEqual(r.levels);
        expect(Array.from(t.group)).toEqual(r.group);
        expect(t.columns).toEqual(r.cnms);
        expect(t.q).toBe(r.q);
        expect(Array.from(t.Z)).toEqual(r.Z); // integers and 1s: exact
        expect(t.diagonal).toBe(false);
      });
      expect([terms.reduce((s, t) => s + t.G * t.q, 0), terms[0].group.length]).toEqual(fx.Zt);
    });
  }
});

interface MultiFixture { name: string; reml: boolean; p: number; X: number[]; y: number[]; logLik: number }

describe('fitMultiLmm on the built terms gives lme4\'s logLik', () => {
  const pairs: [string, string, string][] = [
    ['penicillin', 'penicillin_crossed', 'diameter'],
    ['pastes', 'pastes_nested', 'strength'],
    ['sleepstudy', 'sleepstudy_uncorr', 'Reaction'],
  ];
  for (const [data, multi, response] of pairs) {
    for (const tag of ['ml', 'reml']) {
      it(`${multi}_${tag}`, () => {
        const m = JSON.parse(readFileSync(join(MULTI, `${multi}_${tag}.json`), 'utf8')) as MultiFixture;
        const table = readTable(data);
        const ys = table.columns.get(response)!;
        // The CSV's rows are lme4's rows in the same order (the response agrees value by value).
        expect(Array.from(ys.values as Float64Array)).toEqual(m.y);
        const terms = randomTerms(parseFormula(readFixture(data).formula), table, data);
        const fit = fitMultiLmm({ X: Float64Array.from(m.X), p: m.p, y: Float64Array.from(m.y), reml: m.reml, terms, condSd: false });
        // lme4's optimum is stored to BOBYQA's tightened tolerances; both optimisers stop within
        // ~1e-8 of the deviance, far inside 1e-6 relative.
        expect(relErr(fit.logLik, m.logLik)).toBeLessThan(1e-6);
      });
    }
  }

  it('interaction (1 | day) + (1 | block:site), ML', () => {
    const fx = readFixture('interaction');
    const table = readTable('interaction');
    const y = Float64Array.from(table.columns.get('y')!.values as Float64Array);
    const terms = randomTerms(parseFormula(fx.formula), table, 'interaction.csv');
    const fit = fitMultiLmm({ X: new Float64Array(y.length).fill(1), p: 1, y, reml: false, terms, condSd: false });
    expect(relErr(fit.logLik, fx.logLikML!)).toBeLessThan(1e-6);
  });
});

describe('randomTerms: rows, order and bad input', () => {
  it('builds the levels from the kept rows only (unused levels dropped, as lme4 does)', () => {
    const table = readTable('penicillin');
    const plate = table.columns.get('plate')!;
    const rows = Array.from({ length: table.nrows }, (_, i) => i).filter((i) => plate.values[i] !== 'a');
    const terms = randomTerms(parseFormula('diameter ~ (1 | plate) + (1 | sample)'), table, 'p.csv', rows);
    expect(terms[0].name).toBe('plate');
    expect(terms[0].G).toBe(23);
    expect(terms[0].levels[0]).toBe('b');
    expect(terms[0].group.length).toBe(rows.length);
  });

  it("orders terms as mkReTrms: rev(order(nl)) when the levels ever increase, ties reversed", () => {
    const ids = (gs: number[]) => lme4Order(gs.map((G, id) => ({ G, id }))).map((t) => t.id);
    // R: rev(order(c(10, 30, 10))) = c(2, 3, 1).
    expect(ids([10, 30, 10])).toEqual([1, 2, 0]);
    expect(ids([30, 10, 10])).toEqual([0, 1, 2]);
    expect(ids([18, 18])).toEqual([0, 1]);
    expect(ids([5, 44])).toEqual([1, 0]);
  });

  const table = () =>
    readCsvTable('y,g,h,x,w\n1,a,p,0.5,u\n2,,q,1.5,v\n3,b,p,x,u\n', { source: 'bad.csv' });

  it('a missing grouping value names its row and column', () => {
    expect(() => randomTerms(parseFormula('y ~ (1 | h:g)'), table(), 'bad.csv')).toThrow(DataError);
    expect(() => randomTerms(parseFormula('y ~ (1 | h:g)'), table(), 'bad.csv')).toThrow(/bad\.csv.*row 2.*'?g'?.*missing/);
  });

  it('a non-numeric slope value names its row and column; a text slope is refused at its position', () => {
    expect(() => randomTerms(parseFormula('y ~ (1 | h) + (0 + log(y) | h)'), table(), 'bad.csv', [0, 2])).not.toThrow();
    let e: unknown;
    try {
      randomTerms(parseFormula('y ~ (w || h)'), table(), 'bad.csv');
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(FormulaError);
    expect((e as FormulaError).position).toBe(5);
    expect((e as FormulaError).message).toMatch(/categorical variable 'w'/);
    expect(() => randomTerms(parseFormula('y ~ (I(x + 1) || h)'), readCsvTable('y,h,x\n1,p,2\n2,q,oops\n'), 'bad.csv')).toThrow(/row 2.*'oops' is not a finite number/);
  });

  it('an unknown grouping column is a FormulaError at its position', () => {
    let e: unknown;
    try {
      randomTerms(parseFormula('y ~ (1 | h/zz)'), table(), 'bad.csv');
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(FormulaError);
    expect((e as FormulaError).position).toBe(11);
  });
});
