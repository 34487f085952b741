// The mixed-precision MLP (engine/mlpMixed.ts): its forward against the f64 MLP, its gradient
// against the f64 MLP's analytic gradient and against central finite differences of the f64
// path, memory, and the `precision` option — on the TypeScript, scalar WASM and SIMD WASM
// backends, and SIMD with the relaxed-SIMD (FMA) matmuls.
//
// Tolerances: a running first-order error bound, element by element, computed here from the
// f64 network's own values (docs/mixed-precision.md derives it). With u = 2⁻²⁴ and
// γ_K = K·u/(1 − K·u), a layer z = h·W + b computed in f32 from ĥ = h + e_h gets
//   |ẑ − z| ≤ e_h·|W| + u·|h|·|W| (W rounded) + γ_K·|h|·|W| (the K-term dot products)
//             + u·|b| (b rounded) + u·|z| (the bias add),
// the activation adds Lip·|ẑ − z| + u·|h'| (rounded once; Lip = sup|act'|). Backwards, with δ the
// gradient at a layer's output and e_δ its error, ∂W = hᵀδ gets e_hᵀ|δ| + |h|ᵀe_δ + γ_B·|h|ᵀ|δ|,
// ∂h = δ·Wᵀ gets e_δ·|W|ᵀ + (u + γ_n)·|δ|·|W|ᵀ, and the activation's VJP adds
// |∂h|·sup|act''|·(error of what it reads) + 3u·|∂h||act'| (its roundings). The running
// magnitudes |h|, |z|, |δ| are the f64 network's; terms of order u² are dropped, so the tests
// allow twice the first-order bound. A central difference of the f64 path (one Richardson
// step, as test/helpers/checkVjp.ts) adds its rounding noise, ≈ 300·ε·|L|/h with h ≈ 10⁻⁵, i.e.
// ≈ 10⁻⁹·|L|, allowed on top; its truncation error, O(h⁴) after Richardson, is smaller still.
// Both are orders below the f32 bounds (≥ u ≈ 6·10⁻⁸ of the magnitudes).
import v8 from 'node:v8';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import type { ActivationName } from '../../engine/ops/activations';
import { scalar, simd, ts } from '../helpers/backends';
import { weights } from '../helpers/checkVjp';

// The relaxed-SIMD matmuls (fused multiply-adds) as a fourth backend: Node 20 validates them
// only behind this flag (see test/kernels/f32.parity.test.ts). The bounds hold for them too.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
afterAll(() => v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd'));
const relaxed = E.createBackendSync({ backend: 'wasm-simd' });

const U = 2 ** -24;
const gamma = (K: number) => (K * U) / (1 - K * U);

// sup|act'| and the VJP's sensitivity to the value it reads: tanh and sigmoid read the answer
// a (d/da of 1 − a² is ≤ 2, of a(1 − a) is ≤ 1), softplus and GELU the input z
// (sup|σ'| = 1/4, sup|(Φ + zφ)'| = sup|φ(z)(2 − z²)| = 2φ(0) ≈ 0.798); ReLU's mask is exact
// away from its kink (the data keep units off it).
const ACT: Record<ActivationName, { lip: number; curv: number; fromAns: boolean }> = {
  relu: { lip: 1, curv: 0, fromAns: true },
  identity: { lip: 1, curv: 0, fromAns: true },
  tanh: { lip: 1, curv: 2, fromAns: true },
  sigmoid: { lip: 0.25, curv: 1, fromAns: true },
  softplus: { lip: 1, curv: 0.25, fromAns: false },
  gelu: { lip: 1.13, curv: 0.8, fromAns: false },
};

type Mat = Float64Array; // row-major, with its dimensions passed alongside

// |A|·|B| for A [m×k], B [k×n]; transposes by flags.
function absMul(A: Mat, B: Mat, m: number, k: number, n: number, tA = false, tB = false): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let q = 0; q < k; q++) {
      const a = Math.abs(tA ? A[q * m + i] : A[i * k + q]);
      if (a === 0) continue;
      for (let j = 0; j < n; j++) C[i * n + j] += a * Math.abs(tB ? B[j * k + q] : B[q * n + j]);
    }
  }
  return C;
}

interface Net {
  readonly sizes: number[];
  readonly act: ActivationName;
  readonly B: number;
}

// The f64 network's values, read through the f64 engine ops: inputs of each layer h (h₀ = x),
// pre-activations z, the activation derivative at z, and the backward δ's of L = Σ w ⊙ y.
function f64Values(net: E.MLP, x: Float64Array, w: Float64Array, { sizes, act, B }: Net) {
  return E.tidy(() => {
    const L = sizes.length - 1;
    const hs: Float64Array[] = [x];
    const zs: Float64Array[] = [];
    const dacts: Float64Array[] = [];
    let h = E.tensor(x, [B, sizes[0]]);
    for (let l = 0; l < L; l++) {
      const z = E.bias(E.matmul(h, net.weights[l]), net.biases[l]);
      zs.push(z.toArray());
      if (l + 1 < L) {
        const zt = E.tensor(z.toArray(), z.shape);
        zt.requiresGrad = true;
        const [d] = E.grad(E.sum(E.activations[act](zt)), [zt]);
        dacts.push(d.toArray());
        h = E.activations[act](z);
        hs.push(h.toArray());
      }
    }
    // δ_l = ∂L/∂z_l: δ_{L−1} = w, δ_{l−1} = (δ_l·W_lᵀ) ⊙ act'(z_{l−1}).
    const deltas: Float64Array[] = new Array(L);
    deltas[L - 1] = w;
    for (let l = L - 1; l > 0; l--) {
      const W = net.weights[l].toArray();
      const d = new Float64Array(B * sizes[l]);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < sizes[l]; i++) {
          let s = 0;
          for (let j = 0; j < sizes[l + 1]; j++) s += deltas[l][b * sizes[l + 1] + j] * W[i * sizes[l + 1] + j];
          d[b * sizes[l] + i] = s * dacts[l - 1][b * sizes[l] + i];
        }
      }
      deltas[l - 1] = d;
    }
    return { hs, zs, dacts, deltas };
  });
}

// The first-order bounds of the header: on the output, and on every gradient element (W_l, b_l
// and x), from the f64 values.
function bounds(net: E.MLP, v: ReturnType<typeof f64Values>, w: Float64Array, { sizes, act, B }: Net) {
  const L = sizes.length - 1;
  const { lip, curv, fromAns } = ACT[act];
  const Ws = net.weights.map((t) => t.toArray()), bs = net.biases.map((t) => t.toArray());
  // Forward.
  const eh: Float64Array[] = [v.hs[0].map((a) => U * Math.abs(a))];
  const ez: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const [m, k, n] = [B, sizes[l], sizes[l + 1]];
    const prop = absMul(eh[l], Ws[l], m, k, n);
    const mag = absMul(v.hs[l], Ws[l], m, k, n);
    const e = new Float64Array(m * n);
    for (let i = 0; i < m * n; i++) {
      const j = i % n;
      e[i] = prop[i] + (U + gamma(k)) * mag[i] + U * Math.abs(bs[l][j]) + U * Math.abs(v.zs[l][i]);
    }
    ez.push(e);
    if (l + 1 < L) eh.push(e.map((ei, i) => lip * ei + U * Math.abs(v.hs[l + 1][i])));
  }
  // Backward.
  const gW: Float64Array[] = new Array(L), gb: Float64Array[] = new Array(L);
  let ed = w.map((a) => U * Math.abs(a)); // g rounded to f32
  let gx = new Float64Array(0);
  for (let l = L - 1; l >= 0; l--) {
    const [k, n] = [sizes[l], sizes[l + 1]];
    const d = v.deltas[l];
    const t1 = absMul(eh[l], d, k, B, n, true), t2 = absMul(v.hs[l], ed, k, B, n, true), t3 = absMul(v.hs[l], d, k, B, n, true);
    gW[l] = t1.map((a, i) => a + t2[i] + gamma(B) * t3[i]);
    gb[l] = new Float64Array(n);
    for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) gb[l][j] += ed[b * n + j];
    // ∂h = δ·Wᵀ [B × k].
    const p1 = absMul(ed, Ws[l], B, n, k, false, true), mag = absMul(d, Ws[l], B, n, k, false, true);
    const edh = p1.map((a, i) => a + (U + gamma(n)) * mag[i]);
    if (l === 0) {
      gx = edh;
      break;
    }
    const read = fromAns ? eh[l] : ez[l - 1];
    ed = edh.map((e, i) => e * Math.abs(v.dacts[l - 1][i]) + mag[i] * curv * read[i] + 3 * U * mag[i] * Math.abs(v.dacts[l - 1][i]));
  }
  return { out: ez[L - 1], gW, gb, gx };
}

const arb = fc.record({
  sizes: fc.array(fc.oneof(fc.constantFrom(1, 3, 5, 7, 8, 9), fc.integer({ min: 1, max: 12 })), { minLength: 2, maxLength: 4 }),
  B: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 21 })),
  act: fc.constantFrom<ActivationName>('relu', 'tanh', 'sigmoid', 'softplus', 'gelu', 'identity'),
  seed: fc.integer({ min: 0, max: 10_000 }),
});

// A seeded network with biases nudged off zero (ReLU units away from their kink) and data.
function setup({ sizes, act, B, seed }: Net & { seed: number }) {
  const net = E.mlp(sizes, act, seed);
  net.parameters().forEach((p, i) => {
    if (p.shape.length === 1) p.data.set(p.data.map((_, j) => 0.1 * Math.sin(3 * i + j + seed)));
  });
  const x = weights(B * sizes[0], seed + 1).map((a) => 2 * a);
  const w = weights(B * sizes.at(-1)!, seed + 2);
  return { net, x, w };
}

function lossAndGrads(net: E.MLP, x: Float64Array, w: Float64Array, B: number, withX: boolean) {
  return E.tidy(() => {
    const xt = E.tensor(x, [B, net.sizes[0]]);
    xt.requiresGrad = withX;
    const y = net.forward(xt);
    const L = E.sum(E.mul(y, E.tensor(w, y.shape)));
    const gs = E.grad(L, withX ? [...net.parameters(), xt] : net.parameters());
    return { y: y.toArray(), L: L.item(), gs: gs.map((g) => g.toArray()) };
  });
}

describe.each([ts, scalar, simd, relaxed])('mixed-precision MLP on $name (relaxed: $relaxed)', (backend) => {
  it('runs on the backend it names', () => expect(backend.relaxed).toBe(backend === relaxed));

  const within = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>) => {
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 2 * bound[i])) {
        throw new Error(`${what}[${i}]: mixed ${got[i]}, f64 ${want[i]}, |Δ| ${Math.abs(got[i] - want[i])} > 2·bound ${2 * bound[i]}`);
      }
    }
  };

  it('forward and gradients against the f64 MLP within the f32 bound, and memory returns to where it was', () => {
    E.withBackend(backend, () => {
      fc.assert(
        fc.property(arb, (c) => {
          const { net, x, w } = setup(c);
          try {
            const heap = backend.heap.inUse;
            const ref = lossAndGrads(net, x, w, c.B, true);
            const v = f64Values(net, x, w, c);
            const bd = bounds(net, v, w, c);
            net.precision = 'mixed';
            const mix = lossAndGrads(net, x, w, c.B, true);
            expect(backend.heap.inUse).toBe(heap);
            const tag = `sizes [${c.sizes}] B ${c.B} ${c.act}`;
            // The output is an f32 result widened: every value is a float32.
            for (const a of mix.y) if (Math.fround(a) !== a) throw new Error(`${tag}: output ${a} is not a float32 value`);
            within(`${tag} output`, mix.y, ref.y, bd.out);
            const L = c.sizes.length - 1;
            for (let l = 0; l < L; l++) {
              within(`${tag} ∂W${l}`, mix.gs[2 * l], ref.gs[2 * l], bd.gW[l]);
              within(`${tag} ∂b${l}`, mix.gs[2 * l + 1], ref.gs[2 * l + 1], bd.gb[l]);
            }
            within(`${tag} ∂x`, mix.gs[2 * L], ref.gs[2 * L], bd.gx);
          } finally {
            net.dispose();
          }
        }),
        { numRuns: backend === ts ? 25 : 40, seed: 16 },
      );
    });
  });

  it('the mixed gradient along random directions against central differences of the f64 path', () => {
    E.withBackend(backend, () => {
      fc.assert(
        fc.property(arb, (c) => {
          const { net, x, w } = setup(c);
          try {
            const v = f64Values(net, x, w, c);
            const bd = bounds(net, v, w, c);
            const f64Loss = (): number => E.tidy(() => {
              const y = net.forward(E.tensor(x, [c.B, c.sizes[0]]));
              return E.sum(E.mul(y, E.tensor(w, y.shape))).item();
            });
            net.precision = 'mixed';
            const mix = lossAndGrads(net, x, w, c.B, false);
            net.precision = 'f64';
            const rng = new E.Rng(c.seed + 3);
            net.parameters().forEach((p, i) => {
              const u = Float64Array.from({ length: p.size }, () => 2 * rng.uniform() - 1);
              const p0 = p.toArray();
              const bound = i % 2 === 0 ? bd.gW[i >> 1] : bd.gb[i >> 1];
              let ad = 0, tol = 0;
              for (let j = 0; j < p.size; j++) {
                ad += mix.gs[i][j] * u[j];
                tol += 2 * bound[j] * Math.abs(u[j]);
              }
              // Central difference with one Richardson step (test/helpers/checkVjp.ts).
              const h = 1e-5 * Math.max(1, ...p0.map(Math.abs));
              const central = (s: number): number => {
                p.data.set(p0.map((a, j) => a + s * u[j]));
                const up = f64Loss();
                p.data.set(p0.map((a, j) => a - s * u[j]));
                const down = f64Loss();
                p.data.set(p0);
                return (up - down) / (2 * s);
              };
              const fd = (4 * central(h / 2) - central(h)) / 3;
              // The difference's rounding noise, as checkVjp.ts: 3·100·ε·|L|/h.
              const noise = (300 * 2 ** -52 * Math.max(1, Math.abs(mix.L))) / h;
              if (!(Math.abs(ad - fd) <= tol + noise)) {
                throw new Error(`sizes [${c.sizes}] B ${c.B} ${c.act} parameter ${i}: mixed ${ad}, f64 FD ${fd}, tolerance ${tol + noise}`);
              }
            });
          } finally {
            net.dispose();
          }
        }),
        { numRuns: backend === ts ? 15 : 25, seed: 61 },
      );
    });
  });

  it('no input gradient for data, nothing left on the heap after forward-only use', () => {
    E.withBackend(backend, () => {
      const net = E.mlp([5, 16, 7, 1], 'gelu', 4, undefined, { precision: 'mixed' });
      try {
        const heap = backend.heap.inUse;
        const r = lossAndGrads(net, weights(9 * 5, 1), weights(9, 2), 9, false);
        expect(r.gs).toHaveLength(6);
        expect(backend.heap.inUse).toBe(heap);
        // A forward outside any scope owns its f32 block until the output is disposed.
        const x = E.untracked(() => E.tensor(weights(9 * 5, 1), [9, 5]));
        const y = E.untracked(() => net.forward(x));
        expect(backend.heap.inUse).toBeGreaterThan(heap);
        y.dispose();
        x.dispose();
        expect(backend.heap.inUse).toBe(heap);
        // Under noGrad, inside a scope: freed with the scope.
        E.tidy(() => {
          E.noGrad(() => net.forward(E.tensor(weights(9 * 5, 1), [9, 5])));
        });
        expect(backend.heap.inUse).toBe(heap);
        // Disposing the output before grad is refused with a message, not a read of freed memory.
        E.tidy(() => {
          const y2 = net.forward(E.tensor(weights(9 * 5, 1), [9, 5]));
          const L = E.sum(y2);
          y2.dispose();
          expect(() => E.grad(L, net.parameters())).toThrow(/saved activations are gone/);
        });
        expect(backend.heap.inUse).toBe(heap);
      } finally {
        net.dispose();
      }
    });
  });
});

describe('MLP precision option', () => {
  it('constructor, setter, toJSON/fromJSON (old records read as f64) and clear errors', () => {
    E.withBackend(simd, () => {
      const net = E.mlp([3, 4, 2], 'tanh', 1);
      try {
        expect(net.precision).toBe('f64');
        expect(net.toJSON().precision).toBe('f64');
        net.precision = 'mixed';
        const rec = JSON.parse(JSON.stringify(net.toJSON()));
        expect(rec.precision).toBe('mixed');
        const copy = E.MLP.fromJSON(rec);
        expect(copy.precision).toBe('mixed');
        const { precision: _drop, ...old } = rec;
        const legacy = E.MLP.fromJSON(old);
        expect(legacy.precision).toBe('f64');
        // Same parameters, two precisions: outputs agree to f32 accuracy but not bitwise.
        const x = weights(6, 9);
        const [a, b] = E.tidy(() => [copy.forward(E.tensor(x, [2, 3])).toArray(), legacy.forward(E.tensor(x, [2, 3])).toArray()]);
        expect(Array.from(a)).not.toEqual(Array.from(b));
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5);
        copy.dispose();
        legacy.dispose();
        expect(() => { net.precision = 'f16' as E.Precision; }).toThrow(/precision must be 'f64' or 'mixed', got "f16"/);
        expect(() => E.MLP.fromJSON({ ...rec, precision: 'half' })).toThrow(/precision must be 'f64' or 'mixed'/);
        expect(() => E.mlp([3, 2], 'relu', 0, undefined, { precision: 'f32' as E.Precision })).toThrow(/precision must be/);
        expect(() => E.tidy(() => net.forward(E.tensor([1, 2], [1, 2])))).toThrow(/input must be \[batch × 3\]/);
      } finally {
        net.dispose();
      }
    });
  });
});
