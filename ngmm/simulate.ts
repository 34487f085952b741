// The paper's §4 design as a data generator (the paper's constants were lost in extraction;
// these are ours): five covariates uniform on [−1, 1], a nonlinear fixed effect f(x), a random
// intercept b_i ~ N(0, σ_b²) per group, and a Bernoulli, Poisson or Gaussian response. The
// last 20 % of the groups are held out whole ("new" groups); of the others, the last 20 % of
// each group's rows are held out ("observed" groups). `npm start`, the web demo and the
// runtime tests all draw their data here, so one seed means the same rows everywhere (the
// PRNG uses integer ops only; see engine/random.ts).
import { Rng } from '../engine/random';

export type SimulatedFamily = 'bernoulli' | 'poisson' | 'gaussian';

export interface SimulateOptions {
  groups?: number;
  perGroup?: number;
  /** SD of the random intercept (default 0.5). */
  sigmaB?: number;
  /** Residual SD of the Gaussian response (default 0.5). */
  sigma?: number;
}

export interface SimulatedSplit {
  /** n × 5, row-major. */
  X: Float64Array;
  y: Float64Array;
  group: string[];
  /** The true mean E[y | x, b] of each row, for plotting predictions against the truth. */
  mu: Float64Array;
}

export interface Simulated {
  xNames: string[];
  train: SimulatedSplit;
  /** Held-out rows of training groups. */
  observed: SimulatedSplit;
  /** All rows of held-out groups. */
  fresh: SimulatedSplit;
  /** The true group effects b_i, by group label. */
  effects: Map<string, number>;
}

/** The nonlinear fixed effect of the design. */
export const trueEffect = (x: ArrayLike<number>): number =>
  Math.sin(Math.PI * x[0] * x[1]) + 2 * (x[2] - 0.5) ** 2 + Math.abs(x[3]) - 0.5 * x[4];

/**
 * η = a·f(x) + c + b per family: the scale and offset keep each response in a sensible range.
 * The simulation study (bench/study/simulate.ts) uses the same.
 */
export const FAMILY_SCALE: Record<SimulatedFamily, { a: number; c: number }> = {
  gaussian: { a: 1, c: 0 },
  bernoulli: { a: 1.5, c: -1 },
  poisson: { a: 0.8, c: 0 },
};

export function simulate(kind: SimulatedFamily, seed: number, o: SimulateOptions = {}): Simulated {
  const groups = o.groups ?? 300, perGroup = o.perGroup ?? 25, sigmaB = o.sigmaB ?? 0.5, sigma = o.sigma ?? 0.5;
  if (!(kind === 'bernoulli' || kind === 'poisson' || kind === 'gaussian')) throw new Error(`simulate: unknown family '${kind}' (bernoulli, poisson or gaussian)`);
  if (!(Number.isInteger(groups) && groups >= 5)) throw new Error(`simulate: groups must be an integer ≥ 5 (got ${groups})`);
  if (!(Number.isInteger(perGroup) && perGroup >= 5)) throw new Error(`simulate: perGroup must be an integer ≥ 5 (got ${perGroup})`);
  const rng = new Rng(seed);
  const rows = { train: [] as number[][], observed: [] as number[][], fresh: [] as number[][] };
  const effects = new Map<string, number>();
  for (let i = 0; i < groups; i++) {
    const b = sigmaB * rng.normal();
    effects.set(`g${i}`, b);
    const isNew = i >= groups * 0.8;
    for (let j = 0; j < perGroup; j++) {
      const x = Array.from({ length: 5 }, () => 2 * rng.uniform() - 1);
      const { a, c } = FAMILY_SCALE[kind];
      const eta = a * trueEffect(x) + c + b;
      let y: number, mu: number;
      if (kind === 'bernoulli') {
        mu = 1 / (1 + Math.exp(-eta));
        y = rng.uniform() < mu ? 1 : 0;
      } else if (kind === 'poisson') {
        mu = Math.exp(eta);
        y = rng.poisson(mu);
      } else {
        mu = eta;
        y = mu + sigma * rng.normal();
      }
      const row = [...x, y, i, mu];
      if (isNew) rows.fresh.push(row);
      else if (j < perGroup * 0.8) rows.train.push(row);
      else rows.observed.push(row);
    }
  }
  const pack = (r: number[][]): SimulatedSplit => ({
    X: Float64Array.from(r.flatMap((v) => v.slice(0, 5))),
    y: Float64Array.from(r, (v) => v[5]),
    group: r.map((v) => `g${v[6]}`),
    mu: Float64Array.from(r, (v) => v[7]),
  });
  return { xNames: ['x1', 'x2', 'x3', 'x4', 'x5'], train: pack(rows.train), observed: pack(rows.observed), fresh: pack(rows.fresh), effects };
}
