// prepare(): observations sorted by group with their weights and offsets; single-row groups
// accepted (lme4 fits them); lme4's binomial proportion convention (y the proportion, the
// weights the trials); every refusal a DataError naming the row of the data as given.
import { describe, expect, it } from 'vitest';
import { prepare, type ModelData } from '../../ngmm/data';
import { DataError } from '../../ngmm/errors';
import { family } from '../../ngmm/families/index';
import { thrown } from '../helpers/thrown';

const gaussian = family('gaussian');
const binomial = family('binomial');

function data(y: number[], group: (string | number)[], extra: Partial<ModelData> = {}): ModelData {
  return { X: Float64Array.from(y, (_, i) => i + 1), xNames: ['x'], y, group, ...extra };
}

const refused = (fn: () => unknown): DataError => thrown(DataError, fn);

describe('prepare', () => {
  it('accepts groups of one row, sorting rows by group in first-seen order', () => {
    const p = prepare(gaussian, data([1, 2, 3, 4], ['a', 'b', 'a', 'c']));
    expect(p.levels).toEqual(['a', 'b', 'c']);
    expect([...p.order]).toEqual([0, 2, 1, 3]);
    expect([...p.response.offsets]).toEqual([0, 2, 3, 4]);
    expect([...p.response.y]).toEqual([1, 3, 2, 4]);
    expect([...p.X]).toEqual([1, 3, 2, 4]);
    expect(p.weights).toBeNull();
    expect(p.offset).toBeNull();
  });

  it('gives group labels as text', () => {
    expect(prepare(gaussian, data([1, 2, 3], [7, '7', 8])).levels).toEqual(['7', '8']);
  });

  it('carries weights and offsets in the sorted order', () => {
    const p = prepare(gaussian, data([1, 2, 3, 4], ['b', 'a', 'b', 'a'], { weights: [1, 2, 3, 4], offset: [0.1, 0.2, 0.3, 0.4] }));
    expect([...p.order]).toEqual([0, 2, 1, 3]);
    expect([...p.weights!]).toEqual([1, 3, 2, 4]);
    expect([...p.offset!]).toEqual([0.1, 0.3, 0.2, 0.4]);
  });

  it('binomial without trials: y is the proportion and the weights the trials (lme4, glm)', () => {
    // Sorted rows 0, 2, 1, 3: successes 0.5·2 = 1, 1·3 = 3, 0.25·4 = 1, 0·5 = 0.
    const p = prepare(binomial, data([0.5, 0.25, 1, 0], ['a', 'b', 'a', 'b'], { weights: [2, 4, 3, 5] }));
    expect([...p.response.y]).toEqual([1, 3, 1, 0]);
    expect([...p.response.trials!]).toEqual([2, 3, 4, 5]);
    expect(p.weights).toBeNull();
    // 0.57 × 100 is 56.99999999999999 in floating point: whole within 1e−8, and rounded.
    expect([...prepare(binomial, data([0.57, 0.29], ['a', 'b'], { weights: [100, 100] })).response.y]).toEqual([57, 29]);
    // Without weights, one trial each: a 0/1 response.
    const b = prepare(binomial, data([0, 1, 1], ['a', 'a', 'b']));
    expect([...b.response.trials!]).toEqual([1, 1, 1]);
  });

  it('refuses a proportion that is not a whole number of successes, naming the row as given', () => {
    // The second row (group a) is sorted first; the message names it as row 2.
    const e = refused(() => prepare(binomial, data([0.5, 0.3], ['b', 'a'], { weights: [2, 2] })));
    expect(e.message).toBe('row 2: the proportion 0.3 of 2 trials is 0.6 successes, not a whole number');
    expect(e.row).toBe(2);
    expect(refused(() => prepare(binomial, data([0.5], ['a'], { weights: [2.5] }))).message).toBe(
      'row 1: the weight 2.5 is not a whole number ≥ 1; for a binomial proportion the weights are the numbers of trials',
    );
    expect(refused(() => prepare(binomial, data([0, 1.5], ['a', 'a']))).message).toMatch(/^row 2: a binomial response without trials is a proportion in \[0, 1\]/);
  });

  it('keeps weights as prior weights for other families, and refuses them with cbind trials', () => {
    const bern = prepare(family('bernoulli'), data([0, 1], ['a', 'b'], { weights: [2, 0.5] }));
    expect([...bern.weights!]).toEqual([2, 0.5]);
    // Counts with prior weights would need glm's product rule; refused, never dropped silently.
    expect(refused(() => prepare(binomial, data([1, 2], ['a', 'b'], { trials: [3, 4], weights: [1.5, 2] }))).message).toMatch(/cannot be combined with prior weights/);
  });

  it('refuses trials with a family that has none', () => {
    for (const name of ['poisson', 'gaussian', 'bernoulli'] as const) {
      const e = refused(() => prepare(family(name), data([1, 0], ['a', 'b'], { trials: [2, 2] })));
      expect(e.message).toBe(`binomial counts (trials, as cbind(successes, failures) gives them) do not go with the ${name} family; use the binomial family (--family binomial)`);
    }
  });

  it('refuses empty data, bad weights and offsets, naming the row', () => {
    expect(refused(() => prepare(gaussian, data([], []))).message).toBe('there are no observations (no data rows)');
    expect(refused(() => prepare(gaussian, data([1, 2], ['a', 'b'], { weights: [1, -2] }))).message).toBe('row 2: the weight -2 is not a finite number ≥ 0');
    expect(refused(() => prepare(gaussian, data([1, 2], ['a', 'b'], { weights: [NaN, 1] }))).message).toBe('row 1: the weight NaN is not a finite number ≥ 0');
    expect(refused(() => prepare(gaussian, data([1, 2], ['a', 'b'], { offset: [0, Infinity] }))).message).toBe('row 2: the offset Infinity is not a finite number');
    expect(refused(() => prepare(gaussian, data([1, 2], ['a', 'b'], { weights: [1] }))).message).toBe('weights has 1 values for 2 observations');
  });

  it("names the family's refusal at the row as given, not its sorted position", () => {
    const e = refused(() => prepare(family('poisson'), data([1, -1, 2], ['b', 'b', 'a'])));
    expect(e.message).toBe('row 2: poisson response must be a non-negative integer count, got -1');
  });
});
