// Conformance against lme4 and glmmTMB (issue 12, bar 1): each fixture in
// test/fixtures/conformance/ is a model and a CSV from an R package, with reference numbers
// computed by scripts/conformance/conformance.R (README.md there says how: lmer's ML/REML for
// Gaussian LMMs, the exact marginal likelihood maximised in R for the GLMMs). ngmm reads the
// same CSV with the same formula and must give the same fit.
//
// Tolerances (each fixture carries its own, defaults below):
// - logLik 1e−6 relative: both sides are exact likelihoods (the R side's quadrature agrees with
//   integrate() to ~1e−12, ngmm's ODE runs at rtol 1e−10), so only the optimum's location
//   enters, quadratically. The exception is the random-slope GLMM (epil_slopes): ngmm integrates
//   q = 2 random effects with a 9 × 9 adaptive product rule (DEFAULT_NODES in
//   ngmm/marginal/quadrature.ts), whose error there is 1.5e−5 log-likelihood units, 2e−8
//   relative; with 25 × 25 nodes ngmm matches the 25 × 25 R reference to 1e−11.
// - coefficients 1e−4 relative to max(|β|, SE(β)): an optimizer stopping at gradient tolerance
//   misplaces β by a small fraction of its SE, so a coefficient near 0 has no relative digits
//   to compare; its SE is the natural scale there.
// - SEs 1e−3 relative: ngmm's Hessian is by central differences of the exact gradient.
// - σ, σ_b, the NB θ and the Gamma shape 1e−4 relative (an absolute bound where lme4's
//   estimate is on the boundary, σ_b = 0).
import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readFixtures, type FixtureBase, type ReferenceBase } from '../helpers/conformanceFixtures';
import { fit, modelFrame, parseFormula, readCsvTable, type Frame, type Model, type Summary } from '../../ngmm/index';
import type { FamilyName, LinkName } from '../../ngmm/families/index';

interface Reference extends ReferenceBase {
  ranefSD: number | null;
  ranefCov: { names: string[]; sd: number[]; corr: number[] } | null;
  ngroups: number;
  checks?: Record<string, number>;
}

interface Fixture extends FixtureBase {
  link: LinkName;
  weights: string | null;
  reference: Reference;
  tolerances: { logLik: number; coef: number; se: number; scale: number; ranefSDAbs?: number };
}

const dir = new URL('../fixtures/conformance/', import.meta.url);
const { fixtures } = readFixtures<Fixture>(dir);

// ngmm's names for R's families.
const FAMILY: Record<string, string> = {
  bernoulli: 'bernoulli',
  binomial: 'binomial',
  poisson: 'poisson',
  gaussian: 'gaussian',
  nbinom2: 'nbinom2',
  Gamma: 'gamma',
};

interface Result {
  frame: Frame;
  model: Model;
  summary: Summary;
}

const cache = new Map<string, { result?: Result; error?: unknown }>();

function fitted(fx: Fixture): Result {
  let c = cache.get(fx.name);
  if (!c) {
    try {
      const table = readCsvTable(readFileSync(new URL(fx.csv, dir), 'utf8'), { source: fx.csv });
      const formula = parseFormula(fx.formula);
      const frame = modelFrame(formula, table, fx.csv, undefined, true, fx.weights ? { weights: fx.weights } : {});
      const model = fit(
        { X: frame.X, xNames: frame.xNames, y: frame.y, group: frame.group, trials: frame.trials, weights: frame.weights, offset: frame.offset },
        { family: FAMILY[fx.family] as FamilyName, link: fx.link, intercept: formula.intercept, ...(frame.slopes.length ? { randomSlopes: frame.slopes } : {}) },
        { reml: fx.reml },
      );
      c = { result: { frame, model, summary: model.summary() } };
    } catch (e) {
      c = { error: e };
    }
    cache.set(fx.name, c);
  }
  if (c.error) throw c.error;
  return c.result!;
}

const rel = (a: number, b: number, scale = Math.abs(b)) => Math.abs(a - b) / scale;

describe('conformance fixtures', () => {
  it('cover at least 25 model/data pairs and every item of issue 12', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25);
    const features = fixtures.flatMap((f) => f.features).join('\n');
    for (const item of ['weights', 'offset', 'NA rows', 'text response', 'text factor', '0 +', 'rank deficiency (aliased', 'rank deficiency (constant',
      'REML', 'ML', 'random slopes', 'negative binomial', 'Gamma', 'sqrt link', 'log link', 'single-row group', 'proportion with weights']) {
      expect(features, item).toContain(item);
    }
    for (const f of fixtures) {
      expect(existsSync(new URL(f.csv, dir)), f.csv).toBe(true);
      expect(FAMILY[f.family], f.family).toBeDefined();
    }
  });

  it("record exact references: the R quadrature agrees with integrate() and, where lme4 fitted, with lme4's nAGQ = 25 logLik plus the saturated term", () => {
    for (const f of fixtures) {
      const c = f.reference.checks;
      if (!c) continue;
      // 1e−9 relative: a thousand times inside the logLik tolerance the fixtures are tested to.
      const bound = 1e-9 * Math.abs(f.reference.logLik);
      if (c.denseMinusLmer !== undefined) {
        // lmer ML fits: lme4's logLik equals the Gaussian likelihood written out per group.
        expect(Math.abs(c.denseMinusLmer), `${f.name}: dense Gaussian − lmer`).toBeLessThan(bound);
        continue;
      }
      if (c.agq35MinusAgq25 !== undefined) {
        // Random intercept and slope: the 25 × 25 adaptive product rule against 35 × 35 at the
        // optimum (a 2-D integrate() per group is too slow for the script).
        expect(Math.abs(c.agq35MinusAgq25), `${f.name}: 35 × 35 − 25 × 25 quadrature`).toBeLessThan(1e-8);
      } else {
        expect(Math.abs(c.integrateMinusAgq), `${f.name}: integrate() − quadrature`).toBeLessThan(bound);
      }
      // A gradient g leaves the optimum off by about H⁻¹g, at most |g|·SE² per coordinate: with
      // |g| < 1e−4 and SEs below 1 that is inside the 1e−4·SE coefficient tolerance. (The sqrt-link
      // cases' numerical gradients of a 4001-point rule reach ~2e−5.)
      expect(Math.abs(c.gradientMaxAbs), `${f.name}: gradient at the reference optimum`).toBeLessThan(1e-4);
      // Not for the sqrt link: lme4's quadrature is centred on one mode of an integrand that
      // has two (μ = η² is even in η), so there lme4's nAGQ = 25 is not the exact likelihood.
      if (c.lme4CorrectedMinusAgqAtLme4Estimates !== undefined && f.link !== 'sqrt') {
        expect(Math.abs(c.lme4CorrectedMinusAgqAtLme4Estimates), `${f.name}: lme4 + saturated − quadrature`).toBeLessThan(bound);
      }
    }
  });
});

for (const fx of fixtures) {
  const ref = fx.reference;
  const tol = fx.tolerances;
  describe(`${fx.name} (${fx.dataset}; ${fx.features.join(', ')})`, () => {
    it('model frame: rows na.omit drops, columns lme4 drops', () => {
      const { frame } = fitted(fx);
      expect(frame.y.length, 'nobs').toBe(ref.nobs);
      expect(new Set(frame.group).size, 'groups').toBe(ref.ngroups);
      expect(frame.dropped.map((r) => r + 1), 'dropped rows (1-based)').toEqual(ref.droppedRows);
      expect(frame.droppedColumns.map((c) => c.name).sort(), 'dropped columns').toEqual([...ref.droppedColumns].sort());
    });

    it(`logLik within ${tol.logLik} relative of ${ref.logLik}`, () => {
      const { summary } = fitted(fx);
      expect(rel(summary.logLik, ref.logLik), `logLik ${summary.logLik} vs ${ref.logLik}`).toBeLessThanOrEqual(tol.logLik);
    });

    it(`coefficients within ${tol.coef} and SEs within ${tol.se} relative`, () => {
      const { summary } = fitted(fx);
      expect(summary.fixef, 'fixef').not.toBeNull();
      const got = summary.fixef!;
      expect(Object.keys(got).sort(), `coefficient names ${JSON.stringify(Object.keys(got))}`).toEqual(Object.keys(ref.fixef).sort());
      for (const [name, b] of Object.entries(ref.fixef)) {
        const se = ref.se[name];
        const c = got[name];
        expect(rel(c.estimate, b, Math.max(Math.abs(b), se)), `${name}: ${c.estimate} vs ${b} (SE ${se})`).toBeLessThanOrEqual(tol.coef);
        expect(rel(c.se, se), `SE(${name}): ${c.se} vs ${se}`).toBeLessThanOrEqual(tol.se);
      }
    });

    it(`scale parameters within ${tol.scale} relative`, () => {
      const { summary } = fitted(fx);
      if (ref.sigma !== null) expect(rel(summary.sigma ?? NaN, ref.sigma), `sigma ${summary.sigma} vs ${ref.sigma}`).toBeLessThanOrEqual(tol.scale);
      if (ref.ranefSD !== null) {
        if (tol.ranefSDAbs !== undefined) expect(Math.abs(summary.ranefSD - ref.ranefSD), `ranefSD ${summary.ranefSD} vs ${ref.ranefSD}`).toBeLessThanOrEqual(tol.ranefSDAbs);
        else expect(rel(summary.ranefSD, ref.ranefSD), `ranefSD ${summary.ranefSD} vs ${ref.ranefSD}`).toBeLessThanOrEqual(tol.scale);
      }
      if (ref.ranefCov) {
        const cov = summary.ranefCov;
        expect(cov, 'ranefCov').not.toBeNull();
        expect(cov!.names, 'random-effect names').toEqual(ref.ranefCov.names);
        ref.ranefCov.sd.forEach((sd, k) => expect(rel(cov!.sd[k], sd), `SD(${ref.ranefCov!.names[k]}) ${cov!.sd[k]} vs ${sd}`).toBeLessThanOrEqual(tol.scale));
        expect(Math.abs(cov!.corr[0][1] - ref.ranefCov.corr[0]), `corr ${cov!.corr[0][1]} vs ${ref.ranefCov.corr[0]}`).toBeLessThanOrEqual(tol.scale);
      }
      if (ref.dispersion !== null) {
        // summary.sigma holds the family's dispersion parameter: NB θ, the Gamma shape.
        expect(summary.sigma, 'summary.sigma').toBeTypeOf('number');
        expect(rel(summary.sigma!, ref.dispersion), `dispersion ${summary.sigma} vs ${ref.dispersion}`).toBeLessThanOrEqual(tol.scale);
      }
    });
  });
}
