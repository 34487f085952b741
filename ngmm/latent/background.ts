// The four background models of the latent NGMM (issue 15; the paper's §5.3, Eq. 69–71):
//   FE–LIN  θ_ij ~ N(Γᵀc_ij + γ₀, Σ)                       (the official PISA model; c = PCA scores)
//   ME–LIN  θ_ij = Γᵀc_ij + γ₀ + g_j ⊙ u_j + ε_ij,  g_j = softplus(Wᵀz_j + w₀)
//   FE–NN   θ_ij ~ N(f(x_ij), Σ)
//   ME–NN   θ_ij = f(x_ij) + g(z_j) ⊙ u_j + ε_ij,  g = softplus(MLP_g(z_j))
// with u_j ~ N(0, I₃) per school and ε_ij ~ N(0, Σ), Σ = LLᵀ full through its log-Cholesky
// parameters [log L₀₀, log L₁₁, log L₂₂, L₁₀, L₂₀, L₂₁] (unconstrained, so Adam needs no
// projection; Pinheiro & Bates 1996). f takes the standardised continuous covariates and one
// embedding per categorical covariate (with a missing-value level), concatenated. The paper's
// neural models are transformer encoders over the covariates; here f and g are MLPs (the
// issue's choice), which the simulator's tabular covariates need no more than.
import * as E from '../../engine/index';
import { embedding, type Embedding } from '../../engine/embedding';
import { softplusInv } from '../positive';

export type BackgroundKind = 'fe-lin' | 'me-lin' | 'fe-nn' | 'me-nn';
export const BACKGROUNDS: readonly BackgroundKind[] = ['fe-lin', 'me-lin', 'fe-nn', 'me-nn'];

export interface BackgroundShape {
  /** Principal components the linear models see. */
  readonly pLin: number;
  /** Continuous inputs of the networks (standardised covariates and missing indicators). */
  readonly pNum: number;
  /** Levels of each categorical covariate (the embedding adds the missing level). */
  readonly catLevels: readonly number[];
  /** School covariates z_j. */
  readonly pZ: number;
}

export interface BackgroundOptions {
  /** Hidden layers of f (default [64, 32]) and of g (default [16]). */
  readonly hidden?: readonly number[];
  readonly hiddenG?: readonly number[];
  /** Embedding width per categorical covariate: min(embedDim, levels) (default 4). */
  readonly embedDim?: number;
  readonly seed?: number;
  /** Initial school-effect scale (default 0.3 per domain) and residual SDs (default 1). */
  readonly scale0?: number;
}

/** One student batch's inputs: PCA scores (linear) or continuous inputs and codes (neural). */
export interface StudentInputs {
  readonly n: number;
  readonly lin?: Float64Array;
  readonly num?: Float64Array;
  readonly cat?: readonly Int32Array[];
}

export class Background {
  readonly chol: E.Tensor;
  private readonly gamma: E.Tensor | null = null;
  private readonly gamma0: E.Tensor | null = null;
  private readonly f: E.MLP | null = null;
  private readonly embeds: Embedding[] = [];
  private readonly w: E.Tensor | null = null;
  private readonly w0: E.Tensor | null = null;
  private readonly gNet: E.MLP | null = null;

  constructor(readonly kind: BackgroundKind, readonly shape: BackgroundShape, readonly options: BackgroundOptions = {}) {
    const seed = options.seed ?? 1;
    const s0 = softplusInv(options.scale0 ?? 0.3);
    this.chol = E.param(new Float64Array(6), [6]);
    if (kind === 'fe-lin' || kind === 'me-lin') {
      this.gamma = E.param(new Float64Array(shape.pLin * 3), [shape.pLin, 3]);
      this.gamma0 = E.param(new Float64Array(3), [3]);
      if (kind === 'me-lin') {
        this.w = E.param(new Float64Array(shape.pZ * 3), [shape.pZ, 3]);
        this.w0 = E.param(new Float64Array(3).fill(s0), [3]);
      }
    } else {
      const dim = options.embedDim ?? 4;
      this.embeds = shape.catLevels.map((l, j) => embedding(l, Math.min(dim, l), { seed: seed * 1000 + j, scale: 1, missing: true }));
      const width = shape.pNum + this.embeds.reduce((s, e) => s + e.dim, 0);
      this.f = E.untracked(() => E.mlp([width, ...(options.hidden ?? [64, 32]), 3], 'relu', seed));
      if (kind === 'me-nn') {
        this.gNet = E.untracked(() => E.mlp([Math.max(1, shape.pZ), ...(options.hiddenG ?? [16]), 3], 'tanh', seed + 7));
        // Start g at scale0 everywhere: zero output weights, the output bias at softplus⁻¹(scale0).
        const ps = this.gNet.parameters();
        ps[ps.length - 2].data.fill(0);
        ps[ps.length - 1].data.fill(s0);
      }
    }
  }

  get mixed(): boolean {
    return this.kind === 'me-lin' || this.kind === 'me-nn';
  }

  /** μ for a batch of students: [n × 3] on the tape. */
  mu(x: StudentInputs): E.Tensor {
    if (this.gamma) {
      if (!x.lin) throw new Error(`${this.kind}: the linear background needs the PCA scores`);
      return E.bias(E.matmul(E.tensor(x.lin, [x.n, this.shape.pLin]), this.gamma), this.gamma0!);
    }
    if (!x.num || !x.cat || x.cat.length !== this.embeds.length) throw new Error(`${this.kind}: the neural background needs the continuous inputs and ${this.embeds.length} categorical codes`);
    const parts = [E.tensor(x.num, [x.n, this.shape.pNum]), ...this.embeds.map((e, j) => e.forward(x.cat![j]))];
    return this.f!.forward(parts.length > 1 ? E.concat(parts, 1) : parts[0]);
  }

  /** g(z_j) for a batch of schools (z: S × pZ): [S × 3] on the tape; null for the FE models. */
  scale(z: Float64Array, S: number): E.Tensor | null {
    if (!this.mixed) return null;
    if (this.w) return E.softplus(E.bias(E.matmul(E.tensor(z, [S, this.shape.pZ]), this.w), this.w0!));
    const zz = this.shape.pZ > 0 ? E.tensor(z, [S, this.shape.pZ]) : E.zeros([S, 1]);
    return E.softplus(this.gNet!.forward(zz));
  }

  /** Σ = LLᵀ (row-major 3 × 3) and L from the current log-Cholesky parameters. */
  sigma(): { L: Float64Array; Sigma: Float64Array } {
    const c = this.chol.data;
    const L = new Float64Array([Math.exp(c[0]), 0, 0, c[3], Math.exp(c[1]), 0, c[4], c[5], Math.exp(c[2])]);
    const Sigma = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) Sigma[i * 3 + j] += L[i * 3 + k] * L[j * 3 + k];
    return { L, Sigma };
  }

  parameters(): E.Tensor[] {
    const out: E.Tensor[] = [this.chol];
    if (this.gamma) out.push(this.gamma, this.gamma0!);
    if (this.w) out.push(this.w, this.w0!);
    if (this.f) out.push(...this.f.parameters(), ...this.embeds.flatMap((e) => e.parameters()));
    if (this.gNet) out.push(...this.gNet.parameters());
    return out;
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
