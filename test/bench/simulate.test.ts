// The study's data-generating processes have the documented properties.
import { describe, expect, it } from 'vitest';
import { fLinear, settings, simulate, SIGMA_EPS, TRAIN_GROUPS, TRAIN_ROWS } from '../../bench/study/simulate';

const variance = (v: ArrayLike<number>) => {
  const a = Array.from(v), m = a.reduce((s, x) => s + x, 0) / a.length;
  return a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1);
};

describe('study simulation', () => {
  it('covers 2 DGPs × 3 families × 2 structures × 2 variances', () => {
    expect(settings().length).toBe(24);
  });

  it('splits groups and rows as documented, and is reproducible by seed', () => {
    const s = { dgp: 'nonlinear', family: 'bernoulli', structure: 'intercept', variance: 1 } as const;
    const d = simulate(s, { groups: 50, perGroup: 10 }, 3);
    expect(new Set(d.fresh.group).size).toBe(Math.round(50 * (1 - TRAIN_GROUPS)));
    expect(d.train.y.length).toBe(Math.round(50 * TRAIN_GROUPS * 10 * TRAIN_ROWS));
    expect(d.observed.y.length).toBe(Math.round(50 * TRAIN_GROUPS * 10 * (1 - TRAIN_ROWS)));
    const trainGroups = new Set(d.train.group);
    expect(d.observed.group.every((g) => trainGroups.has(g))).toBe(true);
    expect(d.fresh.group.some((g) => trainGroups.has(g))).toBe(false);
    expect([...d.train.y].every((y) => y === 0 || y === 1)).toBe(true);
    expect(simulate(s, { groups: 50, perGroup: 10 }, 3).train.y).toEqual(d.train.y);
    expect(d.train.X.every((x) => x >= -1 && x <= 1)).toBe(true);
  });

  it('draws random intercepts and slopes with the stated variance', () => {
    for (const v of [0.25, 1]) {
      const d = simulate({ dgp: 'linear', family: 'poisson', structure: 'slope', variance: v }, { groups: 4000, perGroup: 1 }, 5);
      const b0 = d.effects.filter((_, i) => i % 2 === 0), b1 = d.effects.filter((_, i) => i % 2 === 1);
      // SE of a sample variance over 4000 normals: v·√(2/3999) ≈ 0.022·v.
      expect(Math.abs(variance(b0) / v - 1)).toBeLessThan(0.1);
      expect(Math.abs(variance(b1) / v - 1)).toBeLessThan(0.1);
    }
    const i = simulate({ dgp: 'linear', family: 'poisson', structure: 'intercept', variance: 1 }, { groups: 100, perGroup: 1 }, 5);
    expect(i.effects.filter((_, k) => k % 2 === 1).every((b) => b === 0)).toBe(true);
  });

  it('Gaussian responses scatter around η with SD SIGMA_EPS and the group effect', () => {
    // One group of many rows, variance 0 + intercept: y − f(x) is the noise alone.
    const d = simulate({ dgp: 'linear', family: 'gaussian', structure: 'intercept', variance: 1e-12 }, { groups: 5, perGroup: 2000 }, 9);
    const r = Array.from(d.train.y, (y, k) => y - fLinear(d.train.X.subarray(5 * k, 5 * k + 5)));
    expect(Math.abs(Math.sqrt(variance(r)) / SIGMA_EPS - 1)).toBeLessThan(0.05);
  });
});
