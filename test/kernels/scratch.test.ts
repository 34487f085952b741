// Worker threads run their own instance of the kernels on the fitting thread's shared memory
// (ngmm/threads). Kernels that keep working arrays in static data would then overwrite each
// other's work; each instance after the first moves them into a block of its own
// (set_scratch, kernels/assembly/scratch.ts). This runs every kernel family that has such
// arrays — the ODE marginal (solver lanes, stage slots, mode grid), the Gauss–Hermite marginal
// and its Newton mode search (one and two random effects) — on a second instance of one shared
// memory, and checks that the static data [0, heap_base) is byte for byte what it was: nothing
// of the first instance's was written. It also checks that the second instance computes exactly
// what the first does.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { attachBackend } from '../../kernels/attach';
import { createBackendSync } from '../../kernels/load';
import { fit } from '../../ngmm/fit';
import { simulate } from '../../ngmm/simulate';

// The SIMD build: the scalar one keeps the same scratch arrays (the relocation code is shared)
// and runs the same fits through them more slowly.
describe.each(['wasm-simd'] as const)('%s: a second instance on one shared memory', (name) => {
  it('writes none of the static data, and fits exactly as the first', () => {
    const first = createBackendSync({ backend: name, shared: true });
    expect(first.wasm?.shared).toBe(true);
    const arenaBytes = 64 * 2 ** 20;
    const arena = first.heap.alloc(arenaBytes);
    const second = attachBackend(first.wasm!.module, first.wasm!.relaxedModule, first.wasm!.memory, arena, arenaBytes);
    const base = first.k.heap_base();
    const staticData = () => new Uint8Array(first.heap.memory.buffer, 0, base).slice();
    const before = staticData();
    const runs = (b: typeof first) => E.withBackend(b, () => {
      const out: number[] = [];
      for (const fam of ['bernoulli', 'poisson', 'gaussian'] as const) {
        const d = simulate(fam, 3, { groups: 12, perGroup: 9 });
        const data = { X: d.train.X, xNames: d.xNames, y: d.train.y, group: d.train.group };
        // The ODE (linear stage, posteriors), Gauss–Hermite while training the network.
        const m = fit(data, { family: fam, hidden: [4], seed: 1 }, { epochs: 2, ensemble: 1 });
        // Random slopes: the two-dimensional Newton mode search and product rule.
        const s = fit(data, { family: fam, randomSlopes: ['x1'] }, {});
        out.push(m.logLik(), ...m.parameters().flatMap((t) => Array.from(t.data)), s.logLik(), ...s.parameters().flatMap((t) => Array.from(t.data)));
        m.dispose();
        s.dispose();
      }
      // A non-log-concave integrand (Poisson, sqrt link): the ODE's global mode search on its grid.
      const d = simulate('poisson', 4, { groups: 12, perGroup: 9 });
      const q = fit({ X: d.train.X, xNames: d.xNames, y: d.train.y, group: d.train.group }, { family: 'poisson', link: 'sqrt' }, {});
      out.push(q.logLik(), ...q.parameters().flatMap((t) => Array.from(t.data)));
      q.dispose();
      return out;
    });
    const onSecond = runs(second);
    expect(staticData()).toEqual(before);
    expect(runs(first)).toEqual(onSecond);
    first.heap.free(arena);
  });
});
