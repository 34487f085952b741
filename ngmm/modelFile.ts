// Reading a saved model (`Model.toJSON()` output) back, checking what it means and not only its
// shape. A model file is untrusted input: it may have been edited, truncated, written by
// another version, or crafted. Three rules:
//
// 1. Nothing is allocated before everything that decides a size has been checked against data
//    present in the file. A network's layer sizes must match its parameter arrays, so a file
//    can only ask for as much kernel memory as the numbers it holds (before this, a 25 kB file
//    declaring `hidden: [15000, 15000]` made the constructor draw and store 2.25·10⁸ weights).
// 2. Every value that the file states twice must agree with itself: each group's posterior
//    rule is normalised, is an affine image of the Gauss–Hermite product rule (as
//    `refreshPosterior` builds it), and has the stated mean and SD; a plain random intercept's
//    per-group scale is σ_b; and the stored summary's parameter-derived numbers (coefficients,
//    σ_b, σ, the random-effect covariance) are what the parameters give. For a linear model
//    every parameter is covered by one of these, so an altered number is caught rather than
//    predicted with; a network's weights have no second statement and are checked for
//    finiteness and shape only.
// 3. A rejected file leaves nothing behind: once the model exists, any later rejection
//    disposes its tensors (each rejection used to keep them: 5,000 rejections, 141 MB).
// docs/model-files.md has the posterior-rule check in full and what no check can catch.
import { activations } from '../engine/ops/activations';
import { allFamilies, family as familyOf, type Family } from './families/index';
import { productRule } from './marginal/gaussHermite';
import { DEFAULT_NODES } from './marginal/quadrature';
import { Model, type ModelSpec } from './model';
import { summaryOf, type Summary } from './summary';
import type { Design } from './frame';
import { softplus } from './positive';

const PREFIX = 'not a valid ngmm model file: ';

/** Layer sizes above this are not a network anyone fits here (and are rejected before any data is looked at). */
const MAX_UNITS = 1 << 20;
/** logsumexp of a posterior's normalised log-weights is 0 up to the rounding of K terms. */
const NORMALISED_TOL = 1e-9;
/**
 * The stored mean, SD and nodes are recomputed here by the same arithmetic that wrote them;
 * 1e−9 (relative to the rule's extent) leaves room for a different summation order and nothing
 * that changes a prediction's leading nine digits.
 */
const RULE_TOL = 1e-9;
/** Parameter-derived summary numbers and σ_b against the parameters: both come from the same doubles. */
const PARAM_TOL = 1e-12;

function bad(what: string): never {
  throw new Error(PREFIX + what);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
};
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function obj(v: unknown, name: string): Obj {
  return isObj(v) ? v : bad(`'${name}' must be an object, not ${v === undefined ? 'missing' : show(v)}`);
}
function str(v: unknown, name: string): string {
  return typeof v === 'string' ? v : bad(`'${name}' must be a string, not ${v === undefined ? 'missing' : show(v)}`);
}
function bool(v: unknown, name: string): boolean {
  return typeof v === 'boolean' ? v : bad(`'${name}' must be true or false, not ${v === undefined ? 'missing' : show(v)}`);
}
function finite(v: unknown, name: string): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : bad(`'${name}' must be a finite number, not ${v === undefined ? 'missing' : show(v)}`);
}
function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`'${name}' must be an integer from ${min} to ${max}, not ${v === undefined ? 'missing' : show(v)}`);
  return v as number;
}
/** An array of `len` (any length when null) finite numbers. */
function numbers(v: unknown, len: number | null, name: string): number[] {
  if (!Array.isArray(v)) bad(`'${name}' must be an array of ${len ?? ''}${len === null ? '' : ' '}finite numbers, not ${v === undefined ? 'missing' : show(v)}`);
  const a = v as unknown[];
  if (len !== null && a.length !== len) bad(`'${name}' has ${a.length} number${a.length === 1 ? '' : 's'} where ${len} ${len === 1 ? 'is' : 'are'} needed`);
  a.forEach((x, i) => typeof x === 'number' && Number.isFinite(x) ? 0 : bad(`'${name}[${i}]' must be a finite number, not ${show(x)}`));
  return a as number[];
}
/** An array of distinct strings. */
function names(v: unknown, name: string): string[] {
  if (!Array.isArray(v)) bad(`'${name}' must be an array of strings, not ${v === undefined ? 'missing' : show(v)}`);
  const a = v as unknown[], seen = new Set<string>();
  a.forEach((x, i) => {
    if (typeof x !== 'string') bad(`'${name}[${i}]' must be a string, not ${show(x)}`);
    if (seen.has(x)) bad(`'${name}[${i}]' repeats ${show(x)}`);
    seen.add(x);
  });
  return a as string[];
}
function sizes(v: unknown, name: string): number[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(`'${name}' must be an array of layer sizes, not ${show(v)}`);
  return (v as unknown[]).map((s, i) => int(s, `${name}[${i}]`, 1, MAX_UNITS));
}
function activation(v: unknown, name: string, dflt: string): string {
  if (v === undefined) return dflt;
  const a = str(v, name);
  if (!own(activations, a)) bad(`'${name}': unknown activation ${show(a)} (have: ${Object.keys(activations).join(', ')})`);
  return a;
}
const near = (a: number, b: number, tol: number): boolean => a === b || Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b));

/**
 * An MLP record whose sizes are `want`, with one finite array per parameter of the right
 * length: checked in plain JavaScript, so the network's size is backed by the file's numbers
 * before any kernel memory is taken for it.
 */
function checkNet(v: unknown, want: number[], act: string, name: string): void {
  const o = obj(v, name);
  if (o.kind !== 'mlp' || o.version !== 1) bad(`'${name}' is not a version-1 MLP record`);
  const s = o.sizes;
  if (!Array.isArray(s) || s.length !== want.length || s.some((x, i) => x !== want[i])) {
    bad(`'${name}.sizes' ${Array.isArray(s) ? `[${s.map(show).join(', ')}]` : show(s)} do not match the spec's layers [${want.join(', ')}]`);
  }
  if (o.activation !== act) bad(`'${name}.activation' ${show(o.activation)} does not match the spec's '${act}'`);
  const ps = o.params;
  const L = want.length - 1;
  if (!Array.isArray(ps) || ps.length !== 2 * L) bad(`'${name}.params' must be ${2 * L} arrays (weights and biases of ${L} layers)`);
  for (let l = 0; l < L; l++) {
    numbers((ps as unknown[])[2 * l], want[l] * want[l + 1], `${name}.params[${2 * l}]`);
    numbers((ps as unknown[])[2 * l + 1], want[l + 1], `${name}.params[${2 * l + 1}]`);
  }
}

/** The checked spec, in the form the Model constructor takes (unknown keys pass through). */
/** The exact LMM's record: ML or REML, and lme4's SEs by coefficient name. */
function checkExact(v: unknown, m: Model): Model['exact'] {
  if (v == null) return null;
  const e = obj(v, 'exact');
  if (m.family.name !== 'gaussian' || m.family.link !== 'identity' || !m.isLinear || (m.random.kind === 'grouped' && m.random.gNet)) bad("'exact' is given but the model is not a linear Gaussian identity-link model");
  const coefs = m.coefficients().map((c) => c.name);
  const en = names(e.names, 'exact.names');
  if (en.length !== coefs.length || en.some((n, i) => n !== coefs[i])) bad("'exact.names' do not match the model's coefficients");
  const se = numbers(e.se, coefs.length, 'exact.se');
  if (se.some((x) => !(x > 0))) bad("'exact.se' must be positive");
  return { reml: bool(e.reml, 'exact.reml'), names: en, se: Array.from(se), singular: bool(e.singular, 'exact.singular') };
}

function checkSpec(v: unknown, xNames: string[]): { spec: ModelSpec & Obj; fam: Family; q: number; hidden: number[]; act: string } {
  const s = obj(v, 'spec');
  const fname = str(s.family, 'spec.family');
  const link = s.link === undefined ? undefined : str(s.link, 'spec.link');
  // Names are looked up in the list of families, never as keys of an object ('toString').
  const known = allFamilies().map(([k]) => k.split('/'));
  if (!known.some(([n]) => n === fname)) bad(`'spec.family': unknown family ${show(fname)} (have: ${[...new Set(known.map(([n]) => n))].join(', ')})`);
  if (link !== undefined && !known.some(([n, l]) => n === fname && l === link)) {
    bad(`'spec.link': the ${fname} family has no link ${show(link)} (have: ${known.filter(([n]) => n === fname).map(([, l]) => l).join(', ')})`);
  }
  let fam: Family;
  try {
    fam = familyOf(fname as ModelSpec['family'], link as ModelSpec['link']);
  } catch (e) {
    return bad(`'spec': ${(e as Error).message}`);
  }
  const hidden = sizes(s.hidden, 'spec.hidden');
  const act = activation(s.activation, 'spec.activation', 'relu');
  // Files written before issue 16 have no precision: their networks computed in float64.
  if (s.precision !== undefined && s.precision !== 'f64' && s.precision !== 'mixed') bad(`'spec.precision' must be 'f64' or 'mixed', got ${show(s.precision)}`);
  if (s.seed !== undefined) finite(s.seed, 'spec.seed');
  const slopes = s.randomSlopes === undefined ? [] : names(s.randomSlopes, 'spec.randomSlopes');
  slopes.forEach((n, i) => xNames.includes(n) ? 0 : bad(`'spec.randomSlopes[${i}]': ${show(n)} is not one of 'xNames'`));
  if (slopes.length > 2) bad(`'spec.randomSlopes': ${slopes.length} random slopes; at most two are supported`);
  let re: Obj | undefined;
  if (s.randomEffect != null) {
    if (slopes.length > 0) bad("'spec': random slopes and a random-effect network cannot be combined");
    re = obj(s.randomEffect, 'spec.randomEffect');
    const cov = names(re.covariates, 'spec.randomEffect.covariates');
    if (cov.length === 0) bad("'spec.randomEffect.covariates' must name at least one covariate");
    sizes(re.hidden, 'spec.randomEffect.hidden');
    activation(re.activation, 'spec.randomEffect.activation', 'tanh');
    if (re.outDim !== undefined) int(re.outDim, 'spec.randomEffect.outDim', 1, MAX_UNITS);
  }
  // `randomEffect: null` is how toJSON writes "none" after a JSON round trip of undefined.
  if (s.intercept !== undefined) bool(s.intercept, 'spec.intercept');
  let terms: { name: string; columns: string[] }[] | undefined;
  if (s.terms != null) {
    if (slopes.length > 0 || re) bad("'spec.terms' describes every random-effect term: 'spec.randomSlopes' and 'spec.randomEffect' must be absent");
    if (!Array.isArray(s.terms) || s.terms.length === 0) bad("'spec.terms' must be a non-empty array of terms");
    terms = (s.terms as unknown[]).map((t, k) => {
      const o = obj(t, `spec.terms[${k}]`);
      const columns = names(o.columns, `spec.terms[${k}].columns`);
      if (columns.length === 0 || columns.length > 16) bad(`'spec.terms[${k}].columns' must name 1 to 16 columns`);
      return { name: str(o.name, `spec.terms[${k}].name`), columns };
    });
  }
  const spec = { ...s, randomEffect: re, terms } as unknown as ModelSpec & Obj;
  return { spec, fam, q: 1 + slopes.length, hidden, act };
}

/**
 * The posterior rules: normalised, an affine image b_k = m + A·ξ_k of the product rule with A
 * upper triangular and a positive diagonal (A = L⁻ᵀ of the mode's Cholesky factor, as
 * marginal/quadrature.ts builds it; q = 1: m + sd·ξ_k), and mean and SD of the first coordinate
 * as stated.
 */
function checkPosterior(v: unknown, i: number, q: number, xi: Float64Array, scaleOf: (s: unknown, name: string) => number) {
  const name = `posterior[${i}]`;
  const o = obj(v, name);
  const K1 = DEFAULT_NODES[q], K = K1 ** q;
  const nodes = Float64Array.from(numbers(o.nodes, K * q, `${name}.nodes`));
  const logw = Float64Array.from(numbers(o.logw, K, `${name}.logw`));
  let mx = -Infinity;
  for (const w of logw) mx = Math.max(mx, w);
  let z = 0;
  for (const w of logw) z += Math.exp(w - mx);
  const lse = mx + Math.log(z);
  if (!(Math.abs(lse) <= NORMALISED_TOL)) bad(`'${name}.logw' is not normalised (log Σ exp = ${lse.toPrecision(6)}, not 0)`);
  // The centre point of an odd product rule is ξ = 0 exactly; the outermost node along axis d
  // gives column d of A.
  const h = (K1 - 1) / 2, xmax = xi[(K1 - 1) * q * K1 ** (q - 1)];
  let centre = 0;
  for (let d = 0; d < q; d++) centre += h * K1 ** (q - 1 - d);
  const m = nodes.subarray(centre * q, centre * q + q);
  const A = new Float64Array(q * q);
  let extent = 0;
  for (let d = 0; d < q; d++) {
    const k = centre + (K1 - 1 - h) * K1 ** (q - 1 - d);
    for (let r = 0; r < q; r++) A[r * q + d] = (nodes[k * q + r] - m[r]) / xmax;
  }
  for (const x of nodes) extent = Math.max(extent, Math.abs(x));
  for (const a of A) extent += Math.abs(a) * xmax;
  const tol = RULE_TOL * (1 + extent);
  for (let r = 0; r < q; r++) {
    if (!(A[r * q + r] > 0)) bad(`'${name}.nodes' are not an adaptive Gauss–Hermite rule (no positive spread along coordinate ${r + 1})`);
    for (let c = 0; c < r; c++) if (Math.abs(A[r * q + c]) > tol) bad(`'${name}.nodes' are not an adaptive Gauss–Hermite rule`);
  }
  for (let k = 0; k < K; k++) {
    for (let r = 0; r < q; r++) {
      let b = m[r];
      for (let c = 0; c < q; c++) b += A[r * q + c] * xi[k * q + c];
      if (!(Math.abs(nodes[k * q + r] - b) <= tol)) bad(`'${name}.nodes[${k * q + r}]' is not where the adaptive Gauss–Hermite rule puts it (${b}, not ${nodes[k * q + r]})`);
    }
  }
  let e1 = 0, e2 = 0;
  for (let k = 0; k < K; k++) {
    const w = Math.exp(logw[k]), b = nodes[k * q];
    e1 += w * b;
    e2 += w * b * b;
  }
  const mean = finite(o.mean, `${name}.mean`), sd = finite(o.sd, `${name}.sd`);
  const sdRule = Math.sqrt(Math.max(0, e2 - e1 * e1));
  if (!(Math.abs(mean - e1) <= tol)) bad(`'${name}.mean' ${mean} is not the mean of its rule (${e1})`);
  if (!(Math.abs(sd - sdRule) <= tol)) bad(`'${name}.sd' ${sd} is not the SD of its rule (${sdRule})`);
  return { mean, sd, nodes, logw, scale: scaleOf(o.scale, `${name}.scale`) };
}

/** The stored summary's numbers that follow from the parameters alone, against the parameters. */
function checkSummary(v: unknown, m: Model): Summary | null {
  if (v == null) return null;
  const s = obj(v, 'summary');
  const fresh = summaryOf(m, null);
  const same = (a: unknown, b: number | null, name: string) => {
    // NaN and null are both written as null.
    if (b === null || Number.isNaN(b)) {
      if (a !== null && !(typeof a === 'number' && Number.isNaN(a))) bad(`'summary.${name}' is ${show(a)} but the parameters give none`);
      return;
    }
    if (typeof a !== 'number' || !near(a, b, PARAM_TOL)) bad(`'summary.${name}' is ${show(a)} but the parameters give ${b}`);
  };
  if (s.family !== fresh.family || s.link !== fresh.link) bad(`'summary' is for ${show(s.family)}/${show(s.link)}, the spec for ${fresh.family}/${fresh.link}`);
  if (s.ngroups !== fresh.ngroups) bad(`'summary.ngroups' is ${show(s.ngroups)} but the file has ${fresh.ngroups} groups`);
  if (s.ranefNetwork !== fresh.ranefNetwork) bad(`'summary.ranefNetwork' is ${show(s.ranefNetwork)} but the spec says ${fresh.ranefNetwork}`);
  same(s.sigma, fresh.sigma, 'sigma');
  if (fresh.ranefCov) {
    const c = obj(s.ranefCov, 'summary.ranefCov');
    const q = fresh.ranefCov.sd.length;
    if (!Array.isArray(c.sd) || c.sd.length !== q || !Array.isArray(c.corr) || c.corr.length !== q) bad(`'summary.ranefCov' must hold ${q} SDs and a ${q} × ${q} correlation matrix`);
    if (!Array.isArray(c.names) || c.names.some((n, i) => n !== fresh.ranefCov!.names[i])) bad("'summary.ranefCov.names' do not match the random effects");
    fresh.ranefCov.sd.forEach((x, i) => same((c.sd as unknown[])[i], x, `ranefCov.sd[${i}]`));
    fresh.ranefCov.corr.forEach((row, i) => {
      const r = (c.corr as unknown[])[i];
      if (!Array.isArray(r) || r.length !== q) bad(`'summary.ranefCov.corr[${i}]' must hold ${q} numbers`);
      row.forEach((x, j) => same((r as unknown[])[j], x, `ranefCov.corr[${i}][${j}]`));
    });
  } else if (s.ranefCov != null) bad("'summary.ranefCov' is given but the model has no random slopes");
  if (fresh.terms) {
    if (!Array.isArray(s.terms) || s.terms.length !== fresh.terms.length) bad(`'summary.terms' must hold ${fresh.terms.length} terms`);
    fresh.terms.forEach((t, k) => {
      const e = obj((s.terms as unknown[])[k], `summary.terms[${k}]`);
      if (e.term !== t.term || e.levels !== t.levels) bad(`'summary.terms[${k}]' is not the term '${t.term}' with ${t.levels} levels`);
      const q = t.sd.length;
      if (!Array.isArray(e.sd) || e.sd.length !== q || !Array.isArray(e.corr) || e.corr.length !== q) bad(`'summary.terms[${k}]' must hold ${q} SDs and a ${q} × ${q} correlation matrix`);
      t.sd.forEach((x, i) => same((e.sd as unknown[])[i], x, `terms[${k}].sd[${i}]`));
      t.corr.forEach((row, i) => {
        const r = (e.corr as unknown[])[i];
        if (!Array.isArray(r) || r.length !== q) bad(`'summary.terms[${k}].corr[${i}]' must hold ${q} numbers`);
        row.forEach((x, j) => same((r as unknown[])[j], x, `terms[${k}].corr[${i}][${j}]`));
      });
    });
  } else if (s.terms != null) bad("'summary.terms' is given but the model has one grouping factor");
  if (fresh.fixef) {
    const f = obj(s.fixef, 'summary.fixef');
    for (const [k, c] of Object.entries(fresh.fixef)) {
      if (!own(f, k)) bad(`'summary.fixef' has no ${show(k)}`);
      const e = obj(f[k], `summary.fixef.${k}`);
      if (e.name !== k) bad(`'summary.fixef.${k}.name' is ${show(e.name)}`);
      same(e.estimate, c.estimate, `fixef.${k}.estimate`);
      for (const key of ['se', 'z', 'p']) {
        if (e[key] !== null && e[key] !== undefined && typeof e[key] !== 'number') bad(`'summary.fixef.${k}.${key}' must be a number, not ${show(e[key])}`);
      }
    }
  } else if (s.fixef != null) bad("'summary.fixef' is given but the model has no linear coefficients to report");
  for (const key of ['nobs', 'logLik', 'df', 'AIC', 'BIC']) {
    if (s[key] !== null && s[key] !== undefined && typeof s[key] !== 'number') bad(`'summary.${key}' must be a number, not ${show(s[key])}`);
  }
  // With slopes ranefSD is ranefCov.sd[0]: checked after it, so a mutation is named there.
  same(s.ranefSD, fresh.ranefSD, 'ranefSD');

  if (s.converged !== undefined) bool(s.converged, 'summary.converged');
  if (s.message !== undefined) str(s.message, 'summary.message');
  return s as unknown as Summary;
}

function checkDesign(v: unknown, xNames: string[]): Design | null {
  if (v == null) return null;
  const d = obj(v, 'design');
  str(d.formula, 'design.formula');
  const dx = names(d.xNames, 'design.xNames');
  if (dx.length !== xNames.length || dx.some((n, i) => n !== xNames[i])) bad("'design.xNames' do not match 'xNames'");
  const lv = obj(d.levels, 'design.levels');
  // Keys are user-supplied variable names: rebuilt as own properties of a prototype-free object.
  const levels: Record<string, string[]> = Object.create(null);
  for (const [k, l] of Object.entries(lv)) levels[k] = [...names(l, `design.levels.${k}`)];
  const out: Design = { formula: d.formula as string, xNames: [...dx], levels };
  if (d.weights != null) out.weights = str(d.weights, 'design.weights');
  if (d.responseLevels != null) {
    const r = names(d.responseLevels, 'design.responseLevels');
    if (r.length !== 2 || r[0] === r[1]) bad("'design.responseLevels' must be two different levels");
    out.responseLevels = [r[0], r[1]];
  }
  return out;
}

/** The fit record and the design, shared by both structures. */
function checkFit(o: Obj, minNobs: number, xNames: string[]) {
  const F = obj(o.fit, 'fit');
  const info = {
    converged: bool(F.converged, 'fit.converged'),
    message: str(F.message, 'fit.message'),
    optimizer: str(F.optimizer, 'fit.optimizer'),
    epochs: int(F.epochs, 'fit.epochs', 0, Number.MAX_SAFE_INTEGER),
    logLik: finite(F.logLik, 'fit.logLik'),
    // Files written before issue 16 have no thread count.
    ...(F.threads === undefined ? {} : { threads: int(F.threads, 'fit.threads', 1, 64) }),
  };
  const nobs = int(F.nobs, 'fit.nobs', minNobs, Number.MAX_SAFE_INTEGER);
  return { info, nobs, design: checkDesign(o.design, xNames) };
}

// A model with several random-effect terms (ngmm/terms/multi.ts): each term's L_t parameters,
// and per term its levels with conditional modes and SDs (levels × columns).
function loadTerms(o: Obj, spec: ModelSpec & Obj, xNames: string[], mean: number[], sd: number[], fam: Family, P: Obj, b0: number, W: number[]): Model {
  const terms = spec.terms!;
  if (P.thetaB != null || P.thetaL != null || P.gNet != null) bad("'params.thetaB', 'params.thetaL' and 'params.gNet' belong to a one-factor model; this one has 'spec.terms'");
  if ((Array.isArray(o.levels) && o.levels.length > 0) || (Array.isArray(o.posterior) && o.posterior.length > 0)) bad("'levels' and 'posterior' belong to a one-factor model; a model with 'spec.terms' keeps them in 'terms'");
  if (!Array.isArray(P.terms) || P.terms.length !== terms.length) bad(`'params.terms' must hold ${terms.length} arrays, one per term`);
  const theta = terms.map((t, k) => numbers((P.terms as unknown[])[k], (t.columns.length * (t.columns.length + 1)) / 2, `params.terms[${k}]`));
  const thetaSigma = fam.hasDispersion ? finite(P.thetaSigma, 'params.thetaSigma') : null;
  if (thetaSigma === null && P.thetaSigma != null) bad(`'params.thetaSigma' is given but the ${fam.name} family has no dispersion`);
  if (!Array.isArray(o.terms) || o.terms.length !== terms.length) bad(`'terms' must hold ${terms.length} records, one per term`);
  const state = terms.map((t, k) => {
    const r = obj((o.terms as unknown[])[k], `terms[${k}]`);
    const levels = names(r.levels, `terms[${k}].levels`);
    if (levels.length === 0) bad(`'terms[${k}].levels' is empty`);
    const q = t.columns.length;
    const mode = Float64Array.from(numbers(r.mode, levels.length * q, `terms[${k}].mode`));
    const condSd = Float64Array.from(numbers(r.condSd, levels.length * q, `terms[${k}].condSd`));
    condSd.forEach((v, i) => (v >= 0 ? 0 : bad(`'terms[${k}].condSd[${i}]' must be ≥ 0, not ${v}`)));
    return { levels, mode, condSd };
  });
  return assemble(o, checkFit(o, 1, xNames), () => new Model(spec, xNames, Float64Array.from(mean), Float64Array.from(sd)), (m) => {
    if (m.random.kind !== 'terms') return bad("'spec' does not describe the parameters given");
    m.b0.data[0] = b0;
    m.W.data.set(W);
    if (m.net) m.net.setFromJSON(P.net);
    if (m.thetaSigma) m.thetaSigma.data[0] = thetaSigma!;
    const te = m.random;
    theta.forEach((th, k) => te.theta[k].data.set(th));
    te.state = state;
    if (o.termsMethod != null) {
      const how = str(o.termsMethod, 'termsMethod');
      if (how !== 'exact' && how !== 'nested' && how !== 'laplace') bad(`'termsMethod' must be 'exact', 'nested' or 'laplace', not ${show(how)}`);
      te.method = how;
      if (how === 'nested' && terms.length !== 2) bad("'termsMethod' is 'nested' but the model does not have two terms");
    }
    if (o.termsNodes != null) te.nestedNodes = int(o.termsNodes, 'termsNodes', 1, 64);
  });
}

/** Rebuilds a model from `toJSON()` output; rejects anything malformed or inconsistent with one clear message. */
/** Members of a deep ensemble a file may hold (each brings its own weights, so sizes stay bounded by the file). */
const MAX_MEMBERS = 64;

export function loadModel(j: unknown): Model {
  const m = loadOne(j);
  const ms = (j as Obj).members;
  if (ms === undefined) return m;
  try {
    m.members = loadMembers(ms, m);
    return m;
  } catch (e) {
    m.dispose();
    throw e;
  }
}

// A deep ensemble's further members: each a model file of its own, checked as one, and the same
// model as the first member in everything but the fitted parameters (spec, columns, scaling,
// groups, offset), or predictions averaged over them would mix different models.
function loadMembers(v: unknown, top: Model): Model[] {
  if (!Array.isArray(v)) bad(`'members' must be an array of model files, not ${show(v)}`);
  const list = v as unknown[];
  if (list.length < 1 || list.length > MAX_MEMBERS - 1) bad(`'members' must hold 1 to ${MAX_MEMBERS - 1} model files, not ${list.length}`);
  if (top.random.kind !== 'grouped' || (top.net === null && top.random.gNet === null)) bad("'members' is given, but only a model with a network and one grouping factor is fitted as an ensemble");
  const out: Model[] = [];
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
  try {
    list.forEach((mj, k) => {
      const name = `members[${k}]`;
      if (isObj(mj) && own(mj, 'members')) bad(`'${name}.members' is given: a member has no members of its own`);
      let m: Model;
      try {
        m = loadOne(mj);
      } catch (e) {
        return bad(`'${name}': ${(e as Error).message.replace(PREFIX, '')}`);
      }
      out.push(m);
      const differs = JSON.stringify(m.spec) !== JSON.stringify(top.spec) ? 'spec'
        : m.xNames.join('\u0000') !== top.xNames.join('\u0000') ? 'xNames'
          : !same(m.mean, top.mean) || !same(m.sd, top.sd) ? 'standardise'
            : m.levels.join('\u0000') !== top.levels.join('\u0000') ? 'levels'
              : m.hasOffset !== top.hasOffset ? 'hasOffset'
                : m.random.kind === 'grouped' && top.random.kind === 'grouped' && (!same(m.random.zMean, top.random.zMean) || !same(m.random.zSd, top.random.zSd)) ? 'params.zStandardise'
                  : null;
      if (differs) bad(`'${name}.${differs}' differs from the first member's: an ensemble's members are one model fitted from several seeds`);
    });
  } catch (e) {
    out.forEach((m) => m.dispose());
    throw e;
  }
  return out;
}

function loadOne(j: unknown): Model {
  if (!isObj(j) || j.format !== 'ngmm-model') bad("'format' must be 'ngmm-model'");
  const o = j as Obj;
  if (o.version !== 1) bad(`unsupported version ${show(o.version)} (this library reads version 1)`);
  const xNames = names(o.xNames, 'xNames');
  const p = xNames.length;
  const { spec, fam, q, hidden, act } = checkSpec(o.spec, xNames);
  const st = obj(o.standardise, 'standardise');
  const mean = numbers(st.mean, p, 'standardise.mean');
  const sd = numbers(st.sd, p, 'standardise.sd');
  sd.forEach((v, i) => v > 0 ? 0 : bad(`'standardise.sd[${i}]' must be positive, not ${v}`));

  const P = obj(o.params, 'params');
  const b0 = finite(P.b0, 'params.b0');
  // Without an intercept β₀ is fixed at 0 (f adds b0 whatever the flag says).
  if (spec.intercept === false && b0 !== 0) bad("'params.b0' must be 0: the model has no intercept ('spec.intercept' is false)");
  const W = numbers(P.W, p, 'params.W');
  if (hidden.length > 0) checkNet(P.net, [p, ...hidden, 1], act, 'params.net');
  else if (P.net != null) bad("'params.net' is given but 'spec.hidden' has no layers");
  if (spec.terms) return loadTerms(o, spec, xNames, mean, sd, fam, P, b0, W);
  const re = spec.randomEffect as Obj | undefined;
  let dz = 0;
  let zMean: number[] = [], zSd: number[] = [];
  if (re) {
    dz = (re.covariates as string[]).length;
    const reAct = activation(re.activation, 'spec.randomEffect.activation', 'tanh');
    checkNet(P.gNet, [dz, ...sizes(re.hidden, 'spec.randomEffect.hidden'), (re.outDim as number | undefined) ?? 2], reAct, 'params.gNet');
    const zs = obj(P.zStandardise, 'params.zStandardise');
    zMean = numbers(zs.mean, dz, 'params.zStandardise.mean');
    zSd = numbers(zs.sd, dz, 'params.zStandardise.sd');
    zSd.forEach((v, i) => v > 0 ? 0 : bad(`'params.zStandardise.sd[${i}]' must be positive, not ${v}`));
  } else if (P.gNet != null) bad("'params.gNet' is given but the spec has no 'randomEffect'");
  const thetaB = !re && q === 1 ? finite(P.thetaB, 'params.thetaB') : null;
  if (thetaB === null && P.thetaB != null) bad("'params.thetaB' is given but the model has no single random-intercept SD");
  const thetaSigma = fam.hasDispersion ? finite(P.thetaSigma, 'params.thetaSigma') : null;
  if (thetaSigma === null && P.thetaSigma != null) bad(`'params.thetaSigma' is given but the ${fam.name} family has no dispersion`);
  const thetaL = q > 1 ? numbers(P.thetaL, (q * (q + 1)) / 2, 'params.thetaL') : null;
  if (thetaL === null && P.thetaL != null) bad("'params.thetaL' is given but the model has no random slopes");

  const levels = names(o.levels, 'levels');
  if (!Array.isArray(o.posterior)) bad(`'posterior' must be an array, not ${show(o.posterior)}`);
  const post = o.posterior as unknown[];
  if (post.length !== levels.length) bad(`'posterior' has ${post.length} groups and 'levels' ${levels.length}`);
  // A plain random intercept scales every group by σ_b; a network g by its own ‖g(z_i)‖ > 0;
  // with random slopes the scale is not used (NaN, written as null).
  const sigmaB = thetaB === null ? NaN : softplus(thetaB);
  const scaleOf = (s: unknown, name: string): number => {
    if (q > 1) return s === null || (typeof s === 'number' && Number.isNaN(s)) ? NaN : bad(`'${name}' must be null for a model with random slopes`);
    const v = finite(s, name);
    if (!(v > 0)) bad(`'${name}' must be positive, not ${v}`);
    if (thetaB !== null && !near(v, sigmaB, PARAM_TOL)) bad(`'${name}' ${v} is not σ_b = softplus(params.thetaB) = ${sigmaB}`);
    return v;
  };
  const xi = productRule(DEFAULT_NODES[q], q).nodes;
  const posterior = post.map((g, i) => checkPosterior(g, i, q, xi, scaleOf));

  const { info, nobs, design } = checkFit(o, levels.length, xNames);

  // Everything that sets a size is checked: allocate, and free on any later rejection.
  return assemble(o, { info, nobs, design }, () => new Model(spec, xNames, Float64Array.from(mean), Float64Array.from(sd)), (m) => {
    m.b0.data[0] = b0;
    m.W.data.set(W);
    if (m.net) m.net.setFromJSON(P.net);
    const ge = m.grouped('a model file without terms');
    if (ge.gNet) {
      ge.gNet.setFromJSON(P.gNet);
      ge.zMean = Float64Array.from(zMean);
      ge.zSd = Float64Array.from(zSd);
    }
    if (ge.thetaB) ge.thetaB.data[0] = thetaB!;
    if (m.thetaSigma) m.thetaSigma.data[0] = thetaSigma!;
    if (ge.thetaL) ge.thetaL.data.set(thetaL!);
    if (ge.q !== q || (ge.thetaB === null) !== (thetaB === null) || (ge.gNet === null) !== !re) bad("'spec' does not describe the parameters given");
    ge.levels = [...levels];
    ge.posterior = posterior;
  });
}

// A network's linear GLMM start: the model's coefficient names in order, finite values.
function checkGlmm(v: unknown, m: Model): { name: string; value: number }[] {
  if (m.isLinear) bad("'glmm' is given but the model has no network (a linear model is its own GLMM)");
  const names = m.coefficients().map((c) => c.name);
  if (!Array.isArray(v) || v.length !== names.length) bad(`'glmm' must be an array of the ${names.length} coefficients (${names.join(', ')}), not ${show(v)}`);
  return (v as unknown[]).map((c, i) => {
    const e = obj(c, `glmm[${i}]`);
    if (e.name !== names[i]) bad(`'glmm[${i}].name' must be '${names[i]}', not ${show(e.name)}`);
    return { name: names[i], value: finite(e.value, `glmm[${i}].value`) };
  });
}

// Allocates the model (only after every size has been checked), lets `setup` fill the
// structure's parameters, then the parts every model file has; any rejection after the
// allocation frees it (rule 3 above).
function assemble(o: Obj, fit: ReturnType<typeof checkFit>, make: () => Model, setup: (m: Model) => void): Model {
  let m: Model;
  try {
    m = make();
  } catch (e) {
    return bad((e as Error).message);
  }
  try {
    setup(m);
    m.info = fit.info;
    m.nobs = fit.nobs;
    m.design = fit.design;
    m.exact = checkExact(o.exact, m);
    if (o.hasOffset != null) m.hasOffset = bool(o.hasOffset, 'hasOffset');
    if (o.glmm != null) m.glmm = checkGlmm(o.glmm, m);
    m.stored = checkSummary(o.summary, m);
    return m;
  } catch (e) {
    m.dispose();
    if ((e as Error).message.startsWith(PREFIX)) throw e;
    return bad((e as Error).message);
  }
}

