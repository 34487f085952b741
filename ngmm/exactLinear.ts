// The linear Gaussian model (identity link, no networks) by the exact profiled likelihood of
// lme4 (./lmm, Bates et al. 2015 §3) instead of the ODE: ML or REML, β and σ profiled out, θ
// optimised with bounds, so a boundary (singular) fit reaches θ = 0 exactly and the standard
// errors are lme4's vcov(), σ̂²(R_XᵀR_X)⁻¹ conditional on θ̂. The result is written into the
// Model's parameters (standardised scale, positive scales through softplus) so that prediction,
// posteriors, save and load work as for any other model.
import { LmmError } from './lmm/profiled';
import { fitMultiLmm, type MultiLmmFit } from './lmm/multi';
import type { LmmFitBase } from './lmm/driver';
import type { DataTerm } from './data';
import type { PreparedData } from './data';
import type { Model } from './model';
import { choleskyLower, sandwich } from './smallMatrix';
import { softplusInv as softplusOf } from './positive';

// softplus⁻¹, with a floor: a scale that is exactly 0 (a boundary fit) is stored as 1e−300,
// which changes no printed or compared digit (its effect on η is 1e−300).
const softplusInv = (v: number) => softplusOf(Math.max(v, 1e-300));

export interface ExactLinearFit extends LmmFitBase {
  /** Names of the coefficients of `beta`, '(Intercept)' first when there is one. */
  names: string[];
}

/**
 * Fits `model` (Gaussian identity, linear, no random-effect network) to the prepared data (rows
 * sorted by group, X standardised with the model's means and SDs) and sets its parameters.
 */
export function fitExactLinear(model: Model, prep: PreparedData, reml: boolean, o: { signal?: AbortSignal; onIteration?: (it: number, deviance: number) => void } = {}, terms?: readonly DataTerm[]): ExactLinearFit {
  const r = prep.response, n = r.nobs, p = prep.p, o1 = model.spec.intercept ? 1 : 0, P = p + o1;
  // The design on the user's scale (X un-standardised), so β and its vcov are lme4's, except
  // that each column is multiplied by a power of two c_j bringing its largest |x| into [½, 1]:
  // exact in floating point, and a column like x·1e−300 then neither underflows in XᵀX nor
  // overflows in Σ. μ̃ = c·μ and s̃ = c·s are the scaled column's mean and SD.
  const c = new Float64Array(p), mu = new Float64Array(p), sd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    let big = 0;
    for (let i = 0; i < n; i++) big = Math.max(big, Math.abs(prep.X[i * p + j] * model.sd[j] + model.mean[j]));
    c[j] = big > 0 && Number.isFinite(big) ? 2 ** -Math.ceil(Math.log2(big)) : 1;
    mu[j] = model.mean[j] * c[j];
    sd[j] = model.sd[j] * c[j];
  }
  const X = new Float64Array(n * P);
  for (let i = 0; i < n; i++) {
    if (o1) X[i * P] = 1;
    for (let j = 0; j < p; j++) X[i * P + o1 + j] = prep.X[i * p + j] * sd[j] + mu[j];
  }
  const names = [...(o1 ? ['(Intercept)'] : []), ...model.xNames];
  // A row of weight 0 contributes nothing to the likelihood (as on every other path, and as
  // lm() drops it): it is left out here, and a level left with no rows by it (its random
  // effect then has its prior as posterior) is renumbered away and given back its prior.
  const kept = prep.weights ? Int32Array.from({ length: n }, (_, i) => i).filter((i) => prep.weights![i] > 0) : null;
  const rows = (a: Float64Array, w: number) => (kept ? Float64Array.from({ length: kept.length * w }, (_, e) => a[kept[Math.floor(e / w)] * w + (e % w)]) : a);
  const renumber = (group: Int32Array, G: number): { index: Int32Array; G: number; back: Int32Array } => {
    if (!kept || kept.length === n) return { index: group, G, back: Int32Array.from({ length: G }, (_, g) => g) };
    const to = new Int32Array(G).fill(-1), back: number[] = [];
    const index = Int32Array.from(kept, (i) => (to[group[i]] < 0 ? ((to[group[i]] = back.length), back.push(group[i]), to[group[i]]) : to[group[i]]));
    return { index, G: back.length, back: Int32Array.from(back) };
  };
  const base = {
    X: rows(X, P), p: P, xNames: names, y: rows(Float64Array.from(r.y), 1),
    weights: prep.weights ? rows(prep.weights, 1) : undefined, offset: prep.offset ? rows(prep.offset, 1) : undefined, reml,
    signal: o.signal, onIteration: o.onIteration,
  };
  // The rows here are sorted by group (and zero weights left out): errors name the caller's row.
  const callerRows = (e: unknown): never => {
    const row = (k: number) => prep.order[kept ? kept[k - 1] : k - 1] + 1;
    if (e instanceof LmmError) throw new LmmError(e.message.replace(/\brow (\d+)/g, (_, k: string) => `row ${row(Number(k))}`));
    throw e;
  };
  let fit: LmmFitBase;
  if (model.random.kind === 'terms') {
    const te = model.random;
    if (!terms || terms.length !== te.terms.length) throw new Error(`fit: the model has ${te.terms.length} random-effect terms and the data ${terms?.length ?? 0}`);
    // The data's terms in the sorted row order.
    const sorted = terms.map((t) => {
      const q = t.columns.length;
      const group = Int32Array.from(prep.order, (i) => t.group[i]);
      const Z = Float64Array.from({ length: n * q }, (_, e) => t.Z[prep.order[Math.floor(e / q)] * q + (e % q)]);
      return { ...renumber(group, t.levels.length), Z: rows(Z, q), q, name: t.name, levels: t.levels };
    });
    let mf: MultiLmmFit;
    try {
      mf = fitMultiLmm({ ...base, terms: sorted.map((t) => ({ name: t.name, group: t.index, G: t.G, Z: t.Z, q: t.q })) });
    } catch (e) {
      return callerRows(e);
    }
    te.state = sorted.map((t, k) => {
      te.setCovariance(k, mf.terms[k].Sigma);
      const q = t.q, G = t.levels.length, Sigma = mf.terms[k].Sigma;
      // A level without rows keeps its prior: mode 0, SD √Σ_aa.
      const mode = new Float64Array(G * q), condSd = Float64Array.from({ length: G * q }, (_, e) => Math.sqrt(Sigma[(e % q) * q + (e % q)]));
      t.back.forEach((g, i) => {
        mode.set(mf.terms[k].ranef.subarray(i * q, i * q + q), g * q);
        condSd.set(mf.terms[k].condSd!.subarray(i * q, i * q + q), g * q);
      });
      return { levels: [...t.levels], mode, condSd };
    });
    fit = mf;
  } else {
    const re = model.random, q = re.q, slopes = re.slopeIdx;
    const Z = new Float64Array(n * q);
    for (let i = 0; i < n; i++) {
      Z[i * q] = 1;
      slopes.forEach((j, k) => (Z[i * q + 1 + k] = X[i * P + o1 + j]));
    }
    const group = new Int32Array(n);
    for (let g = 0; g < r.ngroups; g++) group.fill(g, r.offsets[g], r.offsets[g + 1]);
    const { index, G } = renumber(group, r.ngroups);
    // One term is the several-term computation with a single term (ngmm/lmm/multi.ts).
    let one: MultiLmmFit;
    try {
      one = fitMultiLmm({ ...base, terms: [{ name: 'group', group: index, G, Z: rows(Z, q), q }], condSd: false });
    } catch (e) {
      return callerRows(e);
    }
    fit = one;
    const Sigma = one.terms[0].Sigma;
    if (re.thetaB) re.thetaB.data[0] = softplusInv(Math.sqrt(Sigma[0]));
    if (re.thetaL) {
      // Σ on (1, x) → Σ on the standardised z = (1, (x − μ)/s): A⁻¹ Σ A⁻ᵀ with A = slopeMap(),
      // whose inverse maps an intercept γ₀' = γ₀ + Σ γ_c μ_c, a slope γ_c' = s_c γ_c.
      const Ainv = Array.from({ length: q }, () => new Array<number>(q).fill(0));
      Ainv[0][0] = 1;
      slopes.forEach((j, k) => {
        Ainv[0][k + 1] = mu[j];
        Ainv[k + 1][k + 1] = sd[j];
      });
      const L = choleskyLower(sandwich(Ainv, Sigma), q);
      let e = 0;
      for (let rr = 0; rr < q; rr++) for (let c = 0; c <= rr; c++, e++) re.thetaL.data[e] = rr === c ? softplusInv(L[rr * q + c]) : L[rr * q + c];
    }
  }
  // β on the user's scale → the model's standardised parametrisation:
  // f(x) = b0 + Σ W_j (x_j − μ_j)/s_j = β₀ + Σ β_j x_j  ⇒  W_j = β_j s_j, b0 = β₀ + Σ β_j μ_j.
  // (With the scaled columns: β̃_j = β_j/c_j, so W_j = β̃_j s̃_j and b0 = β₀ + Σ β̃_j μ̃_j.)
  let b0 = o1 ? fit.beta[0] : 0;
  for (let j = 0; j < p; j++) {
    const bj = fit.beta[o1 + j];
    model.W.data[j] = bj * sd[j];
    b0 += bj * mu[j];
  }
  if (o1) model.b0.data[0] = b0;
  model.thetaSigma!.data[0] = softplusInv(fit.sigma);
  // Back to the user's columns: SEs ×c_j; under REML the criterion's log|R_X|² holds
  // 2·Σ log c_j more than the unscaled design's, so logLik gains Σ log c_j back.
  const ck = (k: number) => (k < o1 ? 1 : c[k - o1]);
  const se = Float64Array.from(fit.se, (v, k) => v * ck(k));
  const beta = Float64Array.from(fit.beta, (v, k) => v * ck(k));
  const vcov = Float64Array.from(fit.vcov, (v, e) => v * ck(Math.floor(e / P)) * ck(e % P));
  let logLik = fit.logLik;
  if (fit.reml) for (let j = 0; j < p; j++) logLik += Math.log(c[j]);
  return { ...fit, beta, vcov, se, logLik, deviance: -2 * logLik, names };
}
