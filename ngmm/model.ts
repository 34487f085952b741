// A fitted (or fitting) neural generalized mixed model:
//   η = f(x) + offset + (random part),  f(x) = β₀ + xᵀβ + MLP(x)
// The model owns the fixed part f (the linear part is always there: it is the GLMM, and it is
// what the MLP's fit starts from; `hidden: []` gives the linear GLMM alone), the dispersion, and
// composes a random-effect structure (ngmm/terms/) that owns its parameters, its marginal
// likelihood, its posterior, its predictions and its ranef(). Inputs are standardised with the
// training means and SDs, which the model keeps. Positive scales are softplus of free parameters.
import { PASS_ROWS } from './fitting/objective';
import { MLP, mlp, type MLPJSON } from '../engine/nn';
import { activations, type ActivationName } from '../engine/ops/activations';
import * as E from '../engine/index';
import { family as familyOf, type Family, type FamilyName, type LinkName } from './families/index';
import type { GroupedResponse } from './marginal/groups';
import type { Design } from './frame';
import { asMatrix, type MatrixInput } from './input';
import { summary as summarize, type Summary } from './summary';
import { loadModel } from './modelFile';
import { softplus, softplusInv } from './positive';
import { GroupedEffect, type GroupRanef, type RandomEffectSpec } from './terms/grouped';
import { TermsEffect, type LevelRanef, type TermRows, type TermSpec } from './terms/multi';

export type { GroupPosterior, RandomEffectSpec } from './terms/grouped';
export type { LevelRanef, TermRows, TermSpec } from './terms/multi';

export interface ModelSpec {
  family: FamilyName;
  link?: LinkName;
  /** Hidden layer sizes of the fixed-effect network; [] (default) is the linear GLMM. */
  hidden?: number[];
  activation?: ActivationName;
  /**
   * How the fixed-effect network f computes: 'f64' (default) or 'mixed' — its layers in float32
   * (f32x4 kernels) while its parameters, the objective, the marginal likelihood, the scales and
   * the optimiser stay float64 (docs/mixed-precision.md). The random-effect network g, which
   * sets the groups' scales, stays float64.
   */
  precision?: 'f64' | 'mixed';
  /** Seed for the network's initialisation. */
  seed?: number;
  /**
   * A random-effect network instead of one σ_b: s_i = ‖g(z_i)‖ from group-level covariates
   * (docs/marginal.md §3, the paper's main case). Absent: a single random-intercept SD.
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
  /**
   * Several random-effect terms (crossed, nested, `||`), in lme4's order, instead of the one
   * grouping factor: each term's name and design columns (ngmm/terms/multi.ts). Not combined
   * with randomSlopes or randomEffect, which describe the one-factor structure.
   */
  terms?: TermSpec[];
}

export interface FitInfo {
  converged: boolean;
  message: string;
  optimizer: string;
  epochs: number;
  logLik: number;
  /** Threads the network's training ran on (FitOptions.threads); absent for a linear fit. */
  threads?: number;
}

/** What `predict` needs besides X: the groups (or terms), the scale, Z, the offset. */
export interface PredictOptions {
  group?: ArrayLike<string | number>; type?: 'response' | 'link'; groups?: 'observed' | 'new';
  /** Group-level covariates per row (rows × d), needed for new groups when the model has g(z). */
  Z?: ArrayLike<number>;
  /** The offset per row (lme4's offset(), link scale), when the model was fitted with one. */
  offset?: ArrayLike<number>;
  /**
   * With several random-effect terms: each term's level and design values per row, in the
   * model's term order (a level not seen in training contributes its prior mean, 0).
   */
  terms?: readonly TermRows[];
}

export class Model {
  readonly spec: Required<Omit<ModelSpec, 'link' | 'randomEffect' | 'terms'>> & { link: LinkName; randomEffect: RandomEffectSpec | null; terms: TermSpec[] | null };
  readonly family: Family;
  readonly xNames: readonly string[];
  readonly mean: Float64Array;
  readonly sd: Float64Array;
  readonly W: E.Tensor;
  readonly b0: E.Tensor;
  readonly net: MLP | null;
  /** softplus⁻¹ of the dispersion ϕ (σ, θ or α), for families that have one. */
  readonly thetaSigma: E.Tensor | null;
  /** The random-effect structure: its parameters, marginal, posterior and predictions. */
  readonly random: GroupedEffect | TermsEffect;
  info: FitInfo = { converged: false, message: 'not fitted', optimizer: '', epochs: 0, logLik: NaN };
  nobs = 0;
  /** How a formula maps a table to X (set when fitted from a formula; travels with the model). */
  design: Design | null = null;
  /**
   * Set when the model is the linear Gaussian fitted by the exact profiled likelihood: ML or
   * REML, and lme4's standard errors (conditional on θ) by coefficient name.
   */
  exact: { reml: boolean; names: string[]; se: number[]; singular: boolean } | null = null;
  /** Whether the model was fitted with an offset: predict() then needs one for every row. */
  hasOffset = false;
  /** The summary computed at fit time with the training data (SEs need it); JSON-safe. */
  stored: Summary | null = null;

  /**
   * The other members of a deep ensemble (Lakshminarayanan et al. 2017): models of the same
   * spec, data and linear start whose networks were initialised and trained with other seeds.
   * This model is the first member; `predict` averages all of them. Empty for a single model.
   */
  members: Model[] = [];
  /**
   * A network's starting point: the linear GLMM's coefficients (user's scale, intercept first)
   * as the linear stage fitted them, before the network and the polish moved the linear part;
   * null for a linear model (it is the GLMM) and for models saved without it.
   */
  glmm: { name: string; value: number }[] | null = null;

  /** `netSeed` initialises the network f (default spec.seed): an ensemble member's own draw. */
  constructor(spec: ModelSpec, xNames: readonly string[], mean: Float64Array, sd: Float64Array, netSeed?: number) {
    this.family = familyOf(spec.family, spec.link);
    this.spec = {
      family: spec.family,
      link: this.family.link,
      hidden: spec.hidden ?? [],
      activation: spec.activation ?? 'relu',
      precision: spec.precision ?? 'f64',
      seed: spec.seed ?? 0,
      randomSlopes: [...(spec.randomSlopes ?? [])],
      intercept: spec.intercept ?? true,
      randomEffect: spec.randomEffect ? { ...spec.randomEffect, hidden: [...(spec.randomEffect.hidden ?? [])], activation: spec.randomEffect.activation ?? 'tanh', outDim: spec.randomEffect.outDim ?? 2 } : null,
      terms: spec.terms ? spec.terms.map((t) => ({ name: t.name, columns: [...t.columns] })) : null,
    };
    if (this.spec.terms && (this.spec.randomSlopes.length > 0 || this.spec.randomEffect)) {
      throw new Error('spec.terms describes every random-effect term: randomSlopes and randomEffect belong to the one-factor model and cannot be combined with it');
    }
    if (!(this.spec.activation in activations)) throw new Error(`unknown activation '${this.spec.activation}'`);
    if (this.spec.precision !== 'f64' && this.spec.precision !== 'mixed') throw new Error(`spec.precision must be 'f64' or 'mixed', got '${String(this.spec.precision)}'`);
    if (this.spec.precision === 'mixed' && this.spec.hidden.length === 0) throw new Error("spec.precision 'mixed' applies to the network f (spec.hidden); a linear model has none");
    this.xNames = [...xNames];
    this.mean = mean;
    this.sd = sd;
    const p = xNames.length;
    this.W = E.param(new Float64Array(p), [p, 1]);
    this.b0 = E.param([0], [1]);
    this.net = this.spec.hidden.length > 0 ? E.untracked(() => mlp([p, ...this.spec.hidden, 1], this.spec.activation, netSeed ?? this.spec.seed, undefined, { precision: this.spec.precision })) : null;
    if (this.net) {
      // The network starts as a small correction to the linear fit it is initialised from.
      const last = this.net.weights[this.net.weights.length - 1].data;
      for (let i = 0; i < last.length; i++) last[i] *= 0.1;
    }
    this.thetaSigma = this.family.hasDispersion ? E.param([softplusInv(1)], []) : null;
    this.random = this.spec.terms ? new TermsEffect(this, this.spec.terms) : new GroupedEffect(this, this.spec.randomSlopes, this.spec.randomEffect, netSeed ?? this.spec.seed);
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

  /** The scale parameters (the random structure's, a network g included, and the dispersion). */
  scaleParams(): E.Tensor[] {
    return [...this.random.networkParams(), ...this.varianceParams()];
  }

  /** The scalar variance parameters: the random structure's (not a network g) and the dispersion. */
  varianceParams(): E.Tensor[] {
    const re = this.random.varianceParams();
    return this.thetaSigma ? [...re, this.thetaSigma] : re;
  }

  parameters(): E.Tensor[] {
    return [...this.fixedParams(), ...this.scaleParams()];
  }

  /** Random-intercept SD σ_b (with a network g: the median of the groups' scales). */
  get ranefSD(): number {
    return this.random.kind === 'grouped' ? this.random.sd : NaN;
  }

  /** The training groups' labels (the first term's levels with several terms). */
  get levels(): string[] {
    return this.random.kind === 'grouped' ? this.random.levels : this.random.state[0]?.levels ?? [];
  }

  /** The one-factor structure, or an error naming what the caller asked of it. */
  grouped(what: string): GroupedEffect {
    if (this.random.kind !== 'grouped') throw new Error(`${what} applies to a model with one grouping factor; this one has the terms ${this.random.terms.map((t) => t.name).join(', ')}`);
    return this.random;
  }

  /** Residual SD σ (Gaussian), θ (NB) or α (Gamma), else NaN. */
  get sigma(): number {
    return this.thetaSigma ? softplus(this.thetaSigma.item()) : NaN;
  }

  /** The dispersion on the tape, or null. */
  private dispersion(): E.Tensor | null {
    return this.thetaSigma ? E.softplus(this.thetaSigma) : null;
  }

  /** Standardises raw X (n × p) with the training means and SDs, into `out` (which may be X itself). */
  standardise(X: ArrayLike<number>, out: Float64Array = new Float64Array(X.length)): Float64Array {
    const p = this.xNames.length;
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

  /**
   * f(x) (+ the offset) of n rows of standardised X as numbers, off the tape, in parts of at
   * most PASS_ROWS rows: the network's activations of a part are freed before the next (one
   * piece over 10⁶ rows held ~2 GB of them). One part, the plain forward, for smaller data.
   */
  fixedValues(Xs: Float64Array, n: number, offset: Float64Array | null): Float64Array {
    const p = this.xNames.length;
    if (n <= PASS_ROWS) return E.tidy(() => this.fixedEta(E.tensor(Xs, [n, p]), offset).toArray());
    const out = new Float64Array(n);
    for (let a = 0; a < n; a += PASS_ROWS) {
      const b = Math.min(n, a + PASS_ROWS);
      out.set(E.noGrad(() => E.tidy(() => this.fixedEta(E.tensor(Xs.subarray(a * p, b * p), [b - a, p]), offset ? offset.subarray(a, b) : null).toArray())), a);
    }
    return out;
  }

  /**
   * The per-group log marginal likelihoods L_i (a tape expression) and the ODE's solver
   * statistics (see GroupedEffect.logMarginal).
   */
  logMarginal(Xs: E.Tensor, r: GroupedResponse, rtol: number, Zg: E.Tensor | null = null, nodes = 0, offset: Float64Array | null = null) {
    return this.grouped('logMarginal').logMarginal(this.fixedEta(Xs, offset), Xs, this.dispersion(), r, rtol, Zg, nodes);
  }

  /**
   * Stores each group's posterior from the fitted parameters (training data, sorted), and the
   * total log-likelihood.
   */
  refreshPosterior(Xs: Float64Array, r: GroupedResponse, levels: string[], Zg: Float64Array | null = null, offset: Float64Array | null = null): void {
    this.nobs = r.nobs;
    const eta0 = this.fixedValues(Xs, r.nobs, offset);
    this.info.logLik = this.grouped('refreshPosterior').refresh(eta0, Xs, this.sigma, r, levels, Zg);
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
  predict(X0: MatrixInput, opts: PredictOptions = {}): Float64Array {
    return this.predictEnsemble(X0, opts).fit;
  }

  /**
   * The ensemble's prediction (`fit`, the mean of its members' predictions, each member's
   * E[y] or E[η] as `predict` defines it) and `spread`, the SD of the members' predictions
   * (n − 1 divisor) when there are several members, else null. The spread measures how much
   * independently initialised and trained networks disagree at a row (the fit's variability
   * from the network's training, Lakshminarayanan et al. 2017): it is not a standard error
   * of E[y] under the model, nor the spread of y.
   */
  predictEnsemble(X0: MatrixInput, opts: PredictOptions = {}): { fit: Float64Array; spread: Float64Array | null; members: number } {
    const all = [this, ...this.members];
    const { Xs, n: rows } = this.predictInputs(X0, opts);
    const preds = all.map((m) => m.predictOne(Xs, rows, opts));
    if (all.length === 1) return { fit: preds[0], spread: null, members: 1 };
    const n = preds[0].length, K = all.length;
    const fit = new Float64Array(n), spread = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += preds[k][i];
      const mu = s / K;
      let ss = 0;
      for (let k = 0; k < K; k++) ss += (preds[k][i] - mu) ** 2;
      fit[i] = mu;
      spread[i] = Math.sqrt(ss / (K - 1));
    }
    return { fit, spread, members: K };
  }

  /**
   * The rows to predict, checked and standardised once for every member (members share the
   * columns and the standardisation: Model.load checks it): Xs and the row count.
   */
  private predictInputs(X0: MatrixInput, opts: PredictOptions): { Xs: Float64Array; n: number } {
    const p = this.xNames.length;
    const X = asMatrix(X0, p, 'predict: X', this.xNames);
    if (X.length % Math.max(1, p) !== 0) throw new Error(`predict: X has ${X.length} values, not a multiple of ${p} columns`);
    const n = p > 0 ? X.length / p : (opts.group?.length ?? opts.terms?.[0]?.levels.length ?? 0);
    for (let i = 0; i < X.length; i++) {
      if (!Number.isFinite(X[i])) throw new Error(`predict: row ${Math.floor(i / p) + 1}, column '${this.xNames[i % p]}': ${X[i]} is not a finite number`);
    }
    if (this.hasOffset && !opts.offset) throw new Error('predict: the model was fitted with an offset, so predict needs `offset` for every row (0 where there is none)');
    if (opts.offset) {
      if (opts.offset.length !== n) throw new Error(`predict: offset has ${opts.offset.length} values for ${n} rows`);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(opts.offset[i])) throw new Error(`predict: row ${i + 1}: the offset ${opts.offset[i]} is not a finite number`);
      }
    }
    return { Xs: this.standardise(X), n };
  }

  /** This member's prediction alone, of rows prepared by predictInputs. */
  private predictOne(Xs: Float64Array, n: number, opts: PredictOptions): Float64Array {
    const type = opts.type ?? 'response';
    const mode = opts.groups ?? 'observed';
    const f = this.fixedValues(Xs, n, null);
    if (opts.offset) for (let i = 0; i < n; i++) f[i] += opts.offset[i];
    if (this.random.kind === 'terms') {
      if (!opts.terms) throw new Error(`predict: the model has several random-effect terms (${this.random.terms.map((t) => t.name).join(', ')}), so predict needs \`terms\`: each term's levels and design values per row`);
      return this.random.predict(f, opts.terms, type);
    }
    const re = this.random;
    let newScale: Float64Array | null = null;
    if (mode === 'new' && re.gNet) {
      const dz = re.zMean.length;
      if (!opts.Z || opts.Z.length !== n * dz) throw new Error(`predict: new groups need the ${dz} group-level covariates (${this.spec.randomEffect!.covariates.join(', ')}) for each of the ${n} rows`);
      newScale = E.tidy(() => re.scales(n, E.tensor(re.standardiseZ(opts.Z!), [n, dz])).toArray());
    }
    if (mode === 'observed' && (!opts.group || opts.group.length !== n)) throw new Error(`predict: groups 'observed' needs a group label for each of the ${n} rows`);
    return re.predict(f, Xs, mode === 'observed' ? opts.group! : null, type, newScale);
  }

  /** Each training group's random effect, posterior mean and SD, on the user's scale (lme4's ranef()). */
  ranef(): GroupRanef[] | LevelRanef[] {
    const own = this.random.ranef();
    if (this.members.length === 0 || this.random.kind !== 'grouped') return own;
    // An ensemble: each group's posterior is the equal mixture of its members' posteriors, so
    // the mean is the members' mean and the variance E[sd² + mean²] − mean² (per effect).
    const all = [own as GroupRanef[], ...this.members.map((m) => m.random.ranef() as GroupRanef[])];
    const K = all.length;
    const mix = (means: number[], sds: number[]) => {
      const m = means.reduce((x, v) => x + v, 0) / K;
      const v = means.reduce((x, mu, k) => x + sds[k] ** 2 + mu ** 2, 0) / K - m * m;
      return [m, Math.sqrt(Math.max(0, v))];
    };
    return (own as GroupRanef[]).map((r, i) => {
      const [mean, sd] = mix(all.map((a) => a[i].mean), all.map((a) => a[i].sd));
      // scale: the members' mean σ_b (NaN with random slopes, as for one model).
      const out: GroupRanef = { group: r.group, mean, sd, scale: all.reduce((x, a) => x + a[i].scale, 0) / K };
      if (r.effects && r.sds) {
        const e = r.effects.map((_, c) => mix(all.map((a) => a[i].effects![c]), all.map((a) => a[i].sds![c])));
        out.effects = e.map((x) => x[0]);
        out.sds = e.map((x) => x[1]);
      }
      return out;
    });
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
    const re = this.random.kind === 'grouped' ? this.random : null;
    const terms = this.random.kind === 'terms' ? this.random : null;
    return {
      format: 'ngmm-model',
      version: 1,
      spec: { ...this.spec, hidden: [...this.spec.hidden], randomEffect: this.spec.randomEffect ?? undefined, terms: this.spec.terms ?? undefined },
      xNames: [...this.xNames],
      standardise: { mean: Array.from(this.mean), sd: Array.from(this.sd) },
      params: {
        b0: this.b0.item(),
        W: Array.from(this.W.data),
        net: this.net ? this.net.toJSON() : null,
        thetaB: re?.thetaB ? re.thetaB.item() : null,
        thetaSigma: this.thetaSigma ? this.thetaSigma.item() : null,
        thetaL: re?.thetaL ? Array.from(re.thetaL.data) : null,
        gNet: re?.gNet ? re.gNet.toJSON() : null,
        zStandardise: re?.gNet ? { mean: Array.from(re.zMean), sd: Array.from(re.zSd) } : null,
        ...(terms ? { terms: terms.theta.map((t) => Array.from(t.data)) } : {}),
      },
      levels: re ? [...re.levels] : [],
      posterior: re ? re.posterior.map((p) => ({ mean: p.mean, sd: p.sd, nodes: Array.from(p.nodes), logw: Array.from(p.logw), scale: p.scale })) : [],
      ...(terms ? { terms: terms.state.map((st) => ({ levels: [...st.levels], mode: Array.from(st.mode), condSd: Array.from(st.condSd) })), termsMethod: terms.method, termsNodes: terms.nestedNodes } : {}),
      fit: { ...this.info, nobs: this.nobs },
      design: this.design,
      summary: this.stored,
      exact: this.exact,
      hasOffset: this.hasOffset,
      ...(this.glmm ? { glmm: this.glmm.map((c) => ({ ...c })) } : {}),
      // Each further member as a model file of its own (no design or summary: the first
      // member's are the ensemble's).
      ...(this.members.length > 0 ? { members: this.members.map((m) => ({ ...m.toJSON(), design: null, summary: null })) } : {}),
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
    for (const m of this.members) m.dispose();
    this.members = [];
    for (const t of [...this.fixedParams(), ...(this.thetaSigma ? [this.thetaSigma] : [])]) t.dispose();
    this.random.dispose();
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
    /** Several terms: each term's L_t parameters (as thetaL). */
    terms?: number[][];
  };
  /** Several terms: each term's training levels, conditional modes and SDs (levels × q, row-major). */
  terms?: { levels: string[]; mode: number[]; condSd: number[] }[];
  /** Several terms: how the marginal was integrated ('exact', 'nested', 'laplace'), and the nested rule's outer nodes. */
  termsMethod?: 'exact' | 'nested' | 'laplace';
  termsNodes?: number;
  levels: string[];
  posterior: { mean: number; sd: number; nodes: number[]; logw: number[]; scale: number }[];
  fit: FitInfo & { nobs: number };
  design?: Design | null;
  summary?: Summary | null;
  exact?: { reml: boolean; names: string[]; se: number[]; singular: boolean } | null;
  hasOffset?: boolean;
  /** A network's linear GLMM start (Model.glmm). */
  glmm?: { name: string; value: number }[];
  /** A deep ensemble's other members (each a model file without members). */
  members?: ModelJSON[];
}
