// A fitted (or fitting) neural generalized mixed model with a random intercept per group:
//   η_ij = f(x_ij) + σ_b·b_i,  b_i ~ N(0, 1),  f(x) = β₀ + xᵀβ + MLP(x)
// The linear part is always there (it is the GLMM, and it is what the MLP's fit starts from);
// `hidden: []` gives the linear GLMM alone. Inputs are standardised with the training means and
// SDs, which the model keeps. Positive scales are softplus of free parameters.
//
// After fitting, each training group keeps its posterior for b as a 25-node adaptive
// Gauss–Hermite rule (nodes and normalised weights), from which predictions for observed
// groups (MATH.md §7) and `ranef` are exact to the rule's accuracy, and which saves with the model.
import { MLP, mlp, type MLPJSON } from '../engine/nn';
import { activations, type ActivationName } from '../engine/ops/activations';
import * as E from '../engine/index';
import { family as familyOf, type Family, type FamilyName, type LinkName } from './families/index';
import { adaptiveNodes, productRule } from './marginal/gaussHermite';
import { DEFAULT_NODES, logMarginalQuadrature, quadratureRule } from './marginal/quadrature';
import { logMarginal } from './marginal/ode';
import { releaseResponse, type GroupedResponse } from './marginal/groups';
import { logNdtr } from '../kernels/reference/special';
import type { Design } from './frame';
import { asMatrix, type MatrixInput } from './input';
import { summary as summarize, type Summary } from './summary';
import { loadModel } from './modelFile';
import { softplus, softplusInv } from './positive';

export interface ModelSpec {
  family: FamilyName;
  link?: LinkName;
  /** Hidden layer sizes of the fixed-effect network; [] (default) is the linear GLMM. */
  hidden?: number[];
  activation?: ActivationName;
  /** Seed for the network's initialisation. */
  seed?: number;
  /**
   * A random-effect network instead of one σ_b: s_i = ‖g(z_i)‖ from group-level covariates
   * (MATH.md §3, the main NGMM case). Absent: a single random-intercept SD.
   */
  randomEffect?: RandomEffectSpec;
  /**
   * Columns of X with random slopes, correlated with the random intercept: `(1 + x1 | g)`.
   * The random effects γ_i ~ N(0, ΛΛᵀ) act on z_ij = (1, x_ij[slopes]) (standardised x).
   */
  randomSlopes?: string[];
  /**
   * Whether f has an intercept β₀ (default true). False for `0 + …` / `- 1` formulas: β₀ is
   * then fixed at 0 and X is scaled but not centred (centring would hide an intercept in the
   * standardisation).
   */
  intercept?: boolean;
}

export interface RandomEffectSpec {
  /** Names of the group-level covariates (the columns of ModelData.Z). */
  covariates: string[];
  hidden?: number[];
  activation?: ActivationName;
  /** Output dimension q of g (s_i is its Euclidean norm); default 2. */
  outDim?: number;
}

export interface GroupPosterior {
  /** Posterior mean and SD of b_i (standard scale; the effect on η is σ_b·b_i). */
  mean: number;
  sd: number;
  /** Adaptive GH nodes t_k and normalised log-weights of p(b | y_i). */
  nodes: Float64Array;
  logw: Float64Array;
  /** The group's random-effect scale s_i (σ_b, or ‖g(z_i)‖). */
  scale: number;
}

// Normalises a posterior's log-weights in place; returns the log of their sum before.
function normalise(logw: Float64Array): number {
  let m = -Infinity;
  for (const v of logw) m = Math.max(m, v);
  let z = 0;
  for (const v of logw) z += Math.exp(v - m);
  const lz = m + Math.log(z);
  for (let k = 0; k < logw.length; k++) logw[k] -= lz;
  return lz;
}

// A group's stored posterior: its rule (nodes of dimension q, normalised log-weights) and the
// mean and SD of the first coordinate.
function summarise(nodes: Float64Array, logw: Float64Array, q: number, scale: number): GroupPosterior {
  let e1 = 0, e2 = 0;
  for (let k = 0; k < logw.length; k++) {
    const w = Math.exp(logw[k]), b = nodes[k * q];
    e1 += w * b;
    e2 += w * b * b;
  }
  return { mean: e1, sd: Math.sqrt(Math.max(0, e2 - e1 * e1)), nodes, logw, scale };
}

export interface FitInfo {
  converged: boolean;
  message: string;
  optimizer: string;
  epochs: number;
  logLik: number;
}

/** Nodes of the stored posterior rules: per dimension by q (q = 1: 25, q = 2: 81, q = 3: 125 nodes). */
const SLOPE_NODES = DEFAULT_NODES;
const POSTERIOR_NODES = SLOPE_NODES[1];
const triangle = (q: number): [number, number][] => {
  const out: [number, number][] = [];
  for (let r = 0; r < q; r++) for (let c = 0; c <= r; c++) out.push([r, c]);
  return out;
};

export class Model {
  readonly spec: Required<Omit<ModelSpec, 'link' | 'randomEffect'>> & { link: LinkName; randomEffect: RandomEffectSpec | null };
  /** Random-effect dimension: 1 + the number of random slopes. */
  readonly q: number;
  /** Indices of the random-slope columns in X. */
  readonly slopeIdx: number[];
  /** Free parameters of the lower-triangular Λ (diagonal through softplus), row by row. */
  readonly thetaL: E.Tensor | null;
  readonly family: Family;
  readonly xNames: readonly string[];
  readonly mean: Float64Array;
  readonly sd: Float64Array;
  levels: string[] = [];
  readonly W: E.Tensor;
  readonly b0: E.Tensor;
  readonly net: MLP | null;
  /** softplus⁻¹(σ_b), for the plain random intercept only (null with Λ or a network g). */
  readonly thetaB: E.Tensor | null;
  readonly thetaSigma: E.Tensor | null;
  /** The random-effect network g (when spec.randomEffect), and its input standardisation. */
  readonly gNet: MLP | null;
  zMean: Float64Array = new Float64Array(0);
  zSd: Float64Array = new Float64Array(0);
  posterior: GroupPosterior[] = [];
  info: FitInfo = { converged: false, message: 'not fitted', optimizer: '', epochs: 0, logLik: NaN };
  nobs = 0;
  /** How a formula maps a table to X (set when fitted from a formula; travels with the model). */
  design: Design | null = null;
  /**
   * Set when the model is the linear Gaussian fitted by the exact profiled likelihood: ML or
   * REML, and lme4's standard errors (conditional on θ̂) by coefficient name.
   */
  exact: { reml: boolean; names: string[]; se: number[]; singular: boolean } | null = null;
  /** Whether the model was fitted with an offset: predict() then needs one for every row. */
  hasOffset = false;
  /** The summary computed at fit time with the training data (SEs need it); JSON-safe. */
  stored: Summary | null = null;

  constructor(spec: ModelSpec, xNames: readonly string[], mean: Float64Array, sd: Float64Array) {
    this.family = familyOf(spec.family, spec.link);
    this.spec = {
      family: spec.family,
      link: this.family.link,
      hidden: spec.hidden ?? [],
      activation: spec.activation ?? 'relu',
      seed: spec.seed ?? 0,
      randomSlopes: [...(spec.randomSlopes ?? [])],
      intercept: spec.intercept ?? true,
      randomEffect: spec.randomEffect ? { ...spec.randomEffect, hidden: [...(spec.randomEffect.hidden ?? [])], activation: spec.randomEffect.activation ?? 'tanh', outDim: spec.randomEffect.outDim ?? 2 } : null,
    };
    if (!(this.spec.activation in activations)) throw new Error(`unknown activation '${this.spec.activation}'`);
    this.xNames = [...xNames];
    this.mean = mean;
    this.sd = sd;
    const p = xNames.length;
    this.W = E.param(new Float64Array(p), [p, 1]);
    this.b0 = E.param([0], [1]);
    this.net = this.spec.hidden.length > 0 ? E.untracked(() => mlp([p, ...this.spec.hidden, 1], this.spec.activation, this.spec.seed)) : null;
    if (this.net) {
      // The network starts as a small correction to the linear fit it is initialised from.
      const last = this.net.weights[this.net.weights.length - 1].data;
      for (let i = 0; i < last.length; i++) last[i] *= 0.1;
    }
    this.thetaSigma = this.family.hasDispersion ? E.param([softplusInv(1)], []) : null;
    this.slopeIdx = this.spec.randomSlopes.map((name) => {
      const j = this.xNames.indexOf(name);
      if (j < 0) throw new Error(`random slope '${name}' is not a fixed-effect column (have: ${this.xNames.join(', ')})`);
      return j;
    });
    this.q = 1 + this.slopeIdx.length;
    if (this.q > 3) throw new Error(`${this.q - 1} random slopes: at most two are supported`);
    if (this.q > 1 && spec.randomEffect) throw new Error('random slopes and a random-effect network cannot be combined yet');
    const nl = (this.q * (this.q + 1)) / 2;
    this.thetaL = this.q > 1 ? E.param(Float64Array.from(triangle(this.q), ([r, c]) => (r === c ? softplusInv(0.5) : 0)), [nl]) : null;
    const re = this.spec.randomEffect;
    if (re) {
      if (re.covariates.length === 0) throw new Error('randomEffect needs at least one covariate');
      this.gNet = E.untracked(() => mlp([re.covariates.length, ...re.hidden!, re.outDim!], re.activation!, this.spec.seed + 1));
      this.zMean = new Float64Array(re.covariates.length);
      this.zSd = new Float64Array(re.covariates.length).fill(1);
    } else this.gNet = null;
    this.thetaB = this.gNet || this.thetaL ? null : E.param([softplusInv(1)], []);
  }

  /** Standardises group-level covariates (rows × d) with the training means and SDs. */
  standardiseZ(Z: ArrayLike<number>): Float64Array {
    const d = this.zMean.length;
    return Float64Array.from(Z, (v, i) => (v - this.zMean[i % d]) / this.zSd[i % d]);
  }

  /** s [G]: σ_b for every group, or ‖g(z_i)‖ from standardised Zg [G × d] (tape expressions). */
  scales(G: number, Zg: E.Tensor | null): E.Tensor {
    if (this.thetaB) return E.mul(E.ones([G]), E.softplus(this.thetaB));
    if (!this.gNet) throw new Error('scales: a random-slope model has no per-group scale (its design is Λᵀz)');
    if (!Zg) throw new Error('this model needs the group-level covariates Z');
    // ‖g‖ = exp(½·log(Σg² + 10⁻¹²)): the tiny floor keeps the gradient finite at g = 0.
    return E.exp(E.mul(E.log(E.add(E.sum(E.square(this.gNet.forward(Zg)), 1), 1e-12)), 0.5));
  }

  get isLinear(): boolean {
    return this.net === null;
  }

  /** The linear part of f: the intercept (when the model has one) and the coefficients W. */
  linearParams(): E.Tensor[] {
    return this.spec.intercept ? [this.b0, this.W] : [this.W];
  }

  /** The parameters of f (linear part and network). */
  fixedParams(): E.Tensor[] {
    return [...this.linearParams(), ...(this.net ? this.net.parameters() : [])];
  }

  /** The scale parameters (σ_b, Λ or the network g, and σ for the Gaussian). */
  scaleParams(): E.Tensor[] {
    return [...(this.gNet?.parameters() ?? []), ...this.varianceParams()];
  }

  /** The scalar variance parameters: σ_b or Λ, and σ for the Gaussian (not a network g). */
  varianceParams(): E.Tensor[] {
    const re = this.gNet ? [] : this.thetaL ? [this.thetaL] : [this.thetaB!];
    return this.thetaSigma ? [...re, this.thetaSigma] : re;
  }

  parameters(): E.Tensor[] {
    return [...this.fixedParams(), ...this.scaleParams()];
  }

  /** Random-intercept SD σ_b (with a network g: the median of the groups' scales). */
  get ranefSD(): number {
    if (this.thetaL) return this.lambda()[0];
    if (this.thetaB) return softplus(this.thetaB.item());
    const s = this.posterior.map((p) => p.scale).sort((a, b) => a - b);
    return s.length ? s[s.length >> 1] : NaN;
  }

  /** Residual SD σ (Gaussian), else NaN. */
  get sigma(): number {
    return this.thetaSigma ? softplus(this.thetaSigma.item()) : NaN;
  }

  /** Standardises raw X (n × p) with the training means and SDs. */
  standardise(X: ArrayLike<number>): Float64Array {
    const p = this.xNames.length;
    const out = new Float64Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = (X[i] - this.mean[i % p]) / this.sd[i % p];
    return out;
  }

  /** f(x) [n] for standardised rows (a tape expression). */
  f(Xs: E.Tensor): E.Tensor {
    const n = Xs.shape[0];
    let out = E.bias(E.matmul(Xs, this.W), this.b0);
    if (this.net) out = E.add(out, this.net.forward(Xs));
    return E.reshape(out, [n]);
  }

  /** The fixed part of η [n]: f(x) plus the offset (a known term, lme4's offset()), on the tape. */
  fixedEta(Xs: E.Tensor, offset: Float64Array | null): E.Tensor {
    const f = this.f(Xs);
    return offset ? E.add(f, E.tensor(offset, [Xs.shape[0]])) : f;
  }

  /** Λ (q × q, lower triangular) as numbers. */
  lambda(): Float64Array {
    const q = this.q, L = new Float64Array(q * q), th = this.thetaL!.data;
    triangle(q).forEach(([r, c], e) => (L[r * q + c] = r === c ? softplus(th[e]) : th[e]));
    return L;
  }

  /** Λ on the tape: Σ_e c_e·E_e over constant basis matrices E_e. */
  private lambdaTensor(): E.Tensor {
    // v = θ with softplus on the diagonal entries (θ + mask·(softplus θ − θ)), placed into the
    // q × q lower triangle by a constant 0/1 matrix: six tape ops whatever q.
    const q = this.q, tri = triangle(q), nl = tri.length;
    const mask = Float64Array.from(tri, ([r, c]) => (r === c ? 1 : 0));
    const place = new Float64Array(nl * q * q);
    tri.forEach(([r, c], e) => (place[e * q * q + r * q + c] = 1));
    const th = this.thetaL!;
    const v = E.add(th, E.mul(E.tensor(mask, [nl]), E.sub(E.softplus(th), th)));
    return E.reshape(E.matmul(E.reshape(v, [1, nl]), E.tensor(place, [nl, q * q])), [q, q]);
  }

  /** The random-effect design g_ij = Λᵀz_ij, [n × q], z_ij = (1, x_ij[slopes]) (tape). */
  slopeDesign(Xs: E.Tensor): E.Tensor {
    const n = Xs.shape[0], p = this.xNames.length, k = this.slopeIdx.length;
    const sel = new Float64Array(p * k);
    this.slopeIdx.forEach((j, c) => (sel[j * k + c] = 1));
    const Z = E.concat([E.ones([n, 1]), E.matmul(Xs, E.tensor(sel, [p, k]))], 1);
    return E.matmul(Z, this.lambdaTensor());
  }

  /**
   * The per-group log marginal likelihoods L_i (a tape expression) and the ODE's solver
   * statistics. A scalar random effect goes by the ODE at `rtol`, or, with `nodes` > 0, by
   * adaptive Gauss–Hermite with that many nodes (no statistics); random slopes always by the
   * quadrature rule.
   */
  logMarginal(Xs: E.Tensor, r: GroupedResponse, rtol: number, Zg: E.Tensor | null = null, nodes = 0, offset: Float64Array | null = null) {
    const f = this.fixedEta(Xs, offset);
    const sigma = this.thetaSigma ? E.softplus(this.thetaSigma) : null;
    if (this.thetaL) return { L: logMarginalQuadrature(f, this.slopeDesign(Xs), sigma, r, { K: SLOPE_NODES[this.q] }), stats: null };
    const s = this.scales(r.ngroups, Zg);
    if (nodes > 0) {
      // η_ij = f_ij + s_i·b_i: the design column is each row's group scale.
      const g = E.gatherRows(E.reshape(s, [r.ngroups, 1]), r.groupOf);
      return { L: logMarginalQuadrature(f, g, sigma, r, { K: nodes }), stats: null };
    }
    return logMarginal(f, s, sigma, r, { rtol });
  }

  /**
   * Stores each group's posterior rule from the fitted parameters (training data, sorted),
   * and the total log-likelihood.
   */
  refreshPosterior(Xs: Float64Array, r: GroupedResponse, levels: string[], Zg: Float64Array | null = null, offset: Float64Array | null = null): void {
    this.levels = levels;
    this.nobs = r.nobs;
    const fam = this.family;
    const sigma = this.sigma;
    if (this.thetaL) {
      this.refreshSlopes(Xs, r, offset);
      return;
    }
    const { L, f, stats, s } = E.tidy(() => {
      const x = E.tensor(Xs, [r.nobs, this.xNames.length]);
      const z = Zg ? E.tensor(Zg, [r.ngroups, this.zMean.length]) : null;
      const res = this.logMarginal(x, r, 1e-10, z, 0, offset);
      return { L: res.L.toArray(), f: this.fixedEta(x, offset).toArray(), stats: res.stats!, s: this.scales(r.ngroups, z).toArray() };
    });
    releaseResponse(r);
    this.info.logLik = L.reduce((a, b) => a + b, 0);
    this.posterior = [];
    for (let i = 0; i < r.ngroups; i++) {
      const sb = s[i];
      const { nodes, logWeights } = adaptiveNodes(POSTERIOR_NODES, stats.mode[i], stats.sd[i]);
      const logw = new Float64Array(POSTERIOR_NODES);
      for (let k = 0; k < POSTERIOR_NODES; k++) {
        const t = nodes[k];
        let ell = -0.5 * t * t - 0.9189385332046728;
        for (let j = r.offsets[i]; j < r.offsets[i + 1]; j++) {
          ell += fam.logLik(r.y[j], f[j] + sb * t, sigma, r.trials ? r.trials[j] : 1);
        }
        logw[k] = logWeights[k] + ell - L[i];
      }
      normalise(logw);
      this.posterior.push(summarise(nodes, logw, 1, sb));
    }
  }

  // The q-dimensional posterior rule per group: the adaptive product rule's nodes b_k and
  // normalised log-weights of p(b | y_i).
  private refreshSlopes(Xs: Float64Array, r: GroupedResponse, offset: Float64Array | null): void {
    const q = this.q, fam = this.family, sigma = this.sigma;
    const { f, g, rule } = E.tidy(() => {
      const x = E.tensor(Xs, [r.nobs, this.xNames.length]);
      const fT = this.fixedEta(x, offset), gT = this.slopeDesign(x);
      const phi = this.thetaSigma ? E.softplus(this.thetaSigma) : null;
      return { f: fT.toArray(), g: gT.toArray(), rule: quadratureRule(fT, gT, phi, r, { K: SLOPE_NODES[q] }) };
    });
    releaseResponse(r);
    const K = rule.K;
    this.posterior = [];
    // The rule's log-weights include the prior and the node weights, and fam.logLik the
    // constants c(y): the log of the unnormalised sum is the group's L_i by this rule.
    let logLik = 0;
    for (let i = 0; i < r.ngroups; i++) {
      const nodes = rule.nodes.slice(i * K * q, (i + 1) * K * q);
      const logw = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        let ell = rule.logW[i * K + k];
        for (let j = r.offsets[i]; j < r.offsets[i + 1]; j++) {
          let eta = f[j];
          for (let d = 0; d < q; d++) eta += g[j * q + d] * nodes[k * q + d];
          ell += fam.logLik(r.y[j], eta, sigma, r.trials ? r.trials[j] : 1);
        }
        logw[k] = ell;
      }
      logLik += normalise(logw);
      this.posterior.push(summarise(nodes, logw, q, NaN));
    }
    this.info.logLik = logLik;
  }

  logLik(): number {
    return this.info.logLik;
  }

  /**
   * The lme4-style summary. `fit` computes it with the training data (standard errors need
   * the observed information) and it travels with the saved model.
   */
  summary(): Summary {
    return this.stored ?? summarize(this);
  }

  /**
   * Predictions for new rows of X (raw scale, columns as in training). `groups: 'observed'`
   * uses each row's group posterior (its label must be a training group); 'new' the prior.
   * `type: 'link'` gives E[η], 'response' E[y] (binomial: the success probability).
   */
  predict(X0: MatrixInput, opts: {
    group?: ArrayLike<string | number>; type?: 'response' | 'link'; groups?: 'observed' | 'new';
    /** Group-level covariates per row (rows × d), needed for new groups when the model has g(z). */
    Z?: ArrayLike<number>;
    /** The offset per row (lme4's offset(), link scale), when the model was fitted with one. */
    offset?: ArrayLike<number>;
  } = {}): Float64Array {
    const p = this.xNames.length;
    const X = asMatrix(X0, p, 'predict: X', this.xNames);
    if (X.length % Math.max(1, p) !== 0) throw new Error(`predict: X has ${X.length} values, not a multiple of ${p} columns`);
    const n = p > 0 ? X.length / p : (opts.group?.length ?? 0);
    const type = opts.type ?? 'response';
    const mode = opts.groups ?? 'observed';
    for (let i = 0; i < X.length; i++) {
      if (!Number.isFinite(X[i])) throw new Error(`predict: row ${Math.floor(i / p) + 1}, column '${this.xNames[i % p]}': ${X[i]} is not a finite number`);
    }
    const Xs = this.standardise(X);
    const f = E.tidy(() => this.f(E.tensor(Xs, [n, p])).toArray());
    if (this.hasOffset && !opts.offset) throw new Error('predict: the model was fitted with an offset, so predict needs `offset` for every row (0 where there is none)');
    if (opts.offset) {
      if (opts.offset.length !== n) throw new Error(`predict: offset has ${opts.offset.length} values for ${n} rows`);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(opts.offset[i])) throw new Error(`predict: row ${i + 1}: the offset ${opts.offset[i]} is not a finite number`);
        f[i] += opts.offset[i];
      }
    }
    let newScale: Float64Array | null = null;
    if (mode === 'new') {
      if (this.gNet) {
        const dz = this.zMean.length;
        if (!opts.Z || opts.Z.length !== n * dz) throw new Error(`predict: new groups need the ${dz} group-level covariates (${this.spec.randomEffect!.covariates.join(', ')}) for each of the ${n} rows`);
        newScale = E.tidy(() => this.scales(n, E.tensor(this.standardiseZ(opts.Z!), [n, dz])).toArray());
      } else newScale = new Float64Array(n).fill(this.ranefSD);
    }
    const out = new Float64Array(n);
    const fam = this.family;
    let index: Map<string, number> | null = null;
    if (mode === 'observed') {
      if (!opts.group || opts.group.length !== n) throw new Error(`predict: groups 'observed' needs a group label for each of the ${n} rows`);
      index = new Map(this.levels.map((l, i) => [l, i]));
    }
    const q = this.q;
    const prior = productRule(SLOPE_NODES[q], q);
    const Lam = this.thetaL ? this.lambda() : null;
    const gstar = new Float64Array(q);
    for (let r = 0; r < n; r++) {
      let nodes: ArrayLike<number>, logw: ArrayLike<number>;
      if (index) {
        const g = index.get(String(opts.group![r]));
        if (g === undefined) throw new Error(`predict: row ${r + 1}: group '${opts.group![r]}' was not in the training data (use groups: 'new')`);
        ({ nodes, logw } = this.posterior[g]);
        if (!Lam) gstar[0] = this.posterior[g].scale;
      } else {
        nodes = prior.nodes;
        logw = prior.logWeights;
        if (!Lam) gstar[0] = newScale![r];
      }
      if (Lam) {
        // g* = Λᵀz*, z* = (1, x*[slopes]) on the standardised scale.
        for (let d = 0; d < q; d++) {
          let acc = Lam[0 * q + d];
          this.slopeIdx.forEach((j, c) => (acc += Xs[r * p + j] * Lam[(c + 1) * q + d]));
          gstar[d] = acc;
        }
      }
      let g2 = 0;
      for (let d = 0; d < q; d++) g2 += gstar[d] * gstar[d];
      const K = logw.length;
      const etaAt = (k: number) => {
        let e = f[r];
        for (let d = 0; d < q; d++) e += gstar[d] * nodes[k * q + d];
        return e;
      };
      // New groups in closed form where one exists (the prior mean of b is 0).
      if (!index && (type === 'link' || (fam.name === 'gaussian' && fam.link === 'identity'))) {
        out[r] = f[r];
      } else if (!index && fam.name === 'poisson' && fam.link === 'log' && type === 'response') {
        out[r] = Math.exp(f[r] + 0.5 * g2); // E[e^{f + ⟨g*, b⟩}], b ~ N(0, I)
      } else if (!index && (fam.name === 'bernoulli' || fam.name === 'binomial') && fam.link === 'probit' && type === 'response') {
        out[r] = Math.exp(logNdtr(f[r] / Math.sqrt(1 + g2)));
      } else if (type === 'link' || (fam.name === 'gaussian' && fam.link === 'identity')) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += Math.exp(logw[k]) * etaAt(k);
        out[r] = acc;
      } else {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += Math.exp(logw[k]) * fam.mean(etaAt(k), 1);
        out[r] = acc;
      }
    }
    return out;
  }

  /**
   * Each training group's random effect, posterior mean and SD, on the user's scale. A random
   * intercept: u_i = s_i·b_i. Random slopes: the effects on (1, x_slopes) in the units of x, as
   * lme4's ranef(): the model works with standardised z = (1, (x − μ)/s), so γ_i = Λ·b_i maps
   * to intercept γ₀ − Σ_c γ_c·μ_c/s_c and slopes γ_c/s_c; each node of the posterior rule is
   * mapped, so the SDs are of the mapped effects.
   */
  ranef(): { group: string; mean: number; sd: number; scale: number; effects?: number[]; sds?: number[] }[] {
    if (this.thetaL) {
      const q = this.q, Lam = this.lambda();
      const A = this.slopeMap();
      return this.posterior.map((p, i) => {
        const e1 = new Array(q).fill(0), e2 = new Array(q).fill(0);
        const gamma = new Array(q).fill(0);
        for (let k = 0; k < p.logw.length; k++) {
          const w = Math.exp(p.logw[k]);
          for (let r = 0; r < q; r++) {
            let v = 0;
            for (let c = 0; c <= r; c++) v += Lam[r * q + c] * p.nodes[k * q + c];
            gamma[r] = v;
          }
          for (let r = 0; r < q; r++) {
            let u = 0;
            for (let c = 0; c < q; c++) u += A[r][c] * gamma[c];
            e1[r] += w * u;
            e2[r] += w * u * u;
          }
        }
        const sds = e1.map((m, r) => Math.sqrt(Math.max(0, e2[r] - m * m)));
        return { group: this.levels[i], mean: e1[0], sd: sds[0], scale: NaN, effects: e1, sds };
      });
    }
    return this.posterior.map((p, i) => ({ group: this.levels[i], mean: p.scale * p.mean, sd: p.scale * p.sd, scale: p.scale }));
  }

  /**
   * The linear map from effects on standardised z = (1, (x − μ)/s) to effects on (1, x):
   * row 0 the intercept γ₀ − Σ_c γ_c·μ_c/s_c, row c the slope γ_c/s_c.
   */
  slopeMap(): number[][] {
    const q = this.q;
    const A = Array.from({ length: q }, () => new Array<number>(q).fill(0));
    A[0][0] = 1;
    this.slopeIdx.forEach((j, c) => {
      A[0][c + 1] = -this.mean[j] / this.sd[j];
      A[c + 1][c + 1] = 1 / this.sd[j];
    });
    return A;
  }

  /** Coefficients of the linear part on the original scale of X: intercept first. */
  coefficients(): { name: string; value: number }[] {
    const b = this.W.data, p = this.xNames.length;
    let icpt = this.b0.item();
    const out: { name: string; value: number }[] = [];
    for (let j = 0; j < p; j++) {
      icpt -= (b[j] * this.mean[j]) / this.sd[j];
      out.push({ name: this.xNames[j], value: b[j] / this.sd[j] });
    }
    return this.spec.intercept ? [{ name: '(Intercept)', value: icpt }, ...out] : out;
  }

  toJSON(): ModelJSON {
    return {
      format: 'ngmm-model',
      version: 1,
      spec: { ...this.spec, hidden: [...this.spec.hidden], randomEffect: this.spec.randomEffect ?? undefined },
      xNames: [...this.xNames],
      standardise: { mean: Array.from(this.mean), sd: Array.from(this.sd) },
      params: {
        b0: this.b0.item(),
        W: Array.from(this.W.data),
        net: this.net ? this.net.toJSON() : null,
        thetaB: this.thetaB ? this.thetaB.item() : null,
        thetaSigma: this.thetaSigma ? this.thetaSigma.item() : null,
        thetaL: this.thetaL ? Array.from(this.thetaL.data) : null,
        gNet: this.gNet ? this.gNet.toJSON() : null,
        zStandardise: this.gNet ? { mean: Array.from(this.zMean), sd: Array.from(this.zSd) } : null,
      },
      levels: [...this.levels],
      posterior: this.posterior.map((p) => ({ mean: p.mean, sd: p.sd, nodes: Array.from(p.nodes), logw: Array.from(p.logw), scale: p.scale })),
      fit: { ...this.info, nobs: this.nobs },
      design: this.design,
      summary: this.stored,
      exact: this.exact,
      hasOffset: this.hasOffset,
    };
  }

  /**
   * Rebuilds a model from `toJSON()` output, rejecting anything malformed or inconsistent with
   * a clear message (docs/model-files.md says what is checked).
   */
  static load(j: unknown): Model {
    return loadModel(j);
  }

  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }
}

export interface ModelJSON {
  format: 'ngmm-model';
  version: 1;
  spec: ModelSpec & { link: LinkName; hidden: number[] };
  xNames: string[];
  standardise: { mean: number[]; sd: number[] };
  params: {
    b0: number; W: number[]; net: MLPJSON | null; thetaB: number | null; thetaSigma: number | null;
    gNet?: MLPJSON | null; zStandardise?: { mean: number[]; sd: number[] } | null; thetaL?: number[] | null;
  };
  levels: string[];
  posterior: { mean: number; sd: number; nodes: number[]; logw: number[]; scale: number }[];
  fit: FitInfo & { nobs: number };
  design?: Design | null;
  summary?: Summary | null;
  exact?: { reml: boolean; names: string[]; se: number[]; singular: boolean } | null;
  hasOffset?: boolean;
}
