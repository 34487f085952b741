// The `ngmm` command line: fit, predict, summary, eval and demo over CSV files. This file (and
// only this one) uses Node's fs: the library itself never touches the file system.
//
//   ngmm fit data.csv --formula "y ~ x1 + x2 + (1 | g)" --family poisson [--hidden 64,32,16] [-o model.json]
//   ngmm predict model.json new.csv [-o out.csv] [--type response|link]
//   ngmm summary model.json [--json]
//   ngmm eval model.json test.csv
//   ngmm demo
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { readCsvTable, type CsvTable } from './csv';
import { fit, type FitProgress } from './fit';
import { parseFormula } from './formula';
import { covariateColumns, modelFrame } from './frame';
import { logLoss, poissonDeviance, rmse } from './metrics';
import { Model } from './model';
import { formatSummary } from './summary';
import type { FamilyName, LinkName } from './families/family';

class UsageError extends Error {}

const USAGE = `usage:
  ngmm fit <data.csv> --formula "<y ~ x + (1 | g)>" --family <gaussian|bernoulli|binomial|poisson>
           [--link <link>] [--hidden 64,32,16] [--activation relu] [--epochs N] [--lr x]
           [--batch-size N] [--validation 0.1] [--seed N] [-o model.json]
           [--marginal ode|quadrature [--nodes 25]]   (how the 1-D marginal is computed while fitting)
           [--re-covariates z1,z2 [--re-hidden 16]]   (random-effect network s_i = ‖g(z_i)‖)
  ngmm predict <model.json> <new.csv> [-o out.csv] [--type response|link]
  ngmm summary <model.json> [--json]
  ngmm eval <model.json> <test.csv>
  ngmm demo`;

function parseArgs(argv: string[]): { pos: string[]; opt: Map<string, string> } {
  const pos: string[] = [], opt = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opt.set('json', 'true');
    else if (a.startsWith('--') || a === '-o') {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      opt.set(a === '-o' ? 'out' : a.slice(2), v);
      i++;
    } else pos.push(a);
  }
  return { pos, opt };
}

// The file in 1 MiB chunks, decoded incrementally: the CSV reader never sees the whole text.
function* chunks(path: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Error(`cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const buf = Buffer.alloc(1 << 20);
  const dec = new TextDecoder('utf-8');
  try {
    for (;;) {
      const k = readSync(fd, buf, 0, buf.length, null);
      if (k === 0) break;
      yield dec.decode(buf.subarray(0, k), { stream: true });
    }
    const tail = dec.decode();
    if (tail) yield tail;
  } finally {
    closeSync(fd);
  }
}

function readTable(path: string): CsvTable {
  return readCsvTable(chunks(path), { source: path });
}

function readModel(path: string): Model {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not a valid ngmm model file: ${(e as Error).message}`);
  }
  try {
    return Model.load(json);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

function num(opt: Map<string, string>, key: string): number | undefined {
  const v = opt.get(key);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new UsageError(`--${key} must be a number, got '${v}'`);
  return x;
}

function progressPrinter(out: NodeJS.WriteStream) {
  const tty = out.isTTY === true;
  return (p: FitProgress) => {
    const eta = p.epoch > 0 ? ((p.elapsedMs / p.epoch) * (p.epochs - p.epoch)) / 1000 : 0;
    const val = p.validation !== undefined ? `  validation ${p.validation.toFixed(5)}` : '';
    const line = `epoch ${String(p.epoch).padStart(String(p.epochs).length)}/${p.epochs}  loss ${p.loss.toFixed(5)}${val}  ETA ${eta.toFixed(0)} s`;
    if (tty) {
      const width = 24;
      const done = Math.round((width * p.epoch) / p.epochs);
      out.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${line}\x1b[K`);
      if (p.epoch === p.epochs) out.write('\n');
    } else out.write(line + '\n');
  };
}

function cmdFit(pos: string[], opt: Map<string, string>): void {
  const [file] = pos;
  if (!file) throw new UsageError('fit needs a data file');
  const formulaText = opt.get('formula');
  if (!formulaText) throw new UsageError('fit needs --formula');
  const familyName = opt.get('family') as FamilyName | undefined;
  if (!familyName) throw new UsageError('fit needs --family');
  const formula = parseFormula(formulaText);
  const table = readTable(file);
  const frame = modelFrame(formula, table, file);
  const hidden = opt.get('hidden') ? opt.get('hidden')!.split(',').map((v) => {
    const k = Number(v);
    if (!Number.isInteger(k) || k < 1) throw new UsageError(`--hidden takes positive integers separated by commas, got '${opt.get('hidden')}'`);
    return k;
  }) : [];
  const zNames = opt.get('re-covariates')?.split(',').map((v) => v.trim()).filter((v) => v);
  const reHidden = opt.get('re-hidden') ? opt.get('re-hidden')!.split(',').map(Number) : [];
  const data = {
    X: frame.X, xNames: frame.xNames, y: frame.y, group: frame.group, trials: frame.trials,
    ...(zNames ? { Z: covariateColumns(table, zNames, file), zNames } : {}),
  };
  const marginal = marginalOption(opt.get('marginal'));
  const nodes = num(opt, 'nodes');
  if (nodes !== undefined && (marginal !== 'quadrature' || !Number.isInteger(nodes) || nodes < 1 || nodes > 100)) {
    throw new UsageError(`--nodes takes an integer from 1 to 100 and goes with --marginal quadrature, got '${opt.get('nodes')}'`);
  }
  let model: Model;
  try {
    model = fit(data, {
      family: familyName,
      link: opt.get('link') as LinkName | undefined,
      hidden,
      activation: (opt.get('activation') ?? 'relu') as never,
      seed: num(opt, 'seed') ?? 0,
      ...(zNames ? { randomEffect: { covariates: zNames, hidden: reHidden } } : {}),
      ...(frame.slopes.length ? { randomSlopes: frame.slopes } : {}),
    }, {
      epochs: num(opt, 'epochs'),
      lr: num(opt, 'lr'),
      batchSize: num(opt, 'batch-size'),
      validation: num(opt, 'validation'),
      seed: num(opt, 'seed'),
      marginal,
      nodes,
      onProgress: hidden.length > 0 || zNames ? progressPrinter(process.stderr) : undefined,
      onWarning: (msg) => process.stderr.write(`ngmm: warning: ${msg}\n`),
    });
  } catch (e) {
    // Data errors name the original row of the file (the header is line 1).
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  model.design = frame.design;
  const s = model.summary();
  const out = opt.get('out') ?? 'model.json';
  writeFileSync(out, JSON.stringify(model) + '\n');
  process.stdout.write(formatSummary(s) + `\nwrote ${out}\n`);
}

function marginalOption(v: string | undefined): 'ode' | 'quadrature' | undefined {
  if (v === undefined || v === 'ode' || v === 'quadrature') return v;
  throw new UsageError(`--marginal takes 'ode' or 'quadrature', got '${v}'`);
}

function rowsFor(model: Model, path: string, needResponse: boolean) {
  if (!model.design) throw new Error(`the model was not fitted from a formula, so it cannot read '${path}'`);
  const table = readTable(path);
  const frame = modelFrame(parseFormula(model.design.formula), table, path, model.design, needResponse);
  const known = new Set(model.levels);
  const observed = frame.group.map((g) => known.has(g));
  const re = model.spec.randomEffect;
  const Z = re && observed.some((o) => !o) ? covariateColumns(table, re.covariates, path) : null;
  return { frame, observed, Z };
}

// Predictions per row: the group's posterior where the group was in the training data, else
// the prior (a new group).
function predictRows(model: Model, frame: ReturnType<typeof rowsFor>['frame'], observed: boolean[], type: 'response' | 'link', Z: Float64Array | null): Float64Array {
  const p = frame.xNames.length;
  const out = new Float64Array(observed.length);
  for (const isObs of [true, false]) {
    const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
    if (idx.length === 0) continue;
    const X = new Float64Array(idx.length * p);
    idx.forEach((r, k) => X.set(frame.X.subarray(r * p, r * p + p), k * p));
    const d = model.zMean.length;
    const Zs = Z ? Float64Array.from({ length: idx.length * d }, (_, k) => Z[idx[Math.floor(k / d)] * d + (k % d)]) : undefined;
    const pred = model.predict(X, { type, groups: isObs ? 'observed' : 'new', group: idx.map((r) => frame.group[r]), Z: Zs });
    idx.forEach((r, k) => (out[r] = pred[k]));
  }
  return out;
}

function cmdPredict(pos: string[], opt: Map<string, string>): void {
  const [modelPath, file] = pos;
  if (!modelPath || !file) throw new UsageError('predict needs a model file and a data file');
  const type = (opt.get('type') ?? 'response') as 'response' | 'link';
  if (type !== 'response' && type !== 'link') throw new UsageError(`--type is 'response' or 'link', got '${type}'`);
  const model = readModel(modelPath);
  const { frame, observed, Z } = rowsFor(model, file, false);
  const pred = predictRows(model, frame, observed, type, Z);
  const lines = ['row,group,groups,prediction', ...Array.from(pred, (v, i) => `${i + 1},${csvField(frame.group[i])},${observed[i] ? 'observed' : 'new'},${v}`)];
  const text = lines.join('\n') + '\n';
  const out = opt.get('out');
  if (out) writeFileSync(out, text);
  else process.stdout.write(text);
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function cmdSummary(pos: string[], opt: Map<string, string>): void {
  const [modelPath] = pos;
  if (!modelPath) throw new UsageError('summary needs a model file');
  const model = readModel(modelPath);
  const s = model.summary();
  if (opt.get('json')) {
    process.stdout.write(JSON.stringify({
      family: s.family, link: s.link, logLik: s.logLik, nobs: s.nobs, ngroups: s.ngroups,
      fixef: s.fixef, ranefSD: s.ranefSD, ranefNetwork: s.ranefNetwork, ranefCov: s.ranefCov, sigma: s.sigma, converged: s.converged, message: s.message,
      AIC: s.AIC, BIC: s.BIC, df: s.df,
    }, null, 2) + '\n');
  } else process.stdout.write(formatSummary(s) + '\n');
}

function cmdEval(pos: string[]): void {
  const [modelPath, file] = pos;
  if (!modelPath || !file) throw new UsageError('eval needs a model file and a data file');
  const model = readModel(modelPath);
  const { frame, observed, Z } = rowsFor(model, file, true);
  const pred = predictRows(model, frame, observed, 'response', Z);
  const fam = model.family;
  const metricName = fam.name === 'gaussian' ? 'RMSE' : fam.name === 'poisson' ? 'mean deviance' : 'log-loss';
  const lines = [`metric: ${metricName}`];
  for (const isObs of [true, false]) {
    const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
    if (idx.length === 0) {
      lines.push(`${isObs ? 'observed' : 'new'} groups: no rows`);
      continue;
    }
    const y = idx.map((i) => (frame.trials ? frame.y[i] / frame.trials[i] : frame.y[i]));
    const mu = idx.map((i) => pred[i]);
    const v = fam.name === 'gaussian' ? rmse(y, mu) : fam.name === 'poisson' ? poissonDeviance(y, mu) : logLoss(y, mu);
    lines.push(`${isObs ? 'observed' : 'new'} groups: ${v.toFixed(6)} (${idx.length} rows)`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    const { pos, opt } = parseArgs(rest);
    switch (cmd) {
      case 'fit':
        cmdFit(pos, opt);
        return 0;
      case 'predict':
        cmdPredict(pos, opt);
        return 0;
      case 'summary':
        cmdSummary(pos, opt);
        return 0;
      case 'eval':
        cmdEval(pos);
        return 0;
      case 'demo':
        await import('./demo');
        return 0;
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    process.stderr.write(`ngmm: ${(e as Error).message}\n`);
    if (e instanceof UsageError) process.stderr.write(USAGE + '\n');
    return e instanceof UsageError ? 2 : 1;
  }
}
