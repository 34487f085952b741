// The bad-input catalogue (issue 12, bar 2): the real CLI (dist/cli.js; `npm run build` first)
// on every defect class of issue 12's "What was observed" and more. Each case either fits (or
// predicts, or scores) correctly, checked against something that would be wrong had the defect
// come back, or stops with
//   - exactly one message line `ngmm: …` (a formula error adds its caret line), naming the
//     file, row and column, the flag, or the formula position (each case says which, exactly),
//   - a non-zero exit status (2 for a usage error, 1 for a data or model error),
//   - no stack trace, nothing on standard output,
//   - no file written or replaced: every case runs in its own directory holding a good model
//     (`model.json`, the output of every failing fit) and its data, and the directory is
//     byte-for-byte the same afterwards (no temporary file left either).
// `needs` names the part of issue 12 a case depends on beyond the CLI (the CSV reader and
// model frame, the families, the Gaussian LMM, model loading), for whoever merges the work.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random';

const cli = resolve('dist/cli.js');
const root = mkdtempSync(join(tmpdir(), 'ngmm-bad-'));
const shared = join(root, 'shared');
mkdirSync(shared);

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cwd: string, args: string[], shell?: string): Promise<Result> {
  return new Promise((done, fail) => {
    const child = shell ? spawn('bash', ['-c', shell], { cwd }) : spawn(process.execPath, [cli, ...args], { cwd });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------------------------
// Data: 10 groups of 5 rows, every response kind side by side.

const G = 10, PER = 5;
const COLUMNS = ['y', 'yb', 'yg', 'ypos', 'k', 'm', 'x', 'x2', 'kind', 'g', 't', 'w', 'z', 'yn'];
function baseRows(): string[][] {
  const rng = new Rng(12);
  const rows: string[][] = [];
  for (let gi = 0; gi < G; gi++) {
    const b = 0.5 * rng.normal(), z = (gi % 3) + 1;
    for (let j = 0; j < PER; j++) {
      const x = Math.round(rng.normal() * 1000) / 1000, x2 = Math.round(rng.uniform() * 1000) / 1000;
      const kind = (gi + j) % 2 === 0 ? 'a' : 'b';
      const eta = 0.4 + 0.6 * x - 0.3 * x2 + (kind === 'b' ? 0.2 : 0) + b;
      const y = rng.poisson(Math.exp(eta));
      const yb = rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
      const yg = Math.round((eta + 0.5 * rng.normal()) * 1000) / 1000;
      const ypos = Math.round(Math.exp(0.5 + 0.3 * x + 0.3 * b + 0.1 * rng.normal()) * 1000) / 1000;
      const m = 3 + rng.int(5);
      let k = 0;
      for (let t = 0; t < m; t++) if (rng.uniform() < 1 / (1 + Math.exp(-eta))) k++;
      rows.push([y, yb, yg, ypos, k, m, x, x2, kind, `g${gi + 1}`, 1, 1, z, yb ? 'Y' : 'N'].map(String));
    }
  }
  return rows;
}
const BASE = baseRows();

/** The base CSV with edits: cells by (1-based data row, column), extra columns, dropped rows. */
function csv(o: { set?: [number, string, string][]; add?: Record<string, (row: number) => string>; rows?: number; header?: string[] } = {}): string {
  const names = [...(o.header ?? COLUMNS), ...Object.keys(o.add ?? {})];
  const rows = BASE.slice(0, o.rows ?? BASE.length).map((r, i) => [...r, ...Object.values(o.add ?? {}).map((f) => f(i + 1))]);
  for (const [row, col, v] of o.set ?? []) rows[row - 1][names.indexOf(col)] = v;
  return [names.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}
const DATA = csv();

const F = 'y ~ x + x2 + kind + (1 | g)';
/** A fit of data.csv that must not replace the good model.json. */
const fit = (formula: string, family: string, ...more: string[]) => ['fit', 'data.csv', '--formula', formula, '--family', family, ...more, '-o', 'model.json'];

// ---------------------------------------------------------------------------------------------
// Cases

interface Ctx {
  dir: string;
  run(args: string[]): Promise<Result>;
  json(path: string): Record<string, unknown>;
}

interface Case {
  /** Defect class (issue 12's heading) and the example. */
  cls: string;
  name: string;
  args: string[];
  /** Files of the case directory besides the shared models; `data.csv` defaults to DATA. */
  files?: Record<string, string>;
  /** Stops: the exit status and what the one message line must name. */
  fails?: { status: 1 | 2; names: RegExp };
  /** Succeeds: what must hold. */
  ok?: (r: Result, ctx: Ctx) => void | Promise<void>;
  /** Shell command instead of args (pipes). */
  shell?: string;
  needs?: string;
}

const usage = (names: RegExp) => ({ status: 2 as const, names });
const data = (names: RegExp) => ({ status: 1 as const, names });

/** Summary of a model file, through the CLI. */
async function summaryOf(ctx: Ctx, path: string) {
  const r = await ctx.run(['summary', path, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    logLik: number; nobs: number; ngroups: number; ranefSD: number; converged: boolean; sigma: number | null;
    fixef: Record<string, { estimate: number; se: number; z: number }> | null;
    terms?: { term: string; levels: number; sd: number[] }[];
  };
}

function fitted(check: (s: Awaited<ReturnType<typeof summaryOf>>, r: Result, ctx: Ctx) => void | Promise<void>) {
  return async (r: Result, ctx: Ctx) => {
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote out\.json/);
    await check(await summaryOf(ctx, 'out.json'), r, ctx);
  };
}
const fitOut = (formula: string, family: string, ...more: string[]) => ['fit', 'data.csv', '--formula', formula, '--family', family, ...more, '-o', 'out.json'];

// Predictions of a model on a file, by the CLI: the prediction column by row.
async function predictions(ctx: Ctx, model: string, file: string): Promise<number[]> {
  const r = await ctx.run(['predict', model, file]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').slice(1).map((l) => Number(l.split(',').at(-1)));
}
const column = (name: string) => BASE.map((r) => Number(r[COLUMNS.indexOf(name)]));

const OPTIONS = 'Options';
const FORMULA = 'Formula and design';
const FAMILIES = 'Families and links';
const READING = 'Reading data';
const VALID = 'Refused but valid';
const OUTPUTS = 'Outputs';
const MODELS = 'Model files';

const cases: Case[] = [
  // --- Options: unknown flags, ranges, help, version -------------------------------------------
  { cls: OPTIONS, name: '--epoch 5 (was: 100 epochs)', args: fit(F, 'poisson', '--hidden', '4', '--epoch', '5'), fails: usage(/^ngmm: unknown option --epoch for 'ngmm fit' \(did you mean --epochs\?\)$/) },
  { cls: OPTIONS, name: '--REML', args: fit(F, 'gaussian', '--REML'), fails: usage(/^ngmm: unknown option --REML .*did you mean --reml\?/) },
  { cls: OPTIONS, name: '--weight w', args: fit(F, 'poisson', '--weight', 'w'), fails: usage(/unknown option --weight .*did you mean --weights\?/) },
  { cls: OPTIONS, name: '--batchsize 4', args: fit(F, 'poisson', '--hidden', '4', '--batchsize', '4'), fails: usage(/unknown option --batchsize .*did you mean --batch-size\?/) },
  { cls: OPTIONS, name: 'an unknown short flag -x', args: fit(F, 'poisson', '-x'), fails: usage(/unknown option -x for 'ngmm fit'/) },
  { cls: OPTIONS, name: 'one dash on a long flag', args: fit(F, 'poisson', '-hidden', '4'), fails: usage(/unknown option -hidden .*two dashes: did you mean --hidden\?/) },
  { cls: OPTIONS, name: '--constructor (an Object.prototype name)', args: fit(F, 'poisson', '--constructor', '1'), fails: usage(/unknown option --constructor for 'ngmm fit'/) },
  { cls: OPTIONS, name: '--lr -1', args: fit(F, 'poisson', '--hidden', '4', '--lr', '-1'), fails: usage(/^ngmm: --lr must be a number > 0, got '-1'$/) },
  { cls: OPTIONS, name: '--lr 0', args: fit(F, 'poisson', '--hidden', '4', '--lr', '0'), fails: usage(/--lr must be a number > 0, got '0'/) },
  { cls: OPTIONS, name: '--lr abc', args: fit(F, 'poisson', '--hidden', '4', '--lr', 'abc'), fails: usage(/--lr must be a number > 0, got 'abc'/) },
  { cls: OPTIONS, name: '--lr Infinity', args: fit(F, 'poisson', '--hidden', '4', '--lr', 'Infinity'), fails: usage(/--lr must be a number > 0, got 'Infinity'/) },
  { cls: OPTIONS, name: '--lr 0x10', args: fit(F, 'poisson', '--hidden', '4', '--lr', '0x10'), fails: usage(/--lr must be a number > 0, got '0x10'/) },
  { cls: OPTIONS, name: '--lr-scale 0', args: fit(F, 'poisson', '--hidden', '4', '--lr-scale', '0'), fails: usage(/--lr-scale must be a number > 0, got '0'/) },
  { cls: OPTIONS, name: '--validation 1', args: fit(F, 'poisson', '--hidden', '4', '--validation', '1'), fails: usage(/--validation must be a number in \[0, 1\), got '1'/) },
  { cls: OPTIONS, name: '--validation -0.1', args: fit(F, 'poisson', '--hidden', '4', '--validation', '-0.1'), fails: usage(/--validation must be a number in \[0, 1\), got '-0.1'/) },
  { cls: OPTIONS, name: '--epochs 1.5', args: fit(F, 'poisson', '--hidden', '4', '--epochs', '1.5'), fails: usage(/--epochs must be a positive integer, got '1.5'/) },
  { cls: OPTIONS, name: '--epochs 0', args: fit(F, 'poisson', '--hidden', '4', '--epochs', '0'), fails: usage(/--epochs must be a positive integer, got '0'/) },
  { cls: OPTIONS, name: '--epochs with no value', args: ['fit', 'data.csv', '--formula', F, '--family', 'poisson', '--hidden', '4', '--epochs'], fails: usage(/^ngmm: --epochs needs a value/) },
  { cls: OPTIONS, name: '--batch-size 0', args: fit(F, 'poisson', '--hidden', '4', '--batch-size', '0'), fails: usage(/--batch-size must be a positive integer, got '0'/) },
  { cls: OPTIONS, name: '--batch-size 2.5', args: fit(F, 'poisson', '--hidden', '4', '--batch-size', '2.5'), fails: usage(/--batch-size must be a positive integer, got '2.5'/) },
  { cls: OPTIONS, name: '--nodes 0', args: fit(F, 'poisson', '--marginal', 'quadrature', '--nodes', '0'), fails: usage(/--nodes must be an integer from 1 to 100, got '0'/) },
  { cls: OPTIONS, name: '--nodes 101', args: fit(F, 'poisson', '--marginal', 'quadrature', '--nodes', '101'), fails: usage(/--nodes must be an integer from 1 to 100, got '101'/) },
  { cls: OPTIONS, name: '--nodes without --marginal quadrature', args: fit(F, 'poisson', '--nodes', '10'), fails: usage(/--nodes .*goes with --marginal quadrature/) },
  { cls: OPTIONS, name: '--rtol with several random-effect terms', args: fit('y ~ x + (1 | g) + (1 | kind)', 'poisson', '--rtol', '1e-9'), fails: usage(/^ngmm: --rtol applies to one grouping factor; the formula 'y ~ x \+ \(1 \| g\) \+ \(1 \| kind\)' has several random-effect terms$/) },
  { cls: OPTIONS, name: '--importance-samples with one grouping factor', args: fit(F, 'poisson', '--importance-samples', '100'), fails: usage(/^ngmm: --importance-samples checks the Laplace approximation of several random-effect terms/) },
  { cls: OPTIONS, name: '--validation with crossed terms', args: fit('y ~ x + (1 | g) + (1 | kind)', 'poisson', '--hidden', '4', '--validation', '0.2'), fails: data(/data\.csv: fit: validation needs held-out groups, which crossed terms do not have/) },
  {
    cls: VALID, name: 'two crossed grouping factors of a Poisson GLMM (was: refused)', needs: 'frame', args: fitOut('y ~ x + (1 | g) + (1 | kind)', 'poisson', '--importance-samples', '200'),
    ok: fitted((s, r) => {
      expect(s.terms!.map((t) => [t.term, t.levels])).toEqual([['g', 10], ['kind', 2]]);
      expect(r.stdout).toMatch(/marginal likelihood: Laplace approximation/);
      expect(r.stdout).toMatch(/Importance sampling \(200 draws, ESS \d+\): logLik -?\d+\.\d+ ± \d+\.\d+/);
    }),
  },
  { cls: OPTIONS, name: '--marginal laplace', args: fit(F, 'poisson', '--marginal', 'laplace'), fails: usage(/--marginal must be one of ode, quadrature, got 'laplace'/) },
  { cls: OPTIONS, name: '--rtol 1e-15', args: fit(F, 'poisson', '--rtol', '1e-15'), fails: usage(/--rtol must be a number in \[1e-14, 0\.01\], got '1e-15'/) },
  { cls: OPTIONS, name: '--rtol 0.1', args: fit(F, 'poisson', '--rtol', '0.1'), fails: usage(/--rtol must be a number in \[1e-14, 0\.01\], got '0\.1'/) },
  { cls: OPTIONS, name: '--seed -1', args: fit(F, 'poisson', '--hidden', '4', '--seed', '-1'), fails: usage(/--seed must be an integer from 0 to 4294967295, got '-1'/) },
  { cls: OPTIONS, name: '--seed 1.5', args: fit(F, 'poisson', '--hidden', '4', '--seed', '1.5'), fails: usage(/--seed must be an integer from 0 to 4294967295, got '1.5'/) },
  { cls: OPTIONS, name: '--seed 2^32', args: fit(F, 'poisson', '--hidden', '4', '--seed', '4294967296'), fails: usage(/--seed must be an integer from 0 to 4294967295/) },
  { cls: OPTIONS, name: '--patience 0', args: fit(F, 'poisson', '--hidden', '4', '--validation', '0.2', '--patience', '0'), fails: usage(/--patience must be a positive integer, got '0'/) },
  { cls: OPTIONS, name: '--patience without any validation (--validation-rows 0)', args: fit(F, 'poisson', '--hidden', '4', '--validation-rows', '0', '--patience', '3'), fails: usage(/--patience .*goes with --validation or --validation-rows > 0/) },
  { cls: OPTIONS, name: '--hidden 64,,32', args: fit(F, 'poisson', '--hidden', '64,,32'), fails: usage(/--hidden takes integers from 1 to 4096 .*got '64,,32'/) },
  { cls: OPTIONS, name: '--hidden 0', args: fit(F, 'poisson', '--hidden', '0'), fails: usage(/--hidden takes integers from 1 to 4096 .*got '0'/) },
  { cls: OPTIONS, name: '--hidden -4', args: fit(F, 'poisson', '--hidden', '-4'), fails: usage(/--hidden takes integers .*got '-4'/) },
  { cls: OPTIONS, name: '--re-hidden without --re-covariates', args: fit(F, 'poisson', '--re-hidden', '4'), fails: usage(/--re-hidden .*goes with --re-covariates/) },
  { cls: OPTIONS, name: '--weight-decay -1', args: fit(F, 'poisson', '--hidden', '4', '--weight-decay', '-1'), fails: usage(/--weight-decay must be a number ≥ 0, got '-1'/) },
  { cls: OPTIONS, name: '--schedule linear', args: fit(F, 'poisson', '--hidden', '4', '--schedule', 'linear'), fails: usage(/--schedule must be one of constant, cosine, got 'linear'/) },
  { cls: OPTIONS, name: '--polish maybe', args: fit(F, 'poisson', '--hidden', '4', '--polish', 'maybe'), fails: usage(/--polish must be one of linear, all, none, got 'maybe'/) },
  { cls: OPTIONS, name: '--activation swish', args: fit(F, 'poisson', '--hidden', '4', '--activation', 'swish'), fails: usage(/--activation must be one of relu, .*got 'swish'/) },
  { cls: OPTIONS, name: '--activation without --hidden', args: fit(F, 'poisson', '--activation', 'tanh'), fails: usage(/--activation .*goes with --hidden/) },
  { cls: OPTIONS, name: '--epochs on a linear model (was: ignored)', args: fit(F, 'poisson', '--epochs', '5'), fails: usage(/^ngmm: --epochs applies to network fits/) },
  { cls: OPTIONS, name: '--family toString', args: fit(F, 'toString'), fails: usage(/^ngmm: --family must be one of gaussian, bernoulli, binomial, poisson.*, got 'toString'$/) },
  { cls: OPTIONS, name: '--family constructor', args: fit(F, 'constructor'), fails: usage(/--family must be one of .*got 'constructor'/) },
  { cls: OPTIONS, name: '--family __proto__', args: fit(F, '__proto__'), fails: usage(/--family must be one of .*got '__proto__'/) },
  { cls: OPTIONS, name: '--family Poisson', args: fit(F, 'Poisson'), fails: usage(/--family .*did you mean poisson\?/) },
  { cls: OPTIONS, name: '--family weibull', args: fit(F, 'weibull'), fails: usage(/--family must be one of .*got 'weibull'/) },
  { cls: OPTIONS, name: '--link logit for poisson', args: fit(F, 'poisson', '--link', 'logit'), fails: usage(/--link for --family poisson must be one of log, sqrt.*got 'logit'/) },
  { cls: OPTIONS, name: '--link toString', args: fit('yg ~ x + (1 | g)', 'gaussian', '--link', 'toString'), fails: usage(/--link for --family gaussian must be one of .*got 'toString'/) },
  { cls: OPTIONS, name: '--reml with poisson', args: fit(F, 'poisson', '--reml'), fails: usage(/--reml applies to Gaussian identity-link linear models.*poisson/) },
  { cls: OPTIONS, name: '--reml with a network', args: fit('yg ~ x + (1 | g)', 'gaussian', '--hidden', '4', '--reml'), fails: usage(/--reml applies to .*network/) },
  { cls: OPTIONS, name: '--reml with the log link', args: fit('ypos ~ x + (1 | g)', 'gaussian', '--link', 'log', '--reml'), fails: usage(/--reml applies to .*log link/) },
  { cls: OPTIONS, name: '--marginal with random slopes (ignored before)', args: fit('y ~ x + (1 + x | g)', 'poisson', '--marginal', 'ode'), fails: usage(/--marginal applies to a scalar random effect; random slopes/) },
  { cls: OPTIONS, name: 'no --formula', args: ['fit', 'data.csv', '--family', 'poisson', '-o', 'model.json'], fails: usage(/'ngmm fit' needs --formula/) },
  { cls: OPTIONS, name: 'no --family', args: ['fit', 'data.csv', '--formula', F, '-o', 'model.json'], fails: usage(/'ngmm fit' needs --family \(one of gaussian/) },
  { cls: OPTIONS, name: 'no data file', args: ['fit', '--formula', F, '--family', 'poisson', '-o', 'model.json'], fails: usage(/'ngmm fit' needs <data\.csv>/) },
  { cls: OPTIONS, name: 'an extra argument', args: fit(F, 'poisson', 'extra.csv'), fails: usage(/takes <data\.csv>, got the extra argument 'extra\.csv'/) },
  { cls: OPTIONS, name: 'a flag given twice', args: fit(F, 'poisson', '--hidden', '4', '--epochs', '3', '--epochs', '4'), fails: usage(/^ngmm: --epochs is given twice/) },
  { cls: OPTIONS, name: '-o with no value', args: ['fit', 'data.csv', '--formula', F, '--family', 'poisson', '-o'], fails: usage(/^ngmm: -o needs a value/) },
  { cls: OPTIONS, name: '--json=1 on a flag', args: ['summary', 'model.json', '--json=1'], fails: usage(/--json is a flag and takes no value/) },
  { cls: OPTIONS, name: "predict's --type on summary", args: ['summary', 'model.json', '--type', 'link'], fails: usage(/--type is an option of 'ngmm predict', not of 'ngmm summary'/) },
  { cls: OPTIONS, name: '--type Link', args: ['predict', 'model.json', 'data.csv', '--type', 'Link'], fails: usage(/--type must be one of response, link, got 'Link' \(did you mean link\?\)/) },
  { cls: OPTIONS, name: 'an unknown command', args: ['fitt', 'data.csv'], fails: usage(/unknown command 'fitt' \(did you mean 'ngmm fit'\?\)/) },
  { cls: OPTIONS, name: 'no command', args: [], fails: usage(/^ngmm: no command given: one of fit, predict, summary, eval, ranef, plot, demo/) },
  { cls: OPTIONS, name: 'a flag before the command', args: ['--epochs', '3'], fails: usage(/an option before the command: '--epochs'/) },
  ...['fit', 'predict', 'summary', 'eval', 'ranef', 'plot', 'demo'].map((c): Case => ({
    cls: OPTIONS,
    name: `ngmm ${c} --help (was: "--help needs a value")`,
    args: [c, '--help'],
    ok: (r) => {
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: ngmm ${c}`));
      expect(r.stdout).toMatch(/-h, --help +show this help/);
      if (c === 'fit') for (const d of ['(default: 300 with one grouping factor', '(default: 5)', '(default: 0.001)', '(default: 16)', '(default: model.json)', '(default: 1e-8)']) expect(r.stdout).toContain(d);
    },
  })),
  { cls: OPTIONS, name: '-h with other flags still helps', args: ['fit', '--epoch', '3', '-h'], ok: (r) => expect(r.status === 0 && r.stdout.startsWith('usage: ngmm fit')).toBe(true) },
  ...['--version', '-V'].map((v): Case => ({
    cls: OPTIONS, name: `ngmm ${v}`, args: [v],
    ok: (r) => {
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`ngmm ${JSON.parse(readFileSync('package.json', 'utf8')).version}\n`);
    },
  })),

  { cls: OPTIONS, name: '--hidden 5000 (over the layer bound)', args: fit(F, 'poisson', '--hidden', '5000'), fails: usage(/--hidden takes integers from 1 to 4096 .*got '5000'/) },
  { cls: OPTIONS, name: 'an empty --formula', args: fit('', 'poisson'), fails: usage(/^ngmm: --formula is empty$/) },
  { cls: OPTIONS, name: '--re-covariates naming a column twice', args: fit(F, 'poisson', '--re-covariates', 'z,z'), fails: usage(/--re-covariates names the column 'z' twice/) },
  { cls: OPTIONS, name: '--re-covariates with an empty name', args: fit(F, 'poisson', '--re-covariates', 'z,'), fails: usage(/--re-covariates takes column names separated by commas, got 'z,'/) },
  { cls: OPTIONS, name: 'an option name written without dashes', args: ['fit', 'data.csv', 'epochs', '--formula', F, '--family', 'poisson', '-o', 'model.json'], fails: usage(/got the extra argument 'epochs' \(did you mean --epochs\?\)/) },
  {
    cls: OPTIONS, name: 'predict --type link is E[η], below log E[y] by Jensen (Poisson)', args: ['predict', 'model.json', 'data.csv', '--type', 'link'],
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const link = r.stdout.trim().split('\n').slice(1).map((l) => Number(l.split(',').at(-1)));
      const mean = await predictions(ctx, 'model.json', 'data.csv');
      expect(link).toHaveLength(G * PER);
      // E[exp(η)] ≥ exp(E[η]) over a group's posterior, by a factor exp(Var/2) ≈ 1.0x here.
      link.forEach((v, i) => {
        expect(Math.exp(v)).toBeLessThanOrEqual(mean[i] * (1 + 1e-12));
        expect(mean[i]).toBeLessThan(1.2 * Math.exp(v));
      });
    },
  },

  // --- Formula and design ----------------------------------------------------------------------
  { cls: FORMULA, name: 'an unclosed parenthesis', args: fit('y ~ x + (1 | g', 'poisson'), fails: data(/formula: .* at position \d+: 'y ~ x \+ \(1 \| g'/) },
  { cls: FORMULA, name: 'a trailing +', args: fit('y ~ x + (1 | g) +', 'poisson'), fails: data(/formula: .* at position 17/) },
  { cls: FORMULA, name: "no '~'", args: fit('y x + (1 | g)', 'poisson'), fails: data(/formula: missing '~'.* at position/) },
  { cls: FORMULA, name: "a second '~'", args: fit('y ~ x ~ x2 + (1 | g)', 'poisson'), fails: data(/formula: a second '~' .*at position 6/) },
  { cls: FORMULA, name: 'an unknown function', args: fit('y ~ foo(x) + (1 | g)', 'poisson'), fails: data(/formula: unknown function 'foo'.* at position 4/) },
  { cls: FORMULA, name: "'.' for all columns", args: fit('y ~ . + (1 | g)', 'poisson'), fails: data(/formula: '\.' \(all other columns\) is not supported.* at position 4/) },
  { cls: FORMULA, name: 'no random term', args: fit('y ~ x', 'poisson'), fails: data(/formula: needs a random intercept.* at position 5: 'y ~ x'$/) },
  {
    cls: FORMULA, name: 'two grouping factors (was: refused)', needs: 'frame', args: fitOut('yg ~ x + (1 | g) + (1 | kind)', 'gaussian'),
    ok: fitted((s) => expect(s.terms!.map((t) => [t.term, t.levels])).toEqual([['g', 10], ['kind', 2]])),
  },
  { cls: FORMULA, name: 'a random slope that is not a fixed effect', args: fit('y ~ x + (1 + x2 | g)', 'poisson'), fails: data(/formula: the random slope 'x2' .* at position 13: 'y ~ x \+ \(1 \+ x2 \| g\)'$/) },
  { cls: FORMULA, name: 'a response that is not a column', args: fit('count ~ x + (1 | g)', 'poisson'), fails: data(/formula: no column 'count' in data\.csv; the file has 'y', 'yb', .* at position 0: 'count ~/) },
  { cls: FORMULA, name: "a typo'd covariate, found before the rows are read", args: fit('y ~ xx + (1 | g)', 'poisson'), fails: data(/formula: no column 'xx' in data\.csv \(did you mean 'x'\?\); the file has 'y', 'yb', .* at position 4: 'y ~ xx/) },
  { cls: FORMULA, name: 'a grouping column that does not exist', args: fit('y ~ x + (1 | school)', 'poisson'), fails: data(/formula: no column 'school' in data\.csv; the file has .* at position 13: 'y ~ x \+ \(1 \| school\)'$/) },
  {
    cls: FORMULA, name: "'0 +' removes the intercept (was: kept)", needs: 'frame', args: fitOut('y ~ 0 + x + (1 | g)', 'poisson'),
    ok: fitted((s) => expect(Object.keys(s.fixef!)).toEqual(['x'])),
  },
  {
    cls: FORMULA, name: "'- 1' removes the intercept (was: kept)", needs: 'frame', args: fitOut('y ~ x - 1 + (1 | g)', 'poisson'),
    ok: fitted((s) => expect(Object.keys(s.fixef!)).toEqual(['x'])),
  },
  {
    cls: FORMULA, name: "'0 +' with a factor: one coefficient per level, finite SEs (was: SE 1e6)", needs: 'frame', args: fitOut('y ~ 0 + kind + x + (1 | g)', 'poisson'),
    ok: fitted((s) => {
      const names = Object.keys(s.fixef!);
      expect(names).not.toContain('(Intercept)');
      expect(names.filter((n) => /kind/.test(n))).toHaveLength(2);
      for (const c of Object.values(s.fixef!)) expect(c.se).toBeLessThan(5);
    }),
  },
  {
    cls: FORMULA, name: 'a constant column: named and dropped, or refused by name (was: ±2e13 "converged")', needs: 'frame',
    args: fitOut('y ~ x + c + (1 | g)', 'poisson'), files: { 'data.csv': csv({ add: { c: () => '5' } }) },
    ok: async (r, ctx) => {
      if (r.status !== 0) {
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/column 'c'/);
        return;
      }
      expect(r.stderr).toMatch(/'c'.*(constant|dropped)|(constant|dropped).*'c'/);
      const s = await summaryOf(ctx, 'out.json');
      expect(Object.keys(s.fixef!)).not.toContain('c');
    },
  },
  {
    cls: FORMULA, name: 'collinear columns: the aliased one named (was: the whole fit refused, no name)', needs: 'frame',
    args: fitOut('y ~ x + x2 + x3 + (1 | g)', 'poisson'), files: { 'data.csv': csv({ add: { x3: (i) => String(2 * Number(BASE[i - 1][6])) } }) },
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/'x3'/);
      const s = await summaryOf(ctx, 'out.json');
      expect(Object.keys(s.fixef!)).toEqual(['(Intercept)', 'x', 'x2']);
    },
  },
  {
    cls: FORMULA, name: 'x·1e−300 keeps the predictor (its z equals the unscaled fit’s)',
    args: fitOut('y ~ xs + x2 + kind + (1 | g)', 'poisson'), files: { 'data.csv': csv({ add: { xs: (i) => `${BASE[i - 1][6]}e-300` } }) },
    ok: fitted(async (s, _r, ctx) => {
      const p = await summaryOf(ctx, 'model.json');
      expect(Math.abs(s.fixef!.xs.z - p.fixef!.x.z)).toBeLessThan(1e-3 * Math.abs(p.fixef!.x.z));
      expect(Math.abs(s.logLik - p.logLik)).toBeLessThan(1e-6 * Math.abs(p.logLik));
    }),
    // The estimate and logLik agree; the SE is Infinity (null in JSON, z 0): summary.ts forms
    // A·cov·Aᵀ with A = 1/sd = 1e300, and 1e300·cov·1e300 overflows.
    needs: 'lead (summary.ts SE map overflows)',
  },
  { cls: FORMULA, name: 'a factor level unseen in training, at predict', args: ['predict', 'model.json', 'new.csv'], files: { 'new.csv': 'x,x2,kind,g\n0.1,0.2,a,g1\n0.3,0.1,c,g2\n' }, fails: data(/new\.csv: row 2 \(line 3\), column 'kind': level 'c' was not in the training data/) },
  { cls: FORMULA, name: 'a random-effect covariate that varies within a group', args: fit(F, 'poisson', '--re-covariates', 'z'), files: { 'data.csv': csv({ set: [[3, 'z', '7']] }) }, fails: data(/row 3, column 'z': 7 differs from/) },
  { cls: FORMULA, name: 'a random-effect covariate that is not a column', args: fit(F, 'poisson', '--re-covariates', 'size'), fails: data(/data\.csv: no column 'size'/) },

  // --- Families and links ----------------------------------------------------------------------
  {
    // Now off β = 0 (1.61) with finite SEs; it fails only on `converged` (the line search stops).
    cls: FAMILIES, name: 'Poisson sqrt link moves off β = 0 with finite SEs (was: NaN SEs, "converged")', needs: 'lead (fit.ts convergence)',
    args: fitOut(F, 'poisson', '--link', 'sqrt'),
    ok: fitted((s) => {
      expect(s.converged).toBe(true);
      expect(Math.abs(s.fixef!['(Intercept)'].estimate)).toBeGreaterThan(0.5);
      for (const c of Object.values(s.fixef!)) expect(Number.isFinite(c.se) && c.se > 0).toBe(true);
    }),
  },
  {
    cls: FAMILIES, name: 'Gaussian log link on positive data converges (was: ODE step cap)', needs: 'fam',
    args: fitOut('ypos ~ x + (1 | g)', 'gaussian', '--link', 'log'),
    ok: fitted((s) => {
      expect(s.converged).toBe(true);
      // The data were made with log E[y] ≈ 0.5 + 0.3 x.
      expect(Math.abs(s.fixef!.x.estimate - 0.3)).toBeLessThan(0.15);
    }),
  },
  { cls: FAMILIES, name: 'cbind(k, m − k) with --family poisson (was: trials dropped)', args: fit('cbind(k, m - k) ~ x + (1 | g)', 'poisson'), fails: usage(/--family poisson does not take a cbind\(successes, failures\) response/) },
  { cls: FAMILIES, name: 'a Bernoulli y of 0.5', args: fit('yb ~ x + (1 | g)', 'bernoulli'), files: { 'data.csv': csv({ set: [[4, 'yb', '0.5']] }) }, fails: data(/^ngmm: data\.csv: row 4, column 'yb': bernoulli response must be 0 or 1, got 0\.5$/) },
  { cls: FAMILIES, name: 'a Bernoulli y of 2', args: fit('yb ~ x + (1 | g)', 'bernoulli'), files: { 'data.csv': csv({ set: [[9, 'yb', '2']] }) }, fails: data(/data\.csv: row 9, column 'yb': .*got 2/) },
  { cls: FAMILIES, name: 'a negative count', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[6, 'y', '-1']] }) }, fails: data(/data\.csv: row 6, column 'y': poisson response must be a non-negative integer count, got -1/) },
  { cls: FAMILIES, name: 'a fractional count', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[2, 'y', '2.5']] }) }, fails: data(/data\.csv: row 2, column 'y': .*got 2\.5/) },
  { cls: FAMILIES, name: 'binomial successes above the trials', args: fit('cbind(k, m - k) ~ x + (1 | g)', 'binomial'), files: { 'data.csv': csv({ set: [[5, 'k', '99']] }) }, fails: data(/data\.csv: row 5, column 'k': binomial successes must be an integer in 0\.\.\d+, got 99/) },
  { cls: FAMILIES, name: 'binomial fractional successes', args: fit('cbind(k, m - k) ~ x + (1 | g)', 'binomial'), files: { 'data.csv': csv({ set: [[7, 'k', '1.5']] }) }, fails: data(/data\.csv: row 7, column 'k': .*got 1\.5/) },
  { cls: FAMILIES, name: 'a binomial 0/1 response without cbind is one trial per row (as glmer)', args: fitOut('yb ~ x + (1 | g)', 'binomial'),
    ok: fitted(async (s, _r, ctx) => {
      const t = await summaryOf(ctx, 'bern.json');
      expect(Math.abs(s.logLik - t.logLik)).toBeLessThan(1e-6 * Math.abs(t.logLik));
    }) },
  { cls: FAMILIES, name: 'cbind with a negative failure count', args: fit('cbind(k, f) ~ x + (1 | g)', 'binomial'), files: { 'data.csv': csv({ add: { f: (i) => (i === 12 ? '-1' : '2') } }) }, fails: data(/data\.csv: row 12, column 'k': binomial /) },
  { cls: READING, name: 'lone CR line ends (old Mac files) read as rows', args: fitOut(F, 'poisson'), files: { 'data.csv': csv().replace(/\n/g, '\r') }, ok: fitted((s) => expect(s.nobs).toBe(G * PER)) },
  { cls: FAMILIES, name: 'a binomial y of 3 without cbind', args: fit('y ~ x + (1 | g)', 'binomial'), files: { 'data.csv': csv({ set: [[1, 'y', '3']] }) }, fails: data(/data\.csv: row 1, column 'y': binomial successes must be an integer in 0\.\.1, got 3/) },

  // --- Reading data ----------------------------------------------------------------------------
  { cls: READING, name: 'one cell 1e999 (was: a 50-level factor)', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[8, 'x', '1e999']] }) }, fails: data(/data\.csv: row 8 \(line 9\), column 'x': 1e999 is not a finite number/), needs: 'frame' },
  { cls: READING, name: 'Inf', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[3, 'x', 'Inf']] }) }, fails: data(/data\.csv: row 3 \(line 4\), column 'x': 'Inf' is not a number/) },
  { cls: READING, name: '-inf', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[3, 'x2', '-inf']] }) }, fails: data(/data\.csv: row 3 \(line 4\), column 'x2': '-inf' is not a number/) },
  { cls: READING, name: 'NaN', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[11, 'x', 'NaN']] }) }, fails: data(/data\.csv: row 11 \(line 12\), column 'x': 'NaN' is not a number/) },
  { cls: READING, name: 'a word in a numeric column', args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[12, 'x2', 'abc']] }) }, fails: data(/data\.csv: row 12 \(line 13\), column 'x2': 'abc' is not a number/) },
  { cls: READING, name: 'the bad value is in the right row and column (row 37, third covariate)', args: fit('y ~ x + x2 + tt + (1 | g)', 'poisson'), files: { 'data.csv': csv({ add: { tt: (i) => (i === 37 ? '1;5' : String(1 + i / 100)) } }) }, fails: data(/data\.csv: row 37 \(line 38\), column 'tt': '1;5' is not a number/) },
  { cls: READING, name: 'a comma decimal (a ragged row)', args: fit(F, 'poisson'), files: { 'data.csv': csv().replace(/\n(\d+),/, '\n$1,5,') }, fails: data(/data\.csv: row 1 \(line 2\) has 15 fields, the header has 14/) },
  { cls: READING, name: 'an unclosed quote', args: fit(F, 'poisson'), files: { 'data.csv': csv().replace('g3', '"g3') }, fails: data(/data\.csv: .*line \d+.*quote/i) },
  { cls: READING, name: 'a header naming a column twice', args: fit(F, 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'x2' ? 'x' : c)) }) }, fails: data(/data\.csv: line 1: the header names column 'x' twice \(columns 7 and 8\)/) },
  { cls: READING, name: 'an empty header name', args: fit(F, 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'z' ? '' : c)) }) }, fails: data(/data\.csv: line 1: column 13 of the header has an empty name/) },
  { cls: READING, name: 'a header-only file (was: "objective is not finite (NaN)")', args: fit(F, 'poisson'), files: { 'data.csv': COLUMNS.join(',') + '\n' }, fails: data(/data\.csv: .*(no (data )?rows|0 rows|is empty)/i), needs: 'frame' },
  { cls: READING, name: 'an empty file', args: fit(F, 'poisson'), files: { 'data.csv': '' }, fails: data(/data\.csv: the input is empty/) },
  { cls: READING, name: 'a missing file', args: ['fit', 'nofile.csv', '--formula', F, '--family', 'poisson', '-o', 'model.json'], fails: data(/cannot read 'nofile\.csv': no such file or directory/) },
  { cls: READING, name: 'a directory as the data file', args: ['fit', '.', '--formula', F, '--family', 'poisson', '-o', 'model.json'], fails: data(/cannot read '\.': it is a directory/) },
  { cls: READING, name: 'a semicolon-separated file', args: fit(F, 'poisson'), files: { 'data.csv': csv().replace(/,/g, ';') }, fails: data(/formula: no column 'y' in data\.csv; the file has 'y;yb;yg;.*' \(one column: its fields are separated by ';', and ngmm reads comma-separated files\) at position 0/) },
  {
    cls: READING, name: "group ids '01', '1', '001' are three groups (was: one)", needs: 'frame',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv({ set: BASE.map((_, i): [number, string, string] => [i + 1, 'g', ['01', '1', '001', '10', '010'][Math.floor(i / PER) % 5] + (i < 25 ? '' : '.0')]) }) },
    ok: fitted((s) => expect(s.ngroups).toBe(10)),
  },
  {
    cls: READING, name: 'long integer ids that are one double are two groups', needs: 'frame',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv({ set: BASE.map((_, i): [number, string, string] => [i + 1, 'g', i < 25 ? '12345678901234567' : '12345678901234568']) }) },
    ok: fitted((s) => expect(s.ngroups).toBe(2)),
  },
  {
    cls: READING, name: "a column named 'constructor'", needs: 'frame',
    args: fitOut('y ~ constructor + (1 | g)', 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'x' ? 'constructor' : c)) }) },
    ok: fitted((s) => expect(Object.keys(s.fixef!)).toEqual(['(Intercept)', 'constructor'])),
  },
  {
    cls: READING, name: "a column named '__proto__' as the group", needs: 'frame',
    args: fitOut('y ~ x + (1 | `__proto__`)', 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'g' ? '__proto__' : c)) }) },
    ok: fitted((s) => expect(s.ngroups).toBe(G)),
  },
  {
    cls: READING, name: "a factor column named 'toString' with a level 'constructor'", needs: 'frame',
    args: fitOut('y ~ toString + (1 | g)', 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'kind' ? 'toString' : c)) }).replace(/,a,g/g, ',constructor,g') },
    ok: fitted((s) => expect(Object.keys(s.fixef!)).toHaveLength(2)),
  },
  {
    cls: READING, name: 'a bad value in a column the formula does not use is no error',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv({ set: [[4, 'z', 'Inf'], [5, 't', 'n/a']] }) },
    ok: fitted((s) => expect(s.nobs).toBe(G * PER)),
  },
  {
    cls: READING, name: 'a byte-order mark and CRLF line ends',
    args: fitOut(F, 'poisson'), files: { 'data.csv': '\ufeff' + csv().replace(/\n/g, '\r\n') },
    ok: fitted((s) => expect(s.nobs).toBe(G * PER)),
  },
  {
    cls: READING, name: '1e-400 reads as 0 (as R does), not as text',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv({ set: [[10, 'x2', '1e-400']] }) },
    ok: fitted((s) => expect(s.nobs).toBe(G * PER)),
  },
  {
    cls: READING, name: 'a backquoted column name with a space',
    args: fitOut('y ~ `x one` + (1 | g)', 'poisson'), files: { 'data.csv': csv({ header: COLUMNS.map((c) => (c === 'x' ? 'x one' : c)) }) },
    ok: fitted((s) => expect(Object.keys(s.fixef!)).toEqual(['(Intercept)', 'x one'])),
  },

  // --- Refused but valid -----------------------------------------------------------------------
  {
    cls: VALID, name: 'a group with a single row (lme4 fits it)', needs: 'frame',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv() + '3,1,0.5,1.2,1,4,0.2,0.3,a,solo,1,1,1,Y\n' },
    ok: fitted((s) => {
      expect(s.ngroups).toBe(G + 1);
      expect(s.nobs).toBe(G * PER + 1);
    }),
  },
  {
    cls: VALID, name: 'rows with NA are dropped and counted (na.omit)', needs: 'frame',
    args: fitOut(F, 'poisson'), files: { 'data.csv': csv({ set: [[3, 'x', 'NA'], [17, 'y', ''], [20, 'g', 'NA']]}) },
    ok: fitted((s, r) => {
      expect(s.nobs).toBe(G * PER - 3);
      expect(r.stderr).toMatch(/data\.csv: 3 rows with missing values were dropped \(rows 3, 17, 20\)/);
    }),
  },
  {
    cls: VALID, name: 'after dropped NA rows, a bad value is still named by its file row', needs: 'frame',
    args: fit(F, 'poisson'), files: { 'data.csv': csv({ set: [[2, 'x', 'NA'], [3, 'x', 'NA'], [30, 'y', '-2']] }) },
    fails: data(/data\.csv: row 30, column 'y': .*got -2/),
  },
  {
    cls: VALID, name: "a two-level text response: 'N' is the failure (R's first level)", needs: 'frame',
    args: fitOut('yn ~ x + (1 | g)', 'bernoulli'),
    ok: fitted(async (s, _r, ctx) => {
      const t = await summaryOf(ctx, 'bern.json');
      // The same data as the 0/1 column yb (Y = 1): the same fit.
      expect(Math.abs(s.fixef!.x.estimate - t.fixef!.x.estimate)).toBeLessThan(1e-6);
    }),
  },
  { cls: VALID, name: 'a three-level text response', args: fit('kind3 ~ x + (1 | g)', 'bernoulli'), files: { 'data.csv': csv({ add: { kind3: (i) => ['lo', 'mid', 'hi'][i % 3] } }) }, fails: data(/data\.csv: .*column 'kind3'/), needs: 'frame' },
  {
    cls: VALID, name: '--weights of 1 give the unweighted fit', needs: 'frame',
    args: fitOut(F, 'poisson', '--weights', 'w'),
    ok: fitted(async (s, _r, ctx) => {
      const p = await summaryOf(ctx, 'model.json');
      expect(Math.abs(s.logLik - p.logLik)).toBeLessThan(1e-6 * Math.abs(p.logLik));
    }),
  },
  { cls: VALID, name: '--weights naming a missing column', args: fit(F, 'poisson', '--weights', 'wt'), fails: data(/data\.csv: no column 'wt'/), needs: 'frame' },
  { cls: VALID, name: 'a negative weight', args: fit(F, 'poisson', '--weights', 'w'), files: { 'data.csv': csv({ set: [[6, 'w', '-1']] }) }, fails: data(/data\.csv: row 6 \(line 7\), column 'w': the weight -1 is negative/), needs: 'frame' },
  {
    cls: VALID, name: 'offset(log(t)) with t = 1 is the fit without it', needs: 'frame',
    args: fitOut('y ~ x + x2 + kind + offset(log(t)) + (1 | g)', 'poisson'),
    ok: fitted(async (s, _r, ctx) => {
      const p = await summaryOf(ctx, 'model.json');
      expect(Math.abs(s.logLik - p.logLik)).toBeLessThan(1e-6 * Math.abs(p.logLik));
    }),
  },
  {
    cls: VALID, name: 'offset(log(t)) with t = 2 shifts the intercept by −log 2', needs: 'frame',
    args: fitOut('y ~ x + x2 + kind + offset(log(t)) + (1 | g)', 'poisson'), files: { 'data.csv': csv({ set: BASE.map((_, i): [number, string, string] => [i + 1, 't', '2']) }) },
    ok: fitted(async (s, _r, ctx) => {
      const p = await summaryOf(ctx, 'model.json');
      expect(Math.abs(s.fixef!['(Intercept)'].estimate - (p.fixef!['(Intercept)'].estimate - Math.LN2))).toBeLessThan(1e-4);
    }),
  },
  {
    cls: VALID, name: 'REML for a Gaussian LMM: a larger σ_b than ML', needs: 'lmm',
    args: fitOut('yg ~ x + (1 | g)', 'gaussian', '--reml'),
    ok: fitted(async (s, _r, ctx) => {
      const ml = await summaryOf(ctx, 'gauss.json');
      expect(s.ranefSD).toBeGreaterThan(ml.ranefSD);
      expect(s.logLik).not.toBe(ml.logLik);
    }),
  },

  // --- Outputs ---------------------------------------------------------------------------------
  {
    cls: OUTPUTS, name: 'eval of binomial proportions scores k successes out of m (was: as failures)',
    args: ['eval', 'binom.json', 'data.csv'],
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const p = await predictions(ctx, 'binom.json', 'data.csv');
      const k = column('k'), m = column('m');
      let s = 0, n = 0;
      p.forEach((q, i) => {
        s -= k[i] * Math.log(q) + (m[i] - k[i]) * Math.log(1 - q);
        n += m[i];
      });
      const want = s / n;
      const got = Number(/observed groups: ([\d.]+)/.exec(r.stdout)![1]);
      expect(r.stdout).toMatch(/^metric: log-loss per trial\n/);
      expect(Math.abs(got - want)).toBeLessThan(1e-6);
    },
  },
  {
    cls: OUTPUTS, name: 'eval of a Gaussian model is the RMSE of the predictions',
    args: ['eval', 'gauss.json', 'data.csv'],
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const p = await predictions(ctx, 'gauss.json', 'data.csv');
      const y = column('yg');
      const want = Math.sqrt(p.reduce((a, q, i) => a + (y[i] - q) ** 2, 0) / p.length);
      expect(Math.abs(Number(/observed groups: ([\d.]+)/.exec(r.stdout)![1]) - want)).toBeLessThan(1e-6);
    },
  },
  {
    cls: OUTPUTS, name: 'eval of rows in new groups uses the prior, reported apart',
    args: ['eval', 'model.json', 'mixed.csv'], files: { 'mixed.csv': csv({ rows: 10 }) + csv({ rows: 5 }).split('\n').slice(1).join('\n').replace(/,g1,/g, ',gNEW,') },
    ok: (r) => {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^metric: mean deviance\nobserved groups: [\d.]+ \(10 rows\)\nnew groups: [\d.]+ \(5 rows\)\n$/);
    },
  },
  {
    // Before, the NB deviance had no θ to use (Family.deviance's 4th argument): an error, or NaN.
    cls: OUTPUTS, name: 'eval of a negative binomial model (--family nbinom2) is the mean NB2 deviance at the fitted θ', needs: 'fam',
    args: fitOut('yo ~ x + (1 | g)', 'nbinom2'), files: { 'data.csv': csv({ add: { yo: (i) => String(Number(BASE[i - 1][0]) + (i % 4 === 0 ? 7 : 0)) } }) },
    ok: fitted(async (s, _r, ctx) => {
      const e = await ctx.run(['eval', 'out.json', 'data.csv']);
      expect(e.status, e.stderr).toBe(0);
      const theta = s.sigma!;
      expect(theta > 0 && Number.isFinite(theta)).toBe(true);
      const mu = await predictions(ctx, 'out.json', 'data.csv');
      const y = BASE.map((_, i) => Number(BASE[i][0]) + ((i + 1) % 4 === 0 ? 7 : 0));
      // NB2 unit deviance (McCullagh & Nelder 1989, table 2.1 with var = μ + μ²/θ).
      const d = y.map((v, i) => 2 * ((v > 0 ? v * Math.log(v / mu[i]) : 0) - (v + theta) * Math.log((v + theta) / (mu[i] + theta))));
      const want = d.reduce((a, v) => a + v, 0) / d.length;
      expect(e.stdout).toMatch(/^metric: mean deviance\n/);
      expect(Math.abs(Number(/observed groups: ([\d.]+)/.exec(e.stdout)![1]) - want)).toBeLessThan(1e-6);
    }),
  },
  {
    cls: OUTPUTS, name: 'eval weights each row by the prior weight of the column the model was fitted with',
    args: fitOut('yg ~ x + (1 | g)', 'gaussian', '--weights', 'w'), files: { 'data.csv': csv({ set: BASE.map((_, i) => [i + 1, 'w', String(1 + (i % 3))] as [number, string, string]) }) },
    ok: fitted(async (_s, _r, ctx) => {
      const e = await ctx.run(['eval', 'out.json', 'data.csv']);
      expect(e.status, e.stderr).toBe(0);
      const mu = await predictions(ctx, 'out.json', 'data.csv');
      const y = column('yg'), w = BASE.map((_, i) => 1 + (i % 3));
      const r2 = mu.map((q, i) => (y[i] - q) ** 2);
      const want = Math.sqrt(r2.reduce((a, v, i) => a + w[i] * v, 0) / w.reduce((a, v) => a + v, 0));
      const unweighted = Math.sqrt(r2.reduce((a, v) => a + v, 0) / r2.length);
      // The check can tell the two apart.
      expect(Math.abs(want - unweighted)).toBeGreaterThan(1e-4);
      expect(Math.abs(Number(/observed groups: ([\d.]+)/.exec(e.stdout)![1]) - want)).toBeLessThan(1e-6);
    }),
  },
  { cls: OUTPUTS, name: 'eval refuses y = 5 under a Bernoulli model (was: scored as 0)', args: ['eval', 'bern.json', 'test.csv'], files: { 'test.csv': csv({ set: [[14, 'yb', '5']] }) }, fails: data(/^ngmm: test\.csv: row 14, column 'yb': .*0 or 1, got 5$/) },
  { cls: OUTPUTS, name: 'eval refuses y = −3 under a Poisson model (was: NaN)', args: ['eval', 'model.json', 'test.csv'], files: { 'test.csv': csv({ set: [[21, 'y', '-3']] }) }, fails: data(/test\.csv: row 21, column 'y': .*got -3/) },
  { cls: OUTPUTS, name: 'eval refuses a fractional count', args: ['eval', 'model.json', 'test.csv'], files: { 'test.csv': csv({ set: [[2, 'y', '0.5']] }) }, fails: data(/test\.csv: row 2, column 'y': .*got 0\.5/) },
  { cls: OUTPUTS, name: 'eval refuses k > m under a binomial model', args: ['eval', 'binom.json', 'test.csv'], files: { 'test.csv': csv({ set: [[3, 'k', '40']] }) }, fails: data(/test\.csv: row 3, column 'k': .*got 40/) },
  { cls: OUTPUTS, name: 'eval without the response column', args: ['eval', 'model.json', 'test.csv'], files: { 'test.csv': 'x,x2,kind,g\n0.1,0.2,a,g1\n' }, fails: data(/formula: no column 'y' in test\.csv.*; the file has 'x', 'x2', 'kind', 'g' at position 0: 'y ~/) },
  {
    cls: OUTPUTS, name: "ranef: lme4's as.data.frame(ranef(m, condVar = TRUE)) columns, one row per group",
    args: ['ranef', 'model.json'],
    ok: (r) => {
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('grpvar,term,grp,condval,condsd');
      expect(lines).toHaveLength(G + 1);
      const groups = lines.slice(1).map((l) => l.split(','));
      expect(new Set(groups.map((c) => c[2]))).toEqual(new Set(BASE.map((row) => row[9])));
      for (const c of groups) {
        expect(c.slice(0, 2)).toEqual(['g', '(Intercept)']);
        expect(Number(c[4])).toBeGreaterThan(0);
      }
    },
  },
  {
    cls: OUTPUTS, name: 'ranef with a random slope: the intercept rows, then the slope rows',
    args: ['ranef', 'slopes.json', '-o', 're.csv'],
    ok: (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      const lines = readFileSync(join(ctx.dir, 're.csv'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(2 * G + 1);
      expect(lines.slice(1, G + 1).every((l) => l.startsWith('g,(Intercept),'))).toBe(true);
      expect(lines.slice(G + 1).every((l) => l.startsWith('g,x,'))).toBe(true);
    },
  },
  {
    cls: OUTPUTS, name: 'several terms: ranef term by term in lme4\'s layout, predict with a new level of one term', needs: 'frame',
    args: fitOut('yg ~ x + (1 | g) + (x || kind)', 'gaussian'),
    files: { 'new.csv': csv({ set: [[1, 'g', 'gNEW']] }) },
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const re = await ctx.run(['ranef', 'out.json']);
      expect(re.status, re.stderr).toBe(0);
      const lines = re.stdout.trim().split('\n');
      expect(lines[0]).toBe('grpvar,term,grp,condval,condsd');
      // g's 10 levels (the most levels: first), then kind's intercept and slope terms, 2 levels each.
      expect(lines.slice(1, 11).every((l) => l.startsWith('g,(Intercept),'))).toBe(true);
      expect(lines.slice(11).map((l) => l.split(',').slice(0, 2).join(',')).sort()).toEqual(['kind,(Intercept)', 'kind,(Intercept)', 'kind,x', 'kind,x']);
      const seen = await predictions(ctx, 'out.json', 'data.csv'), fresh = await predictions(ctx, 'out.json', 'new.csv');
      expect(seen).toHaveLength(G * PER);
      // Only row 1's group changed (to a level the model has not seen): its g effect drops out.
      const gEffect = Number(lines.slice(1, 11).find((l) => l.split(',')[2] === BASE[0][9])!.split(',')[3]);
      expect(fresh[0]).toBeCloseTo(seen[0] - gEffect, 10);
      expect(fresh.slice(1)).toEqual(seen.slice(1));
    },
  },
  { cls: OUTPUTS, name: 'ranef of a missing model, with -o over an existing file', args: ['ranef', 'none.json', '-o', 'model.json'], fails: data(/cannot read 'none\.json': no such file or directory/) },
  { cls: OUTPUTS, name: 'predict -o into a directory that does not exist', args: ['predict', 'model.json', 'data.csv', '-o', 'nodir/p.csv'], fails: data(/cannot write 'nodir\/p\.csv': the directory 'nodir'/) },
  { cls: OUTPUTS, name: 'predict -o over its own input', args: ['predict', 'model.json', 'data.csv', '-o', 'data.csv'], fails: data(/cannot write 'data\.csv': it is an input of this command/) },
  { cls: OUTPUTS, name: 'fit -o onto a directory, refused before fitting', args: ['fit', 'data.csv', '--formula', F, '--family', 'poisson', '-o', '.'], fails: data(/cannot write '\.': it is a directory/) },
  { cls: OUTPUTS, name: 'fit -o into a missing directory', args: ['fit', 'data.csv', '--formula', F, '--family', 'poisson', '-o', 'no/m.json'], fails: data(/cannot write 'no\/m\.json': the directory 'no'/) },
  {
    cls: OUTPUTS, name: 'predict -o writes the complete file, rows numbered as in the file',
    args: ['predict', 'model.json', 'data.csv', '-o', 'p.csv'],
    ok: (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const lines = readFileSync(join(ctx.dir, 'p.csv'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(G * PER + 1);
      expect(lines.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(BASE.map((_, i) => i + 1));
      expect(readdirSync(ctx.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    },
  },
  {
    cls: OUTPUTS, name: 'predict … | head ends quietly (was: an EPIPE stack trace)', args: [],
    files: { 'big.csv': 'x,x2,kind,g\n' + Array.from({ length: 20000 }, (_, i) => `${(i % 13) / 13},0.5,a,g${(i % G) + 1}`).join('\n') + '\n' },
    shell: `"${process.execPath}" "${cli}" predict model.json big.csv | head -n 2; echo "exit \${PIPESTATUS[0]}" >&2`,
    ok: (r) => {
      expect(r.stdout.split('\n')[0]).toBe('row,group,groups,prediction');
      expect(r.stderr.trim()).toBe('exit 0');
    },
  },
  {
    // A prediction is asked for every row given: one that cannot be made is refused by row
    // and column, not left out of the output (fitting drops NA rows, as na.omit).
    cls: OUTPUTS, name: 'predict refuses a row with NA, naming its file row and column', needs: 'frame',
    args: ['predict', 'model.json', 'new.csv'], files: { 'new.csv': 'x,x2,kind,g\n0.1,0.2,a,g1\nNA,0.2,b,g2\n0.3,0.1,a,g3\n' },
    fails: data(/new\.csv: row 2 \(line 3\), column 'x': the value is missing/),
  },
  { cls: OUTPUTS, name: 'predict without a covariate column', args: ['predict', 'model.json', 'new.csv'], files: { 'new.csv': 'x,kind,g\n0.1,a,g1\n' }, fails: data(/formula: no column 'x2' in new\.csv.*; the file has 'x', 'kind', 'g' at position 8: 'y ~ x \+ x2/) },
  {
    cls: OUTPUTS, name: 'summary --json and the text summary show the same σ_b and logLik', needs: 'lead',
    args: ['summary', 'slopes.json', '--json'],
    ok: async (r, ctx) => {
      expect(r.status, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout);
      const text = (await ctx.run(['summary', 'slopes.json'])).stdout;
      expect(text).toContain(s.logLik.toFixed(3));
      expect(text).toMatch(new RegExp(`\\(Intercept\\)\\s+SD ${s.ranefCov.sd[0].toFixed(4)}`));
    },
  },

  // --- Model files -----------------------------------------------------------------------------
  { cls: MODELS, name: 'a missing model file', args: ['summary', 'none.json'], fails: data(/^ngmm: cannot read 'none\.json': no such file or directory \(ENOENT\)$/) },
  { cls: MODELS, name: 'a truncated model file', args: ['summary', 'cut.json'], files: { 'cut.json': '{"format":"ngmm-model","version":1' }, fails: data(/cut\.json: not a valid ngmm model file/) },
  { cls: MODELS, name: 'a CSV given as the model', args: ['predict', 'data.csv', 'data.csv'], fails: data(/data\.csv: not a valid ngmm model file/) },
  { cls: MODELS, name: 'an empty JSON object', args: ['summary', 'empty.json'], files: { 'empty.json': '{}' }, fails: data(/empty\.json: .*model/) },
  { cls: MODELS, name: 'a directory as the model', args: ['summary', '.'], fails: data(/cannot read '\.': it is a directory/) },
  {
    cls: MODELS, name: 'a wrong-length coefficient vector', args: ['summary', 'edited.json'],
    files: { 'edited.json': '@edit:W' }, fails: data(/edited\.json: not a valid ngmm model file: 'params\.W'/),
  },
  {
    cls: MODELS, name: 'unnormalised posterior weights (was: predictions 243 for 6.7)', needs: 'load', args: ['predict', 'edited.json', 'data.csv'],
    files: { 'edited.json': '@edit:logw' }, fails: data(/edited\.json: .*posterior/),
  },
  {
    cls: MODELS, name: 'an infinite parameter (1e999 in the JSON)', args: ['summary', 'edited.json'],
    files: { 'edited.json': '@edit:inf' }, fails: data(/edited\.json: not a valid ngmm model file: 'params\.b0'/),
  },
  {
    cls: MODELS, name: 'levels and posteriors of different lengths', args: ['summary', 'edited.json'],
    files: { 'edited.json': '@edit:levels' }, fails: data(/edited\.json: not a valid ngmm model file: 'posterior' has 10 groups and 'levels' 9$/),
  },
  {
    cls: MODELS, name: 'a model fitted from arrays (no formula) cannot read a CSV', args: ['predict', 'edited.json', 'data.csv'],
    files: { 'edited.json': '@edit:nodesign' }, fails: data(/^ngmm: edited\.json: the model was fitted from arrays, not from a formula, so it cannot read 'data\.csv'$/),
  },
  {
    cls: MODELS, name: 'a design whose columns do not match the coefficients', needs: 'load', args: ['predict', 'edited.json', 'data.csv'],
    files: { 'edited.json': '@edit:design' }, fails: data(/edited\.json: .*design/),
  },
];

// Model files edited from the good Poisson model.
function edited(kind: string, good: string): string {
  const m = JSON.parse(good);
  switch (kind) {
    case 'W':
      m.params.W = [1, 2, 3, 4, 5];
      break;
    case 'logw':
      m.posterior[0].logw = m.posterior[0].logw.map((v: number) => v + 5);
      break;
    case 'inf':
      return JSON.stringify(m).replace(/"b0":\[?(-?[\d.e+-]+)/, (all, v: string) => all.replace(v, '1e999'));
    case 'levels':
      m.levels = m.levels.slice(1);
      break;
    case 'design':
      m.design.xNames = ['x'];
      break;
    case 'nodesign':
      delete m.design;
      break;
  }
  return JSON.stringify(m);
}

// ---------------------------------------------------------------------------------------------

const MODELS_TO_FIT: [string, string[]][] = [
  ['model.json', ['--formula', F, '--family', 'poisson']],
  ['gauss.json', ['--formula', 'yg ~ x + (1 | g)', '--family', 'gaussian']],
  ['bern.json', ['--formula', 'yb ~ x + (1 | g)', '--family', 'bernoulli']],
  ['binom.json', ['--formula', 'cbind(k, m - k) ~ x + (1 | g)', '--family', 'binomial']],
  ['slopes.json', ['--formula', 'y ~ x + (1 + x | g)', '--family', 'poisson']],
];

beforeAll(async () => {
  writeFileSync(join(shared, 'data.csv'), DATA);
  const fits = await Promise.all(MODELS_TO_FIT.map(([out, a]) => run(shared, ['fit', 'data.csv', ...a, '-o', out])));
  fits.forEach((r, i) => {
    if (r.status !== 0) throw new Error(`fitting ${MODELS_TO_FIT[i][0]} for the catalogue failed: ${r.stderr}`);
  });
}, 60_000);

function snapshot(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
}

let counter = 0;
async function runCase(c: Case): Promise<void> {
  const dir = join(root, `case${++counter}`);
  mkdirSync(dir);
  for (const [m] of MODELS_TO_FIT) copyFileSync(join(shared, m), join(dir, m));
  const good = readFileSync(join(shared, 'model.json'), 'utf8');
  const files = { 'data.csv': DATA, ...c.files };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text.startsWith('@edit:') ? edited(text.slice(6), good) : text);
  const before = snapshot(dir);
  const ctx: Ctx = { dir, run: (a) => run(dir, a), json: (p) => JSON.parse(readFileSync(join(dir, p), 'utf8')) };
  const r = await run(dir, c.args, c.shell);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error|TypeError|ReferenceError|Cannot read properties|is not a function|undefined/);
  if (c.fails) {
    const lines = r.stderr.replace(/\n$/, '').split('\n');
    expect(lines[0], r.stderr).toMatch(c.fails.names);
    // One message; a formula error adds only a caret line under the position.
    expect(lines[0].startsWith('ngmm: ')).toBe(true);
    expect(lines.slice(1).every((l) => /^\s*\^$/.test(l)) && lines.length <= 2, r.stderr).toBe(true);
    if (lines.length === 2) {
      // The caret sits under the stated position of the formula quoted at the end of the line.
      const at = /at position (\d+): '(.*)'$/.exec(lines[0]);
      expect(at, r.stderr).not.toBeNull();
      expect(lines[1].indexOf('^'), r.stderr).toBe(lines[0].length - 1 - at![2].length + Number(at![1]));
    }
    expect(r.status).toBe(c.fails.status);
    expect(r.stdout).toBe('');
    // Nothing written, nothing replaced, no temporary file left.
    const after = snapshot(dir);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [f, bytes] of before) expect(after.get(f) === bytes, `${f} changed`).toBe(true);
  } else {
    await c.ok!(r, ctx);
  }
}

// One concurrent suite (suites run one after another): the spawned processes overlap.
describe.concurrent('bad-input catalogue', () => {
  it('has at least 100 cases', () => expect(cases.length).toBeGreaterThanOrEqual(100));
  for (const c of cases) {
    it(`${c.cls}: ${c.name}${c.needs ? ` [needs ${c.needs}]` : ''}`, () => runCase(c), 60_000);
  }
});
