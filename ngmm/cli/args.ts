// Command-line arguments: each command declares its options once (name, value placeholder,
// default, help); the same table drives Node's `util.parseArgs` in strict mode and the command's
// `--help`. Every refusal is a UsageError naming the flag, with a "did you mean" for near
// misses, and the value checks below name the flag and the accepted range.
import { parseArgs } from 'node:util';

/** A mistake in how the command was called (exit status 2), as opposed to a data error (1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  /** Long name without the dashes. */
  name: string;
  short?: string;
  /** Placeholder of the value in the help; absent for a boolean flag. */
  arg?: string;
  /** The default as the help shows it; absent when the option has none. */
  default?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** Positional arguments, in order, as the help names them. */
  positionals: string[];
  /** What the command does, for its help. */
  summary: string;
  /** A few words for the command list of `ngmm --help`. */
  brief: string;
  options: OptionSpec[];
  /** Extra help lines (examples, notes). */
  notes?: string[];
}

export interface ParsedArgs {
  positionals: string[];
  /** Given option values by long name: a string, or true for a boolean flag. */
  values: Map<string, string | true>;
}

const HELP: OptionSpec = { name: 'help', short: 'h', help: 'show this help and exit' };

/** The options a command accepts, --help included. */
export function optionsOf(cmd: CommandSpec): OptionSpec[] {
  return [...cmd.options, HELP];
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev2 = new Array<number>(n + 1).fill(0);
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = new Array<number>(n + 1);
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j], prev2[j - 2] + 1);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[n];
}

/**
 * The closest candidate to `given`, compared without case and with '_' read as '-', when it is
 * close enough to be a slip: at most one edit for short names, about a third of the name for
 * longer ones (`--epoch` → `--epochs`, `--REML` → `--reml`, `--batchsize` → `--batch-size`).
 */
export function closest(given: string, candidates: readonly string[]): string | null {
  const g = given.toLowerCase().replace(/_/g, '-');
  let best: string | null = null, bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(g, c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const allowed = Math.max(1, Math.floor(g.length / 3));
  return best !== null && bestD <= allowed ? best : null;
}

const NEGATIVE_NUMBER = /^-(?:\d|\.\d)/;

/**
 * Parses `argv` (the arguments after the command name) against the command's options. `others`
 * maps option names of the other commands to their command, to say where a stray flag belongs.
 */
export function parseCommandArgs(cmd: CommandSpec, argv: readonly string[], others: ReadonlyMap<string, string> = new Map()): ParsedArgs {
  const specs = optionsOf(cmd);
  const byName = new Map(specs.map((o) => [o.name, o]));
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = Object.create(null);
  for (const o of specs) config[o.name] = o.short ? { type: o.arg ? 'string' : 'boolean', short: o.short } : { type: o.arg ? 'string' : 'boolean' };
  // `--lr -1`: Node reads a value that starts with '-' as a possible forgotten value and refuses
  // it; a negative number after a valued option is plainly its value, so it is joined as
  // `--lr=-1` and reaches the range check, which names the flag and the range.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const long = /^--([^=]+)$/.exec(a);
    const spec = long ? byName.get(long[1]) : undefined;
    if (spec?.arg && i + 1 < argv.length && NEGATIVE_NUMBER.test(argv[i + 1])) {
      args.push(`${a}=${argv[++i]}`);
    } else args.push(a);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw new UsageError(explain(cmd, args, config, others) ?? `ngmm ${cmd.name}: ${firstLine((e as Error).message)}`);
  }
  const values = new Map<string, string | true>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    const flag = flagName(byName.get(t.name)!);
    if (values.has(t.name)) throw new UsageError(`${flag} is given twice; give it once`);
    values.set(t.name, t.value === undefined ? true : t.value);
  }
  return { positionals: parsed.positionals, values };
}

function flagName(o: OptionSpec): string {
  return `--${o.name}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

// Why strict parsing refused: the first offending token of a lenient parse of the same
// arguments, in words that name the flag.
function explain(cmd: CommandSpec, args: string[], config: Record<string, { type: 'string' | 'boolean'; short?: string }>, others: ReadonlyMap<string, string>): string | null {
  let tokens;
  try {
    tokens = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true }).tokens ?? [];
  } catch {
    return null;
  }
  const names = Object.keys(config);
  const shorts = Object.values(config).flatMap((c) => (c.short ? [c.short] : []));
  const see = ` (see ngmm ${cmd.name} --help)`;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = Object.hasOwn(config, t.name) ? config[t.name] : undefined;
    if (!spec) {
      const raw = t.rawName;
      if (raw.startsWith('--')) {
        const where = others.get(t.name);
        if (where) return `${raw} is an option of 'ngmm ${where}', not of 'ngmm ${cmd.name}'${see}`;
        const near = closest(t.name, names);
        return `unknown option ${raw} for 'ngmm ${cmd.name}'${near ? ` (did you mean --${near}?)` : see}`;
      }
      // A single dash: '-epochs' is read as the short flags -e -p -o …; name what was typed.
      const typed = args[t.index];
      if (typed.length > 2 && !typed.startsWith('--')) {
        const near = closest(typed.slice(1), names);
        return `unknown option ${typed} for 'ngmm ${cmd.name}' (long options take two dashes${near ? `: did you mean --${near}?` : ''})`;
      }
      const near = shorts.find((s) => s.toLowerCase() === t.name.toLowerCase());
      return `unknown option ${raw} for 'ngmm ${cmd.name}'${near ? ` (did you mean -${near}?)` : see}`;
    }
    if (spec.type === 'string' && t.value === undefined) return `${t.rawName} needs a value${see}`;
    if (spec.type === 'string' && !t.inlineValue && t.value !== undefined && t.value.startsWith('-')) {
      return `${t.rawName} needs a value, got the option '${t.value}' (write ${t.rawName}=${t.value} if that is the value)`;
    }
    if (spec.type === 'boolean' && t.inlineValue) return `${t.rawName} is a flag and takes no value, got '${t.rawName}=${t.value}'`;
  }
  return null;
}

/** A positional as usage lines show it: `<model.json>`, or an optional one as written, `[data.csv]`. */
export function positionalText(p: string): string {
  return p.startsWith('[') ? p : `<${p}>`;
}

/** Refuses a wrong number of positional arguments, naming what is missing or extra. */
export function expectPositionals(cmd: CommandSpec, pos: readonly string[]): void {
  const want = cmd.positionals;
  const required = want.filter((w) => !w.startsWith('['));
  if (pos.length < required.length) {
    throw new UsageError(`'ngmm ${cmd.name}' needs ${required.slice(pos.length).map(positionalText).join(' and ')} (usage: ngmm ${cmd.name} ${want.map(positionalText).join(' ')} [options])`);
  }
  if (pos.length > want.length) {
    const extra = pos[want.length];
    const asFlag = optionsOf(cmd).some((o) => o.name === extra) ? ` (did you mean --${extra}?)` : '';
    throw new UsageError(`'ngmm ${cmd.name}' takes ${want.length === 0 ? 'no arguments' : want.map(positionalText).join(' ')}, got the extra argument '${extra}'${asFlag}`);
  }
}

/** The command's help: usage line, every option with its default, and the notes. */
export function helpText(cmd: CommandSpec): string {
  const specs = optionsOf(cmd);
  const left = specs.map((o) => `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.arg ? ` <${o.arg}>` : ''}`);
  const width = Math.max(...left.map((l) => l.length));
  const lines = [
    `usage: ngmm ${cmd.name}${cmd.positionals.map((p) => ` ${positionalText(p)}`).join('')}${cmd.options.length ? ' [options]' : ''}`,
    '',
    cmd.summary,
    '',
    'options:',
    ...specs.map((o, i) => `  ${left[i].padEnd(width)}  ${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ''}`),
  ];
  if (cmd.notes?.length) lines.push('', ...cmd.notes);
  return lines.join('\n');
}

// Option values. Each reads the flag's text strictly (decimal or scientific notation only:
// Number() alone would take '', ' 5', '0x10' and 'Infinity') and states the accepted range.

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function text(v: ParsedArgs['values'], name: string): string | undefined {
  const x = v.get(name);
  if (x === undefined) return undefined;
  if (x === true) throw new UsageError(`--${name} needs a value`);
  return x;
}

function parseNumber(name: string, s: string, range: string): number {
  const x = NUMBER.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be ${range}, got '${s}'`);
  return x;
}

/** A finite number in a range given by its bounds; `open` bounds exclude the end. */
export function numberIn(v: ParsedArgs['values'], name: string, lo: number, hi: number, opts: { loOpen?: boolean; hiOpen?: boolean } = {}): number | undefined {
  const s = text(v, name);
  if (s === undefined) return undefined;
  const range = hi === Infinity
    ? `a number ${opts.loOpen ? '>' : '≥'} ${lo}`
    : `a number in ${opts.loOpen ? '(' : '['}${lo}, ${hi}${opts.hiOpen ? ')' : ']'}`;
  const x = parseNumber(name, s, range);
  if (x < lo || (opts.loOpen && x === lo) || x > hi || (opts.hiOpen && x === hi)) throw new UsageError(`--${name} must be ${range}, got '${s}'`);
  return x;
}

/** An integer from lo to hi. */
export function integerIn(v: ParsedArgs['values'], name: string, lo: number, hi: number): number | undefined {
  const s = text(v, name);
  if (s === undefined) return undefined;
  const range = hi === Number.MAX_SAFE_INTEGER ? (lo === 1 ? 'a positive integer' : `an integer ≥ ${lo}`) : `an integer from ${lo} to ${hi}`;
  const x = parseNumber(name, s, range);
  if (!Number.isInteger(x) || x < lo || x > hi) throw new UsageError(`--${name} must be ${range}, got '${s}'`);
  return x;
}

/** A comma-separated list of integers from 1 to max (layer sizes). */
export function sizeList(v: ParsedArgs['values'], name: string, max: number): number[] | undefined {
  const s = text(v, name);
  if (s === undefined) return undefined;
  const parts = s.split(',').map((p) => p.trim());
  const ok = parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= max);
  if (!ok || parts.length === 0) throw new UsageError(`--${name} takes integers from 1 to ${max} separated by commas (e.g. 64,32,16), got '${s}'`);
  return parts.map(Number);
}

/** A comma-separated list of names (columns). */
export function nameList(v: ParsedArgs['values'], name: string): string[] | undefined {
  const s = text(v, name);
  if (s === undefined) return undefined;
  const parts = s.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`--${name} takes column names separated by commas, got '${s}'`);
  const seen = new Set<string>();
  for (const p of parts) {
    if (seen.has(p)) throw new UsageError(`--${name} names the column '${p}' twice`);
    seen.add(p);
  }
  return parts;
}

/** One of a fixed set of words, with a "did you mean" for a near miss. */
export function oneOf<T extends string>(v: ParsedArgs['values'], name: string, allowed: readonly T[]): T | undefined {
  const s = text(v, name);
  if (s === undefined) return undefined;
  if ((allowed as readonly string[]).includes(s)) return s as T;
  const near = closest(s, allowed);
  throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${s}'${near ? ` (did you mean ${near}?)` : ''}`);
}

/** A plain string value (a formula, a column, a file). */
export function stringValue(v: ParsedArgs['values'], name: string): string | undefined {
  const s = text(v, name);
  if (s !== undefined && s.trim() === '') throw new UsageError(`--${name} is empty`);
  return s;
}

export function flag(v: ParsedArgs['values'], name: string): boolean {
  return v.get(name) === true;
}
