// Several random-effect terms — crossed (1|a) + (1|b), nested (1|a/b) = (1|a) + (1|a:b),
// uncorrelated (x||g) — each with its own grouping factor, its own design columns z (on the
// user's scale, as lme4's Z) and its own covariance Σ_t = L_t L_tᵀ:
//   η_j = f(x_j) + Σ_t ⟨z_tj, b_t,level_t(j)⟩,   b_t,ℓ ~ N(0, Σ_t) independent.
// The groups of different terms are not independent blocks, so the likelihood does not split
// into per-group integrals: a linear Gaussian model is fitted exactly by the sparse profiled
// likelihood (ngmm/lmm/multi.ts, docs/sparse.md). The posterior kept per level is the
// conditional mode and conditional SD of each effect (lme4's ranef(condVar = TRUE)); for the
// Gaussian identity link, with θ and β at their estimates, these are the exact posterior mean
// and SD, and the posterior mean of η is f + Σ_t ⟨z_t, b̂_t⟩.
import * as E from '../../engine/index';
import type { Family } from '../families/index';
import type { DataTerm, PreparedData } from '../data';
import { gaussHermite } from '../marginal/gaussHermite';
import { importanceSampling, laplaceSupports, logLikLaplace, sparseTerms, type ImportanceSamplingResult, type LaplaceResponse, type LaplaceStructure } from '../marginal/laplace';
import { logMarginalNested, nestedResponse, releaseNested, nestedInnerIndex, type NestedResponse } from '../marginal/nested';
import { softplus, softplusInv } from '../positive';
import { choleskyLower } from '../smallMatrix';
import { triangle } from './grouped';
import type { RandomStructure } from './structure';

/** How the marginal likelihood of several terms is computed (docs/terms.md). */
export type TermsMethod = 'exact' | 'nested' | 'laplace';

/**
 * The training data bound to the structure for one fit: the rows in the order the method
 * needs, and what it precomputes once (the sparse pattern, the nested grouping).
 */
export interface BoundTerms {
  method: TermsMethod;
  /** Row k of the method's order is row rows[k] of the prepared (group-sorted) data. */
  rows: Int32Array;
  laplace?: { structure: LaplaceStructure; response: LaplaceResponse };
  nested?: { response: NestedResponse; nodes: number };
  /** Each term's level per row (method order) and design values, for the posterior. */
  terms: { index: Int32Array; Z: Float64Array; q: number; levels: readonly string[] }[];
  /** Units the objective is averaged over (outer groups, or all levels for Laplace). */
  units: number;
}

/** A term as the model keeps it: its name, design columns and training levels. */
export interface TermSpec {
  /** The grouping factor as written: 'Subject', 'cask:batch'. */
  name: string;
  /** The design columns: '(Intercept)', then slopes ('Days'). */
  columns: string[];
}

/** A term's data for some rows: the level of each row (as text) and its design values (rows × q). */
export interface TermRows {
  levels: ArrayLike<string>;
  Z: Float64Array;
}

/**
 * One level's random effects on the user's scale: conditional mode and SD per column (`mean`
 * and `sd` repeat the first column's, as the one-factor model's ranef rows have them).
 */
export interface LevelRanef {
  term: string;
  group: string;
  columns: string[];
  effects: number[];
  sds: number[];
  mean: number;
  sd: number;
  /** Not a per-level scale here: NaN. */
  scale: number;
}

/** The per-term state after fitting. */
export interface TermState {
  levels: string[];
  /** Conditional modes b (G × q) and their SDs (G × q). */
  mode: Float64Array;
  condSd: Float64Array;
}

/** The random part of a model with several terms (see the file's head). */
export class TermsEffect implements RandomStructure {
  readonly kind = 'terms' as const;
  /** Free parameters of each term's lower-triangular L_t (diagonal through softplus), row by row. */
  readonly theta: E.Tensor[];
  state: TermState[] = [];

  constructor(private readonly ctx: { readonly family: Family }, readonly terms: readonly TermSpec[]) {
    if (terms.length === 0) throw new Error('TermsEffect: no random-effect terms');
    this.theta = terms.map((t) => {
      const q = t.columns.length;
      if (q < 1) throw new Error(`random-effect term '${t.name}' has no columns`);
      return E.param(Float64Array.from(triangle(q), ([r, c]) => (r === c ? softplusInv(0.5) : 0)), [(q * (q + 1)) / 2]);
    });
  }

  /** How the marginal likelihood was integrated in the last fit (set by bind). */
  method: TermsMethod = 'exact';
  /** The outer Gauss–Hermite nodes of the nested method. */
  nestedNodes = 25;

  /** How the marginal likelihood is integrated, in words (the summary's line). */
  integration(): string {
    if (this.method === 'nested') return `exact for nested terms: adaptive Gauss–Hermite (${this.nestedNodes} nodes) over '${this.terms[1].name}' of the log-domain ODE over '${this.terms[0].name}'`;
    if (this.method === 'laplace') return 'Laplace approximation (sparse Cholesky)';
    return 'exact (sparse profiled Gaussian likelihood, Bates et al. 2015)';
  }

  /**
   * The method for these terms: exact for a linear Gaussian identity model; two nested random
   * intercepts (every level of the first term, the finer one in lme4's order, inside one level
   * of the second) of a log-concave family by level-by-level quadrature; otherwise Laplace.
   */
  chooseMethod(terms: readonly DataTerm[], linearGaussian: boolean): TermsMethod {
    const fam = this.ctx.family;
    if (linearGaussian) return 'exact';
    if (terms.length === 2 && fam.concave && !(fam.name === 'gaussian' && fam.link === 'identity') &&
      terms.every((t) => t.columns.length === 1 && t.columns[0] === '(Intercept)') && nestedIn(terms[0], terms[1])) return 'nested';
    if (!laplaceSupports(fam)) {
      throw new Error(`fit: several random-effect terms with the ${fam.name} family and the ${fam.link} link: the Laplace approximation supports gaussian/identity, bernoulli and binomial/logit, poisson/log, negbinomial/log and gamma/log`);
    }
    return 'laplace';
  }

  /** Binds the training data (group-sorted `prep` and the data's terms in its original row order) for `method`. */
  bind(prep: PreparedData, data: readonly DataTerm[], method: TermsMethod, nodes = 25): BoundTerms {
    this.method = method;
    const n = prep.response.nobs, r = prep.response;
    // Each term's level and design per prepared row.
    const inPrep = data.map((t) => {
      const q = t.columns.length;
      return {
        index: Int32Array.from(prep.order, (i) => t.group[i]), q, levels: t.levels,
        Z: Float64Array.from({ length: n * q }, (_, e) => t.Z[prep.order[Math.floor(e / q)] * q + (e % q)]),
      };
    });
    const G = data.reduce((a, t) => a + t.levels.length, 0);
    if (method !== 'nested') {
      const rows = Int32Array.from({ length: n }, (_, i) => i);
      let cst = 0;
      for (const c of r.cst) cst += c;
      return {
        method, rows, terms: inPrep, units: G,
        laplace: method === 'laplace' ? {
          structure: sparseTerms(inPrep.map((t, k) => ({ name: data[k].name, index: t.index, nlevels: t.levels.length, Z: t.Z, q: t.q }))),
          response: { family: r.family, y: r.y, m: r.trials, cst },
        } : undefined,
      };
    }
    // Nested: rows sorted by outer level, then inner level (stable).
    const inner = inPrep[0], outer = inPrep[1];
    const rows = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => outer.index[a] - outer.index[b] || inner.index[a] - inner.index[b] || a - b);
    const innerSizes: number[] = [], outerSizes: number[] = [];
    for (let k = 0; k < n; k++) {
      const j = rows[k];
      const newInner = k === 0 || inner.index[rows[k - 1]] !== inner.index[j];
      const newOuter = k === 0 || outer.index[rows[k - 1]] !== outer.index[j];
      if (newInner) innerSizes.push(0);
      innerSizes[innerSizes.length - 1]++;
      if (newOuter) outerSizes.push(0);
      if (newInner) outerSizes[outerSizes.length - 1]++;
    }
    // groupResponse stores a weighted Bernoulli row as y·w successes: undo it (y ∈ {0, 1}, so
    // y·w/w is y exactly; a row of weight 0 contributes nothing whatever its y).
    const m = r.trials;
    const bern = r.family.name === 'bernoulli' && m;
    const y = Float64Array.from(rows, (j) => (bern ? (m![j] > 0 ? r.y[j] / m![j] : 0) : r.y[j]));
    const response = nestedResponse(r.family, y, innerSizes, outerSizes, m ? Float64Array.from(rows, (j) => m[j]) : undefined);
    const perm = (t: typeof inner) => ({ ...t, index: Int32Array.from(rows, (j) => t.index[j]), Z: Float64Array.from(rows, (j) => t.Z[j]) });
    return { method, rows, terms: [perm(inner), perm(outer)], units: response.nOuter, nested: { response, nodes } };
  }

  /** Each term's Λ_t on the tape, its lower triangle by rows (the diagonal through softplus). */
  lambdas(): E.Tensor[] {
    return this.terms.map((t, k) => {
      const q = t.columns.length, tri = triangle(q), th = this.theta[k];
      const mask = E.tensor(Float64Array.from(tri, ([r, c]) => (r === c ? 1 : 0)), [tri.length]);
      return E.add(th, E.mul(mask, E.sub(E.softplus(th), th)));
    });
  }

  /** The total log-likelihood (a scalar on the tape) given η's fixed part in the bound row order. */
  logLik(eta0: E.Tensor, phi: E.Tensor | null, b: BoundTerms): E.Tensor {
    if (b.method === 'laplace') return logLikLaplace(eta0, this.lambdas(), phi, b.laplace!.response, b.laplace!.structure, { condVar: false }).logLik;
    if (b.method === 'nested') {
      const [inner, outer] = this.lambdas();
      return E.sum(logMarginalNested(eta0, outer, inner, phi, b.nested!.response, { nodes: b.nested!.nodes }).L);
    }
    throw new Error('TermsEffect.logLik: the exact method has its own criterion (ngmm/lmm/multi.ts)');
  }

  /**
   * Stores each level's posterior summary (conditional mode or mean, and SD) at the fitted
   * parameters; returns the log-likelihood there.
   */
  refresh(eta0: Float64Array, phi: number, b: BoundTerms): number {
    const phiT = () => (Number.isNaN(phi) ? null : E.tensor([phi], []));
    if (b.method === 'laplace') {
      const { L, stats } = E.tidy(() => {
        const res = logLikLaplace(E.tensor(eta0, [eta0.length]), this.lambdas(), phiT(), b.laplace!.response, b.laplace!.structure, { condVar: true });
        return { L: res.logLik.item(), stats: res.stats };
      });
      this.state = this.terms.map((t, k) => {
        const q = t.columns.length, G = b.terms[k].levels.length, cv = stats.condVar![k];
        const condSd = Float64Array.from({ length: G * q }, (_, e) => Math.sqrt(Math.max(0, cv[Math.floor(e / q) * q * q + (e % q) * q + (e % q)])));
        return { levels: [...b.terms[k].levels], mode: Float64Array.from(stats.ranef[k]), condSd };
      });
      return L;
    }
    if (b.method === 'nested') {
      const nr = b.nested!.response, K = b.nested!.nodes;
      const sa = this.factor(1)[0], sb = this.factor(0)[0];
      const { L, rule } = E.tidy(() => {
        const [inner, outer] = this.lambdas();
        const res = logMarginalNested(E.tensor(eta0, [eta0.length]), outer, inner, phiT(), nr, { nodes: K });
        return { L: res.L.toArray(), rule: res.rule };
      });
      releaseNested(nr);
      // Outer effect s_a·u: its posterior mean and SD from the rule. Inner s_b·v: the rule's
      // mixture over the outer nodes of each node's inner posterior (mode, SD from the ODE):
      // E ≈ Σ_k π_k m_k, Var ≈ Σ_k π_k (s_k² + m_k²) − E² (the modes stand in for the means).
      const Go = nr.nOuter;
      const outerMode = new Float64Array(b.terms[1].levels.length), outerSd = Float64Array.from(outerMode, () => sa);
      const innerMode = new Float64Array(b.terms[0].levels.length), innerSd = Float64Array.from(innerMode, () => sb);
      for (let a = 0; a < Go; a++) {
        let e1 = 0, e2 = 0;
        for (let k = 0; k < K; k++) {
          const w = Math.exp(rule.logPost[a * K + k]), u = rule.nodes[a * K + k];
          e1 += w * u;
          e2 += w * u * u;
        }
        const lvl = b.terms[1].index[nr.inner.offsets[nr.outerOffsets[a]]];
        outerMode[lvl] = sa * e1;
        outerSd[lvl] = sa * Math.sqrt(Math.max(0, e2 - e1 * e1));
        for (let i = nr.outerOffsets[a]; i < nr.outerOffsets[a + 1]; i++) {
          let m1 = 0, m2 = 0;
          for (let k = 0; k < K; k++) {
            const w = Math.exp(rule.logPost[a * K + k]), at = nestedInnerIndex(nr, K, i, k);
            const mk = rule.innerMode[at], sk = rule.innerSd[at];
            m1 += w * mk;
            m2 += w * (sk * sk + mk * mk);
          }
          const ilvl = b.terms[0].index[nr.inner.offsets[i]];
          innerMode[ilvl] = sb * m1;
          innerSd[ilvl] = sb * Math.sqrt(Math.max(0, m2 - m1 * m1));
        }
      }
      this.state = [
        { levels: [...b.terms[0].levels], mode: innerMode, condSd: innerSd },
        { levels: [...b.terms[1].levels], mode: outerMode, condSd: outerSd },
      ];
      return L.reduce((x, y) => x + y, 0);
    }
    throw new Error('TermsEffect.refresh: the exact method sets its state from the profiled fit');
  }

  /**
   * How far the Laplace logLik is from the true one at the fitted parameters: importance
   * sampling from the Laplace Gaussian (docs/laplace.md), with its Monte Carlo error.
   */
  importanceSampling(eta0: Float64Array, phi: number, b: BoundTerms, draws: number, seed: number): ImportanceSamplingResult {
    if (b.method !== 'laplace') throw new Error('importance sampling checks the Laplace approximation; this fit is exact');
    const lam = E.tidy(() => this.lambdas().map((t) => t.toArray()));
    return importanceSampling(eta0, lam, Number.isNaN(phi) ? null : phi, b.laplace!.response, b.laplace!.structure, { draws, seed });
  }

  varianceParams(): E.Tensor[] {
    return [...this.theta];
  }

  networkParams(): E.Tensor[] {
    return [];
  }

  /** L_t (q × q, lower triangular) as numbers. */
  factor(t: number): Float64Array {
    const q = this.terms[t].columns.length, L = new Float64Array(q * q), th = this.theta[t].data;
    triangle(q).forEach(([r, c], e) => (L[r * q + c] = r === c ? softplus(th[e]) : th[e]));
    return L;
  }

  /** Σ_t = L_t L_tᵀ (q × q). */
  covariance(t: number): Float64Array {
    const q = this.terms[t].columns.length, L = this.factor(t), S = new Float64Array(q * q);
    for (let r = 0; r < q; r++) for (let c = 0; c < q; c++) {
      let acc = 0;
      for (let k = 0; k <= Math.min(r, c); k++) acc += L[r * q + k] * L[c * q + k];
      S[r * q + c] = acc;
    }
    return S;
  }

  /**
   * Sets term t's parameters from a covariance Σ (q × q). A boundary Σ (a zero variance, a
   * ±1 correlation) keeps its zero pivots as softplus⁻¹ of a floor of 1e−300 (softplus⁻¹(0) is −∞).
   */
  setCovariance(t: number, Sigma: Float64Array): void {
    const q = this.terms[t].columns.length;
    const L = choleskyLower(Sigma, q);
    let e = 0;
    for (let r = 0; r < q; r++) for (let c = 0; c <= r; c++, e++) this.theta[t].data[e] = r === c ? softplusInv(Math.max(1e-300, L[r * q + c])) : L[r * q + c];
  }

  /** Whether a term's SD (a diagonal entry of L_t) is below 1e−3·unit. */
  nearBoundary(unit: number): boolean {
    return this.terms.some((t, k) => {
      const q = t.columns.length, L = this.factor(k);
      for (let d = 0; d < q; d++) if (L[d * q + d] < 1e-3 * unit) return true;
      return false;
    });
  }

  /** Sets every term to Σ_t = sd²·I (the start of a fit). */
  setScale(sd: number): void {
    this.terms.forEach((t, k) => {
      const q = t.columns.length;
      let e = 0;
      for (let r = 0; r < q; r++) for (let c = 0; c <= r; c++, e++) this.theta[k].data[e] = r === c ? softplusInv(sd) : 0;
    });
  }

  /** Each term's SDs and correlations (lme4's VarCorr), on the user's scale of z. */
  varCorr(): { term: string; columns: string[]; sd: number[]; corr: number[][] }[] {
    return this.terms.map((t, k) => {
      const q = t.columns.length, S = this.covariance(k);
      const sd = Array.from({ length: q }, (_, r) => Math.sqrt(S[r * q + r]));
      const corr = Array.from({ length: q }, (_, r) => Array.from({ length: q }, (_, c) => (r === c ? 1 : S[r * q + c] / (sd[r] * sd[c]))));
      return { term: t.name, columns: [...t.columns], sd, corr };
    });
  }

  /** Whether a term's relative factor has a diagonal entry below 1e−4 (lme4's isSingular). */
  singular(unit: number): boolean {
    return this.terms.some((t, k) => {
      const q = t.columns.length, L = this.factor(k);
      for (let d = 0; d < q; d++) if (!(L[d * q + d] / unit >= 1e-4)) return true;
      return false;
    });
  }

  /**
   * E[η] ('link') or E[y] ('response') for rows with fixed part `f` (offset included): each
   * term adds ⟨z, b̂⟩ for a level seen in training and 0 (its prior mean) for a new level. On
   * the response scale of a non-identity link, μ is averaged over a normal approximation of
   * the random part: variance Σ_t Σ_a z_a² condSd_a² for a seen level (correlations within a
   * level and between terms left out) and z'Σ_t z for a new one, by 25-node Gauss–Hermite.
   */
  predict(f: Float64Array, rows: readonly TermRows[], type: 'response' | 'link'): Float64Array {
    const fam = this.ctx.family;
    const identity = fam.name === 'gaussian' && fam.link === 'identity';
    if (rows.length !== this.terms.length) throw new Error(`predict: ${rows.length} random-effect terms given, the model has ${this.terms.length} (${this.terms.map((t) => t.name).join(', ')})`);
    const n = f.length, out = Float64Array.from(f), v = new Float64Array(n);
    this.terms.forEach((t, k) => {
      const q = t.columns.length, { levels, Z } = rows[k], st = this.state[k], S = this.covariance(k);
      if (levels.length !== n || Z.length !== n * q) throw new Error(`predict: term '${t.name}' needs a level and ${q} design value${q === 1 ? '' : 's'} for each of the ${n} rows`);
      const index = new Map(st.levels.map((l, i) => [l, i]));
      for (let j = 0; j < n; j++) {
        const g = index.get(String(levels[j]));
        if (g === undefined) {
          // A new level: the prior, mean 0 and variance z'Σz.
          for (let a = 0; a < q; a++) for (let c = 0; c < q; c++) v[j] += Z[j * q + a] * S[a * q + c] * Z[j * q + c];
          continue;
        }
        for (let a = 0; a < q; a++) {
          out[j] += Z[j * q + a] * st.mode[g * q + a];
          v[j] += (Z[j * q + a] * st.condSd[g * q + a]) ** 2;
        }
      }
    });
    if (type === 'link' || identity) return out;
    const gh = gaussHermite(25);
    for (let j = 0; j < n; j++) {
      const s = Math.sqrt(v[j]);
      let acc = 0;
      for (let k = 0; k < gh.nodes.length; k++) acc += gh.weights[k] * fam.mean(out[j] + s * gh.nodes[k], 1);
      out[j] = acc;
    }
    return out;
  }

  /** Every level's conditional modes and SDs, term by term (lme4's ranef(condVar = TRUE)). */
  ranef(): LevelRanef[] {
    const out: LevelRanef[] = [];
    this.terms.forEach((t, k) => {
      const q = t.columns.length, st = this.state[k];
      st.levels.forEach((level, g) => {
        const effects = Array.from(st.mode.subarray(g * q, g * q + q)), sds = Array.from(st.condSd.subarray(g * q, g * q + q));
        out.push({ term: t.name, group: level, columns: [...t.columns], effects, sds, mean: effects[0], sd: sds[0], scale: NaN });
      });
    });
    return out;
  }

  dispose(): void {
    for (const t of this.theta) t.dispose();
  }
}

// Whether every level of `inner` occurs with exactly one level of `outer` (lme4's isNested).
function nestedIn(inner: DataTerm, outer: DataTerm): boolean {
  const of = new Int32Array(inner.levels.length).fill(-1);
  for (let j = 0; j < inner.group.length; j++) {
    const i = inner.group[j], o = outer.group[j];
    if (of[i] < 0) of[i] = o;
    else if (of[i] !== o) return false;
  }
  return true;
}
