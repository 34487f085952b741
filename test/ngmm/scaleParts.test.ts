// Full-data passes in parts of whole groups that objective.parts.test.ts does not cover (issue 16:
// no full-data tape at 10⁶–10⁷ rows): the summary's observed information (−Σ_i L_i is a sum over
// groups, so its gradient is the sum of the parts' gradients) and the held-out rows' criterion
// of early stopping (a sum over groups), and the posterior pass of random slopes (each group's
// rule found alone). Each must equal the one-piece computation.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { fit } from '../../ngmm/fit';
import { groupedObjective } from '../../ngmm/fitting/objective';
import { prepare } from '../../ngmm/data';
import { family } from '../../ngmm/families/index';
import { simulate } from '../../ngmm/simulate';
import { summaryOf } from '../../ngmm/summary';
import type { GroupedEffect } from '../../ngmm/terms/grouped';

describe('full-data passes in parts of whole groups', () => {
  it('equal the one-piece standard errors, and free what they use', () => {
    const sim = simulate('poisson', 21, { groups: 30, perGroup: 9 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    const model = fit(data, { family: 'poisson' }, {});
    try {
      const pr = prepare(family('poisson'), data);
      const prep = { ...pr, X: model.standardise(pr.X) };
      const before = E.backend().heap.inUse;
      const whole = summaryOf(model, prep, undefined, 1e9).fixef!;
      // Parts of ≤ 25 rows: groups of ~7 rows (80 % of 9 kept for training), 3 groups a part.
      const parted = summaryOf(model, prep, undefined, 25).fixef!;
      expect(E.backend().heap.inUse).toBe(before);
      const names = Object.keys(whole);
      expect(names.length).toBe(sim.xNames.length + 1);
      for (const k of names) {
        expect(parted[k].estimate).toBe(whole[k].estimate);
        // Every group's L_i and its gradient are computed alone (the ODE solves each group on its
        // own), so the parts differ from one piece only in the order the per-group gradients are
        // summed: ~1e−16 relative to Σ|∂L_i| ≈ the rows (≈200) times O(1), an absolute error
        // ~1e−13 in the gradient, divided by the difference step 2h = 2e−4 into the Hessian
        // (entries O(10²)): ~1e−12 relative in H and in the SEs. 1e−9 leaves margin.
        expect(Math.abs(parted[k].se - whole[k].se)).toBeLessThan(1e-9 * whole[k].se);
        expect(Number.isFinite(whole[k].se) && whole[k].se > 0).toBe(true);
      }
    } finally {
      model.dispose();
    }
  });

  it('the held-out rows\' criterion in parts equals the one-piece value', () => {
    const sim = simulate('poisson', 22, { groups: 30, perGroup: 9 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    const model = fit(data, { family: 'poisson', hidden: [4], seed: 2 }, { epochs: 1, ensemble: 1 });
    try {
      const pr = prepare(family('poisson'), data);
      const prep = { ...pr, X: model.standardise(pr.X) };
      const units = Int32Array.from({ length: pr.response.ngroups }, (_, i) => i);
      const how = { rtol: 1e-10, nodes: 0 };
      const before = E.backend().heap.inUse;
      // The same seed: the same rows held out both ways.
      const whole = groupedObjective(model, prep, how, 1e9).holdOutRows!(0.3, new E.Rng(5));
      // Parts of ≤ 20 rows: groups of ~7 rows, 2 groups a part (15 parts).
      const parted = groupedObjective(model, prep, how, 20).holdOutRows!(0.3, new E.Rng(5));
      expect(parted.heldRows).toBe(whole.heldRows);
      expect(whole.heldRows).toBeGreaterThan(30);
      const a = whole.conditional(units), b = parted.conditional(units);
      expect(E.backend().heap.inUse).toBe(before);
      // Σ_i (L_i(all) − L_i(kept)) summed in another grouping: each L_i is solved alone (the ODE
      // per group), so only the order of ~60 additions of terms of size ~|L_i| ≈ 20 differs;
      // rounding ~60 · 20 · 1.1e−16 ≈ 1.3e−13 absolute, on a total of ~|a| ≈ 10²: 1e−12 relative is ample.
      expect(Math.abs(a - b)).toBeLessThan(1e-12 * Math.abs(a));
      expect(a).toBeGreaterThan(0); // −log p of held-out counts: positive
      // A subset of groups: the criterion of those groups only (what an epoch's check passes).
      const some = units.subarray(3, 17);
      expect(Math.abs(whole.conditional(some) - parted.conditional(some))).toBeLessThan(1e-12 * Math.abs(a));
    } finally {
      model.dispose();
    }
  });

  it('the random-slope posterior pass in parts gives every number of the one-piece pass', () => {
    const sim = simulate('poisson', 23, { groups: 25, perGroup: 8 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    const model = fit(data, { family: 'poisson', randomSlopes: ['x1'] }, {});
    try {
      const pr = prepare(family('poisson'), data);
      const Xs = model.standardise(pr.X), r = pr.response;
      const eta0 = E.tidy(() => model.fixedEta(E.tensor(Xs, [r.nobs, model.xNames.length]), null).toArray());
      const re = model.random as GroupedEffect;
      const before = E.backend().heap.inUse;
      const whole = re.refresh(eta0, Xs, NaN, r, [...pr.levels], null, 1e9);
      const a = JSON.stringify(re.ranef());
      // Parts of ≤ 15 rows: groups of ~6 rows, 2 groups a part.
      const parted = re.refresh(eta0, Xs, NaN, r, [...pr.levels], null, 15);
      expect(E.backend().heap.inUse).toBe(before);
      // Each group's rule and posterior are computed alone and logLik summed in the same group
      // order: bitwise the same.
      expect(parted).toBe(whole);
      expect(JSON.stringify(re.ranef())).toBe(a);
      expect(Number.isFinite(whole)).toBe(true);
      expect(re.ranef().length).toBe(pr.levels.length);
    } finally {
      model.dispose();
    }
  });

  it('fit standardises its own sorted copy of X in place: the caller\'s X is untouched', () => {
    const sim = simulate('poisson', 24, { groups: 10, perGroup: 6 });
    // Rows out of group order, so the sorted copy differs from X.
    const X = Float64Array.from(sim.train.X), copy = Float64Array.from(X);
    const group = [...sim.train.group].reverse();
    const model = fit({ X, xNames: sim.xNames, y: sim.train.y, group }, { family: 'poisson' }, {});
    model.dispose();
    expect(X).toEqual(copy);
  });
});
