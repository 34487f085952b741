// Issue 15, bar 3: on simulated data with a known truth, maximum marginal likelihood recovers
// the background model. FE–LIN on the simulator's linear truth without a school effect (so
// the model is the generating one): every coefficient of Γ, the intercepts and Σ's log-Cholesky
// parameters within their standard errors (observed information). ME–NN on the nonlinear truth
// with its school effect: the fitted school-effect scale g(z_j) against the true one.
import { describe, expect, it } from 'vitest';
import { initSync } from '../../../engine/backend';
import * as E from '../../../engine/index';
import { simulatePisa } from '../../../bench/pisa/simulate';
import { covariance, fitLatent, type LatentData } from '../../../ngmm/latent/fit';

initSync();

/** Σ's log-Cholesky parameters [log L00, log L11, log L22, L10, L20, L21], written out. */
function logChol(S: Float64Array): number[] {
  const L00 = Math.sqrt(S[0]), L10 = S[3] / L00, L20 = S[6] / L00;
  const L11 = Math.sqrt(S[4] - L10 * L10), L21 = (S[7] - L20 * L10) / L11;
  const L22 = Math.sqrt(S[8] - L20 * L20 - L21 * L21);
  return [Math.log(L00), Math.log(L11), Math.log(L22), L10, L20, L21];
}

describe('latent NGMM: recovery of a known truth', () => {
  it('FE–LIN recovers Γ, the intercepts and Σ within their standard errors', () => {
    const sim = simulatePisa({ seed: 11, schools: 30, truth: 'linear', schoolEffect: false, clusterItems: [6, 3, 6] });
    const X = sim.xLinear, n = X.rows, p = X.cols;
    const data: LatentData = {
      bank: sim.bank, responses: sim.responses, school: sim.school, nSchools: sim.nSchools,
      covariates: { num: X.values, numNames: X.names, cat: new Int32Array(0), catNames: [], catLevels: [] },
      z: new Float64Array(sim.nSchools), pZ: 1,
    };
    const all = Int32Array.from({ length: n }, (_, i) => i);
    const heap0 = E.backend().heap.inUse;
    const m = fitLatent(data, 'fe-lin', all, new Int32Array(0), { linearInputs: 'columns', optimizer: 'lbfgs', innerNodes: 5 });
    const { cov, se } = covariance(m, all);
    const est = m.background.parameters().flatMap((t) => Array.from(t.data));
    m.dispose();
    expect(E.backend().heap.inUse).toBe(heap0);
    // The model sees standardised columns x̃_j = (x_j − m_j)/s_j, so the truth in its
    // parameters is Γ̃_jd = Γ_jd·s_j and γ̃_d = γ_d + Σ_j Γ_jd·m_j (means and n − 1 SDs of the data).
    const G = sim.truth.Gamma!, c = sim.truth.intercept!;
    const mean = new Float64Array(p), sd = new Float64Array(p);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) mean[j] += X.values[i * p + j] / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) sd[j] += (X.values[i * p + j] - mean[j]) ** 2 / (n - 1);
    for (let j = 0; j < p; j++) sd[j] = Math.sqrt(sd[j]);
    const gamma = Array.from({ length: p * 3 }, (_, k) => G[k] * sd[Math.floor(k / 3)]);
    const gamma0 = [0, 1, 2].map((d) => c[d] + Array.from(mean).reduce((acc, mj, j) => acc + G[j * 3 + d] * mj, 0));
    const truth = [...logChol(sim.truth.Sigma), ...gamma, ...gamma0];
    expect(est.length).toBe(truth.length);
    const z = est.map((v, k) => (v - truth[k]) / se[k]);
    // Half the default items per cluster (~16 responses a student), which halves the cost of ℓ at
    // the nodes; the statistic below is scale-free. 60 estimates, approximately N(truth, Cov) at
    // this sample size (~900 students). Their errors
    // are strongly correlated (the same students across three correlated domains), so the test
    // is the joint one: (θ̂ − θ)ᵀ Cov⁻¹ (θ̂ − θ) ~ χ²₆₀, whose 0.1 % and 99.9 % points are 31.7
    // and 99.6 — the upper bound says the truth is within the estimates' uncertainty, the lower
    // one that the SEs are not inflated to make that easy. Each coordinate alone: |z| < 4
    // (P ≈ 60 · 6.3e−5 < 0.4 %). Quadrature (5 nodes, adapted) moves the log-likelihood by
    // ~1e−5 relative, far below what would shift an estimate by a tenth of its SE.
    const diff = est.map((v, k) => v - truth[k]);
    const n2 = diff.length;
    const A = Float64Array.from(cov), b = Float64Array.from(diff);
    // Solve Cov·w = diff by Gaussian elimination (Cov is symmetric positive definite).
    for (let c2 = 0; c2 < n2; c2++) {
      for (let r = c2 + 1; r < n2; r++) {
        const f = A[r * n2 + c2] / A[c2 * n2 + c2];
        for (let k = c2; k < n2; k++) A[r * n2 + k] -= f * A[c2 * n2 + k];
        b[r] -= f * b[c2];
      }
    }
    const w = new Float64Array(n2);
    for (let r = n2 - 1; r >= 0; r--) {
      let acc = b[r];
      for (let k = r + 1; k < n2; k++) acc -= A[r * n2 + k] * w[k];
      w[r] = acc / A[r * n2 + r];
    }
    const d2 = diff.reduce((acc, v, k) => acc + v * w[k], 0);
    expect(d2).toBeLessThan(99.6);
    expect(d2).toBeGreaterThan(31.7);
    expect(Math.max(...z.map(Math.abs))).toBeLessThan(4);
  }, 60_000);

  it('L-BFGS at 3 nodes keeps to steps the re-adapted objective accepts (it used to run Σ singular)', () => {
    // Before the acceptance check, this fit drove log L₂₂ towards −4.4 (the fixed 3-node rule
    // rewarded a near-singular Σ) until a student's mode search failed with a LatentMarginalError.
    const sim = simulatePisa({ seed: 11, schools: 20, truth: 'linear', schoolEffect: false, clusterItems: [6, 3, 6] });
    const X = sim.xLinear;
    const data: LatentData = {
      bank: sim.bank, responses: sim.responses, school: sim.school, nSchools: sim.nSchools,
      covariates: { num: X.values, numNames: X.names, cat: new Int32Array(0), catNames: [], catLevels: [] },
      z: new Float64Array(sim.nSchools), pZ: 1,
    };
    const all = Int32Array.from({ length: X.rows }, (_, i) => i);
    const m = fitLatent(data, 'fe-lin', all, new Int32Array(0), { linearInputs: 'columns', optimizer: 'lbfgs', innerNodes: 3 });
    try {
      expect(m.info.converged).toBe(true);
      const c = m.background.chol.data;
      // The truth's log-diagonal is about −0.16, −0.6, −0.9; a degenerate Σ has one below −2.
      for (let d = 0; d < 3; d++) expect(c[d]).toBeGreaterThan(-2);
    } finally {
      m.dispose();
    }
  }, 60_000);
});
