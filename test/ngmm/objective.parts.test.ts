// Full-data passes in parts (issue 16: memory that does not grow with the rows): the linear
// stage and the polish minimise the mean over groups as a sum of parts of whole groups, each
// differentiated in its own scope. The parts must cover every group once, and the parted
// L-BFGS must reach the same optimum as the one-piece one.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { fit } from '../../ngmm/fit';
import { groupedObjective, minimizeObjective, objectiveParts, PASS_ROWS } from '../../ngmm/fitting/objective';
import { prepare } from '../../ngmm/data';
import { family } from '../../ngmm/families/index';
import { simulate } from '../../ngmm/simulate';
import type { GroupedEffect } from '../../ngmm/terms/grouped';

const sim = simulate('poisson', 13, { groups: 30, perGroup: 9 });
const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };

describe('objective in parts of whole groups', () => {
  const model = fit(data, { family: 'poisson' }, {});
  const prep0 = prepare(family('poisson'), data);
  const prep = { ...prep0, X: model.standardise(prep0.X) };
  const obj = groupedObjective(model, prep, { rtol: 1e-10, nodes: 0 });

  it('cuts the groups in order into parts of at most maxRows rows, each group once', () => {
    expect(objectiveParts(obj, 1e9)).toBeNull(); // small data: one part
    const parts = objectiveParts(obj, 40)!;
    expect(parts.length).toBeGreaterThan(3);
    expect(Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(Array.from({ length: obj.units }, (_, i) => i));
    for (const p of parts) expect(obj.rowsIn!(p) <= 40 || p.length === 1).toBe(true);
  });

  it('the parted L-BFGS reaches the one-piece optimum (and the sum of parts is the whole objective)', () => {
    const params = [...model.linearParams(), ...model.scaleParams()];
    const start = params.map((p) => Float64Array.from(p.data));
    const whole = E.tidy(() => obj.value(null).item());
    const parts = objectiveParts(obj, 40)!;
    const summed = parts.reduce((a, p) => a + E.tidy(() => obj.value(p).item()) * (p.length / obj.units), 0);
    // The same terms in another summation order: rounding only.
    expect(Math.abs(summed - whole)).toBeLessThan(1e-13 * Math.abs(whole));
    // Move away from the optimum, then minimise both ways.
    const perturb = () => params.forEach((p, i) => p.data.set(start[i].map((v, k) => v + 0.1 * Math.sin(3 * k + i))));
    perturb();
    const a = minimizeObjective(params, obj, { gtol: 1e-6, maxIter: 500 }, 1e9);
    const one = params.map((p) => Float64Array.from(p.data));
    perturb();
    const b = minimizeObjective(params, obj, { gtol: 1e-6, maxIter: 500 }, 40);
    const parted = params.map((p) => Float64Array.from(p.data));
    expect(a.converged && b.converged).toBe(true);
    // Both stop at gradient ≤ 1e−6 (measured 4e−8 both ways) on an objective with curvature
    // O(1) per parameter: the optima agree to ~1e−7, the objective values to rounding.
    one.forEach((v, i) => v.forEach((x, k) => expect(Math.abs(x - parted[i][k])).toBeLessThan(1e-7)));
    expect(Math.abs(a.f - b.f)).toBeLessThan(1e-12 * Math.abs(a.f));
    params.forEach((p, i) => p.data.set(start[i]));
  });

  it('the posterior pass in parts gives every number of the one-piece pass', () => {
    const m = fit(data, { family: 'poisson', hidden: [4], seed: 3 }, { epochs: 2, ensemble: 1 });
    try {
      const pr = prepare(family('poisson'), data);
      const Xs = m.standardise(pr.X), r = pr.response;
      const eta0 = E.tidy(() => m.fixedEta(E.tensor(Xs, [r.nobs, m.xNames.length]), null).toArray());
      const re = m.random as GroupedEffect;
      const whole = re.refresh(eta0, Xs, m.sigma, r, [...pr.levels], null);
      const a = JSON.stringify(re.ranef());
      // Parts of ≤ 25 rows (groups of 9 rows: 2 groups a part), every group solved on its own.
      const parted = re.refresh(eta0, Xs, m.sigma, r, [...pr.levels], null, 25);
      expect(parted).toBe(whole);
      expect(JSON.stringify(re.ranef())).toBe(a);
      expect(Number.isFinite(whole)).toBe(true);
    } finally {
      m.dispose();
    }
  });

  it('f over more than PASS_ROWS rows in parts equals the one-piece forward pass', () => {
    const m = fit(data, { family: 'poisson', hidden: [5, 3], seed: 4 }, { epochs: 1, ensemble: 1 });
    try {
      const n = PASS_ROWS + 1234, p = m.xNames.length;
      const rng = new E.Rng(8);
      const Xs = Float64Array.from({ length: n * p }, () => rng.normal());
      const offset = Float64Array.from({ length: n }, (_, i) => 0.001 * (i % 17));
      const parted = m.fixedValues(Xs, n, offset);
      const whole = E.tidy(() => m.fixedEta(E.tensor(Xs, [n, p]), offset).toArray());
      // Row-wise arithmetic: each row's value does not depend on which rows share its part.
      expect(parted).toEqual(whole);
    } finally {
      m.dispose();
    }
  });
});
