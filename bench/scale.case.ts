// Child process of bench/scale.bench.ts: one fit at scale in a fresh process, so that the peak
// RSS it reports (process.resourceUsage().maxRSS) is this fit's alone. Prints one JSON line.
//   node scripts/run-ts.mjs bench/scale.case.ts <ngmm|glmm> <groups> <perGroup> [epochs]
// The data are the §4 design (x ~ U(−1, 1)⁵, f the paper's nonlinear effect, b_i ~ N(0, 0.5²)),
// Poisson, seeded; group labels are numbers (what a caller with integer ids passes).
import * as E from '../engine/index';
import { initSync } from '../engine/backend';
import { fit, type FitProgress } from '../ngmm/fit';
import { fNonlinear, FAMILY_SCALE, X_NAMES } from './study/simulate';

export type ScaleKind = 'ngmm' | 'glmm';

/** Memory after one Adam epoch (MB): the kernel heap's live bytes, its high-water mark, and the process RSS. */
export interface EpochMemory {
  epoch: number;
  heapInUseMB: number;
  heapTopMB: number;
  rssMB: number;
  seconds: number;
}

export interface ScaleResult {
  kind: ScaleKind;
  rows: number;
  groups: number;
  perGroup: number;
  /** Adam epochs (the NGMM; 0 for the GLMM). */
  epochs: number;
  /** The data handed to fit(): X, y and the group ids, MB. */
  dataMB: number;
  /** Seconds to simulate the data, then of the whole fit (including its posterior and summary). */
  simulateSeconds: number;
  fitSeconds: number;
  /** Seconds of each phase, from its first to its last progress report. */
  phases: Record<string, number>;
  /** Peak resident set of the process (MB). */
  peakRssMB: number;
  /** The WASM memory's size at the end (it never shrinks: the largest it was) and the heap's high-water mark (MB). */
  wasmMB: number;
  heapTopMB: number;
  /** Kernel heap bytes in use before the fit and after it (the model's parameters and posterior). */
  heapBeforeMB: number;
  heapAfterMB: number;
  perEpoch: EpochMemory[];
  logLik: number;
  converged: boolean;
  message: string;
  ranefSD: number;
  /** The linear coefficients with their SEs (the GLMM), as the summary gives them. */
  fixef: Record<string, { estimate: number; se: number }> | null;
}

const MB = 1024 * 1024;

/** The §4 design, Poisson: `groups` × `perGroup` rows, seeded. */
export function scaleData(groups: number, perGroup: number, seed = 16): { X: Float64Array; y: Float64Array; group: Int32Array } {
  const rng = new E.Rng(seed);
  const P = X_NAMES.length, n = groups * perGroup;
  const X = new Float64Array(n * P), y = new Float64Array(n), group = new Int32Array(n);
  const { a, c } = FAMILY_SCALE.poisson;
  for (let i = 0; i < groups; i++) {
    const b = 0.5 * rng.normal();
    for (let j = 0; j < perGroup; j++) {
      const r = i * perGroup + j;
      for (let k = 0; k < P; k++) X[r * P + k] = 2 * rng.uniform() - 1;
      y[r] = rng.poisson(Math.exp(a * fNonlinear(X.subarray(r * P, r * P + P)) + c + b));
      group[r] = i;
    }
  }
  return { X, y, group };
}

export function runCase(kind: ScaleKind, groups: number, perGroup: number, epochs: number): ScaleResult {
  const b = initSync({ backend: 'wasm-simd' });
  const t0 = performance.now();
  const d = scaleData(groups, perGroup);
  const simulateSeconds = (performance.now() - t0) / 1000;
  const heapBefore = b.heap.inUse;
  const perEpoch: EpochMemory[] = [];
  const phases: Record<string, [number, number]> = {};
  const onProgress = (p: FitProgress) => {
    const s = p.elapsedMs / 1000;
    const ph = (phases[p.phase] ??= [s, s]);
    ph[1] = s;
    if (p.phase === 'adam') {
      // After the epoch's last step (the progress report comes between epochs, outside any tidy scope).
      perEpoch.push({ epoch: p.epoch, heapInUseMB: b.heap.inUse / MB, heapTopMB: b.heap.highWater / MB, rssMB: process.memoryUsage().rss / MB, seconds: s });
    }
  };
  const t1 = performance.now();
  const spec = kind === 'ngmm' ? { family: 'poisson' as const, hidden: [64, 32, 16], seed: 1 } : { family: 'poisson' as const };
  const opts = kind === 'ngmm' ? { epochs, ensemble: 1, onProgress } : { onProgress };
  const model = fit({ X: d.X, xNames: X_NAMES, y: d.y, group: d.group }, spec, opts);
  const fitSeconds = (performance.now() - t1) / 1000;
  const s = model.stored!;
  const out: ScaleResult = {
    kind, rows: groups * perGroup, groups, perGroup, epochs: kind === 'ngmm' ? epochs : 0,
    dataMB: (d.X.byteLength + d.y.byteLength + d.group.byteLength) / MB,
    simulateSeconds, fitSeconds,
    phases: Object.fromEntries(Object.entries(phases).map(([k, [a, z]]) => [k, z - a])),
    peakRssMB: (process.resourceUsage().maxRSS * 1024) / MB,
    wasmMB: b.heap.capacity / MB,
    heapTopMB: b.heap.highWater / MB,
    heapBeforeMB: heapBefore / MB,
    heapAfterMB: b.heap.inUse / MB,
    perEpoch,
    logLik: s.logLik,
    converged: s.converged,
    message: s.message,
    ranefSD: s.ranefSD,
    fixef: s.fixef ? Object.fromEntries(Object.values(s.fixef).map((c) => [c.name, { estimate: c.estimate, se: c.se }])) : null,
  };
  model.dispose();
  return out;
}

// Run as a script (not when imported for its types or data).
if (process.argv[1]?.endsWith('scale.case.run.mjs')) {
  const [kind, groups, perGroup, epochs] = process.argv.slice(2);
  if (kind !== 'ngmm' && kind !== 'glmm') throw new Error(`scale.case: the first argument is 'ngmm' or 'glmm', got '${kind}'`);
  const num = (v: string | undefined, what: string, dflt?: number) => {
    const x = v === undefined ? dflt : Number(v);
    if (!(x !== undefined && Number.isInteger(x) && x >= 1)) throw new Error(`scale.case: ${what} must be a whole number ≥ 1, got '${v}'`);
    return x;
  };
  console.log(JSON.stringify(runCase(kind, num(groups, 'groups'), num(perGroup, 'perGroup'), num(epochs, 'epochs', 5))));
}
