// The profiled deviance of a Gaussian linear mixed model with one grouping factor, after Bates,
// Mächler, Bolker & Walker (2015), "Fitting linear mixed-effects models using lme4", J. Stat.
// Softw. 67(1), §3. The derivation, the notation and the gradient are in docs/lmm.md.
//
// With one grouping factor the random-effects cross-product Z'Z is block diagonal (one q × q
// block per group), so the sparse Cholesky factor L_θ of lme4 is a set of dense q × q factors,
// and the blocked factorisation of the full penalised least-squares system (eq. 18 of the
// paper: L_θ, R_ZX, R_X) is computed group by group from cross products formed once.
import { backSolve, cholLower, forwardSolve } from './dense';
import { weightedRow } from './driver';

/** Errors in the LMM's inputs or in its numerics; the message names the row or column. */
export class LmmError extends Error {
  override name = 'LmmError';
}

/** Inputs of the profiled deviance; see LmmInput in ./index for their meaning. */
export interface ProfiledInput {
  X: Float64Array; p: number; y: Float64Array; group: Int32Array; G: number;
  Z: Float64Array; q: number; weights?: Float64Array; offset?: Float64Array; reml: boolean;
  xNames?: readonly string[];
}

/** Quantities at a θ after `solve(θ, true)`. */
export interface ProfiledSolution {
  deviance: number;
  /** Penalised weighted residual sum of squares r²(θ) = ‖W^½(y − o − Xβ − ZΛu)‖² + ‖u‖². */
  pwrss: number;
  /** log |L_θ|², log |R_X|². */
  ldL2: number; ldRX2: number;
  beta: Float64Array;
  /** Spherical random effects u (G × q). */
  u: Float64Array;
}

/** Number of θ entries for a q-dimensional random effect: the lower triangle, column by column. */
export const thetaLength = (q: number): number => (q * (q + 1)) / 2;

/** lme4's ordering of θ: Λ's lower triangle by columns; (row, col) of each entry. */
export function thetaIndex(q: number): { row: Int32Array; col: Int32Array; diagonal: Uint8Array } {
  const m = thetaLength(q);
  const row = new Int32Array(m), col = new Int32Array(m), diagonal = new Uint8Array(m);
  let k = 0;
  for (let c = 0; c < q; c++) {
    for (let r = c; r < q; r++, k++) {
      row[k] = r; col[k] = c; diagonal[k] = r === c ? 1 : 0;
    }
  }
  return { row, col, diagonal };
}

/**
 * The profiled deviance −2ℓ(θ) (ML) or the REML criterion, with β and σ² profiled out, and
 * its gradient in θ. Built once from the data; each evaluation costs O(G(q³ + q²p + qp²) + p³)
 * for the factorisation and O(n(p + q)) for the residuals.
 */
export class ProfiledDeviance {
  readonly n: number; readonly p: number; readonly q: number; readonly G: number;
  readonly reml: boolean;
  /** Σ log w_j: lme4's deviance subtracts it, so logLik counts the weights' Jacobian. */
  readonly ldW: number;
  private readonly group: Int32Array;
  // Rows scaled by √w_j: ỹ = √w (y − offset), X̃, Z̃.
  private readonly yt: Float64Array; private readonly Xt: Float64Array; private readonly Zt: Float64Array;
  // Per-group cross products M_g = Z̃_g'Z̃_g (q × q), C_g = Z̃_g'X̃_g (q × p), d_g = Z̃_g'ỹ_g (q).
  private readonly M: Float64Array; private readonly C: Float64Array; private readonly d: Float64Array;
  private readonly XtX: Float64Array; private readonly Xty: Float64Array;
  private readonly yty: number;
  // Workspace, overwritten by each evaluation.
  private readonly lambda: Float64Array;
  private readonly L: Float64Array;     // G × q × q lower factors of A_g = Λ'M_gΛ + I
  private readonly T: Float64Array;     // G × q × q: M_g Λ
  private readonly RZX: Float64Array;   // G × q × p: L_g⁻¹ Λ' C_g
  private readonly LX: Float64Array;    // p × p lower factor R_X' of X̃'X̃ − Σ R_ZX'R_ZX
  readonly beta: Float64Array;
  readonly u: Float64Array;             // G × q
  private readonly b: Float64Array;     // G × q: Λu
  private readonly zte: Float64Array;   // G × q: Z̃_g' e_g
  private readonly xte: Float64Array;   // p: X̃' e
  private readonly rhsU: Float64Array; private readonly rhsB: Float64Array;
  private readonly tmpQP: Float64Array; private readonly tmpQP2: Float64Array;
  private readonly tmpQQ: Float64Array; private readonly tmpPP: Float64Array;
  private pwrss = NaN; private ldL2 = NaN; private ldRX2 = NaN;
  /** Calls of evaluate() so far. */
  evaluations = 0;

  constructor(inp: ProfiledInput) {
    const { X, p, y, group, G, Z, q } = inp;
    const n = y.length;
    const name = (c: number): string => (inp.xNames?.[c] !== undefined ? `'${inp.xNames[c]}'` : `${c + 1}`);
    if (!Number.isInteger(p) || p < 0) throw new LmmError(`p must be a non-negative integer (got ${p})`);
    if (!Number.isInteger(q) || q < 1) throw new LmmError(`q must be a positive integer (got ${q})`);
    if (!Number.isInteger(G) || G < 1) throw new LmmError(`G must be a positive integer (got ${G})`);
    if (n < 1) throw new LmmError('the response has no observations');
    if (X.length !== n * p) throw new LmmError(`X has ${X.length} values; ${n} rows × ${p} columns need ${n * p}`);
    if (Z.length !== n * q) throw new LmmError(`Z has ${Z.length} values; ${n} rows × ${q} columns need ${n * q}`);
    if (group.length !== n) throw new LmmError(`group has ${group.length} entries for ${n} observations`);
    if (inp.weights && inp.weights.length !== n) throw new LmmError(`weights has ${inp.weights.length} entries for ${n} observations`);
    if (inp.offset && inp.offset.length !== n) throw new LmmError(`offset has ${inp.offset.length} entries for ${n} observations`);
    const dof = inp.reml ? n - p : n;
    if (dof < 1) throw new LmmError(`${n} observations leave no residual degrees of freedom for ${p} fixed effects${inp.reml ? ' under REML' : ''}`);
    this.n = n; this.p = p; this.q = q; this.G = G; this.reml = inp.reml; this.group = group;

    const yt = new Float64Array(n), Xt = new Float64Array(n * p), Zt = new Float64Array(n * q);
    const rows = new Int32Array(G);
    let ldW = 0;
    for (let j = 0; j < n; j++) {
      const g = group[j];
      if (!(g >= 0 && g < G)) throw new LmmError(`row ${j + 1}: group index ${g} is outside 0..${G - 1}`);
      rows[g]++;
      const w = weightedRow(inp, j, name, yt, Xt);
      ldW += Math.log(w);
      const s = Math.sqrt(w);
      for (let a = 0; a < q; a++) {
        const v = Z[j * q + a];
        if (!Number.isFinite(v)) throw new LmmError(`row ${j + 1}, random-effect column ${a + 1}: ${v} is not a finite number`);
        Zt[j * q + a] = s * v;
      }
    }
    for (let g = 0; g < G; g++) if (rows[g] === 0) throw new LmmError(`group ${g} has no observations (G = ${G})`);
    this.ldW = ldW;
    this.yt = yt; this.Xt = Xt; this.Zt = Zt;

    const M = new Float64Array(G * q * q), C = new Float64Array(G * q * p), d = new Float64Array(G * q);
    const XtX = new Float64Array(p * p), Xty = new Float64Array(p);
    for (let j = 0; j < n; j++) {
      const g = group[j];
      for (let a = 0; a < q; a++) {
        const za = Zt[j * q + a];
        for (let b = 0; b < q; b++) M[g * q * q + a * q + b] += za * Zt[j * q + b];
        for (let c = 0; c < p; c++) C[g * q * p + a * p + c] += za * Xt[j * p + c];
        d[g * q + a] += za * yt[j];
      }
      for (let a = 0; a < p; a++) {
        const xa = Xt[j * p + a];
        for (let c = 0; c <= a; c++) XtX[a * p + c] += xa * Xt[j * p + c];
        Xty[a] += xa * yt[j];
      }
    }
    for (let a = 0; a < p; a++) for (let c = 0; c < a; c++) XtX[c * p + a] = XtX[a * p + c];
    this.M = M; this.C = C; this.d = d; this.XtX = XtX; this.Xty = Xty;
    let yty = 0;
    for (let j = 0; j < n; j++) yty += yt[j] * yt[j];
    this.yty = yty;
    checkRank(XtX, p, name);

    this.lambda = new Float64Array(q * q);
    this.L = new Float64Array(G * q * q); this.T = new Float64Array(G * q * q);
    this.RZX = new Float64Array(G * q * p); this.LX = new Float64Array(p * p);
    this.beta = new Float64Array(p); this.u = new Float64Array(G * q);
    this.b = new Float64Array(G * q); this.zte = new Float64Array(G * q); this.xte = new Float64Array(p);
    this.rhsU = new Float64Array(G * q); this.rhsB = new Float64Array(p);
    this.tmpQP = new Float64Array(q * p); this.tmpQP2 = new Float64Array(q * p);
    this.tmpQQ = new Float64Array(q * q); this.tmpPP = new Float64Array(p * p);
  }

  /**
   * The deviance at θ (ML: −2 log-likelihood; REML: lme4's REML criterion), and its gradient
   * into `grad` when given. `refine` adds one step of iterative refinement to the solution
   * (β, u) of the penalised least-squares system, for the final estimates.
   */
  evaluate(theta: ArrayLike<number>, grad?: Float64Array, refine = false): number {
    const { p, q, G } = this;
    this.evaluations++;
    this.setLambda(theta);
    this.factor();
    for (let g = 0; g < G; g++) this.lambdaT(this.d, g * q, 1, this.rhsU, g * q);
    this.rhsB.set(this.Xty);
    this.solveSystem(this.rhsU, this.rhsB, this.u, this.beta);
    this.residuals(refine);
    if (refine) {
      // Residual of the normal equations, from rows (accurate), solved with the same factors.
      const du = this.rhsU, dB = this.rhsB;
      for (let g = 0; g < G; g++) {
        this.lambdaT(this.zte, g * q, 1, du, g * q);
        for (let a = 0; a < q; a++) du[g * q + a] -= this.u[g * q + a];
      }
      dB.set(this.xte);
      const corrU = new Float64Array(G * q), corrB = new Float64Array(p);
      this.solveSystem(du, dB, corrU, corrB);
      for (let k = 0; k < G * q; k++) this.u[k] += corrU[k];
      for (let k = 0; k < p; k++) this.beta[k] += corrB[k];
      this.residuals(false);
    }
    const dev = this.devianceValue();
    if (grad) this.gradient(grad);
    // Residuals at rounding level (a relative norm below 1e-13, some 500 ulps) mean an exact
    // fit, where σ̂ is rounding noise and the deviance meaningless.
    if (!(this.pwrss > 1e-26 * this.yty)) {
      throw new LmmError('the model fits the response exactly (residual sum of squares at rounding level): the residual variance is not identified');
    }
    if (!Number.isFinite(dev)) throw new LmmError(`the deviance is not finite at theta = [${Array.from(theta).join(', ')}]`);
    return dev;
  }

  /** The solution at the last evaluated θ. */
  solution(): ProfiledSolution {
    return { deviance: this.devianceValue(), pwrss: this.pwrss, ldL2: this.ldL2, ldRX2: this.ldRX2, beta: this.beta.slice(), u: this.u.slice() };
  }

  /** σ̂² at the last evaluated θ: r²/n (ML) or r²/(n − p) (REML). */
  sigma2(): number {
    return this.pwrss / (this.reml ? this.n - this.p : this.n);
  }

  /** (R_X'R_X)⁻¹ at the last evaluated θ (p × p); vcov(β̂) is σ̂² times it. */
  unscaledVcov(): Float64Array {
    return this.sInverse(new Float64Array(this.p * this.p));
  }

  /** b = Λu per group (G × q): the conditional modes on the data's scale. */
  ranef(): Float64Array {
    return this.b.slice();
  }

  /** σ̂² Λ A_g⁻¹ Λ' per group (G × q × q): lme4's condVar (conditional on β̂). */
  condVar(): Float64Array {
    const { q, G } = this;
    const s2 = this.sigma2();
    const out = new Float64Array(G * q * q);
    const W = this.tmpQQ;
    for (let g = 0; g < G; g++) {
      // W = L_g⁻¹ Λ', so Λ A⁻¹ Λ' = W'W.
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) W[a * q + b] = this.lambda[b * q + a];
      forwardSolve(this.L, g * q * q, q, W, 0, q);
      for (let a = 0; a < q; a++) {
        for (let b = 0; b < q; b++) {
          let s = 0;
          for (let m = 0; m < q; m++) s += W[m * q + a] * W[m * q + b];
          out[g * q * q + a * q + b] = s2 * s;
        }
      }
    }
    return out;
  }

  /** Λ (q × q, row-major) at the last evaluated θ. */
  lambdaMatrix(): Float64Array {
    return this.lambda.slice();
  }

  private devianceValue(): number {
    const { n, p } = this;
    if (this.reml) {
      const m = n - p;
      return this.ldL2 - this.ldW + this.ldRX2 + m * (1 + Math.log((2 * Math.PI * this.pwrss) / m));
    }
    return this.ldL2 - this.ldW + n * (1 + Math.log((2 * Math.PI * this.pwrss) / n));
  }

  private setLambda(theta: ArrayLike<number>): void {
    const q = this.q;
    if (theta.length !== thetaLength(q)) throw new LmmError(`theta has ${theta.length} entries; q = ${q} needs ${thetaLength(q)}`);
    this.lambda.fill(0);
    let k = 0;
    for (let c = 0; c < q; c++) {
      for (let r = c; r < q; r++, k++) {
        const v = theta[k];
        if (!Number.isFinite(v)) throw new LmmError(`theta[${k}] = ${v} is not finite`);
        this.lambda[r * q + c] = v;
      }
    }
  }

  /** out[oo..] (q × ncol) = Λ' src[so..] (q × ncol). */
  private lambdaT(src: Float64Array, so: number, ncol: number, out: Float64Array, oo: number): void {
    const q = this.q, lam = this.lambda;
    for (let a = 0; a < q; a++) {
      for (let c = 0; c < ncol; c++) {
        let s = 0;
        for (let m = a; m < q; m++) s += lam[m * q + a] * src[so + m * ncol + c];
        out[oo + a * ncol + c] = s;
      }
    }
  }

  /** L_g, R_ZX,g, and R_X from the cross products at the current Λ; log-determinants. */
  private factor(): void {
    const { p, q, G } = this;
    const lam = this.lambda, M = this.M, T = this.T, L = this.L, RZX = this.RZX, LX = this.LX;
    let ldL2 = 0;
    LX.set(this.XtX);
    for (let g = 0; g < G; g++) {
      const o = g * q * q;
      for (let a = 0; a < q; a++) {
        for (let b = 0; b < q; b++) {
          let s = 0;
          for (let m = b; m < q; m++) s += M[o + a * q + m] * lam[m * q + b];
          T[o + a * q + b] = s;
        }
      }
      for (let a = 0; a < q; a++) {
        for (let b = 0; b <= a; b++) {
          let s = a === b ? 1 : 0;
          for (let m = a; m < q; m++) s += lam[m * q + a] * T[o + m * q + b];
          L[o + a * q + b] = s;
          L[o + b * q + a] = s;
        }
      }
      // A_g ⪰ I, so a failure here means θ or the data overflowed.
      if (cholLower(L, o, q) >= 0) throw new LmmError(`the random-effects system of group ${g} is not positive definite at this theta (overflow?)`);
      for (let a = 0; a < q; a++) ldL2 += 2 * Math.log(L[o + a * q + a]);
      this.lambdaT(this.C, g * q * p, p, RZX, g * q * p);
      forwardSolve(L, o, q, RZX, g * q * p, p);
      for (let a = 0; a < p; a++) {
        for (let c = 0; c <= a; c++) {
          let s = 0;
          for (let m = 0; m < q; m++) s += RZX[g * q * p + m * p + a] * RZX[g * q * p + m * p + c];
          LX[a * p + c] -= s;
        }
      }
    }
    for (let a = 0; a < p; a++) for (let c = 0; c < a; c++) LX[c * p + a] = LX[a * p + c];
    const bad = cholLower(LX, 0, p);
    if (bad >= 0) throw new LmmError(`the fixed-effect system lost positive definiteness at column ${bad + 1} (numerically rank-deficient fixed-effect design)`);
    let ldRX2 = 0;
    for (let a = 0; a < p; a++) ldRX2 += 2 * Math.log(LX[a * p + a]);
    this.ldL2 = ldL2; this.ldRX2 = ldRX2;
  }

  /**
   * Solves the penalised least-squares system [A  Λ'C; C'Λ  X̃'X̃] (u; β) = (rU; rB) with the
   * blocked factors (eq. 18 of Bates et al. 2015). rU and rB are overwritten.
   */
  private solveSystem(rU: Float64Array, rB: Float64Array, u: Float64Array, beta: Float64Array): void {
    const { p, q, G } = this;
    const RZX = this.RZX;
    for (let g = 0; g < G; g++) {
      forwardSolve(this.L, g * q * q, q, rU, g * q, 1);
      for (let c = 0; c < p; c++) {
        let s = 0;
        for (let m = 0; m < q; m++) s += RZX[g * q * p + m * p + c] * rU[g * q + m];
        rB[c] -= s;
      }
    }
    forwardSolve(this.LX, 0, p, rB, 0, 1);
    backSolve(this.LX, 0, p, rB, 0, 1);
    beta.set(rB);
    for (let g = 0; g < G; g++) {
      for (let a = 0; a < q; a++) {
        let s = rU[g * q + a];
        for (let c = 0; c < p; c++) s -= RZX[g * q * p + a * p + c] * beta[c];
        u[g * q + a] = s;
      }
      backSolve(this.L, g * q * q, q, u, g * q, 1);
    }
  }

  /**
   * r² from the rows (not by subtracting squared norms from ‖ỹ‖², which cancels when the
   * response is far from zero), with Z̃_g'e_g per group, and X̃'e when `withXte`.
   */
  private residuals(withXte: boolean): void {
    const { n, p, q, G } = this;
    const lam = this.lambda, u = this.u, b = this.b, zte = this.zte, xte = this.xte;
    const Xt = this.Xt, Zt = this.Zt, yt = this.yt, beta = this.beta, group = this.group;
    let r2 = 0;
    for (let g = 0; g < G; g++) {
      for (let a = 0; a < q; a++) {
        let s = 0;
        for (let m = 0; m <= a; m++) s += lam[a * q + m] * u[g * q + m];
        b[g * q + a] = s;
        r2 += u[g * q + a] * u[g * q + a];
      }
    }
    zte.fill(0);
    if (withXte) xte.fill(0);
    for (let j = 0; j < n; j++) {
      const g = group[j];
      let f = 0;
      for (let c = 0; c < p; c++) f += Xt[j * p + c] * beta[c];
      for (let a = 0; a < q; a++) f += Zt[j * q + a] * b[g * q + a];
      const e = yt[j] - f;
      r2 += e * e;
      for (let a = 0; a < q; a++) zte[g * q + a] += Zt[j * q + a] * e;
      if (withXte) for (let c = 0; c < p; c++) xte[c] += Xt[j * p + c] * e;
    }
    this.pwrss = r2;
  }

  /** (R_X'R_X)⁻¹ into out (p × p). */
  private sInverse(out: Float64Array): Float64Array {
    const p = this.p;
    out.fill(0);
    for (let a = 0; a < p; a++) out[a * p + a] = 1;
    forwardSolve(this.LX, 0, p, out, 0, p);
    backSolve(this.LX, 0, p, out, 0, p);
    return out;
  }

  /**
   * ∂D/∂θ_k for Λ's entry (r, c) (docs/lmm.md, "The gradient"):
   *   ∂ log|L|²  = 2 Σ_g (M_g Λ A_g⁻¹)_rc
   *   ∂ r²       = −2 Σ_g (Z̃_g'e_g)_r u_gc
   *   ∂ log|R_X|² = −2 Σ_g ((C_g − M_g Λ P_g) S⁻¹ P_g')_rc,  P_g = A_g⁻¹ Λ' C_g, S = R_X'R_X.
   */
  private gradient(grad: Float64Array): void {
    const { n, p, q, G } = this;
    const Gl = new Float64Array(q * q), Gr = new Float64Array(q * q), Gx = new Float64Array(q * q);
    const Ainv = this.tmpQQ, T = this.T, L = this.L;
    const Sinv = this.reml ? this.sInverse(this.tmpPP) : null;
    const P = this.tmpQP, Q = this.tmpQP2;
    for (let g = 0; g < G; g++) {
      const o = g * q * q;
      Ainv.fill(0);
      for (let a = 0; a < q; a++) Ainv[a * q + a] = 1;
      forwardSolve(L, o, q, Ainv, 0, q);
      backSolve(L, o, q, Ainv, 0, q);
      for (let a = 0; a < q; a++) {
        for (let b = 0; b < q; b++) {
          let s = 0;
          for (let m = 0; m < q; m++) s += T[o + a * q + m] * Ainv[m * q + b];
          Gl[a * q + b] += s;
          Gr[a * q + b] += this.zte[g * q + a] * this.u[g * q + b];
        }
      }
      if (Sinv) {
        // P = L⁻ᵀ R_ZX,g; Q = C_g − T_g P.
        P.set(this.RZX.subarray(g * q * p, (g + 1) * q * p));
        backSolve(L, o, q, P, 0, p);
        for (let a = 0; a < q; a++) {
          for (let c = 0; c < p; c++) {
            let s = this.C[g * q * p + a * p + c];
            for (let m = 0; m < q; m++) s -= T[o + a * q + m] * P[m * p + c];
            Q[a * p + c] = s;
          }
        }
        // Gx += Q S⁻¹ P'
        for (let a = 0; a < q; a++) {
          for (let c = 0; c < p; c++) {
            let s = 0;
            for (let m = 0; m < p; m++) s += Q[a * p + m] * Sinv[m * p + c];
            for (let b = 0; b < q; b++) Gx[a * q + b] += s * P[b * p + c];
          }
        }
      }
    }
    const dof = this.reml ? n - p : n;
    let k = 0;
    for (let c = 0; c < q; c++) {
      for (let r = c; r < q; r++, k++) {
        let v = 2 * Gl[r * q + c] - (2 * dof * Gr[r * q + c]) / this.pwrss;
        if (Sinv) v -= 2 * Gx[r * q + c];
        grad[k] = v;
      }
    }
  }
}

/**
 * Refuses a fixed-effect design that is rank deficient to working precision: the Cholesky of
 * X̃'X̃ scaled to unit diagonal, with a pivot threshold of 1e-10 (a squared condition number
 * near 1e10, beyond which β loses more than half its digits). Upstream, the model frame
 * drops aliased columns as lme4 does; this is the last line of defence.
 */
export function checkRank(XtX: Float64Array, p: number, name: (c: number) => string): void {
  const a = new Float64Array(p * p);
  const s = new Float64Array(p);
  for (let c = 0; c < p; c++) {
    if (!(XtX[c * p + c] > 0)) throw new LmmError(`fixed-effect column ${name(c)} is zero in every row`);
    s[c] = 1 / Math.sqrt(XtX[c * p + c]);
  }
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) a[i * p + j] = XtX[i * p + j] * s[i] * s[j];
  for (let j = 0; j < p; j++) {
    let dd = a[j * p + j];
    for (let m = 0; m < j; m++) dd -= a[j * p + m] * a[j * p + m];
    if (!(dd > 1e-10)) throw new LmmError(`fixed-effect column ${name(j)} is (nearly) a linear combination of the columns before it`);
    const l = Math.sqrt(dd);
    a[j * p + j] = l;
    for (let i = j + 1; i < p; i++) {
      let v = a[i * p + j];
      for (let m = 0; m < j; m++) v -= a[i * p + m] * a[j * p + m];
      a[i * p + j] = v / l;
    }
  }
}
