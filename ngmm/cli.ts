// The `ngmm` command line: fit, predict, summary, eval, ranef, plot and demo over CSV files. This
// file and ngmm/cli/ (one file per command, plus arguments, files and progress) are the only
// code that uses Node's fs: the library itself never touches the file system.
//
// Conventions: `-h`/`--help` on every command prints its options with their defaults; a
// mistake in the call (unknown or malformed flag, a value out of range) exits with status 2,
// a data or model problem with 1, each with one line `ngmm: …` on standard error naming the
// file, row and column, the flag, or the formula position (a formula error adds a caret line
// under the position); never a stack trace.
import { FormulaError } from './formula';
import { UsageError, closest, expectPositionals, helpText, optionsOf, parseCommandArgs, positionalText, type CommandSpec, type ParsedArgs } from './cli/args';
import { evalSpec, runEval } from './cli/eval';
import { fitSpec, runFit } from './cli/fit';
import { guardStdout } from './cli/io';
import { plotSpec, runPlot } from './cli/plot';
import { predictSpec, runPredict } from './cli/predict';
import { ranefSpec, runRanef } from './cli/ranef';
import { runSummary, summarySpec } from './cli/summary';

// Set by the build (scripts/build-dist.mjs, an esbuild define) from package.json.
declare const __NGMM_VERSION__: string | undefined;
export const VERSION = typeof __NGMM_VERSION__ === 'string' ? __NGMM_VERSION__ : '0.0.0-source';

const demoSpec: CommandSpec = {
  name: 'demo',
  brief: 'run the built-in example',
  positionals: [],
  summary: "Runs the built-in example: the paper's §4 simulation, GLMM against NGMM, Bernoulli and Poisson (about a minute).",
  options: [],
};

interface Command {
  spec: CommandSpec;
  run(args: ParsedArgs): void | Promise<void>;
}

const COMMANDS: Command[] = [
  { spec: fitSpec, run: runFit },
  { spec: predictSpec, run: runPredict },
  { spec: summarySpec, run: runSummary },
  { spec: evalSpec, run: runEval },
  { spec: ranefSpec, run: runRanef },
  { spec: plotSpec, run: runPlot },
  {
    spec: demoSpec,
    run: async (args) => {
      expectPositionals(demoSpec, args.positionals);
      await import('./demo');
    },
  },
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length + c.spec.positionals.map((p) => ` ${positionalText(p)}`).join('').length));
  return [
    `ngmm ${VERSION}: neural generalized mixed-effects models, lme4-style`,
    '',
    'usage:',
    ...COMMANDS.map((c) => `  ngmm ${(c.spec.name + c.spec.positionals.map((p) => ` ${positionalText(p)}`).join('')).padEnd(width)}  ${c.spec.brief}`),
    '',
    "  ngmm <command> --help   the command's options and their defaults",
    '  ngmm --version          the version',
  ].join('\n');
}

function helpRequested(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

// Option names of every command, to tell a user that a flag belongs to another command.
function optionOwners(except: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const c of COMMANDS) {
    if (c.spec.name === except) continue;
    for (const o of optionsOf(c.spec)) if (!m.has(o.name)) m.set(o.name, c.spec.name);
  }
  return m;
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = COMMANDS.map((c) => c.spec.name);
  switch (name) {
    case undefined:
      throw new UsageError(`no command given: one of ${names.join(', ')} (see ngmm --help)`);
    case '-h':
    case '--help':
    case 'help': {
      const topic = name === 'help' ? rest[0] : undefined;
      const cmd = COMMANDS.find((c) => c.spec.name === topic);
      if (topic !== undefined && !cmd) throw new UsageError(`no command '${topic}': one of ${names.join(', ')}`);
      process.stdout.write((cmd ? helpText(cmd.spec) : overview()) + '\n');
      return 0;
    }
    case '-V':
    case '--version':
    case 'version':
      process.stdout.write(`ngmm ${VERSION}\n`);
      return 0;
  }
  const cmd = COMMANDS.find((c) => c.spec.name === name);
  if (!cmd) {
    const near = closest(name.replace(/^-+/, ''), names);
    const what = name.startsWith('-') ? `an option before the command: '${name}'` : `unknown command '${name}'`;
    throw new UsageError(`${what}${near ? ` (did you mean 'ngmm ${near}'?)` : ''}; the commands are ${names.join(', ')}`);
  }
  if (helpRequested(rest)) {
    process.stdout.write(helpText(cmd.spec) + '\n');
    return 0;
  }
  await cmd.run(parseCommandArgs(cmd.spec, rest, optionOwners(cmd.spec.name)));
  return 0;
}

// Errors that mean a bug in ngmm, not a problem with the input.
function isInternal(e: unknown): boolean {
  return e instanceof TypeError || e instanceof ReferenceError || e instanceof SyntaxError || !(e instanceof Error);
}

/** One line (a formula error: and its caret line) for an error. */
export function errorText(e: unknown): string {
  const prefix = 'ngmm: ';
  if (e instanceof FormulaError) {
    const [head, caret] = e.message.split('\n');
    return caret !== undefined ? `${prefix}${head}\n${' '.repeat(prefix.length)}${caret}` : prefix + head;
  }
  if (isInternal(e)) {
    const msg = e instanceof Error ? e.message : String(e);
    return `${prefix}internal error (please report it): ${msg.replace(/\s*\n\s*/g, '; ')}`;
  }
  return prefix + (e as Error).message.replace(/\s*\n\s*/g, '; ');
}

/** Runs the command line; resolves to the exit status (0 ok, 1 data or model error, 2 usage). */
export async function main(argv: string[]): Promise<number> {
  guardStdout();
  try {
    return await dispatch(argv);
  } catch (e) {
    process.stderr.write(errorText(e) + '\n');
    return e instanceof UsageError ? 2 : 1;
  }
}
