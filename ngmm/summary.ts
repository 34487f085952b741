// summary(model): what lme4's summary() shows, in plain numbers — family, link, logLik,
// AIC/BIC (for the linear GLMM, where the parameter count means something), the random-effect
// and residual SDs, and the linear coefficients with standard errors from the observed
// information (the Hessian of −logLik at the optimum, by central differences of the exact
// gradient; inverted whole, so the SEs account for the estimated variance parameters).
import * as E from '../engine/index';
import { prepare, type ModelData, type PreparedData } from './data';
import { releaseResponse } from './marginal/groups';
import { groupedObjective, objectiveParts, PASS_ROWS, type ThreadSource } from './fitting/objective';
import { sumPieces } from './threads/pieces';
import type { Model } from './model';
import { logNdtr } from '../kernels/reference/special';
import { choleskyLower, sandwich, scaledSandwich } from './smallMatrix';

export interface Coefficient {
  name: string;
  estimate: number;
  se: number;
  z: number;
  p: number;
}

export interface Summary {
  family: string;
  link: string;
  nobs: number;
  ngroups: number;
  logLik: number;
  df: number | null;
  AIC: number | null;
  BIC: number | null;
  /** σ_b; with a random-effect network, the median of the groups' scales ‖g(z_i)‖. */
  ranefSD: number;
  /** True when the random-effect scale comes from a network g(z_i). */
  ranefNetwork: boolean;
  /** With random slopes: SDs and correlations of (intercept, slopes) on the original x scale. */
  ranefCov: { names: string[]; sd: number[]; corr: number[][] } | null;
  /**
   * With several random-effect terms (then ranefSD is NaN and ranefCov null): each term's
   * grouping factor, number of levels, and the SDs and correlations of its columns, in lme4's
   * term order (its VarCorr()).
   */
  terms?: { term: string; levels: number; columns: string[]; sd: number[]; corr: number[][] }[];
  /** The dispersion parameter: σ (Gaussian residual SD), θ (negative binomial), shape α (Gamma). */
  sigma: number | null;
  /** Linear coefficients (GLMM only), by column name, on the original scale of X. */
  fixef: Record<string, Coefficient> | null;
  converged: boolean;
  message: string;
  /** 'REML' for a restricted-likelihood Gaussian LMM, else 'ML'. */
  method?: 'ML' | 'REML';
  /** How the marginal likelihood was computed (e.g. 'exact (profiled Gaussian likelihood)'). */
  integration?: string;
  /** The test statistic of `fixef[…].z`: 't' for Gaussian LMMs (no p-value, as lme4), else 'z'. */
  statistic?: 'z' | 't';
  /** True when a variance estimate is at the boundary (a zero SD or a ±1 correlation). */
  singular?: boolean;
  /**
   * Several terms by the Laplace approximation, checked by importance sampling (FitOptions.
   * importanceSamples): the estimate of the true logLik, its Monte Carlo error, the estimate
   * minus the Laplace logLik, and the effective sample size.
   */
  laplaceCheck?: { draws: number; logLik: number; mcError: number; difference: number; ess: number };
  /** Things the user did not ask for: dropped rows and columns, a singular fit. */
  notes?: string[];
  /**
   * A deep ensemble (FitOptions.ensemble): how many members, and the range over members of
   * each one's logLik, σ_b and dispersion (the rest of the summary is the first member's).
   */
  ensemble?: { members: number; logLik: [number, number]; ranefSD: [number, number]; sigma: [number, number] | null };
}

/**
 * The observed information of the linear part and scales, from the data the model was fitted
 * to (needed for standard errors). Without `data`, the coefficients come without SEs.
 */
export function summary(model: Model, data?: ModelData): Summary {
  if (!data) return model.stored ?? summaryOf(model, null);
  const prep = prepare(model.family, data);
  return summaryOf(model, { ...prep, X: model.standardise(prep.X) });
}

/**
 * The same from data already prepared and standardised (what `fit` holds), or, for a structure
 * whose likelihood is not per group (several terms), from its −log-likelihood on the tape.
 */
export function summaryOf(model: Model, prep: PreparedData | null, negLogLik?: () => E.Tensor, maxRows = PASS_ROWS, threads: ThreadSource = null): Summary {
  const k = model.isLinear ? model.linearParams().length + model.scaleParams().length : null;
  const base: Summary = {
    family: model.family.name,
    link: model.family.link,
    nobs: model.nobs,
    ngroups: model.levels.length,
    logLik: model.logLik(),
    df: null,
    AIC: null,
    BIC: null,
    ranefSD: NaN,
    ranefNetwork: model.random.kind === 'grouped' && model.random.gNet !== null,
    ranefCov: model.random.kind === 'grouped' && model.random.thetaL ? slopeCovariance(model) : null,
    sigma: model.family.hasDispersion ? model.sigma : null,
    fixef: null,
    converged: model.info.converged,
    message: model.info.message,
    method: model.exact?.reml ? 'REML' : 'ML',
    integration: model.exact ? 'exact (profiled Gaussian likelihood, Bates et al. 2015)' : model.random.integration(),
    statistic: model.exact ? 't' : 'z',
  };
  if (model.members.length > 0) {
    const all = [model, ...model.members];
    const range = (f: (m: Model) => number): [number, number] => [Math.min(...all.map(f)), Math.max(...all.map(f))];
    base.ensemble = { members: all.length, logLik: range((m) => m.logLik()), ranefSD: range((m) => m.ranefSD), sigma: model.family.hasDispersion ? range((m) => m.sigma) : null };
  }
  const te = model.random.kind === 'terms' ? model.random : null;
  if (te) {
    const vc = te.varCorr();
    base.terms = vc.map((v, k) => ({ term: v.term, levels: te.state[k]?.levels.length ?? 0, columns: v.columns, sd: v.sd, corr: v.corr }));
  }
  // With random slopes the intercept's SD on the user's scale (x = 0, not x = μ), as printed.
  base.ranefSD = base.ranefCov ? base.ranefCov.sd[0] : model.ranefSD;
  if (te) {
    base.singular = model.exact ? model.exact.singular : te.singular(model.family.name === 'gaussian' ? model.sigma : 1);
    if (base.singular) {
      base.notes = [...(base.notes ?? []), 'boundary (singular) fit: a random-effect variance is at zero or a correlation at ±1 (a relative Cholesky factor below 1e−4, lme4\'s isSingular rule); the data do not support that variance component'];
    }
  } else if (model.random.kind === 'grouped' && !model.random.gNet) {
    base.singular = isSingular(base);
    if (base.singular) {
      base.notes = [...(base.notes ?? []), 'boundary (singular) fit: a random-effect variance is at zero or a correlation at ±1 (a relative Cholesky factor below 1e−4, lme4\'s isSingular rule); the data do not support that variance component'];
    }
  }
  if (!model.isLinear || (model.random.kind === 'grouped' && model.random.gNet) || k === null) return base;
  const p = model.xNames.length;
  const df = p + (model.spec.intercept ? 1 : 0) + model.scaleParams().reduce((a, t) => a + t.size, 0);
  base.df = df;
  // Under REML lme4 reports no AIC or BIC: REML criteria of models with different fixed effects
  // are not comparable.
  if (!model.exact?.reml) {
    base.AIC = -2 * base.logLik + 2 * df;
    base.BIC = -2 * base.logLik + Math.log(model.nobs) * df;
  }
  const coefs = model.coefficients();
  const ex = model.exact;
  const params = [...model.linearParams(), ...model.scaleParams()];
  const grouped = !ex && !negLogLik && prep ? groupedGradient(model, params, prep, maxRows, threads) : null;
  const gradient = negLogLik ? tapeGradient(params, negLogLik) : grouped?.gradient ?? null;
  let se: number[] | null;
  try {
    se = ex ? coefs.map((c) => ex.se[ex.names.indexOf(c.name)]) : gradient ? standardErrors(model, params, gradient) : null;
  } finally {
    grouped?.done();
  }
  if (prep) releaseResponse(prep.response); // the heap copy the gradients used
  // lme4 gives Gaussian LMMs t statistics without p-values (their degrees of freedom are not
  // defined); GLMMs Wald z with normal p-values.
  const t = ex !== null;
  base.fixef = Object.fromEntries(coefs.map((c, i) => {
    const s = se ? se[i] : NaN;
    const z = c.value / s;
    return [c.name, { name: c.name, estimate: c.value, se: s, z, p: t ? NaN : 2 * Math.exp(logNdtr(-Math.abs(z))) }];
  }));
  return base;
}

// ∇(−logLik) over `params` at their current values, flattened in their order.
type Gradient = () => Float64Array;

function tapeGradient(params: E.Tensor[], negLogLik: () => E.Tensor): Gradient {
  return () => E.tidy(() => Float64Array.from(E.grad(negLogLik(), params).flatMap((g) => Array.from(g.data))));
}

/**
 * One grouping factor: −Σ_i L_i is a sum over groups, so its gradient is the sum of the
 * gradients of parts of whole groups of at most `maxRows` rows — the objective's own parts
 * (fitting/objective.ts), each part's tape built, differentiated and freed before the next (one
 * piece over 10⁷ rows would hold every row's intermediate values on the kernel heap at once), on
 * `runner`'s threads when given, summed in part order (ngmm/threads/pieces.ts). value(part) is
 * the mean per group: weighted by the part's groups (sumPieces with batchGroups 1), the parts
 * add to the sum.
 */
function groupedGradient(model: Model, params: E.Tensor[], prep: PreparedData, maxRows: number, threads: ThreadSource): { gradient: Gradient; done(): void } {
  // rtol 1e−9: the difference step 1e−4 turns its noise (≈1e−9·|L|) into ~1e−5 relative error of H.
  const obj = groupedObjective(model, prep, { rtol: 1e-9, nodes: 0 }, maxRows);
  const split = objectiveParts(obj, maxRows);
  const parts = split ?? [Int32Array.from({ length: obj.units }, (_, i) => i)];
  const runner = split ? threads?.() ?? null : null;
  return {
    gradient: () => E.tidy(() => Float64Array.from(sumPieces(obj, parts, 1, params, runner).grads.flatMap((g) => Array.from(g.data)))),
    done: () => runner?.release(obj),
  };
}

// SEs of (intercept, β) on the original scale: the Hessian of −Σ L_i over θ = (b0, W, scales)
// by central differences of the gradient, inverted (Gauss–Jordan), the (b0, W) block mapped
// through the linear map from standardised to original coefficients.
function standardErrors(model: Model, params: E.Tensor[], gradientHere: Gradient): number[] {
  const sizes = params.map((t) => t.size);
  const m = sizes.reduce((a, b) => a + b, 0);
  const get = () => Float64Array.from(params.flatMap((t) => Array.from(t.data)));
  const set = (v: Float64Array) => {
    let o = 0;
    for (const t of params) {
      t.data.set(v.subarray(o, o + t.size));
      o += t.size;
    }
  };
  const gradient = (v: Float64Array): Float64Array => {
    set(v);
    return gradientHere();
  };
  const theta = get();
  const H = Array.from({ length: m }, () => new Float64Array(m));
  for (let j = 0; j < m; j++) {
    const h = 1e-4 * Math.max(1, Math.abs(theta[j]));
    const up = theta.slice(), dn = theta.slice();
    up[j] += h;
    dn[j] -= h;
    const gu = gradient(up), gd = gradient(dn);
    for (let i = 0; i < m; i++) H[i][j] = (gu[i] - gd[i]) / (2 * h);
  }
  set(theta);
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) H[i][j] = H[j][i] = 0.5 * (H[i][j] + H[j][i]);
  const cov = invert(H);
  // Original-scale coefficients: c₀ = b0 − Σ β_j μ_j/s_j, c_j = β_j/s_j: a linear map A.
  // Without an intercept X is not centred (μ = 0) and the map is diagonal.
  const p = model.xNames.length, o = model.spec.intercept ? 1 : 0, k = p + o;
  const A = Array.from({ length: k }, () => new Float64Array(k));
  if (o) A[0][0] = 1;
  for (let j = 0; j < p; j++) {
    if (o) A[0][j + 1] = -model.mean[j] / model.sd[j];
    A[j + o][j + o] = 1 / model.sd[j];
  }
  // Each row scaled by its largest entry first: a column like x·1e−300 has 1/s = 1e300, whose
  // square overflows; SE = scale·√(aᵀ·cov·a) with a the scaled row.
  const se: number[] = [];
  for (let r = 0; r < k; r++) {
    let big = 0;
    for (let a = 0; a < k; a++) big = Math.max(big, Math.abs(A[r][a]));
    let v = 0;
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) v += (A[r][a] / big) * cov[a][b] * (A[r][b] / big);
    se.push(big * Math.sqrt(v));
  }
  return se;
}

// lme4's isSingular(tol = 1e−4): a diagonal entry of the relative covariance factor θ (the
// Cholesky factor of Σ on the user's scale, divided by the residual SD for a Gaussian) below tol.
function isSingular(s: Summary): boolean {
  const unit = s.family === 'gaussian' && s.sigma !== null ? s.sigma : 1;
  if (!s.ranefCov) return !(s.ranefSD / unit >= 1e-4);
  const { sd, corr } = s.ranefCov, q = sd.length;
  // Σ = D·C·D (D the SDs, C the correlations), so chol(Σ) = D·chol(C): its diagonal without
  // forming Σ, whose entries can overflow where the SDs do not.
  const C = Float64Array.from({ length: q * q }, (_, e) => corr[Math.floor(e / q)][e % q]);
  const L = choleskyLower(C, q);
  for (let d = 0; d < q; d++) if (!((sd[d] / unit) * L[d * q + d] >= 1e-4)) return true;
  return false;
}

// Σ = ΛΛᵀ on the standardised scale, mapped to raw x (Model.slopeMap): A·Σ·Aᵀ.
function slopeCovariance(model: Model): { names: string[]; sd: number[]; corr: number[][] } {
  const re = model.grouped('the slope covariance');
  const q = re.q, Lam = re.lambda();
  const rows = Array.from({ length: q }, (_, r) => Array.from(Lam.subarray(r * q, r * q + q)));
  const identity = Float64Array.from({ length: q * q }, (_, e) => (Math.floor(e / q) === e % q ? 1 : 0));
  const { M, scale } = scaledSandwich(re.slopeMap(), sandwich(rows, identity));
  const sd = scale.map((v, r) => v * Math.sqrt(M[r * q + r]));
  const corr = Array.from({ length: q }, (_, r) => Array.from({ length: q }, (_, c) => M[r * q + c] / Math.sqrt(M[r * q + r] * M[c * q + c])));
  return { names: ['(Intercept)', ...re.slopeIdx.map((j) => model.xNames[j])], sd, corr };
}

function invert(M: Float64Array[]): Float64Array[] {
  const n = M.length;
  const a = M.map((r, i) => {
    const row = new Float64Array(2 * n);
    row.set(r);
    row[n + i] = 1;
    return row;
  });
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    const d = a[c][c];
    if (!(Math.abs(d) > 0)) throw new Error('summary: the observed information is singular (a parameter is not identified)');
    for (let k = 0; k < 2 * n; k++) a[c][k] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c];
      if (f !== 0) for (let k = 0; k < 2 * n; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a.map((r) => r.slice(n));
}

// What `sigma` holds for each family with a dispersion parameter (glmmTMB's sigma() differs for
// Gamma: it reports 1/√shape, the coefficient of variation).
function dispersionLabel(family: string): string {
  if (family === 'gaussian') return 'Residual           SD';
  if (family === 'negbinomial') return 'Dispersion θ (Var = μ + μ²/θ)';
  if (family === 'gamma') return 'Shape α (CV = 1/√α)';
  return 'Dispersion';
}

/** lme4-style text. */
export function formatSummary(s: Summary): string {
  const out: string[] = [];
  const by = s.method === 'REML' ? 'restricted maximum likelihood (REML)' : 'maximum likelihood';
  out.push(`Generalized mixed model fit by ${by} (${s.family}, ${s.link} link)`);
  if (s.integration) out.push(`  marginal likelihood: ${s.integration}`);
  const ic = s.AIC !== null ? `     AIC ${s.AIC.toFixed(1)}   BIC ${s.BIC!.toFixed(1)}` : '';
  out.push(`  ${s.method === 'REML' ? 'REML criterion' : 'logLik'} ${s.method === 'REML' ? (-2 * s.logLik).toFixed(3) : s.logLik.toFixed(3)}${ic}`);
  out.push(s.terms ? `  ${s.nobs} observations; groups: ${s.terms.map((t) => `${t.term} ${t.levels}`).join(', ')}` : `  ${s.nobs} observations in ${s.ngroups} groups`);
  out.push('');
  out.push('Random effects:');
  if (s.terms) {
    const w = Math.max(6, ...s.terms.map((t) => t.term.length)), wc = Math.max(11, ...s.terms.flatMap((t) => t.columns.map((c) => c.length)));
    for (const t of s.terms) {
      t.columns.forEach((c, i) => {
        const corr = t.corr[i].slice(0, i).map((v) => v.toFixed(2)).join(' ');
        out.push(`  ${(i === 0 ? t.term : '').padEnd(w)} ${c.padEnd(wc)} SD ${t.sd[i].toFixed(4)}${i > 0 ? `   corr ${corr}` : ''}`);
      });
    }
  } else if (s.ranefCov) {
    const c = s.ranefCov;
    c.names.forEach((name, i) => {
      const corr = c.corr[i].slice(0, i).map((v) => v.toFixed(2)).join(' ');
      out.push(`  group ${name.padEnd(12)} SD ${c.sd[i].toFixed(4)}${i > 0 ? `   corr ${corr}` : ''}`);
    });
  } else {
    out.push(s.ranefNetwork
      ? `  group (Intercept)  SD ‖g(z_i)‖ by group, median ${s.ranefSD.toFixed(4)}`
      : `  group (Intercept)  SD ${s.ranefSD.toFixed(4)}`);
  }
  if (s.sigma !== null) out.push(`  ${dispersionLabel(s.family)} ${s.sigma.toFixed(4)}`);
  if (s.fixef) {
    out.push('');
    out.push('Fixed effects:');
    const coefs = Object.values(s.fixef);
    const withSe = coefs.some((c) => Number.isFinite(c.se));
    const t = s.statistic === 't';
    const rows = coefs.map((c) => {
      const r = [c.name, c.estimate.toPrecision(5)];
      if (withSe) r.push(Number.isFinite(c.se) ? c.se.toPrecision(4) : 'NA', Number.isFinite(c.z) ? c.z.toFixed(2) : 'NA');
      if (withSe && !t) r.push(!Number.isFinite(c.p) ? 'NA' : c.p < 1e-4 ? '<1e-4' : c.p.toFixed(4));
      return r;
    });
    const head = ['', 'Estimate', ...(withSe ? ['Std. Error', t ? 't value' : 'z value'] : []), ...(withSe && !t ? ['Pr(>|z|)'] : [])];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    out.push('  ' + head.map((h, i) => (i === 0 ? h.padEnd(w[i]) : h.padStart(w[i]))).join('  '));
    for (const r of rows) out.push('  ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
    if (!withSe) out.push('  (standard errors need the training data: summary(model, data))');
  }
  if (s.laplaceCheck) {
    const c = s.laplaceCheck;
    out.push(`Importance sampling (${c.draws} draws, ESS ${c.ess.toFixed(0)}): logLik ${c.logLik.toFixed(3)} ± ${c.mcError.toFixed(3)}, Laplace ${c.difference >= 0 ? 'lower' : 'higher'} by ${Math.abs(c.difference).toFixed(3)}`);
    // With many random effects the Laplace Gaussian is a poor proposal: a few draws carry all the
    // weight and the delta-method error understates the real one.
    if (c.ess < Math.max(50, 0.01 * c.draws)) out.push(`  (an effective sample size of ${c.ess.toFixed(0)} is too small for this estimate or its error to be trusted; more draws help only slowly)`);
  }
  if (s.ensemble) {
    const e = s.ensemble, r = (v: [number, number], d: number) => `${v[0].toFixed(d)} to ${v[1].toFixed(d)}`;
    out.push('');
    out.push(`Deep ensemble of ${e.members} networks: predictions are the members' mean; the numbers above are the first member's.`);
    out.push(`  across members: logLik ${r(e.logLik, 3)}; ${s.ranefNetwork ? 'median ‖g(z_i)‖' : 'group SD'} ${r(e.ranefSD, 4)}${e.sigma ? `; ${dispersionLabel(s.family).replace(/\s+/g, ' ').trim()} ${r(e.sigma, 4)}` : ''}`);
  }
  for (const note of s.notes ?? []) out.push(`Note: ${note}`);
  out.push('');
  out.push(`Optimizer: ${s.message}.`);
  return out.join('\n');
}
