// Marginal maximum likelihood for the unidimensional partial-credit model (Bock & Aitkin 1981,
// Psychometrika 46, 443–459, with the MML objective maximised directly by L-BFGS, not by EM):
//   ℓ(δ, σ) = Σ_s log ∫ Π_{k ∈ s} P(x_sk | θ; δ) · N(θ; 0, σ²) dθ,
// every item in one domain, θ's mean fixed at 0 (which identifies δ's location: docs/latent-pcm.md
// §4) and σ free.
//
// Each student's integral is an adaptive Gauss–Hermite rule (Naylor & Smith 1982, Appl. Stat.
// 31, 214–225; Liu & Pierce 1994, Biometrika 81, 624–629): nodes θ_m = θ̂ + s·ξ_m at the
// posterior mode θ̂ with s = (−∂²/∂θ² log posterior)^{−1/2}, both at the current parameters:
//   ∫ L(θ) N(θ; 0, σ²) dθ ≈ Σ_m w_m e^{ξ_m²/2} √(2π) s · L(θ_m) · N(θ_m; 0, σ²).
// For any fixed θ̂ and s this is a rule for the same integral, so the nodes are held fixed while
// differentiating (δ enters through L, σ through the prior density at the nodes), as in
// ngmm/marginal/quadrature.ts; the gradient is then the integral's up to the rule's error.
//
// Node count, measured against a brute-force Gauss–Kronrod integral on eRm's pcmdat2
// (test/ngmm/latent/pcm.erm.test.ts): 41 nodes are at rounding level (≤ 2e−13 in a student's
// log marginal) for σ ≤ 2 and 1e−10 at σ = 3, while 15 are off by 2e−9 at σ = 1.3: a student
// with an extreme score has a posterior that is the prior times a logistic-shaped ramp, skewed
// well beyond what a low-order rule integrates. A plain (non-adaptive) rule is much worse: 41
// nodes miss by 2.5e−9 at σ = 1.3 and 7e−3 at σ = 3.
import { inverseInformation } from './information';
import * as E from '../../engine/index';
import { gaussHermite } from '../marginal/gaussHermite';
import { NgmmError } from '../errors';
import { pcmAtNodes, studentLik, validatePcm } from './pcm';
import { D, type ItemBank, type Responses } from './types';

export interface Pcm1DOptions {
  /** Adaptive Gauss–Hermite nodes (default 41). */
  K?: number;
  /** L-BFGS stopping rule on the largest gradient component of −ℓ (default 1e−6). */
  gtol?: number;
  maxIter?: number;
  /** Starting steps (default 0) and σ (default 1). */
  start?: { steps?: ArrayLike<number>; sigma?: number };
}

export interface Pcm1DFit {
  /** Step difficulties δ (bank.steps' layout), with E[θ] = 0. */
  steps: Float64Array;
  sigma: number;
  /** ℓ at the estimate. */
  logLik: number;
  /** Standard errors from the observed information (finite differences of the exact gradient). */
  se: { steps: Float64Array; sigma: number };
  converged: boolean;
  message: string;
  iterations: number;
}

/**
 * Per-student log marginal likelihoods [n] on the tape, differentiable in `steps` [S] and
 * `logSigma` (one element), by the K-node adaptive rule above at the current parameters.
 */
export function pcmMarginal1D(bank: ItemBank, resp: Responses, steps: E.Tensor, logSigma: E.Tensor, K = 41): E.Tensor {
  validatePcm(bank, resp);
  const d = bank.domain[0];
  for (let k = 1; k < bank.domain.length; k++) {
    if (bank.domain[k] !== d) throw new NgmmError(`pcmMarginal1D: every item must measure one domain; item ${k} is in domain ${bank.domain[k]}, item 0 in ${d}`);
  }
  if (!(Number.isInteger(K) && K >= 1 && K <= 64)) throw new NgmmError(`pcmMarginal1D: K must be an integer in 1 … 64, got ${K}`);
  if (logSigma.size !== 1) throw new NgmmError(`pcmMarginal1D: logSigma must have one element, got ${logSigma.size}`);
  if (steps.size !== bank.steps.length) throw new NgmmError(`pcmMarginal1D: steps has ${steps.size} entries but the bank has ${bank.steps.length} steps`);
  const sigma = Math.exp(logSigma.item());
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new NgmmError(`pcmMarginal1D: σ = ${sigma} must be finite and > 0`);
  const n = resp.start.length - 1;
  const { mode, scale } = posteriorModes1D({ ...bank, steps: steps.toArray() }, resp, sigma);
  const rule = gaussHermite(K);
  const nodes = new Float64Array(n * K * D), cst = new Float64Array(n * K), halfSq = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < K; m++) {
      const x = rule.nodes[m], t = mode[i] + scale[i] * x;
      nodes[(i * K + m) * D + d] = t;
      // log(w_m e^{ξ²/2} √(2π) s) plus the prior's −½log 2π: they cancel.
      cst[i * K + m] = rule.logWeights[m] + 0.5 * x * x + Math.log(scale[i]);
      halfSq[i * K + m] = 0.5 * t * t;
    }
  }
  const students = Int32Array.from({ length: n }, (_, i) => i);
  const [cT, hT] = E.withBackend(steps.backend, () => [E.tensor(cst, [n, K]), E.tensor(halfSq, [n, K])]);
  // log N(θ; 0, σ²) + ½log 2π = −log σ − θ²/(2σ²), the only place σ enters.
  const logPrior = E.sub(E.sub(cT, E.mul(hT, E.exp(E.mul(logSigma, -2)))), logSigma);
  const ll = pcmAtNodes(bank, resp, students, nodes, K, steps);
  return E.logsumexp(E.add(ll, logPrior), 1);
}

/**
 * Each student's posterior mode of θ under N(0, σ²) (one domain) and the scale
 * (−∂²/∂θ² log posterior)^{−1/2} there. The log posterior is strictly concave (each item adds
 * −Var[X] ≤ 0 to the curvature, the prior −1/σ²), so Newton's method from 0, with steps capped
 * at 2σ and halved until the objective rises, converges to the unique mode.
 */
export function posteriorModes1D(bank: ItemBank, resp: Responses, sigma: number): { mode: Float64Array; scale: Float64Array } {
  const lik = studentLik(bank, resp), d = bank.domain[0], n = lik.students;
  const mode = new Float64Array(n), scale = new Float64Array(n);
  const th = new Float64Array(D), out = new Float64Array(7), iv = 1 / (sigma * sigma);
  const post = (t: number) => {
    th[d] = t;
    lik.evaluate(s, th, out);
    return out[0] - 0.5 * t * t * iv;
  };
  let s = 0;
  for (; s < n; s++) {
    let t = 0, f = post(t);
    for (let it = 0; it < 100; it++) {
      const g = out[1 + d] - t * iv, H = out[4 + d] - iv;
      let step = -g / H;
      if (Math.abs(step) > 2 * sigma) step = Math.sign(step) * 2 * sigma;
      let fNew = post(t + step);
      while (fNew < f && Math.abs(step) > 1e-14) {
        step /= 2;
        fNew = post(t + step);
      }
      t += step;
      f = fNew;
      if (Math.abs(step) <= 1e-10 * Math.max(1, Math.abs(t))) break;
    }
    post(t);
    mode[s] = t;
    scale[s] = 1 / Math.sqrt(iv - out[4 + d]);
  }
  return { mode, scale };
}

/** Fits δ and σ by marginal ML (all items in one domain, θ ~ N(0, σ²)). */
export function fitPcm1D(bank: ItemBank, resp: Responses, o: Pcm1DOptions = {}): Pcm1DFit {
  validatePcm(bank, resp);
  const K = o.K ?? 41, S = bank.steps.length;
  const x0 = new Float64Array(S + 1);
  if (o.start?.steps) {
    if (o.start.steps.length !== S) throw new NgmmError(`fitPcm1D: start.steps has ${o.start.steps.length} entries but the bank has ${S} steps`);
    x0.set(Array.from(o.start.steps));
  }
  x0[S] = Math.log(o.start?.sigma ?? 1);
  const stepsT = E.param(x0.subarray(0, S));
  const logSigma = E.param([x0[S]]);
  try {
    const loss = () => E.neg(E.sum(pcmMarginal1D(bank, resp, stepsT, logSigma, K)));
    const r = E.minimize([stepsT, logSigma], loss, { gtol: o.gtol ?? 1e-6, maxIter: o.maxIter ?? 500 });
    const x = r.x.slice();
    // Observed information in (δ, log σ) by central differences of the exact gradient, symmetrised.
    const grad = (at: Float64Array): Float64Array => {
      stepsT.data.set(at.subarray(0, S));
      logSigma.data.set(at.subarray(S));
      return E.tidy(() => {
        const g = E.grad(loss(), [stepsT, logSigma]);
        const out = new Float64Array(S + 1);
        out.set(g[0].data, 0);
        out[S] = g[1].item();
        return out;
      });
    };
    const P = S + 1;
    const info = inverseInformation(x, grad, (j) => 1e-5 * Math.max(1, Math.abs(x[j])));
    stepsT.data.set(x.subarray(0, S));
    logSigma.data.set(x.subarray(S));
    if (!info.cov) throw new NgmmError(`fitPcm1D: the observed information is not positive definite at parameter ${info.pivot} (are the steps identified? does every category occur?)`);
    const V = info.cov;
    const sigma = Math.exp(x[S]);
    const se = {
      steps: Float64Array.from({ length: S }, (_, j) => Math.sqrt(V[j * P + j])),
      // Delta method: dσ/d log σ = σ.
      sigma: sigma * Math.sqrt(V[S * P + S]),
    };
    return { steps: x.slice(0, S), sigma, logLik: -r.f, se, converged: r.converged, message: r.message, iterations: r.iterations };
  } finally {
    stepsT.dispose();
    logSigma.dispose();
  }
}
