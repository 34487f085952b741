// The partial-credit measurement model (Masters 1982, Psychometrika 47, 149–174) of the latent
// NGMM (issue 15; docs/latent-pcm.md has the derivations). With ψ_c = Σ_{h ≤ c} (θ − δ_h),
// ψ_0 = 0, an item with m steps has
//   log P(x = c | θ) = ψ_c − log Σ_{j=0..m} e^{ψ_j},
//   ∂/∂θ  log P = c − E[X],      ∂²/∂θ² log P = −Var[X],
//   ∂/∂δ_h log P = −1[h ≤ c] + P(X ≥ h).
// The normaliser is a log-sum-exp shifted by max ψ: ψ_m = mθ − Σδ grows without bound in θ, so
// the direct ratio overflows at |θ| ≈ 700/m.
//
// Indices in messages are 0-based, as in the ItemBank and Responses arrays.
import { apply } from '../../engine/tape';
import { Tensor, type Primitive } from '../../engine/tensor';
import { NgmmError } from '../errors';
import { D, type ItemBank, type Responses } from './types';

/**
 * log P(x = c | θ) for c = 0 … m into out[0 … m], for the item whose steps are
 * steps[s0 … s0 + m).
 */
export function itemLogProbs(steps: ArrayLike<number>, s0: number, m: number, theta: number, out: Float64Array): void {
  let psi = 0, max = 0;
  out[0] = 0;
  for (let h = 1; h <= m; h++) {
    psi += theta - steps[s0 + h - 1];
    out[h] = psi;
    if (psi > max) max = psi;
  }
  let s = 0;
  for (let c = 0; c <= m; c++) s += Math.exp(out[c] - max);
  const lse = max + Math.log(s);
  for (let c = 0; c <= m; c++) out[c] -= lse;
}

/** E[X] and Var[X] under the category log-probabilities lp[0 … m]. */
export function itemMoments(lp: Float64Array, m: number): { mean: number; variance: number } {
  let mean = 0;
  for (let c = 1; c <= m; c++) mean += c * Math.exp(lp[c]);
  // Two-pass: Σ c²p − mean² loses all digits where the item is nearly decided (Var ~ e^{−|θ|}).
  let variance = 0;
  for (let c = 0; c <= m; c++) variance += (c - mean) * (c - mean) * Math.exp(lp[c]);
  return { mean, variance };
}

/**
 * Adds w·∂/∂δ_h log P(x = c | θ) = w·(P(X ≥ h) − 1[h ≤ c]) to out[o + h − 1], h = 1 … m.
 * The tails P(X ≥ h) are summed from the top so that none is a difference of near-equal terms.
 */
export function addStepGradient(lp: Float64Array, m: number, c: number, w: number, out: Float64Array, o: number): void {
  let tail = 0;
  for (let h = m; h >= 1; h--) {
    tail += Math.exp(lp[h]);
    out[o + h - 1] += w * (tail - (h <= c ? 1 : 0));
  }
}

// ---------------------------------------------------------------------------------------------
// Validation, once per (bank, responses) pair.

const checked = new WeakMap<Responses, WeakSet<ItemBank>>();

/** Checks the bank's shape and steps (finite), and every response; throws an NgmmError naming student and item. */
export function validatePcm(bank: ItemBank, resp: Responses): void {
  if (checked.get(resp)?.has(bank)) return;
  validateBank(bank);
  const K = bank.domain.length;
  const { start, item, score } = resp;
  const n = start.length - 1;
  if (n < 0 || start[0] !== 0) throw new NgmmError(`responses: start must begin with 0 and have one entry per student plus one`);
  if (item.length !== score.length) throw new NgmmError(`responses: ${item.length} items but ${score.length} scores`);
  if (start[n] !== item.length) throw new NgmmError(`responses: start ends at ${start[n]} but there are ${item.length} responses`);
  const lastSeen = new Int32Array(K).fill(-1);
  for (let s = 0; s < n; s++) {
    if (!(start[s + 1] >= start[s])) throw new NgmmError(`responses: student ${s}: start decreases (${start[s]} then ${start[s + 1]})`);
    for (let r = start[s]; r < start[s + 1]; r++) {
      const k = item[r];
      if (!(k >= 0 && k < K)) throw new NgmmError(`student ${s}: item ${k} is not in the bank (items 0 … ${K - 1})`);
      if (lastSeen[k] === s) throw new NgmmError(`student ${s}, item ${k}: answered more than once`);
      lastSeen[k] = s;
      const m = bank.stepStart[k + 1] - bank.stepStart[k];
      const c = score[r];
      if (!(c >= 0 && c <= m)) throw new NgmmError(`student ${s}, item ${k}: score ${c} is outside 0 … ${m}`);
    }
  }
  let set = checked.get(resp);
  if (!set) checked.set(resp, (set = new WeakSet()));
  set.add(bank);
}

function validateBank(bank: ItemBank): void {
  const { domain, stepStart, steps } = bank;
  const K = domain.length;
  if (K === 0) throw new NgmmError('item bank: no items');
  if (stepStart.length !== K + 1) throw new NgmmError(`item bank: stepStart has ${stepStart.length} entries for ${K} items (needs ${K + 1})`);
  if (stepStart[0] !== 0) throw new NgmmError(`item bank: stepStart must begin with 0, got ${stepStart[0]}`);
  if (stepStart[K] !== steps.length) throw new NgmmError(`item bank: stepStart ends at ${stepStart[K]} but there are ${steps.length} steps`);
  for (let k = 0; k < K; k++) {
    if (!(domain[k] >= 0 && domain[k] < D)) throw new NgmmError(`item ${k}: domain ${domain[k]} is not 0, 1 or 2`);
    if (!(stepStart[k + 1] - stepStart[k] >= 1)) throw new NgmmError(`item ${k}: needs at least one step, has ${stepStart[k + 1] - stepStart[k]}`);
  }
  checkSteps(bank, steps, 'item bank');
}

function checkSteps(bank: ItemBank, steps: ArrayLike<number>, what: string): void {
  const K = bank.domain.length;
  for (let k = 0; k < K; k++) {
    for (let j = bank.stepStart[k]; j < bank.stepStart[k + 1]; j++) {
      if (!Number.isFinite(steps[j])) throw new NgmmError(`${what}: item ${k}, step ${j - bank.stepStart[k] + 1} is ${steps[j]} (must be finite)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One student's log-likelihood, gradient and (diagonal) Hessian in θ.

export interface StudentLik {
  /** Number of students. */
  readonly students: number;
  /**
   * Student s at θ ∈ R³: out[0] = Σ_k log P(x_k | θ_{d_k}), out[1 … 3] its gradient, out[4 … 6]
   * the diagonal of its Hessian (each item touches one domain, so the Hessian is diagonal).
   * A domain without items contributes 0 to all three.
   */
  evaluate(s: number, theta: Float64Array, out: Float64Array): void;
  /** Σ over student s's items of domain d of log P(x_k | θ_d). */
  domainLogLik(s: number, d: number, thetaD: number): number;
  /** P(x = c | θ_d), c = 0 … m_k, into out[0 … m_k]. */
  probs(k: number, thetaD: number, out: Float64Array): void;
}

export function studentLik(bank: ItemBank, resp: Responses): StudentLik {
  validatePcm(bank, resp);
  const { domain, stepStart, steps } = bank;
  const { start, item, score } = resp;
  const n = start.length - 1, K = domain.length;
  let maxM = 1;
  for (let k = 0; k < K; k++) maxM = Math.max(maxM, stepStart[k + 1] - stepStart[k]);
  const lp = new Float64Array(maxM + 1);
  const checkStudent = (s: number) => {
    if (!(Number.isInteger(s) && s >= 0 && s < n)) throw new NgmmError(`student ${s} is not among the ${n} students (0 … ${n - 1})`);
  };
  return {
    students: n,
    evaluate(s, theta, out) {
      checkStudent(s);
      if (theta.length !== D) throw new NgmmError(`studentLik.evaluate: θ must have ${D} entries, got ${theta.length}`);
      if (out.length < 7) throw new NgmmError(`studentLik.evaluate: out must have 7 entries, got ${out.length}`);
      out.fill(0, 0, 7);
      for (let r = start[s]; r < start[s + 1]; r++) {
        const k = item[r], d = domain[k], m = stepStart[k + 1] - stepStart[k], c = score[r];
        itemLogProbs(steps, stepStart[k], m, theta[d], lp);
        const { mean, variance } = itemMoments(lp, m);
        out[0] += lp[c];
        out[1 + d] += c - mean;
        out[4 + d] -= variance;
      }
    },
    domainLogLik(s, d, thetaD) {
      checkStudent(s);
      if (!(d >= 0 && d < D && Number.isInteger(d))) throw new NgmmError(`domainLogLik: domain ${d} is not 0, 1 or 2`);
      let ll = 0;
      for (let r = start[s]; r < start[s + 1]; r++) {
        const k = item[r];
        if (domain[k] !== d) continue;
        const m = stepStart[k + 1] - stepStart[k];
        itemLogProbs(steps, stepStart[k], m, thetaD, lp);
        ll += lp[score[r]];
      }
      return ll;
    },
    probs(k, thetaD, out) {
      if (!(Number.isInteger(k) && k >= 0 && k < K)) throw new NgmmError(`probs: item ${k} is not in the bank (items 0 … ${K - 1})`);
      const m = stepStart[k + 1] - stepStart[k];
      if (out.length < m + 1) throw new NgmmError(`probs: item ${k} has ${m + 1} categories but out has ${out.length} entries`);
      itemLogProbs(steps, stepStart[k], m, thetaD, lp);
      for (let c = 0; c <= m; c++) out[c] = Math.exp(lp[c]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The tape op: log-likelihoods at given nodes, differentiable in the step difficulties.

interface AtNodesAttrs {
  readonly bank: ItemBank;
  readonly resp: Responses;
  readonly students: Int32Array;
  readonly nodes: Float64Array;
  readonly M: number;
}

// Each (student, node) pair sums its items; forward and VJP both walk the same triple loop and
// the VJP recomputes the category probabilities rather than saving n·M·Σm of them (at 30
// students × 343 nodes × 30 items that would be 2.5 MB per school per evaluation).
function walk(a: AtNodesAttrs, steps: Float64Array, visit: (i: number, m: number, lp: Float64Array, k: number, mk: number, c: number) => void): void {
  const { bank, resp, students, nodes, M } = a;
  const { domain, stepStart } = bank;
  let maxM = 1;
  for (let k = 0; k < domain.length; k++) maxM = Math.max(maxM, stepStart[k + 1] - stepStart[k]);
  const lp = new Float64Array(maxM + 1);
  for (let i = 0; i < students.length; i++) {
    const s = students[i];
    for (let r = resp.start[s]; r < resp.start[s + 1]; r++) {
      const k = resp.item[r], d = domain[k], mk = stepStart[k + 1] - stepStart[k], c = resp.score[r];
      for (let m = 0; m < M; m++) {
        itemLogProbs(steps, stepStart[k], mk, nodes[(i * M + m) * D + d], lp);
        visit(i, m, lp, k, mk, c);
      }
    }
  }
}

const PcmAtNodes: Primitive<AtNodesAttrs> = {
  name: 'pcmAtNodes',
  forward([steps], a) {
    const st = steps.toArray();
    const ll = new Float64Array(a.students.length * a.M);
    walk(a, st, (i, m, lp, _k, _mk, c) => {
      ll[i * a.M + m] += lp[c];
    });
    const out = new Tensor([a.students.length, a.M], steps.backend);
    out.data.set(ll);
    return out;
  },
  vjp(up, _ans, [steps], a) {
    if (!steps.requiresGrad) return [null];
    const st = steps.toArray(), u = up.toArray();
    const g = new Float64Array(steps.size);
    walk(a, st, (i, m, lp, k, mk, c) => addStepGradient(lp, mk, c, u[i * a.M + m], g, a.bank.stepStart[k]));
    const out = new Tensor(steps.shape, steps.backend);
    out.data.set(g);
    return [out];
  },
};

/**
 * [n × M]: entry (i, m) is student students[i]'s log-likelihood Σ_k log P(x_k | θ_{d_k}) at
 * θ = nodes[(i·M + m)·3 … +3), with the step difficulties taken from `steps` (bank.steps'
 * layout; bank.steps itself is not read). Differentiable in `steps`; the nodes are constants
 * (an adaptive rule held fixed while differentiating, as in ngmm/marginal/quadrature.ts).
 */
export function pcmAtNodes(bank: ItemBank, resp: Responses, students: Int32Array, nodes: Float64Array, M: number, steps: Tensor): Tensor {
  validatePcm(bank, resp);
  const n = students.length, S = bank.steps.length;
  if (!(Number.isInteger(M) && M >= 1)) throw new NgmmError(`pcmAtNodes: M must be a positive integer, got ${M}`);
  if (nodes.length !== n * M * D) throw new NgmmError(`pcmAtNodes: nodes has ${nodes.length} entries, expected ${n} students × ${M} nodes × ${D}`);
  if (steps.size !== S) throw new NgmmError(`pcmAtNodes: steps has ${steps.size} entries but the bank has ${S} steps`);
  const nStudents = resp.start.length - 1;
  for (let i = 0; i < n; i++) {
    if (!(students[i] >= 0 && students[i] < nStudents)) throw new NgmmError(`pcmAtNodes: students[${i}] = ${students[i]} is not among the ${nStudents} students`);
  }
  for (let j = 0; j < nodes.length; j++) {
    if (!Number.isFinite(nodes[j])) throw new NgmmError(`pcmAtNodes: node ${Math.floor(j / D) % M} of student ${students[Math.floor(j / (D * M))]} is not finite (${nodes[j]})`);
  }
  checkSteps(bank, steps.data, 'pcmAtNodes: steps');
  return apply(PcmAtNodes, [steps], { bank, resp, students, nodes, M });
}

// ---------------------------------------------------------------------------------------------
// Identification of estimated difficulties.

interface IdentifyAttrs {
  readonly domain: Int32Array;
  readonly stepStart: Int32Array;
}

// P = I − (per-domain averaging), applied to a vector over the steps. P is symmetric and
// idempotent, so its VJP is P itself.
function centre(a: IdentifyAttrs, x: Float64Array): Float64Array {
  const sum = new Float64Array(D), cnt = new Float64Array(D);
  for (let k = 0; k < a.domain.length; k++) {
    for (let j = a.stepStart[k]; j < a.stepStart[k + 1]; j++) {
      sum[a.domain[k]] += x[j];
      cnt[a.domain[k]]++;
    }
  }
  const y = new Float64Array(x.length);
  for (let k = 0; k < a.domain.length; k++) {
    const mean = sum[a.domain[k]] / cnt[a.domain[k]];
    for (let j = a.stepStart[k]; j < a.stepStart[k + 1]; j++) y[j] = x[j] - mean;
  }
  return y;
}

const Identify: Primitive<IdentifyAttrs> = {
  name: 'identifySteps',
  forward([raw], a) {
    const out = new Tensor(raw.shape, raw.backend);
    out.data.set(centre(a, raw.toArray()));
    return out;
  },
  vjp(up, _ans, [raw], a) {
    const out = new Tensor(raw.shape, raw.backend);
    out.data.set(centre(a, up.toArray()));
    return [out];
  },
};

/**
 * Identified step difficulties from free ones: δ = raw − (mean of raw over the steps of the
 * same domain), so that within each domain the steps sum to 0. Shifting every θ_d and every δ
 * of domain d by the same constant leaves every P(x | θ) unchanged, so with the proficiency
 * mean free (a background model with an intercept) δ is identified only up to that shift per
 * domain; this constraint removes it (docs/latent-pcm.md §4). Use it or fix the proficiency
 * mean of each domain — not both (that over-constrains), not neither.
 */
export function identify(bank: ItemBank, raw: Tensor): Tensor {
  if (raw.size !== bank.steps.length) throw new NgmmError(`identify: ${raw.size} raw steps for a bank of ${bank.steps.length}`);
  return apply(Identify, [raw], { domain: bank.domain, stepStart: bank.stepStart });
}

/**
 * The shift per domain that moves plain steps to the sum-zero constraint: δ_identified = δ −
 * shift[d], with θ_d − shift[d] alongside it (0 for a domain without items).
 */
export function domainShift(bank: ItemBank, steps: ArrayLike<number>): Float64Array {
  const sum = new Float64Array(D), cnt = new Float64Array(D);
  for (let k = 0; k < bank.domain.length; k++) {
    for (let j = bank.stepStart[k]; j < bank.stepStart[k + 1]; j++) {
      sum[bank.domain[k]] += steps[j];
      cnt[bank.domain[k]]++;
    }
  }
  return sum.map((s, d) => (cnt[d] > 0 ? s / cnt[d] : 0));
}
