// Child process of bench/e2e.bench.ts: the peak memory of one objective + gradient of the §4 NGMM
// over 10⁶ observations (20,000 Bernoulli groups × 50), WASM SIMD. Prints one JSON line.
// `chunk` (argument, default 2000 groups): the objective and gradient are accumulated over chunks
// of that many groups; `full` runs the whole 10⁶ rows as one tape (the MLP's activations alone
// are about 1.8 GB in float64).
import * as E from '../engine/index';
import { initSync } from '../engine/backend';
import { groupResponse, releaseResponse } from '../ngmm/marginal/groups';
import { Model } from '../ngmm/model';
import { e2eData } from './e2e.bench';
import { X_NAMES } from './study/simulate';

const GROUPS = 20_000, PER = 50, P = 5;
const b = initSync({ backend: 'wasm-simd' });
const d = e2eData('bernoulli', GROUPS, 11);
const model = new Model({ family: 'bernoulli', hidden: [64, 32, 16], activation: 'relu', seed: 1 }, X_NAMES, new Float64Array(P), new Float64Array(P).fill(1));
const arg = process.argv[2] ?? '2000';
const chunk = arg === 'full' ? GROUPS : Number(arg);
const params = model.parameters();
const grads = params.map((p) => new Float64Array(p.size));
const t = performance.now();
let objective = 0;
for (let g0 = 0; g0 < GROUPS; g0 += chunk) {
  const g1 = Math.min(GROUPS, g0 + chunk);
  const r = groupResponse(model.family, d.y.subarray(g0 * PER, g1 * PER), new Array(g1 - g0).fill(PER));
  objective += E.tidy(() => {
    // −Σ_i L_i / G over this chunk: the chunks' values and gradients add up to the full objective's.
    const L = E.div(E.neg(E.sum(model.logMarginal(E.tensor(d.X.subarray(g0 * PER * P, g1 * PER * P), [r.nobs, P]), r, 1e-8).L)), GROUPS);
    E.grad(L, params).forEach((g, i) => g.toArray().forEach((v, k) => (grads[i][k] += v)));
    return L.item();
  });
  releaseResponse(r);
}
const seconds = (performance.now() - t) / 1000;
model.dispose();
const MB = 1024 * 1024;
console.log(JSON.stringify({
  observations: GROUPS * PER,
  groups: GROUPS,
  chunkGroups: chunk,
  rssMB: (process.resourceUsage().maxRSS * 1024) / MB,
  wasmMB: b.heap.capacity / MB,
  heapTopMB: b.heap.highWater / MB,
  seconds,
  objective,
}));
