// Random effects whose design varies inside a group (random slopes; MATH.md §8): the
// q-dimensional marginal L_i = log ∫ φ_q(b) ∏_j p(y_ij | f_ij + ⟨g_ij, b⟩) db by a Gauss–Hermite
// tensor rule, adaptive as lme4's nAGQ: centred at each group's mode b̂_i (Newton) and scaled by
// the Cholesky factor of H_i = −∇²ℓ_i(b̂_i). The rule's nodes and weights are then held fixed
// while differentiating, which is exact: for any fixed centre and scale the change of
// variables b = b̂ + Aξ leaves the integral unchanged, so the rule stays a rule for the same
// integral and its gradient is the rule applied to the integrand's gradient.
//
// On the tape: η_jk = f_j + ⟨g_j, b_{i(j),k}⟩ (one primitive), the family log-likelihood per
// element (one primitive, VJP = score), a scatter-add over each group's rows, plus the
// constant log-weights, and log-sum-exp over nodes.
import { obsCore, obsDphi, obsScore, obsHess } from '../../kernels/reference/marginal/obs';
import { apply } from '../../engine/tape';
import { Tensor, type Primitive } from '../../engine/tensor';
import { add, scatterAddRows, logsumexp, tensor, withBackend } from '../../engine/index';
import { gaussHermite, productRule } from './gaussHermite';
import { upload, type GroupedResponse } from './groups';

export interface QuadratureOptions {
  /** Nodes per dimension (default 25 for q = 1, 9 for q = 2, 5 for q = 3). */
  K?: number;
  /** Centre and scale the rule at each group's mode (default true); false is plain Gauss–Hermite. */
  adaptive?: boolean;
}

// η[j, k] = f[j] + Σ_d g[j, d]·nodes[i(j), k, d]; `nodes` is [G × K × q], constant.
interface NodeAttrs {
  readonly groupOf: Int32Array;
  readonly nodes: Float64Array;
  readonly K: number;
  readonly q: number;
}

const Predictor: Primitive<NodeAttrs> = {
  name: 'quadraturePredictor',
  forward([f, g], { groupOf, nodes, K, q }) {
    const n = f.size;
    const out = new Tensor([n, K], f.backend);
    const F = f.backend.heap.f64;
    const fo = f.ptr >> 3, go = g.ptr >> 3, oo = out.ptr >> 3;
    for (let j = 0; j < n; j++) {
      const base = groupOf[j] * K * q;
      for (let k = 0; k < K; k++) {
        let e = F[fo + j];
        for (let d = 0; d < q; d++) e += F[go + j * q + d] * nodes[base + k * q + d];
        F[oo + j * K + k] = e;
      }
    }
    return out;
  },
  vjp(up, _ans, [f, g], { groupOf, nodes, K, q }) {
    const n = f.size;
    const gf = f.requiresGrad ? new Tensor(f.shape, f.backend) : null;
    const gg = g.requiresGrad ? new Tensor(g.shape, g.backend) : null;
    const F = f.backend.heap.f64;
    const uo = up.ptr >> 3;
    for (let j = 0; j < n; j++) {
      let sf = 0;
      const base = groupOf[j] * K * q;
      for (let k = 0; k < K; k++) sf += F[uo + j * K + k];
      if (gf) F[(gf.ptr >> 3) + j] = sf;
      if (gg) {
        for (let d = 0; d < q; d++) {
          let sd = 0;
          for (let k = 0; k < K; k++) sd += F[uo + j * K + k] * nodes[base + k * q + d];
          F[(gg.ptr >> 3) + j * q + d] = sd;
        }
      }
    }
    return [gf, gg];
  },
};

// The η-dependent part of log p(y_j | η[j, k]) elementwise, by the family kernels (c(y) is
// added once per group after the sum); VJP: the score.
interface LikAttrs {
  readonly data: GroupedResponse;
  readonly phi: number;
}

const LogLik: Primitive<LikAttrs> = {
  name: 'familyLogLik',
  forward([eta, _phi], { data, phi }) {
    const [n, K] = eta.shape;
    const out = new Tensor(eta.shape, eta.backend);
    const u = upload(data, eta.backend);
    eta.backend.k.family_core_f64(data.family.code, n, K, u.y, u.trials, phi, eta.ptr, out.ptr);
    return out;
  },
  vjp(up, _ans, [eta, phiT], { data, phi }) {
    const [n, K] = eta.shape;
    const out = new Tensor(eta.shape, eta.backend);
    const u = upload(data, eta.backend);
    eta.backend.k.family_score_vjp_f64(data.family.code, n, K, u.y, u.trials, phi, eta.ptr, up.ptr, out.ptr);
    if (!phiT) return [out];
    // ∂/∂ϕ: Σ_jk up[j,k]·∂core/∂ϕ (the Gaussian's σ; one scalar, a plain loop).
    let acc = 0;
    const F = eta.backend.heap.f64, eo = eta.ptr >> 3, uo = up.ptr >> 3;
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < K; k++) acc += F[uo + j * K + k] * obsDphi(data.family.code, data.y[j], 1, F[eo + j * K + k], phi);
    }
    const gp = new Tensor(phiT.shape, eta.backend);
    eta.backend.heap.f64[gp.ptr >> 3] = acc;
    return [out, gp];
  },
};

// The mode b̂ of ℓ(b) = Σ_j log p(y_j | f_j + ⟨g_j, b⟩) − ‖b‖²/2 by damped Newton, and the
// Cholesky factor L of H = −∇²ℓ(b̂) (row-major q×q, lower). Plain numbers: not on the tape.
function groupMode(code: number, y: Float64Array, m: Float64Array | null, f: Float64Array, g: Float64Array,
  lo: number, hi: number, q: number, phi: number): { mode: Float64Array; chol: Float64Array } {
  const b = new Float64Array(q);
  const value = (bb: Float64Array) => {
    let v = 0;
    for (let d = 0; d < q; d++) v -= 0.5 * bb[d] * bb[d];
    for (let j = lo; j < hi; j++) {
      let eta = f[j];
      for (let d = 0; d < q; d++) eta += g[j * q + d] * bb[d];
      v += obsCore(code, y[j], m ? m[j] : 1, eta, phi);
    }
    return v;
  };
  const grad = new Float64Array(q), H = new Float64Array(q * q), L = new Float64Array(q * q);
  const derivs = () => {
    for (let d = 0; d < q; d++) grad[d] = -b[d];
    H.fill(0);
    for (let d = 0; d < q; d++) H[d * q + d] = 1;
    for (let j = lo; j < hi; j++) {
      let eta = f[j];
      for (let d = 0; d < q; d++) eta += g[j * q + d] * b[d];
      const r = obsScore(code, y[j], m ? m[j] : 1, eta, phi);
      const h = obsHess(code, y[j], m ? m[j] : 1, eta, phi);
      for (let d = 0; d < q; d++) {
        grad[d] += r * g[j * q + d];
        for (let e = 0; e < q; e++) H[d * q + e] -= h * g[j * q + d] * g[j * q + e];
      }
    }
  };
  const cholesky = (): boolean => {
    L.fill(0);
    for (let i = 0; i < q; i++) {
      for (let jj = 0; jj <= i; jj++) {
        let sum = H[i * q + jj];
        for (let k = 0; k < jj; k++) sum -= L[i * q + k] * L[jj * q + k];
        if (i === jj) {
          if (!(sum > 0)) return false;
          L[i * q + i] = Math.sqrt(sum);
        } else L[i * q + jj] = sum / L[jj * q + jj];
      }
    }
    return true;
  };
  let v = value(b);
  for (let it = 0; it < 100; it++) {
    derivs();
    if (!cholesky()) break;
    // Newton step δ = H⁻¹∇ by the two triangular solves.
    const z = new Float64Array(q), step = new Float64Array(q);
    for (let i = 0; i < q; i++) {
      let sum = grad[i];
      for (let k = 0; k < i; k++) sum -= L[i * q + k] * z[k];
      z[i] = sum / L[i * q + i];
    }
    for (let i = q - 1; i >= 0; i--) {
      let sum = z[i];
      for (let k = i + 1; k < q; k++) sum -= L[k * q + i] * step[k];
      step[i] = sum / L[i * q + i];
    }
    let lambda = 1, accepted = false;
    const trial = new Float64Array(q);
    for (let half = 0; half < 40; half++) {
      for (let d = 0; d < q; d++) trial[d] = b[d] + lambda * step[d];
      const vt = value(trial);
      if (vt >= v) {
        accepted = true;
        b.set(trial);
        const dv = vt - v;
        v = vt;
        if (dv <= 1e-15 * (1 + Math.abs(v))) it = 1e9;
        break;
      }
      lambda *= 0.5;
    }
    if (!accepted) break;
  }
  derivs();
  if (!cholesky()) {
    L.fill(0);
    for (let d = 0; d < q; d++) L[d * q + d] = 1;
  }
  return { mode: b, chol: L };
}

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
  const eta = apply(Predictor, [f, g], { groupOf: data.groupOf, nodes, K, q });
  const lp = apply(LogLik, phi ? [eta, phi] : [eta], { data, phi: phiValue });
  const perGroup = scatterAddRows(lp, data.groupOf, G);
  // The constant weights: the rule's log-weights plus Σ_j c(y_j) of each group.
  const w = logW.slice();
  for (let i = 0; i < G; i++) for (let k = 0; k < K; k++) w[i * K + k] += data.cst[i];
  return logsumexp(add(perGroup, withBackend(f.backend, () => tensor(w, [G, K]))), 1);
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
  const K1 = o.K ?? (q === 1 ? 25 : q === 2 ? 9 : 5);
  const adaptive = o.adaptive ?? true;
  const rule = q === 1 ? (() => { const r = gaussHermite(K1); return { nodes: r.nodes, logWeights: r.logWeights }; })() : productRule(K1, q);
  const K = rule.logWeights.length;
  const G = data.ngroups;
  const phiValue = phi ? phi.item() : 1;
  const fv = f.toArray(), gv = g.toArray();
  const nodes = new Float64Array(G * K * q);
  const logW = new Float64Array(G * K);
  const HALF_LN_2PI = 0.9189385332046728;
  for (let i = 0; i < G; i++) {
    const lo = data.offsets[i], hi = data.offsets[i + 1];
    let mode: Float64Array = new Float64Array(q), chol: Float64Array = new Float64Array(q * q);
    for (let d = 0; d < q; d++) chol[d * q + d] = 1;
    if (adaptive) ({ mode, chol } = groupMode(data.family.code, data.y, data.trials, fv, gv, lo, hi, q, phiValue));
    // b_k = b̂ + L⁻ᵀξ_k; log|det L⁻ᵀ| = −Σ log L_dd.
    let logDet = 0;
    for (let d = 0; d < q; d++) logDet -= Math.log(chol[d * q + d]);
    for (let k = 0; k < K; k++) {
      const xi = rule.nodes.subarray(k * q, k * q + q);
      const bk = nodes.subarray((i * K + k) * q, (i * K + k + 1) * q);
      for (let d = q - 1; d >= 0; d--) {
        let sum = xi[d];
        for (let e = d + 1; e < q; e++) sum -= chol[e * q + d] * bk[e];
        bk[d] = sum / chol[d * q + d];
      }
      let xi2 = 0, b2 = 0;
      for (let d = 0; d < q; d++) {
        xi2 += xi[d] * xi[d];
        bk[d] += mode[d];
        b2 += bk[d] * bk[d];
      }
      // w_k·e^{‖ξ‖²/2}·(2π)^{q/2}·|det A| times the prior density φ_q(b_k).
      logW[i * K + k] = rule.logWeights[k] + 0.5 * xi2 + q * HALF_LN_2PI + logDet - 0.5 * b2 - q * HALF_LN_2PI;
    }
  }
  return { nodes, logW, K, q };
}
