// Kernel benchmark: matmul GFLOP/s in the three forms at MLP shapes, for WASM SIMD, scalar
// WASM and the TypeScript reference side by side, each as a fraction of the SIMD peak probe
// measured in the same suite; then an MLP forward+backward on each backend.
import { MATMUL_TN_WORK } from '../kernels/kernels';
import { createBackendSync, type Backend } from '../kernels/load';
import * as E from '../engine/index';
import { suite, table, type Section } from './lib';

const simd = createBackendSync({ backend: 'wasm-simd' });
const scalar = createBackendSync({ backend: 'wasm-scalar' });
const ts = createBackendSync({ backend: 'ts' });
const backends: readonly Backend[] = [simd, scalar, ts];

// A layer [batch × in]·[in × out] and the two products of its backward pass.
const LAYERS: readonly [number, number, number][] = [
  [1024, 64, 64], // the target shape
  [64, 64, 64],
  [1024, 5, 64],
  [1024, 33, 17],
  [1024, 64, 1],
  [8192, 32, 16],
  [1024, 256, 256],
];

type Form = 'nn' | 'nt' | 'tn';
const FORMS: readonly Form[] = ['nn', 'nt', 'tn'];

// (M, N, K) of each form for a layer: forward X·W, input gradient G·Wᵀ, weight gradient Xᵀ·G.
function mnk(form: Form, [B, I, O]: readonly number[]): [number, number, number] {
  if (form === 'nn') return [B, O, I];
  if (form === 'nt') return [B, I, O];
  return [I, O, B];
}

function filled(bk: Backend, n: number, seed: number): number {
  const p = bk.heap.alloc(n * 8);
  const rng = new E.Rng(seed);
  const f = bk.heap.f64;
  for (let i = 0; i < n; i++) f[(p >>> 3) + i] = 2 * rng.uniform() - 1;
  return p;
}

function matmulCase(bk: Backend, form: Form, layer: readonly number[]): () => void {
  const [M, N, K] = mnk(form, layer);
  const a = filled(bk, M * K, 1), b = filled(bk, K * N, 2), c = bk.heap.alloc(M * N * 8);
  const work = bk.heap.alloc(MATMUL_TN_WORK);
  if (form === 'nn') return () => bk.k.matmul_f64(M, N, K, a, b, c);
  if (form === 'nt') return () => bk.k.matmul_nt_f64(M, N, K, a, b, c);
  return () => bk.k.matmul_tn_f64(M, N, K, a, b, c, work);
}

const PEAK_ITERS = 20_000;

export async function runKernels(): Promise<Section> {
  const rows: (string | number)[][] = [];
  const data: Record<string, unknown>[] = [];
  const summary: string[] = [];
  for (const layer of LAYERS) {
    const [B, I, O] = layer;
    const flops = 2 * B * I * O;
    const cases: { name: string; fn: () => void }[] = [{ name: 'peak', fn: () => void simd.k.peak_probe_f64(PEAK_ITERS) }];
    for (const form of FORMS) {
      for (const bk of backends) cases.push({ name: `${form}:${bk.name}`, fn: matmulCase(bk, form, layer) });
    }
    cases.push({ name: 'peak (again)', fn: () => void simd.k.peak_probe_f64(PEAK_ITERS) });
    // The target shape, whose ratios the bar reads, runs three rounds; each round's ratios
    // come from cases measured side by side, and the median round is reported (with the
    // range), so one noisy interval on this shared machine does not decide it.
    const target = B === 1024 && I === 64 && O === 64;
    const rounds: { peak: number; g: Record<string, number> }[] = [];
    for (let round = 0; round < (target ? 3 : 1); round++) {
      const t = await suite(`matmul ${B}×${I}·${I}×${O}${target ? ` (round ${round + 1})` : ''}`, cases, target ? 0.8 : 0.4);
      // The better of the two probes: the peak is a ceiling, noise only lowers it.
      const peak = Math.max(...['peak', 'peak (again)'].map((n) => (simd.k.peak_probe_flops() * PEAK_ITERS) / t.get(n)!.median / 1e9));
      const g: Record<string, number> = {};
      for (const c of cases) if (!c.name.startsWith('peak')) g[c.name] = flops / t.get(c.name)!.median / 1e9;
      rounds.push({ peak, g });
    }
    for (const form of FORMS) {
      const frac = rounds.map((r) => r.g[`${form}:wasm-simd`] / r.peak);
      const order = frac.map((f, i) => [f, i]).sort((a, b) => a[0] - b[0]);
      const mid = rounds[order[order.length >> 1][1]];
      const [gs, gw, gt] = backends.map((bk) => mid.g[`${form}:${bk.name}`]);
      const peak = mid.peak;
      const [M, N, K] = mnk(form, layer);
      rows.push([
        `${B}×${I}·${I}×${O}`, `${form} (M=${M}, N=${N}, K=${K})`,
        gs.toFixed(2), `${((100 * gs) / peak).toFixed(0)}%`, gw.toFixed(2), gt.toFixed(2),
        `${(gs / gt).toFixed(1)}×`, peak.toFixed(1),
      ]);
      data.push({ layer, form, M, N, K, gflops: { simd: gs, scalar: gw, ts: gt }, peakGflops: peak, fractionOfPeak: gs / peak, speedupOverTs: gs / gt, roundFractions: frac });
      if (target) {
        const lo = Math.min(...frac), hi = Math.max(...frac);
        summary.push(`${form}: ${((100 * gs) / peak).toFixed(0)}% of peak (rounds ${(100 * lo).toFixed(0)}–${(100 * hi).toFixed(0)}%), ${(gs / gt).toFixed(1)}× the TypeScript loop`);
      }
    }
  }

  // An MLP 5→64→32→16→1 on a batch of 1024: loss, gradient of every parameter, per backend.
  const mlpCases = backends.map((bk) =>
    E.withBackend(bk, () => {
      const net = E.mlp([5, 64, 32, 16, 1], 'relu', 1);
      const rng = new E.Rng(3);
      const x = E.untracked(() => E.tensor(Float64Array.from({ length: 1024 * 5 }, () => rng.normal()), [1024, 5]));
      const y = E.untracked(() => E.tensor(Float64Array.from({ length: 1024 }, () => rng.normal()), [1024, 1]));
      return {
        name: bk.name,
        fn: () =>
          E.withBackend(bk, () =>
            E.tidy(() => {
              E.grad(E.mean(E.square(E.sub(net.forward(x), y))), net.parameters());
            }),
          ),
      };
    }),
  );
  const tm = await suite('MLP 5→64→32→16→1, batch 1024, forward+backward', mlpCases, 1);
  const ms = (n: string) => tm.get(n)!.median * 1e3;
  const mlpRows = backends.map((bk) => [bk.name, ms(bk.name).toFixed(3), `${(ms('ts') / ms(bk.name)).toFixed(1)}×`]);

  const markdown = [
    `Target shape 1024×64·64×64 (median of three rounds): ${summary.join('; ')}.`,
    '',
    'Each layer [batch × in]·[in × out] is measured in the three forms its training step runs:',
    'nn = forward X·W, nt = input gradient G·Wᵀ, tn = weight gradient Xᵀ·G (same flop count).',
    '"% peak" is WASM SIMD GFLOP/s over the peak probe (ten independent f64x2 mul/add chains,',
    'measured twice in the same suite, the better kept). "vs TS" is SIMD over the TypeScript',
    'i-k-j loop.',
    '',
    table(['layer', 'form', 'SIMD GFLOP/s', '% peak', 'scalar WASM', 'TypeScript', 'vs TS', 'peak GFLOP/s'], rows),
    '',
    '### MLP 5→64→32→16→1, batch 1024: loss + gradient of all parameters',
    '',
    table(['backend', 'ms per forward+backward', 'speed-up over TypeScript'], mlpRows),
  ].join('\n');
  return {
    name: 'kernels',
    title: 'Kernels: matmul and an MLP step',
    markdown,
    data: { matmul: data, mlp: Object.fromEntries(backends.map((bk) => [bk.name, { msPerStep: ms(bk.name) }])) },
  };
}

