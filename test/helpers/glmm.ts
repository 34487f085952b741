// Simulated GLMMs with known truth: 40 groups of 8–20 observations, two covariates.
import { Rng } from '../../engine/random';
import type { ModelData } from '../../ngmm/data';

export const TRUE_BETA = [-0.3, 0.8, -0.5];
export const TRUE_SIGMA_B = 0.6;

export function simulateGlmm(family: 'bernoulli' | 'poisson', seed: number): ModelData {
  const rng = new Rng(seed);
  const X: number[] = [], y: number[] = [], group: string[] = [];
  for (let i = 0; i < 40; i++) {
    const b = TRUE_SIGMA_B * rng.normal();
    const n = 8 + rng.int(13);
    for (let j = 0; j < n; j++) {
      const x1 = rng.normal(), x2 = 2 * rng.uniform();
      const eta = TRUE_BETA[0] + TRUE_BETA[1] * x1 + TRUE_BETA[2] * x2 + b;
      y.push(family === 'bernoulli' ? (rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0) : rng.poisson(Math.exp(eta)));
      X.push(x1, x2);
      group.push(`s${i}`);
    }
  }
  return { X: Float64Array.from(X), xNames: ['x1', 'x2'], y: Float64Array.from(y), group };
}
