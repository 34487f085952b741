// The quasi-Newton minimiser of ngmm/lmm/optimise: given the value and the gradient in two
// parts (`split`) and the start's value and gradient (`start`), it takes the same iterates as
// with the combined objective, and asks for gradients only at accepted points.
import { describe, expect, it } from 'vitest';
import { minimise, type Objective } from '../../ngmm/lmm/optimise';

/** Rosenbrock's function in m dimensions (a curved valley: the line search backtracks often). */
function rosenbrock(x: Float64Array, g: Float64Array | null): number {
  let f = 0;
  if (g) g.fill(0);
  for (let k = 0; k + 1 < x.length; k++) {
    const a = x[k + 1] - x[k] * x[k], b = 1 - x[k];
    f += 100 * a * a + b * b;
    if (g) {
      g[k] += -400 * x[k] * a - 2 * b;
      g[k + 1] += 200 * a;
    }
  }
  return f;
}

describe('minimise with a split objective', () => {
  it('takes the same iterates as the combined objective, with gradients only where steps are accepted', () => {
    for (const x0 of [[-1.2, 1], [0.5, -0.3, 2, 1.1], [3, 3, 3]]) {
      const opts = { gtol: 1e-9, maxIter: 500 };
      const trace: number[] = [];
      const combined: Objective = (x, g) => rosenbrock(x, g);
      const ref = minimise(combined, x0, { ...opts, onIteration: (_, f) => trace.push(f) });
      let last: Float64Array | null = null, values = 0, gradients = 0;
      const g0 = new Float64Array(x0.length);
      const f0 = rosenbrock(Float64Array.from(x0), g0);
      const traceSplit: number[] = [];
      const res = minimise(() => { throw new Error('the combined objective is not to be called'); }, x0, {
        ...opts,
        onIteration: (_, f) => traceSplit.push(f),
        start: { f: f0, g: g0 },
        split: {
          value: (x) => { values++; last = x.slice(); return rosenbrock(x, null); },
          gradient: (g) => { gradients++; rosenbrock(last!, g); },
        },
      });
      expect(ref.converged).toBe(true);
      expect(traceSplit).toEqual(trace);
      expect(Array.from(res.x)).toEqual(Array.from(ref.x));
      expect(res.iterations).toBe(ref.iterations);
      // The start was given: one call fewer than the combined run's evaluations.
      expect(values).toBe(ref.evaluations - 1);
      expect(res.evaluations).toBe(values);
      // Rosenbrock's valley makes the search backtrack: fewer gradients than values.
      expect(gradients).toBeLessThan(values);
      expect(gradients).toBeGreaterThanOrEqual(res.iterations);
    }
  });
});
