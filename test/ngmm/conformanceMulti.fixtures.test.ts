// Integrity of the several-term conformance fixtures (issue 13, bars 1–3 and 5):
// test/fixtures/conformance-multi/ holds one JSON and one CSV per model, written by
// scripts/conformance/multi.R (README.md there says how each reference number is made). This
// file checks the fixtures themselves — that each JSON is complete and agrees with its CSV, and
// that the R side's own cross-checks, recorded in the JSON, hold — not ngmm's fits of them.
// The CSV is read here by a few lines of RFC 4180 parsing, not by ngmm's reader, so a fault in
// either cannot hide one in the other.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { multiDir, multiFiles, multiFixtures, type Fixture } from '../helpers/conformanceMulti';

const dir = multiDir;
const files = multiFiles;
const fixtures = multiFixtures;

/** R's write.csv output: a header, then rows; fields comma-separated, text quoted with "" escapes. */
function readCsv(text: string): { header: string[]; rows: string[][] } {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { record.push(field); field = ''; }
    else if (ch === '\n') { record.push(field); records.push(record); record = []; field = ''; }
    else if (ch !== '\r') field += ch;
  }
  if (field !== '' || record.length) { record.push(field); records.push(record); }
  return { header: records[0], rows: records.slice(1) };
}

/** The variables a formula names: identifiers not followed by '(' (those are cbind, factor, log, …). */
function formulaVariables(formula: string): string[] {
  const out = new Set<string>();
  for (const m of formula.matchAll(/[A-Za-z.][A-Za-z0-9._]*(?=\s*(\(?))/g)) {
    if (m[1] === '(' || /^\.?\d/.test(m[0])) continue;
    out.add(m[0]);
  }
  return [...out];
}

/** The variables named inside the formula's bars' grouping parts: `(… | a/b)`, `(… || a:b)`. */
function groupingVariables(formula: string): Set<string> {
  const out = new Set<string>();
  for (const m of formula.matchAll(/\|\|?\s*([^()]*?)\s*\)/g)) for (const v of m[1].split(/[/:]/)) out.add(v.trim());
  return out;
}

const csvCache = new Map<string, { header: string[]; rows: string[][] }>();
function csvOf(fx: Fixture) {
  let c = csvCache.get(fx.csv);
  if (!c) {
    c = readCsv(readFileSync(new URL(fx.csv, dir), 'utf8'));
    csvCache.set(fx.csv, c);
  }
  return c;
}

/** Each used row's label for a grouping factor, `a:b` joining the columns' values. */
function groupLabels(fx: Fixture, group: string): string[] {
  const { header, rows } = csvOf(fx);
  const idx = group.split(':').map((c) => header.indexOf(c));
  const dropped = new Set(fx.reference.droppedRows);
  return rows.filter((_, r) => !dropped.has(r + 1)).map((row) => idx.map((i) => row[i]).join('\u0001'));
}

/** Whether every level of `inner` occurs with exactly one level of `outer` (in the used rows). */
function isNestedIn(fx: Fixture, inner: string, outer: string): boolean {
  const a = groupLabels(fx, inner);
  const b = groupLabels(fx, outer);
  const seen = new Map<string, string>();
  for (let r = 0; r < a.length; r++) {
    const prev = seen.get(a[r]);
    if (prev === undefined) seen.set(a[r], b[r]);
    else if (prev !== b[r]) return false;
  }
  return true;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

describe('conformance-multi fixtures: coverage', () => {
  it('hold the models issue 13 names: Gaussian crossed, nested and || fits (ML and REML), nested binomial, Poisson and NB GLMMs, three crossed GLMM data sets, a Bernoulli crossed design of 5000+ rows', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
    const has = (pred: (f: Fixture) => boolean, what: string) => expect(fixtures.some(pred), what).toBe(true);
    for (const reml of [false, true]) {
      for (const s of ['crossed', 'nested', 'uncorrelated']) {
        has((f) => f.comparison === 'exact' && f.family === 'gaussian' && f.reml === reml && f.structure === s, `Gaussian ${s}, ${reml ? 'REML' : 'ML'}`);
      }
    }
    for (const fam of ['binomial', 'poisson', 'nbinom2']) has((f) => f.comparison === 'nestedExact' && f.family === fam, `nested ${fam}`);
    has((f) => f.comparison === 'nestedExact' && f.family === 'bernoulli', 'nested Bernoulli');
    has((f) => f.comparison === 'nestedExact' && f.features.includes('observation-level factor'), 'observation-level factor');
    has((f) => f.formula.includes('||'), '||');
    has((f) => f.reference.terms.length >= 3, 'three terms');
    const crossedData = new Set(fixtures.filter((f) => f.comparison === 'laplace' && f.structure === 'crossed').map((f) => f.dataset));
    expect(crossedData.size, 'crossed GLMM data sets').toBeGreaterThanOrEqual(3);
    has((f) => f.comparison === 'laplace' && f.family === 'bernoulli' && f.structure === 'crossed' && f.reference.nobs >= 5000, 'Bernoulli crossed, 5000+ rows');
  });
});

for (const fx of fixtures) {
  const ref = fx.reference;
  describe(`${fx.name} (${fx.dataset}: ${fx.formula})`, () => {
    it('is complete: names, formula, family, method, versions, R time', () => {
      expect(`${fx.name}.json`).toBe(files[fixtures.indexOf(fx)]);
      expect(fx.csv).toBe(`${fx.name}.csv`);
      expect(existsSync(new URL(fx.csv, dir)), fx.csv).toBe(true);
      expect(['gaussian', 'bernoulli', 'binomial', 'poisson', 'nbinom2']).toContain(fx.family);
      expect(['identity', 'logit', 'log']).toContain(fx.link);
      expect(['exact', 'laplace', 'nestedExact']).toContain(fx.comparison);
      expect(fx.comparison === 'exact').toBe(fx.family === 'gaussian');
      expect(fx.reml === true && fx.comparison !== 'exact', 'REML only for Gaussian fits').toBe(false);
      expect(fx.features.length).toBeGreaterThan(0);
      expect(ref.method.length).toBeGreaterThan(20);
      expect(finite(ref.logLik) && ref.logLik < 0, `logLik ${ref.logLik}`).toBe(true);
      expect(ref.ranefSD, 'one-term field unused').toBeNull();
      expect(ref.ranefCov, 'one-term field unused').toBeNull();
      expect(finite(ref.rSeconds) && ref.rSeconds >= 0, `rSeconds ${ref.rSeconds}`).toBe(true);
      for (const k of ['R', 'lme4', 'glmmTMB', 'TMB', 'Matrix']) expect(ref.versions[k], `versions.${k}`).toMatch(/^\d+\.\d+/);
      expect(ref.sigma === null, 'sigma only for Gaussian fits').toBe(fx.family !== 'gaussian');
      expect(ref.dispersion === null, 'dispersion only for nbinom2').toBe(fx.family !== 'nbinom2');
    });

    it('CSV: exactly the formula\'s columns, nrowsCsv rows, nobs used', () => {
      const { header, rows } = csvOf(fx);
      expect([...header].sort(), 'CSV columns').toEqual(formulaVariables(fx.formula).sort());
      expect(rows.length, 'rows').toBe(ref.nrowsCsv);
      for (const [r, row] of rows.entries()) expect(row.length, `${fx.csv} row ${r + 1}: fields`).toBe(header.length);
      expect(ref.nobs, 'nobs = rows − dropped').toBe(ref.nrowsCsv - ref.droppedRows.length);
      for (const r of ref.droppedRows) expect(r >= 1 && r <= rows.length, `dropped row ${r}`).toBe(true);
    });

    it('fixed effects: finite estimates, positive SEs, the same names', () => {
      expect(Object.keys(ref.se).sort()).toEqual(Object.keys(ref.fixef).sort());
      expect(Object.keys(ref.fixef).length).toBeGreaterThan(0);
      for (const [k, b] of Object.entries(ref.fixef)) {
        expect(finite(b), k).toBe(true);
        expect(finite(ref.se[k]) && ref.se[k] > 0, `SE(${k}) ${ref.se[k]}`).toBe(true);
      }
    });

    it("terms: lme4's order, levels = the CSV's distinct values, SDs and correlations shaped by the columns, nesting as the data say", () => {
      const terms = ref.terms;
      expect(terms.length, 'several terms').toBeGreaterThanOrEqual(2);
      expect(ref.ngroups, 'ngroups = levels per term').toEqual(terms.map((t) => t.levels));
      const named = groupingVariables(fx.formula);
      const { header } = csvOf(fx);
      for (const [i, t] of terms.entries()) {
        for (const v of t.group.split(':')) {
          expect(header, `${t.group}: column ${v}`).toContain(v);
          expect(named.has(v), `${t.group}: ${v} is a grouping variable of the formula`).toBe(true);
        }
        expect(new Set(groupLabels(fx, t.group)).size, `${t.group}: distinct levels`).toBe(t.levels);
        // lme4's mkReTrms orders terms by decreasing number of levels.
        if (i > 0) expect(t.levels, `${t.group} after ${terms[i - 1].group}`).toBeLessThanOrEqual(terms[i - 1].levels);
        expect(t.columns.length).toBeGreaterThan(0);
        for (const c of t.columns) if (c !== '(Intercept)') expect(header, `${t.group}: column ${c}`).toContain(c);
        expect(t.sd.length, `${t.group}: one SD per column`).toBe(t.columns.length);
        for (const s of t.sd) expect(finite(s) && s >= 0, `${t.group}: SD ${s}`).toBe(true);
        const q = t.columns.length;
        if (q === 1) expect(t.corr, `${t.group}: corr`).toBeNull();
        else {
          expect(t.corr!.length, `${t.group}: q(q−1)/2 correlations`).toBe((q * (q - 1)) / 2);
          for (const r of t.corr!) expect(Math.abs(r) <= 1, `${t.group}: corr ${r}`).toBe(true);
        }
        // nestedIn lists exactly the other factors (fewer levels, another factor) this one nests in.
        for (const o of terms) {
          if (o.group === t.group || o.levels >= t.levels) continue;
          expect(t.nestedIn.includes(o.group), `${t.group} nested in ${o.group}`).toBe(isNestedIn(fx, t.group, o.group));
        }
        for (const o of t.nestedIn) expect(terms.map((u) => u.group), `${t.group}: nestedIn ${o}`).toContain(o);
      }
      const nested = terms.some((t) => t.nestedIn.length > 0);
      if (fx.structure === 'nested') expect(nested, 'a nested structure has a nested term').toBe(true);
      if (fx.structure === 'crossed' || fx.structure === 'uncorrelated') expect(nested, `${fx.structure}: no term nested in another`).toBe(false);
      if (fx.structure === 'uncorrelated') expect(new Set(terms.map((t) => t.group)).size, '|| : one factor').toBe(1);
    });

    it('tolerances for its kind of comparison are present and positive', () => {
      const need = fx.comparison === 'nestedExact' ? ['exactLogLik', 'exactFitLogLik', 'exactFitCoef', 'exactFitScale'] : ['logLik', 'coef', 'se', 'scale'];
      for (const k of need) expect(finite(fx.tolerances[k]) && fx.tolerances[k]! > 0, `tolerances.${k} = ${fx.tolerances[k]}`).toBe(true);
      if (fx.comparison === 'exact') {
        // Issue 13, bar 1: logLik 1e−6 relative, variance components 1e−4.
        expect(fx.tolerances.logLik).toBeLessThanOrEqual(1e-6);
        expect(fx.tolerances.scale).toBeLessThanOrEqual(1e-4);
      }
      if (fx.comparison === 'laplace') {
        // Bar 3: glmmTMB's Laplace logLik within 1e−5, parameters within 1e−3.
        expect(fx.tolerances.logLik).toBeLessThanOrEqual(1e-5);
        expect(fx.tolerances.coef).toBeLessThanOrEqual(1e-3);
        expect(fx.tolerances.scale).toBeLessThanOrEqual(1e-3);
      }
      if (fx.comparison === 'nestedExact') {
        // Bar 2's lower bound (fitted logLik ≥ glmmTMB's Laplace − 1e−6) is present exactly where
        // the exact maximum reaches it.
        expect('logLikBelowLaplace' in fx.tolerances).toBe(true);
        const reachable = ref.exactFit!.logLik >= ref.logLik - 1e-6;
        expect(fx.tolerances.logLikBelowLaplace === null, `logLikBelowLaplace null iff exact max ${ref.exactFit!.logLik} < Laplace ${ref.logLik}`).toBe(!reachable);
      }
    });

    it("records the R side's own cross-checks, and they hold", () => {
      const c = ref.checks;
      const num = (k: string) => {
        expect(finite(c[k]), `checks.${k} = ${c[k]}`).toBe(true);
        return c[k] as number;
      };
      if (fx.comparison === 'exact') {
        // lme4's logLik against the (restricted) Gaussian likelihood written out densely: 1e−9
        // relative, a thousand times inside the 1e−6 the fits are held to.
        expect(Math.abs(num('denseMinusLmer')), 'dense − lmer').toBeLessThan(1e-9 * Math.abs(ref.logLik));
        return;
      }
      // glmmTMB's optimum, polished by Newton steps: a gradient below 1e−5 leaves the estimates
      // off by about 1e−5·SE², far inside the 1e−3 parameter tolerance.
      expect(num('glmmTMBGradientMaxAbs')).toBeLessThan(1e-5);
      if (fx.family !== 'nbinom2') {
        // lme4's glmer Laplace fit beside glmmTMB's: both maximise the same Laplace
        // log-likelihood, glmmTMB's to a gradient of 1e−5, so lme4's value is not above it; where
        // lme4 reports no convergence problem the two agree to 1e−6 relative (lme4's bobyqa
        // stops ~4e−4 short on VerbAgg, 1e−7 relative).
        const d = num('lme4MinusGlmmTMBLogLik');
        expect(d, 'lme4 − glmmTMB logLik').toBeLessThanOrEqual(1e-6);
        if (!ref.messages.some((m) => m.startsWith('lme4: warning'))) expect(-d, 'glmmTMB − lme4 logLik').toBeLessThan(1e-6 * Math.abs(ref.logLik));
        expect(num('lme4LaplaceLogLik')).toBeCloseTo(ref.logLik + d, 8);
        num('lme4Seconds');
      }
      if (fx.comparison === 'nestedExact') {
        const exact = num('exactLogLikAtLaplaceEstimates');
        expect(num('exactMinusLaplace')).toBeCloseTo(exact - ref.logLik, 9);
        // The nested quadrature against more nodes and against integrate() at both levels:
        // 1e−8, a hundred times inside the 1e−6 relative that ngmm is held to.
        expect(Math.abs(num('exactNodes40x60Minus30x50')), '40 × 60 − 30 × 50 nodes').toBeLessThan(1e-8);
        expect(Math.abs(num('exactIntegrateMinusAgqMaxAbs')), 'integrate() − quadrature').toBeLessThan(1e-8);
        const ef = ref.exactFit!;
        expect(ef, 'exactFit').toBeTruthy();
        expect(Object.keys(ef.fixef).sort()).toEqual(Object.keys(ref.fixef).sort());
        expect(ef.sd.length).toBe(ref.terms.length);
        expect(ef.dispersion === null).toBe(fx.family !== 'nbinom2');
        // The gradient times the parameters' scale is about the distance from the maximum in
        // SEs: below 1e−4 it is ten times inside the 1e−3 the exact fit is compared to.
        expect(ef.gradientScaledMaxAbs, 'exact fit gradient × scale').toBeLessThan(1e-4);
        expect(finite(ef.gradientMaxAbs)).toBe(true);
        // A maximum is at least the value at any other point, glmmTMB's estimates included.
        expect(ef.logLik, 'exact max ≥ exact at the Laplace estimates').toBeGreaterThanOrEqual(exact - 1e-8);
        expect(ef.minusLaplaceLogLik).toBeCloseTo(ef.logLik - ref.logLik, 9);
      } else {
        expect(ref.exactFit ?? null, 'exactFit only for nested GLMMs').toBeNull();
      }
    });
  });
}
