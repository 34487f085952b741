// The closed-form group marginals of the LMMNN and PGNN baselines (issue 14): each against an
// independent computation (a dense multivariate normal, the negative binomial pmf, quadrature
// over the Gamma random effect), their gradients against finite differences, and small
// simulated fits that must recover the random-effect scale and use it for seen groups.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../../engine/index';
import { fitLmmnn, lmmnnNll } from '../../../bench/realdata/baselines/lmmnn';
import { fitPgnn, pgnnNll } from '../../../bench/realdata/baselines/pgnn';
import type { Rows, TrainOptions, TrainSet } from '../../../bench/realdata/types';
import { checkVjp, weights } from '../../helpers/checkVjp';

// log Γ(x), x > 0, written here rather than imported: shift up by Γ(x + 1) = xΓ(x) until x ≥ 30,
// then Stirling's series to 1/x⁷ (Abramowitz & Stegun 6.1.41); the first omitted term,
// 1/(1188x⁹), is below 1.3e−16 at x = 30, so the result is good to a few ulps of its size.
function lgammaRef(x: number): number {
  let shift = 0;
  while (x < 30) {
    shift += Math.log(x);
    x += 1;
  }
  const z = 1 / (x * x);
  const series = (1 / x) * (1 / 12 - z * (1 / 360 - z * (1 / 1260 - z / 1680)));
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

// log NB(y; size α, mean μ) = log[Γ(y+α)/(Γ(α) y!)·(α/(α+μ))^α·(μ/(α+μ))^y].
function logNegBinom(y: number, mu: number, alpha: number): number {
  return lgammaRef(y + alpha) - lgammaRef(alpha) - lgammaRef(y + 1)
    + alpha * Math.log(alpha / (alpha + mu)) + y * Math.log(mu / (alpha + mu));
}

// log ∫ Π_j Poisson(y_j; μ_j u)·Gamma(u; α, α) du by the trapezoid rule in t = log u, where the
// integrand is exp(C + (α+Y)t − (α+M)eᵗ): smooth, with a single peak at t* = log((α+Y)/(α+M))
// of width 1/√(α+Y), decaying like e^{(α+Y)t} to the left and doubly exponentially to the
// right. The trapezoid rule on such a function converges geometrically in 1/h (Trefethen &
// Weideman 2014, §5); h = width/100 and a window from where the left tail is below e^{−60}
// to t* + 6 (right tail below e^{−390(α+Y)}) leave errors far under 1e−12 relative.
// `moment` = 1 returns log ∫ u·(…) du instead, for the posterior mean.
function logMarginalQuadrature(y: number[], mu: number[], alpha: number, moment = 0): number {
  let Y = 0, M = 0, C = alpha * Math.log(alpha) - lgammaRef(alpha);
  y.forEach((v, j) => {
    Y += v;
    M += mu[j];
    C += v * Math.log(mu[j]) - lgammaRef(v + 1);
  });
  const a = alpha + Y + moment, b = alpha + M;
  const tStar = Math.log(a / b);
  const h = 0.01 * Math.min(1, 1 / Math.sqrt(a));
  const lo = tStar - 60 / a - 5, hi = tStar + 6;
  const peak = a * tStar - b * Math.exp(tStar);
  let s = 0;
  for (let t = lo; t <= hi; t += h) s += Math.exp(a * t - b * Math.exp(t) - peak);
  return C + peak + Math.log(s * h);
}

// The dense multivariate-normal log density N(y; m, σ²I + σ_b²11ᵀ) by Cholesky.
function denseGaussian(y: number[], m: number[], sigma: number, sigmaB: number): { logDensity: number; blup: number } {
  const n = y.length;
  const L = Array.from({ length: n }, () => new Float64Array(n));
  const V = (i: number, j: number) => sigmaB * sigmaB + (i === j ? sigma * sigma : 0);
  for (let j = 0; j < n; j++) {
    let d = V(j, j);
    for (let k = 0; k < j; k++) d -= L[j][k] * L[j][k];
    L[j][j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = V(i, j);
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = s / L[j][j];
    }
  }
  const solve = (rhs: number[]): number[] => {
    const z = rhs.slice();
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < i; k++) z[i] -= L[i][k] * z[k];
      z[i] /= L[i][i];
    }
    for (let i = n - 1; i >= 0; i--) {
      for (let k = i + 1; k < n; k++) z[i] -= L[k][i] * z[k];
      z[i] /= L[i][i];
    }
    return z;
  };
  const r = y.map((v, i) => v - m[i]);
  const w = solve(r); // V⁻¹r
  let logDet = 0, quad = 0, sumW = 0;
  for (let i = 0; i < n; i++) {
    logDet += 2 * Math.log(L[i][i]);
    quad += r[i] * w[i];
    sumW += w[i];
  }
  return { logDensity: -0.5 * (n * Math.log(2 * Math.PI) + logDet + quad), blup: sigmaB * sigmaB * sumW };
}

const localOf = (sizes: number[]): Int32Array => Int32Array.from(sizes.flatMap((s, g) => Array<number>(s).fill(g)));

describe('PGNN marginal', () => {
  it('a one-row group is the negative binomial NB(size α, mean μ)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: -3, max: 4, noNaN: true }),
        fc.double({ min: -2.5, max: 4, noNaN: true }),
        (y, eta, logAlpha) => {
          const nll = E.tidy(() => pgnnNll(E.tensor([eta]), [y], localOf([1]), 1, E.tensor([logAlpha])).item());
          const ref = -logNegBinom(y, Math.exp(eta), Math.exp(logAlpha));
          // Both sides are sums of lgamma terms up to ≈ 430 (y + α ≤ 115), each good to a few ulps:
          // 1e−12 of the largest term is a thousand times that rounding.
          const scale = Math.max(1, lgammaRef(y + Math.exp(logAlpha)), Math.abs(ref));
          expect(Math.abs(nll - ref)).toBeLessThan(1e-12 * scale);
        },
      ),
      { numRuns: 200, seed: 3 },
    );
  });

  it('several groups, one empty, equal quadrature over the Gamma effect to 1e−8', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: -1.5, max: 2.5, noNaN: true }),
        (sizes, seed, logAlpha) => {
          const rng = new E.Rng(seed);
          const n = sizes.reduce((s, v) => s + v, 0);
          const eta = Array.from({ length: n }, () => 1.5 * rng.normal());
          const y = eta.map((e) => rng.poisson(Math.exp(e) * (0.2 + 2 * rng.uniform())));
          const nll = E.tidy(() => pgnnNll(E.tensor(eta), y, localOf(sizes), sizes.length, E.tensor([logAlpha])).item());
          let ref = 0, start = 0;
          for (const s of sizes) {
            ref -= logMarginalQuadrature(y.slice(start, start + s), eta.slice(start, start + s).map(Math.exp), Math.exp(logAlpha));
            start += s;
          }
          // 1e−8 relative in the densities is 1e−8 absolute in their logs.
          expect(Math.abs(nll - ref)).toBeLessThan(1e-8);
        },
      ),
      { numRuns: 40, seed: 5 },
    );
  });
});

describe('LMMNN marginal', () => {
  it('several groups, one empty, equal dense multivariate-normal log densities', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: -2, max: 1.5, noNaN: true }),
        fc.double({ min: -3, max: 1.5, noNaN: true }),
        (sizes, seed, logSigma, logSigmaB) => {
          const rng = new E.Rng(seed);
          const n = sizes.reduce((s, v) => s + v, 0);
          const eta = Array.from({ length: n }, () => rng.normal());
          const y = eta.map((e) => e + 2 * rng.normal());
          const nll = E.tidy(() =>
            lmmnnNll(E.tensor(eta, [n, 1]), y, localOf(sizes), sizes.length, E.tensor([logSigma]), E.tensor([logSigmaB])).item());
          let ref = 0, start = 0;
          for (const s of sizes) {
            ref -= denseGaussian(y.slice(start, start + s), eta.slice(start, start + s), Math.exp(logSigma), Math.exp(logSigmaB)).logDensity;
            start += s;
          }
          // The quadratic form reaches ≈ 1e4 at σ = e⁻²; Cholesky and Sherman–Morrison each lose
          // a few ulps of it, so 1e−11 of the larger of it and 1.
          expect(Math.abs(nll - ref)).toBeLessThan(1e-11 * Math.max(1, Math.abs(ref)));
        },
      ),
      { numRuns: 60, seed: 9 },
    );
  });
});

// An MLP forward pass whose parameters are checked inputs (E.mlp's parameters are fixed tensors).
function forward(x: E.Tensor, ps: E.Tensor[]): E.Tensor {
  let h = x;
  for (let l = 0; l < ps.length / 2; l++) {
    h = E.bias(E.matmul(h, ps[2 * l]), ps[2 * l + 1]);
    if (l + 1 < ps.length / 2) h = E.relu(h);
  }
  return h;
}

describe('gradients of the losses against finite differences', () => {
  for (const model of ['lmmnn', 'pgnn'] as const) {
    it(`${model}: every network weight and the variance parameters`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 1000 }),
          fc.double({ min: -1, max: 1, noNaN: true }),
          fc.double({ min: -1, max: 1, noNaN: true }),
          (sizes, p, seed, s1, s2) => {
            const rng = new E.Rng(seed);
            const n = sizes.reduce((s, v) => s + v, 0);
            const local = localOf(sizes);
            const net = E.mlp([p, 3, 1], 'relu', seed);
            try {
              E.tidy(() => {
                const x = E.tensor(weights(n * p, seed + 1).map((v) => 2 * v), [n, p]);
                const y = Array.from({ length: n }, () => (model === 'pgnn' ? rng.poisson(1.5) : rng.normal()));
                // Biases nudged off zero so no relu unit sits exactly on its kink.
                const inputs = net.parameters().map((t, i) => ({
                  values: t.data.map((v, j) => v + 0.05 * Math.sin(7 * i + j + seed)),
                  shape: t.shape,
                }));
                inputs.push({ values: Float64Array.of(s1), shape: [1] }, { values: Float64Array.of(s2), shape: [1] });
                const loss = (...ts: E.Tensor[]): E.Tensor => {
                  const eta = forward(x, ts.slice(0, 4));
                  return model === 'lmmnn'
                    ? lmmnnNll(eta, y, local, sizes.length, ts[4], ts[5])
                    : E.add(pgnnNll(eta, y, local, sizes.length, ts[4]), E.mul(ts[5], 0)); // ts[5] unused: gradient 0
                };
                const r = checkVjp(loss, inputs, seed);
                // checkVjp's Richardson-extrapolated differences are good to ≈ 1e−9 on smooth
                // losses of order 1 (test/helpers/checkVjp.ts); 1e−6 leaves room for relu's
                // piecewise-linear net near (not on) a kink.
                if (!(r.worst <= 1e-6)) throw new Error(`${model} sizes ${sizes} p ${p}\n${r.details}`);
              });
            } finally {
              net.dispose();
            }
          },
        ),
        { numRuns: 25, seed: 11 },
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Simulated fits.

interface Sim {
  readonly set: TrainSet;
  readonly test: Rows;
  /** The groups' drawn effects: b (Gaussian) or u (Poisson). */
  readonly effects: Float64Array;
}

// Gamma(shape k ≥ 1, rate k) by Marsaglia & Tsang (2000).
function gammaMeanOne(rng: E.Rng, k: number): number {
  const d = k - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal(), v = (1 + c * z) ** 3;
    if (v > 0 && Math.log(rng.uniform()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return (d * v) / k;
  }
}

// `groups` groups, each with `rows` = [train, valid, test] rows; x ~ U(−1, 1)²; the response
// draws from the group's effect and f(x) = sin(2x₁) + x₂²/2 − ⅓ (nonlinear, so the network matters).
function simulate(family: 'gaussian' | 'poisson', groups: number, rows: [number, number, number], effect: () => number, seed: number): Sim {
  const rng = new E.Rng(seed);
  const parts = rows.map(() => ({ X: [] as number[], y: [] as number[], group: [] as number[] }));
  const effects = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const b = (effects[g] = effect());
    rows.forEach((count, s) => {
      for (let k = 0; k < count; k++) {
        const x1 = 2 * rng.uniform() - 1, x2 = 2 * rng.uniform() - 1;
        const f = Math.sin(2 * x1) + x2 * x2 / 2 - 1 / 3;
        const y = family === 'gaussian' ? f + b + 0.5 * rng.normal() : rng.poisson(Math.exp(0.7 + 0.6 * f) * b);
        parts[s].X.push(x1, x2);
        parts[s].y.push(y);
        parts[s].group.push(g);
      }
    });
  }
  const [train, valid, test] = parts.map((q) => ({
    X: Float64Array.from(q.X), p: 2, y: Float64Array.from(q.y), group: Int32Array.from(q.group),
  }));
  return { set: { family, groups, train, valid }, test, effects };
}

const options: TrainOptions = { hidden: [8], lr: 0.01, epochs: 60, batchSize: 64, patience: 8, seed: 1 };

const variance = (v: ArrayLike<number>, mean: number): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - mean) ** 2;
  return s / v.length;
};

const mse = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
};

// The Poisson unit deviance's mean, 2·Σ[y log(y/μ) − (y − μ)]/n.
const poissonDeviance = (y: ArrayLike<number>, mu: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += 2 * ((y[i] > 0 ? y[i] * Math.log(y[i] / mu[i]) : 0) - (y[i] - mu[i]));
  return s / y.length;
};

describe('simulated fits', () => {
  it('LMMNN recovers σ_b, predicts seen groups better with its BLUPs (the dense formula), stops on the dense predictive density, leaves the heap as it found it', () => {
    const rng = new E.Rng(21);
    const sim = simulate('gaussian', 60, [8, 3, 3], () => rng.normal(), 22);
    const heap = E.backend().heap;
    const before = heap.inUse;
    const m = fitLmmnn(sim.set, options);
    try {
      const sigma = m.info.sigma as number, sigmaB = m.info.sigmaB as number;
      // Truth σ_b = 1 (the fit starts at 0.71), σ = 0.5. Against the SD of the 60 effects
      // actually drawn (about their mean, which the network's bias absorbs), what is left is
      // each group's effect seen through 8 rows (noise σ²/8 ≈ 0.03 against 1) and the
      // network's misfit: 15 % in σ_b is several times that (six seeds: within 3 %).
      const drawn = Math.sqrt(variance(sim.effects, sim.effects.reduce((a, b) => a + b, 0) / 60));
      expect(Math.abs(sigmaB / drawn - 1)).toBeLessThan(0.15);
      // σ from 480 residuals: SE ≈ 0.5/√960 ≈ 0.016, so ± 0.1 is six SEs.
      expect(Math.abs(sigma - 0.5)).toBeLessThan(0.1);
      const seen = m.predictSeen(sim.test), fixed = m.predictNew(sim.test);
      // Expected: new ≈ σ² + σ_b² ≈ 1.25, seen ≈ σ² + σ²σ_b²/(σ² + 11σ_b²) ≈ 0.27
      // (six seeds: ratio 0.22 … 0.26).
      expect(mse(seen, sim.test.y)).toBeLessThan(0.5 * mse(fixed, sim.test.y));
      expect(m.predictNewMarginal!(sim.test)).toEqual(fixed);
      // Each group's shift is the dense BLUP σ_b²·1ᵀV⁻¹r over its training and held-out rows.
      const { train, valid } = sim.set;
      const fTrain = m.predictNew(train), fValid = m.predictNew(valid);
      for (const g of [0, 17, 59]) {
        const y: number[] = [], f: number[] = [];
        train.group.forEach((h, k) => { if (h === g) { y.push(train.y[k]); f.push(fTrain[k]); } });
        valid.group.forEach((h, k) => { if (h === g) { y.push(valid.y[k]); f.push(fValid[k]); } });
        const k = sim.test.group.indexOf(g);
        const { blup } = denseGaussian(y, f, sigma, sigmaB);
        expect(Math.abs(seen[k] - fixed[k] - blup)).toBeLessThan(1e-12);
      }
      // Early stopping's score (kept at the best epoch, whose parameters the fit ends with) is
      // the mean over held-out rows of −log p(y_valid | y_train) = −[log p(y_train, y_valid) −
      // log p(y_train)], here by dense densities group by group; sums of 60 terms of order 10,
      // each good to ≈ 1e−14: 1e−10.
      let nll = 0;
      for (let g = 0; g < 60; g++) {
        const yt: number[] = [], ft: number[] = [], ya: number[] = [], fa: number[] = [];
        train.group.forEach((h, k) => { if (h === g) { yt.push(train.y[k]); ft.push(fTrain[k]); } });
        valid.group.forEach((h, k) => { if (h === g) { ya.push(valid.y[k]); fa.push(fValid[k]); } });
        nll -= denseGaussian([...yt, ...ya], [...ft, ...fa], sigma, sigmaB).logDensity - denseGaussian(yt, ft, sigma, sigmaB).logDensity;
      }
      expect(Math.abs(nll / valid.y.length - (m.info.validNll as number))).toBeLessThan(1e-10);
    } finally {
      m.dispose();
    }
    expect(heap.inUse).toBe(before);
  });

  it('PGNN recovers 1/α, predicts seen groups better by the Gamma posterior mean (by quadrature), stops on the predictive density (by quadrature), leaves the heap as it found it', () => {
    const rng = new E.Rng(31);
    const sim = simulate('poisson', 80, [8, 3, 4], () => gammaMeanOne(rng, 2), 32);
    const heap = E.backend().heap;
    const before = heap.inUse;
    const m = fitPgnn(sim.set, options);
    try {
      const alpha = m.info.alpha as number;
      expect(m.info.reVariance).toBeCloseTo(1 / alpha, 14);
      // Truth var u = 1/α = 0.5 (the fit starts at 1). The sample variance of 80 Gamma(2)
      // draws has SE √((μ₄ − σ⁴)/80) = σ²·√(5/80) ≈ 0.125 (excess kurtosis 6/α = 3), and each
      // group's u is seen through ≈ 8·2 counts: [0.25, 0.8] is about 2 SEs either side
      // (six seeds: 0.45 … 0.59).
      expect(1 / alpha).toBeGreaterThan(0.25);
      expect(1 / alpha).toBeLessThan(0.8);
      const seen = m.predictSeen(sim.test), fixed = m.predictNew(sim.test);
      // Without u, the deviance carries the groups' spread (var 0.5 at μ ≈ 2) on top of the
      // Poisson noise; with E[u | y] from ≈ 11 rows most of it goes (six seeds: ratio 0.48 … 0.6).
      expect(poissonDeviance(sim.test.y, seen)).toBeLessThan(0.75 * poissonDeviance(sim.test.y, fixed));
      expect(m.predictNewMarginal!(sim.test)).toEqual(fixed);
      // Each group's factor is E[u | y] = ∫u p(y|u)p(u)du / ∫p(y|u)p(u)du over its training and
      // held-out rows, here by quadrature; the two quadratures' errors are each < 1e−12.
      const { train, valid } = sim.set;
      const muTrain = m.predictNew(train), muValid = m.predictNew(valid);
      for (const g of [0, 33, 79]) {
        const y: number[] = [], mu: number[] = [];
        train.group.forEach((h, k) => { if (h === g) { y.push(train.y[k]); mu.push(muTrain[k]); } });
        valid.group.forEach((h, k) => { if (h === g) { y.push(valid.y[k]); mu.push(muValid[k]); } });
        const k = sim.test.group.indexOf(g);
        const posteriorMean = Math.exp(logMarginalQuadrature(y, mu, alpha, 1) - logMarginalQuadrature(y, mu, alpha));
        expect(Math.abs(seen[k] / fixed[k] / posteriorMean - 1)).toBeLessThan(1e-9);
      }
      // Early stopping's score at the kept epoch: the mean over held-out rows of
      // −[log p(y_train, y_valid) − log p(y_train)], by quadrature group by group; 160
      // quadratures each good to < 1e−12 in the log: 1e−9 for the mean.
      let nll = 0;
      for (let g = 0; g < 80; g++) {
        const yt: number[] = [], mt: number[] = [], ya: number[] = [], ma: number[] = [];
        train.group.forEach((h, k) => { if (h === g) { yt.push(train.y[k]); mt.push(muTrain[k]); } });
        valid.group.forEach((h, k) => { if (h === g) { ya.push(valid.y[k]); ma.push(muValid[k]); } });
        nll -= logMarginalQuadrature([...yt, ...ya], [...mt, ...ma], alpha) - logMarginalQuadrature(yt, mt, alpha);
      }
      expect(Math.abs(nll / valid.y.length - (m.info.validNll as number))).toBeLessThan(1e-9);
    } finally {
      m.dispose();
    }
    expect(heap.inUse).toBe(before);
  });
});
