// The L-BFGS passes over data of more than PASS_ROWS rows run in parts of whole groups, which
// worker threads share (ngmm/fitting/objective.ts minimizeObjective with a runner): the same
// parts summed in the same order, so the same bits as on one thread. The parts are made small
// here (maxRows 80) to have many of them on a small data set. The worker script is the built
// one (dist/threads.js, made by `npm test` before vitest runs); it is compiled from these sources.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { prepare } from '../../ngmm/data';
import { family } from '../../ngmm/families/index';
import { groupedObjective, minimizeObjective, objectiveParts } from '../../ngmm/fitting/objective';
import { Model } from '../../ngmm/model';
import { simulate } from '../../ngmm/simulate';
import { fit } from '../../ngmm/fit';
import { summaryOf } from '../../ngmm/summary';
import { setThreadScript, startThreads, stopThreads, threadRunner } from '../../ngmm/threads/pool';

afterAll(() => stopThreads());

describe('the parted L-BFGS on two threads', () => {
  it.each(['poisson', 'bernoulli'] as const)('%s: reaches the same bits as on one thread (linear part and scales, the network held fixed)', (fam) => {
    setThreadScript(pathToFileURL(resolve('dist/threads.js')));
    const th = threadRunner(2);
    expect(th.why).toBeNull();
    expect(th.threads).toBe(2);
    const sim = simulate(fam, 21, { groups: 60, perGroup: 12 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    let dataBytes = 0;
    const run = (runner: typeof th.runner) => {
      const model = new Model({ family: fam, hidden: [8], seed: 3 }, sim.xNames, new Float64Array(5), new Float64Array(5).fill(1));
      const prep = prepare(family(fam), data);
      const obj = groupedObjective(model, prep, { rtol: 1e-8, nodes: 0 });
      // The data the workers read, copied once into the shared kernel memory for the pass.
      const r0 = prep.response;
      dataBytes = [prep.X, r0.y, r0.cst, r0.offsets, r0.groupOf, r0.trials].reduce((a, v) => a + (v ? Math.ceil(Math.max(1, v.byteLength) / 16) * 16 : 0), 0);
      expect(objectiveParts(obj, 80)!.length).toBeGreaterThan(4); // many parts: the order of the sum matters
      const params = [...model.linearParams(), ...model.scaleParams()];
      const heap = E.backend().heap;
      const before = heap.inUse;
      // The kernel memory in use on this thread after each part's forward pass, above the start:
      // one part's tape at a time on either thread count (a pass that kept every part's tape
      // until the sum would hold k tapes at its k-th part).
      let peak = 0;
      const probe = { ...obj, value: (u: Int32Array | null, sub?: { k: number; rng: E.Rng }) => {
        const t = obj.value(u, sub);
        peak = Math.max(peak, heap.inUse - before);
        return t;
      } };
      const r = minimizeObjective(params, probe, { gtol: 1e-6, maxIter: 100 }, 80, () => runner);
      expect(heap.inUse).toBe(before); // the workers' replica released, the parts freed
      const out = { f: r.f, iterations: r.iterations, values: model.parameters().flatMap((t) => Array.from(t.data)), peak };
      model.dispose();
      return out;
    };
    const one = run(null), two = run(th.runner);
    expect(one.iterations).toBeGreaterThan(3);
    expect({ ...two, peak: 0 }).toEqual({ ...one, peak: 0 });
    // The same bound on two threads as on one, plus the shared copy of the data (the parts on
    // either thread differ in size by a group or two).
    expect(two.peak).toBeGreaterThan(0);
    expect(two.peak).toBeLessThan(1.5 * one.peak + dataBytes);
  });

  it("the summary's standard errors (the gradient of −logLik in parts, twice per parameter) on two threads: the same bits", () => {
    setThreadScript(pathToFileURL(resolve('dist/threads.js')));
    const warnings: string[] = [];
    const th = threadRunner(2, (m) => warnings.push(m));
    expect(th.threads).toBe(2);
    const sim = simulate('poisson', 23, { groups: 60, perGroup: 12 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    const model = fit(data, { family: 'poisson' }, { threads: 1 });
    const prep = prepare(family('poisson'), data);
    const scaled = { ...prep, X: model.standardise(prep.X) };
    const one = summaryOf(model, scaled, undefined, 80, null), two = summaryOf(model, scaled, undefined, 80, () => th.runner);
    const se = (s: typeof one) => Object.values(s.fixef!).map((c) => c.se);
    expect(se(one).every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    expect(se(two)).toEqual(se(one));
    expect(warnings).toEqual([]); // the worker computed its parts (a fallback is said)
  });

  it('a worker whose arena is too small for its pieces: the fitting thread computes them, the same bits, and the fit is told once', async () => {
    setThreadScript(pathToFileURL(resolve('dist/threads.js')));
    await startThreads(2, { arenaBytes: 65536 }); // 64 kB: a worker's scratch fits, no piece does
    const warnings: string[] = [];
    const th = threadRunner(2, (m) => warnings.push(m));
    expect(th.threads).toBe(2);
    const sim = simulate('poisson', 21, { groups: 60, perGroup: 12 });
    const data = { X: sim.train.X, xNames: sim.xNames, y: sim.train.y, group: sim.train.group };
    const run = (runner: typeof th.runner) => {
      const model = new Model({ family: 'poisson', hidden: [8], seed: 3 }, sim.xNames, new Float64Array(5), new Float64Array(5).fill(1));
      const obj = groupedObjective(model, prepare(family('poisson'), data), { rtol: 1e-8, nodes: 0 });
      const r = minimizeObjective([...model.linearParams(), ...model.scaleParams()], obj, { gtol: 1e-6, maxIter: 100 }, 80, () => runner);
      const out = { f: r.f, values: model.parameters().flatMap((t) => Array.from(t.data)) };
      model.dispose();
      return out;
    };
    const one = run(null), two = run(th.runner);
    expect(two).toEqual(one);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/a worker thread could not compute its piece of a batch \(out of kernel memory.*\); this thread computed it instead/);
    stopThreads();
  });

  it('more threads than a batch has pieces are refused by startThreads and said by a fit', async () => {
    await expect(startThreads(9)).rejects.toThrow(/at most 8 threads/);
    expect(threadRunner(64).why).toMatch(/at most 8 threads run/);
    stopThreads();
  });
});

