// Two nested random intercepts, lme4's (1 | a/b) = (1 | a) + (1 | a:b) (docs/nested.md):
//   η_abj = f_abj + s_a·u_a + s_b·v_ab,  u_a, v_ab ~ N(0, 1),
//   L_a = log ∫ φ(u) Π_b exp(L_b(u)) du,  L_b(u) = log ∫ φ(v) Π_j p(y_abj | f_abj + s_a·u + s_b·v) dv.
// The inner integrals are the existing 1-D ODE marginal (ode.ts) with f shifted by s_a·u; the
// outer one is adaptive Gauss–Hermite, centred at the mode û_a of h(u) = −u²/2 + Σ_b L_b(u) and
// scaled by (−h''(û_a))^{−1/2}. On the tape: one batched ODE call over K shifted copies of every
// outer group's inner groups, their sums per (outer group, node), the rule's constant
// log-weights, and a log-sum-exp over nodes. Node positions are constants of the tape, which is
// exact for the same reason as in quadrature.ts: for any fixed centre and scale the change of
// variables leaves the integral unchanged.
import { add, full, grad, gatherRows, logsumexp, mul, reshape, scatterAddRows, sum, tensor, tidy, withBackend } from '../../engine/index';
import type { Tensor } from '../../engine/tensor';
import type { Backend } from '../../kernels/load';
import type { Family } from '../families/family';
import { adaptiveNodes, GH_MAX_K } from './gaussHermite';
import { groupResponse, releaseResponse, type GroupedResponse } from './groups';
import { logMarginal, type SolverStats } from './ode';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** A response grouped twice: rows sorted by outer group, then by inner group. */
export interface NestedResponse {
  /** The rows grouped by inner group (inner group b = groups[b] of this response). */
  readonly inner: GroupedResponse;
  /** Outer group a holds inner groups outerOffsets[a] .. outerOffsets[a+1]−1. */
  readonly outerOffsets: Int32Array;
  /** Outer group of each inner group. */
  readonly outerOf: Int32Array;
  readonly nOuter: number;
  /** The K-fold replicated responses the tape integrates over, made once per K (see `replica`). */
  readonly replicas: Map<number, Replica>;
  /**
   * The last call's outer modes û_a and curvatures h''(û_a), where the next mode search starts
   * (consecutive calls of an optimiser have nearby parameters, hence nearby modes).
   */
  warm: { mode: Float64Array; curv: Float64Array } | null;
}

/**
 * The rows grouped for the outer rule with K nodes: outer group a's inner groups repeated K
 * times, in the order (a, k, b): replicated inner group K·outerOffsets[a] + k·n_a + (b −
 * outerOffsets[a]) is inner group b at node k (n_a = outer a's number of inner groups).
 */
interface Replica {
  readonly response: GroupedResponse;
  /** Original row of each replicated row. */
  readonly rows: Int32Array;
  /** a·K + k of each replicated inner group (which outer node its L_b adds to). */
  readonly slotOfGroup: Int32Array;
  /** a·K + k of each replicated row. */
  readonly slotOfRow: Int32Array;
}

/**
 * Groups rows sorted by outer then inner group: `innerSizes[b]` rows in inner group b,
 * `outerSizes[a]` consecutive inner groups in outer group a. `m` as in `groupResponse` (the
 * binomial trials, or prior weights). The response is validated as `groupResponse` does.
 */
export function nestedResponse(
  family: Family, y: ArrayLike<number>, innerSizes: ArrayLike<number>, outerSizes: ArrayLike<number>, m?: ArrayLike<number>,
): NestedResponse {
  const A = outerSizes.length;
  if (A < 1) throw new Error('nestedResponse: no outer groups (outerSizes is empty)');
  const outerOffsets = new Int32Array(A + 1);
  for (let a = 0; a < A; a++) {
    const n = outerSizes[a];
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`nestedResponse: outer group ${a} has ${n} inner groups: every outer group needs at least one`);
    outerOffsets[a + 1] = outerOffsets[a] + n;
  }
  if (outerOffsets[A] !== innerSizes.length) {
    throw new Error(`nestedResponse: the outer groups hold ${outerOffsets[A]} inner groups but innerSizes gives ${innerSizes.length}`);
  }
  let inner: GroupedResponse;
  try {
    inner = groupResponse(family, y, innerSizes, m);
  } catch (e) {
    // groupResponse's "group i" is an inner group here.
    throw new Error(`nestedResponse: ${(e as Error).message.replace(/^group /, 'inner group ')}`);
  }
  const outerOf = new Int32Array(inner.ngroups);
  for (let a = 0; a < A; a++) outerOf.fill(a, outerOffsets[a], outerOffsets[a + 1]);
  return { inner, outerOffsets, outerOf, nOuter: A, replicas: new Map(), warm: null };
}

/** Frees the heap copies of the response and of its replicas. */
export function releaseNested(r: NestedResponse): void {
  releaseResponse(r.inner);
  for (const rep of r.replicas.values()) releaseResponse(rep.response);
}

/** Index of inner group b at outer node k in `NestedRule.innerMode`/`innerSd` (the replica's order). */
export function nestedInnerIndex(r: NestedResponse, K: number, b: number, k: number): number {
  const a = r.outerOf[b], o = r.outerOffsets[a];
  return K * o + k * (r.outerOffsets[a + 1] - o) + (b - o);
}

function replica(r: NestedResponse, K: number): Replica {
  let rep = r.replicas.get(K);
  if (rep) return rep;
  const inn = r.inner, A = r.nOuter, oo = r.outerOffsets, io = inn.offsets;
  const G = K * inn.ngroups, n = K * inn.nobs;
  const offsets = new Int32Array(G + 1), groupOf = new Int32Array(n), cst = new Float64Array(G);
  const rows = new Int32Array(n), slotOfGroup = new Int32Array(G), slotOfRow = new Int32Array(n);
  let g = 0, j = 0;
  for (let a = 0; a < A; a++) {
    for (let k = 0; k < K; k++) {
      for (let b = oo[a]; b < oo[a + 1]; b++) {
        for (let i = io[b]; i < io[b + 1]; i++) {
          rows[j] = i;
          groupOf[j] = g;
          slotOfRow[j++] = a * K + k;
        }
        cst[g] = inn.cst[b];
        slotOfGroup[g++] = a * K + k;
        offsets[g] = j;
      }
    }
  }
  const y = Float64Array.from(rows, (i) => inn.y[i]);
  const trials = inn.trials ? Float64Array.from(rows, (i) => inn.trials![i]) : null;
  rep = {
    response: { family: inn.family, y, trials, offsets, groupOf, cst, nobs: n, ngroups: G, uploads: new Map() },
    rows, slotOfGroup, slotOfRow,
  };
  r.replicas.set(K, rep);
  return rep;
}

export interface NestedOptions {
  /** Outer Gauss–Hermite nodes K (default 25). */
  nodes?: number;
  /** Relative accuracy of every inner ODE marginal, in the mode search and on the tape (default 1e−10). */
  rtol?: number;
}

/**
 * The outer rule and what prediction needs, as plain numbers (G = nOuter, K nodes):
 * - `mode`, `sd` [G]: û_a and σ̂_a = (−h''(û_a))^{−1/2}, where the rule is centred.
 * - `nodes` [G·K]: u_ak = û_a + σ̂_a·ξ_k (row-major, a then k).
 * - `logPost` [G·K]: normalised log-weights of p(u | y_a): Σ_k exp(logPost[a·K + k])·g(u_ak)
 *   ≈ E[g(u_a) | y_a].
 * - `innerMode`, `innerSd` [K·nInner]: inner group b's posterior mode of v and its curvature SD
 *   (−∂²/∂v² log p(v | u, y)^{−1/2}, the ODE's stats) given u = u_ak, at `nestedInnerIndex(data,
 *   K, b, k)`. With them E[η] = f + s_a·Σ_k π_ak·u_ak + s_b·Σ_k π_ak·E[v | u_ak, y], and E[μ] by
 *   a further rule over v about (innerMode, innerSd) at each node.
 * - `stats`: the batched ODE call's solver statistics in the same (replica) order.
 */
export interface NestedRule {
  readonly K: number;
  readonly mode: Float64Array;
  readonly sd: Float64Array;
  readonly nodes: Float64Array;
  readonly logPost: Float64Array;
  readonly innerMode: Float64Array;
  readonly innerSd: Float64Array;
  readonly stats: SolverStats;
}

/**
 * Per-outer-group log marginal likelihoods L [nOuter] of two nested random intercepts, on the
 * tape: gradients flow to f [n] (rows in the response's order), the outer and inner SDs
 * `sOuter`, `sInner` (one-element tensors) and the dispersion ϕ (one element; null for
 * families without one) through the ODE marginal's VJP and the tape's own sums.
 */
export function logMarginalNested(
  f: Tensor, sOuter: Tensor, sInner: Tensor, phi: Tensor | null, data: NestedResponse, o: NestedOptions = {},
): { L: Tensor; rule: NestedRule } {
  const inn = data.inner, fam = inn.family;
  const K = o.nodes ?? 25, rtol = o.rtol ?? 1e-10;
  if (!(Number.isInteger(K) && K >= 1 && K <= GH_MAX_K)) throw new Error(`logMarginalNested: option nodes = ${K}: a whole number of nodes in 1..${GH_MAX_K}`);
  if (!(rtol > 0 && rtol < 1)) throw new Error(`logMarginalNested: option rtol = ${rtol}: a relative tolerance in (0, 1)`);
  if (f.size !== inn.nobs) throw new Error(`logMarginalNested: ${f.size} fixed-effect outputs for ${inn.nobs} observations`);
  const scalarOf = (t: Tensor, name: string) => {
    if (t.size !== 1) throw new Error(`logMarginalNested: ${name} must have one element, got shape [${t.shape.join(', ')}]`);
    const v = t.item();
    if (!Number.isFinite(v)) throw new Error(`logMarginalNested: ${name} = ${v}: a finite standard deviation`);
    return v;
  };
  const sa = scalarOf(sOuter, 'sOuter'), sb = scalarOf(sInner, 'sInner');
  if (fam.hasDispersion && !phi) throw new Error(`logMarginalNested: the ${fam.name} family needs a dispersion ϕ`);
  const phiValue = phi ? scalarOf(phi, 'phi') : 1;
  // Log-concave p(y | η) makes the joint integrand log-concave in (u, v), so h(u) is concave with
  // h'' ≤ −1 (Prékopa, Acta Sci. Math. 34, 1973: marginals of log-concave functions are
  // log-concave): one mode, which the search below relies on.
  if (!fam.concave) {
    throw new Error(`logMarginalNested: the ${fam.name}/${fam.link} likelihood is not log-concave in η, so the outer posterior may have several modes; nested integration supports the log-concave families`);
  }
  const b = f.backend, G = data.nOuter;
  const fv = f.toArray();
  const { mode, sd } = outerModes(fv, sa, sb, phiValue, data, rtol, b);

  const nodes = new Float64Array(G * K), logW = new Float64Array(G * K);
  for (let a = 0; a < G; a++) {
    const r = adaptiveNodes(K, mode[a], sd[a]);
    for (let k = 0; k < K; k++) {
      const t = r.nodes[k];
      nodes[a * K + k] = t;
      // The rule's ∫ e^{ℓ} du weight times the prior density φ(u_ak).
      logW[a * K + k] = r.logWeights[k] - 0.5 * t * t - HALF_LOG_2PI;
    }
  }
  const rep = replica(data, K), R = rep.response;
  const tRow = Float64Array.from(rep.slotOfRow, (s) => nodes[s]);
  const n = inn.nobs, nRep = R.nobs, GR = R.ngroups;
  const [tT, onesT, logWT] = withBackend(b, () => [tensor(tRow), full([GR], 1), tensor(logW, [G, K])]);
  const fk = add(reshape(gatherRows(reshape(f, [n, 1]), rep.rows), [nRep]), mul(tT, sOuter));
  const { L: Lb, stats } = logMarginal(fk, mul(onesT, sInner), phi, R, { rtol });
  const perNode = add(reshape(scatterAddRows(reshape(Lb, [GR, 1]), rep.slotOfGroup, G * K), [G, K]), logWT);
  const L = logsumexp(perNode, 1);
  const pv = perNode.toArray(), lv = L.toArray();
  const logPost = Float64Array.from(pv, (v, i) => v - lv[Math.floor(i / K)]);
  return { L, rule: { K, mode, sd, nodes, logPost, innerMode: stats.mode, innerSd: stats.sd, stats } };
}

// The mode search stops when the step is below MODE_TOL·σ: the rule only needs a centre a small
// fraction of σ̂ from the mode (for any fixed centre it remains a rule for the same integral), and
// 1e−7 is still well above the noise of h' at the ODE's rtol (1e−10 relative).
const MODE_TOL = 1e-7;
const MAX_ITER = 200;
// h'' by central differences at û ± FD_STEP·σ: truncation (δ²/6)·h'''' is ~1e−7 relative and the
// ODE's rtol-level noise in h', divided by δ, ~1e−7·σ; σ̂ only places the nodes, where a relative
// error ε moves the 25-node rule's answer far less than ε.
const FD_STEP = 1e-3;

/**
 * Each outer group's mode û_a of h(u) = −u²/2 + Σ_b L_b(u) and σ̂_a = (−h''(û_a))^{−1/2}, all
 * groups advancing together (one batched ODE call per step). h'(u) = −u + s_a·Σ_j ∂L_b/∂f_j at
 * f + s_a·u, the ODE's own gradient read through the tape. Since h'' ≤ −1 (concave families),
 * the first step u + h'(u), Newton's with the prior's curvature −1, already brackets the root
 * (|h'(u) − h'(û)| ≥ |u − û|); it is capped, doubling, so that a poor start cannot send η to
 * overflow. Inside the bracket: the secant of the last two iterates, bisection when it leaves it.
 */
function outerModes(fv: Float64Array, sa: number, sb: number, phi: number, data: NestedResponse, rtol: number, b: Backend) {
  const inn = data.inner, G = data.nOuter, io = inn.offsets, oo = data.outerOffsets;
  const slope = (u: Float64Array): Float64Array =>
    withBackend(b, () =>
      tidy(() => {
        const shifted = Float64Array.from(fv, (v, j) => v + sa * u[data.outerOf[inn.groupOf[j]]]);
        const ft = tensor(shifted);
        ft.requiresGrad = true;
        const { L } = logMarginal(ft, full([inn.ngroups], sb), inn.family.hasDispersion ? tensor([phi], []) : null, inn, { rtol });
        if (!L.requiresGrad) {
          throw new Error('logMarginalNested: its mode search differentiates the inner marginals, so it cannot run inside noGrad');
        }
        const gv = grad(sum(L), [ft])[0].toArray();
        const d = new Float64Array(G);
        for (let a = 0; a < G; a++) {
          let s = 0;
          for (let j = io[oo[a]]; j < io[oo[a + 1]]; j++) s += gv[j];
          d[a] = -u[a] + sa * s;
        }
        return d;
      }),
    );
  const u = new Float64Array(G), lo = new Float64Array(G).fill(-Infinity), hi = new Float64Array(G).fill(Infinity);
  const c = new Float64Array(G).fill(-1), cap = new Float64Array(G).fill(2), done = new Uint8Array(G);
  // Warm start (as the Laplace mode search keeps its u): the previous call's modes, and its
  // curvatures for the first step, which is then nearly Newton's. Without a bracket the steps
  // are capped as from 0, so a far-off previous mode costs steps, not safety.
  const warm = data.warm;
  if (warm && warm.mode.length === G) {
    for (let a = 0; a < G; a++) {
      if (Number.isFinite(warm.mode[a]) && Number.isFinite(warm.curv[a])) { u[a] = warm.mode[a]; c[a] = Math.min(warm.curv[a], -1); }
    }
  }
  let d = slope(u);
  for (let it = 0; ; it++) {
    const next = u.slice();
    let moving = false;
    for (let a = 0; a < G; a++) {
      if (done[a]) continue;
      if (d[a] === 0) {
        done[a] = 1;
        continue;
      }
      if (d[a] > 0) lo[a] = Math.max(lo[a], u[a]);
      else hi[a] = Math.min(hi[a], u[a]);
      let t = u[a] - d[a] / c[a];
      if (Number.isFinite(lo[a]) && Number.isFinite(hi[a])) {
        if (!(t > lo[a] && t < hi[a])) t = 0.5 * (lo[a] + hi[a]);
      } else if (Math.abs(t - u[a]) > cap[a]) {
        t = u[a] + Math.sign(t - u[a]) * cap[a];
        cap[a] *= 2;
      }
      if (Math.abs(t - u[a]) <= MODE_TOL / Math.sqrt(-c[a]) || hi[a] - lo[a] <= MODE_TOL / Math.sqrt(-c[a])) {
        done[a] = 1;
        continue;
      }
      next[a] = t;
      moving = true;
    }
    if (!moving) break;
    if (it === MAX_ITER) {
      const a = done.indexOf(0);
      throw new Error(`logMarginalNested: outer group ${a}: the mode search did not converge in ${MAX_ITER} steps (bracket [${lo[a]}, ${hi[a]}])`);
    }
    const dn = slope(next);
    for (let a = 0; a < G; a++) {
      if (done[a] || next[a] === u[a]) continue;
      const cn = (dn[a] - d[a]) / (next[a] - u[a]);
      // h'' ≤ −1 exactly; a secant above that is the ODE's noise between two close iterates.
      if (Number.isFinite(cn)) c[a] = Math.min(cn, -1);
      u[a] = next[a];
      d[a] = dn[a];
    }
  }
  const step = Float64Array.from(c, (ca) => FD_STEP / Math.sqrt(-ca));
  const dp = slope(Float64Array.from(u, (v, a) => v + step[a]));
  const dm = slope(Float64Array.from(u, (v, a) => v - step[a]));
  const sd = new Float64Array(G), curv = new Float64Array(G);
  for (let a = 0; a < G; a++) {
    const h2 = (dp[a] - dm[a]) / (2 * step[a]);
    curv[a] = Math.min(h2, -1);
    sd[a] = 1 / Math.sqrt(-curv[a]);
  }
  data.warm = { mode: u.slice(), curv };
  return { mode: u, sd };
}
