// Issue 16 (memory beyond 2 GiB): with unsigned pointer arithmetic, tensors placed above 2³¹
// in the WASM heap compute exactly what they compute low in memory. A filler block pushes the
// heap's top past 2 GiB (reserved, never written, so it costs address space, not RSS); then an
// NGMM (network f, random intercept: matmuls, activations, gathers and scatters, the marginal
// kernels, Adam, L-BFGS) is fitted on that backend and on a fresh one, and every number of the
// two fits must be identical.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { createBackendSync } from '../../kernels/load';
import { fit } from '../../ngmm/fit';
import { simulate } from '../../ngmm/simulate';

describe('kernel heap above 2 GiB', () => {
  it('a fit on tensors past 2³¹ equals the same fit low in memory, bit for bit', () => {
    const d = simulate('poisson', 5, { groups: 12, perGroup: 8 });
    const data = { X: d.train.X, xNames: d.xNames, y: d.train.y, group: d.train.group };
    const spec = { family: 'poisson' as const, hidden: [6], seed: 2 };
    const opts = { epochs: 3, ensemble: 1, seed: 2 };
    const low = createBackendSync({ backend: 'wasm-simd' });
    const high = createBackendSync({ backend: 'wasm-simd' });
    const filler = high.heap.alloc(2 ** 31 + 2 ** 20);
    expect(high.heap.capacity).toBeGreaterThan(2 ** 31);
    const probe = E.withBackend(high, () => E.untracked(() => E.zeros([4])));
    expect(probe.ptr).toBeGreaterThan(2 ** 31); // the test is about this
    probe.dispose();
    const run = (b: typeof low) => E.withBackend(b, () => {
      const m = fit(data, spec, opts);
      const out = {
        logLik: m.info.logLik,
        coef: m.coefficients().map((c) => c.value),
        pred: Array.from(m.predict(d.observed.X, { group: d.observed.group, groups: 'observed' })),
        ranef: m.ranef().map((r) => r.mean),
      };
      m.dispose();
      return out;
    });
    const a = run(low), b = run(high);
    expect(b).toEqual(a);
    expect(Number.isFinite(a.logLik)).toBe(true);
    high.heap.free(filler);
  }, 60_000);
});
