// Bar 1 and 2 of issue 15 for the latent model's marginal: the nested adaptive Gauss–Hermite
// school log-marginals against brute-force tensor-grid integration written here, their
// gradients against central finite differences, posterior summaries, errors, and the heap.
//
// The oracle is the trapezoidal rule on a tensor grid in whitened coordinates θ = c + Cz,
// z ∈ [−Z, Z]³: for an integrand analytic in a strip and decaying like a Gaussian its error is
// ~exp(−2π²σ²/h²) (σ the integrand's SD in z-units, h the step; Trefethen & Weideman, SIAM Rev.
// 56, 2014) plus the tail beyond Z (~e^{−Z²/2}). The centre c and scale C come from the grid's
// own moments, iterated from the prior (no Newton, nothing from the code under test).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../../engine/index';
import { adaptSchools, innerLogLik, LatentMarginalError, type AdaptOptions, type MeasurementLik } from '../../../ngmm/latent/adapt';
import { latentLogLik, latentPosterior } from '../../../ngmm/latent/marginal';
import { checkVjp } from '../../helpers/checkVjp';

// ---- a small partial-credit measurement model (Masters 1982) -------------------------------------

interface Answer { item: number; score: number }

class Pcm implements MeasurementLik {
  constructor(readonly domain: number[], readonly steps: number[][], readonly answers: Answer[][]) {}
  // log P(x | t) = Σ_{h≤x}(t − δ_h) − log Σ_c exp(Σ_{h≤c}(t − δ_h)); d/dt = x − E[c], d²/dt² = −Var[c].
  evaluate(s: number, th: Float64Array, out: Float64Array): void {
    out.fill(0);
    for (const { item, score } of this.answers[s]) {
      const d = this.domain[item], t = th[d], st = this.steps[item];
      const psi = [0];
      for (let h = 0; h < st.length; h++) psi.push(psi[h] + t - st[h]);
      const mx = Math.max(...psi);
      let z = 0, e1 = 0, e2 = 0;
      for (let c = 0; c < psi.length; c++) {
        const w = Math.exp(psi[c] - mx);
        z += w; e1 += c * w; e2 += c * c * w;
      }
      const mean = e1 / z;
      out[0] += psi[score] - mx - Math.log(z);
      out[1 + d] += score - mean;
      out[4 + d] -= e2 / z - mean * mean;
    }
  }
  logLik(s: number, th: Float64Array): number {
    const o = new Float64Array(7);
    this.evaluate(s, th, o);
    return o[0];
  }
}

// Items: 10 per domain; dichotomous (1 step) and 3-4-category (2-3 steps) items, steps in the
// range PISA's scaled difficulties take (±2 logits).
function itemBank(rng: E.Rng) {
  const domain: number[] = [], steps: number[][] = [];
  for (let k = 0; k < 30; k++) {
    domain.push(k % 3);
    const m = k % 4 === 3 ? 3 : k % 4 === 2 ? 2 : 1;
    const st: number[] = [];
    for (let h = 0; h < m; h++) st.push(-1.5 + 3 * rng.uniform());
    steps.push(st.sort((a, b) => a - b));
  }
  return { domain, steps };
}

// Students answering `perStudent` random items (a rotated booklet); `noDomain2` students see no
// science item.
function simulate(seed: number, nStudents: number, perStudent: number, noDomain2 = new Set<number>()) {
  const rng = new E.Rng(seed);
  const { domain, steps } = itemBank(rng);
  const answers: Answer[][] = [];
  for (let s = 0; s < nStudents; s++) {
    const th = [rng.normal(), rng.normal(), rng.normal()];
    const pool = [...Array(30).keys()].filter((k) => !(noDomain2.has(s) && domain[k] === 2));
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    answers.push(pool.slice(0, perStudent).map((item) => {
      const t = th[domain[item]], st = steps[item];
      const psi = [0];
      for (let h = 0; h < st.length; h++) psi.push(psi[h] + t - st[h]);
      const w = psi.map(Math.exp), tot = w.reduce((a, b) => a + b, 0);
      let u = rng.uniform() * tot, score = 0;
      while (score < w.length - 1 && u > w[score]) u -= w[score++];
      return { item, score };
    }));
  }
  return { lik: new Pcm(domain, steps, answers), rng };
}

// ---- independent small linear algebra ----------------------------------------------------------------

type M3 = number[][];
const sigmaOf = (c: number[]): M3 => {
  const L = [[Math.exp(c[0]), 0, 0], [c[3], Math.exp(c[1]), 0], [c[4], c[5], Math.exp(c[2])]];
  return L.map((r) => L.map((q) => r[0] * q[0] + r[1] * q[1] + r[2] * q[2]));
};
function cholesky(A: M3): M3 {
  const L: M3 = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) for (let j = 0; j <= i; j++) {
    let s = A[i][j];
    for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
    L[i][j] = i === j ? Math.sqrt(s) : s / L[j][j];
  }
  return L;
}
function inverse(A: M3): M3 {
  const a = A.map((r, i) => [...r, ...[0, 1, 2].map((j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    const v = a[c][c];
    for (let j = 0; j < 6; j++) a[c][j] /= v;
    for (let r = 0; r < 3; r++) if (r !== c) { const f = a[r][c]; for (let j = 0; j < 6; j++) a[r][j] -= f * a[c][j]; }
  }
  return a.map((r) => r.slice(3));
}
const logDet = (A: M3): number => { const L = cholesky(A); return 2 * (Math.log(L[0][0]) + Math.log(L[1][1]) + Math.log(L[2][2])); };
const mv = (A: M3, x: number[]) => A.map((r) => r[0] * x[0] + r[1] * x[1] + r[2] * x[2]);
const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

function logNormal(th: ArrayLike<number>, m: number[], Sinv: M3, ld: number): number {
  const r = [th[0] - m[0], th[1] - m[1], th[2] - m[2]];
  return -1.5 * Math.log(2 * Math.PI) - 0.5 * ld - 0.5 * dot(r, mv(Sinv, r));
}

// ---- the oracle: trapezoid on a whitened tensor grid --------------------------------------------------

// log ∫ e^{logf(x)} dx over R³ with x = c + Cz on n points per dimension over [−Z, Z]; also the
// mean and covariance of the normalised integrand.
function gridIntegral(logf: (x: Float64Array) => number, c: number[], C: M3, n: number, Z: number) {
  const h = (2 * Z) / (n - 1), x = new Float64Array(3), vals = new Float64Array(n ** 3), pts = new Float64Array(3 * n ** 3);
  let mx = -Infinity, idx = 0;
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) for (let d = 0; d < n; d++, idx++) {
    const z = [-Z + a * h, -Z + b * h, -Z + d * h];
    for (let i = 0; i < 3; i++) x[i] = c[i] + C[i][0] * z[0] + C[i][1] * z[1] + C[i][2] * z[2];
    pts.set(x, idx * 3);
    const v = logf(x);
    vals[idx] = v;
    if (v > mx) mx = v;
  }
  let s = 0;
  const m = [0, 0, 0], S: M3 = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < vals.length; i++) {
    const w = Math.exp(vals[i] - mx);
    s += w;
    for (let p = 0; p < 3; p++) m[p] += w * pts[i * 3 + p];
  }
  for (let p = 0; p < 3; p++) m[p] /= s;
  for (let i = 0; i < vals.length; i++) {
    const w = Math.exp(vals[i] - mx) / s;
    for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) S[p][q] += w * (pts[i * 3 + p] - m[p]) * (pts[i * 3 + q] - m[q]);
  }
  const logJac = 3 * Math.log(h) + Math.log(C[0][0] * C[1][1] * C[2][2]);
  return { log: mx + Math.log(s) + logJac, mean: m, cov: S };
}

// Moment iteration from a starting Gaussian: three coarse grids, each recentred and rescaled
// at the previous one's mean and covariance, then the fine grid.
function adaptGrid(logf: (x: Float64Array) => number, c0: number[], S0: M3, nFine: number, zFine: number, nCoarse = 15, zCoarse = 6) {
  let c = c0, C = cholesky(S0);
  for (let it = 0; it < 3; it++) {
    const r = gridIntegral(logf, c, C, nCoarse, zCoarse);
    c = r.mean;
    C = cholesky(r.cov);
  }
  return { ...gridIntegral(logf, c, C, nFine, zFine), c, C };
}

// log ∫ N(θ; m, Σ) e^{ℓ_s(θ)} dθ: 25 points over ±8 SD (h = 0.67: trapezoid error ~e^{−44}
// for a unit-SD integrand, tail ~e^{−32}).
function bruteInner(lik: Pcm, s: number, m: number[], Sigma: M3) {
  const Sinv = inverse(Sigma), ld = logDet(Sigma);
  return adaptGrid((x) => logNormal(x, m, Sinv, ld) + lik.logLik(s, x), m, Sigma, 25, 8);
}

// log ∫ N(u; 0, I) ∏_i [∫ N(θ; μ_i + g⊙u, Σ) e^{ℓ_i(θ)} dθ] du. Each student's θ-grid is fixed
// (whitened at its posterior under the u-integrated prior N(μ_i, Σ + G²), which covers every u
// the outer grid weighs); for a given u the Gaussian's shift is an exponential tilt
//   N(θ; μ+Gu, Σ) = N(θ; μ, Σ)·exp(vᵀ(θ−μ) − ½uᵀGΣ⁻¹Gu),  v = Σ⁻¹Gu,
// which is separable in the grid's z (vᵀCz = Σ_d (Cᵀv)_d z_d), so each inner integral is a
// tensor contraction of the precomputed base values: n³ multiply-adds, no exp per point.
function bruteMixed(lik: Pcm, students: number[], mu: number[][], Sigma: M3, g: number[], nIn = 25, zIn = 8, nOut = 17, zOut = 7) {
  const Sinv = inverse(Sigma), ld = logDet(Sigma);
  const SG = Sigma.map((r, i) => r.map((v, j) => v + (i === j ? g[i] * g[i] : 0)));
  const h = (2 * zIn) / (nIn - 1), zs = Array.from({ length: nIn }, (_, a) => -zIn + a * h);
  const grids = students.map((s, j) => {
    const m = mu[j];
    // Where the student's mass lies for any u: moments under the u-integrated prior.
    const SGinv = inverse(SG), ldG = logDet(SG);
    const { c, C } = adaptGrid((x) => logNormal(x, m, SGinv, ldG) + lik.logLik(s, x), m, SG, 15, 6);
    const base = new Float64Array(nIn ** 3), x = new Float64Array(3);
    let mx = -Infinity, idx = 0;
    for (let a = 0; a < nIn; a++) for (let b = 0; b < nIn; b++) for (let d = 0; d < nIn; d++, idx++) {
      const z = [zs[a], zs[b], zs[d]];
      for (let i = 0; i < 3; i++) x[i] = c[i] + C[i][0] * z[0] + C[i][1] * z[1] + C[i][2] * z[2];
      base[idx] = logNormal(x, m, Sinv, ld) + lik.logLik(s, x);
      if (base[idx] > mx) mx = base[idx];
    }
    for (let i = 0; i < base.length; i++) base[i] = Math.exp(base[i] - mx);
    const logJac = 3 * Math.log(h) + Math.log(C[0][0] * C[1][1] * C[2][2]);
    return { m, c, C, base, shift: mx + logJac };
  });
  const e = [new Float64Array(nIn), new Float64Array(nIn), new Float64Array(nIn)];
  const inner = (j: number, u: ArrayLike<number>): number => {
    const G = grids[j], gu = [g[0] * u[0], g[1] * u[1], g[2] * u[2]], v = mv(Sinv, gu);
    const w = [0, 1, 2].map((d) => G.C[0][d] * v[0] + G.C[1][d] * v[1] + G.C[2][d] * v[2]);
    let logE = 0;
    for (let d = 0; d < 3; d++) {
      const top = Math.abs(w[d]) * zIn;
      for (let a = 0; a < nIn; a++) e[d][a] = Math.exp(w[d] * zs[a] - top);
      logE += top;
    }
    let tot = 0, idx = 0;
    for (let a = 0; a < nIn; a++) {
      let s1 = 0;
      for (let b = 0; b < nIn; b++) {
        let s2 = 0;
        for (let d = 0; d < nIn; d++, idx++) s2 += G.base[idx] * e[2][d];
        s1 += s2 * e[1][b];
      }
      tot += s1 * e[0][a];
    }
    const cm = [G.c[0] - G.m[0], G.c[1] - G.m[1], G.c[2] - G.m[2]];
    return G.shift + logE + Math.log(tot) + dot(v, cm) - 0.5 * dot(gu, v);
  };
  const logOuter = (u: Float64Array): number => {
    let f = -1.5 * Math.log(2 * Math.PI) - 0.5 * (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    for (let j = 0; j < students.length; j++) f += inner(j, u);
    return f;
  };
  // 17 points over ±7 SD of the u-posterior (h = 0.875: error ~e^{−26}, tail ~e^{−24}); the
  // moment iterations on 9 points only place the grid.
  return adaptGrid(logOuter, [0, 0, 0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], nOut, zOut, 9, 5);
}

// ---- the code under test, with numbers in and out ----------------------------------------------------

function school(lik: MeasurementLik, mu: number[][], chol: number[], g: number[][] | null, sizes: number[], o: AdaptOptions) {
  const start = Int32Array.from([0, ...sizes.map((_, i) => sizes.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  const rules = adaptSchools(lik, mu.flat(), chol, g ? g.flat() : null, start, o);
  const ell = innerLogLik(rules, lik);
  const L = E.tidy(() => latentLogLik(rules, E.tensor(mu.flat(), [mu.length, 3]), E.tensor(chol, [6]), g ? E.tensor(g.flat(), [g.length, 3]) : null,
    E.tensor(ell, [mu.length, rules.K])).toArray());
  return { rules, ell, L };
}

const CHOL = [Math.log(0.9), Math.log(0.8), Math.log(0.7), 0.5, 0.3, -0.2]; // correlations ~0.5
const MU = [[0.3, -0.2, 0.1], [-0.5, 0.4, 0.6], [0.8, 0.1, -0.7]];

describe('latent marginal: fixed effects (inner rule) against the brute-force grid', () => {
  it('one and several students, dichotomous and polytomous items, a student with no science item', () => {
    // Student 1 sees no domain-2 item: its θ_2 is integrated against the prior alone.
    const { lik } = simulate(3, 3, 8, new Set([1]));
    expect(lik.answers[1].every((a) => lik.domain[a.item] !== 2)).toBe(true);
    expect(lik.answers.flat().some((a) => lik.steps[a.item].length > 1)).toBe(true);
    expect(lik.answers.flat().some((a) => lik.steps[a.item].length === 1)).toBe(true);
    const Sigma = sigmaOf(CHOL);
    const exact = [0, 1, 2].map((s) => bruteInner(lik, s, MU[s], Sigma).log);
    // The oracle has converged: 33 points over ±9 SD agree with 25 over ±8 to 1e−11.
    const finer = adaptGrid((x) => logNormal(x, MU[1], inverse(Sigma), logDet(Sigma)) + lik.logLik(1, x), MU[1], Sigma, 33, 9).log;
    expect(Math.abs(finer - exact[1])).toBeLessThan(1e-11);
    // A school of one student and one of two. Measured relative errors by nodes per dimension
    // (worst of these students, 8 items): 5 → 1.5e−5, 7 → 3e−7, 9 → 8e−8, 11 → 1e−8,
    // 13 → 4e−10; 13 (2197 nodes) meets the bar with margin (the PCM posterior's tails are the
    // prior's, wider than the curvature at the mode, which is what slows Gauss–Hermite here).
    const { L } = school(lik, MU, CHOL, null, [1, 2], { innerNodes: 13 });
    const want = [exact[0], exact[1] + exact[2]];
    for (let s = 0; s < 2; s++) expect(Math.abs(L[s] - want[s]) / Math.abs(want[s])).toBeLessThan(1e-8);
    // And the rule is a rule for this integral, not a lucky number: 5 nodes are ~1e−5 off.
    const coarse = school(lik, MU, CHOL, null, [1, 2], { innerNodes: 5 }).L;
    expect(Math.abs(coarse[1] - want[1]) / Math.abs(want[1])).toBeGreaterThan(1e-7);
  });

  it('extreme students: every item at full credit, and no item at all', () => {
    const { lik } = simulate(6, 2, 10);
    // Student 0 scores full credit on all 10 items; student 1 answered nothing (ℓ ≡ 0).
    lik.answers[0] = lik.answers[0].map(({ item }) => ({ item, score: lik.steps[item].length }));
    lik.answers[1] = [];
    const Sigma = sigmaOf(CHOL);
    const exact = bruteInner(lik, 0, MU[0], Sigma).log;
    const { L } = school(lik, MU.slice(0, 2), CHOL, null, [1, 1], { innerNodes: 13 });
    expect(Math.abs(L[0] - exact) / Math.abs(exact)).toBeLessThan(1e-8);
    // ∫ N(θ; μ, Σ) dθ = 1, and Gauss–Hermite centred at μ and scaled by Σ is exact for it.
    expect(Math.abs(L[1])).toBeLessThan(1e-13);
  });

  it('posterior mean and SD of θ agree with the grid\'s moments', () => {
    const { lik } = simulate(4, 2, 20, new Set([0]));
    const Sigma = sigmaOf(CHOL);
    const { rules, ell } = school(lik, MU.slice(0, 2), CHOL, null, [2], { innerNodes: 11 });
    const post = latentPosterior(rules, MU.slice(0, 2).flat(), CHOL, null, ell);
    for (let s = 0; s < 2; s++) {
      const ex = bruteInner(lik, s, MU[s], Sigma);
      for (let d = 0; d < 3; d++) {
        // Moments converge like the integral (~1e−8 relative at 11 nodes); 1e−6 in θ units.
        expect(Math.abs(post.thetaMean[s * 3 + d] - ex.mean[d])).toBeLessThan(1e-6);
        expect(Math.abs(post.thetaSd[s * 3 + d] - Math.sqrt(ex.cov[d][d]))).toBeLessThan(1e-6);
      }
    }
  });
});

describe('latent marginal: mixed model (nested rules) against the brute-force grid', () => {
  it('one student: the school effect integrates to Σ + G² (an exact identity), and the nested oracle agrees', () => {
    const { lik } = simulate(5, 1, 9);
    const g = [0.6, 0.4, 0.5];
    const Sigma = sigmaOf(CHOL);
    const SG = Sigma.map((r, i) => r.map((v, j) => v + (i === j ? g[i] * g[i] : 0)));
    const fe = bruteInner(lik, 0, MU[0], SG);
    const nested = bruteMixed(lik, [0], [MU[0]], Sigma, g).log;
    // Both oracles are converged to ~1e−10 (grid refinement); their difference is their errors.
    expect(Math.abs(nested - fe.log)).toBeLessThan(3e-9);
    // Measured relative errors (inner × outer nodes per dimension): 7×7 2e−6, 9×9 1.2e−6,
    // 11×11 2e−7, 11×15 2e−7, 15×11 1.2e−8, 13×13 1.6e−10: with 9 items (3 per domain) the inner
    // rule is the limit, and 13 per dimension meets the bar.
    const { rules, ell, L } = school(lik, [MU[0]], CHOL, [g], [1], { innerNodes: 13, outerNodes: 13 });
    expect(Math.abs(L[0] - fe.log) / Math.abs(fe.log)).toBeLessThan(1e-8);
    // The student's posterior given its school's data is the FE posterior under Σ + G².
    // Mixed over the outer nodes, the reweighted inner rules' moments are measured 1.4e−6 off.
    const post = latentPosterior(rules, MU[0], CHOL, g, ell);
    for (let d = 0; d < 3; d++) {
      expect(Math.abs(post.thetaMean[d] - fe.mean[d])).toBeLessThan(1e-5);
      expect(Math.abs(post.thetaSd[d] - Math.sqrt(fe.cov[d][d]))).toBeLessThan(1e-5);
    }
  });

  it('three students, one without a science item; the school-effect posterior', () => {
    const { lik } = simulate(7, 3, 20, new Set([2]));
    const g = [0.7, 0.5, 0.6];
    const ex = bruteMixed(lik, [0, 1, 2], MU, sigmaOf(CHOL), g);
    // Measured relative errors, inner = outer nodes per dimension, rules adapted to each
    // student's posterior under N(μ + g⊙û, Σ + G V G) ('posterior') or N(μ, Σ + G²) ('prior'):
    //   5: 1.2e−5 / 2.8e−5, 7: 5.4e−7 / 2.7e−6, 9: 1.3e−8 / 2.8e−7, 11: 7.6e−10 / 3.0e−8.
    const { rules, ell, L } = school(lik, MU, CHOL, [g], [3], { innerNodes: 11, outerNodes: 11 });
    expect(Math.abs(L[0] - ex.log) / Math.abs(ex.log)).toBeLessThan(1e-8);
    const prior = school(lik, MU, CHOL, [g], [3], { innerNodes: 9, outerNodes: 9, proposal: 'prior' }).L;
    expect(Math.abs(prior[0] - ex.log) / Math.abs(ex.log)).toBeGreaterThan(1e-8);
    const post = latentPosterior(rules, MU.flat(), CHOL, g, ell);
    let wsum = 0;
    for (let q = 0; q < rules.Q; q++) wsum += post.uWeights[q];
    expect(Math.abs(wsum - 1)).toBeLessThan(1e-12);
    for (let d = 0; d < 3; d++) {
      expect(Math.abs(post.uMean[d] - ex.mean[d])).toBeLessThan(1e-6);
      expect(Math.abs(post.uSd[d] - Math.sqrt(ex.cov[d][d]))).toBeLessThan(1e-6);
    }
  });
});

// ---- gradients ---------------------------------------------------------------------------------------

function batch(seed: number, mixed: boolean) {
  const sizes = [2, 1];
  const { lik, rng } = simulate(seed, 3, 10, new Set([1]));
  const mu = Float64Array.from({ length: 9 }, () => 0.5 * rng.normal());
  const chol = Float64Array.from(CHOL, (v) => v + 0.1 * rng.normal());
  const g = mixed ? Float64Array.from({ length: 6 }, () => 0.3 + 0.5 * rng.uniform()) : null;
  const start = Int32Array.from([0, 2, 3]);
  return { lik, sizes, mu, chol, g, start };
}

describe('latent marginal: gradients', () => {
  // The fixed-node objective Σ_s w_s L_s as a function of every input of the op.
  it.each([false, true])('fixed nodes (mixed = %s): ∂/∂μ, chol, g, ell match central differences', (mixed) => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), (seed) => {
      const { lik, mu, chol, g, start } = batch(seed, mixed);
      const rules = adaptSchools(lik, mu, chol, g, start, { innerNodes: 3, outerNodes: 3 });
      const ell = innerLogLik(rules, lik);
      const w = E.tensor([0.7, -1.3]);
      const f = mixed
        ? (m: E.Tensor, c: E.Tensor, gg: E.Tensor, e: E.Tensor) => E.sum(E.mul(latentLogLik(rules, m, c, gg, e), w))
        : (m: E.Tensor, c: E.Tensor, e: E.Tensor) => E.sum(E.mul(latentLogLik(rules, m, c, null, e), w));
      const inputs: { values: Float64Array; shape: number[] }[] = [{ values: mu, shape: [3, 3] }, { values: chol, shape: [6] }];
      if (g) inputs.push({ values: g, shape: [2, 3] });
      inputs.push({ values: ell, shape: [3, rules.K] });
      const rep = checkVjp(f as (...xs: E.Tensor[]) => E.Tensor, inputs, seed);
      w.dispose();
      // checkVjp's Richardson difference is accurate to ~1e−9 relative for a smooth objective of order 10.
      if (!(rep.worst < 1e-7)) throw new Error(rep.details);
    }), { numRuns: 3, seed: 15 });
  });

  // The full objective re-adapts its nodes at every parameter value. Its exact counterpart's
  // gradient is the integral of the integrand's gradient, which the fixed-node gradient
  // approximates with the same rule; so the fixed-node gradient differs from finite
  // differences of the adaptive objective by the derivative of the quadrature error as the
  // nodes move, which shrinks with the node count like the error itself.
  it('the adaptive objective: finite differences agree with the fixed-node gradient to the rule\'s accuracy', () => {
    const { lik, mu, chol, g, start } = batch(11, true);
    const o = { innerNodes: 11, outerNodes: 11 };
    const full = (m: Float64Array, c: Float64Array, gg: Float64Array): number => {
      const rules = adaptSchools(lik, m, c, gg, start, o);
      return latentPosterior(rules, m, c, gg, innerLogLik(rules, lik)).logLik.reduce((a, b) => a + b, 0);
    };
    const rules = adaptSchools(lik, mu, chol, g!, start, o);
    const ell = innerLogLik(rules, lik);
    const [gm, gc, gg] = E.tidy(() => {
      const ts = [E.tensor(mu, [3, 3]), E.tensor(chol, [6]), E.tensor(g!, [2, 3])];
      for (const t of ts) t.requiresGrad = true;
      const L = E.sum(latentLogLik(rules, ts[0], ts[1], ts[2], E.tensor(ell, [3, rules.K])));
      return E.grad(L, ts).map((t) => t.toArray());
    });
    const rng = new E.Rng(3);
    const dir = (n: number) => Float64Array.from({ length: n }, () => rng.uniform() - 0.5);
    const [dm, dc, dg] = [dir(9), dir(6), dir(6)];
    const h = 1e-4;
    const at = (t: number) => full(mu.map((v, i) => v + t * dm[i]), chol.map((v, i) => v + t * dc[i]), g!.map((v, i) => v + t * dg[i]));
    // Central difference: truncation h²|F'''|/6 ~ 1e−8, rounding ~1e−16·|F|/h ~ 1e−11.
    const fd = (at(h) - at(-h)) / (2 * h);
    const ad = [gm, gc, gg].reduce((acc, gr, j) => acc + gr.reduce((a, v, i) => a + v * [dm, dc, dg][j][i], 0), 0);
    // Measured |ad − fd|/|fd| along this direction (|fd| ≈ 0.115, a partly cancelling sum):
    // 5 nodes 1e−2, 7 4e−4, 9 1.4e−4, 11 2.9e−6 (the same at h = 1e−3 and 1e−4, so it is the
    // node motion, not the difference quotient).
    expect(Math.abs(ad - fd) / Math.abs(fd)).toBeLessThan(1e-5);
  });
});

describe('latent marginal: batches', () => {
  it('a batch of schools gives each school what it gives alone', () => {
    const { lik, mu, chol, g } = batch(9, true);
    const both = school(lik, [[...mu.slice(0, 3)], [...mu.slice(3, 6)], [...mu.slice(6, 9)]], [...chol], [[...g!.slice(0, 3)], [...g!.slice(3, 6)]], [2, 1], { innerNodes: 3, outerNodes: 3 }).L;
    const first = school(lik, [[...mu.slice(0, 3)], [...mu.slice(3, 6)]], [...chol], [[...g!.slice(0, 3)]], [2], { innerNodes: 3, outerNodes: 3 }).L;
    // The second school alone is student 2 of the measurement model: shift the index.
    const shifted: MeasurementLik = { evaluate: (s, th, out) => lik.evaluate(s + 2, th, out) };
    const second = school(shifted, [[...mu.slice(6, 9)]], [...chol], [[...g!.slice(3, 6)]], [1], { innerNodes: 3, outerNodes: 3 }).L;
    // Same arithmetic in the same order: equal to rounding.
    expect(Math.abs(both[0] - first[0])).toBeLessThan(1e-12);
    expect(Math.abs(both[1] - second[0])).toBeLessThan(1e-12);
  });
});

describe('latent marginal: memory and errors', () => {
  it('leaves the heap as it found it', () => {
    const { lik, mu, chol, g, start } = batch(2, true);
    const rules = adaptSchools(lik, mu, chol, g, start, { innerNodes: 3, outerNodes: 3 });
    const ell = innerLogLik(rules, lik);
    const heap = E.backend().heap;
    const before = heap.inUse;
    E.tidy(() => {
      const ts = [E.tensor(mu, [3, 3]), E.tensor(chol, [6]), E.tensor(g!, [2, 3]), E.tensor(ell, [3, rules.K])];
      for (const t of ts) t.requiresGrad = true;
      E.grad(E.sum(latentLogLik(rules, ts[0], ts[1], ts[2], ts[3])), ts);
    });
    E.tidy(() => {
      const fe = adaptSchools(lik, mu, chol, null, start, { innerNodes: 3 });
      const ts = [E.tensor(mu, [3, 3]), E.tensor(chol, [6]), E.tensor(innerLogLik(fe, lik), [3, fe.K])];
      for (const t of ts) t.requiresGrad = true;
      E.grad(E.sum(latentLogLik(fe, ts[0], ts[1], null, ts[2])), ts);
      latentLogLik(fe, ts[0], ts[1], null, ts[2]);
    });
    expect(heap.inUse).toBe(before);
  });

  it('names the school, student or input at fault', () => {
    const { lik, mu, chol, g, start } = batch(2, true);
    const rules = adaptSchools(lik, mu, chol, g, start, { innerNodes: 3, outerNodes: 3 });
    const ell = innerLogLik(rules, lik);
    E.tidy(() => {
      const [m, c, gg, e] = [E.tensor(mu, [3, 3]), E.tensor(chol, [6]), E.tensor(g!, [2, 3]), E.tensor(ell, [3, rules.K])];
      expect(() => latentLogLik(rules, E.tensor(mu.slice(0, 6), [2, 3]), c, gg, e)).toThrow(/μ must be \[3 × 3\]/);
      expect(() => latentLogLik(rules, m, c, null, e)).toThrow(/mixed model; pass g/);
      expect(() => latentLogLik(rules, m, c, gg, E.tensor(ell.slice(0, 27), [1, 27]))).toThrow(/ell must be \[3 × 27\]/);
    });
    const bad: Float64Array = Float64Array.from(mu);
    bad[4] = NaN;
    expect(() => adaptSchools(lik, bad, chol, g, start)).toThrow(/μ of student 1 \(domain 1\)/);
    expect(() => adaptSchools(lik, mu, chol, g, start, { innerNodes: 0 })).toThrow(LatentMarginalError);
    expect(() => adaptSchools(lik, mu, chol, g, Int32Array.from([0, 2, 2, 3]))).toThrow(/school 1 has no students/);
    const convex: MeasurementLik = { evaluate: (s, th, out) => { out.fill(0); out[0] = s === 2 ? th[0] * th[0] : 0; out[1] = s === 2 ? 2 * th[0] : 0; out[4] = s === 2 ? 2 : 0; } };
    expect(() => adaptSchools(convex, mu, chol, null, start)).toThrow(/student 2.*not negative definite/);
  });
});
