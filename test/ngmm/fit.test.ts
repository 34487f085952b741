// Fitting: a linear Gaussian LMM against the exact maximum likelihood (closed-form marginal,
// GLS profile for β, Nelder–Mead on the two variance parameters — all written here), and
// save → load → predict bitwise, with malformed files rejected.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { fit } from '../../ngmm/fit';
import { Model } from '../../ngmm/model';
import { formatSummary, summary } from '../../ngmm/summary';

function simulateLmm(seed: number) {
  const rng = new E.Rng(seed);
  const G = 30, p = 2;
  const X: number[] = [], y: number[] = [], group: string[] = [];
  for (let i = 0; i < G; i++) {
    const n = 3 + (i % 8);
    const b = 0.7 * rng.normal();
    for (let j = 0; j < n; j++) {
      const x1 = rng.normal() * 2 + 1, x2 = rng.uniform() * 10;
      X.push(x1, x2);
      y.push(1 + 0.5 * x1 - 0.3 * x2 + b + 1.2 * rng.normal());
      group.push(`g${i}`);
    }
  }
  return { X: Float64Array.from(X), xNames: ['x1', 'x2'], y: Float64Array.from(y), group, p };
}

// Exact ML for the random-intercept LMM: for given σ, σ_b the GLS β̂ and the log-likelihood
// in closed form per group (V_i⁻¹ = (I − c·11ᵀ)/σ², c = σ_b²/(σ² + nσ_b²)).
function exactMl(d: ReturnType<typeof simulateLmm>) {
  const groups = new Map<string, number[]>();
  d.group.forEach((g, i) => (groups.get(g) ?? groups.set(g, []).get(g)!).push(i));
  const q = d.p + 1;
  const row = (i: number) => [1, d.X[i * d.p], d.X[i * d.p + 1]];
  const profile = (ls: number, lb: number) => {
    const s2 = Math.exp(2 * ls), b2 = Math.exp(2 * lb);
    // XᵀV⁻¹X = Σ_i [X_iᵀX_i − c·(X_iᵀ1)(1ᵀX_i)]/σ², XᵀV⁻¹y likewise.
    const A = Array.from({ length: q }, () => new Float64Array(q)), rhs = new Float64Array(q);
    for (const idx of groups.values()) {
      const n = idx.length, c = b2 / (s2 + n * b2);
      const sx = new Float64Array(q);
      let sy = 0;
      for (const i of idx) {
        const r = row(i);
        for (let a = 0; a < q; a++) {
          sx[a] += r[a];
          rhs[a] += (r[a] * d.y[i]) / s2;
          for (let bb = 0; bb < q; bb++) A[a][bb] += (r[a] * r[bb]) / s2;
        }
        sy += d.y[i];
      }
      for (let a = 0; a < q; a++) {
        rhs[a] -= (c * sx[a] * sy) / s2;
        for (let bb = 0; bb < q; bb++) A[a][bb] -= (c * sx[a] * sx[bb]) / s2;
      }
    }
    // Solve A β = rhs (Gaussian elimination, q = 3).
    const M = A.map((r, a) => [...r, rhs[a]]);
    for (let c = 0; c < q; c++) {
      for (let r = c + 1; r < q; r++) {
        const m = M[r][c] / M[c][c];
        for (let k = c; k <= q; k++) M[r][k] -= m * M[c][k];
      }
    }
    const beta = new Array(q).fill(0);
    for (let r = q - 1; r >= 0; r--) {
      let s = M[r][q];
      for (let k = r + 1; k < q; k++) s -= M[r][k] * beta[k];
      beta[r] = s / M[r][r];
    }
    let L = 0;
    for (const idx of groups.values()) {
      const n = idx.length;
      let S = 0, rr = 0;
      for (const i of idx) {
        const r = row(i);
        const res = d.y[i] - (beta[0] * r[0] + beta[1] * r[1] + beta[2] * r[2]);
        S += res;
        rr += res * res;
      }
      const dd = s2 + n * b2;
      L += -0.5 * (n * Math.log(2 * Math.PI) + (n - 1) * Math.log(s2) + Math.log(dd) + (rr - (b2 * S * S) / dd) / s2);
    }
    return { L, beta };
  };
  // Nelder–Mead on (log σ, log σ_b), to a simplex spread of 1e−10 in L.
  let pts = [[0, 0], [0.3, 0], [0, 0.3]].map((v) => ({ v, f: -profile(v[0], v[1]).L }));
  for (let it = 0; it < 2000; it++) {
    pts.sort((a, b) => a.f - b.f);
    if (pts[2].f - pts[0].f < 1e-12) break;
    const c = [(pts[0].v[0] + pts[1].v[0]) / 2, (pts[0].v[1] + pts[1].v[1]) / 2];
    const at = (t: number) => {
      const v = [c[0] + t * (pts[2].v[0] - c[0]), c[1] + t * (pts[2].v[1] - c[1])];
      return { v, f: -profile(v[0], v[1]).L };
    };
    const r = at(-1);
    if (r.f < pts[0].f) {
      const e = at(-2);
      pts[2] = e.f < r.f ? e : r;
    } else if (r.f < pts[1].f) pts[2] = r;
    else {
      const k = at(r.f < pts[2].f ? -0.5 : 0.5);
      if (k.f < Math.min(r.f, pts[2].f)) pts[2] = k;
      else pts = [pts[0], ...pts.slice(1).map((p) => ({ v: [(p.v[0] + pts[0].v[0]) / 2, (p.v[1] + pts[0].v[1]) / 2], f: 0 }))].map((p) => ({ v: p.v, f: -profile(p.v[0], p.v[1]).L }));
    }
  }
  pts.sort((a, b) => a.f - b.f);
  const best = profile(pts[0].v[0], pts[0].v[1]);
  return { L: best.L, beta: best.beta, sigma: Math.exp(pts[0].v[0]), sigmaB: Math.exp(pts[0].v[1]) };
}

describe('fit', () => {
  it('linear Gaussian LMM: logLik equals the exact maximum likelihood within 1e−4, coefficients within 1e−3', () => {
    const d = simulateLmm(1);
    const exact = exactMl(d);
    const m = fit({ X: d.X, xNames: d.xNames, y: d.y, group: d.group }, { family: 'gaussian' }, { rtol: 1e-10 });
    expect(m.info.converged, m.info.message).toBe(true);
    expect(Math.abs(m.logLik() - exact.L)).toBeLessThanOrEqual(1e-4);
    const coef = m.coefficients().map((c) => c.value);
    exact.beta.forEach((b, i) => expect(Math.abs(coef[i] - b), `β${i}`).toBeLessThanOrEqual(1e-3));
    expect(Math.abs(m.sigma - exact.sigma)).toBeLessThanOrEqual(1e-3);
    expect(Math.abs(m.ranefSD - exact.sigmaB)).toBeLessThanOrEqual(1e-3);
    m.dispose();
  });

  it('save → load → predict is bitwise identical; malformed files are rejected', () => {
    const d = simulateLmm(2);
    const rng = new E.Rng(3);
    const yb = Float64Array.from(d.y, (v) => (v + 0.3 * rng.normal() > 1 ? 1 : 0));
    const m = fit({ X: d.X, xNames: d.xNames, y: yb, group: d.group }, { family: 'bernoulli', hidden: [8], seed: 1 }, { epochs: 3 });
    const text = JSON.stringify(m);
    const back = Model.load(JSON.parse(text));
    const X = d.X.slice(0, 20), group = d.group.slice(0, 10);
    for (const type of ['response', 'link'] as const) {
      expect(Array.from(back.predict(X, { group, type }))).toEqual(Array.from(m.predict(X, { group, type })));
      expect(Array.from(back.predict(X, { type, groups: 'new' }))).toEqual(Array.from(m.predict(X, { type, groups: 'new' })));
    }
    expect(JSON.stringify(back)).toBe(text);
    const j = JSON.parse(text);
    expect(() => Model.load({ ...j, version: 2 })).toThrow(/unsupported version 2/);
    expect(() => Model.load({ ...j, format: 'other' })).toThrow(/'format' must be 'ngmm-model'/);
    expect(() => Model.load({ ...j, params: { ...j.params, W: [1] } })).toThrow(/'params.W' has 1 number where 2 are needed/);
    expect(() => Model.load({ ...j, params: { ...j.params, thetaB: 'x' } })).toThrow(/'params.thetaB' must be a finite number/);
    expect(() => Model.load({ ...j, levels: j.levels.slice(1) })).toThrow(/'posterior' has \d+ groups and 'levels' \d+/);
    expect(() => Model.load({ ...j, spec: { ...j.spec, hidden: [9] } })).toThrow(/'params.net.sizes' \[2, 8, 1\] do not match the spec's layers \[2, 9, 1\]/);
    expect(() => m.predict(X, { group: ['nope', ...group.slice(1)] })).toThrow(/row 1: group 'nope' was not in the training data/);
    m.dispose();
    back.dispose();
  });
});

describe('fit options', () => {
  const rng = new E.Rng(8);
  const X: number[] = [], y: number[] = [], group: string[] = [];
  for (let i = 0; i < 20; i++) {
    const b = 0.5 * rng.normal();
    for (let j = 0; j < 12; j++) {
      const x = 2 * rng.uniform() - 1;
      X.push(x);
      y.push(rng.poisson(Math.exp(Math.sin(3 * x) + b)));
      group.push(`g${i}`);
    }
  }
  const data = { X: Float64Array.from(X), xNames: ['x'], y: Float64Array.from(y), group };

  it('the same seed gives a bitwise identical fit; progress is reported per epoch and ensemble member', () => {
    const seen: string[] = [];
    const opts = { epochs: 4, seed: 3, validation: 0.2, schedule: 'cosine' as const, subsample: 8, ensemble: 2 };
    const a = fit(data, { family: 'poisson', hidden: [8], seed: 2 }, { ...opts, onProgress: (p) => p.phase === 'adam' && seen.push(`${p.member}/${p.members}:${p.epoch}`) });
    const b = fit(data, { family: 'poisson', hidden: [8], seed: 2 }, opts);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(seen).toEqual(['1/2:1', '1/2:2', '1/2:3', '1/2:4', '2/2:1', '2/2:2', '2/2:3', '2/2:4']);
    a.dispose();
    b.dispose();
  });

  it('polishing with L-BFGS after Adam reaches a stationary point and says so', () => {
    const m = fit(data, { family: 'poisson', hidden: [4], seed: 1 }, { epochs: 2, polish: true });
    expect(m.info.optimizer, m.info.message).toBe('Adam + L-BFGS');
    expect(m.info.message).toMatch(/then L-BFGS: (converged|stopped|not converged)/);
    m.dispose();
  });

  it("marginal: 'quadrature' (adaptive Gauss–Hermite, 25 nodes) fits the same GLMM as the ODE; bad choices are refused", () => {
    const ode = fit(data, { family: 'poisson' }, { rtol: 1e-10 });
    const gh = fit(data, { family: 'poisson' }, { marginal: 'quadrature' });
    expect(gh.info.converged, gh.info.message).toBe(true);
    // The two objectives differ by ~1e−8 per group; L-BFGS stops at a mean gradient of 1e−6,
    // so the estimates agree to ~1e−5 (curvatures here are 0.1–1).
    const a = ode.coefficients().map((c) => c.value), b = gh.coefficients().map((c) => c.value);
    a.forEach((v, i) => expect(Math.abs(b[i] - v), `β${i}`).toBeLessThanOrEqual(1e-4));
    expect(Math.abs(gh.ranefSD - ode.ranefSD)).toBeLessThanOrEqual(1e-4);
    // logLik is always the ODE's at 1e−10, so it is comparable across methods.
    expect(Math.abs(gh.logLik() - ode.logLik())).toBeLessThanOrEqual(1e-6);
    expect(() => fit(data, { family: 'poisson' }, { marginal: 'laplace' as never })).toThrow(/marginal must be 'ode' or 'quadrature', got 'laplace'/);
    expect(() => fit(data, { family: 'poisson' }, { marginal: 'quadrature', nodes: 0.5 })).toThrow(/nodes must be an integer from 1 to 100, got 0.5/);
    expect(() => fit(data, { family: 'poisson' }, { nodes: 15 })).toThrow(/nodes applies to marginal: 'quadrature'/);
    ode.dispose();
    gh.dispose();
  });

  it('by default re-fits the linear part and the random-effect scale after Adam, the network held fixed', () => {
    const m = fit(data, { family: 'poisson', hidden: [4], seed: 1 }, { epochs: 2 });
    const n = fit(data, { family: 'poisson', hidden: [4], seed: 1 }, { epochs: 2, polish: false });
    expect(m.info.optimizer).toBe('Adam + L-BFGS (linear part)');
    expect(m.info.message).toMatch(/^ran 2 epochs of Adam .*; then L-BFGS on the linear part and the variance parameters: converged/);
    expect(n.info.optimizer).toBe('Adam');
    // Same Adam path, then a descent method on a subset: the likelihood can only go up …
    expect(m.logLik()).toBeGreaterThan(n.logLik());
    // … and the network is untouched.
    expect(JSON.stringify(m.toJSON().params.net)).toBe(JSON.stringify(n.toJSON().params.net));
    expect(() => fit(data, { family: 'poisson', hidden: [4] }, { polish: 'all' as never })).toThrow(/polish must be true, false or 'linear', got 'all'/);
    m.dispose();
    n.dispose();
  });

  it('an aborted fit stops at once and keeps usable parameters', () => {
    const ctl = new AbortController();
    ctl.abort();
    const m = fit(data, { family: 'poisson', hidden: [4] }, { epochs: 50, signal: ctl.signal });
    expect(m.info.message).toMatch(/^aborted at epoch 1/);
    expect(Number.isFinite(m.logLik())).toBe(true);
    m.dispose();
  });
});

describe('a random-effect network g(z_i)', () => {
  // Group effects whose SD grows with a group-level covariate: s(z) = 0.1 + 1.2·z, z ∈ [0, 1].
  const rng = new E.Rng(12);
  const X: number[] = [], Z: number[] = [], y: number[] = [], group: string[] = [];
  const truth: number[] = [];
  for (let i = 0; i < 80; i++) {
    const z = rng.uniform();
    const s = 0.1 + 1.2 * z;
    truth.push(s);
    const b = s * rng.normal();
    for (let j = 0; j < 15; j++) {
      const x = rng.normal();
      X.push(x);
      Z.push(z);
      y.push(rng.poisson(Math.exp(0.5 + 0.4 * x + b)));
      group.push(`g${i}`);
    }
  }
  const data = { X: Float64Array.from(X), xNames: ['x'], y: Float64Array.from(y), group, Z: Float64Array.from(Z), zNames: ['z'] };

  it("the default polish leaves the network g as Adam left it; an abort after the last epoch skips it", () => {
    // The first 30 groups (15 rows each) keep it quick.
    const rows = 30 * 15;
    const small = { ...data, X: data.X.slice(0, rows), y: data.y.slice(0, rows), group: data.group.slice(0, rows), Z: data.Z.slice(0, rows) };
    const opts = { epochs: 2, lr: 5e-3, seed: 1, validation: 0.2 };
    const spec = { family: 'poisson' as const, randomEffect: { covariates: ['z'], hidden: [4] } };
    const a = fit(small, spec, opts);
    expect(a.info.optimizer).toBe('Adam + L-BFGS (linear part)');
    // Abort from the last epoch's progress report: Adam is done (the same path as a's), the polish must not start.
    const ctl = new AbortController();
    const c = fit(small, spec, { ...opts, signal: ctl.signal, onProgress: (p) => p.epoch === p.epochs && ctl.abort() });
    expect(c.info.optimizer).toBe('Adam');
    expect(c.info.message).toMatch(/^ran 2 epochs of Adam .*; aborted before the L-BFGS polish$/);
    expect(JSON.stringify(a.toJSON().params.gNet)).toBe(JSON.stringify(c.toJSON().params.gNet));
    expect(a.logLik()).toBeGreaterThan(c.logLik());
    for (const m of [a, c]) m.dispose();
  });

  it('learns group scales that follow the covariate, beats one σ_b, and saves/loads with Z', () => {
    const re = fit(data, { family: 'poisson', randomEffect: { covariates: ['z'], hidden: [8] } }, { epochs: 40, lr: 5e-3, seed: 1 });
    const flat = fit({ ...data, Z: undefined, zNames: undefined }, { family: 'poisson' });
    expect(re.logLik()).toBeGreaterThan(flat.logLik() + 5);
    const scales = re.ranef().map((r) => r.scale);
    // Rank correlation between fitted and true scales.
    const rank = (a: number[]) => {
      const o = a.map((v, i) => [v, i]).sort((p, q) => p[0] - q[0]);
      const r = new Array(a.length);
      o.forEach(([, i], k) => (r[i] = k));
      return r as number[];
    };
    const rf = rank(scales), rt = rank(truth);
    const n = rf.length, mean = (n - 1) / 2;
    let num = 0, den = 0;
    for (let i = 0; i < n; i++) {
      num += (rf[i] - mean) * (rt[i] - mean);
      den += (rf[i] - mean) ** 2;
    }
    expect(num / den).toBeGreaterThan(0.8);
    const back = Model.load(JSON.parse(JSON.stringify(re)));
    const Xn = Float64Array.of(0.1, -0.5), Zn = Float64Array.of(0.05, 0.95);
    const a = re.predict(Xn, { groups: 'new', Z: Zn }), b = back.predict(Xn, { groups: 'new', Z: Zn });
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(a[1]).toBeGreaterThan(a[0]); // larger z: larger s, larger E[e^{f + s b}]
    expect(() => re.predict(Xn, { groups: 'new' })).toThrow(/new groups need the 1 group-level covariates \(z\)/);
    const bad = { ...data, Z: Float64Array.from(Z, (v, i) => (i === 3 ? v + 1 : v)) };
    expect(() => fit(bad, { family: 'poisson', randomEffect: { covariates: ['z'] } })).toThrow(/row 4, column 'z': .* differs from .* earlier in group 'g0'/);
    re.dispose();
    flat.dispose();
    back.dispose();
  });
});

describe('correlated random slopes (1 + x | g)', () => {
  const rng = new E.Rng(31);
  const X: number[] = [], y: number[] = [], group: string[] = [];
  for (let i = 0; i < 60; i++) {
    // (intercept, slope) effects with SDs 0.8 and 0.5, correlation 0.4.
    const z1 = rng.normal(), z2 = rng.normal();
    const b0 = 0.8 * z1, b1 = 0.5 * (0.4 * z1 + Math.sqrt(1 - 0.16) * z2);
    for (let j = 0; j < 15; j++) {
      const x = 2 * rng.normal() + 1;
      X.push(x);
      y.push(1 + 0.5 * x + b0 + b1 * x + 0.7 * rng.normal());
      group.push(`g${i}`);
    }
  }
  const data = { X: Float64Array.from(X), xNames: ['x'], y: Float64Array.from(y), group };

  it('Gaussian: the fitted logLik equals the closed form at the fitted parameters; truth recovered; save/load', () => {
    const m = fit(data, { family: 'gaussian', randomSlopes: ['x'] }, { rtol: 1e-10 });
    expect(m.info.converged, m.info.message).toBe(true);
    // Closed form: y_i ~ N(f_i, σ²I + Z_i Λ Λᵀ Z_iᵀ), Z rows (1, standardised x).
    const Lam = m.grouped('test').lambda(), s2 = m.sigma ** 2, xs = m.standardise(data.X);
    const f = m.predict(data.X, { groups: 'new', type: 'link' });
    let exact = 0;
    for (let i = 0; i < 60; i++) {
      const rows = Array.from({ length: 15 }, (_, j) => i * 15 + j);
      const gz = rows.map((r) => [Lam[0] + xs[r] * Lam[2], xs[r] * Lam[3]]); // Λᵀz
      const V = rows.map((_, a) => rows.map((_, b) => (a === b ? s2 : 0) + gz[a][0] * gz[b][0] + gz[a][1] * gz[b][1]));
      const C = V.map((r) => r.map(() => 0));
      for (let a = 0; a < 15; a++) for (let b = 0; b <= a; b++) {
        let sum = V[a][b];
        for (let k = 0; k < b; k++) sum -= C[a][k] * C[b][k];
        C[a][b] = a === b ? Math.sqrt(sum) : sum / C[b][b];
      }
      const z: number[] = [];
      let quad = 0, logdet = 0;
      rows.forEach((r, a) => {
        let sum = data.y[r] - f[r];
        for (let k = 0; k < a; k++) sum -= C[a][k] * z[k];
        z.push(sum / C[a][a]);
        quad += z[a] ** 2;
        logdet += 2 * Math.log(C[a][a]);
      });
      exact += -0.5 * (15 * Math.log(2 * Math.PI) + logdet + quad);
    }
    expect(Math.abs(m.logLik() - exact)).toBeLessThanOrEqual(1e-6 * Math.abs(exact));
    const s = summary(m, data);
    const cov = s.ranefCov!;
    expect(cov.names).toEqual(['(Intercept)', 'x']);
    expect(Math.abs(cov.sd[0] - 0.8)).toBeLessThan(0.25);
    expect(Math.abs(cov.sd[1] - 0.5)).toBeLessThan(0.15);
    expect(Math.abs(cov.corr[1][0] - 0.4)).toBeLessThan(0.35);
    expect(formatSummary(s)).toMatch(/group x\s+SD [\d.]+\s+corr -?[\d.]+/);
    const back = Model.load(JSON.parse(JSON.stringify(m)));
    const Xn = data.X.slice(0, 6), gn = data.group.slice(0, 6);
    for (const groups of ['observed', 'new'] as const) {
      expect(Array.from(back.predict(Xn, { group: gn, groups }))).toEqual(Array.from(m.predict(Xn, { group: gn, groups })));
    }
    expect(m.ranef()[0].effects).toHaveLength(2);
    m.dispose();
    back.dispose();
  });
});

describe('a diverging fit', () => {
  it('stops, restores the last good parameters and says what to change', () => {
    const rng = new E.Rng(2);
    const X: number[] = [], y: number[] = [], group: string[] = [];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) {
      const x = rng.normal();
      X.push(x);
      y.push(rng.poisson(Math.exp(1 + x)));
      group.push(`g${i}`);
    }
    const warnings: string[] = [];
    const m = fit({ X: Float64Array.from(X), xNames: ['x'], y: Float64Array.from(y), group }, { family: 'poisson', hidden: [16], seed: 1 },
      { epochs: 20, lr: 1e4, batchSize: 2, ensemble: 1, onWarning: (w) => warnings.push(w) });
    expect(m.info.message).toMatch(/^diverged at epoch \d+ .* are restored — lower the learning rate \(now 10000\)/);
    expect(warnings).toHaveLength(1);
    for (const t of m.parameters()) for (const v of t.data) expect(Number.isFinite(v)).toBe(true);
    expect(Number.isFinite(m.logLik())).toBe(true);
    m.dispose();
  });
});

describe('memory', () => {
  it('a fit and its disposal leave the heap as they found it', async () => {
    const { backend } = await import('../../engine/backend');
    const { simulateGlmm } = await import('../helpers/glmm');
    const heap = backend().heap;
    const d = simulateGlmm('poisson', 1);
    const before = heap.inUse;
    for (let i = 0; i < 2; i++) fit(d, { family: 'poisson' }).dispose();
    fit(d, { family: 'poisson', hidden: [4] }, { epochs: 2, validation: 0.2 }).dispose();
    // Gauss–Hermite's gradient (a network's default while training, and random slopes') once
    // re-uploaded the batch's response after the objective had released it: 1.2 kB a step.
    fit(d, { family: 'poisson' }, { marginal: 'quadrature' }).dispose();
    fit(d, { family: 'poisson', randomSlopes: ['x1'] }).dispose();
    expect(heap.inUse).toBe(before);
  });
});
