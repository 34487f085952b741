// One grouping factor: the random part of η for the rows of group i is
//   a random intercept        s·b_i,                 s = σ_b,       b_i ~ N(0, 1)
//   random slopes            ⟨Λᵀz_ij, b_i⟩,          z = (1, x[slopes]) standardised, b_i ~ N(0, I_q)
//   a random-effect network   ‖g(z_i)‖·b_i,           z_i the group's covariates
// Groups are independent, so the log-likelihood is a sum of per-group 1-D (ODE) or q-D
// (adaptive Gauss–Hermite) integrals (docs/marginal.md §3–8). After fitting, each group keeps its
// posterior as an adaptive Gauss–Hermite rule (nodes and normalised log-weights), from which
// predictions for seen groups and ranef() are exact to the rule's accuracy, and which saves
// with the model.
import { MLP, mlp } from '../../engine/nn';
import type { ActivationName } from '../../engine/ops/activations';
import * as E from '../../engine/index';
import type { Family } from '../families/index';
import { adaptiveNodes, productRule } from '../marginal/gaussHermite';
import { DEFAULT_NODES, logMarginalQuadrature, quadratureRule } from '../marginal/quadrature';
import { logMarginal } from '../marginal/ode';
import { releaseResponse, subsetResponse, type GroupedResponse } from '../marginal/groups';
import { cutUnits, PASS_ROWS } from '../fitting/objective';
import { logNdtr } from '../../kernels/reference/special';
import { softplus, softplusInv } from '../positive';
import type { RandomStructure } from './structure';

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

/** One group's random effects on the user's scale (lme4's ranef()). */
export interface GroupRanef {
  group: string;
  mean: number;
  sd: number;
  scale: number;
  effects?: number[];
  sds?: number[];
}

/** What the grouped term needs of the model around it: the family and X's columns and scaling. */
export interface FixedContext {
  readonly family: Family;
  readonly xNames: readonly string[];
  readonly mean: Float64Array;
  readonly sd: Float64Array;
}

/** Nodes of the stored posterior rules: per dimension by q (q = 1: 25, q = 2: 81, q = 3: 125 nodes). */
const SLOPE_NODES = DEFAULT_NODES;
const POSTERIOR_NODES = SLOPE_NODES[1];

/** The lower triangle of a q × q matrix, row by row, as (row, column) pairs. */
export const triangle = (q: number): [number, number][] => {
  const out: [number, number][] = [];
  for (let r = 0; r < q; r++) for (let c = 0; c <= r; c++) out.push([r, c]);
  return out;
};

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

/** The random part of a model with one grouping factor (see the file's head). */
export class GroupedEffect implements RandomStructure {
  readonly kind = 'grouped' as const;
  /** Random-effect dimension: 1 + the number of random slopes. */
  readonly q: number;
  /** Indices of the random-slope columns in X. */
  readonly slopeIdx: number[];
  /** Free parameters of the lower-triangular Λ (diagonal through softplus), row by row. */
  readonly thetaL: E.Tensor | null;
  /** softplus⁻¹(σ_b), for the plain random intercept only (null with Λ or a network g). */
  readonly thetaB: E.Tensor | null;
  /** The random-effect network g (when spec.randomEffect), and its input standardisation. */
  readonly gNet: MLP | null;
  zMean: Float64Array = new Float64Array(0);
  zSd: Float64Array = new Float64Array(0);
  /** The training groups' labels and posteriors (set by refresh). */
  levels: string[] = [];
  posterior: GroupPosterior[] = [];

  constructor(private readonly ctx: FixedContext, readonly slopes: readonly string[], readonly network: RandomEffectSpec | null, seed: number) {
    this.slopeIdx = slopes.map((name) => {
      const j = ctx.xNames.indexOf(name);
      if (j < 0) throw new Error(`random slope '${name}' is not a fixed-effect column (have: ${ctx.xNames.join(', ')})`);
      return j;
    });
    this.q = 1 + this.slopeIdx.length;
    if (this.q > 3) throw new Error(`${this.q - 1} random slopes: at most two are supported`);
    if (this.q > 1 && network) throw new Error('random slopes and a random-effect network cannot be combined yet');
    const nl = (this.q * (this.q + 1)) / 2;
    this.thetaL = this.q > 1 ? E.param(Float64Array.from(triangle(this.q), ([r, c]) => (r === c ? softplusInv(0.5) : 0)), [nl]) : null;
    if (network) {
      if (network.covariates.length === 0) throw new Error('randomEffect needs at least one covariate');
      this.gNet = E.untracked(() => mlp([network.covariates.length, ...network.hidden!, network.outDim!], network.activation!, seed + 1));
      this.zMean = new Float64Array(network.covariates.length);
      this.zSd = new Float64Array(network.covariates.length).fill(1);
    } else this.gNet = null;
    this.thetaB = this.gNet || this.thetaL ? null : E.param([softplusInv(1)], []);
  }

  /** How the marginal likelihood is integrated, in words (the summary's line). */
  integration(): string {
    return this.q > 1 ? `adaptive Gauss–Hermite, ${SLOPE_NODES[this.q]}^${this.q} nodes` : 'exact to rtol 1e−10 (log-domain ODE)';
  }

  /** The scalar variance parameters (σ_b or Λ; not a network g). */
  varianceParams(): E.Tensor[] {
    return this.gNet ? [] : this.thetaL ? [this.thetaL] : [this.thetaB!];
  }

  /** The network g's parameters (none without one). */
  networkParams(): E.Tensor[] {
    return this.gNet?.parameters() ?? [];
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

  /** Random-intercept SD σ_b (with a network g: the median of the groups' scales). */
  get sd(): number {
    if (this.thetaL) return this.lambda()[0];
    if (this.thetaB) return softplus(this.thetaB.item());
    const s = this.posterior.map((p) => p.scale).sort((a, b) => a - b);
    return s.length ? s[s.length >> 1] : NaN;
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
    const n = Xs.shape[0], p = this.ctx.xNames.length, k = this.slopeIdx.length;
    const sel = new Float64Array(p * k);
    this.slopeIdx.forEach((j, c) => (sel[j * k + c] = 1));
    const Z = E.concat([E.ones([n, 1]), E.matmul(Xs, E.tensor(sel, [p, k]))], 1);
    return E.matmul(Z, this.lambdaTensor());
  }

  /**
   * The per-group log marginal likelihoods L_i (a tape expression) given the fixed part of η
   * (f plus any offset, group-sorted), and the ODE's solver statistics. A scalar random effect
   * goes by the ODE at `rtol`, or, with `nodes` > 0, by adaptive Gauss–Hermite with that many
   * nodes (no statistics); random slopes always by the quadrature rule.
   */
  logMarginal(eta0: E.Tensor, Xs: E.Tensor, sigma: E.Tensor | null, r: GroupedResponse, rtol: number, Zg: E.Tensor | null = null, nodes = 0) {
    if (this.thetaL) return { L: logMarginalQuadrature(eta0, this.slopeDesign(Xs), sigma, r, { K: SLOPE_NODES[this.q] }), stats: null };
    const s = this.scales(r.ngroups, Zg);
    if (nodes > 0) {
      // η_ij = f_ij + s_i·b_i: the design column is each row's group scale.
      const g = E.gatherRows(E.reshape(s, [r.ngroups, 1]), r.groupOf);
      return { L: logMarginalQuadrature(eta0, g, sigma, r, { K: nodes }), stats: null };
    }
    return logMarginal(eta0, s, sigma, r, { rtol });
  }

  /**
   * Stores each group's posterior rule from the fitted parameters (training data, sorted) and
   * returns the total log-likelihood. `eta0` and `Xs` are numbers here.
   */
  refresh(eta0: Float64Array, Xs: Float64Array, sigma: number, r: GroupedResponse, levels: string[], Zg: Float64Array | null, maxRows = PASS_ROWS): number {
    this.levels = levels;
    if (this.thetaL) return this.refreshSlopes(eta0, Xs, sigma, r, maxRows);
    const fam = this.ctx.family;
    const p = this.ctx.xNames.length, dz = this.zMean.length;
    // Each group's marginal is its own solve, so the groups can go in parts of whole groups of
    // ≤ maxRows rows with every number unchanged; one part when the data are that small. A pass
    // over 10⁶ rows in one piece took the heap to 3.5 GB (measured, a Poisson NGMM).
    const solve = (rr: GroupedResponse, e0: Float64Array, xs: Float64Array, zg: Float64Array | null) => E.tidy(() => {
      const z = zg ? E.tensor(zg, [rr.ngroups, dz]) : null;
      const phi = Number.isNaN(sigma) ? null : E.tensor([sigma], []);
      const res = this.logMarginal(E.tensor(e0, [rr.nobs]), E.tensor(xs, [rr.nobs, p]), phi, rr, 1e-10, z, 0);
      return { L: res.L.toArray(), mode: Float64Array.from(res.stats!.mode), sd: Float64Array.from(res.stats!.sd), s: this.scales(rr.ngroups, z).toArray() };
    });
    let L: Float64Array, stats: { mode: Float64Array; sd: Float64Array }, s: Float64Array;
    if (r.nobs <= maxRows) {
      const one = solve(r, eta0, Xs, Zg);
      ({ L, s } = one);
      stats = one;
    } else {
      L = new Float64Array(r.ngroups);
      s = new Float64Array(r.ngroups);
      stats = { mode: new Float64Array(r.ngroups), sd: new Float64Array(r.ngroups) };
      for (const [g0, g1] of cutUnits(r.ngroups, (g) => r.offsets[g + 1] - r.offsets[g], maxRows)) {
        const use = Int32Array.from({ length: g1 - g0 }, (_, k) => g0 + k);
        const { response: rr, rows } = subsetResponse(r, use);
        try {
          const e0 = Float64Array.from(rows, (j) => eta0[j]);
          const xs = new Float64Array(rows.length * p);
          rows.forEach((j, k) => xs.set(Xs.subarray(j * p, j * p + p), k * p));
          const part = solve(rr, e0, xs, Zg ? Zg.slice(g0 * dz, g1 * dz) : null);
          L.set(part.L, g0);
          s.set(part.s, g0);
          stats.mode.set(part.mode, g0);
          stats.sd.set(part.sd, g0);
        } finally {
          releaseResponse(rr);
        }
      }
    }
    releaseResponse(r);
    this.posterior = [];
    for (let i = 0; i < r.ngroups; i++) {
      const sb = s[i];
      const { nodes, logWeights } = adaptiveNodes(POSTERIOR_NODES, stats.mode[i], stats.sd[i]);
      const logw = new Float64Array(POSTERIOR_NODES);
      for (let k = 0; k < POSTERIOR_NODES; k++) {
        const t = nodes[k];
        let ell = -0.5 * t * t - 0.9189385332046728;
        for (let j = r.offsets[i]; j < r.offsets[i + 1]; j++) {
          ell += fam.logLik(r.y[j], eta0[j] + sb * t, sigma, r.trials ? r.trials[j] : 1);
        }
        logw[k] = logWeights[k] + ell - L[i];
      }
      normalise(logw);
      this.posterior.push(summarise(nodes, logw, 1, sb));
    }
    return L.reduce((a, b) => a + b, 0);
  }

  // The q-dimensional posterior rule per group: the adaptive product rule's nodes b_k and
  // normalised log-weights of p(b | y_i). Each group's rule is its own (its mode and curvature
  // found alone), so the groups go in parts of whole groups of ≤ maxRows rows as in refresh().
  private refreshSlopes(eta0: Float64Array, Xs: Float64Array, sigma: number, r: GroupedResponse, maxRows: number): number {
    const q = this.q, fam = this.ctx.family, p = this.ctx.xNames.length;
    this.posterior = [];
    let logLik = 0;
    for (const [g0, g1] of cutUnits(r.ngroups, (i) => r.offsets[i + 1] - r.offsets[i], maxRows)) {
      // Rows are sorted by group: the part's rows are the run a … b−1.
      const a = r.offsets[g0], b = r.offsets[g1];
      const rr = subsetResponse(r, Int32Array.from({ length: g1 - g0 }, (_, k) => g0 + k)).response;
      let g: Float64Array, rule: ReturnType<typeof quadratureRule>;
      try {
        ({ g, rule } = E.tidy(() => {
          const fT = E.tensor(eta0.subarray(a, b), [b - a]), gT = this.slopeDesign(E.tensor(Xs.subarray(a * p, b * p), [b - a, p]));
          const phi = Number.isNaN(sigma) ? null : E.tensor([sigma], []);
          return { g: gT.toArray(), rule: quadratureRule(fT, gT, phi, rr, { K: SLOPE_NODES[q] }) };
        }));
      } finally {
        releaseResponse(rr);
      }
      const K = rule.K;
      // The rule's log-weights include the prior and the node weights, and fam.logLik the
      // constants c(y): the log of the unnormalised sum is the group's L_i by this rule.
      for (let i = 0; i < g1 - g0; i++) {
        const nodes = rule.nodes.slice(i * K * q, (i + 1) * K * q);
        const logw = new Float64Array(K);
        for (let k = 0; k < K; k++) {
          let ell = rule.logW[i * K + k];
          for (let j = r.offsets[g0 + i]; j < r.offsets[g0 + i + 1]; j++) {
            let eta = eta0[j];
            for (let d = 0; d < q; d++) eta += g[(j - a) * q + d] * nodes[k * q + d];
            ell += fam.logLik(r.y[j], eta, sigma, r.trials ? r.trials[j] : 1);
          }
          logw[k] = ell;
        }
        logLik += normalise(logw);
        this.posterior.push(summarise(nodes, logw, q, NaN));
      }
    }
    releaseResponse(r);
    return logLik;
  }

  /**
   * E[η] ('link') or E[y] ('response') for rows with fixed part `f` (offset included) and
   * standardised X rows `Xs`: through each row's group posterior (`group` labels of training
   * groups), or, for new groups (`group` null), the prior — with `newScale` the per-row s of a
   * network g (from the rows' Z), else σ_b.
   */
  predict(f: Float64Array, Xs: Float64Array, group: ArrayLike<string | number> | null, type: 'response' | 'link', newScale: Float64Array | null): Float64Array {
    const n = f.length, p = this.ctx.xNames.length, fam = this.ctx.family, q = this.q;
    const out = new Float64Array(n);
    const index = group ? new Map(this.levels.map((l, i) => [l, i])) : null;
    const prior = productRule(SLOPE_NODES[q], q);
    const Lam = this.thetaL ? this.lambda() : null;
    const gstar = new Float64Array(q);
    for (let r = 0; r < n; r++) {
      let nodes: ArrayLike<number>, logw: ArrayLike<number>;
      if (index) {
        const g = index.get(String(group![r]));
        if (g === undefined) throw new Error(`predict: row ${r + 1}: group '${group![r]}' was not in the training data (use groups: 'new')`);
        ({ nodes, logw } = this.posterior[g]);
        if (!Lam) gstar[0] = this.posterior[g].scale;
      } else {
        nodes = prior.nodes;
        logw = prior.logWeights;
        if (!Lam) gstar[0] = newScale ? newScale[r] : this.sd;
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
  ranef(): GroupRanef[] {
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
    const q = this.q, { mean, sd } = this.ctx;
    const A = Array.from({ length: q }, () => new Array<number>(q).fill(0));
    A[0][0] = 1;
    this.slopeIdx.forEach((j, c) => {
      A[0][c + 1] = -mean[j] / sd[j];
      A[c + 1][c + 1] = 1 / sd[j];
    });
    return A;
  }

  /** Whether a random-effect SD (σ_b, or a diagonal entry of Λ) is below 1e−3·unit. */
  nearBoundary(unit: number): boolean {
    if (this.thetaB) return softplus(this.thetaB.data[0]) < 1e-3 * unit;
    if (this.thetaL) {
      const q = this.q, L = this.lambda();
      for (let d = 0; d < q; d++) if (L[d * q + d] < 1e-3 * unit) return true;
    }
    return false;
  }

  /** Sets the variance parameters to σ_b = sd (Λ = sd·I). */
  setScale(sd: number): void {
    if (this.thetaB) this.thetaB.data[0] = softplusInv(sd);
    else if (this.thetaL) {
      const q = this.q;
      let e = 0;
      for (let r = 0; r < q; r++) for (let c = 0; c <= r; c++, e++) this.thetaL.data[e] = r === c ? softplusInv(sd) : 0;
    }
  }

  dispose(): void {
    for (const t of [...this.networkParams(), ...this.varianceParams()]) t.dispose();
  }
}
