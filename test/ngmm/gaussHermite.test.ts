// Gauss–Hermite rules (probabilists' scaling) against closed forms, an exact-arithmetic
// reference (BigInt fixed point), and the exactness of the adaptive and product rules.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adaptiveNodes, gaussHermite, productRule } from '../../ngmm/marginal/gaussHermite';

const EPS = Number.EPSILON;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const ALL_K = Array.from({ length: 64 }, (_, i) => i + 1);

// (n)!! for odd n, exact in BigInt then correctly rounded (Number(bigint) rounds to nearest).
function doubleFactorial(n: number): number {
  let b = 1n;
  for (let i = n; i > 1; i -= 2) b *= BigInt(i);
  return Number(b);
}

function factorial(n: number): number {
  let b = 1n;
  for (let i = 2; i <= n; i++) b *= BigInt(i);
  return Number(b);
}

// Reference node and weight by Newton's method on the monic He_K in 320-bit fixed point,
// started from the double node: He_{j+1} = x·He_j − j·He_{j−1} has integer coefficients, so
// only the products x·He_j are truncated (at 2^-320). w = K!/(K²·He_{K−1}(ξ)²) is the classical
// Christoffel formula (Abramowitz & Stegun 25.4.46 in probabilists' form), independent of the
// Σ p_j² formula used by the implementation.
const P = 320n;
const S = 1n << P;
function reference(K: number, x0: number): { x: number; w: number } {
  let X = BigInt(Math.round(x0 * 2 ** 52)) * (S >> 52n);
  let Hk1 = S;
  for (let it = 0; it < 5; it++) {
    let a = S; // He_0
    let b = X; // He_1
    for (let j = 1; j < K; j++) {
      const c = (X * b) / S - BigInt(j) * a;
      a = b;
      b = c;
    }
    Hk1 = K === 1 ? S : a;
    X -= (b * S) / (BigInt(K) * Hk1);
  }
  let f = 1n;
  for (let j = 2; j <= K; j++) f *= BigInt(j);
  const W = (f * S * S * S) / (BigInt(K * K) * Hk1 * Hk1);
  return { x: Number(X) * 2 ** -320, w: Number(W) * 2 ** -320 };
}

describe('gaussHermite', () => {
  it('rejects K outside 1..64', () => {
    for (const K of [0, 65, -1, 1.5, NaN]) expect(() => gaussHermite(K)).toThrow(/K must be an integer in \[1, 64\]/);
  });

  it('known rules: K = 1, 2, 3, 5', () => {
    const r1 = gaussHermite(1);
    expect([...r1.nodes]).toEqual([0]);
    expect(r1.weights[0]).toBeCloseTo(1, 15);
    const r2 = gaussHermite(2);
    expect([...r2.nodes]).toEqual([-1, 1]);
    for (const w of r2.weights) expect(Math.abs(w - 0.5)).toBeLessThan(2 * EPS);
    const r3 = gaussHermite(3);
    const want3 = [[-Math.sqrt(3), 1 / 6], [0, 2 / 3], [Math.sqrt(3), 1 / 6]];
    want3.forEach(([x, w], k) => {
      expect(Math.abs(r3.nodes[k]! - x!)).toBeLessThan(2 * EPS * 2);
      expect(Math.abs(r3.weights[k]! - w!) / w!).toBeLessThan(4 * EPS);
    });
    // K = 5: He_5 = x(x⁴ − 10x² + 15) ⇒ ξ ∈ {0, ±√(5 ∓ √10)}, w = 5!/(25·He_4(ξ)²).
    const r5 = gaussHermite(5);
    const x5 = [-Math.sqrt(5 + Math.sqrt(10)), -Math.sqrt(5 - Math.sqrt(10)), 0, Math.sqrt(5 - Math.sqrt(10)), Math.sqrt(5 + Math.sqrt(10))];
    x5.forEach((x, k) => {
      const he4 = x ** 4 - 6 * x * x + 3;
      expect(Math.abs(r5.nodes[k]! - x)).toBeLessThan(4 * EPS * Math.max(1, Math.abs(x)));
      expect(Math.abs(r5.weights[k]! / (120 / (25 * he4 * he4)) - 1)).toBeLessThan(1e-14);
    });
  });

  it('ascending, exactly symmetric, Σ w = 1, logWeights consistent, for every K', () => {
    for (const K of ALL_K) {
      const { nodes, weights, logWeights } = gaussHermite(K);
      expect(nodes.length).toBe(K);
      let sum = 0;
      for (let k = 0; k < K; k++) {
        if (k > 0) expect(nodes[k]!).toBeGreaterThan(nodes[k - 1]!);
        expect(nodes[k]! + nodes[K - 1 - k]!).toBe(0);
        expect(weights[k]).toBe(weights[K - 1 - k]);
        expect(Number.isFinite(logWeights[k]!)).toBe(true);
        expect(Math.abs(Math.log(weights[k]!) - logWeights[k]!)).toBeLessThanOrEqual(2 * EPS * Math.abs(logWeights[k]!));
        sum += weights[k]!;
      }
      expect(Math.abs(sum - 1)).toBeLessThan(1e-15);
    }
  });

  it('E[ξ^{2p}] = (2p−1)!! for 2p ≤ 2K−1 (and not for 2p = 2K), odd moments vanish', () => {
    let worst = 0;
    for (const K of ALL_K) {
      const { nodes, weights } = gaussHermite(K);
      for (let p = 1; 2 * p <= 2 * K; p++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += weights[k]! * nodes[k]! ** (2 * p);
        const df = doubleFactorial(2 * p - 1);
        if (2 * p <= 2 * K - 1) worst = Math.max(worst, Math.abs(s / df - 1));
        // Degree 2K is one too many: ξ^{2K} = He_K(ξ)² + (lower degree), He_K vanishes at the
        // nodes and E[He_K²] = K!, so the rule is short by exactly K!.
        else expect(Math.abs(df - s - factorial(K)) / df).toBeLessThan(1e-14);
      }
      for (let p = 0; 2 * p + 1 <= 2 * K - 1; p++) {
        let s = 0;
        let sa = 0;
        for (let k = 0; k < K; k++) {
          s += weights[k]! * nodes[k]! ** (2 * p + 1);
          sa += weights[k]! * Math.abs(nodes[k]!) ** (2 * p + 1);
        }
        expect(Math.abs(s)).toBeLessThanOrEqual(1e-15 * sa);
      }
    }
    expect(worst).toBeLessThan(1e-14);
  });

  it('nodes and log weights agree with a 320-bit reference for every K', () => {
    let worstX = 0;
    let worstLW = 0;
    for (const K of ALL_K) {
      const { nodes, logWeights } = gaussHermite(K);
      for (let k = 0; k < K; k++) {
        const ref = reference(K, nodes[k]!);
        if (ref.x !== 0) worstX = Math.max(worstX, Math.abs(nodes[k]! / ref.x - 1));
        else expect(nodes[k]).toBe(0);
        // log w is as good as its own rounding allows: an ulp or two of |log w| (≤ 112).
        const e = Math.abs(logWeights[k]! - Math.log(ref.w));
        worstLW = Math.max(worstLW, e / Math.max(1, Math.abs(logWeights[k]!)));
      }
    }
    expect(worstX).toBeLessThan(1e-15);
    expect(worstLW).toBeLessThan(4 * EPS);
  });

  it('returns copies (the cache cannot be corrupted by a caller)', () => {
    const a = gaussHermite(7);
    a.nodes[0] = 123;
    a.logWeights[0] = 0;
    const b = gaussHermite(7);
    expect(b.nodes[0]).not.toBe(123);
    expect(b.logWeights[0]).not.toBe(0);
  });
});

// Σ_k exp(ℓ(t_k) + logW_k)·g(t_k) for the adaptive rule.
function adaptiveSum(K: number, mode: number, scale: number, ell: (t: number) => number, g: (t: number) => number = () => 1) {
  const { nodes, logWeights } = adaptiveNodes(K, mode, scale);
  let s = 0;
  for (let k = 0; k < K; k++) s += Math.exp(ell(nodes[k]!) + logWeights[k]!) * g(nodes[k]!);
  return s;
}

describe('adaptiveNodes', () => {
  it('logW = log w + ξ²/2 + ½ log 2π + log scale, t = mode + scale·ξ', () => {
    const { nodes: xi, logWeights: lw } = gaussHermite(9);
    const { nodes, logWeights } = adaptiveNodes(9, 1.5, 0.25);
    for (let k = 0; k < 9; k++) {
      expect(nodes[k]).toBe(1.5 + 0.25 * xi[k]!);
      expect(logWeights[k]).toBeCloseTo(lw[k]! + 0.5 * xi[k]! ** 2 + LOG_SQRT_2PI + Math.log(0.25), 13);
    }
    expect(() => adaptiveNodes(3, 0, 0)).toThrow(/scale/);
    expect(() => adaptiveNodes(3, 0, -1)).toThrow(/scale/);
    expect(() => adaptiveNodes(3, NaN, 1)).toThrow(/mode/);
    expect(() => adaptiveNodes(0, 0, 1)).toThrow(/K must be/);
  });

  it('∫ exp(−(t−3)²/(2·0.01)) dt = 0.1·√(2π) exactly for every K with mode 3, scale 0.1', () => {
    for (const K of ALL_K) {
      const s = adaptiveSum(K, 3, 0.1, (t) => -((t - 3) ** 2) / (2 * 0.01));
      expect(Math.abs(s / (0.1 * Math.sqrt(2 * Math.PI)) - 1), `K=${K}`).toBeLessThan(1e-14);
    }
  });

  it('N(0,1) prior × Gaussian likelihood: exact marginal at the posterior mode and scale', () => {
    // ℓ(t) = log φ(t) − (y − t)²/(2τ²); posterior N(y/(1+τ²), τ²/(1+τ²));
    // ∫ e^ℓ dt = τ/√(1+τ²) · exp(−y²/(2(1+τ²))).
    for (const [y, tau] of [[0.3, 1], [-4, 0.05], [10, 3]] as const) {
      const ell = (t: number) => -0.5 * t * t - LOG_SQRT_2PI - (y - t) ** 2 / (2 * tau * tau);
      const mode = y / (1 + tau * tau);
      const scale = tau / Math.sqrt(1 + tau * tau);
      const want = scale * Math.exp(-(y * y) / (2 * (1 + tau * tau)));
      for (const K of [1, 2, 5, 20, 64]) expect(Math.abs(adaptiveSum(K, mode, scale, ell) / want - 1)).toBeLessThan(1e-14);
    }
  });

  it('property: Gaussian × polynomial of degree < 2K is integrated exactly', () => {
    // ∫ e^{−(t−μ)²/(2σ²)} t^j dt = σ√(2π)·E[(μ + σZ)^j] = σ√(2π) Σ_{i even} C(j,i) μ^{j−i} σ^i (i−1)!!
    const arb = fc
      .record({
        K: fc.integer({ min: 2, max: 40 }),
        mu: fc.double({ min: -5, max: 5, noNaN: true }),
        sigma: fc.double({ min: 0.01, max: 5, noNaN: true }),
        degFrac: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        // Subnormal coefficients would make the relative comparison meaningless: flush them.
        coef: fc.array(
          fc.double({ min: -1, max: 1, noNaN: true }).map((v) => (Math.abs(v) < 1e-100 ? 0 : v)),
          { minLength: 80, maxLength: 80 },
        ),
      })
      .map(({ K, degFrac, coef, ...r }) => ({ ...r, K, c: coef.slice(0, 1 + Math.floor(degFrac * 2 * K)) }));
    fc.assert(
      fc.property(arb, ({ K, mu, sigma, c }) => {
        const poly = (t: number) => c.reduceRight((acc, cj) => acc * t + cj, 0);
        const absPoly = (t: number) => c.reduceRight((acc, cj) => acc * Math.abs(t) + Math.abs(cj), 0);
        const ell = (t: number) => -((t - mu) ** 2) / (2 * sigma * sigma);
        const got = adaptiveSum(K, mu, sigma, ell, poly);
        let want = 0;
        for (let j = 0; j < c.length; j++) {
          let m = 0;
          let binom = 1; // C(j, i)
          for (let i = 0; i <= j; i++) {
            if (i % 2 === 0) m += binom * mu ** (j - i) * sigma ** i * doubleFactorial(i - 1);
            binom = (binom * (j - i)) / (i + 1);
          }
          want += c[j]! * m;
        }
        want *= sigma * Math.sqrt(2 * Math.PI);
        const scale = adaptiveSum(K, mu, sigma, ell, absPoly); // Σ|terms|: the cancellation level
        return Math.abs(got - want) <= 1e-13 * scale;
      }),
      { numRuns: 300 },
    );
  });
});

describe('productRule', () => {
  it('shape, ordering (last coordinate fastest) and Σ w = 1', () => {
    const { nodes: x1, logWeights: l1 } = gaussHermite(4);
    const r = productRule(4, 3);
    expect(r.nodes.length).toBe(64 * 3);
    expect(r.logWeights.length).toBe(64);
    // point (i, j, k) = row 16i + 4j + k
    const row = 16 * 2 + 4 * 1 + 3;
    expect([...r.nodes.subarray(row * 3, row * 3 + 3)]).toEqual([x1[2], x1[1], x1[3]]);
    expect(r.logWeights[row]).toBeCloseTo(l1[2]! + l1[1]! + l1[3]!, 14);
    for (const q of [1, 2, 3]) {
      let s = 0;
      for (const lw of productRule(6, q).logWeights) s += Math.exp(lw);
      expect(Math.abs(s - 1)).toBeLessThan(1e-14);
    }
    const one = productRule(5, 1);
    expect([...one.nodes]).toEqual([...gaussHermite(5).nodes]);
    for (const q of [0, 4, 1.5]) expect(() => productRule(3, q)).toThrow(/q must be/);
  });

  it('E[ξ₁²ξ₂²] = 1, E[ξ_d⁴] = 3, E[ξ₁²ξ₂²ξ₃²] = 1, E[ξ₁ξ₂] = 0 for q = 2, 3', () => {
    for (const q of [2, 3])
      for (const K of [3, 5, 10]) {
        const { nodes, logWeights } = productRule(K, q);
        const E = (g: (x: Float64Array) => number) => {
          let s = 0;
          for (let i = 0; i < logWeights.length; i++) s += Math.exp(logWeights[i]!) * g(nodes.subarray(i * q, i * q + q));
          return s;
        };
        expect(Math.abs(E((x) => x[0]! ** 2 * x[1]! ** 2) - 1)).toBeLessThan(1e-14);
        for (let d = 0; d < q; d++) expect(Math.abs(E((x) => x[d]! ** 4) - 3)).toBeLessThan(1e-14);
        expect(Math.abs(E((x) => x[0]! * x[1]!))).toBeLessThan(1e-15);
        if (q === 3) expect(Math.abs(E((x) => x[0]! ** 2 * x[1]! ** 2 * x[2]! ** 2) - 1)).toBeLessThan(1e-14);
      }
  });
});
