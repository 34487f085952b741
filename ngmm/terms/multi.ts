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
import { softplus, softplusInv } from '../positive';
import { choleskyLower } from '../smallMatrix';
import { triangle } from './grouped';

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
export class TermsEffect {
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

  /** How the marginal likelihood is integrated, in words (the summary's line). */
  integration(): string {
    return 'exact (sparse profiled Gaussian likelihood, Bates et al. 2015)';
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
   * term adds ⟨z, b̂⟩ for a level seen in training and 0 (its prior mean) for a new level.
   * Exact for the Gaussian identity link; other families are refused until their posterior
   * (Laplace or nested quadrature) is stored.
   */
  predict(f: Float64Array, rows: readonly TermRows[], type: 'response' | 'link'): Float64Array {
    const fam = this.ctx.family;
    if (type === 'response' && !(fam.name === 'gaussian' && fam.link === 'identity')) {
      throw new Error(`predict: the response scale of a ${fam.name} model with several random-effect terms is not implemented yet (use type: 'link')`);
    }
    if (rows.length !== this.terms.length) throw new Error(`predict: ${rows.length} random-effect terms given, the model has ${this.terms.length} (${this.terms.map((t) => t.name).join(', ')})`);
    const n = f.length, out = Float64Array.from(f);
    this.terms.forEach((t, k) => {
      const q = t.columns.length, { levels, Z } = rows[k], st = this.state[k];
      if (levels.length !== n || Z.length !== n * q) throw new Error(`predict: term '${t.name}' needs a level and ${q} design value${q === 1 ? '' : 's'} for each of the ${n} rows`);
      const index = new Map(st.levels.map((l, i) => [l, i]));
      for (let j = 0; j < n; j++) {
        const g = index.get(String(levels[j]));
        if (g === undefined) continue; // a new level: the prior mean 0
        for (let a = 0; a < q; a++) out[j] += Z[j * q + a] * st.mode[g * q + a];
      }
    });
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
