// Bar: prior weights (lme4's `weights`, carried in the m slot). For the families whose weighted
// log-density is the row's counted w times (Poisson, Bernoulli as y·w successes in w trials,
// negative binomial, Gamma), a group with integer weights has exactly the marginal, and the
// gradients, of the same group with each row replicated w times (w = 0: the row left out):
// checked on the ODE path of every backend and on the Gauss–Hermite path. For non-integer
// weights (and the Gaussian, whose weight divides the variance, so no replication matches it),
// against an independent Gauss–Kronrod integral of the weighted log-density written here from
// the formulas (not through the family code); gradients, the dispersion's included, against
// central finite differences of the marginal itself.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family, type Family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal } from '../../ngmm/marginal/ode';
import { logMarginalQuadrature } from '../../ngmm/marginal/quadrature';
import { lgamma } from '../../kernels/reference/special';
import { integrateLog } from '../helpers/gaussKronrod';
import { all, ts } from '../helpers/backends';
import { gammaDraw, negbinDraw } from '../helpers/sample';

const HALF_LN_2PI = 0.9189385332046728;

interface Group {
  fam: Family;
  y: Float64Array;
  w: Float64Array;
  f: Float64Array;
  s: number;
  phi: number;
}

function draw(fam: Family, n: number, seed: number, integer: boolean): Group {
  const rng = new E.Rng(seed);
  const b = rng.normal(), s = 0.4 + rng.uniform(), phi = 0.8 + 2 * rng.uniform();
  const f = Float64Array.from({ length: n }, () => 0.5 * rng.normal() + (fam.name === 'gamma' ? 1 : 0.3));
  const y = Float64Array.from(f, (fj) => {
    const mu = fam.mean(fj + s * b, 1);
    switch (fam.name) {
      case 'poisson': return rng.poisson(mu);
      case 'bernoulli': return rng.uniform() < mu ? 1 : 0;
      case 'negbinomial': return negbinDraw(rng, phi, mu);
      case 'gamma': return gammaDraw(rng, phi, mu);
      default: return mu + phi * rng.normal();
    }
  });
  const w = Float64Array.from({ length: n }, () => (integer ? rng.int(4) : 3 * rng.uniform()));
  return { fam, y, w, f, s, phi };
}

function replicate(g: Group): Group {
  const y: number[] = [], f: number[] = [];
  g.w.forEach((w, j) => {
    for (let k = 0; k < w; k++) {
      y.push(g.y[j]);
      f.push(g.f[j]);
    }
  });
  return { ...g, y: Float64Array.from(y), f: Float64Array.from(f), w: new Float64Array(y.length).fill(1) };
}

// L, ∂L/∂f, ∂L/∂s, ∂L/∂ϕ by the ODE (with weights, or none) or by 25-node adaptive GH.
function solve(g: Group, weighted: boolean, path: 'ode' | 'gh', rtol = 1e-11) {
  const data = groupResponse(g.fam, g.y, [g.y.length], weighted ? g.w : undefined);
  return E.tidy(() => {
    const ft = E.tensor(g.f), st = E.tensor([g.s]), pt = E.tensor([g.phi], []);
    ft.requiresGrad = st.requiresGrad = pt.requiresGrad = true;
    const phi = g.fam.hasDispersion ? pt : null;
    const L = path === 'ode'
      ? logMarginal(ft, st, phi, data, { rtol }).L
      : logMarginalQuadrature(ft, E.reshape(E.mul(E.tensor(new Float64Array(g.y.length).fill(1)), st), [g.y.length, 1]), phi, data, { K: 25 });
    const [gf, gs, gp] = E.grad(E.sum(L), [ft, st, pt]);
    return { L: L.item(), gf: gf.toArray(), gs: gs.item(), gphi: gp.item() };
  });
}

const REPLICABLE: [string, Family][] = [
  ['poisson', family('poisson')],
  ['bernoulli/logit', family('bernoulli')],
  ['bernoulli/probit', family('bernoulli', 'probit')],
  ['negbinomial', family('negbinomial')],
  ['gamma', family('gamma')],
];

describe.each(all)('integer weights equal replicated rows on $name', (backend) => {
  it.each(REPLICABLE)('%s', (_name, fam) => {
    E.withBackend(backend, () => {
      for (let seed = 1; seed <= 6; seed++) {
        const g = draw(fam, 2 + seed * 3, seed, true);
        const rep = replicate(g);
        for (const path of backend === ts ? (['ode', 'gh'] as const) : (['ode'] as const)) {
          const a = solve(g, true, path), b = solve(rep, false, path);
          const tag = `${fam.name}/${fam.link} seed ${seed} ${path}`;
          // Both solves are accurate to rtol 1e−11 (ODE) or share GH's nodes (the weighted and
          // the replicated ℓ are the same function): 1e−9 bounds either's error.
          expect(Math.abs(a.L - b.L), `L ${tag}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b.L)));
          expect(Math.abs(a.gs - b.gs), `∂L/∂s ${tag}`).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(b.gs)));
          if (fam.hasDispersion) expect(Math.abs(a.gphi - b.gphi), `∂L/∂ϕ ${tag}`).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(b.gphi)));
          // Row j's gradient is the sum over its replicates (0 for weight 0).
          let k = 0;
          g.w.forEach((w, j) => {
            let sum = 0;
            for (let r = 0; r < w; r++) sum += b.gf[k++];
            expect(Math.abs(a.gf[j] - sum), `∂L/∂f_${j} ${tag}`).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(sum)));
          });
        }
      }
    });
  });
});

// The weighted log-density, written from the textbook densities (not obs.ts's rearrangements).
function logDensity(name: string, y: number, eta: number, phi: number, w: number): number {
  if (w === 0) return 0;
  const mu = Math.exp(eta);
  switch (name) {
    case 'gaussian': // N(η, σ²/w)
      return -HALF_LN_2PI - Math.log(phi) + 0.5 * Math.log(w) - (w * (y - eta) ** 2) / (2 * phi * phi);
    case 'poisson':
      return w * (y * eta - mu - lgamma(y + 1));
    case 'negbinomial':
      if (mu === Infinity) return -Infinity;
      return w * (lgamma(y + phi) - lgamma(phi) - lgamma(y + 1) + phi * Math.log(phi / (phi + mu)) + (y > 0 ? y * Math.log(mu / (phi + mu)) : 0));
    default: // gamma, shape phi (no density left where μ under- or overflows)
      if (!(mu > 0 && mu < Infinity)) return -Infinity;
      return w * (phi * Math.log(phi / mu) + (phi - 1) * Math.log(y) - (phi * y) / mu - lgamma(phi));
  }
}

describe.each(all)('non-integer weights on $name', (backend) => {
  it.each([['gaussian', family('gaussian')], ['poisson', family('poisson')], ['negbinomial', family('negbinomial')], ['gamma', family('gamma')]] as const)(
    '%s: the marginal equals Gauss–Kronrod, gradients central differences',
    (name, fam) => {
      E.withBackend(backend, () => {
        for (let seed = 11; seed <= 14; seed++) {
          const g = draw(fam, 3 + seed, seed, false);
          g.w[0] = 0; // a zero weight among them
          const logf = (t: number) => {
            let a = -0.5 * t * t - HALF_LN_2PI;
            for (let j = 0; j < g.y.length; j++) a += logDensity(name, g.y[j], g.f[j] + g.s * t, g.phi, g.w[j]);
            return a;
          };
          const want = integrateLog(logf, -Infinity, Infinity, { tol: 1e-13 }).logValue;
          const got = solve(g, true, 'ode', 1e-12);
          const tag = `${name} seed ${seed}`;
          expect(Math.abs(got.L - want), `L ${tag}`).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(want)));
          if (backend === ts) {
            const gh = solve(g, true, 'gh');
            expect(Math.abs(gh.L - want), `GH L ${tag}`).toBeLessThanOrEqual(1e-7 * Math.max(1, Math.abs(want)));
          }
          // Central differences with h = 1e−4 (relative): truncation ~h²·L''' ≈ 1e−8, and the
          // solver's rounding at rtol 1e−12 is 1e−12·|L|/h ≈ 1e−8·|L|.
          const fd = (set: (g2: Group, h: number) => Group, x: number) => {
            const h = 1e-4 * Math.max(1, Math.abs(x));
            return (solve(set(g, h), true, 'ode', 1e-12).L - solve(set(g, -h), true, 'ode', 1e-12).L) / (2 * h);
          };
          const tolFd = (v: number) => 2e-6 * Math.max(1, Math.abs(v), Math.abs(got.L) * 1e-2);
          const ds = fd((g2, h) => ({ ...g2, s: g2.s + h }), g.s);
          expect(Math.abs(got.gs - ds), `∂L/∂s ${tag}`).toBeLessThanOrEqual(tolFd(ds));
          const dphi = fd((g2, h) => ({ ...g2, phi: g2.phi + h }), g.phi);
          expect(Math.abs(got.gphi - dphi), `∂L/∂ϕ ${tag}`).toBeLessThanOrEqual(tolFd(dphi));
          for (const j of [0, 1, g.y.length - 1]) {
            const dj = fd((g2, h) => ({ ...g2, f: g2.f.map((v, k) => (k === j ? v + h : v)) }), g.f[j]);
            expect(Math.abs(got.gf[j] - dj), `∂L/∂f_${j} ${tag}`).toBeLessThanOrEqual(tolFd(dj));
          }
          expect(Math.abs(got.gf[0]), 'a row of weight 0 has no gradient').toBe(0);
        }
      });
    },
  );
});

describe('weights are validated', () => {
  it('rejects negative, NaN and infinite weights naming the observation; all-ones is no weighting', () => {
    const fam = family('poisson');
    for (const bad of [-1, NaN, Infinity]) {
      expect(() => groupResponse(fam, [1, 2, 3], [3], [1, bad, 1])).toThrow(new RegExp(`^observation 1: weight must be a finite number ≥ 0, got ${bad}$`));
    }
    expect(() => groupResponse(fam, [1, 2, 3], [3], [1, 1])).toThrow(/weights has 2 values for 3 observations/);
    expect(groupResponse(fam, [1, 2, 3], [3], [1, 1, 1]).trials).toBeNull();
    const bern = groupResponse(family('bernoulli'), [1, 0, 1], [3], [2, 3, 0.5]);
    expect(Array.from(bern.y)).toEqual([2, 0, 0.5]);
  });
});
