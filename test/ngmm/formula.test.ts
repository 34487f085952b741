// The formula parser: the lme4 forms give the expected trees; the formula algebra (a*b, a:b,
// subtraction, intercept) matches R; errors point at the offending character; properties:
// formatting any formula tree and parsing it gives the tree back in canonical form, and no
// string makes parseFormula throw anything but a FormulaError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FormulaError,
  columnPosition,
  factorKey,
  formatFormula,
  formulaColumns,
  parseFormula,
  variableOrder,
  type Expr,
  type Factor,
  type Formula,
  type RandomTerm,
  type Response,
  type Term,
} from '../../ngmm/formula';

const col = (name: string): Factor & Expr => ({ kind: 'column', name });
const num = (value: number): Expr => ({ kind: 'number', value });
const bin = (op: '+' | '-' | '*' | '/' | '^', left: Expr, right: Expr): Expr => ({ kind: 'binary', op, left, right });
const neg = (arg: Expr): Expr => ({ kind: 'negate', arg });
const term = (...names: (string | Factor)[]): Term => ({ factors: names.map((n) => (typeof n === 'string' ? col(n) : n)) });
const label = (x: Factor) => (x.kind === 'transform' ? '<transform>' : x.kind === 'factor' ? `factor(${x.name})` : x.name);
const terms = (f: Formula) => f.fixed.map((t) => t.factors.map(label).join(':'));
const withoutText = ({ text: _text, ...rest }: Formula) => rest;

function caught(text: string): FormulaError {
  try {
    parseFormula(text);
  } catch (e) {
    expect(e).toBeInstanceOf(FormulaError);
    return e as FormulaError;
  }
  throw new Error(`expected a FormulaError for ${JSON.stringify(text)}`);
}

describe('parseFormula: the lme4 forms', () => {
  it('y ~ x1 + x2 + f + (1 | g)', () => {
    const f = parseFormula('y ~ x1 + x2 + f + (1 | g)');
    expect(f).toEqual({
      response: col('y'),
      fixed: [term('x1'), term('x2'), term('f')],
      intercept: true,
      random: [{ intercept: true, terms: [], group: 'g' }],
      text: 'y ~ x1 + x2 + f + (1 | g)',
    });
    expect(formulaColumns(f)).toEqual(['y', 'x1', 'x2', 'f', 'g']);
  });

  it('y ~ x1 + (1 + x1 | g), and the implicit intercept of (x1 | g)', () => {
    const f = parseFormula('y ~ x1 + (1 + x1 | g)');
    expect(f.random).toEqual([{ intercept: true, terms: [term('x1')], group: 'g' }]);
    expect(withoutText(parseFormula('y ~ x1 + (x1 | g)'))).toEqual(withoutText(f));
    expect(parseFormula('y ~ (0 + x1 | g)').random).toEqual([{ intercept: false, terms: [term('x1')], group: 'g' }]);
    expect(parseFormula('y ~ (x - 1 | g)').random[0].intercept).toBe(false);
  });

  it('cbind(k, m - k): successes, failures, and trials simplified to m', () => {
    const f = parseFormula('cbind(k, m - k) ~ x + (1 | g)');
    expect(f.response).toEqual({ kind: 'cbind', successes: 'k', failures: bin('-', col('m'), col('k')), trials: col('m') });
    expect(formulaColumns(f)).toEqual(['k', 'm', 'x', 'g']);
    const g = parseFormula('cbind(hits, misses) ~ 1');
    expect(g.response).toEqual({ kind: 'cbind', successes: 'hits', failures: col('misses'), trials: bin('+', col('hits'), col('misses')) });
  });

  it('the intercept: 0 +, + 0, - 1, 1 +, and the bare 0 and 1', () => {
    for (const t of ['y ~ 0 + x', 'y ~ x + 0', 'y ~ x - 1', 'y ~ -1 + x']) {
      const f = parseFormula(t);
      expect([f.intercept, terms(f)], t).toEqual([false, ['x']]);
    }
    expect(parseFormula('y ~ 1 + x').intercept).toBe(true);
    expect(parseFormula('y ~ 0 + 1 + x').intercept).toBe(true); // the last word wins
    expect(parseFormula('y ~ 1')).toMatchObject({ fixed: [], intercept: true });
    expect(parseFormula('y ~ 0')).toMatchObject({ fixed: [], intercept: false });
    expect(parseFormula('y ~ 0 + (1 | g)')).toMatchObject({ fixed: [], intercept: false, random: [{ group: 'g' }] });
  });

  it('factor(), I() and the math functions', () => {
    const f = parseFormula('log(y) ~ factor(cyl) + I(age^2) + exp(x) + sqrt(x + 1) + abs(z) + I(w)');
    expect(f.response).toEqual({ kind: 'transform', expr: { kind: 'call', fn: 'log', arg: col('y') } });
    expect(f.fixed).toEqual([
      term({ kind: 'factor', name: 'cyl' }),
      term({ kind: 'transform', expr: bin('^', col('age'), num(2)) }),
      term({ kind: 'transform', expr: { kind: 'call', fn: 'exp', arg: col('x') } }),
      term({ kind: 'transform', expr: { kind: 'call', fn: 'sqrt', arg: bin('+', col('x'), num(1)) } }),
      term({ kind: 'transform', expr: { kind: 'call', fn: 'abs', arg: col('z') } }),
      term('w'), // I(w) is w
    ]);
    // I(log(x)) and log(x) are the same term.
    expect(parseFormula('y ~ log(x) + I(log(x))').fixed).toHaveLength(1);
    expect(formulaColumns(f)).toEqual(['y', 'cyl', 'age', 'x', 'z', 'w']);
  });

  it('arithmetic follows R: ^ right-associative and above unary minus, - / left-associative', () => {
    const e = (s: string) => (parseFormula(`y ~ I(${s})`).fixed[0].factors[0] as { expr: Expr }).expr;
    expect(e('-x^2')).toEqual(neg(bin('^', col('x'), num(2))));
    expect(e('2^3^2')).toEqual(bin('^', num(2), bin('^', num(3), num(2))));
    expect(e('a - b - c')).toEqual(bin('-', bin('-', col('a'), col('b')), col('c')));
    expect(e('a / b * c')).toEqual(bin('*', bin('/', col('a'), col('b')), col('c')));
    expect(e('a + b * c')).toEqual(bin('+', col('a'), bin('*', col('b'), col('c'))));
    expect(e('x^-1')).toEqual(bin('^', col('x'), neg(num(1))));
    expect(e('(a + b) * 1.5e-3')).toEqual(bin('*', bin('+', col('a'), col('b')), num(0.0015)));
  });

  it('interactions: a:b, a*b = a + b + a:b, distribution over parentheses, removal', () => {
    expect(terms(parseFormula('y ~ a:b'))).toEqual(['a:b']);
    expect(terms(parseFormula('y ~ a*b'))).toEqual(['a', 'b', 'a:b']);
    expect(terms(parseFormula('y ~ a*b*c'))).toEqual(['a', 'b', 'c', 'a:b', 'a:c', 'b:c', 'a:b:c']);
    expect(terms(parseFormula('y ~ (a + b):c'))).toEqual(['a:c', 'b:c']);
    expect(terms(parseFormula('y ~ (a + b)*c'))).toEqual(['a', 'b', 'c', 'a:c', 'b:c']);
    expect(terms(parseFormula('y ~ a*b - a:b'))).toEqual(['a', 'b']);
    expect(terms(parseFormula('y ~ a*b - a'))).toEqual(['b', 'a:b']);
    expect(terms(parseFormula('y ~ factor(g):x'))).toEqual(['factor(g):x']);
  });

  it('removes duplicate terms (b:a is a:b, a:a is a) and puts main effects first', () => {
    expect(terms(parseFormula('y ~ a:b + x + b:a + a:a + x'))).toEqual(['x', 'a', 'a:b']);
    const f = parseFormula('y ~ (1 | g) + (1|g) + (x | g) + (1 | h)');
    expect(f.random.map((r) => `${r.terms.length}|${r.group}`)).toEqual(['0|g', '1|g', '0|h']);
  });

  it('reads backquoted and unicode column names', () => {
    const f = parseFormula('`birth weight` ~ âge + `2nd dose` + (1 | `site id`)');
    expect(formulaColumns(f)).toEqual(['birth weight', 'âge', '2nd dose', 'site id']);
    expect(formatFormula(f)).toBe('`birth weight` ~ âge + `2nd dose` + (1 | `site id`)');
  });

  it('formats canonically', () => {
    const cases: [string, string][] = [
      ['y~x1+x2+(1|g)', 'y ~ x1 + x2 + (1 | g)'],
      ['y ~ (x | g)', 'y ~ 1 + (1 + x | g)'],
      ['y ~ x - 1 + (0 + x | g)', 'y ~ 0 + x + (0 + x | g)'],
      ['y ~ I((a+b)^2) + I(-(a*b)) + I(a-(b-c)) + I((-x)^2)', 'y ~ I((a + b)^2) + I(-(a * b)) + I(a - (b - c)) + I((-x)^2)'],
      ['cbind(k,m-k)~I(x/2)', 'cbind(k, m - k) ~ I(x / 2)'],
    ];
    for (const [text, want] of cases) {
      expect(formatFormula(parseFormula(text))).toBe(want);
      expect(formatFormula(parseFormula(want))).toBe(want);
    }
  });
});

describe('offset() terms', () => {
  it('are kept apart from the fixed terms, summed, and written back', () => {
    const f = parseFormula('y ~ x + offset(log(n)) + offset(z) + (1 | g)');
    expect(f.fixed).toEqual([term('x')]);
    expect(f.offset).toEqual([{ kind: 'call', fn: 'log', arg: col('n') }, col('z')]);
    expect(formulaColumns(f)).toEqual(['y', 'x', 'n', 'z', 'g']);
    expect(formatFormula(f)).toBe('y ~ x + offset(log(n)) + offset(z) + (1 | g)');
    // Without offsets the field is absent, so formulas compare as before.
    expect('offset' in parseFormula('y ~ x')).toBe(false);
  });

  it('repeats count once, as in R (one variable per distinct expression)', () => {
    expect(parseFormula('y ~ offset(z) + x + offset(z)').offset).toEqual([col('z')]);
  });

  it('an intercept-only or intercept-free model with an offset formats canonically', () => {
    expect(formatFormula(parseFormula('y ~ offset(z) + (1 | g)'))).toBe('y ~ 1 + offset(z) + (1 | g)');
    expect(formatFormula(parseFormula('y ~ offset(z) - 1'))).toBe('y ~ 0 + offset(z)');
    expect(parseFormula('y ~ (a + offset(z))').offset).toEqual([col('z')]);
  });

  it('a column named offset is a column', () => {
    expect(parseFormula('y ~ offset').fixed).toEqual([term('offset')]);
  });
});

describe('variable order and column positions', () => {
  it("lists the fixed-effect variables in order of appearance, without the random terms (R's nobars)", () => {
    const key = (n: string) => factorKey(col(n));
    expect(variableOrder(parseFormula('y ~ (x | g) + f:x'))).toEqual([key('f'), key('x')]);
    expect(variableOrder(parseFormula('y ~ 0 + a:x:w + b:a'))).toEqual(['a', 'x', 'w', 'b'].map(key));
    expect(variableOrder(parseFormula('y ~ factor(c) + log(x)'))).toEqual([factorKey({ kind: 'factor', name: 'c' }), factorKey({ kind: 'transform', expr: { kind: 'call', fn: 'log', arg: col('x') } })]);
  });

  it('finds where a column is first named, skipping function names', () => {
    expect(columnPosition('y ~ log(x1) + `a b` + x1', 'x1')).toBe(8);
    expect(columnPosition('y ~ log(x1) + `a b` + x1', 'a b')).toBe(14);
    expect(columnPosition('y ~ log(x1)', 'log')).toBe(11);
  });
});

describe('parseFormula: errors point at the problem', () => {
  it('shows the formula with a caret under the position', () => {
    const e = caught('y ~ x1 + ');
    expect(e.position).toBe(9);
    const first = "formula: expected a term after '+' at position 9: 'y ~ x1 + '";
    expect(e.message).toBe(`${first}\n${' '.repeat(first.length - 1)}^`);
  });

  const cases: [string, number, RegExp][] = [
    ['y x1 + x2', 2, /missing '~'/],
    ['x1 + x2', 3, /missing '~'/],
    ['y ~ ', 4, /expected a term after '~'/],
    ['~ x', 0, /expected the response/],
    ['y ~ (x + z', 4, /unclosed '\('/],
    ['y ~ log(x + z', 7, /unclosed '\('/],
    ['y ~ x + z)', 9, /unmatched '\)'/],
    ['y ~ x + (1 | g', 8, /unclosed '\('/],
    ['y ~ x | g', 6, /'\|' outside parentheses/],
    ['y ~ x + poly(x, 2)', 8, /unknown function 'poly'/],
    ['y ~ I(x + foo(z))', 10, /unknown function 'foo'/],
    ['y ~ x *', 7, /expected a term after '\*'/],
    ['y ~ x + (1 | )', 13, /expected a grouping factor after '\|'/],
    ['y ~ x + (1 |)', 12, /expected a grouping factor after '\|'/],
    ['y ~ x ~ z', 6, /second '~'/],
    ['y ~ x + 2', 8, /number 2 cannot be a term/],
    ['y ~ x^2', 5, /for a power write I\(x\^2\)/],
    ['y ~ a/b', 5, /I\(a\/b\)/],
    ['y ~ x || g', 6, /'\|\|' outside parentheses/],
    ['y ~ (1 | a:)', 11, /expected a grouping factor after ':'/],
    ['y ~ (1 | factor(g))', 9, /must be a column name/],
    ['y ~ x:(1 | g)', 6, /must be added on its own/],
    ['y ~ ((1 | g) | h)', 5, /must be added on its own/],
    ['y ~ x - (1 | g)', 8, /cannot be subtracted/],
    ['y ~ (0 | g)', 4, /no effects/],
    ['y ~ 1:x', 5, /cannot be part of an interaction/],
    ['y ~ x + $z', 8, /unexpected character "\$"/],
    ['y ~ `x', 4, /unclosed '`'/],
    ['y ~ .', 4, /'\.'/],
    ['y + z ~ x', 2, /expected '~' after the response/],
    ['factor(y) ~ x', 0, /cannot be the response/],
    ['y ~ cbind(a, b)', 4, /only be the response/],
    ['cbind(k) ~ x', 7, /takes two arguments/],
    ['cbind(k m) ~ x', 8, /expected ','/],
    ['cbind(log(k), m) ~ x', 6, /successes .* must be a column name/],
    ['y ~ log(x, 2)', 9, /takes one argument/],
    ['y ~ I(factor(x))', 6, /cannot be used inside an arithmetic expression/],
    ['y ~ x x', 6, /expected '\+' or the end of the formula, found 'x'/],
    ['y ~ x - offset(z)', 8, /offset cannot be subtracted/],
    ['y ~ x:offset(z)', 6, /offset\(\) must be added on its own/],
    ['y ~ (offset(z) | g)', 5, /offset\(\) must be added on its own/],
    ['offset(y) ~ x', 0, /offset\(\) cannot be the response/],
    ['y ~ offset(a, b)', 12, /offset\(\) takes one argument/],
    ['y ~ offset()', 11, /expected a number, a column or a function/],
  ];
  it.each(cases)('%j at %i', (text, position, message) => {
    const e = caught(text);
    expect(e.message).toMatch(message);
    expect(e.position).toBe(position);
    expect(e.message).toContain(`at position ${position}: `);
  });

  it('stops at absurd nesting and interaction sizes with a FormulaError', () => {
    expect(caught(`y ~ ${'('.repeat(5000)}x${')'.repeat(5000)}`).message).toMatch(/nested more than/);
    expect(caught(`y ~ I(${'-'.repeat(5000)}x)`).message).toMatch(/nested more than/);
    expect(caught(`y ~ I(${Array(5000).fill('x').join(' + ')})`).message).toMatch(/nested more than/);
    expect(caught(`y ~ ${Array.from({ length: 20 }, (_, i) => `x${i}`).join('*')}`).message).toMatch(/more than 4096 terms/);
    // Long flat sums are not nesting.
    expect(parseFormula(`y ~ ${Array.from({ length: 3000 }, (_, i) => `x${i}`).join(' + ')}`).fixed).toHaveLength(3000);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

// Column names: plain identifiers (some shadowing function names) and ones that need backquotes.
const name = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9._]{0,4}$/) },
  { weight: 1, arbitrary: fc.constantFrom('log', 'factor', 'I', 'cbind', 'my col', '2x', '_z', 'x-y', 'é', '.', '..a') },
);
const column = name.map(col);
const { expr } = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    column,
    fc.oneof(fc.nat(100), fc.double({ min: 0, max: 1e30, noNaN: true })).map((v) => num(Math.abs(v))),
    fc.record({ kind: fc.constant('call' as const), fn: fc.constantFrom('log' as const, 'exp' as const, 'sqrt' as const, 'abs' as const), arg: tie('expr') }),
    fc.record({
      kind: fc.constant('binary' as const),
      op: fc.constantFrom<('+' | '-' | '*' | '/' | '^')[]>('+', '-', '*', '/', '^'),
      left: tie('expr'),
      right: tie('expr'),
    }),
    fc.record({ kind: fc.constant('negate' as const), arg: tie('expr') }),
  ),
}));
const factor: fc.Arbitrary<Factor> = fc.oneof(
  { weight: 3, arbitrary: column },
  { weight: 1, arbitrary: name.map((n) => ({ kind: 'factor' as const, name: n })) },
  { weight: 1, arbitrary: expr.map((e) => ({ kind: 'transform' as const, expr: e })) },
);
const termArb = fc.array(factor, { minLength: 1, maxLength: 3 }).map((factors) => ({ factors }));
const randomArb: fc.Arbitrary<RandomTerm> = fc
  .record({ intercept: fc.boolean(), terms: fc.array(termArb, { maxLength: 3 }), group: name })
  .map((r) => ({ ...r, intercept: r.intercept || r.terms.length === 0 }));
const responseArb: fc.Arbitrary<Response> = fc.oneof(
  column,
  expr.map((e) => ({ kind: 'transform' as const, expr: e })),
  fc.record({ successes: name, failures: expr }).map((r) => ({ kind: 'cbind' as const, ...r, trials: col('') })),
);
const formulaArb: fc.Arbitrary<Formula> = fc
  .record({
    response: responseArb,
    fixed: fc.array(termArb, { maxLength: 5 }),
    intercept: fc.boolean(),
    random: fc.array(randomArb, { maxLength: 3 }),
    offset: fc.array(expr, { maxLength: 2 }),
    text: fc.constant(''),
  })
  .map(({ offset, ...f }) => (offset.length ? { ...f, offset } : f));

// What parsing makes of a tree, written independently of the parser: I(column) is the column,
// repeated factors and terms (in any factor order) go, main effects come first, and cbind's
// trials follow from its failures.
function canonical(f: Formula): Omit<Formula, 'text'> {
  const factorOf = (x: Factor): Factor => (x.kind === 'transform' && x.expr.kind === 'column' ? x.expr : x);
  const key = (x: Factor) => JSON.stringify(x);
  const termsOf = (ts: Term[]): Term[] => {
    const seen = new Set<string>();
    const out: Term[] = [];
    for (const t of ts) {
      const fs: Factor[] = [];
      for (const x of t.factors.map(factorOf)) if (!fs.some((y) => key(y) === key(x))) fs.push(x);
      const k = fs.map(key).sort().join('|');
      if (!seen.has(k)) {
        seen.add(k);
        out.push({ factors: fs });
      }
    }
    return [1, 2, 3].flatMap((d) => out.filter((t) => t.factors.length === d));
  };
  const r = f.response;
  let response: Response = r;
  if (r.kind === 'transform' && r.expr.kind === 'column') response = r.expr;
  if (r.kind === 'cbind') {
    const simple = r.failures.kind === 'binary' && r.failures.op === '-' && r.failures.right.kind === 'column' && r.failures.right.name === r.successes;
    response = { ...r, trials: simple && r.failures.kind === 'binary' ? r.failures.left : bin('+', col(r.successes), r.failures) };
  }
  const random: RandomTerm[] = [];
  for (const g of f.random) {
    const c = { intercept: g.intercept, terms: termsOf(g.terms), group: g.group };
    if (!random.some((x) => JSON.stringify(x) === JSON.stringify(c))) random.push(c);
  }
  const offset: Expr[] = [];
  for (const e of f.offset ?? []) if (!offset.some((x) => JSON.stringify(x) === JSON.stringify(e))) offset.push(e);
  return { response, fixed: termsOf(f.fixed), intercept: f.intercept, random, ...(offset.length ? { offset } : {}) };
}

describe('properties', () => {
  it('parse(format(tree)) is the canonical tree, and formatting is idempotent', () => {
    fc.assert(
      fc.property(formulaArb, (f) => {
        const text = formatFormula(f);
        const parsed = parseFormula(text);
        expect(withoutText(parsed)).toEqual(canonical(f));
        const again = formatFormula(parsed);
        expect(formatFormula(parseFormula(again))).toBe(again);
      }),
      { numRuns: 400 },
    );
  });

  // Token soup finds the parser's corners far more often than random characters do.
  const soup = fc
    .array(
      fc.oneof(
        fc.constantFrom('y', 'x', 'g', ' ', '~', '+', '-', '*', ':', '|', '||', '(', ')', '0', '1', '2.5'),
        fc.constantFrom('I(', 'log(', 'factor(', 'cbind(', 'offset(', ',', '^', '/', '`a b`', '.'),
      ),
      { maxLength: 25 },
    )
    .map((parts) => parts.join(''));
  // Well-formed pieces joined by formula operators: mostly formulas, with the algebra's own
  // errors (random terms inside interactions, 1 in an interaction) mixed in.
  const pieces = fc
    .array(
      fc.tuple(
        fc.constantFrom(' + ', ' - ', '*', ':', ' + -'),
        fc.constantFrom('a', 'b', '`c d`', '1', '0', 'factor(g)', 'I(a^2)', 'log(b + 1)', 'I(-a / 2)', '(a + b)', '(1 | g)', '(a | g)', '(0 + b | h)', '(a*b)', 'offset(a)', 'offset(log(b))'),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((items) => items.map(([op, piece], i) => (i === 0 ? piece : op + piece)).join(''));
  const response = fc.constantFrom('y', 'log(y)', 'cbind(k, m - k)', 'cbind(k, f)', 'I(y / 2)');

  function check(text: string): boolean {
    let f: Formula;
    try {
      f = parseFormula(text);
    } catch (e) {
      if (!(e instanceof FormulaError)) throw e;
      expect(e.position).toBeGreaterThanOrEqual(0);
      expect(e.position).toBeLessThanOrEqual(text.length);
      return false;
    }
    const canon = formatFormula(f);
    expect(withoutText(parseFormula(canon))).toEqual(withoutText(f));
    expect(formatFormula(parseFormula(canon))).toBe(canon);
    expect(formulaColumns(f).length).toBeGreaterThan(0);
    return true;
  }

  it('any string gives a formula or a FormulaError', () => {
    const input = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), soup, soup.map((s) => `y ~ ${s}`));
    fc.assert(
      fc.property(input, (text) => {
        check(text);
      }),
      { numRuns: 1500 },
    );
  });

  it('formulas built from valid pieces parse, format canonically and parse back the same', () => {
    let parsed = 0;
    fc.assert(
      fc.property(response, pieces, (lhs, rhs) => {
        if (check(`${lhs} ~ ${rhs}`)) parsed++;
      }),
      { numRuns: 500 },
    );
    expect(parsed).toBeGreaterThan(100);
  });
});
