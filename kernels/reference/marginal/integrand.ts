// One group's log-integrand (docs/marginal.md §3; paper eq. 24) and its parameter sensitivities:
//   ℓ(t) = C + Σ_j core(y_j, f_j + s·t, ϕ) − t²/2 − ½ log 2π
// with C = Σ_j c(y_j) precomputed. ∂ℓ/∂f_j = r_j(t), ∂ℓ/∂s = t·Σ_j r_j(t), ∂ℓ/∂ϕ = Σ_j ∂core/∂ϕ.
//
// Gaussian-identity and Poisson-log collapse to per-group sufficient statistics, so ℓ(t) costs
// O(1) instead of O(n): Gaussian Σwr, Σwr², Σw and #{w > 0} (r = y − f); Poisson Σwy, Σwy·f,
// Σwe^f, with w the prior weights (obs.ts's m; 1 when there are none, which leaves each sum
// as it was bit for bit: every weight is a factor of 1.0 and Σw is the count). Their gradients
// need only posterior moments, accumulated instead of per-observation sums and mapped to
// ∂L/∂f_j at the end. The moments are of δ = t − t̂ (the mode, `centre`), not of t: e.g. the
// Gaussian ∂L/∂σ needs E[Σ(r_j − s·t)²], which from raw moments is Σr² − 2sΣr·E[t] + ns²E[t²],
// a difference of terms up to 100× its size when σ is small (measured: 1e−7 relative error at
// rtol 1e−10); about the mode the residuals ρ_j = r_j − s·t̂ are already small.
import {
  GAMMA_LOG, GAUSSIAN_IDENTITY, NEGBIN_LOG, POISSON_LOG, hasDispersion, obsCoreEta, obsDphiEta, obsDphiPart, obsHess, obsPhiPart, obsScore, obsSup,
} from './obs';

const HALF_LN_2PI = 0.9189385332046728;

export class Integrand {
  readonly fast: boolean;
  // Sufficient statistics (fast path).
  private n = 0;
  private sw = 0; // Σw (Gaussian: ℓ's curvature in s·t)
  private npos = 0; // #{w > 0} (Gaussian: the −log σ terms; a row of weight 0 has none)
  private s1 = 0; // Gaussian Σwr; Poisson Σwy
  private s2 = 0; // Gaussian Σwr²; Poisson Σwy·f
  private se = 0; // Poisson Σwe^f
  // Negative binomial, Gamma: Σ_j of the core's and of ∂core/∂ϕ's parts in ϕ alone (obs.ts's
  // obsPhiPart, obsDphiPart: constant in t, so summed once), and Σ of the accumulation weights,
  // which the latter multiplies in `finish`.
  private phiCst = 0;
  private dphiCst = 0;
  private wsum = 0;
  // Gradient accumulators, in units of e^{ℓ−m} (normalised by the caller's Z at the end).
  gs = 0;
  gphi = 0;
  private m0 = 0;
  private mt = 0;
  private mtt = 0;
  private me = 0; // Poisson: Σw·expm1(s·δ)
  private mte = 0; // Poisson: Σw·δ·expm1(s·δ)
  /** The posterior mode: moments of the fast paths are taken about it (see setCentre). */
  centre = 0;
  /** ℓ(centre), the solver's shift m. */
  mRef = 0;
  private rho1 = 0; // Gaussian Σw_jρ_j, ρ_j = r_j − s·t̂
  private efHat = 0; // Poisson Σw_je^{f_j + s·t̂}
  /** Evaluations of ℓ (value only / with derivatives) and gradient passes. */
  evals = 0;
  gradEvals = 0;

  constructor(
    readonly code: number,
    readonly y: Float64Array,
    readonly m: Float64Array | null,
    readonly f: Float64Array,
    readonly gf: Float64Array, // this group's slice of the ∂L/∂f output
    readonly s: number,
    readonly phi: number,
    readonly cst: number,
  ) {
    this.fast = code === GAUSSIAN_IDENTITY || code === POISSON_LOG;
    this.n = y.length;
    if (code === GAUSSIAN_IDENTITY) {
      for (let j = 0; j < this.n; j++) {
        const r = y[j] - f[j], w = this.trials(j);
        this.s1 += r * w;
        this.s2 += r * r * w;
        this.sw += w;
        if (w > 0) this.npos++;
      }
    } else if (code === POISSON_LOG) {
      for (let j = 0; j < this.n; j++) {
        const w = this.trials(j);
        this.s1 += y[j] * w;
        this.s2 += y[j] * f[j] * w;
        this.se += Math.exp(f[j]) * w;
      }
    }
    if (code === NEGBIN_LOG || code === GAMMA_LOG) {
      for (let j = 0; j < this.n; j++) {
        this.phiCst += obsPhiPart(code, y[j], this.trials(j), phi);
        this.dphiCst += obsDphiPart(code, y[j], this.trials(j), phi);
      }
    }
    gf.fill(0);
  }

  private trials(j: number): number {
    return this.m ? this.m[j] : 1;
  }

  /** An upper bound of ℓ(t) + t²/2 over t: C + Σ_j sup_η core_j − ½·log 2π (obsSup; +∞ where ℓ is concave). */
  supEll(): number {
    let sum = 0;
    for (let j = 0; j < this.n; j++) sum += obsSup(this.code, this.y[j], this.trials(j), this.phi);
    return this.cst + sum - HALF_LN_2PI;
  }

  /** ℓ(t). */
  ell(t: number): number {
    this.evals++;
    const { code, s, phi } = this;
    let sum: number;
    if (code === GAUSSIAN_IDENTITY) {
      const st = s * t;
      sum = -0.5 * (this.s2 - 2 * st * this.s1 + this.sw * st * st) / (phi * phi) - this.npos * Math.log(phi);
    } else if (code === POISSON_LOG) {
      sum = this.s2 + s * t * this.s1 - Math.exp(s * t) * this.se;
    } else {
      sum = this.phiCst;
      for (let j = 0; j < this.n; j++) sum += obsCoreEta(code, this.y[j], this.trials(j), this.f[j] + s * t, phi);
    }
    return this.cst + sum - 0.5 * t * t - HALF_LN_2PI;
  }

  /**
   * Fixes the centre t̂ and the shift m = ℓ(t̂). The fast paths then evaluate ℓ(t) − m in a
   * centred form: in a Poisson group of 10⁵ large counts ℓ is a sum of terms of size 10⁸ and
   * its rounding error (≈10⁻⁷) is more than the posterior weights can stand, whereas
   *   ℓ(t) − m = s·δ·Σy − Σe^{f+st̂}·expm1(s·δ) − δ·(t̂ + δ/2),   δ = t − t̂,
   * has terms of the size of the result. The Gaussian likewise, with ρ_j = r_j − s·t̂.
   */
  setCentre(tc: number): void {
    this.centre = tc;
    this.mRef = this.ell(tc);
    const { s, n } = this;
    if (this.code === GAUSSIAN_IDENTITY) {
      let a = 0;
      for (let j = 0; j < n; j++) a += (this.y[j] - this.f[j] - s * tc) * this.trials(j);
      this.rho1 = a;
    } else if (this.code === POISSON_LOG) {
      this.efHat = this.se * Math.exp(s * tc);
    }
  }

  /** ℓ(t) − m, the solver's shifted log-integrand. */
  shifted(t: number): number {
    if (!this.fast) return this.ell(t) - this.mRef;
    this.evals++;
    const { s, phi } = this;
    const d = t - this.centre;
    const prior = -d * (this.centre + 0.5 * d);
    // × 1/ϕ², not ÷ ϕ²: the two-lane loop hoists the reciprocal (solve.ts's per-step quotients are products too).
    if (this.code === GAUSSIAN_IDENTITY) return (s * d * this.rho1 - 0.5 * this.sw * s * s * d * d) * (1 / (phi * phi)) + prior;
    return s * d * this.s1 - this.efHat * Math.expm1(s * d) + prior;
  }

  /** [ℓ'(t), ℓ''(t)] for Newton. */
  slope(t: number): [number, number] {
    this.evals++;
    const { code, s, phi } = this;
    let d1: number, d2: number;
    if (code === GAUSSIAN_IDENTITY) {
      d1 = (s * (this.s1 - this.sw * s * t)) / (phi * phi);
      d2 = -(this.sw * s * s) / (phi * phi);
    } else if (code === POISSON_LOG) {
      const e = Math.exp(s * t) * this.se;
      d1 = s * (this.s1 - e);
      d2 = -s * s * e;
    } else {
      d1 = 0;
      d2 = 0;
      for (let j = 0; j < this.n; j++) {
        const eta = this.f[j] + s * t;
        d1 += obsScore(code, this.y[j], this.trials(j), eta, phi);
        d2 += obsHess(code, this.y[j], this.trials(j), eta, phi);
      }
      d1 *= s;
      d2 *= s * s;
    }
    return [d1 - t, d2 - 1];
  }

  /** Adds w·∂ℓ(t)/∂π for every parameter π (f_j, s, ϕ). */
  accumulate(t: number, w: number): void {
    if (w === 0) return;
    this.gradEvals++;
    const { code, s, phi } = this;
    if (this.fast) {
      const d = t - this.centre;
      this.m0 += w;
      this.mt += w * d;
      this.mtt += w * d * d;
      if (code === POISSON_LOG) {
        const e = w * Math.expm1(s * d);
        this.me += e;
        this.mte += e * d;
      }
      return;
    }
    let sr = 0, sp = 0;
    for (let j = 0; j < this.n; j++) {
      const eta = this.f[j] + s * t;
      const r = obsScore(code, this.y[j], this.trials(j), eta, phi);
      this.gf[j] += w * r;
      sr += r;
      if (hasDispersion(code)) sp += obsDphiEta(code, this.y[j], this.trials(j), eta, phi);
    }
    this.gs += w * t * sr;
    this.gphi += w * sp;
    this.wsum += w;
  }

  /**
   * Divides the accumulators by the normaliser Z (in units of e^{ℓ−m}) so gf, gs, gphi become
   * ∂L/∂f_j, ∂L/∂s, ∂L/∂ϕ. The fast paths keep Σw (e0) rather than assume it equals Z, so each
   * gradient method's own weights are honoured exactly.
   */
  finish(Z: number): void {
    const { code, s, phi, n, sw } = this;
    const tc = this.centre;
    // e0 = E[1] (Σw/Z, ≈ 1), ed = E[δ], edd = E[δ²], δ = t − t̂.
    const e0 = this.m0 / Z, ed = this.mt / Z;
    if (code === GAUSSIAN_IDENTITY) {
      const edd = this.mtt / Z, p2 = phi * phi;
      // ρ_j = r_j − s·t̂; Σwρ and Σwρ² about the mode, without cancellation.
      let sr = 0, srr = 0;
      for (let j = 0; j < n; j++) {
        const rho = this.y[j] - this.f[j] - s * tc, w = this.trials(j);
        this.gf[j] = ((rho * e0 - s * ed) / p2) * w;
        sr += rho * w;
        srr += rho * rho * w;
      }
      this.gs = (tc * sr * e0 + sr * ed - sw * s * tc * ed - sw * s * edd) / p2;
      this.gphi = (-this.npos * e0) / phi + (srr * e0 - 2 * s * sr * ed + sw * s * s * edd) / (p2 * phi);
    } else if (code === POISSON_LOG) {
      // e^{s·t} = e^{s·t̂}·(1 + expm1(s·δ)), with E[expm1(sδ)] and E[δ·expm1(sδ)] accumulated:
      // in a large group Σy and Σe^{f+st̂} are both ~10⁸ and ∂L/∂s is their small difference,
      // so the difference d0 = Σr(t̂) is taken once and the rest carries only the small parts.
      const es = Math.exp(s * tc), em = this.me / Z, edm = this.mte / Z, sef = this.se * es;
      const d0 = this.s1 - sef;
      for (let j = 0; j < n; j++) this.gf[j] = (this.y[j] * e0 - Math.exp(this.f[j]) * es * (e0 + em)) * this.trials(j);
      this.gs = tc * d0 * e0 + d0 * ed - sef * (tc * em + edm);
      this.gphi = 0;
    } else {
      for (let j = 0; j < n; j++) this.gf[j] /= Z;
      this.gs /= Z;
      this.gphi = (this.gphi + this.dphiCst * this.wsum) / Z;
    }
  }
}
