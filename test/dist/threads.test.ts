// Worker threads (issue 16, bar 2), on the built bundle: dist/ngmm.js starts dist/threads.js next
// to it on its shared kernel memory. A fit on 2 or 3 threads gives the same bits as on one: each
// batch is cut into pieces by its rows alone and the pieces' gradients are summed in piece order
// (ngmm/threads/pieces.ts). The sources cannot start threads under vitest (no worker script next
// to them), so this runs the bundle, as users do.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

type Lib = typeof import('../../ngmm/index');
let lib: Lib;
beforeAll(async () => {
  lib = (await import(pathToFileURL(resolve('dist/ngmm.js')).href)) as Lib;
});

// 40 training groups of 48 rows: with 20 % of each group's rows held out (the recipe's
// validationRows), a batch of 16 groups has ~614 rows, cut into two pieces (the last batch of 8
// groups stays one piece).
function data(fam: 'bernoulli' | 'poisson' | 'gaussian') {
  const sim = lib.simulate(fam, 11, { groups: 50, perGroup: 60 });
  return { ...sim.train, xNames: sim.xNames };
}

function run(fam: 'bernoulli' | 'poisson' | 'gaussian', threads: number, extra: Record<string, unknown> = {}) {
  const warnings: string[] = [];
  const m = lib.fit(data(fam), { family: fam, hidden: [16, 8] }, { threads, ensemble: 2, epochs: 2, onWarning: (w) => warnings.push(w), ...extra });
  const numbers = [m, ...m.members].flatMap((x) => x.parameters().flatMap((t) => Array.from(t.data)));
  const out = { numbers, logLik: m.logLik(), threads: m.info.threads, warnings, members: m.members.length + 1 };
  m.dispose();
  return out;
}

describe('a fit on several threads', () => {
  it.each([['bernoulli', [2, 3]], ['poisson', [2]], ['gaussian', [2]]] as const)('%s: %j threads give the same bits as 1 (2-member ensemble, held-out rows, Gauss–Hermite)', (fam, counts) => {
    const one = run(fam, 1);
    expect(one.threads).toBe(1);
    expect(one.members).toBe(2);
    for (const n of counts) {
      const many = run(fam, n);
      expect(many.warnings).toEqual([]);
      expect(many.threads).toBe(n);
      expect(many.numbers).toEqual(one.numbers);
      expect(many.logLik).toBe(one.logLik);
    }
  });

  it('four pieces a batch (32 groups, ~1,230 rows), where the order of the sum matters: 2 and 3 threads give the same bits as 1', () => {
    // Two pieces would not test the order (a + b = b + a exactly); four are summed ((g₀ + g₁) + g₂) + g₃.
    const o = { batchSize: 32, ensemble: 1 };
    const one = run('poisson', 1, o);
    for (const n of [2, 3]) expect(run('poisson', n, o).numbers).toEqual(one.numbers);
  });

  it('the ODE marginal on 2 threads gives the same bits as on 1', () => {
    const o = { marginal: 'ode', ensemble: 1, validationRows: 0 };
    const one = run('bernoulli', 1, o), two = run('bernoulli', 2, o);
    expect(two.threads).toBe(2);
    expect(two.numbers).toEqual(one.numbers);
  });

  it('the threads really split the batches: a missing worker script leaves one thread, with a warning, and the same numbers', () => {
    lib.stopThreads();
    lib.setThreadScript(pathToFileURL(resolve('dist/no-such-threads.js')));
    try {
      const r = run('poisson', 2, { ensemble: 1 });
      expect(r.threads).toBe(1);
      expect(r.warnings.join('\n')).toMatch(/training on 1 thread, not 2: the worker script .*no-such-threads\.js is missing/);
      lib.setThreadScript(pathToFileURL(resolve('dist/threads.js')));
      const two = run('poisson', 2, { ensemble: 1 });
      expect(two.threads).toBe(2);
      expect(two.numbers).toEqual(r.numbers);
    } finally {
      lib.setThreadScript(pathToFileURL(resolve('dist/threads.js')));
    }
  });

  it('stopping the threads frees their arenas and control blocks', () => {
    const heap = lib.backend().heap;
    lib.stopThreads();
    const before = heap.inUse;
    run('bernoulli', 2, { ensemble: 1, epochs: 1 });
    expect(heap.inUse).toBeGreaterThan(before); // the pool's arenas stay for the next fit
    lib.stopThreads();
    expect(heap.inUse).toBe(before);
  });

  it('threads are refused where they cannot apply, and checked, naming the option', () => {
    const d = data('poisson');
    // Several random-effect terms: one unit, nothing to split.
    const levels = [...new Set(d.group)];
    const term = { name: 'g', columns: ['(Intercept)'], levels, group: Int32Array.from(d.group, (g) => levels.indexOf(g)), Z: new Float64Array(d.group.length).fill(1) };
    expect(() => lib.fit({ ...d, group: undefined } as never, { family: 'poisson' }, {})).toThrow(/group is missing/);
    expect(() => lib.fit({ ...d, terms: [term] } as never, { family: 'poisson', terms: [{ name: 'g', columns: ['(Intercept)'] }] }, { threads: 2 })).toThrow(/fit: threads needs mini-batches of independent groups/);
    // A linear model takes it (its L-BFGS passes over more than 50,000 rows use it).
    expect(() => lib.fit(d, { family: 'poisson' }, { threads: 2 })).not.toThrow();
    expect(() => lib.fit(d, { family: 'poisson', hidden: [4] }, { threads: 0 })).toThrow(/threads must be a whole number from 1 to 64, got 0/);
    expect(() => lib.fit(d, { family: 'poisson', hidden: [4] }, { threads: 1.5 })).toThrow(/threads must be a whole number from 1 to 64, got 1.5/);
  });
});
