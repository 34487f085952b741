// One group's log-integrand (MATH.md eq. 24) and its parameter sensitivities:
//   ℓ(t) = C + Σ_j core(y_j, f_j + s·t, ϕ) − t²/2 − ½ log 2π
// with C = Σ_j c(y_j) precomputed. ∂ℓ/∂f_j = r_j(t), ∂ℓ/∂s = t·Σ_j r_j(t), ∂ℓ/∂ϕ = Σ_j ∂core/∂ϕ.
//
// Gaussian-identity and Poisson-log collapse to per-group sufficient statistics, so ℓ(t) costs
// O(1) instead of O(n): Gaussian Σr, Σr² (r = y − f); Poisson Σy, Σy·f, Σe^f. Their gradients
// need only posterior moments (E[t], E[t²] or E[e^{st}], E[t·e^{st}]), accumulated instead of
// per-observation sums and mapped to ∂L/∂f_j at the end.
import { GAUSSIAN_IDENTITY, POISSON_LOG, obsCore, obsDphi, obsHess, obsScore } from './obs';

const HALF_LN_2PI = 0.9189385332046728;

export class Integrand {
  readonly fast: boolean;
  // Sufficient statistics (fast path).
  private n = 0;
  private s1 = 0; // Gaussian Σr; Poisson Σy
  private s2 = 0; // Gaussian Σr²; Poisson Σy·f
  private se = 0; // Poisson Σe^f
  // Gradient accumulators, in units of e^{ℓ−m} (normalised by the caller's Z at the end).
  gs = 0;
  gphi = 0;
  private m0 = 0;
  private mt = 0;
  private mtt = 0;
  private me = 0;
  private mte = 0;
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
        const r = y[j] - f[j];
        this.s1 += r;
        this.s2 += r * r;
      }
    } else if (code === POISSON_LOG) {
      for (let j = 0; j < this.n; j++) {
        this.s1 += y[j];
        this.s2 += y[j] * f[j];
        this.se += Math.exp(f[j]);
      }
    }
    gf.fill(0);
  }

  private trials(j: number): number {
    return this.m ? this.m[j] : 1;
  }

  /** ℓ(t). */
  ell(t: number): number {
    this.evals++;
    const { code, s, phi } = this;
    let sum: number;
    if (code === GAUSSIAN_IDENTITY) {
      const st = s * t;
      sum = -0.5 * (this.s2 - 2 * st * this.s1 + this.n * st * st) / (phi * phi) - this.n * Math.log(phi);
    } else if (code === POISSON_LOG) {
      sum = this.s2 + s * t * this.s1 - Math.exp(s * t) * this.se;
    } else {
      sum = 0;
      for (let j = 0; j < this.n; j++) sum += obsCore(code, this.y[j], this.trials(j), this.f[j] + s * t, phi);
    }
    return this.cst + sum - 0.5 * t * t - HALF_LN_2PI;
  }

  /** [ℓ'(t), ℓ''(t)] for Newton. */
  slope(t: number): [number, number] {
    this.evals++;
    const { code, s, phi } = this;
    let d1: number, d2: number;
    if (code === GAUSSIAN_IDENTITY) {
      d1 = (s * (this.s1 - this.n * s * t)) / (phi * phi);
      d2 = -(this.n * s * s) / (phi * phi);
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
      this.m0 += w;
      this.mt += w * t;
      this.mtt += w * t * t;
      if (code === POISSON_LOG) {
        const e = w * Math.exp(s * t);
        this.me += e;
        this.mte += e * t;
      }
      return;
    }
    let sr = 0, sp = 0;
    for (let j = 0; j < this.n; j++) {
      const eta = this.f[j] + s * t;
      const r = obsScore(code, this.y[j], this.trials(j), eta, phi);
      this.gf[j] += w * r;
      sr += r;
      if (this.code <= 1) sp += obsDphi(code, this.y[j], this.trials(j), eta, phi);
    }
    this.gs += w * t * sr;
    this.gphi += w * sp;
  }

  /**
   * Divides the accumulators by the normaliser Z (in units of e^{ℓ−m}) so gf, gs, gphi become
   * ∂L/∂f_j, ∂L/∂s, ∂L/∂ϕ. The fast paths keep Σw (e0) rather than assume it equals Z, so each
   * gradient method's own weights are honoured exactly.
   */
  finish(Z: number): void {
    const { code, s, phi, n } = this;
    const e0 = this.m0 / Z, et = this.mt / Z;
    if (code === GAUSSIAN_IDENTITY) {
      const ett = this.mtt / Z, p2 = phi * phi;
      for (let j = 0; j < n; j++) this.gf[j] = ((this.y[j] - this.f[j]) * e0 - s * et) / p2;
      this.gs = (this.s1 * et - n * s * ett) / p2;
      this.gphi = (-n * e0) / phi + (this.s2 * e0 - 2 * s * this.s1 * et + n * s * s * ett) / (p2 * phi);
    } else if (code === POISSON_LOG) {
      const ee = this.me / Z, ete = this.mte / Z;
      for (let j = 0; j < n; j++) this.gf[j] = this.y[j] * e0 - Math.exp(this.f[j]) * ee;
      this.gs = this.s1 * et - this.se * ete;
      this.gphi = 0;
    } else {
      for (let j = 0; j < n; j++) this.gf[j] /= Z;
      this.gs /= Z;
      this.gphi /= Z;
    }
  }
}
