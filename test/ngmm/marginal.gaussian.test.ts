// Bar: the ODE marginal against the Gaussian closed form (MATH.md §9), over n ∈ [1, 10⁴],
// s ∈ [10⁻³, 10], σ ∈ [0.05, 20] and residuals up to ±50, at rtol = 1e−10: value error
// ≤ 1e−9·max(1, |L|), gradients (f, s, σ) within 1e−7 relative (for the vector ∂L/∂f: relative
// to its largest entry), for every gradient method.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { family } from '../../ngmm/families/index';
import { groupResponse } from '../../ngmm/marginal/groups';
import { logMarginal, type GradientMethod } from '../../ngmm/marginal/ode';
import { ts } from '../helpers/backends';

// The Gaussian group's exact log marginal and its gradients (derivatives of the closed form,
// worked by hand: d = σ² + n s², S = Σr, Q = Σr² − s²S²/d).
export function gaussianExact(r: Float64Array, s: number, sig: number) {
  const n = r.length;
  let S = 0, rr = 0;
  for (const v of r) {
    S += v;
    rr += v * v;
  }
  const s2 = sig * sig, d = s2 + n * s * s, Q = rr - (s * s * S * S) / d;
  const L = -0.5 * (n * Math.log(2 * Math.PI) + (n - 1) * Math.log(s2) + Math.log(d) + Q / s2);
  const gf = Float64Array.from(r, (v) => (v - (s * s * S) / d) / s2); // ∂L/∂f_j (r = y − f)
  const dQds = (-2 * s * S * S) / d + (s * s * S * S * 2 * n * s) / (d * d);
  const gs = -0.5 * ((2 * n * s) / d + dQds / s2);
  const dQdsig = (s * s * S * S * 2 * sig) / (d * d);
  const gsig = -0.5 * ((2 * (n - 1)) / sig + (2 * sig) / d + dQdsig / s2 - (2 * Q) / (s2 * sig));
  return { L, gf, gs, gsig };
}

const logUniform = (lo: number, hi: number) =>
  fc.double({ min: Math.log(lo), max: Math.log(hi), noNaN: true }).map(Math.exp);

// The default (folded) method is held to the bar; the other two compute the same gradient by
// other routes whose errors are not controlled in the same way: the continuous adjoint's own
// backward mesh, and the discrete adjoint (the exact derivative of the discrete forward
// solution, which carries the mesh's error in its parameter dependence).
const GRAD_TOL: Record<GradientMethod, number> = { folded: 1e-7, adjoint: 1e-6, discrete: 1e-6 };

describe.each(['folded', 'adjoint', 'discrete'] as GradientMethod[])('Gaussian closed form, %s gradients', (method) => {
  it('value and gradients at rtol 1e−10', () => {
    E.withBackend(ts, () => {
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
