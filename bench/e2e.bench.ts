// End-to-end benchmark: one training epoch of the §4 NGMM (f = β₀ + xᵀβ + MLP 5→64→32→16→1 ReLU,
// random intercept σ_b, mini-batches of 16 groups) on 100 and 2,000 groups × 50 observations,
// Bernoulli and Poisson, objective+gradient only and with the Adam step, side by side:
//   - ours, WASM SIMD backend ('wasm-simd'), batches in pieces as fit trains them: the adaptive ODE
//     marginal (rtol 1e−8) and adaptive Gauss–Hermite with 25 nodes (a network's default), the
//     latter with f in float64 and in mixed precision, on one thread and on two;
//   - ours, TypeScript reference backend ('ts'): the same code on the plain-TS kernels;
//   - TensorFlow.js 4.22 with its WASM backend (float32, one thread): the same objective with the
//     same weights and data, the marginal by a fixed 201-point log-sum-exp grid on [−6, 6];
//   - PyTorch (Debian's python3-torch): float64 on one and on two threads, float32 on one, the same
//     grid objective, when /usr/bin/python3 can import torch (skipped with a notice otherwise).
// Each engine's full-data objective is compared with ours at rtol 1e−10 (the reference).
// Then the peak memory of one 10⁶-observation objective+gradient (a child process).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as E from '../engine/index';
import { withBackend } from '../engine/backend';
import type { Backend } from '../kernels/load';
import { prepare } from '../ngmm/data';
import { groupedObjective } from '../ngmm/fitting/objective';
import { groupResponse, releaseResponse } from '../ngmm/marginal/groups';
import { Model } from '../ngmm/model';
import { batchGradient } from '../ngmm/threads/pieces';
import { threadRunner } from '../ngmm/threads/pool';
import { fNonlinear, FAMILY_SCALE, X_NAMES } from './study/simulate';
import { median, table, type Section } from './lib';

type Fam = 'bernoulli' | 'poisson';
const PER_GROUP = 50, BATCH = 16, P = 5, GRID = 201, LR = 1e-3, RTOL = 1e-8;
const HIDDEN = [64, 32, 16];
/** Group counts (E2E_GROUPS=100 for a quick check of the pipeline). */
const SIZES = (process.env.E2E_GROUPS ?? '100,2000').split(',').map(Number);

export interface E2EData {
  family: Fam;
  groups: number;
  X: Float64Array;
  y: Float64Array;
}

/** The §4 design at the benchmark's sizes: x ~ U(−1, 1)⁵, b_i ~ N(0, 0.5²), 50 observations per group. */
export function e2eData(family: Fam, groups: number, seed = 7): E2EData {
  const rng = new E.Rng(seed);
  const n = groups * PER_GROUP;
  const X = new Float64Array(n * P), y = new Float64Array(n);
  const { a, c } = FAMILY_SCALE[family];
  for (let i = 0; i < groups; i++) {
    const b = 0.5 * rng.normal();
    for (let j = 0; j < PER_GROUP; j++) {
      const r = i * PER_GROUP + j;
      for (let k = 0; k < P; k++) X[r * P + k] = 2 * rng.uniform() - 1;
      const eta = a * fNonlinear(X.subarray(r * P, r * P + P)) + c + b;
      y[r] = family === 'bernoulli' ? (rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0) : rng.poisson(Math.exp(eta));
    }
  }
  return { family, groups, X, y };
}

/** The initial parameters every engine starts from: our model's seeded initialisation. */
function initialParams(family: Fam): { values: Float64Array[]; shapes: number[][] } {
  const m = new Model({ family, hidden: HIDDEN, activation: 'relu', seed: 1 }, X_NAMES, new Float64Array(P), new Float64Array(P).fill(1));
  // Start the linear part away from zero so the objective is not trivially symmetric.
  m.W.data.set([0.3, -0.2, 0.4, 0.1, -0.3]);
  const ps = m.parameters();
  const out = { values: ps.map((t) => t.toArray()), shapes: ps.map((t) => [...t.shape]) };
  m.dispose();
  return out;
}


/**
 * Median seconds per call of each function, measured round-robin (one call of each per round,
 * after one warm-up call each) so that the shared machine's load drifts over all of them alike.
 */
async function roundRobin(fns: (() => unknown)[], rounds: number): Promise<number[]> {
  for (const fn of fns) await fn();
  const times = fns.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [i, fn] of fns.entries()) {
      const t = performance.now();
      await fn();
      times[i].push((performance.now() - t) / 1000);
    }
  }
  return times.map(median);
}

// ---- our engine ----
interface OursCase {
  epoch(adam: boolean): void;
  objective(rtol: number): number;
  /** Mean ODE solver work per group on the full data (steps, integrand evaluations). */
  work(): Record<string, number>;
  dispose(): void;
}

interface OursOptions {
  /** > 0: the marginal by adaptive Gauss–Hermite with this many nodes (fit's marginal: 'quadrature'); 0: the ODE. */
  nodes?: number;
  precision?: 'f64' | 'mixed';
  threads?: number;
}

/**
 * One epoch as `fit` trains: the objective of a batch of groups by pieces (ngmm/threads/pieces.ts,
 * the same pieces on any number of threads), its gradient, and Adam.
 */
function oursCase(b: Backend, d: E2EData, init: { values: Float64Array[] }, o: OursOptions = {}): OursCase {
  const nodes = o.nodes ?? 0, threads = o.threads ?? 1;
  return withBackend(b, () => {
    const model = new Model({ family: d.family, hidden: HIDDEN, activation: 'relu', seed: 1, precision: o.precision ?? 'f64' }, X_NAMES, new Float64Array(P), new Float64Array(P).fill(1));
    model.parameters().forEach((t, i) => t.data.set(init.values[i]));
    // Group labels that sort in data order, so batches are runs of consecutive groups as in PyTorch's epoch.
    const group = Array.from({ length: d.groups * PER_GROUP }, (_, r) => `g${String(Math.floor(r / PER_GROUP)).padStart(6, '0')}`);
    const prep = prepare(model.family, { X: d.X, xNames: X_NAMES, y: d.y, group });
    const obj = groupedObjective(model, prep, { rtol: RTOL, nodes });
    const th = threads > 1 ? threadRunner(threads) : { runner: null, threads: 1, why: null };
    if (th.threads !== threads) throw new Error(`e2e: ${threads} threads asked, ${th.threads} run: ${th.why}`);
    const batches: Int32Array[] = [];
    for (let g0 = 0; g0 < d.groups; g0 += BATCH) batches.push(Int32Array.from({ length: Math.min(BATCH, d.groups - g0) }, (_, i) => g0 + i));
    const params = model.parameters();
    const opt = new E.Adam(params, { lr: LR });
    const all = groupResponse(model.family, d.y, new Array(d.groups).fill(PER_GROUP));
    return {
      epoch: (adam) => withBackend(b, () => {
        for (const bt of batches) {
          E.tidy(() => {
            const { loss, grads } = batchGradient(obj, bt, params, th.runner);
            if (adam) opt.step(grads);
            return loss;
          });
        }
      }),
      objective: (rtol) => withBackend(b, () => E.tidy(() => groupedObjective(model, prep, { rtol, nodes }).value(null).item())),
      work: () => withBackend(b, () => E.tidy(() => {
        const st = model.logMarginal(E.tensor(d.X, [all.nobs, P]), all, RTOL).stats as unknown as Record<string, Float64Array>;
        const mean = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / a.length;
        return { steps: mean(st.steps), rejected: mean(st.rejected), rhs: mean(st.rhs), evals: mean(st.evals), gradEvals: mean(st.gradEvals) };
      })),
      dispose: () => withBackend(b, () => {
        th.runner?.release(obj);
        releaseResponse(all);
        releaseResponse(prep.response);
        opt.dispose();
        model.dispose();
      }),
    };
  });
}

// ---- TensorFlow.js (WASM backend) ----
type TF = typeof import('@tensorflow/tfjs-core');
let tfLoaded: TF | null = null;
async function loadTf(): Promise<TF> {
  if (tfLoaded) return tfLoaded;
  const tf = await import('@tensorflow/tfjs-core');
  // tfjs-core alone registers no gradients (the union package @tensorflow/tfjs does); its ESM
  // gradient module is bundled by esbuild (a relative path) and registers into tfjs's global registry.
  await import('../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // The .wasm files from node_modules (no network).
  const dir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(`${dir}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js: the wasm backend did not initialise');
  await tf.ready();
  tfLoaded = tf;
  return tf;
}

// log y! for the TF.js objective's constant, summed directly: the other engines' objectives are
// written independently of our kernels.
function lgamma1p(y: number): number {
  let s = 0;
  for (let k = 2; k <= y; k++) s += Math.log(k);
  return s;
}

async function tfCase(d: E2EData, init: { values: Float64Array[]; shapes: number[][] }) {
  const tf = await loadTf();
  const vars = init.values.map((v, i) => tf.variable(tf.tensor(Float32Array.from(v), init.shapes[i].length ? init.shapes[i] : [])));
  const [b0, W] = vars, theta = vars[vars.length - 1], layers = vars.slice(2, -1);
  const t = Array.from({ length: GRID }, (_, k) => -6 + (12 * k) / (GRID - 1));
  const lw = t.map((v) => -0.5 * v * v);
  const lse = Math.log(lw.reduce((a, v) => a + Math.exp(v), 0));
  const grid = tf.tensor2d(t, [1, GRID]);
  const logw = tf.tensor2d(lw.map((v) => v - lse), [1, GRID]);
  const mk = (g0: number, g1: number) => {
    const rows = (g1 - g0) * PER_GROUP;
    const cst = new Float32Array(g1 - g0);
    if (d.family === 'poisson') for (let r = 0; r < rows; r++) cst[Math.floor(r / PER_GROUP)] -= lgamma1p(d.y[g0 * PER_GROUP + r]);
    return {
      g: g1 - g0,
      X: tf.tensor2d(Float32Array.from(d.X.subarray(g0 * PER_GROUP * P, g1 * PER_GROUP * P)), [rows, P]),
      y: tf.tensor2d(Float32Array.from(d.y.subarray(g0 * PER_GROUP, g1 * PER_GROUP)), [rows, 1]),
      cst: tf.tensor1d(cst),
    };
  };
  const batches: ReturnType<typeof mk>[] = [];
  for (let g0 = 0; g0 < d.groups; g0 += BATCH) batches.push(mk(g0, Math.min(d.groups, g0 + BATCH)));
  const objective = (bt: ReturnType<typeof mk>) => () => tf.tidy(() => {
    let h: import('@tensorflow/tfjs-core').Tensor2D = bt.X;
    for (let i = 0; i < layers.length; i += 2) {
      h = tf.add(tf.matMul(h, layers[i] as import('@tensorflow/tfjs-core').Tensor2D), layers[i + 1]);
      if (i + 2 < layers.length) h = tf.relu(h);
    }
    const f = tf.add(tf.add(tf.matMul(bt.X, W as import('@tensorflow/tfjs-core').Tensor2D), b0), h); // [rows, 1]
    const eta = tf.add(f, tf.mul(tf.softplus(theta), grid)); // [rows, K]
    const ll = d.family === 'bernoulli' ? tf.sub(tf.mul(bt.y, eta), tf.softplus(eta)) : tf.sub(tf.mul(bt.y, eta), tf.exp(eta));
    const per = tf.add(tf.sum(tf.reshape(ll, [bt.g, PER_GROUP, GRID]), 1), logw);
    const L = tf.add(tf.logSumExp(per, 1), bt.cst);
    return tf.neg(tf.mean(L)) as import('@tensorflow/tfjs-core').Scalar;
  });
  const opt = tf.train.adam(LR);
  return {
    epoch: (adam: boolean) => {
      let last = 0;
      for (const bt of batches) {
        if (adam) {
          const loss = opt.minimize(objective(bt), true, vars);
          last = loss!.dataSync()[0];
          loss!.dispose();
        } else {
          const { value, grads } = tf.variableGrads(objective(bt), vars);
          for (const g of Object.values(grads)) g.dataSync();
          last = value.dataSync()[0];
          tf.dispose([value, ...Object.values(grads)]);
        }
      }
      return last;
    },
    objective: () => {
      const all = mk(0, d.groups);
      const v = tf.tidy(() => objective(all)().dataSync()[0]);
      tf.dispose([all.X, all.y, all.cst]);
      return v;
    },
    dispose: () => {
      tf.dispose([...vars, grid, logw, ...batches.flatMap((b) => [b.X, b.y, b.cst])]);
      opt.dispose();
    },
  };
}

// ---- PyTorch (subprocess) ----
const PYTHON = '/usr/bin/python3';
function torchAvailable(): string | null {
  try {
    return execFileSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** A PyTorch run: its threads and floating-point type (its own process each). */
interface TorchConfig {
  label: string;
  threads: number;
  dtype: 'float64' | 'float32';
}
const TORCH_CONFIGS: TorchConfig[] = [
  { label: 'PyTorch f64, 1 thread', threads: 1, dtype: 'float64' },
  { label: 'PyTorch f64, 2 threads', threads: 2, dtype: 'float64' },
  { label: 'PyTorch f32, 1 thread', threads: 1, dtype: 'float32' },
];

function torchCase(d: E2EData, init: { values: Float64Array[]; shapes: number[][] }, reps: number, c: TorchConfig): { objective: number; grad: number; adam: number } {
  const dir = mkdtempSync(join(tmpdir(), 'ngmm-e2e-'));
  try {
    const prefix = join(dir, 'case');
    writeFileSync(`${prefix}.json`, JSON.stringify({
      family: d.family, groups: d.groups, perGroup: PER_GROUP, p: P, gridPoints: GRID, batch: BATCH, lr: LR, reps, threads: c.threads, dtype: c.dtype,
      values: init.values.map((v) => [...v]), shapes: init.shapes,
    }));
    writeFileSync(`${prefix}.X.f64`, new Uint8Array(d.X.buffer, d.X.byteOffset, d.X.byteLength));
    writeFileSync(`${prefix}.y.f64`, new Uint8Array(d.y.buffer, d.y.byteOffset, d.y.byteLength));
    const out = execFileSync(PYTHON, ['bench/e2e_torch.py', prefix], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(c.threads), OMP_NUM_THREADS: String(c.threads), MKL_NUM_THREADS: String(c.threads) },
      maxBuffer: 1 << 20,
    });
    return JSON.parse(out.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- memory (child process) ----
type Memory = { observations: number; groups: number; chunkGroups: number; rssMB: number; wasmMB: number; heapTopMB: number; seconds: number; objective: number } | { error: string };
function memoryCase(chunk: string): Memory {
  try {
    const out = execFileSync(process.execPath, ['scripts/run-ts.mjs', 'bench/e2e.memory.ts', chunk], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').pop()!);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    const line = (err.stderr ?? err.message).split('\n').find((l) => /^\w*Error: /.test(l)) ?? err.message.split('\n')[0];
    return { error: line.trim() };
  }
}
function memoryText(m: Memory, what: string): string {
  return 'error' in m
    ? `${what}: failed in the child process (${m.error}).`
    : `${what}: process RSS ${m.rssMB.toFixed(0)} MB, WASM memory ${m.wasmMB.toFixed(0)} MB (heap high-water mark ${m.heapTopMB.toFixed(0)} MB), ${m.seconds.toFixed(1)} s, objective ${m.objective.toFixed(4)}.`;
}

// ---- the section ----
interface Row {
  family: Fam;
  groups: number;
  mode: 'grad' | 'adam';
  engine: string;
  secondsPerEpoch: number;
  groupsPerSecond: number;
  reps: number;
  /** |objective − reference| (mean per group, nats). */
  objectiveError: number;
}

// Ours, in the round-robin: the ODE marginal (f64, one thread) and adaptive Gauss–Hermite with
// 25 nodes (fit's marginal for a network) in float64 and mixed precision, on one and two threads.
const OURS: { label: string; o: OursOptions }[] = [
  { label: 'ngmm ODE, f64, 1 thread', o: {} },
  { label: 'ngmm GH-25, f64, 1 thread', o: { nodes: 25 } },
  { label: 'ngmm GH-25, f64, 2 threads', o: { nodes: 25, threads: 2 } },
  { label: 'ngmm GH-25, mixed, 1 thread', o: { nodes: 25, precision: 'mixed' } },
  { label: 'ngmm GH-25, mixed, 2 threads', o: { nodes: 25, precision: 'mixed', threads: 2 } },
];

export async function runE2E(): Promise<Section> {
  const wasm = E.createBackendSync({ backend: 'wasm-simd' });
  const ts = E.createBackendSync({ backend: 'ts' });
  const torchVersion = torchAvailable();
  if (!torchVersion) console.log(`  e2e: PyTorch skipped (${PYTHON} cannot import torch; apt-get install python3-torch)`);
  const tf = await loadTf();
  const rows: Row[] = [];
  const work: Record<string, unknown>[] = [];
  for (const family of ['bernoulli', 'poisson'] as const) {
    for (const groups of SIZES) {
      const d = e2eData(family, groups);
      const init = initialParams(family);
      const ours = OURS.map((c) => ({ ...c, run: oursCase(wasm, d, init, c.o) }));
      const ode = ours[0].run;
      const reference = ode.objective(1e-10);
      const errs = ours.map((c) => Math.abs(c.run.objective(RTOL) - reference));
      const workStart = ode.work();
      const ref = oursCase(ts, d, init);
      const errTs = Math.abs(ref.objective(RTOL) - reference);
      const tfc = await tfCase(d, init);
      const errTf = Math.abs(tfc.objective() - reference);
      const rounds = groups > 500 ? 3 : 7;
      const torch = torchVersion ? TORCH_CONFIGS.map((c) => ({ c, r: torchCase(d, init, rounds, c) })) : [];
      for (const mode of ['grad', 'adam'] as const) {
        const adam = mode === 'adam';
        // Round-robin: each round times one epoch of every engine, on the same data.
        const cases: [string, () => unknown, number][] = [
          ...ours.map((c, i) => [c.label, () => c.run.epoch(adam), errs[i]] as [string, () => unknown, number]),
          ['ngmm ts reference', () => ref.epoch(adam), errTs],
          ['TF.js wasm (f32, grid)', () => tfc.epoch(adam), errTf],
        ];
        const med = await roundRobin(cases.map((c) => c[1]), rounds);
        cases.forEach(([engine, , err], i) => {
          rows.push({ family, groups, mode, engine, secondsPerEpoch: med[i], groupsPerSecond: groups / med[i], reps: rounds, objectiveError: err });
          console.log(`  e2e ${family} ${groups} groups ${mode}: ${engine} ${(med[i] * 1000).toFixed(1)} ms/epoch (objective error ${err.toExponential(1)})`);
        });
        for (const { c, r } of torch) {
          const err = Math.abs(r.objective - reference);
          rows.push({ family, groups, mode, engine: c.label, secondsPerEpoch: r[mode], groupsPerSecond: groups / r[mode], reps: rounds, objectiveError: err });
          console.log(`  e2e ${family} ${groups} groups ${mode}: ${c.label} ${(r[mode] * 1000).toFixed(1)} ms/epoch (objective error ${err.toExponential(1)})`);
        }
      }
      // After the Adam epochs (training moved the weights; the ODE's work depends on them).
      work.push({ family, groups, start: workStart, afterAdam: ode.work() });
      for (const c of ours) c.run.dispose();
      ref.dispose();
      tfc.dispose();
    }
  }
  const memory = { chunked: memoryCase('2000'), full: memoryCase('full') };
  console.log('  e2e memory:', JSON.stringify(memory));

  const get = (r: Row, engine: string) => rows.find((x) => x.family === r.family && x.groups === r.groups && x.mode === r.mode && x.engine === engine);
  const ratio = (a?: Row, b?: Row) => (a && b ? `${(b.secondsPerEpoch / a.secondsPerEpoch).toFixed(2)}×` : '—');
  const ms = (x?: Row) => (x ? (x.secondsPerEpoch * 1000).toFixed(1) : '—');
  const e = (x?: Row) => (x ? x.objectiveError.toExponential(1) : '—');
  const [pt1, pt2, pt32] = TORCH_CONFIGS.map((c) => c.label);
  const ghRows = rows.filter((r) => OURS.slice(1).some((c) => c.label === r.engine));
  const md = [
    `One epoch = every group once, in mini-batches of ${BATCH} groups (${PER_GROUP} observations each), of the §4 NGMM`,
    '(f = β₀ + xᵀβ + MLP 5→64→32→16→1 ReLU, random intercept). "grad": objective + gradient per batch;',
    '"adam": the same plus the Adam update. Ours as `fit` trains: each batch cut into pieces of whole groups (two pieces of',
    '400 rows here), the pieces\' objectives and gradients summed in a fixed order — on one thread, or on two (the fitting thread',
    'and one worker thread on the shared kernel memory; the numbers are the same bits: test/dist/threads.test.ts); the network f in',
    `float64 or in mixed precision (its layers in float32, everything else float64: docs/mixed-precision.md). Relaxed-SIMD FMA: ${wasm.relaxed ? 'used' : 'not available in this Node (V8 needs --experimental-wasm-relaxed-simd before Node 22), so the plain f32x4 kernels ran'}.`,
    `PyTorch${torchVersion ? ` ${torchVersion}` : ''} and TF.js ${tf.version_core} (WASM backend, SIMD, one thread, float32) compute the same objective from the same weights`,
    `and data with a fixed ${GRID}-point log-sum-exp grid on [−6, 6]; PyTorch in float64 on one and on two threads (torch.set_num_threads), and in float32 on one.`,
    '"error" is |objective − ours by the ODE at rtol 1e−10, f64| in nats per group, each engine\'s own objective over all groups at the',
    'initial weights. Ratios: the other engine\'s time / ours (> 1: ours faster). Times are medians of epochs measured round-robin',
    'across the JS engines in one process (PyTorch: its own process per configuration, same data, right after).',
    torchVersion ? '' : `\nPyTorch was not available (${PYTHON} cannot import torch): skipped.`,
    '',
    table(
      ['family', 'groups', 'step', 'ours', 'ms/epoch', `× vs ${pt1}`, `× vs ${pt2}`, `× vs ${pt32}`, 'error ours', 'error PyTorch f64', 'error PyTorch f32'],
      ghRows.map((r) => {
        const p1 = get(r, pt1), p2 = get(r, pt2), p3 = get(r, pt32);
        return [r.family, r.groups, r.mode, r.engine.replace('ngmm GH-25, ', ''), ms(r), ratio(r, p1), ratio(r, p2), ratio(r, p3), e(r), e(p1), e(p3)];
      }),
    ),
    '',
    'PyTorch\'s times and the other engines\' (one thread each unless said):',
    '',
    table(
      ['family', 'groups', 'step', `${pt1} ms`, `${pt2} ms`, `${pt32} ms`, 'ours ODE f64 ms', 'TS ref ms', 'TF.js ms', 'ODE × vs PyTorch f64', 'error ODE', 'error TF.js'],
      rows.filter((r) => r.engine === OURS[0].label).map((r) => {
        const p1 = get(r, pt1), t = get(r, 'ngmm ts reference'), f = get(r, 'TF.js wasm (f32, grid)');
        return [r.family, r.groups, r.mode, ms(p1), ms(get(r, pt2)), ms(get(r, pt32)), ms(r), ms(t), ms(f), ratio(r, p1), e(r), e(f)];
      }),
    ),
    '',
    `Where the ODE's time goes: its work per group and forward pass (at the initial weights → after the Adam epochs), ${work.map((w) => {
      const a = w.start as Record<string, number>, b = w.afterAdam as Record<string, number>;
      return `${w.family} ${w.groups}: ${a.steps.toFixed(0)} → ${b.steps.toFixed(0)} steps, ${a.evals.toFixed(0)} → ${b.evals.toFixed(0)} integrand evaluations`;
    }).join('; ')} — each over the group's ${PER_GROUP} observations, against the grid's fixed ${GRID}.`,
    '',
    `Peak memory of one objective + gradient over 10⁶ observations (20,000 Bernoulli groups × ${PER_GROUP}, the §4 NGMM, WASM SIMD, a fresh process each):`,
    '',
    `- ${memoryText(memory.chunked, 'accumulated over chunks of 2,000 groups')}`,
    `- ${memoryText(memory.full, 'one tape over all 10⁶ rows')}`,
  ].join('\n');
  return { name: 'e2e', title: 'End to end: one training epoch against PyTorch, TF.js and the TS reference', markdown: md, data: { rows, work, memory, torch: torchVersion, tfjs: tf.version_core, relaxed: wasm.relaxed } };
}
