// The `ngmm/latent` entry (dist/latent.js, issue 15): the bundle fits the latent model and
// gives exactly the numbers the sources give (it is the same code, minified, with its own
// copy of the engine and kernels).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { initSync } from '../../engine/backend';
import { fitLatent as fitSource, type LatentData } from '../../ngmm/latent/fit';
import pkg from '../../package.json';

// 4 schools × 4 students, 6 items (2 per domain, one with three categories), every student all items.
function tiny(): LatentData {
  const domain = Int32Array.of(0, 0, 1, 1, 2, 2), stepStart = Int32Array.of(0, 1, 3, 4, 5, 7, 8), steps = Float64Array.of(-0.5, -0.3, 0.6, 0.2, 0.1, -0.4, 0.9, 0.3);
  const n = 16, start = new Int32Array(n + 1), item: number[] = [], score: number[] = [];
  for (let s = 0; s < n; s++) {
    for (let k = 0; k < 6; k++) {
      item.push(k);
      score.push((s * 7 + k * 3) % (stepStart[k + 1] - stepStart[k] + 1));
    }
    start[s + 1] = item.length;
  }
  return {
    bank: { domain, stepStart, steps },
    responses: { start, item: Int32Array.from(item), score: Int32Array.from(score) },
    school: Int32Array.from({ length: n }, (_, s) => s >> 2),
    nSchools: 4,
    covariates: { num: Float64Array.from({ length: n }, (_, s) => Math.sin(s)), numNames: ['x'], cat: Int32Array.from({ length: n }, (_, s) => (s % 3) - 1), catNames: ['c'], catLevels: [2] },
    z: Float64Array.of(0, 1, 0, 1),
    pZ: 1,
  };
}

describe('ngmm/latent (dist/latent.js)', () => {
  it('is exported by the package and fits as the sources do, number for number', async () => {
    expect((pkg.exports as Record<string, unknown>)['./latent']).toEqual({ types: './dist/types/ngmm/latent/index.d.ts', default: './dist/latent.js' });
    const lib = await import(pathToFileURL(resolve('dist/latent.js')).href);
    lib.initSync();
    initSync();
    const d = tiny();
    const train = Int32Array.from({ length: 12 }, (_, i) => i), valid = Int32Array.of(12, 13, 14, 15);
    for (const kind of ['fe-lin', 'me-nn'] as const) {
      const o = { epochs: 2, innerNodes: 3, outerNodes: 3, seed: 1, hidden: [4], hiddenG: [2] };
      const a = lib.fitLatent(d, kind, train, valid, o), b = fitSource(d, kind, train, valid, o);
      const sa = Array.from(a.background.sigma().Sigma), sb = Array.from(b.background.sigma().Sigma);
      expect(sa.every(Number.isFinite)).toBe(true);
      expect(sa).toEqual(sb);
      expect(a.score(valid, 'new')).toEqual(b.score(valid, 'new'));
      a.dispose();
      b.dispose();
    }
  });
});
