// Bar: gradients of the whole NGMM objective, (1/G)·Σ_i L_i with f = MLP_θ(x) and
// s_i = ‖MLP_φ(z_i)‖, with respect to every weight of both networks, against central finite
// differences (helpers/checkVjp). The marginal is solved at rtol 1e−12 so that the solver's
// own non-smoothness in the parameters (its step pattern changes discretely, ≈ rtol·|L|) stays
// far below the finite-difference step: 1e−12/1e−5 ≪ 1e−6.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as E from '../../engine/index';
import { family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal } from '../../ngmm/marginal/ode';
import { checkVjp, type Input } from '../helpers/checkVjp';
import { ts } from '../helpers/backends';

function forward(ps: E.Tensor[], x: E.Tensor, act: 'tanh' | 'softplus'): E.Tensor {
  let h = x;
  for (let l = 0; l < ps.length / 2; l++) {
    h = E.bias(E.matmul(h, ps[2 * l]), ps[2 * l + 1]);
    if (l + 1 < ps.length / 2) h = E.activations[act](h);
  }
  return h;
}

describe('NGMM objective gradients through both networks', () => {
  it.each([['bernoulli', 'logit'], ['poisson', 'log'], ['gaussian', 'identity'], ['negbinomial', 'log'], ['gamma', 'log']] as const)('%s/%s', (fname, link) => {
    E.withBackend(ts, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1e5 }), (seed) => {
          const rng = new E.Rng(seed);
          const sizes = [3, 5, 2, 4];
          const G = sizes.length, n = 14, p = 3, d = 2;
          const fam = family(fname, link);
          const y = Float64Array.from({ length: n }, () =>
            fname === 'gaussian' ? rng.normal() : fname === 'poisson' ? rng.int(4) : fname === 'negbinomial' ? rng.int(7) :
              fname === 'gamma' ? 0.2 + 3 * rng.uniform() : rng.int(2));
          const data = groupResponse(fam, y, sizes);
          const xv = Float64Array.from({ length: n * p }, () => rng.normal());
          const zv = Float64Array.from({ length: G * d }, () => rng.normal());
          const fNet = E.mlp([p, 4, 1], 'tanh', seed);
          const gNet = E.mlp([d, 3, 2], 'softplus', seed + 1);
          const nf = fNet.parameters().length;
          const inputs: Input[] = [...fNet.parameters(), ...gNet.parameters()].map((t) => ({ values: t.toArray(), shape: t.shape }));
          inputs.push({ values: Float64Array.of(0.8), shape: [] }); // σ (used by the Gaussian only)
          fNet.dispose();
          gNet.dispose();
          const objective = (...ts: E.Tensor[]) => {
            const f = E.reshape(forward(ts.slice(0, nf), E.tensor(xv, [n, p]), 'tanh'), [n]);
            const gz = forward(ts.slice(nf, ts.length - 1), E.tensor(zv, [G, d]), 'softplus');
            const s = E.exp(E.mul(E.log(E.sum(E.square(gz), 1)), 0.5)); // ‖g(z_i)‖
            const sigma = fam.hasDispersion ? ts[ts.length - 1] : null;
            return E.mean(logMarginal(f, s, sigma, data, { rtol: 1e-12 }).L);
          };
          const r = checkVjp(objective, inputs, seed);
          if (!(r.worst <= 1e-6)) throw new Error(r.details);
        }),
        { numRuns: 6, seed: 9 },
      );
    });
  });
});
