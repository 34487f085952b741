// Several random-effect terms (crossed, nested, `||`, crossed with a slope) through the model
// layer: fit() with data.terms against lme4's lmer fits (test/fixtures/lmm-multi, written by
// scripts/lmm-multi-fixtures.R), then prediction for seen and new levels, ranef, and save/load.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fit } from '../../ngmm/fit';
import { Model } from '../../ngmm/model';
import type { ModelData } from '../../ngmm/data';

interface FixtureTerm {
  name: string; G: number; q: number; diagonal: boolean; group: number[]; Z: number[]; Sigma: number[]; ranef: number[]; condsd: number[];
}
interface Fixture {
  name: string; formula: string; reml: boolean; n: number; p: number; xNames: string[]; X: number[]; y: number[];
  logLik: number; beta: number[]; se: number[]; sigma: number; terms: FixtureTerm[];
}

const dir = new URL('../fixtures/lmm-multi/', import.meta.url);
const fixtures: Fixture[] = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')));

// The fixture's design without its intercept column (the model adds β₀ itself), and its terms
// with levels named by index (lme4's level order is the fixture's group index).
function dataOf(fx0: Fixture): { data: ModelData; intercept: boolean; columns: string[][] } {
  const fx = split(fx0);
  const intercept = fx.xNames[0] === '(Intercept)';
  const o = intercept ? 1 : 0, p = fx.p - o;
  const X = Float64Array.from({ length: fx.n * p }, (_, e) => fx.X[Math.floor(e / p) * fx.p + o + (e % p)]);
  const columns = fx.terms.map((t) => (t.q === 1 ? ['(Intercept)'] : Array.from({ length: t.q }, (_, a) => (a === 0 ? '(Intercept)' : `z${a}`))));
  const terms = fx.terms.map((t, k) => ({
    name: t.name, columns: columns[k], levels: Array.from({ length: t.G }, (_, g) => `L${g}`),
    group: Int32Array.from(t.group), Z: Float64Array.from(t.Z),
  }));
  return {
    data: { X, xNames: fx.xNames.slice(o), y: fx.y, group: Array.from(fx.terms[0].group, (g) => `L${g}`), terms },
    intercept,
    columns,
  };
}

// `(1 + x || g)` is stored as one diagonal term; the formula path gives lme4's separate terms
// (1 | g) + (0 + x | g), the same model.
function split(fx: Fixture): Fixture {
  const terms = fx.terms.flatMap((t) => (!t.diagonal ? [t] : Array.from({ length: t.q }, (_, a): FixtureTerm => ({
    ...t, q: 1, diagonal: false, Z: t.group.map((_, j) => t.Z[j * t.q + a]), Sigma: [t.Sigma[a * t.q + a]],
    ranef: Array.from({ length: t.G }, (_, g) => t.ranef[g * t.q + a]), condsd: Array.from({ length: t.G }, (_, g) => t.condsd[g * t.q + a]),
  }))));
  return { ...fx, terms };
}

function fitFixture(fx: Fixture): Model {
  const { data, intercept } = dataOf(fx);
  return fit(data, { family: 'gaussian', intercept, terms: data.terms!.map((t) => ({ name: t.name, columns: [...t.columns] })) }, { reml: fx.reml });
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('several random-effect terms: linear Gaussian models against lme4', () => {
  it.each(fixtures.map((f) => [f.name, f] as const))('%s: logLik, β, SEs, σ, each term\'s covariance, conditional modes and SDs', (_, fx0) => {
    const fx = split(fx0);
    const m = fitFixture(fx0);
    try {
      expect(m.info.converged, m.info.message).toBe(true);
      // lme4's optimum to its own convergence tolerance: logLik to 1e−6 relative (the issue's
      // bar); the parameters to 1e−4 (flat directions of the deviance move them more).
      expect(rel(m.logLik(), fx.logLik)).toBeLessThan(1e-6);
      expect(rel(m.sigma, fx.sigma)).toBeLessThan(1e-4);
      const coefs = m.coefficients();
      coefs.forEach((c, j) => expect(Math.abs(c.value - fx.beta[j]) / Math.max(1, Math.abs(fx.beta[j])), c.name).toBeLessThan(1e-4));
      const s = m.summary();
      Object.values(s.fixef!).forEach((c, j) => expect(rel(c.se, fx.se[j]), `SE ${c.name}`).toBeLessThan(1e-3));
      expect(s.terms!.map((t) => t.term)).toEqual(fx.terms.map((t) => t.name));
      const re = m.random;
      if (re.kind !== 'terms') throw new Error('not a terms model');
      fx.terms.forEach((t, k) => {
        const S = re.covariance(k), scale = Math.max(...t.Sigma.map(Math.abs));
        t.Sigma.forEach((v, e) => expect(Math.abs(S[e] - v) / scale, `Σ ${t.name}[${e}]`).toBeLessThan(1e-4));
        const st = re.state[k], bscale = Math.max(1e-8, ...t.ranef.map(Math.abs));
        t.ranef.forEach((v, e) => expect(Math.abs(st.mode[e] - v) / bscale, `ranef ${t.name}[${e}]`).toBeLessThan(1e-4));
        t.condsd.forEach((v, e) => expect(Math.abs(st.condSd[e] - v) / Math.max(1e-8, v), `condsd ${t.name}[${e}]`).toBeLessThan(1e-3));
      });
      // No AIC under REML (lme4 prints none); the method is said.
      expect(s.method).toBe(fx.reml ? 'REML' : 'ML');
      expect(s.integration).toMatch(/^exact/);
    } finally {
      m.dispose();
    }
  });

  it('predicts seen and new levels in any combination: β + Σ (seen terms) ⟨z, b̂⟩, from lme4\'s b̂', () => {
    const fx = fixtures.find((f) => f.name === 'penicillin_crossed_ml')!;
    const m = fitFixture(fx);
    try {
      const [plate, sample] = fx.terms;
      // Rows: both seen; plate new; sample new; both new.
      const combos: [string, string][] = [['L3', 'L2'], ['new', 'L2'], ['L3', 'new'], ['new', 'new']];
      const pred = m.predict(new Float64Array(0), {
        type: 'response',
        terms: [
          { levels: combos.map((c) => c[0]), Z: new Float64Array(4).fill(1) },
          { levels: combos.map((c) => c[1]), Z: new Float64Array(4).fill(1) },
        ],
      });
      const b0 = fx.beta[0], bp = plate.ranef[3], bs = sample.ranef[2];
      const want = [b0 + bp + bs, b0 + bs, b0 + bp, b0];
      want.forEach((w, i) => expect(Math.abs(pred[i] - w), `row ${i}`).toBeLessThan(1e-4 * Math.abs(w)));
      expect(() => m.predict(new Float64Array(0), { terms: [{ levels: ['L1'], Z: new Float64Array(1) }] })).toThrow(/1 random-effect terms given, the model has 2/);
      expect(() => m.predict(new Float64Array(0), { group: ['L1'] })).toThrow(/predict needs `terms`/);
    } finally {
      m.dispose();
    }
  });

  it('saves and loads bit for bit, and a loaded file whose numbers disagree is refused by name', () => {
    for (const fx of fixtures.filter((f) => /scotssec|sleepstudy/.test(f.name))) {
      const m = fitFixture(fx);
      const text = JSON.stringify(m);
      const back = Model.load(JSON.parse(text));
      try {
        expect(JSON.stringify(back)).toBe(text);
        expect(JSON.stringify(back.ranef())).toBe(JSON.stringify(m.ranef()));
        const { data } = dataOf(fx);
        const terms = data.terms!.map((t) => ({ levels: Array.from(t.group, (g) => t.levels[g]), Z: t.Z }));
        const a = m.predict(data.X, { terms }), b = back.predict(data.X, { terms });
        expect(Array.from(b)).toEqual(Array.from(a));
        const edit = (f: (j: any) => void) => {
          const j = JSON.parse(text);
          f(j);
          return () => Model.load(j);
        };
        expect(edit((j) => (j.params.terms[0][0] += 0.01))).toThrow(/'summary.terms\[0\].sd\[0\]' is .* but the parameters give/);
        expect(edit((j) => (j.terms[1].condSd[0] = -1))).toThrow(/'terms\[1\].condSd\[0\]' must be ≥ 0/);
        expect(edit((j) => (j.terms[0].levels[1] = j.terms[0].levels[0]))).toThrow(/'terms\[0\].levels\[1\]' repeats/);
        expect(edit((j) => j.terms.pop())).toThrow(/'terms' must hold 2 records/);
        expect(edit((j) => (j.params.thetaB = 1))).toThrow(/belong to a one-factor model/);
      } finally {
        m.dispose();
        back.dispose();
      }
    }
  });

  it('refuses what this structure cannot do, naming it', () => {
    const fx = fixtures.find((f) => f.name === 'penicillin_crossed_ml')!;
    const { data } = dataOf(fx);
    const terms = fx.terms.map((t) => ({ name: t.name, columns: ['(Intercept)'] }));
    const yb = Float64Array.from(fx.y, (v) => (v > 23 ? 1 : 0));
    expect(() => fit({ ...data, y: yb }, { family: 'bernoulli', link: 'probit', terms })).toThrow(/the Laplace approximation supports gaussian\/identity/);
    expect(() => fit({ ...data, y: yb }, { family: 'bernoulli', terms }, { validation: 0.2 })).toThrow(/validation needs held-out groups/);
    expect(() => fit({ ...data, y: yb }, { family: 'bernoulli', terms }, { reml: true })).toThrow(/reml applies to linear Gaussian models/);
    expect(() => fit({ ...data, y: yb }, { family: 'bernoulli', terms }, { nodes: 15 })).toThrow(/nodes sets the outer rule of nested terms; these terms are integrated by the Laplace approximation/);
    expect(() => fit(data, { family: 'gaussian' })).toThrow(/data have random-effect terms .* but the spec does not/);
    // Bad terms data are named in the caller's row order, whichever path would reorder the rows
    // (the Laplace path sorted them by group and named a row 28 places off).
    const [t0, t1] = data.terms!;
    const row = (g: number) => Array.from(t0.group).indexOf(g) + 1;
    for (const family of ['gaussian', 'poisson'] as const) {
      const d = family === 'poisson' ? { ...data, y: Float64Array.from(fx.y, (v) => Math.round(v)) } : data;
      const bad = (k: 0 | 1, t: object) => () => fit({ ...d, terms: k === 0 ? [{ ...t0, ...t }, t1] : [t0, { ...t1, ...t }] }, { family, terms });
      expect(bad(0, { group: Int32Array.from(t0.group, (g) => (g === 5 ? 99 : g)) })).toThrow(new RegExp(`^row ${row(5)}: data.terms\\[0\\] \\('plate'\\): the level index 99 is not one of its 24 levels`));
      expect(bad(1, { Z: Float64Array.from(t1.Z, (v, i) => (i === 7 ? NaN : v)) })).toThrow(/^row 8: data.terms\[1\] \('sample'\): '\(Intercept\)' is NaN, not a finite number/);
      expect(bad(0, { Z: t0.Z.subarray(0, 10) })).toThrow(/data.terms\[0\] \('plate'\): Z has 10 values; 144 rows × 1 column need 144/);
      expect(() => fit({ ...d, terms: [t1, t0] }, { family, terms })).toThrow(/data.terms\[0\] \('sample'\) has the columns \(Intercept\); the model's term 1 is 'plate'/);
    }
    expect(() => fit(data, { family: 'gaussian', terms, randomSlopes: ['x'] })).toThrow(/cannot be combined/);
  });
});

let simulatedCrossed: () => { data: ModelData; spec: { name: string; columns: string[] }[] };

describe('several random-effect terms under a network f (neural GLMMs)', () => {
  // Crossed: rows at random (a, b) cells; nested: b within a. η = sin(2x) + u_a + v_b.
  simulatedCrossed = () => simulated('crossed', 'poisson', 11);
  function simulated(kind: 'crossed' | 'nested', family: 'poisson' | 'bernoulli', seed: number) {
    let s = seed >>> 0;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const A = 12, B = kind === 'crossed' ? 10 : 24, n = kind === 'crossed' ? 360 : 240;
    const ua = Array.from({ length: A }, () => 0.6 * normal()), vb = Array.from({ length: B }, () => 0.5 * normal());
    const X = new Float64Array(n), y = new Float64Array(n), ga = new Int32Array(n), gb = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      if (kind === 'crossed') {
        ga[j] = Math.floor(rand() * A);
        gb[j] = Math.floor(rand() * B);
      } else {
        gb[j] = j % B;
        ga[j] = gb[j] % A; // inner level b inside outer level b mod A
      }
      X[j] = 2 * rand() - 1;
      const eta = Math.sin(2 * X[j]) + ua[ga[j]] + vb[gb[j]];
      y[j] = family === 'poisson' ? poisson(Math.exp(eta), rand) : rand() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
    }
    const la = Array.from({ length: A }, (_, i) => `a${i}`), lb = Array.from({ length: B }, (_, i) => `b${i}`);
    // lme4's order: the term with more levels first.
    const tb = { name: kind === 'nested' ? 'b:a' : 'b', columns: ['(Intercept)'], levels: lb, group: gb, Z: new Float64Array(n).fill(1) };
    const ta = { name: 'a', columns: ['(Intercept)'], levels: la, group: ga, Z: new Float64Array(n).fill(1) };
    const terms = B > A ? [tb, ta] : [ta, tb];
    const data: ModelData = { X, xNames: ['x'], y, group: Array.from(terms[0].group, (g) => terms[0].levels[g]), terms };
    return { data, spec: terms.map((t) => ({ name: t.name, columns: ['(Intercept)'] })) };
  }
  function poisson(mu: number, rand: () => number): number {
    let k = 0, p = Math.exp(-mu), c = p;
    const u = rand();
    while (u > c && k < 1000) { k++; p *= mu / k; c += p; }
    return k;
  }

  it.each([['crossed', 'poisson'], ['nested', 'bernoulli']] as const)('%s terms, %s: fits, predicts every seen/new combination, saves and loads bit for bit', (kind, family) => {
    const { data, spec } = simulated(kind, family, 11);
    const m = fit(data, { family, hidden: [8], activation: 'tanh', seed: 3, terms: spec }, { epochs: 8, lr: 0.01, ...(kind === 'nested' ? { nodes: 11 } : {}) });
    try {
      const s = m.summary();
      expect(Number.isFinite(s.logLik)).toBe(true);
      expect(s.integration).toMatch(kind === 'nested' ? /exact for nested terms: adaptive Gauss–Hermite \(11 nodes\)/ : /Laplace/);
      expect(m.info.optimizer).toMatch(/Adam/);
      const re = m.random;
      if (re.kind !== 'terms') throw new Error('not a terms model');
      // Rows: (seen, seen), (new, seen), (seen, new), (new, new), in the model's term order.
      const lv = re.state.map((st) => st.levels[1]);
      const levels = [[lv[0], lv[1]], ['new0', lv[1]], [lv[0], 'new1'], ['new0', 'new1']];
      const terms = [0, 1].map((k) => ({ levels: levels.map((r) => r[k]), Z: new Float64Array(4).fill(1) }));
      const X = Float64Array.of(0.3, 0.3, 0.3, 0.3);
      const link = m.predict(X, { type: 'link', terms }), resp = m.predict(X, { type: 'response', terms });
      const b = re.state.map((st) => st.mode[1]);
      const f = link[3];
      // E[η]: each seen level adds its b̂, a new one its prior mean 0.
      expect(link[0]).toBeCloseTo(f + b[0] + b[1], 12);
      expect(link[1]).toBeCloseTo(f + b[1], 12);
      expect(link[2]).toBeCloseTo(f + b[0], 12);
      for (const v of resp) expect(v).toBeGreaterThan(0);
      // A new level widens the random part: under a convex mean (exp) E[μ] rises above μ(E[η]).
      if (family === 'poisson') expect(resp[3]).toBeGreaterThan(Math.exp(link[3]));
      const text = JSON.stringify(m);
      const back = Model.load(JSON.parse(text));
      try {
        expect(JSON.stringify(back)).toBe(text);
        expect(Array.from(back.predict(X, { type: 'response', terms }))).toEqual(Array.from(resp));
        expect(back.random.kind === 'terms' && back.random.integration()).toBe(s.integration);
      } finally {
        back.dispose();
      }
    } finally {
      m.dispose();
    }
  });
});

describe("lme4's start", () => {
  it('a fit started at another fit\'s optimum stays there; a start that does not fit the model is refused by name', () => {
    const { data, spec: terms } = simulatedCrossed();
    const a = fit(data, { family: 'poisson', terms });
    try {
      const fixef = Object.fromEntries(a.coefficients().map((c) => [c.name, c.value]));
      const sd = a.summary().terms!.map((t) => t.sd[0]);
      const b = fit(data, { family: 'poisson', terms }, { start: { fixef, sd } });
      try {
        // From the optimum L-BFGS stops at once (gtol is met there), at the same logLik.
        expect(b.info.epochs).toBeLessThanOrEqual(2);
        expect(Math.abs(b.logLik() - a.logLik())).toBeLessThan(1e-9 * Math.abs(a.logLik()));
      } finally {
        b.dispose();
      }
      const bad = (start: object) => () => fit(data, { family: 'poisson', terms }, { start: start as never });
      expect(bad({ fixef: { x9: 1 } })).toThrow(/start.fixef names 'x9', which is not a coefficient \(have: \(Intercept\), x\)/);
      expect(bad({ sd: [0.5] })).toThrow(/start.sd must hold 2 positive SDs \(one per term\)/);
      expect(bad({ dispersion: 2 })).toThrow(/start.dispersion is given but the poisson family has none/);
      expect(() => fit({ ...data, y: Float64Array.from(data.y as Float64Array, (v) => v + 0.5) }, { family: 'gaussian', terms }, { start: { sd: [1, 1] } })).toThrow(/start is for iterative fits/);
    } finally {
      a.dispose();
    }
  });
});
