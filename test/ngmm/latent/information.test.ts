// The inverse observed information (ngmm/latent/information.ts) used for both latent fits'
// standard errors: exact on a quadratic, and a refusal (not negative variances) where the
// Hessian is not positive definite.
import { describe, expect, it } from 'vitest';
import { inverseInformation } from '../../../ngmm/latent/information';

describe('inverseInformation', () => {
  it('inverts the Hessian of a quadratic exactly (central differences are exact there)', () => {
    // −log L = ½ xᵀAx with A = [[4, 1, 0], [1, 3, 0.5], [0, 0.5, 2]]; gradient Ax.
    const A = [4, 1, 0, 1, 3, 0.5, 0, 0.5, 2];
    const grad = (x: Float64Array) => Float64Array.from([0, 1, 2], (i) => A[i * 3] * x[0] + A[i * 3 + 1] * x[1] + A[i * 3 + 2] * x[2]);
    const r = inverseInformation(Float64Array.of(0.3, -1, 2), grad, () => 1e-3);
    expect(r.pivot).toBe(-1);
    // A·cov = I, to rounding.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += A[i * 3 + k] * r.cov![k * 3 + j];
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-12);
      }
    }
  });

  it('names the first non-positive pivot of an indefinite Hessian instead of inverting it', () => {
    // A saddle: curvature +2 along x₀, −1 along x₁ (not a maximum of log L).
    const grad = (x: Float64Array) => Float64Array.of(2 * x[0], -x[1]);
    const r = inverseInformation(Float64Array.of(0, 0), grad, () => 1e-3);
    expect(r.cov).toBeNull();
    expect(r.pivot).toBe(1);
  });
});
