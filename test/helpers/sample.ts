// Responses drawn from the families' own distributions, for tests: a group should look like
// data. Gamma by Marsaglia & Tsang (ACM TOMS 26, 2000), with the u^{1/α} boost for α < 1; the
// negative binomial as the Poisson–Gamma mixture (θ-shaped Gamma of mean μ, then Poisson).
import type { Rng } from '../../engine/random';

export function gammaDraw(rng: Rng, shape: number, mean: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1, (mean * (shape + 1)) / shape) * Math.pow(Math.max(rng.uniform(), 1e-300), 1 / shape);
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = Math.max(rng.uniform(), 1e-300);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return (d * v * mean) / shape;
  }
}

export function negbinDraw(rng: Rng, theta: number, mean: number): number {
  return rng.poisson(gammaDraw(rng, theta, mean));
}
