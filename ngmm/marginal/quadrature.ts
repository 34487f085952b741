// Random effects whose design varies inside a group (random slopes; docs/marginal.md §8): the
// q-dimensional marginal L_i = log ∫ φ_q(b) ∏_j p(y_ij | f_ij + ⟨g_ij, b⟩) db by a Gauss–Hermite
// tensor rule, adaptive as lme4's nAGQ: centred at each group's mode b̂_i (Newton) and scaled by
// the Cholesky factor of H_i = −∇²ℓ_i(b̂_i). The rule's nodes and weights are then held fixed
// while differentiating, which is exact: for any fixed centre and scale the change of
// variables b = b̂ + Aξ leaves the integral unchanged, so the rule stays a rule for the same
// integral and its gradient is the rule applied to the integrand's gradient.
//
// The modes and Cholesky factors come from one kernel call for all groups; on the tape, the
// family log-likelihood at η_jk = f_j + ⟨g_j, b_{i(j),k}⟩ (one primitive, whose kernel also
// keeps the scores for the VJP), a scatter-add over each group's rows, plus the constant
// log-weights, and log-sum-exp over nodes.
import { apply } from '../../engine/tape';
import { Tensor, type Primitive } from '../../engine/tensor';
import { add, mul, reshape, logsumexp, sum, tensor, withBackend } from '../../engine/index';
import { productRule } from './gaussHermite';
import { upload, type GroupedResponse } from './groups';

/** Nodes per dimension by q (index): 25, 9 and 5, i.e. 25, 81 and 125 nodes. */
export const DEFAULT_NODES: readonly number[] = [0, 25, 9, 5];

export interface QuadratureOptions {
  /** Nodes per dimension (default DEFAULT_NODES[q]). */
  K?: number;
  /** Centre and scale the rule at each group's mode (default true); false is plain Gauss–Hermite. */
  adaptive?: boolean;
}

// Each group's log-likelihood at each of its nodes, ll_ik = Σ_j core(y_j, η_jk) over the n × K
// grid η_jk = f_j + ⟨g_j, b_{i(j)k}⟩ (the η-dependent part: c(y) is added once per group after).
// One kernel pass sums the values per group and stores the scores; the VJP reuses the scores:
// ∂/∂f_j = Σ_k up_{i(j)k}·score_jk, ∂/∂g_jd = Σ_k up_{i(j)k}·score_jk·b_kd, and for the
// Gaussian's σ, Σ_ik up_ik·Σ_j ∂core/∂σ.
interface LikAttrs {
  readonly data: GroupedResponse;
  /** The rule's nodes [G × K × q], a heap tensor of the scope. */
  readonly nodes: Tensor;
  readonly K: number;
  readonly q: number;
  readonly phi: number;
  saved?: { score: Tensor; dphi: Tensor | null };
}

const QuadratureLogLik: Primitive<LikAttrs> = {
  name: 'quadratureLogLik',
  forward([f, g, phiT], attrs) {
    const { data, nodes, K, q, phi } = attrs;
    const b = f.backend;
    const u = upload(data, b);
    const ll = new Tensor([data.ngroups, K], b);
    const score = new Tensor([data.nobs, K], b);
    const dphi = phiT?.requiresGrad ? new Tensor([data.ngroups, K], b) : null;
    b.k.quad_loglik_f64(data.family.code, data.ngroups, u.offsets, K, q, u.y, u.trials, f.ptr, g.ptr, nodes.ptr, phi,
      ll.ptr, score.ptr, dphi?.ptr ?? 0);
    attrs.saved = { score, dphi };
    return ll;
  },
  vjp(up, _ans, [f, g, phiT], attrs) {
    const { data, nodes, K, q } = attrs;
    const sv = attrs.saved!;
    const b = f.backend;
    const gf = f.requiresGrad ? new Tensor(f.shape, b) : null;
    const gg = g.requiresGrad ? new Tensor(g.shape, b) : null;
    if (gf || gg) {
      // The VJP needs only the group offsets. The objective has released the batch's response
      // by the time gradients run, so they are copied in for this call alone (an upload of the
      // whole response here was cached and never freed: 1.2 kB leaked per step).
      const h = b.heap, off = h.alloc((data.ngroups + 1) * 4);
      try {
        h.i32.set(data.offsets, off >>> 2);
        b.k.quad_loglik_vjp_f64(data.ngroups, off, K, q, nodes.ptr, sv.score.ptr, up.ptr, gf?.ptr ?? 0, gg?.ptr ?? 0);
      } finally {
        h.free(off);
      }
    }
    if (!phiT) return [gf, gg];
    const gp = sv.dphi ? reshape(sum(mul(up, sv.dphi)), phiT.shape) : null;
    return [gf, gg, gp];
  },
};

/**
 * Per-group log marginal likelihoods [G] by (adaptive) Gauss–Hermite quadrature. `f` [n] are
 * the fixed-effect outputs and `g` [n × q] the random-effect design rows g(z_ij) (the
 * network's output per observation), both in the response's group-sorted order; ϕ the
 * Gaussian residual SD (a one-element tensor) or null.
 */
export function logMarginalQuadrature(f: Tensor, g: Tensor, phi: Tensor | null, data: GroupedResponse, o: QuadratureOptions = {}): Tensor {
  const { nodes, logW, K, q } = quadratureRule(f, g, phi, data, o);
  const G = data.ngroups;
  const phiValue = phi ? phi.item() : 1;
  const b = f.backend;
  const nodesT = withBackend(b, () => tensor(nodes, [G, K, q]));
  const perGroup = apply(QuadratureLogLik, phi ? [f, g, phi] : [f, g], { data, nodes: nodesT, K, q, phi: phiValue });
  // The constant weights: the rule's log-weights plus Σ_j c(y_j) of each group.
  const w = logW.slice();
  for (let i = 0; i < G; i++) for (let k = 0; k < K; k++) w[i * K + k] += data.cst[i];
  return logsumexp(add(perGroup, withBackend(b, () => tensor(w, [G, K]))), 1);
}

/**
 * The (adaptive) rule per group, as plain numbers: nodes b_k [G × K × q] and log-weights
 * [G × K] (rule weight, Jacobian and prior density) such that
 * L_i ≈ logsumexp_k(logW[i,k] + Σ_j log p(y_j | f_j + ⟨g_j, b_k⟩)).
 */
export function quadratureRule(f: Tensor, g: Tensor, phi: Tensor | null, data: GroupedResponse, o: QuadratureOptions = {}) {
  if (g.shape.length !== 2 || g.shape[0] !== data.nobs) {
    throw new Error(`logMarginalQuadrature: g must be [${data.nobs} × q], got [${g.shape.join(', ')}]`);
  }
  if (f.size !== data.nobs) throw new Error(`logMarginalQuadrature: ${f.size} fixed-effect outputs for ${data.nobs} observations`);
  const q = g.shape[1];
  if (q < 1 || q > 3) throw new Error(`logMarginalQuadrature: q = ${q} random effects; 1 to 3 are supported`);
  const K1 = o.K ?? DEFAULT_NODES[q];
  const adaptive = o.adaptive ?? true;
  const rule = productRule(K1, q);
  const K = rule.logWeights.length;
  const G = data.ngroups;
  const phiValue = phi ? phi.item() : 1;
  const nodes = new Float64Array(G * K * q);
  const logW = new Float64Array(G * K);
  // Each group's mode and Cholesky factor (kernels/assembly/quadrature.ts), or 0 and I.
  const modes = new Float64Array(G * q), chols = new Float64Array(G * q * q);
  if (adaptive) {
    const b = f.backend, h = b.heap, u = upload(data, b);
    const pm = h.alloc(G * q * 8), pc = h.alloc(G * q * q * 8);
    try {
      b.k.quad_mode_f64(data.family.code, G, u.offsets, q, u.y, u.trials, f.ptr, g.ptr, phiValue, pm, pc);
      modes.set(h.f64.subarray(pm >>> 3, (pm >>> 3) + G * q));
      chols.set(h.f64.subarray(pc >>> 3, (pc >>> 3) + G * q * q));
    } finally {
      h.free(pm);
      h.free(pc);
    }
  } else for (let i = 0; i < G; i++) for (let d = 0; d < q; d++) chols[i * q * q + d * q + d] = 1;
  for (let i = 0; i < G; i++) {
    // Index arithmetic, not subarrays: this runs G·K times per objective.
    const mo = i * q, co = i * q * q, xs = rule.nodes;
    // b_k = b̂ + L⁻ᵀξ_k; log|det L⁻ᵀ| = −Σ log L_dd.
    let logDet = 0;
    for (let d = 0; d < q; d++) logDet -= Math.log(chols[co + d * q + d]);
    for (let k = 0; k < K; k++) {
      const bo = (i * K + k) * q, xo = k * q;
      for (let d = q - 1; d >= 0; d--) {
        let sum = xs[xo + d];
        for (let e = d + 1; e < q; e++) sum -= chols[co + e * q + d] * nodes[bo + e];
        nodes[bo + d] = sum / chols[co + d * q + d];
      }
      let xi2 = 0, b2 = 0;
      for (let d = 0; d < q; d++) {
        xi2 += xs[xo + d] * xs[xo + d];
        nodes[bo + d] += modes[mo + d];
        b2 += nodes[bo + d] * nodes[bo + d];
      }
      // w_k·e^{‖ξ‖²/2}·(2π)^{q/2}·|det A| times the prior density φ_q(b_k) = (2π)^{−q/2}e^{−‖b‖²/2}:
      // the (2π)^{q/2} cancel.
      logW[i * K + k] = rule.logWeights[k] + 0.5 * xi2 + logDet - 0.5 * b2;
    }
  }
  return { nodes, logW, K, q };
}
