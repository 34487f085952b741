// fit(data, spec, options): maximum likelihood for the NGMM, in stages (ngmm/fitting/):
//   1. data preparation: rank check, standardisation, rows sorted by group, glm()'s starts;
//   2. the linear stage: the linear Gaussian model exactly (the profiled likelihood, ML or
//      REML), any other by L-BFGS to a gradient-norm tolerance (it says plainly whether it
//      converged) on the structure's objective (ngmm/fitting/objective.ts);
//   3. for a network (f or g): Adam from the linear fit, over mini-batches of groups (the whole
//      data set when the terms are crossed), with early stopping on held-out groups when asked;
//   4. the L-BFGS polish of the linear part; then the structure stores its posterior.
// The random-effect structure (one grouping factor, or several terms: docs/terms.md) decides
// the objective, the posterior and what the options mean.
import * as E from '../engine/index';
import { checkDataTerms, prepare, type ModelData, type PreparedData } from './data';
import { Model, type ModelSpec } from './model';
import type { GroupedEffect } from './terms/grouped';
import type { TermsEffect } from './terms/multi';
import { family } from './families/index';
import { summaryOf } from './summary';
import { asMatrix } from './input';
import { keptByRank } from './frame';
import { fitExactLinear } from './exactLinear';
import { canonicalSign, columnScales, setStart } from './fitting/starts';
import { prepareThreads, threadRunner } from './threads/pool';
import { groupedObjective, PASS_ROWS, termsObjective, type Method, type Objective } from './fitting/objective';
import { linearStage } from './fitting/linear';
import { adamStage } from './fitting/adam';
import { softplusInv } from './positive';

export { columnScales } from './fitting/starts';

export interface FitProgress {
  /**
   * Which part of the fit: 'linear' (L-BFGS on the linear model; `epoch` is the iteration and
   * `epochs` the iteration cap), 'adam' (an epoch of the network), 'polish' (L-BFGS after Adam).
   */
  phase: 'linear' | 'adam' | 'polish';
  epoch: number;
  epochs: number;
  /** Mean negative log marginal likelihood per group (training batches of this epoch). */
  loss: number;
  /** The same on the validation groups, when there are any. */
  validation?: number;
  elapsedMs: number;
  /** With an ensemble: which member (1-based) is being trained, of how many. */
  member?: number;
  members?: number;
}

export interface FitOptions {
  /** Adam epochs (default 100; a network with one grouping factor: RECIPE's 300, an upper bound with early stopping). */
  epochs?: number;
  /** Groups per mini-batch (default 16). */
  batchSize?: number;
  /**
   * Threads a fit with one grouping factor uses (default: the host's cores, at most 8): for a
   * network's training batches, and for the L-BFGS passes (the linear stage, the polish) over
   * data of more than 50,000 rows, which run in parts of whole groups. Each batch is cut into
   * pieces of whole groups by its rows alone (≥ 256 rows a piece, a power of two of pieces, at
   * most 8), the parts by PASS_ROWS, and the gradients are summed in a fixed order, so the result
   * is the same bits for every thread count (ngmm/threads/pieces.ts). Needs a shared kernel memory
   * (SharedArrayBuffer: Node, Deno, Bun, a cross-origin isolated page); in a browser call
   * `await startThreads()` first or use `fitAsync`. Fewer threads run where that is not
   * possible, with a warning when more than one was asked for.
   */
  threads?: number;
  lr?: number;
  /** Learning-rate schedule over epochs: constant (default) or cosine decay to lr/100. */
  schedule?: 'constant' | 'cosine';
  /**
   * Use at most this many observations of each group per step (random, re-drawn each step).
   * Faster on large groups but biased (log is not linear: docs/marginal.md §7); off by default.
   */
  subsample?: number;
  /**
   * After Adam, full-batch L-BFGS over all training groups (validation groups included) on:
   * 'linear' (default) the intercept, the linear coefficients and the variance parameters
   * (σ_b or Λ, and σ), the networks f and g held fixed; true: every parameter; false: nothing.
   * A polish that fails is undone (with a warning); an abort skips it. Why 'linear': the objective is nearly flat along (f + c, b − c), Adam lets
   * the network's output level drift along that ridge and σ_b inflates to absorb it
   * (measured on the §4 Poisson design: mean posterior b −0.67, σ_b 1.29 for a true 1.0;
   * new-group deviance up to 5× the GLMM's), and re-fitting these few parameters brings σ_b
   * back (0.99–1.01) in well under a second, where polishing every parameter over-fits the
   * network (Bernoulli test log-loss ×10). bench/study/README.md has the measurements.
   */
  polish?: boolean | 'linear';
  /** Step size of the scale parameters σ_b, σ (default 10 × lr). */
  lrScale?: number;
  /** Decoupled weight decay (AdamW) of the network f's parameters (default 0; a network with one grouping factor: RECIPE's 1). */
  weightDecay?: number;
  seed?: number;
  /**
   * Members of the deep ensemble a network is fitted as (one grouping factor; default
   * DEFAULT_ENSEMBLE): each starts from the same linear fit with its own network
   * initialisation, batch order and held-out rows (seed + k), and is trained and polished on
   * its own; predictions average the members and their SD is the ensemble's spread. 1: a
   * single network. Measured by the quality benchmark (bench/quality/README.md).
   */
  ensemble?: number;
  /** Share of groups held out for early stopping (default 0: none). */
  validation?: number;
  /**
   * Share of each training group's rows held out for early stopping (default 0: none; a network
   * with one grouping factor: RECIPE's 0.2; a group
   * keeps at least one row). The criterion is then the held-out rows' negative log predictive
   * density given the group's kept rows (and the held-out groups' marginal, with `validation`),
   * per row: it scores what prediction for a seen group needs, from many more rows than whole
   * held-out groups give. The polish and the posterior then use every row.
   */
  validationRows?: number;
  /** Epochs without a validation improvement before stopping (default 20, RECIPE's too). */
  patience?: number;
  /** Relative accuracy of each group's marginal likelihood by the ODE (default 1e−8). */
  rtol?: number;
  /**
   * How a scalar random effect's marginal likelihood is computed while fitting: 'ode' (the
   * adaptive log-domain ODE to `rtol`; the default of a linear GLMM, of a fit that sets `rtol`
   * and of the sqrt link) or 'quadrature' (adaptive Gauss–Hermite with `nodes` nodes, default
   * 25: agrees with the ODE to ~1e−8 on such groups and is several times cheaper; the default
   * of a network). The fitted model's logLik and posteriors always come from the ODE at 1e−10.
   * Random slopes always use the quadrature rule.
   */
  marginal?: 'ode' | 'quadrature';
  nodes?: number;
  /**
   * Gaussian identity-link linear models only: restricted maximum likelihood (lme4's default;
   * ours is ML, as glmmTMB's). The summary says which.
   */
  reml?: boolean;
  /**
   * Several random-effect terms fitted by the Laplace approximation: check it at the estimates
   * by importance sampling with this many draws from the Laplace Gaussian (seeded by `seed`);
   * the summary's `laplaceCheck` then holds the estimate, its Monte Carlo error and the gap.
   */
  importanceSamples?: number;
  /**
   * Starting values, as lme4's `start`: coefficients by name on the user's scale (the others
   * keep glm()'s start), the random-effect SDs (one per term, scalar terms only; with one
   * grouping factor, σ_b), and the dispersion (σ, θ or α). Not for the exact Gaussian path,
   * which needs none.
   */
  start?: { fixef?: Record<string, number>; sd?: number[]; dispersion?: number };
  /** L-BFGS gradient tolerance for the linear fit (default 1e−6 on the mean per group). */
  gtol?: number;
  onProgress?: (p: FitProgress) => void;
  /** Called with a plain-words warning (a diverged fit). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

/** Fits synchronously (the caller's thread is busy until the model is returned). */
export function fit(data: ModelData, spec: ModelSpec, o: FitOptions = {}): Model {
  const run = fitting(data, spec, o);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * The same fit, returning to the event loop after the linear fit and after every epoch, so
 * that a Web Worker (or a page) can receive a cancel message and abort `signal` while it
 * runs. The numbers are identical to `fit`'s.
 */
export async function fitAsync(data: ModelData, spec: ModelSpec, o: FitOptions = {}): Promise<Model> {
  await prepareThreads(o.threads);
  const run = fitting(data, spec, o);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
    // A macrotask, not a microtask: only a macrotask lets queued messages be dispatched.
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
}

// The fit as a generator that yields between epochs (never inside a tidy scope).
function* fitting(data0: ModelData, spec: ModelSpec, o: FitOptions): Generator<void, Model, void> {
  const fam = family(spec.family, spec.link);
  const p = data0.xNames.length;
  const n = data0.y.length;
  const dup = data0.xNames.find((v, i) => data0.xNames.indexOf(v) !== i);
  if (dup !== undefined) throw new Error(`fit: the column name '${dup}' appears twice in xNames`);
  // X as a typed array, a plain number[] (row-major) or rows.
  const data = { ...data0, X: asMatrix(data0.X, p, 'X', data0.xNames) };
  // The design's rank, by lme4's rule (the model frame has already dropped such columns from a
  // formula's design; arrays come here unchecked): an aliased or constant column is named.
  const rank = keptByRank(data.X, n, [...data.xNames], spec.intercept ?? true);
  if (rank.droppedColumns.length > 0) {
    const what = rank.droppedColumns.map((c) => `'${c.name}' (${c.reason})`).join(', ');
    throw new Error(`fit: X is rank deficient: ${what}; drop ${rank.droppedColumns.length === 1 ? 'that column' : 'those columns'} (a formula's model frame drops them, as lme4 does)`);
  }
  if (!(o.polish === undefined || o.polish === true || o.polish === false || o.polish === 'linear')) {
    throw new Error(`fit: polish must be true, false or 'linear', got '${String(o.polish)}'`);
  }
  const { mean, sd } = columnScales(data.X, n, p, spec.intercept ?? true);
  const prep0 = prepare(fam, data);
  const model = new Model(spec, data.xNames, mean, sd);
  // In place: prepare's X is a sorted copy of the caller's, and at 10⁷ rows × 5 columns a
  // second copy would be another 400 MB held for the whole fit.
  const Xs = model.standardise(prep0.X, prep0.X);
  const t0 = performance.now();
  if (model.random.kind === 'terms') {
    if (prep0.Zg) throw new Error('Z was given but the model has no randomEffect network (spec.randomEffect)');
    return yield* fitTerms(model, model.random, { ...prep0, X: Xs, Zg: null }, data.terms, o, t0);
  }
  if (data.terms) throw new Error('fit: the data have random-effect terms (data.terms) but the spec does not (spec.terms)');
  if (o.importanceSamples !== undefined) throw new Error('fit: importanceSamples checks the Laplace approximation of several random-effect terms; one grouping factor is integrated exactly');
  return yield* fitGrouped(model, model.random, { ...prep0, X: Xs }, data, o, t0);
}

// One grouping factor: a random intercept (ODE, or Gauss–Hermite with `marginal`), random
// slopes (Gauss–Hermite) or a network g(z) of group covariates.
function* fitGrouped(model: Model, re: GroupedEffect, prep0: PreparedData, data: ModelData, o: FitOptions, t0: number): Generator<void, Model, void> {
  const fam = model.family;
  let Zg = prep0.Zg;
  if (re.gNet) {
    const covariates = model.spec.randomEffect!.covariates;
    if (!Zg || !data.zNames || data.zNames.join('\u0000') !== covariates.join('\u0000')) {
      throw new Error(`the random-effect network needs Z with the columns ${covariates.join(', ')}`);
    }
    // Standardise z over the groups (one row per group).
    const d = prep0.d, G = prep0.levels.length;
    for (let c = 0; c < d; c++) {
      let s = 0, ss = 0;
      for (let g = 0; g < G; g++) s += Zg[g * d + c];
      re.zMean[c] = s / G;
      for (let g = 0; g < G; g++) ss += (Zg[g * d + c] - re.zMean[c]) ** 2;
      const v = Math.sqrt(ss / Math.max(1, G - 1));
      re.zSd[c] = v > 0 && Number.isFinite(v) ? v : 1;
    }
    Zg = re.standardiseZ(Zg);
  } else if (Zg) {
    throw new Error('Z was given but the model has no randomEffect network (spec.randomEffect)');
  }
  const prep: PreparedData = { ...prep0, Zg };
  model.hasOffset = prep.offset !== null;
  setStart(model, prep);
  if (o.start) applyStart(model, o.start, fam.name === 'gaussian' && fam.link === 'identity' && !re.gNet);
  const G = prep.response.ngroups;
  if (o.marginal !== undefined && o.marginal !== 'ode' && o.marginal !== 'quadrature') {
    throw new Error(`fit: marginal must be 'ode' or 'quadrature', got '${String(o.marginal)}'`);
  }
  const marginal = o.marginal ?? defaultMarginal(model, o);
  const how: Method = { rtol: o.rtol ?? 1e-8, nodes: marginal === 'quadrature' ? (o.nodes ?? 25) : 0 };
  if (o.nodes !== undefined && marginal !== 'quadrature') throw new Error(`fit: nodes applies to marginal: 'quadrature' (the ODE has rtol), got nodes = ${o.nodes}`);
  if (marginal === 'quadrature' && !(Number.isInteger(how.nodes) && how.nodes >= 1 && how.nodes <= 100)) throw new Error(`fit: nodes must be an integer from 1 to 100, got ${o.nodes}`);
  if (!model.net && !re.gNet) {
    // Options of the network stage, given for a linear model, would be silently ignored.
    const given = (['ensemble', 'validationRows'] as const).find((k) => o[k] !== undefined);
    if (given) throw new Error(`fit: ${given} applies to a network (spec.hidden or spec.randomEffect); a linear model is fitted by L-BFGS to convergence`);
  }
  const obj = groupedObjective(model, prep, how);

  const exactPath = fam.name === 'gaussian' && fam.link === 'identity' && !re.gNet;
  if (o.reml && !(exactPath && !model.net)) {
    throw new Error('fit: reml applies to linear Gaussian models with the identity link (REML integrates out β, which a network f does not have)');
  }
  const exact = exactPath ? exactStage(model, prep, o, t0, G) : null;
  if (!exact) linearStage(model, obj, [...model.linearParams(), ...model.scaleParams()], o, t0);
  if (model.net) model.glmm = model.coefficients();
  yield;
  if (model.net || re.gNet) yield* ensembleStage(model, prep, how, obj, withRecipe(o), t0);
  if (fam.link === 'sqrt') canonicalSign(model, prep);
  model.refreshPosterior(prep.X, prep.response, [...prep.levels], prep.Zg, prep.offset);
  if (exact && !model.net) {
    // The exact criterion, not its ODE recomputation (equal under ML to ~1e−10; under REML the
    // reported logLik is lme4's −½·REML criterion, which no marginal over b alone gives).
    model.info.logLik = exact.logLik;
    model.exact = { reml: exact.reml, names: exact.names, se: Array.from(exact.se), singular: exact.singular };
  }
  model.stored = summaryOf(model, prep, undefined, PASS_ROWS, () => threadRunner(o.threads, o.onWarning).runner);
  return model;
}

// How a scalar random effect is integrated while fitting when `marginal` is not given: a network
// trains on adaptive Gauss–Hermite (25 nodes: ~1e−8 from the ODE on such groups, docs/marginal.md,
// and about half the time of a fit: measured 9.6 s against 19.3 s on the quality benchmark's
// Bernoulli set of 500 groups); a linear GLMM keeps the ODE to rtol, as does a fit that sets
// rtol (it asked for the ODE's accuracy) or a non-canonical sqrt link (its integrand may have
// two modes, which the ODE's global mode search handles). The stored logLik and posteriors
// come from the ODE at 1e−10 either way.
function defaultMarginal(model: Model, o: FitOptions): 'ode' | 'quadrature' {
  const network = model.net !== null || (model.random.kind === 'grouped' && model.random.gNet !== null);
  return network && o.rtol === undefined && model.family.link !== 'sqrt' ? 'quadrature' : 'ode';
}

/** Members of a network's deep ensemble by default (FitOptions.ensemble). */
export const DEFAULT_ENSEMBLE = 5;

/**
 * The training recipe of a network with one grouping factor, where the options leave a setting
 * out: chosen by what the quality benchmark measured (bench/quality/README.md, docs/recipe.md),
 * the same for every family and size. Each member of a 5-network ensemble trains up to 300
 * epochs, holds out 20 % of each group's rows and stops 20 epochs after their predictive
 * density last improved (restoring that epoch), with decoupled weight decay 1 on the network.
 */
export const RECIPE = { ensemble: DEFAULT_ENSEMBLE, epochs: 300, validationRows: 0.2, patience: 20, weightDecay: 1 } as const;

/** The options with the recipe's settings where they are left out (undefined counts as left out). */
export function withRecipe(o: FitOptions): FitOptions {
  const out: FitOptions = { ...o };
  for (const [k, v] of Object.entries(RECIPE) as [keyof typeof RECIPE, number][]) if (out[k] === undefined) out[k] = v;
  return out;
}

// The network stage as a deep ensemble (Lakshminarayanan et al. 2017): member 1 is `model`;
// each further member is a model of the same spec that copies the linear fit (the linear part
// and the variance parameters) but draws its own network(s) from seed + k, and is trained with
// its own batch order and held-out rows (fit seed + k). Members are independent fits of one
// model; `model.members` keeps them and predictions average them.
function* ensembleStage(model: Model, prep: PreparedData, how: Method, obj: Objective, o: FitOptions, t0: number): Generator<void, void, void> {
  const K = o.ensemble ?? 1;
  if (!(Number.isInteger(K) && K >= 1 && K <= 64)) throw new Error(`fit: ensemble must be a whole number from 1 to 64, got ${o.ensemble}`);
  const linear = [...model.linearParams(), ...model.varianceParams()].map((t) => t.toArray());
  const re = model.grouped('an ensemble');
  const members: Model[] = [];
  let stoppedEarly = '';
  try {
    for (let k = 0; k < K; k++) {
      let m = model, mobj = obj;
      if (k > 0) {
        m = new Model({ ...model.spec, randomEffect: model.spec.randomEffect ?? undefined, terms: undefined }, model.xNames, model.mean, model.sd, model.spec.seed + k);
        members.push(m);
        [...m.linearParams(), ...m.varianceParams()].forEach((t, i) => t.data.set(linear[i]));
        const mre = m.grouped('an ensemble member');
        mre.zMean = Float64Array.from(re.zMean);
        mre.zSd = Float64Array.from(re.zSd);
        m.hasOffset = model.hasOffset;
        mobj = groupedObjective(m, prep, how);
      }
      const onProgress = o.onProgress && K > 1 ? (p: FitProgress) => o.onProgress!({ ...p, member: k + 1, members: K }) : o.onProgress;
      yield* adamStage(m, mobj, { ...o, seed: (o.seed ?? 0) + k, onProgress }, t0);
      if (o.signal?.aborted) {
        // A member cut short is not one of the ensemble: keep the members trained to the end.
        if (k > 0) members.pop()!.dispose();
        stoppedEarly = k > 0 ? `; aborted while training member ${k + 1} of ${K}: the ensemble keeps the ${k} trained before it` : '';
        break;
      }
      if (k > 0) {
        if (model.family.link === 'sqrt') canonicalSign(m, prep);
        m.refreshPosterior(prep.X, prep.response, [...prep.levels], prep.Zg, prep.offset);
      }
    }
  } catch (e) {
    members.forEach((m) => m.dispose());
    throw e;
  }
  model.members = members;
  if (members.length > 0) {
    model.info.message += `; a deep ensemble of ${members.length + 1} networks (the first member's parameters are shown; predictions average all of them)${stoppedEarly}`;
  } else if (stoppedEarly) model.info.message += stoppedEarly;
}

// lme4's `start`, checked against the model: coefficients by name on the user's scale (mapped to
// the standardised parametrisation: W_j = β_j·s_j, b0 = β₀ + Σ β_j·μ_j), the SDs, the dispersion.
function applyStart(model: Model, st: NonNullable<FitOptions['start']>, exact: boolean): void {
  if (exact) throw new Error('fit: start is for iterative fits; a linear Gaussian identity model is fitted exactly without one');
  if (st.fixef) {
    const names = model.coefficients().map((c) => c.name);
    for (const k of Object.keys(st.fixef)) if (!names.includes(k)) throw new Error(`fit: start.fixef names '${k}', which is not a coefficient (have: ${names.join(', ')})`);
    const beta = (k: string, dflt: number) => (Object.hasOwn(st.fixef!, k) ? st.fixef![k] : dflt);
    const cur = model.coefficients();
    let b0 = beta('(Intercept)', cur[0].name === '(Intercept)' ? cur[0].value : 0);
    model.xNames.forEach((name, j) => {
      const bj = beta(name, model.W.data[j] / model.sd[j]);
      if (!Number.isFinite(bj)) throw new Error(`fit: start.fixef.${name} is ${bj}, not a finite number`);
      model.W.data[j] = bj * model.sd[j];
      b0 += bj * model.mean[j];
    });
    if (model.spec.intercept) model.b0.data[0] = b0;
  }
  if (st.sd) {
    const re = model.random;
    const want = re.kind === 'terms' ? re.terms.length : 1;
    if (st.sd.length !== want || !st.sd.every((v) => v > 0 && Number.isFinite(v))) throw new Error(`fit: start.sd must hold ${want} positive SD${want === 1 ? '' : 's'} (one per term)`);
    if (re.kind === 'terms') {
      re.terms.forEach((t, k) => {
        if (t.columns.length !== 1) throw new Error(`fit: start.sd applies to scalar terms; '${t.name}' has ${t.columns.length} columns`);
        re.theta[k].data[0] = softplusInv(st.sd![k]);
      });
    } else {
      if (re.q > 1 || re.gNet) throw new Error('fit: start.sd applies to a scalar random intercept');
      re.setScale(st.sd[0]);
    }
  }
  if (st.dispersion !== undefined) {
    if (!model.thetaSigma) throw new Error(`fit: start.dispersion is given but the ${model.family.name} family has none`);
    if (!(st.dispersion > 0 && Number.isFinite(st.dispersion))) throw new Error(`fit: start.dispersion must be positive, got ${st.dispersion}`);
    model.thetaSigma.data[0] = softplusInv(st.dispersion);
  }
}

// The linear Gaussian identity model by the exact profiled likelihood (lme4's), ML or REML:
// for one grouping factor, or (with `terms`) several.
function exactStage(model: Model, prep: PreparedData, o: FitOptions, t0: number, units: number, terms?: ModelData['terms']) {
  const iterations = 200;
  const exact = fitExactLinear(model, prep, o.reml === true, {
    signal: o.signal,
    onIteration: (it, dev) => o.onProgress?.({ phase: 'linear', epoch: it, epochs: iterations, loss: dev / (2 * Math.max(1, units)), elapsedMs: performance.now() - t0 }),
  }, terms);
  model.info = { converged: exact.converged, message: exact.message, optimizer: `profiled ${exact.reml ? 'REML' : 'ML'} deviance (exact)`, epochs: exact.iterations, logLik: exact.logLik };
  return exact;
}

// Several random-effect terms (ngmm/terms/multi.ts, docs/terms.md): the linear Gaussian model
// exactly; otherwise the structure's marginal (nested quadrature or Laplace) of all rows at
// once. Crossed levels share rows, so there are no independent mini-batches or held-out
// groups: the options that need them are refused.
function* fitTerms(model: Model, te: TermsEffect, prep: PreparedData, dataTerms: ModelData['terms'], o: FitOptions, t0: number): Generator<void, Model, void> {
  const fam = model.family;
  const terms = checkDataTerms(dataTerms, te.terms, prep.response.nobs);
  const linearGaussian = fam.name === 'gaussian' && fam.link === 'identity' && !model.net;
  if (o.reml && !linearGaussian) throw new Error('fit: reml applies to linear Gaussian models with the identity link (REML integrates out β, which a network f does not have)');
  for (const [key, why] of [['marginal', 'one grouping factor'], ['ensemble', 'independent groups (an ensemble is fitted for one grouping factor)'], ['validationRows', 'independent groups'], ['validation', 'held-out groups, which crossed terms do not have'], ['batchSize', 'mini-batches of independent groups'], ['subsample', 'mini-batches of independent groups'], ['threads', 'mini-batches of independent groups, cut into pieces for the threads']] as const) {
    if (o[key] !== undefined && !(key === 'validation' && o.validation === 0)) throw new Error(`fit: ${key} needs ${why}; a model with several random-effect terms is fitted on all rows at once`);
  }
  const method = te.chooseMethod(terms, linearGaussian);
  model.hasOffset = prep.offset !== null;
  model.nobs = prep.response.nobs;
  setStart(model, prep);
  if (o.start) applyStart(model, o.start, method === 'exact');
  if (method === 'exact') {
    if (o.importanceSamples !== undefined) throw new Error('fit: importanceSamples checks the Laplace approximation; a linear Gaussian model is integrated exactly');
    if (o.nodes !== undefined) throw new Error('fit: nodes sets the outer rule of nested terms; a linear Gaussian model is integrated exactly');
    const exact = exactStage(model, prep, o, t0, prep.response.ngroups, terms);
    te.method = 'exact';
    model.exact = { reml: exact.reml, names: exact.names, se: Array.from(exact.se), singular: exact.singular };
    model.stored = summaryOf(model, null);
    return model;
  }
  if (o.nodes !== undefined && method !== 'nested') throw new Error('fit: nodes sets the outer rule of nested terms; these terms are integrated by the Laplace approximation');
  if (o.nodes !== undefined && !(Number.isInteger(o.nodes) && o.nodes >= 1 && o.nodes <= 64)) throw new Error(`fit: nodes must be an integer from 1 to 64, got ${o.nodes}`);
  if (o.importanceSamples !== undefined) {
    if (method !== 'laplace') throw new Error('fit: importanceSamples checks the Laplace approximation; these terms are integrated exactly (nested quadrature)');
    if (!(Number.isInteger(o.importanceSamples) && o.importanceSamples >= 2)) throw new Error(`fit: importanceSamples must be a whole number ≥ 2, got ${o.importanceSamples}`);
  }
  const bound = te.bind(prep, terms, method, o.nodes ?? 25);
  te.nestedNodes = o.nodes ?? 25;
  const n = prep.response.nobs, p = prep.p;
  const X = new Float64Array(n * p);
  bound.rows.forEach((j, k) => X.set(prep.X.subarray(j * p, j * p + p), k * p));
  const offset = prep.offset ? Float64Array.from(bound.rows, (j) => prep.offset![j]) : null;
  // Every evaluation uses all rows: X goes to the kernel heap once, for the whole fit.
  const Xt = E.untracked(() => E.tensor(X, [n, p]));
  const obj = termsObjective(model, te, bound, Xt, offset);
  let eta0: Float64Array;
  try {
    linearStage(model, obj, [...model.linearParams(), ...model.varianceParams()], o, t0);
    if (model.net) model.glmm = model.coefficients();
    yield;
    if (model.net) yield* adamStage(model, obj, o, t0);
    eta0 = E.tidy(() => model.fixedEta(Xt, offset).toArray());
    model.info.logLik = te.refresh(eta0, model.sigma, bound);
    model.stored = summaryOf(model, null, model.isLinear ? () => E.mul(obj.value(null), bound.units) : undefined);
  } finally {
    Xt.dispose();
  }
  if (o.importanceSamples !== undefined) {
    const is = te.importanceSampling(eta0, model.sigma, bound, o.importanceSamples, o.seed ?? 0);
    model.stored.laplaceCheck = { draws: o.importanceSamples, logLik: is.logLik, mcError: is.mcError, difference: is.difference, ess: is.ess };
  }
  return model;
}
