// `ngmm fit`: a formula and a family over a CSV file, to a model file. Every option is checked
// before the data is read (range, and whether it applies to this model: an option that would be
// ignored is refused, never dropped silently); what the fit did that the user did not ask for
// (rows dropped for missing values, columns dropped from the design) is said on standard error;
// the model file is written only when the fit produced a usable model, atomically.
import { activations } from '../../engine/ops/activations';
import { allFamilies, family, familyName as canonicalFamily, type Family, type FamilyName, type LinkName } from '../families/index';
import type { FitOptions } from '../fit';
import { fitFormula, type FormulaFit } from '../fitFormula';
import { parseFormula, type Formula } from '../formula';
import { frameColumns, oneFactor } from '../frame';
import type { ModelSpec } from '../model';
import { formatSummary } from '../summary';
import { UsageError, expectPositionals, flag, integerIn, nameList, numberIn, oneOf, sizeList, stringValue, type CommandSpec, type ParsedArgs } from './args';
import { checkWritable, readTable, writeAtomic } from './io';
import { ProgressPrinter } from './progress';

/** Every family name with its links, from the library's own table (canonical link first). */
function familyTable(): Map<string, string[]> {
  const t = new Map<string, string[]>();
  for (const [key] of allFamilies()) {
    const [name, link] = key.split('/');
    if (!t.has(name)) t.set(name, []);
    t.get(name)!.push(link);
  }
  for (const [name, links] of t) {
    const canonical = family(name as FamilyName).link;
    t.set(name, [canonical, ...links.filter((l) => l !== canonical)]);
  }
  return t;
}

const FAMILIES = familyTable();
const MAX_LAYER = 4096;

export const fitSpec: CommandSpec = {
  name: 'fit',
  brief: 'fit a mixed model to a CSV file, save it',
  positionals: ['data.csv'],
  summary: 'Fits a generalized linear mixed model (or, with --hidden, a neural one) to a CSV file and saves it.',
  options: [
    { name: 'formula', arg: 'formula', help: "the model in lme4's notation, e.g. 'y ~ x1 + x2 + (1 | g)' (required)" },
    { name: 'family', arg: 'name', help: `the response family: ${[...FAMILIES.keys()].join(', ')} (required)` },
    { name: 'link', arg: 'name', default: "the family's canonical link", help: `the link: ${[...FAMILIES].map(([f, l]) => `${f}: ${l.join('|')}`).join('; ')}` },
    { name: 'weights', arg: 'column', default: 'none', help: "prior weights from this column, as lme4's weights (binomial proportions: the trials)" },
    { name: 'reml', default: 'off: maximum likelihood, as glmmTMB', help: 'restricted maximum likelihood, as lmer (Gaussian identity-link linear models only)' },
    { name: 'hidden', arg: 'sizes', default: 'none: the linear GLMM', help: 'hidden layer sizes of the fixed-effect network f, e.g. 64,32,16' },
    { name: 'precision', arg: 'name', default: 'f64', help: "how the network f computes: f64, or mixed (its layers in float32; parameters, likelihood and optimiser in float64)" },
    { name: 'activation', arg: 'name', default: 'relu', help: `activation of f's hidden layers: ${Object.keys(activations).join(', ')} (with --hidden)` },
    { name: 're-covariates', arg: 'columns', default: 'none: one random-intercept SD', help: 'group-level columns of a random-effect network s_i = ‖g(z_i)‖' },
    { name: 're-hidden', arg: 'sizes', default: 'none', help: 'hidden layer sizes of g (with --re-covariates)' },
    { name: 'epochs', arg: 'N', default: '300 with one grouping factor (an upper bound: early stopping), else 100', help: 'Adam epochs of a network fit' },
    { name: 'ensemble', arg: 'N', default: '5', help: 'networks in the deep ensemble (one grouping factor): each from its own seed; predictions average them, 1 to 64' },
    { name: 'lr', arg: 'x', default: '0.001', help: "Adam's learning rate of the networks (> 0)" },
    { name: 'lr-scale', arg: 'x', default: '10 × lr', help: 'learning rate of the scale parameters σ_b, σ (> 0)' },
    { name: 'batch-size', arg: 'N', default: '16', help: 'groups per mini-batch' },
    { name: 'threads', arg: 'N', default: 'the cores available, at most 8', help: 'threads a fit uses (the network\'s batches; the L-BFGS passes over more than 50,000 rows), 1 to 64; the fitted numbers do not depend on it' },
    { name: 'validation', arg: 'share', default: '0', help: 'share of the groups held out whole for early stopping, in [0, 1)' },
    { name: 'validation-rows', arg: 'share', default: '0.2 with one grouping factor', help: "share of each group's rows held out for early stopping (their predictive density given the group's other rows), in [0, 1)" },
    { name: 'patience', arg: 'N', default: '20', help: 'epochs without a validation improvement before stopping' },
    { name: 'schedule', arg: 'name', default: 'constant', help: 'learning-rate schedule: constant or cosine (decay to lr/100)' },
    { name: 'weight-decay', arg: 'x', default: '1 with one grouping factor, else 0', help: "decoupled weight decay (AdamW) of the network f (≥ 0)" },
    { name: 'polish', arg: 'what', default: 'linear', help: 'L-BFGS after Adam on: linear (the linear part and the variances), all, none' },
    { name: 'seed', arg: 'N', default: '0', help: 'seed of the network initialisation and batches, an integer from 0 to 4294967295' },
    { name: 'marginal', arg: 'method', default: 'ode; with --hidden or --re-covariates: quadrature (unless --rtol is given)', help: 'how a scalar random effect is integrated out while fitting: ode or quadrature (logLik and posteriors always by the ODE)' },
    { name: 'nodes', arg: 'N', default: '25', help: 'Gauss–Hermite nodes, 1 to 100 (with --marginal quadrature); with two nested terms, the outer rule\'s nodes, 1 to 64' },
    { name: 'importance-samples', arg: 'N', default: 'none', help: 'several crossed terms (Laplace): check the Laplace logLik by importance sampling with N ≥ 2 draws' },
    { name: 'rtol', arg: 'x', default: '1e-8', help: "relative accuracy of each group's marginal likelihood by the ODE, in [1e-14, 1e-2]" },
    { name: 'out', short: 'o', arg: 'file', default: 'model.json', help: 'where to save the model (written only when the fit succeeds)' },
  ],
  notes: [
    'examples:',
    '  ngmm fit data.csv --formula "y ~ x1 + kind + (1 | school)" --family poisson -o model.json',
    '  ngmm fit data.csv --formula "y ~ x1 + (1 + x1 | school)" --family gaussian --reml',
    '  ngmm fit data.csv --formula "y ~ x1 + x2 + (1 | school)" --family bernoulli --hidden 64,32,16 --epochs 50 --validation 0.1',
  ],
};

// The options that only a network fit (Adam) reads.
const NETWORK_ONLY = ['ensemble', 'epochs', 'lr', 'lr-scale', 'batch-size', 'precision', 'validation', 'validation-rows', 'patience', 'schedule', 'weight-decay', 'polish', 'seed'];

interface FitPlan {
  file: string;
  out: string;
  formula: Formula;
  fam: Family;
  spec: ModelSpec;
  options: FitOptions;
  weights?: string;
  zNames?: string[];
}

/** Every check that needs no data: values, ranges, and whether each option applies. */
export function planFit(args: ParsedArgs): FitPlan {
  const v = args.values;
  expectPositionals(fitSpec, args.positionals);
  const [file] = args.positionals;
  const formulaText = stringValue(v, 'formula');
  if (formulaText === undefined) throw new UsageError(`'ngmm fit' needs --formula, e.g. --formula "y ~ x + (1 | g)"`);
  if (!v.has('family')) throw new UsageError(`'ngmm fit' needs --family (one of ${[...FAMILIES.keys()].join(', ')})`);
  // The names come from the library's table (a Map), so '--family toString' is just unknown.
  // R's spellings (glmmTMB's nbinom2, R's Gamma) are the library's aliases; anything else must
  // be one of the table's names.
  const given = stringValue(v, 'family');
  const familyName = (given !== undefined ? canonicalFamily(given) : null) ?? oneOf(v, 'family', [...FAMILIES.keys()])!;
  const links = FAMILIES.get(familyName)!;
  const linkText = stringValue(v, 'link');
  if (linkText !== undefined && !links.includes(linkText)) {
    throw new UsageError(`--link for --family ${familyName} must be one of ${links.join(', ')}, got '${linkText}'`);
  }
  const link = linkText;
  const fam = family(familyName as FamilyName, link as LinkName | undefined);

  const hidden = sizeList(v, 'hidden', MAX_LAYER) ?? [];
  const zNames = nameList(v, 're-covariates');
  const reHidden = sizeList(v, 're-hidden', MAX_LAYER);
  if (reHidden && !zNames) throw new UsageError('--re-hidden sizes the random-effect network: it goes with --re-covariates');
  const network = hidden.length > 0 || zNames !== undefined;
  if (!network) {
    const given = NETWORK_ONLY.find((o) => v.has(o));
    if (given) throw new UsageError(`--${given} applies to network fits (--hidden or --re-covariates); a linear model is fitted by L-BFGS to convergence`);
  }
  const activation = oneOf(v, 'activation', Object.keys(activations));
  const precision = oneOf(v, 'precision', ['f64', 'mixed'] as const);
  if (activation !== undefined && hidden.length === 0) throw new UsageError('--activation is for the hidden layers of f: it goes with --hidden');
  if (precision !== undefined && hidden.length === 0) throw new UsageError('--precision is how the network f computes: it goes with --hidden');

  const formula = parseFormula(formulaText);
  const slopes = formula.random.some((r) => r.terms.length > 0);
  if (formula.response.kind === 'cbind' && familyName !== 'binomial') {
    throw new UsageError(`--family ${familyName} does not take a cbind(successes, failures) response (formula '${formula.text}'): that is --family binomial`);
  }

  const marginal = oneOf(v, 'marginal', ['ode', 'quadrature'] as const);
  const nodes = integerIn(v, 'nodes', 1, 100);
  const rtol = numberIn(v, 'rtol', 1e-14, 1e-2);
  const importanceSamples = integerIn(v, 'importance-samples', 2, 1e8);
  const terms = !oneFactor(formula);
  if (terms) {
    // Several terms: crossed ones by Laplace, two nested ones by quadrature (--nodes), linear
    // Gaussian ones exactly; the one-factor integration options do not apply.
    const given = ['marginal', 'rtol', 'ensemble', 'validation-rows'].find((o) => v.has(o));
    if (given) throw new UsageError(`--${given} applies to one grouping factor; the formula '${formula.text}' has several random-effect terms`);
  } else {
    if (importanceSamples !== undefined) throw new UsageError(`--importance-samples checks the Laplace approximation of several random-effect terms; the formula '${formula.text}' has one grouping factor, integrated exactly`);
    if (nodes !== undefined && marginal !== 'quadrature') throw new UsageError('--nodes sets the Gauss–Hermite rule: it goes with --marginal quadrature');
  }
  if (slopes && !terms) {
    const given = ['marginal', 'nodes', 'rtol'].find((o) => v.has(o));
    if (given) throw new UsageError(`--${given} applies to a scalar random effect; random slopes (formula '${formula.text}') are integrated by their own rule`);
  }
  const reml = flag(v, 'reml');
  if (reml && !(fam.name === 'gaussian' && fam.link === 'identity' && !network)) {
    throw new UsageError(`--reml applies to Gaussian identity-link linear models (lme4's lmer); this is --family ${fam.name} with the ${fam.link} link${network ? ' and a network' : ''}`);
  }
  const validation = numberIn(v, 'validation', 0, 1, { hiOpen: true });
  const validationRows = numberIn(v, 'validation-rows', 0, 1, { hiOpen: true });
  const patience = integerIn(v, 'patience', 1, Number.MAX_SAFE_INTEGER);
  // Early stopping runs with held-out groups, or held-out rows (on by default with one factor).
  const stopping = (validation ?? 0) > 0 || (terms ? (validationRows ?? 0) > 0 : validationRows !== 0);
  if (patience !== undefined && !stopping) throw new UsageError('--patience counts epochs without a validation improvement: it goes with --validation or --validation-rows > 0');
  const seed = integerIn(v, 'seed', 0, 2 ** 32 - 1);
  const polish = oneOf(v, 'polish', ['linear', 'all', 'none'] as const);
  const weights = stringValue(v, 'weights');
  const out = stringValue(v, 'out') ?? 'model.json';

  const spec: ModelSpec = {
    family: fam.name,
    link: fam.link,
    hidden,
    ...(activation ? { activation: activation as ModelSpec['activation'] } : {}),
    ...(precision ? { precision } : {}),
    seed: seed ?? 0,
    ...(zNames ? { randomEffect: { covariates: zNames, hidden: reHidden ?? [] } } : {}),
  };
  const options: FitOptions = {
    epochs: integerIn(v, 'epochs', 1, Number.MAX_SAFE_INTEGER),
    ensemble: integerIn(v, 'ensemble', 1, 64),
    lr: numberIn(v, 'lr', 0, Infinity, { loOpen: true }),
    lrScale: numberIn(v, 'lr-scale', 0, Infinity, { loOpen: true }),
    batchSize: integerIn(v, 'batch-size', 1, Number.MAX_SAFE_INTEGER),
    threads: integerIn(v, 'threads', 1, 64),
    validation,
    validationRows,
    patience,
    schedule: oneOf(v, 'schedule', ['constant', 'cosine'] as const),
    weightDecay: numberIn(v, 'weight-decay', 0, Infinity),
    polish: polish === undefined ? undefined : polish === 'linear' ? 'linear' : polish === 'all',
    seed,
    marginal,
    nodes,
    rtol,
    ...(importanceSamples !== undefined ? { importanceSamples } : {}),
    ...(reml ? { reml: true } : {}),
  };
  return { file, out, formula, fam, spec, options, weights, zNames };
}

export function runFit(args: ParsedArgs): void {
  const plan = planFit(args);
  const { file, out, formula, spec } = plan;
  checkWritable(out, [file]);
  const table = readTable(file, frameColumns(formula, { source: file, weights: plan.weights, extra: plan.zNames }));
  const progress = new ProgressPrinter(process.stderr);
  const warnings: string[] = [];
  let result: FormulaFit;
  try {
    const { randomEffect, ...rest } = spec;
    result = fitFormula(table, formula, {
      ...rest,
      ...(plan.weights ? { weights: plan.weights } : {}),
      ...(randomEffect ? { reCovariates: randomEffect.covariates, reHidden: randomEffect.hidden ?? [] } : {}),
    }, { ...plan.options, onProgress: (p) => progress.report(p), onWarning: (msg) => warnings.push(msg) }, file);
  } finally {
    progress.finish();
  }
  const { model, notes } = result;
  try {
    const s = model.summary();
    const finite = Number.isFinite(s.logLik) && model.parameters().every((t) => t.data.every((x) => Number.isFinite(x)));
    if (!finite) {
      throw new Error(`${file}: the fit ended without a usable model (logLik ${s.logLik}: ${model.info.message}); nothing was written${warnings.length ? ` (${warnings[0]})` : ''}`);
    }
    const text = JSON.stringify(model) + '\n';
    writeAtomic(out, [text]);
    for (const w of warnings) process.stderr.write(`ngmm: warning: ${w}\n`);
    for (const n of notes) process.stderr.write(`ngmm: note: ${n}\n`);
    process.stdout.write(formatSummary(s) + `\nwrote ${out}\n`);
  } finally {
    model.dispose();
  }
}

