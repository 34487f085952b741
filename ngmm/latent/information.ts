// The estimates' covariance from the observed information, for both latent-model fits
// (fit.ts: the background model; pcmFit.ts: a one-domain partial-credit model): the Hessian of
// the negative log-likelihood by central differences of its exact gradient, symmetrised, and
// inverted through its Cholesky factor (ngmm/lmm/dense.ts). At a maximum the information is
// positive definite; where it is not (a parameter not identified, or not at a maximum), the
// factorisation says which pivot failed instead of returning negative variances.
import { backSolve, cholLower, forwardSolve } from '../lmm/dense';

/**
 * The inverse of −∇² log L at `x` (n × n), from `gradient` (of −log L, exact) at x ± step(j)·e_j;
 * or the index of the first parameter whose pivot is not positive.
 */
export function inverseInformation(
  x: Float64Array, gradient: (at: Float64Array) => Float64Array, step: (j: number) => number,
): { cov: Float64Array; pivot: -1 } | { cov: null; pivot: number } {
  const n = x.length, H = new Float64Array(n * n), at = Float64Array.from(x);
  for (let j = 0; j < n; j++) {
    const h = step(j);
    at[j] = x[j] + h;
    const gp = gradient(at);
    at[j] = x[j] - h;
    const gm = gradient(at);
    at[j] = x[j];
    for (let i = 0; i < n; i++) H[i * n + j] = (gp[i] - gm[i]) / (2 * h);
  }
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) H[a * n + b] = H[b * n + a] = (H[a * n + b] + H[b * n + a]) / 2;
  const pivot = cholLower(H, 0, n);
  if (pivot >= 0) return { cov: null, pivot };
  // (LLᵀ)⁻¹: L⁻¹ by forward substitution on I, then L⁻ᵀ on that.
  const cov = new Float64Array(n * n);
  for (let i = 0; i < n; i++) cov[i * n + i] = 1;
  forwardSolve(H, 0, n, cov, 0, n);
  backSolve(H, 0, n, cov, 0, n);
  return { cov, pivot: -1 };
}
