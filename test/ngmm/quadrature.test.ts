// Bar: adaptive Gauss–Hermite against the ODE on q = 1 (K = 25 agrees to 1e−8), against a
// brute-force nested Gauss–Kronrod on q = 2 random slopes (to 1e−6), and its gradients with
// respect to f and the random-effect design against finite differences.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family, type Family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal } from '../../ngmm/marginal/ode';
import { logMarginalQuadrature, quadratureRule } from '../../ngmm/marginal/quadrature';
import { integrateLog } from '../helpers/gaussKronrod';
import { checkVjp } from '../helpers/checkVjp';
import { all, ts } from '../helpers/backends';

function simulate(fam: Family, sizes: number[], q: number, seed: number) {
  const rng = new E.Rng(seed);
  const n = sizes.reduce((a, b) => a + b, 0);
  const f = Float64Array.from({ length: n }, () => 0.8 * rng.normal());
  const g = Float64Array.from({ length: n * q }, (_, i) => (i % q === 0 ? 0.8 : 0.5 * rng.normal()));
  const y = new Float64Array(n);
  let j = 0;
  for (const size of sizes) {
    const b = Array.from({ length: q }, () => rng.normal());
    for (let r = 0; r < size; r++, j++) {
      let eta = f[j];
      for (let d = 0; d < q; d++) eta += g[j * q + d] * b[d];
      const mu = fam.mean(eta, 1);
      y[j] = fam.name === 'poisson' ? rng.poisson(mu) : rng.uniform() < mu ? 1 : 0;
    }
  }
  return { f, g, y };
}

describe('adaptive Gauss–Hermite', () => {
  // The scales s_i = 0.3 … 1.9 grow with the group index.
  function compare(fam: Family, seed: number, K: number, groups: number[]): number[] {
    const sizes = [1, 5, 20, 50, 3];
    const { f, y } = simulate(fam, sizes, 1, seed);
    const data = groupResponse(fam, y, sizes);
    const s = Float64Array.from(sizes, (_, i) => 0.3 + 0.4 * i);
    return E.tidy(() => {
      const gCol = E.tensor(Float64Array.from(data.groupOf, (i) => s[i]), [data.nobs, 1]);
      const quad = logMarginalQuadrature(E.tensor(f), gCol, null, data, { K }).toArray();
      const ode = logMarginal(E.tensor(f), E.tensor(s), null, data, { rtol: 1e-11 }).L.toArray();
      return groups.map((i) => Math.abs(quad[i] - ode[i]) / Math.max(1, Math.abs(ode[i])));
    });
  }

  it('q = 1: 25 nodes agree with the ODE marginal to 1e−8', () => {
    E.withBackend(ts, () => {
      for (const [fam, seed] of [[family('bernoulli'), 1], [family('bernoulli', 'probit'), 3], [family('bernoulli', 'cloglog'), 6]] as const) {
        for (const e of compare(fam, seed, 25, [0, 1, 2, 3, 4])) expect(e, `${fam.name}/${fam.link}`).toBeLessThanOrEqual(1e-8);
      }
      for (const e of compare(family('poisson'), 2, 25, [0, 1, 2, 3])) expect(e, 'poisson').toBeLessThanOrEqual(1e-8);
    });
  });

  it('q = 1: where 25 nodes fall short (3 Poisson counts, s = 1.9: a skewed posterior) the rule converges to the ODE', () => {
    // Measured: GH-25 is off by 7.7e−8 here while the ODE agrees with Gauss–Kronrod to 2e−12;
    // the shortfall is the Gauss–Hermite rule's (a polynomial rule on a skewed integrand).
    E.withBackend(ts, () => {
      const [e25] = compare(family('poisson'), 2, 25, [4]);
      const [e40] = compare(family('poisson'), 2, 40, [4]);
      const [e60] = compare(family('poisson'), 2, 60, [4]);
      expect(e25).toBeGreaterThan(1e-8);
      expect(e40).toBeLessThan(e25 / 50);
      expect(e60).toBeLessThanOrEqual(1e-9);
    });
  });

  it('q = 1, non-concave families: the rule is centred at the global mode, not the one Newton from 0 reaches', () => {
    // Poisson-sqrt (found by a search over random groups): ascent from b = 0 stops at the local
    // maximum b ≈ −0.839; the global one, 15.8 nats higher, is at b ≈ −2.220, so the local mode
    // carries e^{−15.8} ≈ 1e−7 of the mass, which a rule centred at the global one may miss.
    // Gaussian-log on raw data (y 100–1000, f = 0): the mode is at b ≈ 62, beyond the start grid.
    const cases = [
      { fam: family('poisson', 'sqrt'), y: [6, 3, 9, 1], f: [-1.6212376089565042, -0.6197289834996239, 10.139088100285104, 1.060374787445994], s: 1.1173624029421403, phi: null, mode: -2.22, tol: 1e-6 },
      { fam: family('gaussian', 'log'), y: [517, 123, 880, 342, 655], f: [0, 0, 0, 0, 0], s: 0.1, phi: 1, mode: 62.2, tol: 1e-8 },
    ];
    for (const b of all) {
      E.withBackend(b, () => {
        for (const c of cases) {
          const data = groupResponse(c.fam, c.y, [c.y.length]);
          E.tidy(() => {
            const f = E.tensor(Float64Array.from(c.f)), g = E.tensor(new Float64Array(c.y.length).fill(c.s), [c.y.length, 1]);
            const phi = c.phi === null ? null : E.tensor([c.phi], []);
            const { nodes } = quadratureRule(f, g, phi, data, { K: 25 });
            const quad = logMarginalQuadrature(f, g, phi, data, { K: 25 }).item();
            const { L, stats } = logMarginal(f, E.tensor([c.s]), phi, data, { rtol: 1e-11 });
            const ode = L.item();
            const tag = `${b.name} ${c.fam.name}/${c.fam.link}`;
            // The middle node is the rule's centre: the ODE's mode (its own search) to Newton's accuracy.
            expect(nodes[12], `${tag}: the rule's centre`).toBeCloseTo(c.mode, 1);
            expect(Math.abs(nodes[12] - stats.mode[0]), `${tag}: centre vs the ODE's mode`).toBeLessThanOrEqual(1e-8 * (1 + Math.abs(stats.mode[0])));
            expect(Math.abs(quad - ode) / Math.max(1, Math.abs(ode)), tag).toBeLessThanOrEqual(c.tol);
          });
        }
      });
    }
  });

  it('q = 2 random slopes: agrees with a brute-force 2-D Gauss–Kronrod to 1e−6', () => {
    E.withBackend(ts, () => {
      for (const [fam, seed] of [[family('bernoulli'), 4], [family('poisson'), 5]] as const) {
        const sizes = [8, 15];
        const { f, g, y } = simulate(fam, sizes, 2, seed);
        const data = groupResponse(fam, y, sizes);
        const quad = E.tidy(() => logMarginalQuadrature(E.tensor(f), E.tensor(g, [data.nobs, 2]), null, data, { K: 15 }).toArray());
        for (let i = 0; i < sizes.length; i++) {
          const lo = data.offsets[i], hi = data.offsets[i + 1];
          const ell = (b1: number, b2: number) => {
            let v = -0.5 * (b1 * b1 + b2 * b2) - Math.log(2 * Math.PI);
            for (let j = lo; j < hi; j++) v += fam.logLik(y[j], f[j] + g[2 * j] * b1 + g[2 * j + 1] * b2, 1, 1);
            return v;
          };
          // Prior mass outside the box [−10, 10]² is below e^{−50}.
          const outer = integrateLog((b1) => integrateLog((b2) => ell(b1, b2), -10, 10, { tol: 1e-11 }).logValue, -10, 10, { tol: 1e-10 });
          expect(Math.abs(quad[i] - outer.logValue) / Math.max(1, Math.abs(outer.logValue)), `${fam.name} group ${i}`).toBeLessThanOrEqual(1e-6);
        }
      }
    });
  });

  it('Gaussian random slopes: value against the closed form and the σ gradient against finite differences', () => {
    E.withBackend(ts, () => {
      const rng = new E.Rng(21);
      const sizes = [4, 7];
      const n = 11;
      const f = Float64Array.from({ length: n }, () => rng.normal());
      const g = Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 0.7 : 0.4 * rng.normal()));
      const y = Float64Array.from({ length: n }, () => rng.normal());
      const data = groupResponse(family('gaussian'), y, sizes);
      const sig = 0.9;
      const L = E.tidy(() => logMarginalQuadrature(E.tensor(f), E.tensor(g, [n, 2]), E.tensor([sig], []), data, { K: 12 }).toArray());
      // Closed form: y_i ~ N(f_i, σ²I + G_i G_iᵀ), by Cholesky of the small covariance.
      for (let i = 0; i < sizes.length; i++) {
        const lo = data.offsets[i], m = sizes[i];
        const V = Array.from({ length: m }, (_, a) => Array.from({ length: m }, (_, b) =>
          (a === b ? sig * sig : 0) + g[2 * (lo + a)] * g[2 * (lo + b)] + g[2 * (lo + a) + 1] * g[2 * (lo + b) + 1]));
        const C = V.map((r) => r.map(() => 0));
        for (let a = 0; a < m; a++) {
          for (let b = 0; b <= a; b++) {
            let sum = V[a][b];
            for (let k = 0; k < b; k++) sum -= C[a][k] * C[b][k];
            C[a][b] = a === b ? Math.sqrt(sum) : sum / C[b][b];
          }
        }
        const z = new Array(m).fill(0);
        let quad = 0, logdet = 0;
        for (let a = 0; a < m; a++) {
          let sum = y[lo + a] - f[lo + a];
          for (let k = 0; k < a; k++) sum -= C[a][k] * z[k];
          z[a] = sum / C[a][a];
          quad += z[a] * z[a];
          logdet += 2 * Math.log(C[a][a]);
        }
        const exact = -0.5 * (m * Math.log(2 * Math.PI) + logdet + quad);
        expect(Math.abs(L[i] - exact)).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(exact)));
      }
      const r = checkVjp((s) => E.sum(logMarginalQuadrature(E.tensor(f), E.tensor(g, [n, 2]), s, data, { K: 7, adaptive: false })),
        [{ values: Float64Array.of(sig), shape: [] }]);
      if (!(r.worst <= 1e-6)) throw new Error(r.details);
    });
  });

  // With fixed nodes (plain Gauss–Hermite) the VJP is the exact derivative of the rule.
  // With adaptive nodes the centre and scale are recomputed from the perturbed inputs under
  // finite differences but held fixed by reverse mode (docs/marginal.md §8): the two agree only to the
  // rule's own accuracy, so that check uses enough nodes for it to be negligible.
  it.each([
    ['plain Gauss–Hermite, 7 nodes', false, 7],
    ['adaptive, 20 nodes per dimension', true, 20],
  ] as const)('gradients with respect to f and the design g match finite differences: %s', (_label, adaptive, K) => {
    E.withBackend(ts, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 2 }), (seed, q) => {
          const fam = family('bernoulli');
          const sizes = [3, 6];
          const { f, g, y } = simulate(fam, sizes, q, seed);
          const data = groupResponse(fam, y, sizes);
          const r = checkVjp((ft, gt) => E.sum(logMarginalQuadrature(ft, gt, null, data, { K, adaptive })), [
            { values: f, shape: [data.nobs] },
            { values: g, shape: [data.nobs, q] },
          ]);
          if (!(r.worst <= 1e-6)) throw new Error(r.details);
        }),
        { numRuns: 10, seed: 3 },
      );
    });
  });
});
