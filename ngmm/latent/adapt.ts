// Stage 1 of the latent model's marginal likelihood (docs/latent-marginal.md): numbers only, off
// the tape. Each student's inner integral ∫ N(θ; m, Σ) e^{ℓ(θ)} dθ and, for the mixed model, each
// school's outer integral over u get an adaptive Gauss–Hermite product rule: centred at the mode
// of the log-integrand and scaled by the Cholesky factor of its negative Hessian (Naylor & Smith,
// Appl. Statist. 31, 1982; Liu & Pierce, Biometrika 81, 1994). Stage 2 (marginal.ts) holds the
// nodes and log-weights fixed and differentiates the rule.
//
// Any centre and scale give a rule for the same integral (the change of variables θ = θ̂ + R⁻ᵀξ
// is exact), so the modes need not be exact; they only decide how accurate the rule is.
import { gaussHermite, productRule } from '../marginal/gaussHermite';
import { D } from './types';

/**
 * A student's measurement log-likelihood, ℓ_s(θ) = Σ_{items answered} log P(x | θ_domain):
 * out[0] = ℓ_s(θ), out[1..3] = ∇ℓ_s(θ), out[4..6] = diag ∇²ℓ_s(θ) (each item touches one
 * domain, so the Hessian is diagonal). `s` is the student's row in μ.
 */
export interface MeasurementLik {
  evaluate(s: number, theta: Float64Array, out: Float64Array): void;
}

/** Where the mixed model's inner rules are centred (docs/latent-marginal.md §4). */
export type Proposal = 'posterior' | 'prior';

export interface AdaptOptions {
  /** Gauss–Hermite nodes per dimension of the inner (θ) rule: K³ nodes per student (default 5). */
  innerNodes?: number;
  /** Nodes per dimension of the outer (u) rule, mixed model only (default 5). */
  outerNodes?: number;
  /** Mixed model: each student's inner rule is adapted once, to its posterior under the prior
   *  N(μ + g⊙û, Σ + G V G) ('posterior', V the outer rule's covariance of u) or under the
   *  u-integrated prior N(μ, Σ + G²) ('prior'), and reweighted for every outer node. */
  proposal?: Proposal;
}

export class LatentMarginalError extends Error {
  override name = 'LatentMarginalError';
}

/**
 * Fixed adaptive rules for a batch of schools. Students are rows 0 … N−1 of μ (and of ell), the
 * students of school s being rows schoolStart[s] … schoolStart[s+1]−1.
 *   inner: ∫ f(θ) dθ ≈ Σ_k exp(logW[n,k]) f(theta[n,k,·]) for student n;
 *   outer: ∫ N(u; 0, I) F(u) du ≈ Σ_q exp(logWu[s,q]) F(u[s,q,·]) (prior density included).
 */
export interface LatentRules {
  readonly mixed: boolean;
  readonly nSchools: number;
  readonly nStudents: number;
  readonly schoolStart: Int32Array;
  /** Inner nodes per student, K = innerNodes³. */
  readonly K: number;
  /** Outer nodes per school, Q = outerNodes³ (0 for the fixed-effects model). */
  readonly Q: number;
  /** [N × K × 3] inner node positions. */
  readonly theta: Float64Array;
  /** [N × K] log of rule weight · e^{|ξ|²/2} · (2π)^{3/2} · |det R⁻ᵀ|. */
  readonly logW: Float64Array;
  /** [S × Q × 3] outer node positions. */
  readonly u: Float64Array;
  /** [S × Q] log of rule weight · e^{|ζ|²/2} · |det R_u⁻ᵀ| · (2π)^{3/2} · N(u_q; 0, I). */
  readonly logWu: Float64Array;
  /** [S × 3] centre of each school's outer rule (the u-part of the joint mode). */
  readonly uMode: Float64Array;
  /** The inner rule's structure: theta[n,k] = thetaCentre[n] + thetaScale[n]·ξ_k, ξ_k the product
   *  of the 1-D Gauss–Hermite nodes gh1 (k = (k₀·Kd + k₁)·Kd + k₂), thetaScale [N × 9] = R⁻ᵀ
   *  row-major (upper triangular). Stage 2 uses it to sum the nodes as a tensor contraction. */
  readonly gh1: Float64Array;
  readonly thetaCentre: Float64Array;
  readonly thetaScale: Float64Array;
}

const LOG_2PI = Math.log(2 * Math.PI);
const MAX_NODES = 15;

/** L (3×3 row-major, lower) from the log-Cholesky parameters [log L00, log L11, log L22, L10, L20, L21]. */
export function cholFromParams(c: ArrayLike<number>): Float64Array {
  if (c.length !== 6) throw new LatentMarginalError(`the covariance needs 6 log-Cholesky parameters, got ${c.length}`);
  for (let i = 0; i < 6; i++) if (!Number.isFinite(c[i])) throw new LatentMarginalError(`log-Cholesky parameter ${i} is ${c[i]}`);
  return Float64Array.of(Math.exp(c[0]), 0, 0, c[3], Math.exp(c[1]), 0, c[4], c[5], Math.exp(c[2]));
}

// ---- 3×3 helpers (row-major) ----------------------------------------------------------------

/** Cholesky A = RRᵀ of a symmetric 3×3 matrix into R (lower); false if A is not positive definite. */
export function chol3(A: ArrayLike<number>, R: Float64Array): boolean {
  const r00 = A[0];
  if (!(r00 > 0)) return false;
  const l00 = Math.sqrt(r00), l10 = A[3] / l00, l20 = A[6] / l00;
  const r11 = A[4] - l10 * l10;
  if (!(r11 > 0)) return false;
  const l11 = Math.sqrt(r11), l21 = (A[7] - l20 * l10) / l11;
  const r22 = A[8] - l20 * l20 - l21 * l21;
  if (!(r22 > 0)) return false;
  R[0] = l00; R[1] = 0; R[2] = 0; R[3] = l10; R[4] = l11; R[5] = 0; R[6] = l20; R[7] = l21; R[8] = Math.sqrt(r22);
  return true;
}

/** x = R⁻¹ b (R lower), in place allowed. */
export function solveL(R: ArrayLike<number>, b: ArrayLike<number>, x: Float64Array): void {
  const x0 = b[0] / R[0];
  const x1 = (b[1] - R[3] * x0) / R[4];
  const x2 = (b[2] - R[6] * x0 - R[7] * x1) / R[8];
  x[0] = x0; x[1] = x1; x[2] = x2;
}

/** x = R⁻ᵀ b (R lower), in place allowed. */
export function solveLt(R: ArrayLike<number>, b: ArrayLike<number>, x: Float64Array): void {
  const x2 = b[2] / R[8];
  const x1 = (b[1] - R[7] * x2) / R[4];
  const x0 = (b[0] - R[3] * x1 - R[6] * x2) / R[0];
  x[0] = x0; x[1] = x1; x[2] = x2;
}

/** A⁻¹ of a symmetric positive-definite A through its Cholesky factor R. */
function invFromChol(R: Float64Array, out: Float64Array): void {
  const e = new Float64Array(3), x = new Float64Array(3);
  for (let j = 0; j < 3; j++) {
    e.fill(0); e[j] = 1;
    solveL(R, e, x);
    solveLt(R, x, x);
    out[j] = x[0]; out[3 + j] = x[1]; out[6 + j] = x[2];
  }
}

// ---- the inner mode ---------------------------------------------------------------------------

// Newton for the mode of h(θ) = −½(θ−m)ᵀΛ(θ−m) + ℓ(θ), which is strictly concave when ℓ is
// (the partial-credit log-likelihood is: an exponential family in each θ_d). The negative
// Hessian is Λ − diag(ℓ''). Step halving guards the first steps from far starts.
interface InnerState {
  readonly theta: Float64Array; // in: start, out: mode
  readonly H: Float64Array; // negative Hessian at the mode
  value: number; // h at the mode
}

function hValue(lik: MeasurementLik, n: number, m: Float64Array, Lam: Float64Array, th: Float64Array, out7: Float64Array): number {
  lik.evaluate(n, th, out7);
  const r0 = th[0] - m[0], r1 = th[1] - m[1], r2 = th[2] - m[2];
  const q = Lam[0] * r0 * r0 + Lam[4] * r1 * r1 + Lam[8] * r2 * r2 + 2 * (Lam[1] * r0 * r1 + Lam[2] * r0 * r2 + Lam[5] * r1 * r2);
  return -0.5 * q + out7[0];
}

function innerMode(lik: MeasurementLik, n: number, m: Float64Array, Lam: Float64Array, st: InnerState, where: string): void {
  const th = st.theta, H = st.H, R = new Float64Array(9), grad = new Float64Array(3), step = new Float64Array(3), trial = new Float64Array(3);
  const out7 = new Float64Array(7);
  let h = hValue(lik, n, m, Lam, th, out7);
  for (let it = 0; it < 200; it++) {
    // out7 holds ℓ and its derivatives at th (hValue was last called there).
    if (!Number.isFinite(h)) throw new LatentMarginalError(`${where}: the log-integrand is ${h} at θ = (${Array.from(th).join(', ')})`);
    for (let d = 0; d < 3; d++) {
      grad[d] = out7[1 + d] - (Lam[d * 3] * (th[0] - m[0]) + Lam[d * 3 + 1] * (th[1] - m[1]) + Lam[d * 3 + 2] * (th[2] - m[2]));
    }
    for (let i = 0; i < 9; i++) H[i] = Lam[i];
    for (let d = 0; d < 3; d++) H[d * 4] -= out7[4 + d];
    if (!chol3(H, R)) throw new LatentMarginalError(`${where}: the log-integrand's Hessian is not negative definite (is ℓ concave? diag ℓ'' = ${out7[4]}, ${out7[5]}, ${out7[6]})`);
    solveL(R, grad, step);
    // Newton decrement λ² = ∇hᵀH⁻¹∇h: h(mode) − h(θ) ≈ λ²/2; 1e-24 leaves θ within ~1e-12
    // posterior SD. Rounding in ∇ℓ (a sum over up to ~100 items) can hold λ² above that, so after
    // 30 steps ~1e-16 (θ within 1e-8 SD, which only the rule's centre sees) is accepted.
    const dec = step[0] * step[0] + step[1] * step[1] + step[2] * step[2];
    solveLt(R, step, step);
    if (dec < 1e-24 || (it >= 30 && dec < 1e-16)) {
      st.value = h;
      return;
    }
    let t = 1;
    for (let half = 0; ; half++) {
      for (let d = 0; d < 3; d++) trial[d] = th[d] + t * step[d];
      const hNew = hValue(lik, n, m, Lam, trial, out7);
      // Accept an increase, or a change at rounding level of h (the last Newton steps).
      if (hNew >= h - 1e-13 * Math.abs(h)) {
        th.set(trial);
        h = hNew;
        break;
      }
      if (half === 60) throw new LatentMarginalError(`${where}: Newton found no ascent step (h = ${h})`);
      t *= 0.5;
    }
  }
  throw new LatentMarginalError(`${where}: Newton did not converge in 200 steps`);
}

// ---- the outer mode (mixed model) ---------------------------------------------------------------

// The profile F(u) = −½|u|² + Σ_i max_θ h_i(θ; μ_i + g⊙u) is the joint log-density maximised
// over the θ's; its maximiser is the u-part of the joint mode. By the envelope theorem
// ∇F = −u + G Σ_i Σ⁻¹(θ̂_i − m_i), and with dθ̂_i/dm = H_i⁻¹Σ⁻¹,
// −∇²F = I + G [Σ_i (Σ⁻¹ − Σ⁻¹H_i⁻¹Σ⁻¹)] G, which is ≥ I because H_i ≥ Σ⁻¹.
function outerMode(
  lik: MeasurementLik, mu: ArrayLike<number>, Sinv: Float64Array, g: Float64Array, a: number, b: number, s: number,
  uOut: Float64Array, negHess: Float64Array,
): void {
  const n = b - a;
  const thetas = Array.from({ length: n }, (_, j) => Float64Array.of(mu[(a + j) * 3], mu[(a + j) * 3 + 1], mu[(a + j) * 3 + 2]));
  const st: InnerState = { theta: new Float64Array(3), H: new Float64Array(9), value: 0 };
  const m = new Float64Array(3), Hinv = new Float64Array(9), R = new Float64Array(9), tmp = new Float64Array(9);
  const grad = new Float64Array(3), step = new Float64Array(3), trial = new Float64Array(3), u = new Float64Array(3);
  const profile = (uu: Float64Array, keep: boolean): number => {
    let F = -0.5 * (uu[0] * uu[0] + uu[1] * uu[1] + uu[2] * uu[2]);
    if (keep) grad.set(uu.map((v) => -v));
    if (keep) negHess.fill(0);
    for (let j = 0; j < n; j++) {
      const i = a + j;
      for (let d = 0; d < 3; d++) m[d] = mu[i * 3 + d] + g[d] * uu[d];
      st.theta.set(thetas[j]);
      innerMode(lik, i, m, Sinv, st, `school ${s}, student ${i} (outer mode)`);
      F += st.value;
      if (!keep) continue;
      thetas[j].set(st.theta);
      for (let d = 0; d < 3; d++) {
        const r = Sinv[d * 3] * (st.theta[0] - m[0]) + Sinv[d * 3 + 1] * (st.theta[1] - m[1]) + Sinv[d * 3 + 2] * (st.theta[2] - m[2]);
        grad[d] += g[d] * r;
      }
      if (!chol3(st.H, R)) throw new LatentMarginalError(`school ${s}, student ${i}: curvature not positive definite`);
      invFromChol(R, Hinv);
      // tmp = Σ⁻¹ − Σ⁻¹ H⁻¹ Σ⁻¹
      for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) {
        let acc = 0;
        for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) acc += Sinv[p * 3 + x] * Hinv[x * 3 + y] * Sinv[y * 3 + q];
        tmp[p * 3 + q] = Sinv[p * 3 + q] - acc;
      }
      for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) negHess[p * 3 + q] += g[p] * tmp[p * 3 + q] * g[q];
    }
    if (keep) for (let d = 0; d < 3; d++) negHess[d * 4] += 1;
    return F;
  };
  let F = profile(u, true);
  for (let it = 0; it < 100; it++) {
    if (!chol3(negHess, R)) throw new LatentMarginalError(`school ${s}: the outer curvature is not positive definite`);
    solveL(R, grad, step);
    const dec = step[0] * step[0] + step[1] * step[1] + step[2] * step[2];
    solveLt(R, step, step);
    // The centre needs no more than ~1e-8 posterior SD: any centre gives a rule for the same integral.
    if (dec < 1e-16) {
      uOut.set(u);
      return;
    }
    let t = 1;
    for (let half = 0; ; half++) {
      for (let d = 0; d < 3; d++) trial[d] = u[d] + t * step[d];
      const Fn = profile(trial, false);
      if (Fn >= F - 1e-13 * Math.abs(F)) {
        u.set(trial);
        F = profile(u, true);
        break;
      }
      if (half === 60) throw new LatentMarginalError(`school ${s}: Newton on the school effect found no ascent step`);
      t *= 0.5;
    }
  }
  throw new LatentMarginalError(`school ${s}: Newton on the school effect did not converge in 100 steps`);
}

// ---- the rules ------------------------------------------------------------------------------------

function checkNodes(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1 && v <= MAX_NODES)) throw new LatentMarginalError(`${name} must be a whole number from 1 to ${MAX_NODES}, got ${v}`);
  return v;
}

/** Checks a batch's shapes: μ [N × 3], g [S × 3] or null, schoolStart [S + 1] from 0 to N. */
export function checkBatch(N: number, mu: ArrayLike<number>, g: ArrayLike<number> | null, schoolStart: Int32Array): void {
  const S = schoolStart.length - 1;
  if (S < 1 || schoolStart[0] !== 0 || schoolStart[S] !== N) {
    throw new LatentMarginalError(`schoolStart must run from 0 to the ${N} students, got [${Array.from(schoolStart).join(', ')}]`);
  }
  for (let s = 0; s < S; s++) if (!(schoolStart[s + 1] > schoolStart[s])) throw new LatentMarginalError(`school ${s} has no students`);
  if (mu.length !== N * D) throw new LatentMarginalError(`μ must be [${N} × 3], got ${mu.length} values`);
  for (let i = 0; i < mu.length; i++) if (!Number.isFinite(mu[i])) throw new LatentMarginalError(`μ of student ${Math.floor(i / 3)} (domain ${i % 3}) is ${mu[i]}`);
  if (g) {
    if (g.length !== S * D) throw new LatentMarginalError(`g must be [${S} × 3], got ${g.length} values`);
    for (let i = 0; i < g.length; i++) if (!Number.isFinite(g[i])) throw new LatentMarginalError(`g of school ${Math.floor(i / 3)} (domain ${i % 3}) is ${g[i]}`);
  }
}

/**
 * Stage 1 for a batch of schools: each student's inner rule and, when g is given (the mixed
 * model), each school's outer rule. μ [N × 3] and g [S × 3] row-major, chol the 6 log-Cholesky
 * parameters of Σ, schoolStart [S + 1].
 */
export function adaptSchools(
  lik: MeasurementLik, mu: ArrayLike<number>, chol: ArrayLike<number>, g: ArrayLike<number> | null,
  schoolStart: Int32Array, o: AdaptOptions = {},
): LatentRules {
  const S = schoolStart.length - 1, N = schoolStart[S] ?? 0;
  checkBatch(N, mu, g, schoolStart);
  const Kd = checkNodes('innerNodes', o.innerNodes ?? 5);
  const Qd = g ? checkNodes('outerNodes', o.outerNodes ?? 5) : 0;
  const proposal = o.proposal ?? 'posterior';
  if (proposal !== 'posterior' && proposal !== 'prior') throw new LatentMarginalError(`proposal must be 'posterior' or 'prior', got ${String(proposal)}`);
  const L = cholFromParams(chol);
  const Sigma = new Float64Array(9);
  for (let p = 0; p < 3; p++) for (let q = 0; q < 3; q++) {
    let acc = 0;
    for (let x = 0; x < 3; x++) acc += L[p * 3 + x] * L[q * 3 + x];
    Sigma[p * 3 + q] = acc;
  }
  const Sinv = new Float64Array(9);
  invFromChol(L, Sinv);

  const inner = productRule(Kd, 3), K = inner.logWeights.length;
  const outer = g ? productRule(Qd, 3) : null, Q = outer ? outer.logWeights.length : 0;
  const theta = new Float64Array(N * K * 3), logW = new Float64Array(N * K);
  const thetaCentre = new Float64Array(N * 3), thetaScale = new Float64Array(N * 9), e3 = new Float64Array(3);
  const uN = new Float64Array(S * Q * 3), logWu = new Float64Array(S * Q), uMode = new Float64Array(S * 3);
  const gs = new Float64Array(3), negHess = new Float64Array(9), Ru = new Float64Array(9), V = new Float64Array(9);
  const Lam = new Float64Array(9), Cp = new Float64Array(9), Rp = new Float64Array(9), m = new Float64Array(3), x = new Float64Array(3);
  const st: InnerState = { theta: new Float64Array(3), H: new Float64Array(9), value: 0 };
  for (let s = 0; s < S; s++) {
    const a = schoolStart[s], b = schoolStart[s + 1];
    const uh = uMode.subarray(s * 3, s * 3 + 3);
    if (g && outer) {
      for (let d = 0; d < 3; d++) gs[d] = g[s * 3 + d];
      outerMode(lik, mu, Sinv, gs, a, b, s, uh, negHess);
      if (!chol3(negHess, Ru)) throw new LatentMarginalError(`school ${s}: the outer curvature is not positive definite`);
      const logDet = -(Math.log(Ru[0]) + Math.log(Ru[4]) + Math.log(Ru[8]));
      for (let q = 0; q < Q; q++) {
        const z = outer.nodes.subarray(q * 3, q * 3 + 3);
        solveLt(Ru, z, x);
        let z2 = 0, u2 = 0;
        for (let d = 0; d < 3; d++) {
          const v = uh[d] + x[d];
          uN[(s * Q + q) * 3 + d] = v;
          z2 += z[d] * z[d];
          u2 += v * v;
        }
        // Rule weight · e^{|ζ|²/2} · (2π)^{3/2} · |det R_u⁻ᵀ| · N(u; 0, I): the (2π)^{3/2} cancel.
        logWu[s * Q + q] = outer.logWeights[q] + 0.5 * z2 + logDet - 0.5 * u2;
      }
      // The inner proposal's prior covariance Σ + G V G (V = outer covariance, or I for 'prior').
      if (proposal === 'posterior') invFromChol(Ru, V);
      else { V.fill(0); V[0] = V[4] = V[8] = 1; }
      for (let p = 0; p < 9; p++) Cp[p] = Sigma[p] + gs[Math.floor(p / 3)] * V[p] * gs[p % 3];
      if (!chol3(Cp, Rp)) throw new LatentMarginalError(`school ${s}: proposal covariance not positive definite`);
      invFromChol(Rp, Lam);
    } else Lam.set(Sinv);
    for (let i = a; i < b; i++) {
      for (let d = 0; d < 3; d++) m[d] = mu[i * 3 + d] + (g && proposal === 'posterior' ? gs[d] * uh[d] : 0);
      st.theta.set(m);
      innerMode(lik, i, m, Lam, st, `school ${s}, student ${i}`);
      const R = new Float64Array(9);
      if (!chol3(st.H, R)) throw new LatentMarginalError(`school ${s}, student ${i}: curvature not positive definite`);
      const c = 1.5 * LOG_2PI - (Math.log(R[0]) + Math.log(R[4]) + Math.log(R[8]));
      thetaCentre.set(st.theta, i * 3);
      for (let col = 0; col < 3; col++) {
        e3.fill(0); e3[col] = 1;
        solveLt(R, e3, x);
        for (let row = 0; row < 3; row++) thetaScale[i * 9 + row * 3 + col] = x[row];
      }
      for (let k = 0; k < K; k++) {
        const xi = inner.nodes.subarray(k * 3, k * 3 + 3);
        solveLt(R, xi, x);
        const o3 = (i * K + k) * 3;
        for (let d = 0; d < 3; d++) theta[o3 + d] = st.theta[d] + x[d];
        logW[i * K + k] = inner.logWeights[k] + 0.5 * (xi[0] * xi[0] + xi[1] * xi[1] + xi[2] * xi[2]) + c;
      }
    }
  }
  const gh1 = gaussHermite(Kd).nodes;
  return { mixed: g !== null, nSchools: S, nStudents: N, schoolStart: schoolStart.slice(), K, Q, theta, logW, u: uN, logWu, uMode, gh1, thetaCentre, thetaScale };
}

/** ℓ_n at every inner node, [N × K] row-major: the op's `ell` input when the item parameters are known. */
export function innerLogLik(rules: LatentRules, lik: MeasurementLik): Float64Array {
  const { nStudents: N, K, theta } = rules;
  const ell = new Float64Array(N * K), th = new Float64Array(3), o = new Float64Array(7);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      th[0] = theta[(n * K + k) * 3]; th[1] = theta[(n * K + k) * 3 + 1]; th[2] = theta[(n * K + k) * 3 + 2];
      lik.evaluate(n, th, o);
      if (!Number.isFinite(o[0])) throw new LatentMarginalError(`student ${n}: ℓ is ${o[0]} at node ${k}`);
      ell[n * K + k] = o[0];
    }
  }
  return ell;
}
