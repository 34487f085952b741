// Bar (issue 13, bar 2): the nested marginal L_a = log ∫ φ(u) Π_b ∫ φ(v) Π_j p(y | f + s_a·u + s_b·v)
// dv du against a brute-force nested integration written here (a trapezoid rule on the real
// line at both levels, plain numbers, only the family's logLik), within 1e−6 relative, for
// binomial (Bernoulli and with trials), Poisson, negative binomial and Gaussian; the Gaussian
// also against its closed form, a multivariate normal density. Gradients (f, s_a, s_b, ϕ) against
// central differences of the same function; extreme outer SDs and a saturated Bernoulli group.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family, type Family } from '../../ngmm/families/index';
import { logMarginalNested, nestedInnerIndex, nestedResponse, type NestedResponse } from '../../ngmm/marginal/nested';
import { all } from '../helpers/backends';
import { cholesky, lsolve } from '../helpers/dense';
import { negbinDraw } from '../helpers/sample';

const HALF_LN_2PI = 0.9189385332046728;

/**
 * log ∫ e^{g(t)} dt over ℝ for a unimodal g: the maximum bracketed by doubling steps from 0 and
 * refined by golden section, σ = (−g'')^{−1/2} there by a second difference, then the trapezoid
 * rule with step σ/10 walked out from the maximum until g has fallen 50 below it on both sides.
 * On the whole line the trapezoid rule's error for an integrand analytic in a strip |Im t| < d
 * falls like e^{−2πd/h} (Trefethen & Weideman, SIAM Review 56, 2014, §5): for a Gaussian of SD σ
 * at h = σ/10 that is e^{−2π²·100}, and the integrands here (logistic, exp and Gaussian
 * likelihoods times φ) are analytic in strips of width comparable to their own SD. What is left
 * beyond the last point is below e^{−50} of the peak. (Checked once while writing: halving the
 * step moved no result by more than 1e−15 relative on the designs of the first test.)
 */
function logIntegral(g: (t: number) => number, step = 0.1): number {
  let a = -0.5, m = 0, c = 0.5;
  let ga = g(a), gm = g(m), gc = g(c);
  for (let i = 0; i < 200 && !(gm >= ga && gm >= gc); i++) {
    if (ga > gm) {
      [c, gc, m, gm] = [m, gm, a, ga];
      a = m - 2 * (c - m);
      ga = g(a);
    } else {
      [a, ga, m, gm] = [m, gm, c, gc];
      c = m + 2 * (m - a);
      gc = g(c);
    }
  }
  const R = 0.6180339887498949;
  let x1 = c - R * (c - a), x2 = a + R * (c - a), g1 = g(x1), g2 = g(x2);
  for (let i = 0; i < 60; i++) {
    if (g1 > g2) {
      c = x2;
      [x2, g2] = [x1, g1];
      x1 = c - R * (c - a);
      g1 = g(x1);
    } else {
      a = x1;
      [x1, g1] = [x2, g2];
      x2 = a + R * (c - a);
      g2 = g(x2);
    }
  }
  const t0 = 0.5 * (a + c), g0 = g(t0), e = 1e-3;
  const curv = (g(t0 + e) - 2 * g0 + g(t0 - e)) / (e * e);
  const sd = curv < 0 ? Math.min(1, 1 / Math.sqrt(-curv)) : 1;
  const h = sd * step;
  let s = 1;
  for (const dir of [-1, 1]) {
    for (let i = 1; ; i++) {
      const v = g(t0 + dir * i * h) - g0;
      if (!(v >= -50)) break;
      s += Math.exp(v);
    }
  }
  return g0 + Math.log(h * s);
}

interface Design {
  fam: Family;
  y: Float64Array;
  m: Float64Array | undefined;
  f: Float64Array;
  innerSizes: number[];
  outerSizes: number[];
  sa: number;
  sb: number;
  phi: number;
}

/** The brute-force L_a per outer group: both integrals by `logIntegral`, the densities by `fam.logLik`. */
function bruteForce(d: Design, step = 0.1): number[] {
  const out: number[] = [];
  let b = 0, row = 0;
  for (const nb of d.outerSizes) {
    const groups: [number, number][] = [];
    for (let k = 0; k < nb; k++, b++) {
      groups.push([row, row + d.innerSizes[b]]);
      row += d.innerSizes[b];
    }
    const inner = (u: number, [j0, j1]: [number, number]) =>
      logIntegral((v) => {
        let s = -0.5 * v * v - HALF_LN_2PI;
        for (let j = j0; j < j1; j++) s += d.fam.logLik(d.y[j], d.f[j] + d.sa * u + d.sb * v, d.phi, d.m ? d.m[j] : 1);
        return s;
      }, step);
    out.push(logIntegral((u) => {
      let s = -0.5 * u * u - HALF_LN_2PI;
      for (const g of groups) s += inner(u, g);
      return s;
    }, step));
  }
  return out;
}

/** The Gaussian's exact L_a: log N(y_a; f_a, σ²I + s_a²·11ᵀ + s_b²·ZZᵀ), by a dense Cholesky. */
function gaussianExact(d: Design): number[] {
  const out: number[] = [];
  let b = 0, row = 0;
  for (const nb of d.outerSizes) {
    const inner: number[] = [];
    const start = row;
    for (let k = 0; k < nb; k++, b++) for (let i = 0; i < d.innerSizes[b]; i++, row++) inner.push(b);
    const n = inner.length;
    const V = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        V[i * n + j] = d.sa * d.sa + (inner[i] === inner[j] ? d.sb * d.sb : 0) + (i === j ? d.phi * d.phi : 0);
      }
    }
    const L = cholesky(V, n);
    const r = Float64Array.from({ length: n }, (_, i) => d.y[start + i] - d.f[start + i]);
    const z = lsolve(L, n, r);
    let logDet = 0, q = 0;
    for (let i = 0; i < n; i++) {
      logDet += Math.log(L[i * n + i]);
      q += z[i] * z[i];
    }
    out.push(-n * HALF_LN_2PI - logDet - 0.5 * q);
  }
  return out;
}

type Kind = 'bernoulli' | 'binomial' | 'poisson' | 'negbinomial' | 'gaussian';

// A random design: 2–4 outer groups of 1–4 inner groups of 1–6 rows; the first inner group has
// one row and the last outer group one inner group, so both edge cases are in every design.
function draw(kind: Kind, seed: number, over: Partial<Design> = {}): Design {
  const rng = new E.Rng(seed);
  const fam = family(kind);
  const A = 2 + rng.int(3);
  const outerSizes = Array.from({ length: A }, (_, a) => (a === A - 1 ? 1 : 1 + rng.int(4)));
  const nInner = outerSizes.reduce((s, v) => s + v, 0);
  const innerSizes = Array.from({ length: nInner }, (_, b) => (b === 0 ? 1 : 1 + rng.int(6)));
  const n = innerSizes.reduce((s, v) => s + v, 0);
  const sa = over.sa ?? 0.3 + 1.2 * rng.uniform(), sb = over.sb ?? 0.3 + 1.2 * rng.uniform();
  const phi = kind === 'gaussian' ? 0.5 + rng.uniform() : kind === 'negbinomial' ? 1 + 3 * rng.uniform() : 1;
  const f = Float64Array.from({ length: n }, () => 0.5 * rng.normal() + (kind === 'poisson' || kind === 'negbinomial' ? 0.8 : 0));
  const m = kind === 'binomial' ? Float64Array.from({ length: n }, () => 1 + rng.int(8)) : undefined;
  const eta = new Float64Array(n);
  let row = 0, b = 0;
  for (const nb of outerSizes) {
    const u = rng.normal();
    for (let k = 0; k < nb; k++, b++) {
      const v = rng.normal();
      for (let i = 0; i < innerSizes[b]; i++, row++) eta[row] = f[row] + sa * u + sb * v;
    }
  }
  const y = Float64Array.from(eta, (e, j) => {
    const mu = fam.mean(e, 1);
    switch (kind) {
      case 'bernoulli': return rng.uniform() < mu ? 1 : 0;
      case 'binomial': {
        let c = 0;
        for (let t = 0; t < m![j]; t++) if (rng.uniform() < mu) c++;
        return c;
      }
      case 'poisson': return rng.poisson(mu);
      case 'negbinomial': return negbinDraw(rng, phi, mu);
      default: return mu + phi * rng.normal();
    }
  });
  return { fam, y, m, f, innerSizes, outerSizes, sa, sb, phi, ...over };
}

function dataOf(d: Design): NestedResponse {
  return nestedResponse(d.fam, d.y, d.innerSizes, d.outerSizes, d.m);
}

// L [nOuter] and, with `w`, the gradients of Σ_a w_a·L_a.
function solve(d: Design, data: NestedResponse, rtol = 1e-10, w?: number[]) {
  return E.tidy(() => {
    const ft = E.tensor(d.f), sa = E.tensor([d.sa], []), sb = E.tensor([d.sb], []), pt = E.tensor([d.phi], []);
    ft.requiresGrad = sa.requiresGrad = sb.requiresGrad = pt.requiresGrad = true;
    const { L, rule } = logMarginalNested(ft, sa, sb, d.fam.hasDispersion ? pt : null, data, { rtol });
    const Lv = Array.from(L.toArray());
    if (!w) return { L: Lv, rule };
    const [gf, gsa, gsb, gp] = E.grad(E.sum(E.mul(L, E.tensor(w))), [ft, sa, sb, pt]);
    return { L: Lv, rule, gf: gf.toArray(), gsa: gsa.item(), gsb: gsb.item(), gphi: gp.item() };
  });
}

const relErr = (got: number, want: number) => Math.abs(got - want) / Math.max(1, Math.abs(want));

const KINDS: Kind[] = ['bernoulli', 'binomial', 'poisson', 'negbinomial', 'gaussian'];

describe('nested marginal against a brute-force nested integration', () => {
  it.each(KINDS)('%s: L_a within 1e−6 relative on random designs', (kind) => {
    for (let seed = 1; seed <= 4; seed++) {
      const d = draw(kind, seed * 7 + KINDS.indexOf(kind));
      const want = bruteForce(d);
      const got = solve(d, dataOf(d)).L;
      expect(got.length).toBe(d.outerSizes.length);
      got.forEach((v, a) => {
        expect(relErr(v, want[a]), `${kind} seed ${seed} outer ${a}: ${v} vs ${want[a]}`).toBeLessThanOrEqual(1e-6);
      });
      if (kind === 'gaussian') {
        // The closed form checks the brute force as much as the code under test.
        gaussianExact(d).forEach((exact, a) => {
          expect(relErr(want[a], exact), `brute force vs closed form, outer ${a}`).toBeLessThanOrEqual(1e-10);
          expect(relErr(got[a], exact), `closed form, seed ${seed} outer ${a}`).toBeLessThanOrEqual(1e-8);
        });
      }
    }
  });

  it.each([
    ['large outer SD, Poisson', 'poisson', { sa: 3 }],
    ['large outer SD, Bernoulli', 'bernoulli', { sa: 3, sb: 1.5 }],
    ['tiny outer SD, Poisson', 'poisson', { sa: 1e-4 }],
    ['tiny outer SD, negative binomial', 'negbinomial', { sa: 1e-4 }],
    ['large outer SD, Gaussian', 'gaussian', { sa: 3 }],
  ] as [string, Kind, Partial<Design>][])('%s', (_name, kind, over) => {
    for (const seed of [3, 4]) {
      const d = draw(kind, seed, over);
      const want = kind === 'gaussian' ? gaussianExact(d) : bruteForce(d);
      const got = solve(d, dataOf(d)).L;
      got.forEach((v, a) => expect(relErr(v, want[a]), `seed ${seed} outer ${a}: ${v} vs ${want[a]}`).toBeLessThanOrEqual(1e-6));
    }
  });

  it('the outer rule converges in K: a skewed outer posterior (Poisson, s_a = 3) needs more than 25 nodes for 1e−8', () => {
    // Measured on this design: 6.5e−7 at K = 25, 1.5e−9 at K = 40 (docs/nested.md has the table).
    const d = draw('poisson', 3, { sa: 3 });
    const want = bruteForce(d), data = dataOf(d);
    const err = (nodes: number) => E.tidy(() => {
      const { L } = logMarginalNested(E.tensor(d.f), E.tensor([d.sa], []), E.tensor([d.sb], []), null, data, { nodes, rtol: 1e-12 });
      return Math.max(...Array.from(L.toArray(), (v, a) => relErr(v, want[a])));
    });
    const e25 = err(25), e40 = err(40);
    expect(e25).toBeLessThanOrEqual(1e-6);
    expect(e25).toBeGreaterThan(1e-8);
    expect(e40).toBeLessThanOrEqual(1e-8);
  });

  it('a saturated Bernoulli outer group (every y = 1), at s_a = 3 and at s_a = 1e−4', () => {
    for (const sa of [3, 1e-4, 0.8]) {
      const d = draw('bernoulli', 11, { sa, sb: 2 });
      let row = 0;
      // The first outer group all successes, the second all failures.
      for (let b = 0; b < d.outerSizes[0] + d.outerSizes[1]; b++) {
        for (let i = 0; i < d.innerSizes[b]; i++, row++) d.y[row] = b < d.outerSizes[0] ? 1 : 0;
      }
      const want = bruteForce(d);
      const { L, rule } = solve(d, dataOf(d));
      L.forEach((v, a) => expect(relErr(v, want[a]), `s_a ${sa} outer ${a}: ${v} vs ${want[a]}`).toBeLessThanOrEqual(1e-6));
      // The outer posterior leans towards the data: up for the successes, down for the failures.
      if (sa > 0.5) {
        expect(rule.mode[0]).toBeGreaterThan(0);
        expect(rule.mode[1]).toBeLessThan(0);
      }
    }
  });
});

describe('the warm start of the outer mode search', () => {
  // A call starts its mode search at the previous call's modes (data.warm). Where it starts
  // must not matter beyond the search's tolerance: the mode is located to ~1e−7 σ̂ either way,
  // and the rule centred there integrates the same function, so L moves only at the inner
  // ODE's noise (rtol 1e−10 per inner group; 1e−9 relative allows for a few groups' sum).
  it.each(KINDS)('%s: the same L and modes from a cold start, a nearby start and a far-off one', (kind) => {
    for (const seed of [2, 5]) {
      const d = draw(kind, seed);
      const cold = solve(d, dataOf(d));
      const nearby = dataOf(d);
      solve({ ...d, sa: 1.3 * d.sa, f: d.f.map((v) => v + 0.2) }, nearby);
      expect(nearby.warm).not.toBeNull();
      const A = d.outerSizes.length;
      const far = dataOf(d);
      far.warm = { mode: Float64Array.from({ length: A }, (_, a) => (a % 2 ? 40 : -40)), curv: Float64Array.from({ length: A }, (_, a) => (a % 2 ? -1e6 : -1)) };
      for (const data of [nearby, far]) {
        const got = solve(d, data);
        got.L.forEach((v, a) => expect(relErr(v, cold.L[a]), `seed ${seed} outer ${a}`).toBeLessThanOrEqual(1e-9));
        got.rule.mode.forEach((v, a) => expect(Math.abs(v - cold.rule.mode[a])).toBeLessThanOrEqual(1e-5 * cold.rule.sd[a]));
        // The next call starts where this one ended.
        expect(Array.from(data.warm!.mode)).toEqual(Array.from(got.rule.mode));
      }
    }
  });
});

describe('gradients against central differences', () => {
  // Central differences with h = 1e−4·max(1, |x|) of the same function at rtol 1e−12: the
  // truncation h²·|L'''|/6 is ~1e−9, and the solver's error, which need not be smooth in the
  // parameters (its step sequence changes), is rtol·Σ|L_b| ≈ 1e−11 per group, 1e−7 once divided by
  // h. The tape's gradient holds the nodes fixed, so it differs from the derivative of the computed
  // L by the derivative of the 25-node rule's error, far below that. Hence 2e−6·max(1, |FD|).
  it.each(KINDS)('%s: f (a random direction and single rows), s_a, s_b, ϕ', (kind) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
        const d = draw(kind, seed);
        const data = dataOf(d);
        const rng = new E.Rng(seed + 1);
        const w = d.outerSizes.map(() => 0.5 + rng.uniform());
        const got = solve(d, data, 1e-12, w);
        const loss = (dd: Design) => solve(dd, data, 1e-12).L.reduce((s, v, a) => s + w[a] * v, 0);
        const fd = (set: (h: number) => Design, x: number) => {
          const h = 1e-4 * Math.max(1, Math.abs(x));
          return (loss(set(h)) - loss(set(-h))) / (2 * h);
        };
        const check = (name: string, tape: number, want: number) =>
          expect(Math.abs(tape - want), `${kind} seed ${seed} ${name}: tape ${tape} vs FD ${want}`).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(want)));
        check('∂/∂s_a', got.gsa!, fd((h) => ({ ...d, sa: d.sa + h }), d.sa));
        check('∂/∂s_b', got.gsb!, fd((h) => ({ ...d, sb: d.sb + h }), d.sb));
        if (d.fam.hasDispersion) check('∂/∂ϕ', got.gphi!, fd((h) => ({ ...d, phi: d.phi + h }), d.phi));
        const r = Float64Array.from(d.f, () => rng.normal());
        const dir = got.gf!.reduce((s, g, j) => s + g * r[j], 0);
        check('⟨∂/∂f, r⟩', dir, fd((h) => ({ ...d, f: d.f.map((v, j) => v + h * r[j]) }), 0));
        for (const j of [0, d.f.length - 1]) {
          check(`∂/∂f_${j}`, got.gf![j], fd((h) => ({ ...d, f: d.f.map((v, k) => (k === j ? v + h : v)) }), d.f[j]));
        }
      }),
      { numRuns: 2, seed: 2026 + KINDS.indexOf(kind) },
    );
  });
});

describe('the posterior summaries returned for prediction', () => {
  it('normalised outer weights, and E[u | y] against the brute force', () => {
    const d = draw('poisson', 5);
    const data = dataOf(d);
    const { rule } = solve(d, data);
    const K = rule.K;
    for (let a = 0; a < d.outerSizes.length; a++) {
      let total = 0, mean = 0;
      for (let k = 0; k < K; k++) {
        const p = Math.exp(rule.logPost[a * K + k]);
        total += p;
        mean += p * rule.nodes[a * K + k];
      }
      expect(Math.abs(total - 1)).toBeLessThanOrEqual(1e-12);
      // E[u | y] = ∫ u·e^{H(u)} du / e^{L_a}: the brute force on u ↦ H(u) + log(u + 10) (u > −10
      // holds for all the mass), minus L_a, minus the shift.
      const shifted = { ...d, outerSizes: [d.outerSizes[a]] };
      const b0 = d.outerSizes.slice(0, a).reduce((s, v) => s + v, 0);
      const r0 = d.innerSizes.slice(0, b0).reduce((s, v) => s + v, 0);
      const sub: Design = {
        ...shifted,
        innerSizes: d.innerSizes.slice(b0, b0 + d.outerSizes[a]),
        y: d.y.slice(r0),
        f: d.f.slice(r0),
      };
      const La = bruteForce(sub)[0];
      const m1 = bruteForceMoment(sub);
      expect(Math.abs(mean - (Math.exp(m1 - La) - 10)), `E[u | y], outer ${a}`).toBeLessThanOrEqual(1e-7);
    }
    // The inner summaries: mode and SD of v for every inner group at every outer node.
    expect(rule.innerMode.length).toBe(K * d.innerSizes.length);
    for (let b = 0; b < d.innerSizes.length; b++) {
      for (const k of [0, K >> 1, K - 1]) {
        const i = nestedInnerIndex(data, K, b, k);
        expect(Number.isFinite(rule.innerMode[i]) && rule.innerSd[i] > 0 && rule.innerSd[i] <= 1).toBe(true);
      }
    }
  });
});

// log ∫ (u + 10)·e^{H(u)} du for a one-outer-group design, by the same brute force.
function bruteForceMoment(d: Design): number {
  const groups: [number, number][] = [];
  let row = 0;
  for (const nb of d.innerSizes) {
    groups.push([row, row + nb]);
    row += nb;
  }
  return logIntegral((u) => {
    let s = -0.5 * u * u - HALF_LN_2PI + Math.log(u + 10);
    for (const [j0, j1] of groups) {
      s += logIntegral((v) => {
        let t = -0.5 * v * v - HALF_LN_2PI;
        for (let j = j0; j < j1; j++) t += d.fam.logLik(d.y[j], d.f[j] + d.sa * u + d.sb * v, d.phi, d.m ? d.m[j] : 1);
        return t;
      });
    }
    return s;
  });
}

describe('backends agree', () => {
  it.each(all)('$name gives the same L', (backend) => {
    const d = draw('negbinomial', 9);
    const want = bruteForce(d);
    E.withBackend(backend, () => {
      const got = solve(d, dataOf(d)).L;
      got.forEach((v, a) => expect(relErr(v, want[a])).toBeLessThanOrEqual(1e-6));
    });
  });
});

describe('bad input', () => {
  const pois = family('poisson');
  it('nestedResponse names the outer group, the count, or the inner group', () => {
    expect(() => nestedResponse(pois, [1, 2, 3], [1, 2], [0, 2])).toThrow(/^nestedResponse: outer group 0 has 0 inner groups: every outer group needs at least one$/);
    expect(() => nestedResponse(pois, [1, 2, 3], [1, 2], [1, 1.5])).toThrow(/^nestedResponse: outer group 1 has 1.5 inner groups/);
    expect(() => nestedResponse(pois, [1, 2, 3], [1, 2], [1, 2])).toThrow(/^nestedResponse: the outer groups hold 3 inner groups but innerSizes gives 2$/);
    expect(() => nestedResponse(pois, [1, 2, 3], [1, 0, 2], [2, 1])).toThrow(/^nestedResponse: inner group 1 has 0 observations: every group needs at least one$/);
    expect(() => nestedResponse(pois, [1, -2, 3], [1, 2], [1, 1])).toThrow(/^nestedResponse: observation 1: /);
    expect(() => nestedResponse(pois, [1, 2, 3], [1, 2], [])).toThrow(/^nestedResponse: no outer groups/);
  });
  it('logMarginalNested names the option, the tensor or the family', () => {
    const data = nestedResponse(pois, [1, 2, 3], [1, 2], [1, 1]);
    E.tidy(() => {
      const f = E.tensor([0, 0, 0]), s = E.tensor([1], []);
      expect(() => logMarginalNested(f, s, s, null, data, { nodes: 0 })).toThrow(/^logMarginalNested: option nodes = 0: a whole number of nodes in 1\.\.64$/);
      expect(() => logMarginalNested(f, s, s, null, data, { rtol: 2 })).toThrow(/^logMarginalNested: option rtol = 2/);
      expect(() => logMarginalNested(E.tensor([0, 0]), s, s, null, data)).toThrow(/^logMarginalNested: 2 fixed-effect outputs for 3 observations$/);
      expect(() => logMarginalNested(f, E.tensor([1, 2]), s, null, data)).toThrow(/^logMarginalNested: sOuter must have one element, got shape \[2\]$/);
      expect(() => logMarginalNested(f, s, E.tensor([NaN], []), null, data)).toThrow(/^logMarginalNested: sInner = NaN: a finite standard deviation$/);
      const g = nestedResponse(family('gaussian'), [1, 2, 3], [1, 2], [1, 1]);
      expect(() => logMarginalNested(f, s, s, null, g)).toThrow(/^logMarginalNested: the gaussian family needs a dispersion ϕ$/);
      const glog = nestedResponse(family('gaussian', 'log'), [1, 2, 3], [1, 2], [1, 1]);
      expect(() => logMarginalNested(f, s, s, s, glog)).toThrow(/^logMarginalNested: the gaussian\/log likelihood is not log-concave/);
      expect(() => E.noGrad(() => logMarginalNested(f, s, s, null, data))).toThrow(/cannot run inside noGrad/);
    });
  });
});
