// Bar: the negative binomial and Gamma marginals against R's own densities. The fixture
// (test/fixtures/nbgamma-r.json, written once by Rscript; the tests never need R) holds, per
// group, log ∫ Π_j p(y_j | η_j = β₀ + β₁x_j + s·t) φ(t) dt with p from stats::dnbinom(size = θ,
// mu = μ) and stats::dgamma(shape = α, scale = μ/α), integrated by stats::integrate at
// rel.tol 1e−13 — independent of our lgamma, digamma, Stirling error and obs.ts's
// rearrangements, and of our integrators. stats::integrate is the looser side (its
// QUADPACK estimate, not a bound): 1e−9 absolute per group.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal } from '../../ngmm/marginal/ode';
import { logMarginalQuadrature } from '../../ngmm/marginal/quadrature';
import { all } from '../helpers/backends';

const fx = JSON.parse(readFileSync(new URL('../fixtures/nbgamma-r.json', import.meta.url), 'utf8')) as Record<string, number[]>;

describe.each(all)('negative binomial and Gamma marginals equal R (dnbinom, dgamma, integrate) on $name', (backend) => {
  it.each([['negbinomial', 'nbY', 'nbParams', 'nbL'], ['gamma', 'gammaY', 'gammaParams', 'gammaL']] as const)('%s', (name, yKey, pKey, lKey) => {
    const [b0, b1, s, phi] = fx[pKey];
    const sizes = Array.from({ length: 8 }, () => 6);
    const data = groupResponse(family(name), fx[yKey], sizes);
    const f = Float64Array.from(fx.x, (x) => b0 + b1 * x);
    E.withBackend(backend, () => {
      E.tidy(() => {
        const ode = logMarginal(E.tensor(f), E.tensor(new Float64Array(8).fill(s)), E.tensor([phi], []), data, { rtol: 1e-11 }).L.toArray();
        const gh = logMarginalQuadrature(E.tensor(f), E.tensor(new Float64Array(48).fill(s), [48, 1]), E.tensor([phi], []), data, { K: 25 }).toArray();
        for (let i = 0; i < 8; i++) {
          expect(Math.abs(ode[i] - fx[lKey][i]), `ODE group ${i}`).toBeLessThanOrEqual(1e-9);
          expect(Math.abs(gh[i] - fx[lKey][i]), `GH-25 group ${i}`).toBeLessThanOrEqual(1e-8);
        }
      });
    });
  });
});
