// Stage 2 of the latent model's marginal likelihood (docs/latent-marginal.md): the school
// log-marginals under the fixed rules of adapt.ts, as one differentiable primitive.
//
// With fixed nodes θ_nk (log-weights ω_nk), outer nodes u_q (log-weights Ω_q, prior included)
// and r = θ_nk − μ_n − g_s⊙u_q, z = L⁻¹r:
//   J_nq = logsumexp_k [ω_nk + ell_nk + log N(θ_nk; μ_n + g_s⊙u_q, Σ)],
//   log N = −(3/2)log 2π − Σ_d log L_dd − ½|z|²,
//   FE: L_s = Σ_{n∈s} J_n;   ME: L_s = logsumexp_q [Ω_q + Σ_{n∈s} J_nq].
// Fused into one primitive because the node loop (N·Q·K terms per batch) is the whole cost and
// the tape would otherwise hold N·Q·K-sized intermediates. The forward keeps only J [N × Q] and
// the outer weights; the VJP re-forms the per-node weights from them (one more pass, no N·Q·K
// memory).
import { apply } from '../../engine/tape';
import { Tensor, type Primitive } from '../../engine/tensor';
import { cholFromParams, LatentMarginalError, solveLt, type LatentRules } from './adapt';

const LOG_2PI = Math.log(2 * Math.PI);

interface Attrs {
  readonly rules: LatentRules;
  /** The forward's inner log-integrals J [N × Q] and outer weights P [S × Q], for the VJP. */
  saved?: Saved;
}

interface Saved {
  readonly L: Float64Array;
  readonly J: Float64Array;
  readonly P: Float64Array;
}

interface PassOut extends Saved {
  readonly gMu?: Float64Array;
  readonly gChol?: Float64Array;
  readonly gG?: Float64Array;
  readonly gEll?: Float64Array;
  /** Σ_q P_q p_nqk: each student's posterior weight on its nodes given its school's data. */
  readonly pi?: Float64Array;
}

// One pass over every school. With `up` (upstream ∂/∂L_s) it also returns the gradients:
// π_nqk = P_q·p_nqk (P_q = softmax_q of the outer terms, p_nqk = softmax_k of the inner ones)
// is ∂L_s/∂(term_nqk), and for a term ω + ell + log N(θ; m, Σ) with a = L⁻ᵀz = Σ⁻¹r:
//   ∂/∂ell_nk = Σ_q π,  ∂/∂μ_n = Σ π a,  ∂/∂g_sd = Σ π a_d u_qd,
//   ∂/∂L_ab (a ≥ b) = Σ π (a zᵀ)_ab − δ_ab/L_aa per term, i.e. lower(L⁻ᵀ M) − n_s·diag(1/L)
// with M = Σ π z zᵀ (Σ π = 1 per student), and ∂/∂log L_dd = L_dd·∂/∂L_dd.
// Given `saved` (the forward's J and P at the same inputs) the forward sums are skipped.
//
// The sum over a student's K = Kd³ nodes at outer node q is a tensor contraction, not K exps:
// θ_nk = θ̂_n + S_n ξ_k (S_n = R_n⁻ᵀ, ξ_k a product of 1-D nodes), so with z⁰_nk = L⁻¹(θ_nk − μ_n),
// c_n = L⁻¹(θ̂_n − μ_n) and W_n = L⁻¹S_n,
//   term_nqk = A_nk + c_n·y_q + (W_nᵀy_q)·ξ_k − ½|y_q|²,   A_nk = B_nk − ½|z⁰_nk|²,
// and e^{(W_nᵀy_q)·ξ_k} = Π_d e^{w_d ξ_{k_d}} is separable. E_nk = e^{A_nk − max A} is computed
// once per student; each (n, q) then costs 3·Kd exps and Kd³ + Kd² + Kd multiply-adds. Each
// exponent is shifted by its maximum, so no factor exceeds 1; the products cannot underflow
// unless the tilt moves the bulk ~700 nats, far beyond any node an outer rule weighs.
function pass(r: LatentRules, mu: Float64Array, c6: Float64Array, g: Float64Array | null, ell: Float64Array, up: Float64Array | null, wantPi: boolean, saved?: Saved): PassOut {
  const { nSchools: S, schoolStart, K, theta, logW } = r;
  const Q = r.mixed ? r.Q : 1;
  const Lc = cholFromParams(c6);
  const cst = -1.5 * LOG_2PI - (c6[0] + c6[1] + c6[2]);
  const L = saved ? saved.L : new Float64Array(S);
  const wantGrad = up !== null;
  const gMu = wantGrad ? new Float64Array(mu.length) : undefined;
  const gEll = wantGrad ? new Float64Array(ell.length) : undefined;
  const gG = wantGrad && g ? new Float64Array(g.length) : undefined;
  const M = new Float64Array(9); // Σ up_s π z zᵀ over the batch
  let nW = 0; // Σ_s up_s n_s
  const pi = wantPi ? new Float64Array(ell.length) : undefined;
  const Pall = saved ? saved.P : new Float64Array(S * Q), J = saved ? saved.J : new Float64Array(r.nStudents * Q);
  let maxN = 0;
  for (let s = 0; s < S; s++) maxN = Math.max(maxN, schoolStart[s + 1] - schoolStart[s]);
  const B = new Float64Array(maxN * K), z0 = new Float64Array(maxN * K * 3), Ek = new Float64Array(maxN * K);
  const Amax = new Float64Array(maxN), cn = new Float64Array(maxN * 3), Wn = new Float64Array(maxN * 9);
  const y = new Float64Array(Q * 3), T = new Float64Array(Q), x = new Float64Array(3), col = new Float64Array(3), wcol = new Float64Array(3);
  const sz = new Float64Array(3), a3 = new Float64Array(3), acc = new Float64Array(3);
  const Kd = r.gh1.length, xi = r.gh1;
  if (Kd * Kd * Kd !== K) throw new LatentMarginalError(`latentLogLik: the rules' ${K} inner nodes are not a product of their ${Kd}-node 1-D rule`);
  const e0 = new Float64Array(Kd), e1 = new Float64Array(Kd), e2 = new Float64Array(Kd);
  // The separable tilt of student j at outer node q: fills e0, e1, e2 and returns the log of
  // everything factored out of Σ_k E_jk·e0·e1·e2.
  const tilt = (j: number, q: number): number => {
    const y0 = y[q * 3], y1 = y[q * 3 + 1], y2 = y[q * 3 + 2];
    let shift = Amax[j] + cn[j * 3] * y0 + cn[j * 3 + 1] * y1 + cn[j * 3 + 2] * y2 - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2);
    const es = [e0, e1, e2];
    for (let d = 0; d < 3; d++) {
      const wd = Wn[j * 9 + d] * y0 + Wn[j * 9 + 3 + d] * y1 + Wn[j * 9 + 6 + d] * y2;
      const top = Math.abs(wd) * xi[Kd - 1]; // the 1-D nodes are symmetric: max_j w·ξ_j
      const e = es[d];
      for (let i = 0; i < Kd; i++) e[i] = Math.exp(wd * xi[i] - top);
      shift += top;
    }
    return shift;
  };
  for (let s = 0; s < S; s++) {
    const a = schoolStart[s], ns = schoolStart[s + 1] - a;
    // y_q = L⁻¹(g_s⊙u_q), so z = z0_nk − y_q.
    for (let q = 0; q < Q; q++) {
      if (r.mixed && g) {
        for (let d = 0; d < 3; d++) x[d] = g[s * 3 + d] * r.u[(s * Q + q) * 3 + d];
        solveL3(Lc, x, y, q * 3);
      } else y[q * 3] = y[q * 3 + 1] = y[q * 3 + 2] = 0;
    }
    for (let j = 0; j < ns; j++) {
      const n = a + j;
      let mx = -Infinity;
      for (let k = 0; k < K; k++) {
        for (let d = 0; d < 3; d++) x[d] = theta[(n * K + k) * 3 + d] - mu[n * 3 + d];
        const o = (j * K + k) * 3;
        solveL3(Lc, x, z0, o);
        B[j * K + k] = logW[n * K + k] + ell[n * K + k] + cst;
        const v = B[j * K + k] - 0.5 * (z0[o] * z0[o] + z0[o + 1] * z0[o + 1] + z0[o + 2] * z0[o + 2]);
        Ek[j * K + k] = v;
        if (v > mx) mx = v;
      }
      if (!Number.isFinite(mx)) throw new LatentMarginalError(`school ${s}, student ${n}: the inner log-integrand is ${mx} at every node (check μ, Σ and ell)`);
      Amax[j] = mx;
      for (let k = 0; k < K; k++) Ek[j * K + k] = Math.exp(Ek[j * K + k] - mx);
      for (let d = 0; d < 3; d++) x[d] = r.thetaCentre[n * 3 + d] - mu[n * 3 + d];
      solveL3(Lc, x, cn, j * 3);
      for (let c = 0; c < 3; c++) {
        for (let d = 0; d < 3; d++) col[d] = r.thetaScale[n * 9 + d * 3 + c];
        solveL3(Lc, col, wcol, 0);
        for (let d = 0; d < 3; d++) Wn[j * 9 + d * 3 + c] = wcol[d];
      }
      if (saved) continue;
      const E = Ek.subarray(j * K, j * K + K);
      for (let q = 0; q < Q; q++) {
        const shift = tilt(j, q);
        let sum = 0;
        for (let k0 = 0, k = 0; k0 < Kd; k0++) {
          let s1 = 0;
          for (let k1 = 0; k1 < Kd; k1++) {
            let s2 = 0;
            for (let k2 = 0; k2 < Kd; k2++, k++) s2 += E[k] * e2[k2];
            s1 += s2 * e1[k1];
          }
          sum += s1 * e0[k0];
        }
        J[n * Q + q] = shift + Math.log(sum);
      }
    }
    let Ls: number;
    if (saved) {
      Ls = L[s];
      T.set(Pall.subarray(s * Q, s * Q + Q));
    } else if (r.mixed) {
      let mx = -Infinity;
      for (let q = 0; q < Q; q++) {
        let v = r.logWu[s * Q + q];
        for (let j = 0; j < ns; j++) v += J[(a + j) * Q + q];
        T[q] = v;
        if (v > mx) mx = v;
      }
      let sum = 0;
      for (let q = 0; q < Q; q++) sum += Math.exp(T[q] - mx);
      Ls = mx + Math.log(sum);
      for (let q = 0; q < Q; q++) T[q] = Math.exp(T[q] - Ls); // P_q
    } else {
      Ls = 0;
      for (let j = 0; j < ns; j++) Ls += J[a + j];
      T[0] = 1;
    }
    Pall.set(T.subarray(0, Q), s * Q);
    if (!Number.isFinite(Ls)) throw new LatentMarginalError(`school ${s}: the log-marginal is ${Ls} (check μ, g, Σ and ell of its students for NaN/Inf)`);
    L[s] = Ls;
    if (!wantGrad && !pi) continue;
    const w = up ? up[s] : 0;
    nW += w * ns;
    for (let j = 0; j < ns; j++) {
      const n = a + j;
      acc.fill(0);
      for (let q = 0; q < Q; q++) {
        const P = T[q];
        // p_k = E_k·e0·e1·e2·exp(shift − J): the inner softmax without an exp per node.
        const f = Math.exp(tilt(j, q) - J[n * Q + q]);
        const yq0 = y[q * 3], yq1 = y[q * 3 + 1], yq2 = y[q * 3 + 2];
        sz.fill(0);
        for (let k0 = 0, k = 0; k0 < Kd; k0++) for (let k1 = 0; k1 < Kd; k1++) {
          const f01 = f * e0[k0] * e1[k1];
          for (let k2 = 0; k2 < Kd; k2++, k++) {
            const p = Ek[j * K + k] * f01 * e2[k2];
            const pP = p * P;
            if (pi) pi[n * K + k] += pP;
            if (!wantGrad) continue;
            const o = (j * K + k) * 3;
            const z0_ = z0[o] - yq0, z1_ = z0[o + 1] - yq1, z2_ = z0[o + 2] - yq2;
            gEll![n * K + k] += w * pP;
            sz[0] += p * z0_; sz[1] += p * z1_; sz[2] += p * z2_;
            const c = w * pP;
            M[0] += c * z0_ * z0_; M[3] += c * z1_ * z0_; M[4] += c * z1_ * z1_;
            M[6] += c * z2_ * z0_; M[7] += c * z2_ * z1_; M[8] += c * z2_ * z2_;
          }
        }
        if (!wantGrad) continue;
        solveLt(Lc, sz, a3); // Σ_k p a
        for (let d = 0; d < 3; d++) {
          acc[d] += P * a3[d];
          if (gG) gG[s * 3 + d] += w * P * a3[d] * r.u[(s * Q + q) * 3 + d];
        }
      }
      if (wantGrad) for (let d = 0; d < 3; d++) gMu![n * 3 + d] += w * acc[d];
    }
  }
  if (!wantGrad) return { L, J, P: Pall, pi };
  // ∂/∂L = lower(L⁻ᵀ M) − nW·diag(1/L_dd), M symmetric (lower half stored).
  M[1] = M[3]; M[2] = M[6]; M[5] = M[7];
  const GL = new Float64Array(9), out = new Float64Array(3);
  for (let b = 0; b < 3; b++) {
    col[0] = M[b]; col[1] = M[3 + b]; col[2] = M[6 + b];
    solveLt(Lc, col, out);
    GL[b] = out[0]; GL[3 + b] = out[1]; GL[6 + b] = out[2];
  }
  const gChol = Float64Array.of(
    Lc[0] * (GL[0] - nW / Lc[0]), Lc[4] * (GL[4] - nW / Lc[4]), Lc[8] * (GL[8] - nW / Lc[8]),
    GL[3], GL[6], GL[7],
  );
  return { L, J, P: Pall, gMu, gChol, gG, gEll, pi };
}

// x = L⁻¹b written at out[o … o+3) (L lower, row-major).
function solveL3(L: Float64Array, b: Float64Array, out: Float64Array, o: number): void {
  const x0 = b[0] / L[0];
  const x1 = (b[1] - L[3] * x0) / L[4];
  out[o] = x0;
  out[o + 1] = x1;
  out[o + 2] = (b[2] - L[6] * x0 - L[7] * x1) / L[8];
}

function fromArray(values: Float64Array, shape: readonly number[], b: Tensor['backend']): Tensor {
  const t = new Tensor(shape, b);
  b.heap.f64.set(values, t.ptr >>> 3);
  return t;
}

const LatentLogLik: Primitive<Attrs> = {
  name: 'latentLogLik',
  forward(inputs, attrs) {
    const { rules } = attrs;
    const [mu, chol, g, ell] = unpack(inputs, rules.mixed);
    const r = pass(rules, mu.toArray(), chol.toArray(), g ? g.toArray() : null, ell.toArray(), null, false);
    if (inputs.some((t) => t.requiresGrad)) attrs.saved = { L: r.L, J: r.J, P: r.P };
    return fromArray(r.L, [rules.nSchools], mu.backend);
  },
  vjp(up, _ans, inputs, { rules, saved }) {
    if (!saved) throw new LatentMarginalError('latentLogLik: the forward pass kept nothing for gradients (no input required one)');
    const [mu, chol, g, ell] = unpack(inputs, rules.mixed);
    const r = pass(rules, mu.toArray(), chol.toArray(), g ? g.toArray() : null, ell.toArray(), up.toArray(), false, saved);
    const b = up.backend;
    const out: (Tensor | null)[] = [
      mu.requiresGrad ? fromArray(r.gMu!, mu.shape, b) : null,
      chol.requiresGrad ? fromArray(r.gChol!, chol.shape, b) : null,
    ];
    if (g) out.push(g.requiresGrad ? fromArray(r.gG!, g.shape, b) : null);
    out.push(ell.requiresGrad ? fromArray(r.gEll!, ell.shape, b) : null);
    return out;
  },
};

function unpack(inputs: readonly Tensor[], mixed: boolean): [Tensor, Tensor, Tensor | null, Tensor] {
  return mixed ? [inputs[0], inputs[1], inputs[2], inputs[3]] : [inputs[0], inputs[1], null, inputs[2]];
}

function checkShapes(rules: LatentRules, mu: Tensor, chol: Tensor, g: Tensor | null, ell: Tensor): void {
  const { nStudents: N, nSchools: S, K } = rules;
  const is = (t: Tensor, shape: number[]) => t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  const show = (t: Tensor) => `[${t.shape.join(' × ')}]`;
  if (!is(mu, [N, 3])) throw new LatentMarginalError(`latentLogLik: μ must be [${N} × 3] (the rules' students), got ${show(mu)}`);
  if (chol.size !== 6) throw new LatentMarginalError(`latentLogLik: chol must hold the 6 log-Cholesky parameters, got ${show(chol)}`);
  if (rules.mixed && !g) throw new LatentMarginalError('latentLogLik: the rules are for the mixed model; pass g [S × 3]');
  if (!rules.mixed && g) throw new LatentMarginalError('latentLogLik: the rules are for the fixed-effects model; pass g = null');
  if (g && !is(g, [S, 3])) throw new LatentMarginalError(`latentLogLik: g must be [${S} × 3] (the rules' schools), got ${show(g)}`);
  if (!is(ell, [N, K])) throw new LatentMarginalError(`latentLogLik: ell must be [${N} × ${K}] (ℓ at each student's inner nodes), got ${show(ell)}`);
}

/**
 * School log-marginals [S] of the latent model under fixed rules (adaptSchools), on the tape:
 * μ [N × 3], chol [6] (log-Cholesky parameters of Σ), g [S × 3] for the mixed model or null,
 * ell [N × K] (ℓ_n at the rules' inner nodes; innerLogLik fills it when the items are known).
 */
export function latentLogLik(rules: LatentRules, mu: Tensor, chol: Tensor, g: Tensor | null, ell: Tensor): Tensor {
  checkShapes(rules, mu, chol, g, ell);
  return apply(LatentLogLik, g ? [mu, chol, g, ell] : [mu, chol, ell], { rules });
}

export interface LatentPosterior {
  /** [S] school log-marginals (as latentLogLik). */
  readonly logLik: Float64Array;
  /** [N × 3] each student's posterior mean of θ given its school's data (FE: its own). */
  readonly thetaMean: Float64Array;
  /** [N × 3] posterior SDs. */
  readonly thetaSd: Float64Array;
  /** [S × Q × 3] outer nodes and [S × Q] their posterior weights (summing to 1 per school); mixed model only. */
  readonly uNodes: Float64Array;
  readonly uWeights: Float64Array;
  /** [S × 3] posterior mean and SD of u; mixed model only. */
  readonly uMean: Float64Array;
  readonly uSd: Float64Array;
}

/**
 * Posterior summaries under the same rules (numbers only). For the mixed model a student's
 * posterior given its school's data mixes its posteriors given u over the school's posterior of u:
 * weights Σ_q P_q p_nqk on its nodes.
 */
export function latentPosterior(rules: LatentRules, mu: ArrayLike<number>, chol: ArrayLike<number>, g: ArrayLike<number> | null, ell: ArrayLike<number>): LatentPosterior {
  const { nStudents: N, nSchools: S, K, Q, theta } = rules;
  if (mu.length !== N * 3) throw new LatentMarginalError(`latentPosterior: μ must be [${N} × 3], got ${mu.length} values`);
  if (ell.length !== N * K) throw new LatentMarginalError(`latentPosterior: ell must be [${N} × ${K}], got ${ell.length} values`);
  if (rules.mixed !== (g !== null)) throw new LatentMarginalError(`latentPosterior: g must be ${rules.mixed ? 'given (mixed model)' : 'null (fixed-effects model)'}`);
  if (g && g.length !== S * 3) throw new LatentMarginalError(`latentPosterior: g must be [${S} × 3], got ${g.length} values`);
  const r = pass(rules, Float64Array.from(mu), Float64Array.from(chol), g ? Float64Array.from(g) : null, Float64Array.from(ell), null, true);
  const pi = r.pi!;
  const thetaMean = new Float64Array(N * 3), thetaSd = new Float64Array(N * 3);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < 3; d++) {
      let m = 0;
      for (let k = 0; k < K; k++) m += pi[n * K + k] * theta[(n * K + k) * 3 + d];
      let v = 0;
      for (let k = 0; k < K; k++) v += pi[n * K + k] * (theta[(n * K + k) * 3 + d] - m) ** 2;
      thetaMean[n * 3 + d] = m;
      thetaSd[n * 3 + d] = Math.sqrt(v);
    }
  }
  const uWeights = rules.mixed ? r.P : new Float64Array(0);
  const uMean = new Float64Array(rules.mixed ? S * 3 : 0), uSd = new Float64Array(rules.mixed ? S * 3 : 0);
  if (rules.mixed) {
    for (let s = 0; s < S; s++) for (let d = 0; d < 3; d++) {
      let m = 0, v = 0;
      for (let q = 0; q < Q; q++) m += uWeights[s * Q + q] * rules.u[(s * Q + q) * 3 + d];
      for (let q = 0; q < Q; q++) v += uWeights[s * Q + q] * (rules.u[(s * Q + q) * 3 + d] - m) ** 2;
      uMean[s * 3 + d] = m;
      uSd[s * 3 + d] = Math.sqrt(v);
    }
  }
  return { logLik: r.L, thetaMean, thetaSd, uNodes: rules.u.slice(), uWeights, uMean, uSd };
}
