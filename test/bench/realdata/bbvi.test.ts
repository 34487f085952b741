// BBVI on the NGMM (bench/realdata/baselines/bbvi.ts): the fixed-noise objective against an
// independent evaluation and its gradient against finite differences, the closed-form KL
// against quadrature, and a small simulated fit whose group effects must be found.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../../engine/index';
import { elboWithNoise, fitBbvi, klNormal, type Noise, type Variational } from '../../../bench/realdata/baselines/bbvi';
import type { RFamily, Rows, TrainSet } from '../../../bench/realdata/types';
import { checkVjp, type Input } from '../../helpers/checkVjp';

// Tiny problem of the brief: p 2, hidden [3], 4 groups, 12 rows, 3 Monte Carlo draws.
const P = 2, H = 3, G = 4, ROWS = 12, S = 3;
const SHAPES: readonly (readonly number[])[] = [[P, H], [H], [H, 1], [1]];
const N_TRAIN = 50, PRIOR_SD = 0.8;

const softplus = (r: number): number => (r > 0 ? r + Math.log1p(Math.exp(-r)) : Math.log1p(Math.exp(r)));
const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** KL(N(m, sd²) ‖ N(0, s²)) = ∫ q (log q − log p) by composite Simpson on m ± 12 sd (4000 panels). */
function klQuad(m: number, sd: number, s: number): number {
  const K = 4000, a = m - 12 * sd, h = (24 * sd) / K;
  const logN = (x: number, mean: number, v: number) => -0.5 * Math.log(2 * Math.PI * v) - ((x - mean) ** 2) / (2 * v);
  let acc = 0;
  for (let k = 0; k <= K; k++) {
    const x = a + k * h;
    const lq = logN(x, m, sd * sd);
    const w = k === 0 || k === K ? 1 : k % 2 === 1 ? 4 : 2;
    acc += w * Math.exp(lq) * (lq - logN(x, 0, s * s));
  }
  return (acc * h) / 3;
}

interface Case {
  readonly family: RFamily;
  readonly m: Float64Array[];
  readonly rho: Float64Array[];
  readonly mu: Float64Array;
  readonly rhoB: Float64Array;
  readonly logSigmaB: number;
  readonly logSigma: number;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly group: Int32Array;
  readonly noise: Noise;
}

// Uniform on [min, max] on a 2⁻³⁰ grid. fast-check's float64 arbitraries are uniform over bit
// patterns (most draws are |x| < 1e−100), and its default bias favours 0 and the range ends:
// either would put hidden pre-activations exactly on relu's kink, where no derivative exists.
const unit = fc.noBias(fc.integer({ min: 0, max: 2 ** 30 })).map((k) => k / 2 ** 30);
const num = (min: number, max: number) => unit.map((u) => min + (max - min) * u);
const arr = (n: number, min: number, max: number) =>
  fc.array(num(min, max), { minLength: n, maxLength: n }).map((a) => Float64Array.from(a));

const caseOf = (family: RFamily): fc.Arbitrary<Case> =>
  fc.record({
    m: fc.tuple(...SHAPES.map((s) => arr(size(s), -1.5, 1.5))),
    rho: fc.tuple(...SHAPES.map((s) => arr(size(s), -3, 1))),
    mu: arr(G, -1, 1),
    rhoB: arr(G, -3, 1),
    logSigmaB: num(-1, 1),
    logSigma: num(-1, 0.5),
    x: arr(ROWS * P, -2, 2),
    y: family === 'gaussian'
      ? arr(ROWS, -2, 2)
      : fc.array(fc.noBias(fc.integer({ min: 0, max: family === 'poisson' ? 6 : 1 })), { minLength: ROWS, maxLength: ROWS }).map((v) => Float64Array.from(v)),
    group: fc.array(fc.noBias(fc.integer({ min: 0, max: G - 1 })), { minLength: ROWS, maxLength: ROWS }).map((v) => Int32Array.from(v)),
    theta: fc.array(fc.tuple(...SHAPES.map((s) => arr(size(s), -3, 3))), { minLength: S, maxLength: S }),
    b: fc.array(arr(G, -3, 3), { minLength: S, maxLength: S }),
  }).map((r) => ({
    family, m: [...r.m], rho: [...r.rho], mu: r.mu, rhoB: r.rhoB, logSigmaB: r.logSigmaB, logSigma: r.logSigma,
    x: r.x, y: r.y, group: r.group, noise: { theta: r.theta.map((t) => [...t]), b: r.b },
  }));

/** The network f at one set of weights, in plain JavaScript: outputs and every hidden pre-activation. */
function forwardJs(x: Float64Array, w: readonly Float64Array[]): { f: Float64Array; pre: number[] } {
  const [W0, b0, W1, b1] = w;
  const f = new Float64Array(ROWS), pre: number[] = [];
  for (let r = 0; r < ROWS; r++) {
    let out = b1[0];
    for (let j = 0; j < H; j++) {
      let z = b0[j];
      for (let i = 0; i < P; i++) z += x[r * P + i] * W0[i * H + j];
      pre.push(z);
      out += Math.max(z, 0) * W1[j];
    }
    f[r] = out;
  }
  return { f, pre };
}

const logFactorial = (k: number): number => {
  let s = 0;
  for (let j = 2; j <= k; j++) s += Math.log(j);
  return s;
};

/** −log p(y | η) written from the densities, not from nll.ts. */
function nllJs(family: RFamily, y: number, eta: number, sigma: number): number {
  if (family === 'gaussian') return 0.5 * Math.log(2 * Math.PI * sigma * sigma) + ((y - eta) ** 2) / (2 * sigma * sigma);
  if (family === 'poisson') return -(y * eta - Math.exp(eta) - logFactorial(y));
  const p = 1 / (1 + Math.exp(-eta));
  return -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
}

function sampled(c: Case, s: number): { theta: Float64Array[]; b: Float64Array } {
  const theta = c.m.map((m, k) => m.map((v, j) => v + softplus(c.rho[k][j]) * c.noise.theta[s][k][j]));
  const b = c.mu.map((v, i) => v + softplus(c.rhoB[i]) * c.noise.b[s][i]);
  return { theta, b };
}

/** −ELBO/N of the brief, every piece computed independently of bbvi.ts (KL by quadrature). */
function negElboJs(c: Case): number {
  let nll = 0;
  for (let s = 0; s < S; s++) {
    const { theta, b } = sampled(c, s);
    const { f } = forwardJs(c.x, theta);
    for (let r = 0; r < ROWS; r++) nll += nllJs(c.family, c.y[r], f[r] + b[c.group[r]], Math.exp(c.logSigma));
  }
  let kl = 0;
  c.m.forEach((m, k) => m.forEach((v, j) => (kl += klQuad(v, softplus(c.rho[k][j]), PRIOR_SD))));
  c.mu.forEach((v, i) => (kl += klQuad(v, softplus(c.rhoB[i]), Math.exp(c.logSigmaB))));
  // (N/|B|)·Σ_B (1/S)Σ_s log p − KL, divided by −N.
  return nll / (S * ROWS) + kl / N_TRAIN;
}

function minAbsPreActivation(c: Case): number {
  let least = Infinity;
  for (let s = 0; s < S; s++) for (const z of forwardJs(c.x, sampled(c, s).theta).pre) least = Math.min(least, Math.abs(z));
  return least;
}

/** The objective as a function of the parameter tensors, in the order of `inputsOf`. */
function objective(c: Case): (...xs: E.Tensor[]) => E.Tensor {
  return (...xs) => {
    const v: Variational = {
      m: xs.slice(0, 4), rho: xs.slice(4, 8), mu: xs[8], rhoB: xs[9], logSigmaB: xs[10],
      logSigma: c.family === 'gaussian' ? xs[11] : null,
    };
    const x = E.tensor(c.x, [ROWS, P]);
    return elboWithNoise({ family: c.family, n: N_TRAIN, priorSd: PRIOR_SD }, v, x, c.y, c.group, c.noise);
  };
}

function inputsOf(c: Case): Input[] {
  const inputs: Input[] = [
    ...c.m.map((v, k) => ({ values: v, shape: SHAPES[k] })),
    ...c.rho.map((v, k) => ({ values: v, shape: SHAPES[k] })),
    { values: c.mu, shape: [G] },
    { values: c.rhoB, shape: [G] },
    { values: Float64Array.of(c.logSigmaB), shape: [] },
  ];
  if (c.family === 'gaussian') inputs.push({ values: Float64Array.of(c.logSigma), shape: [] });
  return inputs;
}

const FAMILIES: readonly RFamily[] = ['gaussian', 'poisson', 'bernoulli'];

describe('bbvi: the fixed-noise objective', () => {
  it.each(FAMILIES)('%s: equals the −ELBO/N computed from the densities, the sampled weights and the KL by quadrature', (family) => {
    fc.assert(
      fc.property(caseOf(family), (c) => {
        const got = E.tidy(() => objective(c)(...inputsOf(c).map((i) => E.tensor(i.values, i.shape))).item());
        const want = negElboJs(c);
        // Both sides sum ~10² terms of order 1–10 in double precision (≈1e−13 relative);
        // the quadrature KL is accurate to ~1e−10 per term (Simpson, h = 0.006 sd), so 1e−8
        // relative is loose for rounding and tight against any wrong scale or missing term.
        expect(Math.abs(got - want)).toBeLessThan(1e-8 * Math.max(1, Math.abs(want)));
      }),
      { numRuns: 15, seed: 20261206 },
    );
  });

  it.each(FAMILIES)('%s: its gradient in m, ρ (weights), μ, ρ_b, log σ_b (and log σ) matches central differences', (family) => {
    fc.assert(
      fc.property(caseOf(family), (c) => {
        // relu has a kink: a finite difference straddling it measures a jump, not the
        // derivative. A step is 1e−5·max(1, ‖input‖∞) ≤ 3e−5 (|ρ| ≤ 3) along directions of
        // entries ≤ 1, scaled by softplus' ≤ 1 and |ε| ≤ 3, into a pre-activation b₀ + Σ x·W₀
        // with two |x| ≤ 2: it moves by ≤ 4.5e−4, so a case with one within 1e−3 of 0 is set aside.
        fc.pre(minAbsPreActivation(c) > 1e-3);
        const r = checkVjp(objective(c), inputsOf(c), 7);
        // checkVjp's Richardson central difference leaves ~1e−10 relative truncation and
        // subtracts its rounding noise; 1e−6 allows for the ~10³ roundings of the composed
        // objective, while a wrong or missing term in any VJP is an O(1) relative error.
        if (!(r.worst <= 1e-6)) throw new Error(r.details);
      }),
      { numRuns: 12, seed: 20261206 },
    );
  });
});

describe('bbvi: the closed-form KL', () => {
  it('Σ KL(N(m, sd²) ‖ N(0, s²)) matches quadrature, for a constant s and for s = exp(log σ_b) on the tape', () => {
    fc.assert(
      fc.property(arr(5, -3, 3), arr(5, 0.01, 4), num(0.05, 5), (m, sd, s) => {
        let want = 0;
        for (let j = 0; j < m.length; j++) want += klQuad(m[j], sd[j], s);
        const [constant, onTape] = E.tidy(() => {
          const mt = E.tensor(m), st = E.tensor(sd);
          return [klNormal(mt, st, Math.log(s)).item(), klNormal(mt, st, E.scalar(Math.log(s))).item()];
        });
        // Simpson with 4000 panels over ±12 sd: error ~ h⁴·|f⁗| ≈ 1e−9 of the integrand's scale,
        // which is up to log(s/sd) + m²/s² ≈ 10³ here; the tails beyond 12 sd hold < 1e−30.
        const tol = 1e-8 * Math.max(1, Math.abs(want));
        expect(Math.abs(constant - want)).toBeLessThan(tol);
        expect(Math.abs(onTape - want)).toBeLessThan(tol);
      }),
      { numRuns: 40, seed: 11 },
    );
  });
});

// A simulated grouped data set: η = sin(2·x₁) + 0.5·x₂ + b_i, b_i ~ N(0, σ_b²); Gaussian y
// adds N(0, RESIDUAL²) noise.
const RESIDUAL = 0.3;
function simulate(family: RFamily, groups: number, perGroup: readonly number[], sigmaB: number, seed: number) {
  const rng = new E.Rng(seed);
  const b = Array.from({ length: groups }, () => sigmaB * rng.normal());
  const parts = perGroup.map((k) => {
    const X: number[] = [], y: number[] = [], g: number[] = [];
    for (let i = 0; i < groups; i++) {
      for (let j = 0; j < k; j++) {
        const x1 = rng.normal(), x2 = rng.normal();
        const eta = Math.sin(2 * x1) + 0.5 * x2 + b[i];
        y.push(family === 'gaussian' ? eta + RESIDUAL * rng.normal() : rng.poisson(Math.exp(eta)));
        X.push(x1, x2);
        g.push(i);
      }
    }
    return { X, y, g };
  });
  // Gaussian y standardised from the training split, as the harness does.
  let centre = 0, scale = 1;
  if (family === 'gaussian') {
    const t = parts[0].y;
    centre = t.reduce((a, v) => a + v, 0) / t.length;
    scale = Math.sqrt(t.reduce((a, v) => a + (v - centre) ** 2, 0) / (t.length - 1));
  }
  const rows = parts.map((q): Rows => ({
    X: Float64Array.from(q.X), p: 2, y: Float64Array.from(q.y, (v) => (v - centre) / scale), group: Int32Array.from(q.g),
  }));
  const bMean = b.reduce((a, v) => a + v, 0) / groups;
  const bSd = Math.sqrt(b.reduce((a, v) => a + (v - bMean) ** 2, 0) / (groups - 1));
  return { rows, scale, bSd };
}

const mse = (pred: Float64Array, y: Float64Array): number => pred.reduce((a, v, i) => a + (v - y[i]) ** 2, 0) / y.length;

describe('bbvi: a small simulated fit', () => {
  it('Gaussian, 20 groups of 20 rows with a strong intercept: seen-group predictions use it, σ_b and σ are recovered', () => {
    const sim = simulate('gaussian', 20, [20, 5, 10], 0.8, 7);
    const [train, valid, test] = sim.rows;
    const fit = fitBbvi({ family: 'gaussian', groups: 20, train, valid }, {
      hidden: [8], lr: 0.02, epochs: 100, batchSize: 64, patience: 20, seed: 3, predictSamples: 50,
    });
    try {
      const seen = mse(fit.predictSeen(test), test.y), fresh = mse(fit.predictNew(test), test.y);
      // In standardised units the intercepts carry variance ≈ 0.44 of y's 1 and the residual
      // ≈ 0.055: knowing the group must cut the squared error several-fold, down to near the
      // residual variance (the rest is f's misfit after 100 epochs of a noisy objective).
      expect(seen).toBeLessThan(0.3 * fresh);
      expect(seen).toBeLessThan(2 * (RESIDUAL / sim.scale) ** 2);
      // σ_b against the SD of the 20 intercepts actually drawn (≈ 0.67 standardised). Its ELBO
      // optimum is √mean(μ² + sd²), with μ shrunk by only ~σ²/(n·σ_b²) ≈ 1 %; ±20 % leaves room
      // for the network absorbing part of the group means, and fails for a σ_b left at its
      // starting value 1 (+50 %) or collapsed towards 0.
      const sigmaB = fit.info.sigmaB as number, truth = sim.bSd / sim.scale;
      expect(Math.abs(sigmaB - truth) / truth).toBeLessThan(0.2);
      // σ against the residual SD (≈ 0.23 standardised): f's misfit adds to it (we see ~1.4×),
      // so 1.6× is the ceiling; σ left at its start (1) or an f that fits the noise fails.
      const sigma = fit.info.sigma as number, residual = RESIDUAL / sim.scale;
      expect(sigma).toBeGreaterThan(0.7 * residual);
      expect(sigma).toBeLessThan(1.6 * residual);
      expect(fit.info.bestEpoch as number).toBeGreaterThan(10);
    } finally {
      fit.dispose();
    }
  });

  it('Poisson: the prior-averaged prediction is exp(σ_b²/2) × the b = 0 one (same θ draws), and Gaussian\'s equals it', () => {
    const sim = simulate('poisson', 10, [6, 3, 4], 0.8, 5);
    const [train, valid, test] = sim.rows;
    const opts = { hidden: [4], lr: 0.02, epochs: 3, batchSize: 16, patience: 5, seed: 9, predictSamples: 20 };
    const fit = fitBbvi({ family: 'poisson', groups: 10, train, valid }, opts);
    try {
      const fresh = fit.predictNew(test), marginal = fit.predictNewMarginal!(test);
      const sb = fit.info.sigmaB as number;
      expect(fit.info.sigma).toBeNull();
      // E[e^{f + b}] = e^{f}·e^{σ_b²/2} for b ~ N(0, σ_b²); Gauss–Hermite with 32 nodes is exact
      // to ~1e−12 relative for e^{σ_b ξ} at σ_b ≤ 5.
      for (let r = 0; r < fresh.length; r++) expect(marginal[r]).toBeCloseTo(fresh[r] * Math.exp((sb * sb) / 2), 10);
    } finally {
      fit.dispose();
    }
    const g = simulate('gaussian', 10, [6, 3, 4], 0.8, 5);
    const gfit = fitBbvi({ family: 'gaussian', groups: 10, train: g.rows[0], valid: g.rows[1] }, opts);
    try {
      const fresh = gfit.predictNew(g.rows[2]), marginal = gfit.predictNewMarginal!(g.rows[2]);
      // Identity link: the prior mean of b is 0, so averaging over it changes nothing.
      for (let r = 0; r < fresh.length; r++) expect(marginal[r]).toBeCloseTo(fresh[r], 12);
    } finally {
      gfit.dispose();
    }
  });
});

describe('bbvi: memory and reproducibility', () => {
  it('leaves the heap as it found it after fit, predictions and dispose, and a seed gives the same fit twice', () => {
    const sim = simulate('poisson', 6, [5, 2, 3], 0.8, 1);
    const [train, valid, test] = sim.rows;
    const set: TrainSet = { family: 'poisson', groups: 6, train, valid };
    const opts = { hidden: [3], lr: 0.01, epochs: 2, batchSize: 8, patience: 2, seed: 4, predictSamples: 5 };
    const before = E.backend().heap.inUse;
    const runs = [0, 1].map(() => {
      const fit = fitBbvi(set, opts);
      const out = [fit.predictSeen(test), fit.predictNew(test), fit.predictNewMarginal!(test)];
      const info = { ...fit.info };
      fit.dispose();
      return { out, info };
    });
    expect(runs[1].info).toEqual(runs[0].info);
    runs[0].out.forEach((o, i) => expect(runs[1].out[i]).toEqual(o));
    expect(() => fitBbvi({ ...set, valid: { ...valid, group: valid.group.map(() => 6) } }, opts)).toThrow(/group 6, outside 0\.\.5/);
    expect(() => fitBbvi(set, { ...opts, samples: 0 })).toThrow(/samples/);
    expect(E.backend().heap.inUse).toBe(before);
  });
});
