// The batched marginal-likelihood kernel: the WASM twin of kernels/reference/marginal/kernel.ts,
// whose header is the contract (argument meanings, opts and stats layouts). In addition:
//   work       scratch for the adjoint and discrete gradients: RECORD_SIZE (18) f64 per
//              accepted forward step, room for `workSteps` steps; a group that needs more
//              stops with status 4 (STATUS_WORK). Unused for grad methods 0 and 1.
//   cache      scratch for the SIMD logit path: 7 × (largest group) f64 (integrand.ts): slots
//              0–5 the folded gradient's stage score cache, slot 6 the Bernoulli exp base;
//              or 0 to recompute both.
// The SIMD build solves Gaussian-identity and Poisson-log groups two at a time (lanes.ts), the
// same solve per group; everything else goes group by group (solve.ts).
// Returns 0, or 1 + the index of the first group whose solve failed (its status says why).
import { setGroup } from './integrand';
import { solveGroup, stStatus, storeGroup } from './solve';
import { lanesApply, solveLanes } from './lanes';

export const OPT_COUNT: i32 = 7;

export function marginal_f64(
  code: i32, G: i32, offs: usize, y: usize, trials: usize, f: usize, s: usize, phi: f64, cst: usize,
  opts: usize, L: usize, gf: usize, gs: usize, gphi: usize, stats: usize, work: usize, workSteps: i32, cache: usize,
): i32 {
  const rtol = load<f64>(opts);
  const atol = load<f64>(opts, 8);
  const T = load<f64>(opts, 16);
  const c0 = load<f64>(opts, 24);
  const maxSteps = load<f64>(opts, 32);
  const grad = load<f64>(opts, 40);
  const centre = load<f64>(opts, 48);
  if (ASC_FEATURE_SIMD) {
    if (lanesApply(code, grad)) {
      return solveLanes(code, G, offs, y, trials, f, s, phi, cst, rtol, atol, T, c0, maxSteps, grad, centre, L, gf, gs, gphi, stats);
    }
  }
  const wantGrad = grad != 0;
  let failed = 0;
  for (let i = 0; i < G; i++) {
    const start = load<i32>(offs + (<usize>i << 2));
    const end = load<i32>(offs + (<usize>(i + 1) << 2));
    const n = max(0, end - start);
    const o = <usize>start << 3;
    setGroup(code, n, y + o, trials != 0 ? trials + o : 0, f + o, gf + o, load<f64>(s + (<usize>i << 3)), phi,
      load<f64>(cst + (<usize>i << 3)), wantGrad, cache, grad == 1);
    solveGroup(rtol, atol, T, c0, maxSteps, grad, centre, work, workSteps);
    storeGroup(i, L, gs, gphi, stats, wantGrad);
    if (stStatus != 0 && failed == 0) failed = i + 1;
  }
  return failed;
}
