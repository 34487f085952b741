// The training recipe's parts (issue 17), without timing: a deep ensemble's prediction is the
// mean of its members' (and its spread their SD), its ranef() the members' mixture; the members
// are seeded and the whole fit reproducible; early stopping on held-out rows restores the best
// epoch's parameters; the held-out rows' criterion is the closed-form Gaussian predictive
// density; an ensemble's model file round-trips and a member that is not the same model is
// rejected.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { fit, type FitProgress } from '../../ngmm/fit';
import { groupedObjective } from '../../ngmm/fitting/objective';
import { prepare } from '../../ngmm/data';
import { family } from '../../ngmm/families/index';
import { Model, type ModelJSON } from '../../ngmm/model';
import { simulate } from '../../ngmm/simulate';
import { fitFormula } from '../../ngmm/fitFormula';
import type { Column } from '../../ngmm/csv';

const sim = simulate('gaussian', 11, { groups: 24, perGroup: 12 });
const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
const spec = { family: 'gaussian' as const, hidden: [8, 4] };
const quick = { epochs: 6 };

/** The model file without its further members: the first member alone. */
function firstMember(m: Model): Model {
  const j = JSON.parse(JSON.stringify(m.toJSON())) as ModelJSON;
  delete j.members;
  return Model.load(j);
}

describe('deep ensemble', () => {
  const model = fit(data, spec, { ...quick, ensemble: 3 });
  const seen = { group: sim.observed.group, groups: 'observed' as const };

  it('has the members asked for, each its own network', () => {
    expect(model.members).toHaveLength(2);
    const w0 = model.net!.weights[0].toArray();
    for (const m of model.members) expect(Array.from(m.net!.weights[0].toArray())).not.toEqual(Array.from(w0));
  });

  it('predicts the mean of its members, with their SD as the spread', () => {
    const one = firstMember(model);
    const each = [one, ...model.members].map((m) => m.predict(sim.observed.X, seen));
    const e = model.predictEnsemble(sim.observed.X, seen);
    expect(e.members).toBe(3);
    for (let i = 0; i < each[0].length; i++) {
      const v = each.map((p) => p[i]);
      const mean = (v[0] + v[1] + v[2]) / 3;
      const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
      // Sums of three doubles in the same order: equal up to the last bit of the mean.
      expect(Math.abs(e.fit[i] - mean)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(mean));
      expect(Math.abs(e.spread![i] - sd)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(mean)));
    }
    expect(model.predict(sim.observed.X, seen)).toEqual(e.fit);
    one.dispose();
  });

  it('gives each group the mixture of the members\' posteriors as ranef()', () => {
    const one = firstMember(model);
    const parts = [one, ...model.members].map((m) => m.ranef());
    model.ranef().forEach((r, i) => {
      const means = parts.map((p) => p[i].mean), sds = parts.map((p) => p[i].sd);
      const mean = means.reduce((a, v) => a + v, 0) / 3;
      const second = means.reduce((a, v, k) => a + v * v + sds[k] ** 2, 0) / 3;
      expect(r.mean).toBeCloseTo(mean, 14);
      expect(r.sd).toBeCloseTo(Math.sqrt(second - mean * mean), 12);
    });
    one.dispose();
  });

  it('is reproducible for a seed, and another seed gives other networks', () => {
    const again = fit(data, spec, { ...quick, ensemble: 3 });
    expect(again.predict(sim.fresh.X, { groups: 'new' })).toEqual(model.predict(sim.fresh.X, { groups: 'new' }));
    const other = fit(data, { ...spec, seed: 5 }, { ...quick, ensemble: 3, seed: 5 });
    expect(other.predict(sim.fresh.X, { groups: 'new' })).not.toEqual(model.predict(sim.fresh.X, { groups: 'new' }));
    again.dispose();
    other.dispose();
  });

  it('round-trips through its model file, spread and all', () => {
    const back = Model.load(JSON.parse(JSON.stringify(model.toJSON())));
    expect(back.members).toHaveLength(2);
    const a = model.predictEnsemble(sim.observed.X, seen), b = back.predictEnsemble(sim.observed.X, seen);
    expect(b.fit).toEqual(a.fit);
    expect(b.spread).toEqual(a.spread);
    expect(back.summary().ensemble?.members).toBe(3);
    back.dispose();
  });

  it('rejects a member that is not the same model, and frees what it loaded', () => {
    const j = () => JSON.parse(JSON.stringify(model.toJSON())) as ModelJSON & { members: ModelJSON[] };
    const cases: [string, (m: ModelJSON & { members: ModelJSON[] }) => void, RegExp][] = [
      ['standardisation', (m) => (m.members[1].standardise.mean[0] += 1e-9), /members\[1\]\.standardise' differs/],
      ['levels', (m) => m.members[0].levels.reverse(), /members\[0\]\.levels' differs|posterior/],
      ['spec', (m) => (m.members[0].spec.hidden = [8, 5]), /members\[0\]/],
      ['nested members', (m) => ((m.members[0] as ModelJSON).members = [m.members[1]]), /a member has no members/],
      ['not an array', (m) => ((m as { members: unknown }).members = {}), /'members' must be an array/],
    ];
    const before = E.backend().heap.inUse;
    for (const [, mutate, message] of cases) {
      const f = j();
      mutate(f);
      expect(() => Model.load(f)).toThrow(message);
    }
    expect(E.backend().heap.inUse).toBe(before);
  });

  it('says so in the summary', () => {
    const s = model.summary();
    expect(s.ensemble?.members).toBe(3);
    // The ranges are the members' own numbers, not the first member's.
    const all = [model, ...model.members];
    expect(s.ensemble!.ranefSD).toEqual([Math.min(...all.map((m) => m.ranefSD)), Math.max(...all.map((m) => m.ranefSD))]);
    expect(s.ensemble!.logLik).toEqual([Math.min(...all.map((m) => m.logLik())), Math.max(...all.map((m) => m.logLik()))]);
    expect(s.ensemble!.ranefSD[0]).toBeLessThan(s.ensemble!.ranefSD[1]);
    expect(model.info.message).toMatch(/deep ensemble of 3 networks/);
  });

  it('is refused for a linear model, as are held-out rows (they would be ignored)', () => {
    expect(() => fit(data, { family: 'gaussian' }, { ensemble: 3 })).toThrow(/^fit: ensemble applies to a network/);
    expect(() => fit(data, { family: 'gaussian' }, { validationRows: 0.2 })).toThrow(/^fit: validationRows applies to a network/);
  });

  it('is refused for several random-effect terms', () => {
    const n = sim.train.y.length;
    const num = (v: ArrayLike<number>): Column => ({ kind: 'number', values: Float64Array.from(v), missing: new Uint8Array(n) });
    const columns = new Map<string, Column>([
      ['y', num(sim.train.y)],
      ['x1', num(Array.from({ length: n }, (_, i) => sim.train.X[i * 5]))],
      ['g', { kind: 'string', values: [...sim.train.group], missing: new Uint8Array(n) }],
      ['h', { kind: 'string', values: Array.from({ length: n }, (_, i) => `h${i % 7}`), missing: new Uint8Array(n) }],
    ]);
    expect(() => fitFormula({ columns, nrows: n }, 'y ~ x1 + (1 | g) + (1 | h)', { family: 'gaussian', hidden: [4] }, { ensemble: 2 })).toThrow(/ensemble needs independent groups/);
  });
});

describe('early stopping on held-out rows', () => {
  const o = { epochs: 40, validationRows: 0.25, patience: 5, polish: false as const, ensemble: 1, seed: 3 };
  const losses: number[] = [];
  const stopped = fit(data, spec, { ...o, onProgress: (p: FitProgress) => { if (p.phase === 'adam') losses.push(p.validation!); } });

  it('restores the parameters of the best validation epoch', () => {
    const best = losses.indexOf(Math.min(...losses)) + 1;
    // It stopped early, after the best epoch: otherwise the test shows nothing.
    expect(losses.length).toBeLessThan(o.epochs);
    expect(best).toBeLessThan(losses.length);
    // The same seed run for exactly `best` epochs (the same split and batches) ends there.
    const atBest = fit(data, spec, { ...o, epochs: best, patience: 1000 });
    expect(stopped.predict(sim.fresh.X, { groups: 'new' })).toEqual(atBest.predict(sim.fresh.X, { groups: 'new' }));
    atBest.dispose();
  });
});

describe('the held-out rows criterion', () => {
  // A linear Gaussian random-intercept model at fixed parameters: −log p(held | kept) per group
  // in closed form. Given the kept rows r (n of them, residuals e_j = y_j − f_j), the posterior
  // of b is N(m, v) with v = 1/(1/σ_b² + n/σ²), m = v·Σe_j/σ², and the held-out rows are
  // jointly normal with mean f + m and covariance σ²I + v·11ᵀ.
  it('equals the closed-form Gaussian predictive density', () => {
    const model = fit(data, { family: 'gaussian' }, {});
    const prep0 = prepare(family('gaussian'), data);
    const prep = { ...prep0, X: model.standardise(prep0.X) };
    const obj = groupedObjective(model, prep, { rtol: 1e-10, nodes: 0 });
    const h = obj.holdOutRows!(0.3, new E.Rng(9));
    const units = Int32Array.from({ length: prep.response.ngroups }, (_, i) => i);
    const got = h.conditional(units);
    // Which rows were held out: a row is held out when the kept objective leaves it out. The
    // objective does not expose its mask, so rebuild it from the same draw.
    const rng = new E.Rng(9), r = prep.response;
    const f = E.tidy(() => model.f(E.tensor(prep.X, [r.nobs, prep.p])).toArray());
    const s2 = model.sigma ** 2, b2 = model.ranefSD ** 2;
    let want = 0, held = 0;
    for (let g = 0; g < r.ngroups; g++) {
      const n = r.offsets[g + 1] - r.offsets[g];
      const k = Math.min(n - 1, Math.round(0.3 * n));
      const idx = Int32Array.from({ length: n }, (_, i) => r.offsets[g] + i);
      rng.shuffle(idx);
      const out = Array.from(idx.subarray(0, k)), kept = Array.from(idx.subarray(k));
      held += out.length;
      const v = 1 / (1 / b2 + kept.length / s2);
      const m = (v * kept.reduce((a, j) => a + (r.y[j] - f[j]), 0)) / s2;
      // log N(e; m1, σ²I + v11ᵀ) by the matrix determinant lemma and Sherman–Morrison.
      const e = out.map((j) => r.y[j] - f[j] - m);
      const c = v / (s2 + k * v);
      const quad = (e.reduce((a, x) => a + x * x, 0) - c * e.reduce((a, x) => a + x, 0) ** 2) / s2;
      const logdet = k * Math.log(s2) + Math.log(1 + (k * v) / s2);
      want += 0.5 * (quad + logdet + k * Math.log(2 * Math.PI));
    }
    expect(h.heldRows).toBe(held);
    expect(held).toBeGreaterThan(40);
    // The Gaussian marginal is in closed form in the kernel: the difference of two sums of a
    // few hundred rounded terms (measured 3e−14 here).
    expect(Math.abs(got - want)).toBeLessThan(1e-12 * Math.abs(want));
    model.dispose();
  });
});
