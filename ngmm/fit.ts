// fit(data, spec, options): maximum likelihood for the random-intercept NGMM.
//
// The linear GLMM is fitted first, full batch, by L-BFGS to a gradient-norm tolerance (the
// default for linear models: it reports plainly whether it converged). A neural model starts
// from it (the linear part keeps the GLMM's coefficients, σ_b and σ start at the GLMM's
// values, the network's output layer starts small) and continues with Adam over mini-batches
// of groups: the network at `lr`, the scale parameters at their own `lrScale` (a single rate
// left σ_b inflated by 30–90 % when early stopping fired: MATH.md §11). With `validation`, a
// share of the groups is held out and the parameters of the best validation objective are
// restored at the end.
import * as E from '../engine/index';
import { minimize } from '../engine/lbfgs';
import { prepare, type ModelData, type PreparedData } from './data';
import { releaseResponse, subsetResponse } from './marginal/groups';
import { Model, type ModelSpec } from './model';
import type { TermsEffect } from './terms/multi';
import { family } from './families/index';
import { summaryOf } from './summary';
import { interceptStart } from './start';
import { asMatrix } from './input';
import { keptByRank } from './frame';
import { backSolve, cholLower, forwardSolve } from './lmm/dense';
import { fitExactLinear, type ExactLinearFit } from './exactLinear';
import { softplusInv } from './positive';

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
}

export interface FitOptions {
  epochs?: number;
  /** Groups per mini-batch (default 16). */
  batchSize?: number;
  lr?: number;
  /** Learning-rate schedule over epochs: constant (default) or cosine decay to lr/100. */
  schedule?: 'constant' | 'cosine';
  /**
   * Use at most this many observations of each group per step (random, re-drawn each step).
   * Faster on large groups but biased (log is not linear: MATH.md §6); off by default.
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
  weightDecay?: number;
  seed?: number;
  /** Share of groups held out for early stopping (default 0: none). */
  validation?: number;
  /** Epochs without a validation improvement before stopping (default 20). */
  patience?: number;
  /** Relative accuracy of each group's marginal likelihood by the ODE (default 1e−8). */
  rtol?: number;
  /**
   * How a scalar random effect's marginal likelihood is computed while fitting: 'ode' (the
   * adaptive log-domain ODE to `rtol`; default) or 'quadrature' (adaptive Gauss–Hermite with
   * `nodes` nodes, default 25: agrees with the ODE to ~1e−8 on such groups and is several times
   * cheaper). The fitted model's logLik and posteriors always come from the ODE at 1e−10.
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
  /** L-BFGS gradient tolerance for the linear fit (default 1e−6 on the mean per group). */
  gtol?: number;
  onProgress?: (p: FitProgress) => void;
  /** Called with a plain-words warning (a diverged fit). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

/** The marginal method while fitting: the ODE's rtol, and Gauss–Hermite nodes (0: the ODE). */
interface Method {
  rtol: number;
  nodes: number;
}

function objective(model: Model, prep: PreparedData, groups: Int32Array, how: Method, sub?: { k: number; rng: E.Rng }): E.Tensor {
  const { response, rows } = subsetResponse(prep.response, groups, sub);
  const p = prep.p;
  const X = new Float64Array(rows.length * p);
  for (let k = 0; k < rows.length; k++) X.set(prep.X.subarray(rows[k] * p, rows[k] * p + p), k * p);
  let Z: E.Tensor | null = null;
  if (prep.Zg) {
    const d = prep.d;
    const Zb = new Float64Array(groups.length * d);
    for (let k = 0; k < groups.length; k++) Zb.set(prep.Zg.subarray(groups[k] * d, groups[k] * d + d), k * d);
    Z = E.tensor(Zb, [groups.length, d]);
  }
  try {
    const off = prep.offset ? Float64Array.from(rows, (r) => prep.offset![r]) : null;
    const { L } = model.logMarginal(E.tensor(X, [rows.length, p]), response, how.rtol, Z, how.nodes, off);
    return E.neg(E.mean(L));
  } finally {
    releaseResponse(response);
  }
}

// With the sqrt link μ = η², so the likelihood is even under (f, b) → (−f, −b) (b's prior is
// symmetric): two optima of equal height. lme4 reports the one with η > 0 (its glm start), and
// so do we: where the mean of f over the rows is negative, f's linear part (and the network's
// output layer) change sign; the offset, being data, is even only when zero.
function canonicalSign(model: Model, prep: PreparedData): void {
  if (prep.offset?.some((v) => v !== 0)) return;
  const f = E.tidy(() => model.f(E.tensor(prep.X, [prep.response.nobs, prep.p])).toArray());
  let s = 0;
  for (const v of f) s += v;
  if (!(s < 0)) return;
  const neg = (t: E.Tensor) => {
    for (let i = 0; i < t.data.length; i++) t.data[i] = -t.data[i];
  };
  neg(model.b0);
  neg(model.W);
  if (model.net) {
    neg(model.net.weights[model.net.weights.length - 1]);
    neg(model.net.biases[model.net.biases.length - 1]);
  }
  // Random effects need no change: b → −b is absorbed by b's symmetric prior (for slopes too,
  // since γ = Λb and −b has the same distribution as b).
}

// The unit a random-effect SD is measured in: the link scale, or σ for a Gaussian.
function scaleUnit(model: Model): number {
  return model.family.name === 'gaussian' ? model.sigma : 1;
}

function finiteObjective(model: Model, prep: PreparedData, groups: Int32Array, how: Method): boolean {
  try {
    return Number.isFinite(E.tidy(() => objective(model, prep, groups, how).item()));
  } catch {
    return false;
  }
}

function snapshot(model: Model): Float64Array[] {
  return model.parameters().map((t) => t.toArray());
}

function restore(model: Model, s: Float64Array[]): void {
  model.parameters().forEach((t, i) => t.data.set(s[i]));
}

/**
 * The standardisation of X: column means and SDs, or, without an intercept, no centring (μ = 0)
 * and the root mean square as the scale. Each column is first divided by its largest |x|, so
 * a column like x·1e−300 keeps its information (its squares would underflow to 0 and it would
 * pass for constant). A constant column keeps scale 1 (the frame names and drops those).
 */
export function columnScales(X: ArrayLike<number>, n: number, p: number, centre: boolean): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(p), sd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    let big = 0;
    for (let i = 0; i < n; i++) big = Math.max(big, Math.abs(X[i * p + j]));
    if (!(big > 0) || !Number.isFinite(big)) {
      sd[j] = 1;
      continue;
    }
    let s = 0, ss = 0;
    for (let i = 0; i < n; i++) s += X[i * p + j] / big;
    const m = centre ? s / n : 0;
    for (let i = 0; i < n; i++) ss += (X[i * p + j] / big - m) ** 2;
    const v = Math.sqrt(ss / Math.max(1, centre ? n - 1 : n));
    mean[j] = m * big;
    sd[j] = v > 1e-12 ? v * big : 1;
  }
  return { mean, sd };
}

// Without an intercept, f = 0 is a stationary point of the sqrt link's likelihood (even in f),
// so W = 0 never moves: start from the least-squares fit of √y on the (scaled) columns.
function sqrtStart(model: Model, prep: PreparedData): void {
  const p = prep.p, n = prep.response.nobs, X = prep.X, y = prep.response.y;
  const A = new Float64Array(p * p), b = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const t = Math.sqrt(Math.max(0, y[i])) - (prep.offset ? prep.offset[i] : 0);
    for (let j = 0; j < p; j++) {
      b[j] += X[i * p + j] * t;
      for (let k = 0; k <= j; k++) A[j * p + k] += X[i * p + j] * X[i * p + k];
    }
  }
  // The normal equations with a small ridge (the columns are scaled to unit RMS, so 1e−8·n is
  // tiny), by the Cholesky factor's two triangular solves.
  for (let j = 0; j < p; j++) A[j * p + j] += 1e-8 * n;
  if (cholLower(A, 0, p) >= 0) return; // reads the lower triangle only
  forwardSolve(A, 0, p, b, 0, 1);
  backSolve(A, 0, p, b, 0, 1);
  if (b.every(Number.isFinite)) model.W.data.set(b);
}

// glm()'s start: the intercept at g(ȳ) (the network's output layer starts near 0), and for a
// Gaussian response σ at the SD of y, σ_b at half of it on the identity scale.
function setStart(model: Model, prep: PreparedData): void {
  const r = prep.response, fam = model.family;
  const binomial = fam.name === 'binomial' || fam.name === 'bernoulli';
  // r.trials is m: the trials of a binomial count, else the prior weight of the row.
  let sy = 0, sm = 0, so = 0;
  for (let j = 0; j < r.nobs; j++) {
    const m = r.trials ? r.trials[j] : 1;
    sy += binomial ? r.y[j] : m * r.y[j];
    sm += m;
    if (prep.offset) so += prep.offset[j];
  }
  const ybar = sm > 0 ? sy / sm : 0;
  if (model.spec.intercept) model.b0.data[0] = interceptStart(fam.link, ybar, binomial, so / Math.max(1, r.nobs));
  else if (fam.link === 'sqrt') sqrtStart(model, prep);
  if ((fam.name === 'gamma' || fam.name === 'negbinomial') && model.thetaSigma && r.nobs > 1) {
    // Moments of y alone (covariates and groups ignored, so the variance is overstated):
    // Gamma Var = μ²/α ⇒ α ≈ ȳ²/s²; NB2 Var = μ + μ²/θ ⇒ θ ≈ ȳ²/(s² − ȳ).
    let ss = 0;
    for (let j = 0; j < r.nobs; j++) ss += (r.y[j] - ybar) ** 2;
    const v = ss / (r.nobs - 1);
    const phi = fam.name === 'gamma' ? (ybar * ybar) / v : (ybar * ybar) / Math.max(v - ybar, 0.01 * ybar * ybar);
    if (Number.isFinite(phi) && phi > 0) model.thetaSigma.data[0] = softplusInv(Math.min(1e4, Math.max(0.01, phi)));
  }
  if (fam.name === 'gaussian' && model.thetaSigma) {
    let ss = 0;
    for (let j = 0; j < r.nobs; j++) ss += (r.y[j] - ybar) ** 2;
    const sdy = Math.sqrt(ss / Math.max(1, r.nobs - 1));
    if (sdy > 0 && Number.isFinite(sdy)) {
      model.thetaSigma.data[0] = softplusInv(sdy);
      if (fam.link === 'identity') model.random.setScale(0.5 * sdy);
    }
  }
}


// Several random-effect terms (ngmm/terms/multi.ts, docs/terms.md). The linear Gaussian model
// is exact by the sparse profiled likelihood (ML or REML). Otherwise the structure's marginal
// (nested quadrature or Laplace) is the objective over all rows at once: L-BFGS on the linear
// part and the variance parameters, then, for a network f, full-batch Adam and the linear
// polish, as for one grouping factor. Crossed levels share rows, so there are no independent
// mini-batches or held-out groups: the options that need them are refused.
function* fitTerms(model: Model, prep: PreparedData, terms: ModelData['terms'], o: FitOptions): Generator<void, Model, void> {
  const fam = model.family, te = model.random as TermsEffect;
  if (!terms || terms.length !== te.terms.length) throw new Error(`fit: the spec has ${te.terms.length} random-effect terms and the data ${terms?.length ?? 0} (data.terms)`);
  const linearGaussian = fam.name === 'gaussian' && fam.link === 'identity' && !model.net;
  if (o.reml && !linearGaussian) throw new Error('fit: reml applies to linear Gaussian models with the identity link (REML integrates out β, which a network f does not have)');
  for (const [key, why] of [['marginal', 'one grouping factor'], ['validation', 'held-out groups, which crossed terms do not have'], ['batchSize', 'mini-batches of independent groups'], ['subsample', 'mini-batches of independent groups']] as const) {
    if (o[key] !== undefined && !(key === 'validation' && o.validation === 0)) throw new Error(`fit: ${key} needs ${why}; a model with several random-effect terms is fitted on all rows at once`);
  }
  const t0 = performance.now(), G = prep.response.ngroups;
  const method = te.chooseMethod(terms, linearGaussian);
  model.hasOffset = prep.offset !== null;
  model.nobs = prep.response.nobs;
  if (method === 'exact') {
    if (o.nodes !== undefined) throw new Error('fit: nodes sets the outer rule of nested terms; a linear Gaussian model is integrated exactly');
    const iterations = 200;
    const exact = fitExactLinear(model, prep, o.reml === true, {
      signal: o.signal,
      onIteration: (it, dev) => o.onProgress?.({ phase: 'linear', epoch: it, epochs: iterations, loss: dev / (2 * Math.max(1, G)), elapsedMs: performance.now() - t0 }),
    }, terms);
    te.method = 'exact';
    model.info = { converged: exact.converged, message: exact.message, optimizer: `profiled ${exact.reml ? 'REML' : 'ML'} deviance (exact)`, epochs: exact.iterations, logLik: exact.logLik };
    model.exact = { reml: exact.reml, names: exact.names, se: Array.from(exact.se), singular: exact.singular };
    model.stored = summaryOf(model, null);
    return model;
  }
  if (o.nodes !== undefined && method !== 'nested') throw new Error('fit: nodes sets the outer rule of nested terms; these terms are integrated by the Laplace approximation');
  if (o.nodes !== undefined && !(Number.isInteger(o.nodes) && o.nodes >= 1 && o.nodes <= 64)) throw new Error(`fit: nodes must be an integer from 1 to 64, got ${o.nodes}`);
  const bound = te.bind(prep, terms, method, o.nodes ?? 25);
  te.nestedNodes = o.nodes ?? 25;
  const n = prep.response.nobs, p = prep.p;
  const X = new Float64Array(n * p);
  bound.rows.forEach((j, k) => X.set(prep.X.subarray(j * p, j * p + p), k * p));
  const offset = prep.offset ? Float64Array.from(bound.rows, (j) => prep.offset![j]) : null;
  const phi = () => (model.thetaSigma ? E.softplus(model.thetaSigma) : null);
  // The mean −log-likelihood per level (per outer group for nested terms): gtol's unit.
  const objective = () => E.mul(te.logLik(model.fixedEta(E.tensor(X, [n, p]), offset), phi(), bound), -1 / bound.units);
  const progress = (phase: 'linear' | 'polish', maxIter: number) => (it: number, f: number) =>
    o.onProgress?.({ phase, epoch: it, epochs: maxIter, loss: f, elapsedMs: performance.now() - t0 });
  const linear = [...model.linearParams(), ...model.varianceParams()];
  const r = minimize(linear, objective, { gtol: o.gtol ?? 1e-6, maxIter: 500, onIteration: progress('linear', 500), signal: o.signal });
  if (!Number.isFinite(r.f)) throw new Error(`fit: the linear model's objective is not finite (${r.f}); check the data for extreme values`);
  model.info = { converged: r.converged, message: r.message, optimizer: 'L-BFGS', epochs: r.iterations, logLik: NaN };
  yield;
  if (model.net) {
    const epochs = o.epochs ?? 100, lr = o.lr ?? 1e-3;
    const net = new E.Adam(model.fixedParams(), { lr, weightDecay: o.weightDecay ?? 0 });
    const scales = new E.Adam(model.scaleParams(), { lr: o.lrScale ?? 10 * lr });
    let lastGood = snapshot(model), epoch = 1, stopped = '';
    for (; epoch <= epochs; epoch++) {
      if (o.signal?.aborted) {
        stopped = `aborted at epoch ${epoch}; the last parameters are kept`;
        break;
      }
      if (o.schedule === 'cosine') {
        net.lr = lr * (0.01 + 0.99 * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / epochs)));
        scales.lr = (o.lrScale ?? 10 * lr) * (net.lr / lr);
      }
      let loss: number;
      try {
        loss = E.tidy(() => {
          const L = objective();
          const gs = E.grad(L, model.parameters());
          const nf = model.fixedParams().length;
          net.step(gs.slice(0, nf));
          scales.step(gs.slice(nf));
          return L.item();
        });
      } catch {
        loss = NaN;
      }
      if (!Number.isFinite(loss) || model.parameters().some((t) => t.data.some((v) => !Number.isFinite(v)))) {
        restore(model, lastGood);
        stopped = `diverged at epoch ${epoch} (the objective became ${loss}); the parameters of epoch ${epoch - 1} are restored — lower the learning rate (now ${lr})`;
        o.onWarning?.(`fit ${stopped}`);
        break;
      }
      lastGood = snapshot(model);
      o.onProgress?.({ phase: 'adam', epoch, epochs, loss, elapsedMs: performance.now() - t0 });
      yield;
    }
    net.dispose();
    scales.dispose();
    let polished = '';
    const polish = o.polish ?? 'linear';
    if (polish !== false && !stopped) {
      const params = polish === 'linear' ? [...model.linearParams(), ...model.varianceParams()] : model.parameters();
      const before = snapshot(model);
      try {
        const pr = minimize(params, objective, { gtol: o.gtol ?? 1e-6, maxIter: 200, onIteration: progress('polish', 200), signal: o.signal });
        polished = `; then L-BFGS${polish === 'linear' ? ' on the linear part and the variance parameters' : ''}: ${pr.message}`;
      } catch (e) {
        restore(model, before);
        polished = `; the L-BFGS polish failed and was undone (${(e as Error).message})`;
      }
    }
    model.info = {
      converged: false,
      message: (stopped || `ran ${epochs} epochs of full-batch Adam (no convergence test)`) + polished,
      optimizer: polished && !polished.includes('failed') ? `Adam + L-BFGS${polish === 'linear' ? ' (linear part)' : ''}` : 'Adam',
      epochs: Math.min(epoch, epochs),
      logLik: NaN,
    };
  }
  const eta0 = E.tidy(() => model.fixedEta(E.tensor(X, [n, p]), offset).toArray());
  model.info.logLik = te.refresh(eta0, model.sigma, bound);
  model.stored = summaryOf(model, null, model.isLinear ? () => E.neg(te.logLik(model.fixedEta(E.tensor(X, [n, p]), offset), phi(), bound)) : undefined);
  if (o.importanceSamples !== undefined && method === 'laplace') {
    if (!(Number.isInteger(o.importanceSamples) && o.importanceSamples >= 2)) throw new Error(`fit: importanceSamples must be a whole number ≥ 2, got ${o.importanceSamples}`);
    const is = te.importanceSampling(eta0, model.sigma, bound, o.importanceSamples, o.seed ?? 0);
    model.stored.laplaceCheck = { draws: o.importanceSamples, logLik: is.logLik, mcError: is.mcError, difference: is.difference, ess: is.ess };
  }
  return model;
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
  const { mean, sd } = columnScales(data.X, n, p, spec.intercept ?? true);
  const prep0 = prepare(fam, data);
  const model = new Model(spec, data.xNames, mean, sd);
  const Xs = model.standardise(prep0.X);
  let Zg = prep0.Zg;
  if (model.random.kind === 'terms') {
    if (Zg) throw new Error('Z was given but the model has no randomEffect network (spec.randomEffect)');
    return yield* fitTerms(model, { ...prep0, X: Xs, Zg: null }, data.terms, o);
  }
  if (data.terms) throw new Error('fit: the data have random-effect terms (data.terms) but the spec does not (spec.terms)');
  const re = model.random;
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
  const prep: PreparedData = { ...prep0, X: Xs, Zg };
  model.hasOffset = prep.offset !== null;
  setStart(model, prep);
  const G = prep.response.ngroups;
  if (!(o.polish === undefined || o.polish === true || o.polish === false || o.polish === 'linear')) {
    throw new Error(`fit: polish must be true, false or 'linear', got '${String(o.polish)}'`);
  }
  const how: Method = { rtol: o.rtol ?? 1e-8, nodes: o.marginal === 'quadrature' ? (o.nodes ?? 25) : 0 };
  if (o.marginal !== undefined && o.marginal !== 'ode' && o.marginal !== 'quadrature') {
    throw new Error(`fit: marginal must be 'ode' or 'quadrature', got '${String(o.marginal)}'`);
  }
  if (o.nodes !== undefined && o.marginal !== 'quadrature') throw new Error(`fit: nodes applies to marginal: 'quadrature' (the ODE has rtol), got nodes = ${o.nodes}`);
  if (o.marginal === 'quadrature' && !(Number.isInteger(how.nodes) && how.nodes >= 1 && how.nodes <= 100)) throw new Error(`fit: nodes must be an integer from 1 to 100, got ${o.nodes}`);
  const all = Int32Array.from({ length: G }, (_, i) => i);
  const t0 = performance.now();

  // 1. The linear GLMM by L-BFGS (all of a linear model; the start of a neural one).
  const linear = [...model.linearParams(), ...model.scaleParams()];
  const progress = (phase: 'linear' | 'polish', maxIter: number) => (it: number, f: number) =>
    o.onProgress?.({ phase, epoch: it, epochs: maxIter, loss: f, elapsedMs: performance.now() - t0 });
  const exactPath = fam.name === 'gaussian' && fam.link === 'identity' && !re.gNet;
  if (o.reml && !(exactPath && !model.net)) {
    throw new Error('fit: reml applies to linear Gaussian models with the identity link (REML integrates out β, which a network f does not have)');
  }
  let exact: ExactLinearFit | null = null;
  if (exactPath) {
    // Gaussian identity: the exact profiled likelihood (lme4's), ML or REML.
    const iterations = 200;
    exact = fitExactLinear(model, prep, o.reml === true, {
      signal: o.signal,
      onIteration: (it, dev) => o.onProgress?.({ phase: 'linear', epoch: it, epochs: iterations, loss: dev / (2 * Math.max(1, G)), elapsedMs: performance.now() - t0 }),
    });
    model.info = { converged: exact.converged, message: exact.message, optimizer: `profiled ${exact.reml ? 'REML' : 'ML'} deviance (exact)`, epochs: exact.iterations, logLik: exact.logLik };
  } else {
    const run = (m: Method = how) => minimize(linear, () => objective(model, prep, all, m), { gtol: o.gtol ?? 1e-6, maxIter: 500, onIteration: progress('linear', 500), signal: o.signal });
    let r = run();
    if (!r.converged && r.message.startsWith('stopped: the line search') && how.nodes === 0 && how.rtol > 1e-10) {
      // The ODE's error (rtol relative to each L_i) is noise in the objective and its gradient
      // that can stop the line search short of gtol, on non-log-concave integrands above all
      // (Poisson-sqrt: measured stuck at rtol 1e−8, converged at 1e−10). Finish at 1e−10.
      r = run({ rtol: 1e-10, nodes: 0 });
    }
    if (!Number.isFinite(r.f)) throw new Error(`fit: the linear model's objective is not finite (${r.f}); check the data for extreme values`);
    // A random-effect SD near 0 may be a true boundary optimum or a plateau: with σ_b =
    // softplus(θ) the gradient in θ vanishes like σ_b as θ → −∞, so a step that overshoots
    // towards 0 early (while the dispersion is still far off) can strand the search there
    // (measured: Gamma on sleepstudy, logLik −943.9 at σ_b = 2e−5 against −883.6 at 0.125).
    // Restart from σ_b = 0.5 and keep whichever optimum is higher.
    if (!o.signal?.aborted && re.nearBoundary(scaleUnit(model))) {
      const before = snapshot(model);
      re.setScale(0.5 * scaleUnit(model));
      const again = run();
      if (Number.isFinite(again.f) && again.f < r.f - 1e-10 * Math.abs(r.f)) r = again;
      else restore(model, before);
    }
    model.info = { converged: r.converged, message: r.message, optimizer: 'L-BFGS', epochs: r.iterations, logLik: NaN };
  }
  yield;

  if (model.net || re.gNet) {
    const epochs = o.epochs ?? 100;
    const lr = o.lr ?? 1e-3;
    const rng = new E.Rng(o.seed ?? 0);
    const order = Int32Array.from(all);
    rng.shuffle(order);
    const nVal = Math.floor((o.validation ?? 0) * G);
    const val = order.slice(0, nVal);
    const train = order.slice(nVal);
    const net = new E.Adam(model.fixedParams(), { lr, weightDecay: o.weightDecay ?? 0 });
    const scales = new E.Adam(model.scaleParams(), { lr: o.lrScale ?? 10 * lr });
    const batch = Math.max(1, o.batchSize ?? 16);
    const linearFit = snapshot(model);
    let best = Infinity, bestParams = snapshot(model), sinceBest = 0, lastGood = snapshot(model);
    let epoch = 0, stopped = '', diverged = false;
    for (epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(train);
      let total = 0, batches = 0;
      for (let b0 = 0; b0 < train.length; b0 += batch) {
        if (o.signal?.aborted) {
          stopped = 'aborted';
          break;
        }
        const groups = train.slice(b0, b0 + batch);
        if (o.schedule === 'cosine') {
          const frac = (epoch - 1 + b0 / Math.max(1, train.length)) / epochs;
          net.lr = lr * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * frac)));
          scales.lr = (o.lrScale ?? 10 * lr) * (net.lr / lr);
        }
        let loss: number, why = '';
        try {
          loss = E.tidy(() => {
            const L = objective(model, prep, groups, how, o.subsample ? { k: o.subsample, rng } : undefined);
            const gs = E.grad(L, model.parameters());
            const nf = model.fixedParams().length;
            net.step(gs.slice(0, nf));
            scales.step(gs.slice(nf));
            return L.item();
          });
        } catch (e) {
          // The marginal kernel refuses non-finite inputs (a step that blew up the network).
          loss = NaN;
          why = `: ${(e as Error).message}`;
        }
        if (!Number.isFinite(loss) || model.parameters().some((t) => t.data.some((v) => !Number.isFinite(v)))) {
          // Stop, go back to the end of the last complete epoch (or, below, to the best
          // validation epoch when there is one), and say what to change.
          restore(model, lastGood);
          const kept = nVal > 0 && best < Infinity ? 'the best validation epoch' : `epoch ${epoch - 1}`;
          stopped = `diverged at epoch ${epoch} (the objective became ${loss}${why}); the parameters of ${kept} are restored — lower the learning rate (now ${lr}) or standardise the response`;
          diverged = true;
          break;
        }
        total += loss;
        batches++;
      }
      if (stopped) break;
      lastGood = snapshot(model);
      const trainLoss = total / Math.max(1, batches);
      let valLoss: number | undefined;
      if (nVal > 0) {
        valLoss = E.tidy(() => objective(model, prep, val, how).item());
        if (valLoss < best) {
          best = valLoss;
          bestParams = snapshot(model);
          sinceBest = 0;
        } else if (++sinceBest >= (o.patience ?? 20)) {
          stopped = `early stopping after ${o.patience ?? 20} epochs without improvement`;
          epoch++;
          break;
        }
      }
      o.onProgress?.({ phase: 'adam', epoch, epochs, loss: trainLoss, validation: valLoss, elapsedMs: performance.now() - t0 });
      yield;
    }
    if (nVal > 0 && best < Infinity) restore(model, bestParams);
    if (diverged && !finiteObjective(model, prep, all, how)) {
      // The epoch restored was already on its way out (finite batches, parameters that no
      // longer give a finite likelihood on every group): go back to the linear fit, which did.
      restore(model, linearFit);
      stopped += '; those parameters no longer give a finite likelihood on every group, so the network is reset to the linear fit';
    }
    net.dispose();
    scales.dispose();
    const polish = o.polish ?? 'linear';
    let polished = '';
    let didPolish = false;
    if (polish !== false && stopped !== 'aborted' && !diverged) {
      if (o.signal?.aborted) polished = '; aborted before the L-BFGS polish';
      else {
        const params = polish === 'linear' ? [...model.linearParams(), ...model.varianceParams()] : model.parameters();
        const before = snapshot(model);
        try {
          const pr = minimize(params, () => objective(model, prep, all, how), { gtol: o.gtol ?? 1e-6, maxIter: 200, onIteration: progress('polish', 200), signal: o.signal });
          polished = `; then L-BFGS${polish === 'linear' ? ' on the linear part and the variance parameters' : ''}: ${pr.message}`;
          didPolish = true;
        } catch (e) {
          restore(model, before);
          polished = `; the L-BFGS polish failed and was undone (${(e as Error).message})`;
          o.onWarning?.(`fit: the L-BFGS polish after Adam failed and was undone: ${(e as Error).message}`);
        }
      }
    }
    model.info = {
      converged: false,
      message: stopped === 'aborted'
        ? `aborted at epoch ${epoch}; ${nVal > 0 ? 'the best validation parameters are kept' : 'the last parameters are kept'}`
        : (stopped || `ran ${epochs} epochs of Adam (stochastic: no convergence test)`) + polished,
      optimizer: !didPolish ? 'Adam' : polish === 'linear' ? 'Adam + L-BFGS (linear part)' : 'Adam + L-BFGS',
      epochs: epoch - 1,
      logLik: NaN,
    };
    if (diverged) o.onWarning?.(`fit ${model.info.message}`);
  }
  if (fam.link === 'sqrt') canonicalSign(model, prep);
  model.refreshPosterior(prep.X, prep.response, [...prep.levels], prep.Zg, prep.offset);
  if (exact && !model.net) {
    // The exact criterion, not its ODE recomputation (equal under ML to ~1e−10; under REML the
    // reported logLik is lme4's −½·REML criterion, which no marginal over b alone gives).
    model.info.logLik = exact.logLik;
    model.exact = { reml: exact.reml, names: exact.names, se: Array.from(exact.se), singular: exact.singular };
  }
  model.stored = summaryOf(model, prep);
  return model;
}
