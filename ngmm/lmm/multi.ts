// Exact Gaussian linear mixed models with several random-effect terms — crossed (1|a) + (1|b),
// nested (1|a/b) = (1|a) + (1|a:b), uncorrelated (x||g) — by the sparse profiled deviance of
// Bates, Mächler, Bolker & Walker (2015), J. Stat. Softw. 67(1), §3, with the sparse Cholesky
// of ../sparse. With one term it is the computation of ./profiled (blocked by group there).
// The math and the choices are in docs/sparse.md.
import { SparseCholesky, rowPairEntries, rowPairPattern } from '../sparse/index';
import { backSolve, cholLower, forwardSolve } from './dense';
import { fitTheta, termCovariance, weightedRow, type LmmFitBase, type LmmInputBase } from './driver';
import { checkRank, LmmError, thetaIndex } from './profiled';

/** One random-effect term `(z | group)`: its grouping factor and its per-row design. */
export interface LmmTerm {
  /** Used in messages and results, e.g. 'Subject' or 'cask:batch'. */
  name: string;
  /** Level of each row, 0..G−1; every level needs at least one row. */
  group: Int32Array;
  G: number;
  /** n × q row-major, e.g. the columns (1, x) of `(1 + x | g)`. */
  Z: Float64Array;
  q: number;
  /** `(z || g)`: the q effects are independent (Λ_k diagonal, q entries of θ). */
  diagonal?: boolean;
}

export interface MultiLmmInput extends LmmInputBase {
  terms: readonly LmmTerm[];
  /**
   * Conditional SDs of the random effects need the diagonal blocks of A⁻¹, from the selected
   * inverse (about one factorisation's cost); skipped (null) when false. Default true.
   */
  condSd?: boolean;
}

export interface MultiLmmTermFit {
  name: string;
  /** σ̂²Λ_kΛ_k' (q × q), as lme4's VarCorr() for the term. */
  Sigma: Float64Array;
  /** Conditional modes b = Λ_k u (G × q), as lme4's ranef(). */
  ranef: Float64Array;
  /** Conditional SDs given β̂ and θ̂ (G × q), as ranef(condVar = TRUE); null when not asked. */
  condSd: Float64Array | null;
}

export interface MultiLmmFit extends LmmFitBase {
  /** The terms' θ concatenated in the order of `terms` (lme4's getME(, "theta") for the same order). */
  theta: Float64Array;
  terms: MultiLmmTermFit[];
  /** Entries of the sparse factor L (a measure of fill). */
  nnzL: number;
}

/** Layout of one term's θ: which (row, col) of Λ_k each entry is. */
interface TermLayout {
  q: number; G: number;
  /** First random-effect column of the term (its columns are offset + g q + a). */
  offset: number;
  /** First θ entry of the term. */
  t0: number;
  row: Int32Array; col: Int32Array; diagonal: Uint8Array;
}

/** θ layout of a term: the lower triangle by columns (lme4), or only the diagonal for `||`. */
function termTheta(q: number, diagonal: boolean): { row: Int32Array; col: Int32Array; diagonal: Uint8Array } {
  if (!diagonal) return thetaIndex(q);
  const row = new Int32Array(q), col = new Int32Array(q), d = new Uint8Array(q).fill(1);
  for (let a = 0; a < q; a++) { row[a] = a; col[a] = a; }
  return { row, col, diagonal: d };
}

/**
 * The profiled deviance (ML) or REML criterion of a Gaussian LMM with several terms, at θ.
 *
 * Random-effect columns are ordered term by term, group by group, component within group (as
 * lme4's Z). The pattern of A = Λ'Z̃'Z̃Λ + I is fixed by the grouping factors alone (Λ is block
 * diagonal with one dense q_k × q_k block per group), so the ordering and the symbolic analysis
 * are done once here and each θ costs one numeric factorisation.
 */
export class MultiProfiledDeviance {
  readonly n: number; readonly p: number; readonly reml: boolean;
  /** Total random-effect columns Q = Σ G_k q_k, and θ's length. */
  readonly Q: number; readonly m: number;
  readonly ldW: number;
  readonly layouts: readonly TermLayout[];
  readonly names: readonly string[];
  readonly chol: SparseCholesky;
  /** Calls of evaluate() so far. */
  evaluations = 0;
  // s = Σ q_k random-effect columns touched by each row: their indices and √w-scaled z values.
  private readonly s: number;
  private readonly cols: Int32Array;     // n × s
  private readonly zt: Float64Array;     // n × s
  private readonly v: Float64Array;      // n × s: rows of Z̃Λ restricted to the row's columns
  private readonly pairPos: Int32Array;  // n × s(s+1)/2: position in A's values of each product
  private readonly lPairPos: Int32Array; // the same pairs' positions in L's pattern (selected inverse)
  private readonly diagPos: Int32Array;  // Q
  private readonly Avals: Float64Array;
  private readonly yt: Float64Array; private readonly Xt: Float64Array;
  private readonly XtX: Float64Array; private readonly Xty: Float64Array;
  private readonly yty: number;
  private readonly lambda: Float64Array[];  // per term, q × q row-major lower
  private readonly RZX: Float64Array;    // p columns of length Q, permuted order: L⁻¹PΛ'Z̃'X̃
  private readonly cu: Float64Array;     // Q, permuted
  private readonly LX: Float64Array;     // p × p lower factor R_X'
  readonly beta: Float64Array;
  /** Spherical random effects u (Q, original order). */
  readonly u: Float64Array;
  private readonly work: Float64Array;   // Q
  private readonly invPerm: Int32Array;  // position of each random-effect column in L's order
  private pwrss = NaN; private ldL2 = NaN; private ldRX2 = NaN;
  /** Scaled residuals ẽ of the last evaluation (n), and whether it succeeded. */
  private readonly e: Float64Array;
  private atLast = false;

  constructor(inp: Omit<MultiLmmInput, 'theta0' | 'signal' | 'onIteration' | 'condSd'>) {
    const { X, p, y, terms } = inp;
    const n = y.length;
    const name = (c: number): string => (inp.xNames?.[c] !== undefined ? `'${inp.xNames[c]}'` : `${c + 1}`);
    if (!Number.isInteger(p) || p < 0) throw new LmmError(`p must be a non-negative integer (got ${p})`);
    if (n < 1) throw new LmmError('the response has no observations');
    if (X.length !== n * p) throw new LmmError(`X has ${X.length} values; ${n} rows × ${p} columns need ${n * p}`);
    if (terms.length < 1) throw new LmmError('there are no random-effect terms');
    if (inp.weights && inp.weights.length !== n) throw new LmmError(`weights has ${inp.weights.length} entries for ${n} observations`);
    if (inp.offset && inp.offset.length !== n) throw new LmmError(`offset has ${inp.offset.length} entries for ${n} observations`);
    const dof = inp.reml ? n - p : n;
    if (dof < 1) throw new LmmError(`${n} observations leave no residual degrees of freedom for ${p} fixed effects${inp.reml ? ' under REML' : ''}`);
    this.n = n; this.p = p; this.reml = inp.reml;

    const layouts: TermLayout[] = [];
    let Q = 0, m = 0, s = 0;
    for (const [k, t] of terms.entries()) {
      const label = `random-effect term ${k + 1} ('${t.name}')`;
      if (!Number.isInteger(t.q) || t.q < 1) throw new LmmError(`${label}: q must be a positive integer (got ${t.q})`);
      if (!Number.isInteger(t.G) || t.G < 1) throw new LmmError(`${label}: G must be a positive integer (got ${t.G})`);
      if (t.group.length !== n) throw new LmmError(`${label}: group has ${t.group.length} entries for ${n} observations`);
      if (t.Z.length !== n * t.q) throw new LmmError(`${label}: Z has ${t.Z.length} values; ${n} rows × ${t.q} columns need ${n * t.q}`);
      const rows = new Int32Array(t.G);
      for (let j = 0; j < n; j++) {
        const g = t.group[j];
        if (!(g >= 0 && g < t.G)) throw new LmmError(`${label}, row ${j + 1}: group index ${g} is outside 0..${t.G - 1}`);
        rows[g]++;
        for (let a = 0; a < t.q; a++) {
          const z = t.Z[j * t.q + a];
          if (!Number.isFinite(z)) throw new LmmError(`${label}, row ${j + 1}, random-effect column ${a + 1}: ${z} is not a finite number`);
        }
      }
      for (let g = 0; g < t.G; g++) if (rows[g] === 0) throw new LmmError(`${label}: level ${g} has no observations (G = ${t.G})`);
      const lay = termTheta(t.q, t.diagonal === true);
      layouts.push({ q: t.q, G: t.G, offset: Q, t0: m, ...lay });
      Q += t.G * t.q; m += lay.row.length; s += t.q;
    }
    this.layouts = layouts; this.names = terms.map((t) => t.name);
    this.Q = Q; this.m = m; this.s = s;

    const yt = new Float64Array(n), Xt = new Float64Array(n * p);
    const cols = new Int32Array(n * s), zt = new Float64Array(n * s);
    let ldW = 0;
    for (let j = 0; j < n; j++) {
      const w = weightedRow(inp, j, name, yt, Xt);
      ldW += Math.log(w);
      const sw = Math.sqrt(w);
      let slot = 0;
      for (const [k, t] of terms.entries()) {
        const base = layouts[k].offset + t.group[j] * t.q;
        for (let a = 0; a < t.q; a++, slot++) {
          cols[j * s + slot] = base + a;
          zt[j * s + slot] = sw * t.Z[j * t.q + a];
        }
      }
    }
    this.ldW = ldW; this.yt = yt; this.Xt = Xt; this.cols = cols; this.zt = zt;
    this.v = new Float64Array(n * s);
    this.e = new Float64Array(n);

    const XtX = new Float64Array(p * p), Xty = new Float64Array(p);
    for (let j = 0; j < n; j++) {
      for (let a = 0; a < p; a++) {
        Xty[a] += Xt[j * p + a] * yt[j];
        for (let c = 0; c < p; c++) XtX[a * p + c] += Xt[j * p + a] * Xt[j * p + c];
      }
    }
    this.XtX = XtX; this.Xty = Xty;
    let yty = 0;
    for (let j = 0; j < n; j++) yty += yt[j] * yt[j];
    this.yty = yty;
    checkRank(XtX, p, name);

    // Pattern of A's lower triangle: the diagonal, and (c1, c2) for every two columns met in one row.
    const { pattern, diagPos, pairPos } = rowPairPattern(cols, n, s, Q, 'A');
    const { colPtr, rowIdx } = pattern;
    this.pairPos = pairPos; this.diagPos = diagPos;
    this.Avals = new Float64Array(colPtr[Q]);
    // Ties in minimum degree go to the term with more levels (lme4 orders its terms so).
    const rank = terms.map((_, k) => k).sort((a, b) => terms[b].G - terms[a].G || a - b);
    const termPriority = new Int32Array(terms.length);
    rank.forEach((k, r) => { termPriority[k] = r; });
    const priority = new Int32Array(Q);
    for (const [k, lay] of layouts.entries()) priority.fill(termPriority[k], lay.offset, lay.offset + lay.G * lay.q);
    this.chol = new SparseCholesky({ n: Q, colPtr, rowIdx }, { priority });

    this.lambda = layouts.map((l) => new Float64Array(l.q * l.q));
    this.RZX = new Float64Array(Q * p);
    this.cu = new Float64Array(Q);
    this.LX = new Float64Array(p * p);
    this.beta = new Float64Array(p);
    this.u = new Float64Array(Q);
    this.work = new Float64Array(Q);
    this.invPerm = new Int32Array(Q);
    for (let k = 0; k < Q; k++) this.invPerm[this.chol.perm[k]] = k;
    this.lPairPos = rowPairEntries(this.chol, cols, n, s);
  }

  /** Λ_k (q × q row-major) of each term at θ. */
  private setLambda(theta: ArrayLike<number>): void {
    if (theta.length !== this.m) throw new LmmError(`theta has ${theta.length} entries; the terms need ${this.m}`);
    for (const [k, l] of this.layouts.entries()) {
      const lam = this.lambda[k];
      lam.fill(0);
      for (let e = 0; e < l.row.length; e++) {
        const v = theta[l.t0 + e];
        if (!Number.isFinite(v)) throw new LmmError(`theta entry ${l.t0 + e + 1} is ${v}, not a finite number`);
        lam[l.row[e] * l.q + l.col[e]] = v;
      }
    }
  }

  /**
   * Factorisation at θ: L (sparse), R_ZX = L⁻¹PΛ'Z̃'X̃, R_X, c_u = L⁻¹PΛ'Z̃'ỹ; log|L|², log|R_X|².
   */
  private factorAt(theta: ArrayLike<number>): void {
    const { n, p, s, Q, cols, zt, v, pairPos, diagPos, Avals, layouts, chol } = this;
    this.setLambda(theta);
    // Rows of Z̃Λ: slot (k, a) of row j holds Σ_r z̃_jkr Λ_k[r, a].
    for (let j = 0; j < n; j++) {
      let slot = 0;
      for (const [k, l] of layouts.entries()) {
        const lam = this.lambda[k], q = l.q, o = j * s + slot;
        for (let a = 0; a < q; a++) {
          let acc = 0;
          for (let r = a; r < q; r++) acc += zt[o + r] * lam[r * q + a];
          v[o + a] = acc;
        }
        slot += q;
      }
    }
    Avals.fill(0);
    for (let c = 0; c < Q; c++) Avals[diagPos[c]] = 1;
    const np = (s * (s + 1)) / 2;
    for (let j = 0; j < n; j++) {
      let k = 0;
      for (let t1 = 0; t1 < s; t1++) {
        const v1 = v[j * s + t1];
        for (let t2 = 0; t2 <= t1; t2++, k++) Avals[pairPos[j * np + k]] += v1 * v[j * s + t2];
      }
    }
    const bad = chol.factor(Avals);
    if (bad >= 0) throw new LmmError(`the random-effect system Λ'Z'ZΛ + I lost positive definiteness at its column ${bad + 1} (theta too large)`);
    this.ldL2 = chol.logDet();
    // P Λ'Z̃'X̃ and P Λ'Z̃'ỹ, accumulated at the permuted positions, then L⁻¹.
    const inv = this.invPerm;
    const RZX = this.RZX, cu = this.cu, Xt = this.Xt, yt = this.yt;
    RZX.fill(0); cu.fill(0);
    for (let j = 0; j < n; j++) {
      for (let t = 0; t < s; t++) {
        const pc = inv[cols[j * s + t]], vt = v[j * s + t];
        cu[pc] += vt * yt[j];
        for (let c = 0; c < p; c++) RZX[c * Q + pc] += vt * Xt[j * p + c];
      }
    }
    for (let c = 0; c < p; c++) chol.solveL(RZX, c * Q);
    chol.solveL(cu);
    const LX = this.LX;
    for (let a = 0; a < p; a++) {
      for (let c = 0; c <= a; c++) {
        let acc = 0;
        for (let i = 0; i < Q; i++) acc += RZX[a * Q + i] * RZX[c * Q + i];
        LX[a * p + c] = this.XtX[a * p + c] - acc;
        LX[c * p + a] = LX[a * p + c];
      }
    }
    const badX = cholLower(LX, 0, p);
    if (badX >= 0) throw new LmmError(`the fixed-effect system lost positive definiteness at column ${badX + 1} (numerically rank-deficient fixed-effect design)`);
    let ldRX2 = 0;
    for (let a = 0; a < p; a++) ldRX2 += 2 * Math.log(LX[a * p + a]);
    this.ldRX2 = ldRX2;
  }

  /**
   * Solves [A  Λ'Z̃'X̃; X̃'Z̃Λ  X̃'X̃] (u; β) = (a; b) by the blocked factors (Bates et al. 2015,
   * eq. 18), given rU = L⁻¹Pa (permuted; overwritten) and rB = b (overwritten).
   */
  private solveFromForward(rU: Float64Array, rB: Float64Array, u: Float64Array, beta: Float64Array): void {
    const { p, Q, RZX, chol } = this;
    for (let c = 0; c < p; c++) {
      let acc = 0;
      for (let i = 0; i < Q; i++) acc += RZX[c * Q + i] * rU[i];
      rB[c] -= acc;
    }
    forwardSolve(this.LX, 0, p, rB, 0, 1);
    backSolve(this.LX, 0, p, rB, 0, 1);
    beta.set(rB);
    for (let c = 0; c < p; c++) for (let i = 0; i < Q; i++) rU[i] -= RZX[c * Q + i] * beta[c];
    chol.solveLt(rU);
    chol.unpermute(rU, u);
  }

  /**
   * r² from the rows (not ‖ỹ‖² minus squared norms, which cancels for a response far from
   * zero; docs/lmm.md), with the scaled residuals ẽ_j into e.
   */
  private residuals(e: Float64Array): number {
    const { n, p, s, cols, v, Xt, yt, beta, u } = this;
    let r2 = 0;
    for (let i = 0; i < this.Q; i++) r2 += u[i] * u[i];
    for (let j = 0; j < n; j++) {
      let f = 0;
      for (let c = 0; c < p; c++) f += Xt[j * p + c] * beta[c];
      for (let t = 0; t < s; t++) f += v[j * s + t] * u[cols[j * s + t]];
      const ej = yt[j] - f;
      e[j] = ej;
      r2 += ej * ej;
    }
    return r2;
  }

  private criterion(): number {
    const dof = this.reml ? this.n - this.p : this.n;
    const ld = this.ldL2 - this.ldW + (this.reml ? this.ldRX2 : 0);
    return ld + dof * (1 + Math.log((2 * Math.PI * this.pwrss) / dof));
  }

  /**
   * The criterion at θ; with `grad`, its θ-gradient (docs/sparse.md, "The gradient").
   * `refine` adds one step of iterative refinement of (β, u), for the reported estimates.
   */
  evaluate(theta: ArrayLike<number>, grad?: Float64Array, refine = false): number {
    this.evaluations++;
    this.atLast = false;
    const { n, p, s } = this;
    this.factorAt(theta);
    const rU = this.work;
    rU.set(this.cu);
    this.solveFromForward(rU, Float64Array.from(this.Xty), this.u, this.beta);
    const e = this.e;
    this.pwrss = this.residuals(e);
    if (refine) {
      // Residual of the normal equations, (Λ'Z̃'ẽ − u, X̃'ẽ), solved with the same factors.
      const Q = this.Q, g = new Float64Array(Q), xe = new Float64Array(p);
      for (let j = 0; j < n; j++) {
        for (let t = 0; t < s; t++) g[this.cols[j * s + t]] += this.v[j * s + t] * e[j];
        for (let c = 0; c < p; c++) xe[c] += this.Xt[j * p + c] * e[j];
      }
      for (let i = 0; i < Q; i++) g[i] -= this.u[i];
      const du = new Float64Array(Q), db = new Float64Array(p);
      this.chol.permute(g, rU);
      this.chol.solveL(rU);
      this.solveFromForward(rU, xe, du, db);
      for (let i = 0; i < Q; i++) this.u[i] += du[i];
      for (let c = 0; c < p; c++) this.beta[c] += db[c];
      this.pwrss = this.residuals(e);
    }
    // Residuals at rounding level mean an exact fit, where σ̂ is rounding noise (as ./profiled).
    if (!(this.pwrss > 1e-26 * this.yty)) {
      throw new LmmError('the model fits the response exactly (residual sum of squares at rounding level): the residual variance is not identified');
    }
    if (!Number.isFinite(this.pwrss)) throw new LmmError(`the penalised residual sum of squares is not finite at theta = [${Array.from(theta).join(', ')}]`);
    const dev = this.criterion();
    this.atLast = true;
    if (grad) this.gradient(grad, e);
    return dev;
  }

  /** The θ-gradient at the last evaluate() call's θ (the same as evaluate(θ, grad) gives). */
  lastGradient(grad: Float64Array): void {
    if (!this.atLast) throw new Error('internal: no successful evaluation to differentiate');
    this.gradient(grad, this.e);
  }

  /**
   * ∂d/∂θ_e for θ_e = Λ_k[r, c], E = ∂Λ/∂θ_e, M = Z̃'Z̃, e = ẽ (docs/sparse.md):
   *   ∂ log|A|   = 2 tr(A⁻¹Λ'ME) = 2 Σ_j z̃_j,kr (v_j' A⁻¹)_{col(k, c)}, v_j = Λ'z̃_j,
   *                with A⁻¹ needed only where two columns of one row meet (the selected inverse);
   *   ∂ r²       = −2 Σ_j ẽ_j z̃_j,kr u_{col(k, c)}                       (envelope theorem);
   *   ∂ log|R_X|² = −2 Σ_g ((C − MΛP) S⁻¹ P')_{(k,g,r), (k,g,c)},  P = A⁻¹Λ'C, C = Z̃'X̃,
   *                S = R_X'R_X (REML only).
   */
  private gradient(grad: Float64Array, e: Float64Array): void {
    const { n, p, s, Q, cols, zt, v, layouts, chol, u } = this;
    const Zsel = chol.selectedInverse();
    const np = (s * (s + 1)) / 2;
    const pos = (j: number, t1: number, t2: number): number =>
      this.lPairPos[j * np + (t1 >= t2 ? (t1 * (t1 + 1)) / 2 + t2 : (t2 * (t2 + 1)) / 2 + t1)];
    grad.fill(0);
    const dof = this.reml ? n - p : n;
    let slot = 0;
    for (const l of layouts) {
      const w = new Float64Array(l.q);
      for (let j = 0; j < n; j++) {
        // w_c = Σ_t v_jt (A⁻¹)_{col_t, col(k, c)}
        for (let c = 0; c < l.q; c++) {
          let acc = 0;
          for (let t = 0; t < s; t++) acc += v[j * s + t] * Zsel[pos(j, t, slot + c)];
          w[c] = acc;
        }
        for (let k = 0; k < l.row.length; k++) {
          const zr = zt[j * s + slot + l.row[k]];
          grad[l.t0 + k] += 2 * zr * w[l.col[k]] - (2 * dof * e[j] * zr * u[cols[j * s + slot + l.col[k]]]) / this.pwrss;
        }
      }
      slot += l.q;
    }
    if (!this.reml || p === 0) return;
    // P = A⁻¹Λ'C from R_ZX = L⁻¹PΛ'C; PS = P S⁻¹; D = C − MΛP = Z̃'(X̃ − Z̃ΛP), from the rows.
    const P = new Float64Array(Q * p), col = new Float64Array(Q), perm = this.work;
    for (let c = 0; c < p; c++) {
      perm.set(this.RZX.subarray(c * Q, (c + 1) * Q));
      chol.solveLt(perm);
      chol.unpermute(perm, col);
      P.set(col, c * Q);
    }
    const Sinv = this.unscaledVcov();
    const PS = new Float64Array(Q * p);
    for (let i = 0; i < Q; i++) {
      for (let c = 0; c < p; c++) {
        let acc = 0;
        for (let m = 0; m < p; m++) acc += P[m * Q + i] * Sinv[m * p + c];
        PS[c * Q + i] = acc;
      }
    }
    const D = new Float64Array(Q * p), dj = new Float64Array(p);
    for (let j = 0; j < n; j++) {
      for (let c = 0; c < p; c++) {
        let acc = this.Xt[j * p + c];
        for (let t = 0; t < s; t++) acc -= v[j * s + t] * P[c * Q + cols[j * s + t]];
        dj[c] = acc;
      }
      for (let t = 0; t < s; t++) {
        const z = zt[j * s + t], ct = cols[j * s + t];
        for (let c = 0; c < p; c++) D[c * Q + ct] += z * dj[c];
      }
    }
    for (const l of layouts) {
      for (let k = 0; k < l.row.length; k++) {
        let acc = 0;
        for (let g = 0; g < l.G; g++) {
          const a = l.offset + g * l.q + l.row[k], b = l.offset + g * l.q + l.col[k];
          for (let c = 0; c < p; c++) acc += D[c * Q + a] * PS[c * Q + b];
        }
        grad[l.t0 + k] -= 2 * acc;
      }
    }
  }

  /** σ̂² at the last evaluation: r²/n (ML) or r²/(n − p) (REML). */
  sigma2(): number {
    return this.pwrss / (this.reml ? this.n - this.p : this.n);
  }

  /** (R_X'R_X)⁻¹ at the last evaluation (p × p). */
  unscaledVcov(): Float64Array {
    const p = this.p;
    const out = new Float64Array(p * p);
    for (let a = 0; a < p; a++) out[a * p + a] = 1;
    forwardSolve(this.LX, 0, p, out, 0, p);
    backSolve(this.LX, 0, p, out, 0, p);
    return out;
  }

  /** Λ_k at the last evaluation (q × q row-major). */
  lambdaOf(k: number): Float64Array {
    return this.lambda[k].slice();
  }

  /** b = Λ_k u for term k (G × q). */
  ranef(k: number): Float64Array {
    const l = this.layouts[k], lam = this.lambda[k], q = l.q;
    const b = new Float64Array(l.G * q);
    for (let g = 0; g < l.G; g++) {
      for (let a = 0; a < q; a++) {
        let acc = 0;
        for (let r = 0; r <= a; r++) acc += lam[a * q + r] * this.u[l.offset + g * q + r];
        b[g * q + a] = acc;
      }
    }
    return b;
  }

  /**
   * diag(Λ_k (A⁻¹)_gg Λ_k') for every level g of term k (G × q), unscaled by σ². The q × q
   * diagonal blocks of A⁻¹ lie in L's pattern (one level's columns meet in every row of that
   * level), so the selected inverse has them.
   */
  condVarDiag(k: number, Zsel: Float64Array = this.chol.selectedInverse()): Float64Array {
    const l = this.layouts[k], lam = this.lambda[k], q = l.q;
    const out = new Float64Array(l.G * q);
    const blk = new Float64Array(q * q);
    for (let g = 0; g < l.G; g++) {
      const c0 = l.offset + g * q;
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) blk[a * q + b] = Zsel[this.chol.entryIndex(c0 + a, c0 + b)];
      for (let a = 0; a < q; a++) {
        let acc = 0;
        for (let r = 0; r <= a; r++) for (let t = 0; t <= a; t++) acc += lam[a * q + r] * blk[r * q + t] * lam[a * q + t];
        out[g * q + a] = acc;
      }
    }
    return out;
  }
}

/** Fits a Gaussian LMM with several random-effect terms by the profiled (RE)ML deviance. */
export function fitMultiLmm(input: MultiLmmInput): MultiLmmFit {
  const dev = new MultiProfiledDeviance(input);
  const { m, p, layouts } = dev;
  const { theta, s2, vcov, se, deviance, singular, converged, iterations, message } = fitTheta(
    dev, layouts, m,
    { theta0: input.theta0, signal: input.signal, onIteration: input.onIteration, needs: 'the terms need', exactlyWhere: '' },
  );
  const Zsel = input.condSd === false ? null : dev.chol.selectedInverse();
  const terms: MultiLmmTermFit[] = layouts.map((l, k) => {
    const Sigma = termCovariance(dev.lambdaOf(k), l.q, s2);
    let condSd: Float64Array | null = null;
    if (Zsel) {
      condSd = dev.condVarDiag(k, Zsel);
      for (let i = 0; i < condSd.length; i++) condSd[i] = Math.sqrt(s2 * condSd[i]);
    }
    return { name: dev.names[k], Sigma, ranef: dev.ranef(k), condSd };
  });
  return {
    logLik: -deviance / 2, deviance, df: p + m + 1, reml: dev.reml,
    beta: dev.beta.slice(), vcov, se, sigma: Math.sqrt(s2), theta: theta.slice(), terms,
    singular, converged, iterations, evaluations: dev.evaluations,
    nnzL: dev.chol.nnzL, message,
  };
}

