// Model formulas in the lme4 notation: `y ~ x + f + (1 + x | g)`, `cbind(k, n - k) ~ …`.
// Parsing runs in two steps. A recursive-descent parser builds a syntax tree with the position
// of every piece; an evaluation step then applies the formula algebra (a*b = a + b + a:b,
// subtraction, 0/1 for the intercept) to give the model's terms, so every error, syntactic or
// algebraic, can point at the text that caused it.
import { NgmmError } from './errors';

/** A data column by name. */
export interface ColumnRef {
  kind: 'column';
  name: string;
}

export type MathFunction = 'log' | 'exp' | 'sqrt' | 'abs';
export type ArithmeticOperator = '+' | '-' | '*' | '/' | '^';

/** Arithmetic on columns, as inside I(…), log(…) or the failures of cbind(…). */
export type Expr =
  | ColumnRef
  | { kind: 'number'; value: number }
  | { kind: 'call'; fn: MathFunction; arg: Expr }
  | { kind: 'binary'; op: ArithmeticOperator; left: Expr; right: Expr }
  | { kind: 'negate'; arg: Expr };

/**
 * One variable of a term: a column (numeric or categorical depending on the data), a column
 * forced to be categorical (`factor(x)`), or a computed covariate (`I(age^2)`, `log(x)`).
 * `I(x)` of a bare column is the column itself; `I(log(x))` is `log(x)`.
 */
export type Factor = ColumnRef | { kind: 'factor'; name: string } | { kind: 'transform'; expr: Expr };

/** A main effect (one factor) or an interaction (the product of several, `a:b`). */
export interface Term {
  factors: Factor[];
}

/**
 * `(1 + x | g)`: effects that vary by the levels of the grouping column `g`.
 *
 * lme4's shorthands are expanded as lme4 expands them (findbars, expandDoubleVerts):
 * `(1 + x || g)` is the uncorrelated pair `(1 | g) + (0 + x | g)`, one term per part of the
 * left side; `(1 | a/b)` is `(1 | b:a) + (1 | a)`, innermost first; `(1 | a:b)` groups by the
 * interaction of the columns a and b.
 */
export interface RandomTerm {
  intercept: boolean;
  terms: Term[];
  /** The grouping factor's name: a column, or an interaction's columns joined by ':' ('b:a'). */
  group: string;
  /** An interaction's columns (two or more), in the order of `group`; absent for one column. */
  groupFactors?: string[];
}

/**
 * The left of '~'. For `cbind(k, m - k)`, successes are the column `k`, failures the
 * expression `m - k` and trials `successes + failures`, simplified to `m` in that common form.
 */
export type Response =
  | ColumnRef
  | { kind: 'transform'; expr: Expr }
  | { kind: 'cbind'; successes: string; failures: Expr; trials: Expr };

export interface Formula {
  response: Response;
  /** Fixed-effect terms, without duplicates, main effects before interactions (stable). */
  fixed: Term[];
  /** Whether the fixed effects have an intercept (`0 +` or `- 1` removes it). */
  intercept: boolean;
  random: RandomTerm[];
  /**
   * The `offset(…)` terms, without repeats (as R's terms() keeps one variable per distinct
   * expression): known parts of η, summed. Absent when there are none.
   */
  offset?: Expr[];
  /** The formula as written; equivalent formulas differ here, so compare the other fields. */
  text: string;
}

export class FormulaError extends NgmmError {
  override name = 'FormulaError';
  /** 0-based index (UTF-16 code unit) into the formula text. */
  readonly position: number;

  constructor(what: string, text: string, position: number) {
    // Whitespace that would break the caret's alignment is shown as a space.
    const head = `formula: ${what} at position ${position}: '`;
    super(`${head}${text.replace(/[\r\n\t\v\f]/g, ' ')}'\n${' '.repeat(head.length + position)}^`);
    this.position = position;
  }
}

const MATH_FUNCTIONS: readonly string[] = ['log', 'exp', 'sqrt', 'abs'];
const TERM_FUNCTIONS = ['factor', 'I', 'offset', ...MATH_FUNCTIONS];
// Far beyond any formula a person writes; stops a hostile input from exhausting the stack
// (nesting) or memory (a*b*c*… doubles the term count with every factor).
const MAX_DEPTH = 200;
const MAX_TERMS = 4096;

// ---------------------------------------------------------------------------------------------
// Tokens

interface Token {
  kind: 'name' | 'number' | 'op' | 'end';
  text: string;
  pos: number;
  value: number;
}

const IDENTIFIER = /(?:\p{L}|\.(?!\d))[\p{L}\p{N}\p{M}._]*/uy;
const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const OPERATORS = ['||', '~', '+', '-', '*', '/', '^', ':', '|', '(', ')', ','];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const pos = i;
    if (c === '`') {
      const close = text.indexOf('`', i + 1);
      if (close < 0) throw new FormulaError("unclosed '`' (a backquoted column name)", text, pos);
      if (close === i + 1) throw new FormulaError('empty column name between backquotes', text, pos);
      tokens.push({ kind: 'name', text: text.slice(i + 1, close), pos, value: NaN });
      i = close + 1;
      continue;
    }
    NUMBER.lastIndex = IDENTIFIER.lastIndex = i;
    const number = NUMBER.exec(text);
    if (number) {
      const value = Number(number[0]);
      if (!Number.isFinite(value)) throw new FormulaError(`the number ${number[0]} is too large`, text, pos);
      tokens.push({ kind: 'number', text: number[0], pos, value });
      i += number[0].length;
      continue;
    }
    const name = IDENTIFIER.exec(text);
    if (name) {
      if (name[0] === '.') throw new FormulaError("'.' (all other columns) is not supported: list the columns", text, pos);
      tokens.push({ kind: 'name', text: name[0], pos, value: NaN });
      i += name[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new FormulaError(`unexpected character ${JSON.stringify(String.fromCodePoint(text.codePointAt(i)!))}`, text, pos);
    tokens.push({ kind: 'op', text: op, pos, value: NaN });
    i += op.length;
  }
  tokens.push({ kind: 'end', text: '', pos: text.length, value: NaN });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Syntax tree of the right-hand side, before the formula algebra

type Node =
  | { t: 'sum'; items: { minus: boolean; node: Node; pos: number }[] }
  | { t: 'cross' | 'colon'; operands: Node[]; pos: number[] } // pos[k]: the operator before operands[k + 1]
  | { t: 'bar'; lhs: Node; groups: string[][]; double: boolean; pos: number }
  | { t: 'int'; value: boolean; pos: number }
  | { t: 'factor'; factor: Factor; pos: number }
  | { t: 'offset'; expr: Expr; pos: number };

interface Part {
  terms: Term[];
  /** null: the part does not say. */
  intercept: boolean | null;
  random: RandomTerm[];
  offset: Expr[];
}

class Parser {
  private i = 0;
  private depth = 0;
  /** factorKey of each fixed-effect variable as it is read (with repeats): R's variable order. */
  readonly seen: string[] = [];

  constructor(
    private readonly text: string,
    private readonly tokens: Token[],
  ) {}

  fail(what: string, pos: number): never {
    throw new FormulaError(what, this.text, pos);
  }

  peek(k = 0): Token {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)];
  }

  next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.i++;
    return t;
  }

  is(op: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'op' && t.text === op;
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_DEPTH) this.fail(`the formula is nested more than ${MAX_DEPTH} deep`, pos);
  }

  private previous(): string {
    return this.i > 0 ? `after '${this.tokens[this.i - 1].text}'` : 'at the start';
  }

  /** A column name that is not a function call. */
  private isColumn(k = 0): boolean {
    return this.peek(k).kind === 'name' && !this.is('(', k + 1);
  }

  /** The token where a construct had to end and did not. */
  unexpected(t: Token, expected: string): never {
    if (t.kind === 'end') this.fail(`${expected}, but the formula ends`, t.pos);
    switch (t.text) {
      case '~':
        this.fail("a second '~' (a formula has exactly one)", t.pos);
      case ')':
        this.fail("unmatched ')'", t.pos);
      case '|':
        this.fail("'|' outside parentheses: a random-effect term is written (… | group)", t.pos);
      case '||':
        this.fail("'||' outside parentheses: an uncorrelated random-effect term is written (… || group)", t.pos);
      case '^':
        this.fail("'^' between terms is not supported: for a power write I(x^2)", t.pos);
      case '/':
        this.fail("'/' between terms (nesting) is not supported: for a ratio write I(a/b)", t.pos);
    }
    this.fail(`${expected}, found '${t.text}'`, t.pos);
  }

  // Closes a parenthesis opened at `open`, or says why it cannot.
  private close(open: Token, expected: string): void {
    const t = this.peek();
    if (t.kind === 'op' && t.text === ')') {
      this.next();
      return;
    }
    if (t.kind === 'end') this.fail("unclosed '('", open.pos);
    this.unexpected(t, expected);
  }

  // --- the response -------------------------------------------------------------------------

  response(): Response {
    const t = this.peek();
    if (t.kind === 'name' && this.is('(', 1)) {
      if (t.text === 'cbind') return this.cbind();
      if (t.text === 'factor') this.fail('factor() cannot be the response (a two-level text column is read as failure/success by itself)', t.pos);
      if (t.text === 'offset') this.fail('offset() cannot be the response; it is a term right of \'~\'', t.pos);
      const f = this.call();
      if (f.kind !== 'factor') return f; // always: factor() is excluded above
    }
    if (t.kind === 'name') {
      this.next();
      return { kind: 'column', name: t.text };
    }
    this.fail(`expected the response (a column, a transform or cbind(successes, failures)) before '~'`, t.pos);
  }

  private cbind(): Response {
    this.next();
    const open = this.next();
    this.enter(open.pos);
    const s = this.peek();
    if (!this.isColumn()) this.fail('the successes in cbind(successes, failures) must be a column name', s.pos);
    this.next();
    if (this.is(')')) this.fail('cbind() takes two arguments: successes and failures', this.peek().pos);
    if (!this.is(',')) this.unexpected(this.peek(), "expected ',' and the failures in cbind(successes, failures)");
    this.next();
    const failures = this.expr();
    if (this.is(',')) this.fail('cbind() takes two arguments: successes and failures', this.peek().pos);
    this.close(open, "expected ')' to close cbind(");
    this.depth--;
    // successes + (m - successes) = m: the usual way of writing "k out of m".
    const simple = failures.kind === 'binary' && failures.op === '-' && failures.right.kind === 'column' && failures.right.name === s.text;
    const trials: Expr = simple ? failures.left : { kind: 'binary', op: '+', left: { kind: 'column', name: s.text }, right: failures };
    return { kind: 'cbind', successes: s.text, failures, trials };
  }

  // --- the right-hand side: terms ----------------------------------------------------------

  /** item (('+' | '-') item)*, where each item may carry signs of its own (`- 1`, `+ -1`). */
  sum(): Node {
    const items: { minus: boolean; node: Node; pos: number }[] = [];
    do {
      let minus = false;
      if (items.length > 0) minus = this.next().text === '-';
      while (this.is('+') || this.is('-')) if (this.next().text === '-') minus = !minus;
      const pos = this.peek().pos;
      items.push({ minus, node: this.cross(), pos });
    } while (this.is('+') || this.is('-'));
    return { t: 'sum', items };
  }

  private cross(): Node {
    return this.chain('*', 'cross', () => this.colon());
  }

  private colon(): Node {
    return this.chain(':', 'colon', () => this.atom());
  }

  // Operands joined by one operator, kept as a list so a long chain needs no deep recursion.
  private chain(op: string, t: 'cross' | 'colon', operand: () => Node): Node {
    const first = operand();
    if (!this.is(op)) return first;
    const operands = [first];
    const pos: number[] = [];
    while (this.is(op)) {
      pos.push(this.next().pos);
      operands.push(operand());
    }
    return { t, operands, pos };
  }

  private atom(): Node {
    const t = this.peek();
    if (t.kind === 'op' && t.text === '(') return this.parenthesis();
    if (t.kind === 'number') {
      this.next();
      if (t.value !== 0 && t.value !== 1) {
        this.fail(`the number ${t.text} cannot be a term (0 or 1 set the intercept; arithmetic goes inside I())`, t.pos);
      }
      return { t: 'int', value: t.value === 1, pos: t.pos };
    }
    if (t.kind === 'name') {
      if (this.is('(', 1)) {
        if (t.text === 'cbind') this.fail("cbind() can only be the response, left of '~'", t.pos);
        if (t.text === 'offset') return { t: 'offset', expr: this.offset(), pos: t.pos };
        const factor = this.call();
        this.seen.push(factorKey(factor));
        return { t: 'factor', factor, pos: t.pos };
      }
      this.next();
      const factor: Factor = { kind: 'column', name: t.text };
      this.seen.push(factorKey(factor));
      return { t: 'factor', factor, pos: t.pos };
    }
    this.fail(`expected a term ${this.previous()}`, t.pos);
  }

  private parenthesis(): Node {
    const open = this.next();
    this.enter(open.pos);
    const seen = this.seen.length;
    const inner = this.sum();
    let node = inner;
    if (this.is('|') || this.is('||')) {
      // lme4 builds the fixed-effect design from the formula without its bars (nobars()).
      this.seen.length = seen;
      const bar = this.next();
      const groups = this.grouping(bar.text);
      const last = this.tokens[this.i - 1].text;
      this.close(open, `expected ')' after the grouping factor '${last}'`);
      node = { t: 'bar', lhs: inner, groups, double: bar.text === '||', pos: open.pos };
    } else {
      this.close(open, "expected ')'");
    }
    this.depth--;
    return node;
  }

  /**
   * The grouping after '|': chunks `a:b` (an interaction of columns) separated by '/'
   * (nesting). `c1/c2/…/ck` gives the groupings ck:…:c2:c1, …, c2:c1, c1, innermost first as
   * lme4's expandSlash lists them; each is the list of its columns in that order.
   */
  private grouping(bar: string): string[][] {
    const chunks: string[][] = [];
    let sep = bar;
    do {
      if (chunks.length > 0) sep = this.next().text; // '/'
      const chunk: string[] = [];
      do {
        if (chunk.length > 0) sep = this.next().text; // ':'
        const g = this.peek();
        if (g.kind === 'end' || (g.kind === 'op' && g.text === ')')) this.fail(`expected a grouping factor after '${sep}'`, g.pos);
        if (!this.isColumn()) this.fail(`the grouping factor after '${sep}' must be a column name`, g.pos);
        if (chunks.some((c) => c.includes(g.text)) || chunk.includes(g.text)) {
          this.fail(`the column ${JSON.stringify(g.text)} appears twice in one grouping factor`, g.pos);
        }
        this.next();
        chunk.push(g.text);
      } while (this.is(':'));
      chunks.push(chunk);
    } while (this.is('/'));
    const groups: string[][] = [];
    for (let k = chunks.length; k >= 1; k--) groups.push(chunks.slice(0, k).reverse().flat());
    return groups;
  }

  /** offset(expr): a known term of η, computed from the columns. */
  private offset(): Expr {
    this.next();
    const open = this.next();
    this.enter(open.pos);
    const e = this.expr();
    if (this.is(',')) this.fail('offset() takes one argument', this.peek().pos);
    this.close(open, "expected ')' to close offset(");
    this.depth--;
    return e;
  }

  /** name(…) as a term: factor(col), I(expr), log(expr), exp(expr), sqrt(expr), abs(expr). */
  private call(): Factor {
    const fn = this.next();
    if (!TERM_FUNCTIONS.includes(fn.text)) {
      this.fail(`unknown function '${fn.text}' (known: ${TERM_FUNCTIONS.map((f) => f + '()').join(', ')}, and cbind() as the response)`, fn.pos);
    }
    const open = this.next();
    this.enter(open.pos);
    let factor: Factor;
    if (fn.text === 'factor') {
      const arg = this.peek();
      if (!this.isColumn()) this.fail('factor() takes one column name', arg.pos);
      this.next();
      factor = { kind: 'factor', name: arg.text };
    } else {
      const arg = this.expr();
      if (fn.text === 'I') factor = arg.kind === 'column' ? arg : { kind: 'transform', expr: arg };
      else factor = { kind: 'transform', expr: { kind: 'call', fn: fn.text as MathFunction, arg } };
    }
    if (this.is(',')) this.fail(`${fn.text}() takes one argument`, this.peek().pos);
    this.close(open, `expected ')' to close ${fn.text}(`);
    this.depth--;
    return factor;
  }

  // --- arithmetic (R's precedence: ^ over unary minus over * / over + -) -----------------

  expr(): Expr {
    return this.binary(['+', '-'], () => this.product());
  }

  private product(): Expr {
    return this.binary(['*', '/'], () => this.unary());
  }

  private binary(ops: string[], operand: () => Expr): Expr {
    let left = operand();
    const depth = this.depth;
    while (ops.some((o) => this.is(o))) {
      const op = this.next();
      this.enter(op.pos); // the tree deepens with each operator of a chain
      left = { kind: 'binary', op: op.text as ArithmeticOperator, left, right: operand() };
    }
    this.depth = depth;
    return left;
  }

  private unary(): Expr {
    if (!this.is('-') && !this.is('+')) return this.power();
    const sign = this.next();
    this.enter(sign.pos);
    const arg = this.unary();
    this.depth--;
    return sign.text === '-' ? { kind: 'negate', arg } : arg;
  }

  private power(): Expr {
    const base = this.primary();
    if (!this.is('^')) return base;
    const op = this.next();
    this.enter(op.pos);
    const exponent = this.unary(); // right-associative, and 2^-1 is allowed
    this.depth--;
    return { kind: 'binary', op: '^', left: base, right: exponent };
  }

  private primary(): Expr {
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return { kind: 'number', value: t.value };
    }
    if (t.kind === 'name') {
      if (!this.is('(', 1)) {
        this.next();
        return { kind: 'column', name: t.text };
      }
      if (!MATH_FUNCTIONS.includes(t.text)) {
        const where =
          TERM_FUNCTIONS.includes(t.text) || t.text === 'cbind'
            ? `${t.text}() cannot be used inside an arithmetic expression`
            : `unknown function '${t.text}'`;
        this.fail(`${where} (arithmetic knows ${MATH_FUNCTIONS.map((f) => f + '()').join(', ')})`, t.pos);
      }
      this.next();
      const open = this.next();
      this.enter(open.pos);
      const arg = this.expr();
      if (this.is(',')) this.fail(`${t.text}() takes one argument`, this.peek().pos);
      this.close(open, `expected ')' to close ${t.text}(`);
      this.depth--;
      return { kind: 'call', fn: t.text as MathFunction, arg };
    }
    if (t.kind === 'op' && t.text === '(') {
      const open = this.next();
      this.enter(open.pos);
      const e = this.expr();
      this.close(open, "expected ')'");
      this.depth--;
      return e;
    }
    this.fail(`expected a number, a column or a function ${this.previous()}`, t.pos);
  }

  // --- the formula algebra ----------------------------------------------------------------

  evaluate(node: Node, randomAllowed: boolean): Part {
    switch (node.t) {
      case 'factor':
        return { terms: [{ factors: [node.factor] }], intercept: null, random: [], offset: [] };
      case 'int':
        return { terms: [], intercept: node.value, random: [], offset: [] };
      case 'offset':
        if (!randomAllowed) this.fail('offset() must be added on its own, not inside another term', node.pos);
        return { terms: [], intercept: null, random: [], offset: [node.expr] };
      case 'bar': {
        if (!randomAllowed) this.fail('a random-effect term (… | g) must be added on its own, not inside another term', node.pos);
        const lhs = this.evaluate(node.lhs, false);
        const intercept = lhs.intercept ?? true;
        if (!intercept && lhs.terms.length === 0) this.fail(`the random-effect term has no effects: put 1 or a slope before '${node.double ? '||' : '|'}'`, node.pos);
        const terms = byDegree(lhs.terms);
        // lme4 (≥ 1.1) splits (1 + x + z || g) by the terms of its left side: (1 | g) + (0 + x | g)
        // + (0 + z | g), uncorrelated because they are separate terms (lme4's expandDoubleVerts).
        const parts = node.double ? [...(intercept ? [{ intercept, terms: [] }] : []), ...terms.map((t) => ({ intercept: false, terms: [t] }))] : [{ intercept, terms }];
        const random: RandomTerm[] = [];
        for (const part of parts) {
          for (const g of node.groups) random.push({ ...part, group: g.join(':'), ...(g.length > 1 ? { groupFactors: g } : {}) });
        }
        return { terms: [], intercept: null, random, offset: [] };
      }
      case 'sum': {
        let terms = new TermSet();
        let intercept: boolean | null = null;
        const random: RandomTerm[] = [];
        const offset: Expr[] = [];
        for (const { minus, node: item, pos } of node.items) {
          if (minus && item.t === 'bar') this.fail('a random-effect term cannot be subtracted', pos);
          if (minus && item.t === 'offset') this.fail('an offset cannot be subtracted: write offset(-(…))', pos);
          const part = this.evaluate(item, randomAllowed && !minus);
          if (minus) {
            const drop = new Set(part.terms.map(termKey));
            terms = new TermSet().add(terms.terms.filter((t) => !drop.has(termKey(t))));
            if (part.intercept !== null) intercept = !part.intercept;
          } else {
            terms.add(part.terms);
            if (part.intercept !== null) intercept = part.intercept;
            random.push(...part.random);
            offset.push(...part.offset);
          }
        }
        return { terms: terms.terms, intercept, random, offset };
      }
      default: {
        // a:b:c multiplies out its operands' terms; a*b*c also keeps every lower-order product.
        let terms: Term[] = [];
        node.operands.forEach((operand, k) => {
          const part = this.evaluate(operand, false);
          const at = node.pos[Math.max(0, k - 1)]; // the operator next to this operand
          if (part.intercept !== null) this.fail(`0 and 1 set the intercept and cannot be part of an interaction '${node.t === 'cross' ? '*' : ':'}'`, at);
          if (k === 0) {
            terms = part.terms;
            return;
          }
          const size = terms.length * part.terms.length + (node.t === 'cross' ? terms.length + part.terms.length : 0);
          if (size > MAX_TERMS) this.fail(`the interaction expands to more than ${MAX_TERMS} terms`, at);
          const next = new TermSet();
          if (node.t === 'cross') next.add(terms).add(part.terms);
          for (const a of terms) next.add(part.terms.map((b) => multiply(a, b)));
          terms = next.terms;
        });
        return { terms, intercept: null, random: [], offset: [] };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Terms: identity, products, order

/** A variable's identity: a column, factor() of a column, or a computed expression. */
export function factorKey(f: Factor): string {
  return f.kind === 'transform' ? 't' + formatExpr(f.expr) : (f.kind === 'column' ? 'c' : 'f') + f.name;
}

// a:b and b:a are one term, so the key ignores the order of the factors.
function termKey(t: Term): string {
  return t.factors.map(factorKey).sort().join('\u0000');
}

/** Terms without repeats, in order of first appearance. */
class TermSet {
  readonly terms: Term[] = [];
  private readonly keys = new Set<string>();

  add(terms: Term[]): this {
    for (const t of terms) {
      const k = termKey(t);
      if (this.keys.has(k)) continue;
      this.keys.add(k);
      this.terms.push(t);
    }
    return this;
  }
}

// x:x is x, as in R.
function multiply(a: Term, b: Term): Term {
  const keys = new Set(a.factors.map(factorKey));
  return { factors: [...a.factors, ...b.factors.filter((f) => !keys.has(factorKey(f)))] };
}

// Main effects first, then two-way interactions, …; stable, as R's terms() orders them.
function byDegree(terms: Term[]): Term[] {
  return terms.map((t, i) => [t, i] as const).sort((a, b) => a[0].factors.length - b[0].factors.length || a[1] - b[1]).map(([t]) => t);
}

function randomKey(r: RandomTerm): string {
  return `${r.intercept ? 1 : 0}\u0001${r.terms.map(termKey).join('\u0001')}\u0002${(r.groupFactors ?? [r.group]).join('\u0000')}`;
}

/** The columns a random-effect term groups by: one, or an interaction's. */
export function groupColumns(r: RandomTerm): string[] {
  return r.groupFactors ?? [r.group];
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Parses an lme4-style formula; throws a FormulaError pointing at the first problem. */
export function parseFormula(text: string): Formula {
  return parse(text).formula;
}

/**
 * The fixed-effect variables (by factorKey) in the order R lists them (first appearance in
 * the formula without its random-effect terms): the order of the factors within a term's
 * design columns, and which factor is coded in full when there is no intercept.
 */
export function variableOrder(f: Formula): string[] {
  let seen: string[];
  try {
    seen = parse(f.text).seen;
  } catch {
    seen = [];
  }
  for (const t of f.fixed) for (const x of t.factors) seen.push(factorKey(x));
  return [...new Set(seen)];
}

function parse(text: string): { formula: Formula; seen: string[] } {
  const tokens = tokenize(text);
  const tildes = tokens.filter((t) => t.kind === 'op' && t.text === '~');
  if (tildes.length > 1) throw new FormulaError("a second '~' (a formula has exactly one)", text, tildes[1].pos);
  const p = new Parser(text, tokens);
  if (tildes.length === 0) {
    // Point where the '~' belongs: after the response, if there is one.
    let pos = 0;
    try {
      p.response();
      pos = p.peek().pos;
    } catch (e) {
      if (!(e instanceof FormulaError)) throw e;
    }
    throw new FormulaError("missing '~': a formula reads 'response ~ terms'", text, pos);
  }
  const response = p.response();
  if (!p.is('~')) p.unexpected(p.peek(), "expected '~' after the response (a column, a transform or cbind(successes, failures))");
  p.next();
  const rhs = p.sum();
  const end = p.peek();
  if (end.kind !== 'end') p.unexpected(end, "expected '+' or the end of the formula");
  const part = p.evaluate(rhs, true);
  const random: RandomTerm[] = [];
  const seen = new Set<string>();
  for (const r of part.random) {
    const k = randomKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    random.push(r);
  }
  const offset = [...new Map(part.offset.map((e) => [formatExpr(e), e])).values()];
  return { formula: { response, fixed: byDegree(part.terms), intercept: part.intercept ?? true, random, ...(offset.length ? { offset } : {}), text }, seen: p.seen };
}

const BARE_NAME = /^(?:\p{L}|\.(?!\d))[\p{L}\p{N}\p{M}._]*$/u;

function formatName(name: string): string {
  if (BARE_NAME.test(name) && name !== '.') return name;
  if (name === '' || name.includes('`')) throw new Error(`formatFormula: the column name ${JSON.stringify(name)} cannot be written in a formula`);
  return '`' + name + '`';
}

// Binding strength: + - < * / < unary minus < ^ < atoms.
function precedence(e: Expr): number {
  if (e.kind === 'binary') return e.op === '+' || e.op === '-' ? 1 : e.op === '^' ? 4 : 2;
  return e.kind === 'negate' ? 3 : 5;
}

/** Writes an expression with the fewest parentheses that parse back to the same tree. */
export function formatExpr(e: Expr): string {
  switch (e.kind) {
    case 'column':
      return formatName(e.name);
    case 'number':
      if (!Number.isFinite(e.value)) throw new Error(`formatFormula: cannot write the number ${e.value}`);
      return String(e.value);
    case 'call':
      return `${e.fn}(${formatExpr(e.arg)})`;
    case 'negate': {
      const arg = formatExpr(e.arg);
      return precedence(e.arg) < 3 ? `-(${arg})` : `-${arg}`;
    }
    case 'binary': {
      const p = precedence(e);
      const lp = precedence(e.left);
      const rp = precedence(e.right);
      // Left-associative + - * /: a right operand of equal strength needs parentheses;
      // right-associative ^: a left one does, and the exponent may be a bare unary minus.
      const left = e.op === '^' ? lp <= p : lp < p;
      const right = e.op === '^' ? rp < 3 : rp <= p;
      const l = left ? `(${formatExpr(e.left)})` : formatExpr(e.left);
      const r = right ? `(${formatExpr(e.right)})` : formatExpr(e.right);
      return e.op === '^' ? `${l}^${r}` : `${l} ${e.op} ${r}`;
    }
  }
}

function formatFactor(f: Factor): string {
  if (f.kind === 'column') return formatName(f.name);
  if (f.kind === 'factor') return `factor(${formatName(f.name)})`;
  return f.expr.kind === 'call' ? formatExpr(f.expr) : `I(${formatExpr(f.expr)})`;
}

function formatTerm(t: Term): string {
  return t.factors.map(formatFactor).join(':');
}

/**
 * The canonical text of a formula: parseFormula(formatFormula(f)) gives f back (up to `text`),
 * and formatting what that gives returns the same string.
 */
export function formatFormula(f: Formula): string {
  const r = f.response;
  const lhs = r.kind === 'cbind' ? `cbind(${formatName(r.successes)}, ${formatExpr(r.failures)})` : formatFactor(r);
  const fixed = [...f.fixed.map(formatTerm), ...(f.offset ?? []).map((e) => `offset(${formatExpr(e)})`)];
  const rhs = f.intercept ? (f.fixed.length > 0 ? fixed : ['1', ...fixed]) : ['0', ...fixed];
  for (const g of f.random) {
    const effects = [g.intercept ? '1' : '0', ...g.terms.map(formatTerm)];
    rhs.push(`(${effects.join(' + ')} | ${groupColumns(g).map(formatName).join(':')})`);
  }
  return `${lhs} ~ ${rhs.join(' + ')}`;
}

/** Every data column the formula reads, in order of first mention. */
export function formulaColumns(f: Formula): string[] {
  const out = new Set<string>();
  const expr = (e: Expr): void => {
    if (e.kind === 'column') out.add(e.name);
    else if (e.kind === 'call' || e.kind === 'negate') expr(e.arg);
    else if (e.kind === 'binary') {
      expr(e.left);
      expr(e.right);
    }
  };
  const factor = (x: Factor) => (x.kind === 'transform' ? expr(x.expr) : out.add(x.name));
  const terms = (ts: Term[]) => ts.forEach((t) => t.factors.forEach(factor));
  const r = f.response;
  if (r.kind === 'cbind') {
    out.add(r.successes);
    expr(r.failures);
  } else {
    factor(r);
  }
  terms(f.fixed);
  for (const e of f.offset ?? []) expr(e);
  for (const g of f.random) {
    terms(g.terms);
    for (const c of groupColumns(g)) out.add(c);
  }
  return [...out];
}

/**
 * Where the formula text first names a column (0-based, as FormulaError's position), for
 * errors found later against the data; the end of the text when it does not name it.
 */
export function columnPosition(text: string, name: string): number {
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch {
    return text.length;
  }
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    const call = tokens[k + 1]?.kind === 'op' && tokens[k + 1].text === '(';
    if (t.kind === 'name' && t.text === name && !call) return t.pos;
  }
  return text.length;
}
