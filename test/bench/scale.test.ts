// The scale benchmark's child-process driver (bench/scale.case.ts) on tiny fits, and its memory
// checks: the section (`npm run bench -- scale`) is too long to run here, so its parts are.
import { describe, expect, it } from 'vitest';
import { HEAP_GROWTH_MB, memoryChecks, runScaleCase } from '../../bench/scale.bench';
import { scaleData, type ScaleResult } from '../../bench/scale.case';

describe('bench scale: the child-process driver', () => {
  it('fits an NGMM in a fresh process and reports time, peak memory and memory per epoch', () => {
    const r = runScaleCase('ngmm', 20, 10, 3);
    expect(r.kind).toBe('ngmm');
    expect(r.rows).toBe(200);
    expect(r.perEpoch.map((e) => e.epoch)).toEqual([1, 2, 3]);
    // A fresh Node process with the bundle loaded holds tens of MB; far less than a GB here.
    expect(r.peakRssMB).toBeGreaterThan(20);
    expect(r.peakRssMB).toBeLessThan(1024);
    expect(r.wasmMB).toBeGreaterThanOrEqual(r.heapTopMB);
    expect(r.fitSeconds).toBeGreaterThan(0);
    expect(Object.keys(r.phases)).toEqual(['linear', 'adam', 'polish']);
    expect(Number.isFinite(r.logLik)).toBe(true);
    // Every epoch frees what it allocates: the heap's live bytes are the same after each.
    for (const e of r.perEpoch) expect(e.heapInUseMB).toBe(r.perEpoch[0].heapInUseMB);
    expect(memoryChecks(r, 1024)).toEqual([]);
    expect(r.fixef).toBeNull(); // no SEs for a network
  });

  it('fits a linear GLMM with standard errors; a bad argument is a clear error', () => {
    const r = runScaleCase('glmm', 20, 10);
    expect(r.perEpoch).toEqual([]);
    expect(Object.keys(r.fixef!)).toEqual(['(Intercept)', 'x1', 'x2', 'x3', 'x4', 'x5']);
    for (const c of Object.values(r.fixef!)) expect(c.se).toBeGreaterThan(0);
    // The data reported are the arrays the driver simulated: X (n × 5 doubles), y, Int32 group ids.
    expect(r.dataMB * 1024 * 1024).toBe(200 * (5 * 8 + 8 + 4));
    expect(() => runScaleCase('glmm', 0, 10)).toThrow(/scale\.case: groups must be a whole number ≥ 1, got '0'/);
  });

  it('simulates seeded data: groups × perGroup rows, group ids in order', () => {
    const a = scaleData(3, 4), b = scaleData(3, 4);
    expect(Array.from(a.group)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(a.X).toEqual(b.X);
    expect(a.y).toEqual(b.y);
    expect(a.y.every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
    expect(a.X.every((v) => v >= -1 && v < 1)).toBe(true);
  });
});

describe('bench scale: memory checks', () => {
  const epoch = (epoch: number, heapInUseMB: number, rssMB: number) => ({ epoch, heapInUseMB, heapTopMB: 100, rssMB, seconds: epoch });
  const result = (perEpoch: ScaleResult['perEpoch'], peakRssMB = 900): ScaleResult => ({
    kind: 'ngmm', rows: 1, groups: 1, perGroup: 1, epochs: perEpoch.length, dataMB: 1, simulateSeconds: 0, fitSeconds: 1, phases: {},
    peakRssMB, wasmMB: 1, heapTopMB: 1, heapBeforeMB: 0, heapAfterMB: 0, perEpoch, logLik: 0, converged: false, message: '', ranefSD: 1, fixef: null,
  });

  it('pass flat memory and RSS noise within the margin', () => {
    // RSS 800 → 830 MB: within max(32, 5 % of 800 = 40) MB.
    expect(memoryChecks(result([epoch(1, 50, 800), epoch(2, 50, 790), epoch(5, 50, 830)]), 1536)).toEqual([]);
  });

  it('fail a growing heap, growing RSS, a peak over the limit and too few epochs, saying which', () => {
    expect(memoryChecks(result([epoch(1, 50, 800), epoch(5, 50 + HEAP_GROWTH_MB + 0.5, 800)]), 1536)).toEqual([
      'kernel heap in use grew by 1.50 MB from epoch 1 to epoch 5 (allowed 1 MB)',
    ]);
    expect(memoryChecks(result([epoch(1, 50, 800), epoch(5, 50, 841)]), 1536)).toEqual(['RSS grew by 41 MB from epoch 1 to epoch 5 (allowed 40 MB)']);
    expect(memoryChecks(result([epoch(1, 50, 100), epoch(5, 50, 133)]), 1536)).toEqual(['RSS grew by 33 MB from epoch 1 to epoch 5 (allowed 32 MB)']);
    expect(memoryChecks(result([epoch(1, 50, 800), epoch(5, 50, 800)], 1600), 1536)).toEqual(["the NGMM's peak RSS 1600 MB exceeds 1536 MB"]);
    expect(memoryChecks(result([epoch(1, 50, 800), epoch(5, 50, 800)], 1600), null)).toEqual([]);
    expect(memoryChecks(result([epoch(1, 50, 800)]), 1536)).toEqual(['the NGMM reported memory after 1 epoch(s); at least 2 are needed to see growth']);
  });
});
