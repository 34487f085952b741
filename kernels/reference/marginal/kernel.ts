// The batched marginal-likelihood kernel over heap memory: the contract shared with the WASM
// build (kernels/assembly/marginal/kernel.ts).
//
// marginal_f64(code, G, offs, y, trials, f, s, phi, cst, opts, L, gf, gs, gphi, stats) → status
//   code    family code (obs.ts)          G      number of groups
//   offs    i32[G+1]: group i is observations offs[i] .. offs[i+1]−1
//   y, f    f64[n]: responses, fixed-effect predictions; trials f64[n] or 0 (all one)
//   s       f64[G]: random-effect scale per group; phi: dispersion (σ, Gaussian; else ignored)
//   cst     f64[G]: Σ_j c(y_j) per group (precomputed once per dataset)
//   opts    f64[OPT_COUNT]: rtol, atol, T, c0 (NaN: tail start), maxSteps, grad method, centre
//   L       f64[G] out: log marginal per group
//   gf      f64[n] out: ∂L_i/∂f_j; gs f64[G] out: ∂L_i/∂s_i; gphi f64[G] out: ∂L_i/∂ϕ
//           (written when the grad method is not 0)
//   stats   f64[G·STAT_COUNT] out: steps, rejected, rhs, evals, gradEvals, status, mode, sd
//   work    scratch for the adjoint and discrete gradients, which revisit the forward steps:
//           RECORD_SIZE f64 per accepted step, room for `workSteps` steps (WASM build only)
// Returns 0, or 1 + the index of the first group whose solve failed (its status says why).
import type { HeapViews } from '../index';
import { Integrand } from './integrand';
import { solveGroup, type SolveOptions } from './solve';

export const OPT_COUNT = 7;
export const STAT_COUNT = 8;
/** f64 slots per recorded step: t, h, u0, u1, k[7], ev[7]. */
export const RECORD_SIZE = 18;

export function marginalKernel(
  mem: HeapViews, code: number, G: number, offs: number, y: number, trials: number, f: number, s: number,
  phi: number, cst: number, opts: number, L: number, gf: number, gs: number, gphi: number, stats: number,
): number {
  const F = mem.f64, I = mem.i32;
  const o = opts >>> 3;
  const options: SolveOptions = {
    rtol: F[o], atol: F[o + 1], T: F[o + 2], c0: F[o + 3], maxSteps: F[o + 4], grad: F[o + 5], centre: F[o + 6],
  };
  let failed = 0;
  for (let i = 0; i < G; i++) {
    const start = I[(offs >>> 2) + i], end = I[(offs >>> 2) + i + 1];
    const view = (p: number) => F.subarray((p >>> 3) + start, (p >>> 3) + end);
    const gfView = options.grad !== 0 ? view(gf) : new Float64Array(end - start);
    const g = new Integrand(code, view(y), trials ? view(trials) : null, view(f), gfView, F[(s >>> 3) + i], phi, F[(cst >>> 3) + i]);
    const st = solveGroup(g, options);
    F[(L >>> 3) + i] = st.L;
    if (options.grad !== 0) {
      F[(gs >>> 3) + i] = g.gs;
      F[(gphi >>> 3) + i] = g.gphi;
    }
    const so = (stats >>> 3) + i * STAT_COUNT;
    F[so] = st.steps;
    F[so + 1] = st.rejected;
    F[so + 2] = st.rhs;
    F[so + 3] = st.evals;
    F[so + 4] = st.gradEvals;
    F[so + 5] = st.status;
    F[so + 6] = st.mode;
    F[so + 7] = st.sd;
    if (st.status !== 0 && failed === 0) failed = i + 1;
  }
  return failed;
}
