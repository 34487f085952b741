// Conformance of models with several random-effect terms (issue 13, bars 1–3): each fixture in
// test/fixtures/conformance-multi/ is a model and a CSV from an R package, with references from
// scripts/conformance/multi.R (its README says how). ngmm fits the same CSV with the same formula
// through fitFormula and must give:
// - Gaussian LMMs (crossed, nested, ||, three terms; ML and REML): lme4's lmer fit — logLik to
//   1e−6 relative, coefficients to 1e−4 of max(|β|, SE), SEs to 1e−3, σ and each term's SDs to
//   1e−4 (both sides are the exact profiled likelihood; only the optimum's location differs).
// - Crossed GLMMs: glmmTMB's Laplace fit (polished by Newton in R) — logLik to 1e−5 relative,
//   parameters to 1e−3 (ours is the same approximation, optimised by L-BFGS to gtol 1e−6).
// - Two nested terms: ngmm integrates these exactly, so its fitted logLik must be at least
//   glmmTMB's Laplace logLik minus 1e−6 (where the exact optimum is above the Laplace one), and
//   it must match the exact maximum-likelihood fit computed in R (nested adaptive Gauss–Hermite
//   maximised by BFGS): logLik to 1e−6 relative, coefficients and SDs to 1e−3 (R's optimum is
//   found with central-difference gradients to about 3e−5).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fitFormula, type FormulaFit } from '../../ngmm/fitFormula';
import { readCsvTable } from '../../ngmm/csv';
import { family as familyOf, type FamilyName, type LinkName } from '../../ngmm/families/index';
import { modelFrame } from '../../ngmm/frame';
import { parseFormula } from '../../ngmm/formula';
import { logMarginalNested, nestedResponse, releaseNested } from '../../ngmm/marginal/nested';
import * as E from '../../engine/index';
import { multiDir, multiFixtures, type Fixture } from '../helpers/conformanceMulti';

const dir = multiDir;
const fixtures = multiFixtures;

// ngmm's names for R's families.
const FAMILY: Record<string, FamilyName> = { bernoulli: 'bernoulli', binomial: 'binomial', poisson: 'poisson', gaussian: 'gaussian', nbinom2: 'negbinomial', Gamma: 'gamma' };

// Nested fits that take a minute or more (grouseticks NB: 65 s, its SEs included; guImmun:
// 1,595 mothers in 161 communities, every objective a 25-node outer rule over 40,000 inner ODE
// marginals) are checked at the R side's parameters below — the exact marginal at glmmTMB's
// estimates and at the exact optimum — and their fits from glm()'s start are reported in the
// issue's note (scripts run by hand); the other nested data sets are fitted here.
const NOT_FITTED = new Set(['guimmun_nested', 'grouseticks_nested_nb']);
// cbpp's Laplace bound does not apply (glmmTMB's Laplace logLik is above the exact maximum), so
// its fit is only compared with R's exact fit, and starts there (lme4's `start`) to keep the
// suite's time: 56 observation-level groups in 15 herds take 19 s from glm()'s start.
const FROM_EXACT = new Set(['cbpp_obs']);

const cache = new Map<string, FormulaFit>();
function fitted(fx: Fixture): FormulaFit {
  let r = cache.get(fx.name);
  if (!r) {
    const table = readCsvTable(readFileSync(new URL(fx.csv, dir), 'utf8'), { source: fx.csv });
    const ex = fx.reference.exactFit;
    const start = FROM_EXACT.has(fx.name) && ex ? { start: { fixef: ex.fixef, sd: ex.sd, ...(ex.dispersion !== null ? { dispersion: ex.dispersion } : {}) } } : {};
    r = fitFormula(table, fx.formula, { family: FAMILY[fx.family], link: fx.link as LinkName, ...(fx.weights ? { weights: fx.weights } : {}) }, { ...(fx.reml ? { reml: true } : {}), ...start }, fx.csv);
    cache.set(fx.name, r);
  }
  return r;
}

const rel = (a: number, b: number, scale = Math.abs(b)) => Math.abs(a - b) / scale;

describe('several random-effect terms against lme4 and glmmTMB', () => {
  it('cover crossed, nested, || and three-term LMMs (ML and REML), nested binomial/Poisson/NB GLMMs and at least three crossed GLMMs, one of ≥ 5,000 Bernoulli rows', () => {
    const by = (c: string) => fixtures.filter((f) => f.comparison === c);
    expect(by('exact').some((f) => f.reml) && by('exact').some((f) => !f.reml)).toBe(true);
    for (const s of ['crossed', 'nested']) expect(by('exact').some((f) => f.structure === s), s).toBe(true);
    expect(by('exact').some((f) => f.formula.includes('||'))).toBe(true);
    for (const fam of ['binomial', 'poisson', 'nbinom2']) expect(by('nestedExact').some((f) => f.family === fam || (fam === 'binomial' && f.family === 'bernoulli')), fam).toBe(true);
    expect(by('laplace').length).toBeGreaterThanOrEqual(3);
    expect(by('laplace').some((f) => f.family === 'bernoulli' && f.reference.nobs >= 5000)).toBe(true);
  });

  it.each(fixtures.filter((f) => !NOT_FITTED.has(f.name)).map((f) => [f.name, f] as const))('%s', (_, fx) => {
    const { model } = fitted(fx);
    try {
      const s = model.summary();
      const ref = fx.reference, tol = fx.tolerances;
      expect(model.nobs).toBe(ref.nobs);
      expect(s.terms!.map((t) => [t.term, t.levels])).toEqual(ref.terms.map((t) => [t.group, t.levels]));
      expect(s.terms!.map((t) => t.columns)).toEqual(ref.terms.map((t) => t.columns));
      const coefs = model.coefficients();
      if (fx.comparison === 'nestedExact') {
        expect(s.integration).toMatch(/^exact for nested terms/);
        // Exact ≥ Laplace at each one's optimum (bar 2), where R found it so.
        if (tol.logLikBelowLaplace != null) expect(model.logLik(), 'at least glmmTMB\'s Laplace logLik').toBeGreaterThanOrEqual(ref.logLik - tol.logLikBelowLaplace);
        const ex = ref.exactFit!;
        expect(rel(model.logLik(), ex.logLik), `logLik ${model.logLik()} vs exact ${ex.logLik}`).toBeLessThan(tol.exactFitLogLik!);
        for (const c of coefs) {
          const scale = Math.max(Math.abs(ex.fixef[c.name]), ref.se[c.name]);
          expect(rel(c.value, ex.fixef[c.name], scale), c.name).toBeLessThan(tol.exactFitCoef!);
        }
        s.terms!.forEach((t, k) => expect(rel(t.sd[0], ex.sd[k]), `SD ${t.term}`).toBeLessThan(tol.exactFitScale!));
        if (ex.dispersion !== null) expect(rel(model.sigma, ex.dispersion), 'dispersion').toBeLessThan(tol.exactFitScale!);
        return;
      }
      expect(s.integration).toMatch(fx.comparison === 'exact' ? /^exact \(profiled/ : /^Laplace/);
      expect(rel(model.logLik(), ref.logLik), `logLik ${model.logLik()} vs ${ref.logLik}`).toBeLessThan(tol.logLik!);
      for (const c of coefs) {
        const se = s.fixef![c.name].se;
        expect(rel(c.value, ref.fixef[c.name], Math.max(Math.abs(ref.fixef[c.name]), ref.se[c.name])), c.name).toBeLessThan(tol.coef!);
        expect(rel(se, ref.se[c.name]), `SE ${c.name}`).toBeLessThan(tol.se!);
      }
      if (ref.sigma !== null && fx.family === 'gaussian') expect(rel(model.sigma, ref.sigma), 'σ').toBeLessThan(tol.scale!);
      if (ref.dispersion !== null && fx.family !== 'gaussian') expect(rel(model.sigma, ref.dispersion), 'dispersion').toBeLessThan(tol.scale!);
      s.terms!.forEach((t, k) => {
        t.sd.forEach((v, a) => {
          const want = ref.terms[k].sd[a];
          // A zero SD (a boundary fit) has no relative digits: absolute, on σ's scale.
          const scale = want > 1e-3 * (ref.sigma ?? 1) ? want : (ref.sigma ?? 1);
          expect(rel(v, want, scale), `SD ${t.term} ${t.columns[a]}`).toBeLessThan(tol.scale!);
        });
      });
    } finally {
      // Models are cached per fixture only for this test; free them here.
      model.dispose();
      cache.delete(fx.name);
    }
  });
});

describe('the nested marginal on R-package data at R\'s parameters', () => {
  // The exact marginal of two nested random intercepts (adaptive Gauss–Hermite over the outer
  // group of the inner groups' ODE marginals, 25 outer nodes) at given β, SDs and dispersion,
  // against the R side's independent nested adaptive quadrature (30 × 50 nodes, checked against
  // 40 × 60 and integrate()): at glmmTMB's estimates and at the exact optimum. 1e−6 relative,
  // bar 2's bound; both sides integrate to far better than that where the outer SD is ≤ 2.
  const nested = fixtures.filter((f) => f.comparison === 'nestedExact');
  it.each(nested.map((f) => [f.name, f] as const))('%s', (_, fx) => {
    const table = readCsvTable(readFileSync(new URL(fx.csv, dir), 'utf8'), { source: fx.csv });
    const frame = modelFrame(parseFormula(fx.formula), table, fx.csv);
    const [inner, outer] = frame.terms!;
    const fam = familyOf(FAMILY[fx.family], fx.link as LinkName);
    const n = frame.y.length, p = frame.xNames.length;
    const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => outer.group[a] - outer.group[b] || inner.group[a] - inner.group[b] || a - b);
    const innerSizes: number[] = [], outerSizes: number[] = [];
    order.forEach((j, k) => {
      const prev = k > 0 ? order[k - 1] : -1;
      const newInner = prev < 0 || inner.group[prev] !== inner.group[j], newOuter = prev < 0 || outer.group[prev] !== outer.group[j];
      if (newInner) innerSizes.push(0);
      innerSizes[innerSizes.length - 1]++;
      if (newOuter) outerSizes.push(0);
      if (newInner) outerSizes[outerSizes.length - 1]++;
    });
    const y = Float64Array.from(order, (j) => frame.y[j]);
    const trials = frame.trials ? Float64Array.from(order, (j) => frame.trials![j]) : fam.name === 'binomial' ? new Float64Array(n).fill(1) : undefined;
    const resp = nestedResponse(fam, y, innerSizes, outerSizes, trials);
    const at = (fixef: Record<string, number>, sd: number[], dispersion: number | null) => E.tidy(() => {
      const f = Float64Array.from(order, (j) => {
        let eta = fixef['(Intercept)'] ?? 0;
        for (let c = 0; c < p; c++) eta += fixef[frame.xNames[c]] * frame.X[j * p + c];
        return eta;
      });
      // reference.terms and exactFit.sd are in lme4's order: the inner term (more levels) first.
      const { L } = logMarginalNested(E.tensor(f, [n]), E.tensor([sd[1]], [1]), E.tensor([sd[0]], [1]), dispersion === null ? null : E.tensor([dispersion], [1]), resp);
      return L.toArray().reduce((a, b) => a + b, 0);
    });
    try {
      const ref = fx.reference, checks = ref as unknown as { checks: Record<string, number> };
      // guImmun (the largest: 11 s for both points) at the exact optimum only.
      if (fx.name !== 'guimmun_nested') {
        const atLaplace = at(ref.fixef, ref.terms.map((t) => t.sd[0]), ref.dispersion);
        expect(rel(atLaplace, checks.checks.exactLogLikAtLaplaceEstimates), `at glmmTMB's estimates: ${atLaplace} vs ${checks.checks.exactLogLikAtLaplaceEstimates}`).toBeLessThan(fx.tolerances.exactLogLik!);
      }
      const ex = ref.exactFit!;
      const atExact = at(ex.fixef, ex.sd, ex.dispersion);
      expect(rel(atExact, ex.logLik), `at the exact optimum: ${atExact} vs ${ex.logLik}`).toBeLessThan(fx.tolerances.exactLogLik!);
    } finally {
      releaseNested(resp);
    }
  });
});
