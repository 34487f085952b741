// The f32 kernels (kernels/assembly/matmul32.ts, layer32.ts, activations32.ts) on every build —
// scalar WASM, SIMD WASM, the relaxed-SIMD module and the TypeScript reference — against the
// reference and against independent computations in f64.
//
// Bounds (Higham 2002, §3.1). Inputs are f32 values, so the exact product Σ_k a_k b_k is what f64
// computes up to K·2⁻⁵³·Σ|a_k b_k|. A K-term f32 dot product, in any summation order, with or
// without fused multiply-adds, satisfies |ŝ − s| ≤ γ_K Σ|a_k b_k|, γ_K = K·u/(1 − K·u), u = 2⁻²⁴;
// FMA changes which roundings happen, not the bound. Gradual underflow adds at most
// K·2⁻¹⁴⁹ absolute (one half-ulp of the smallest subnormal per operation, 2K operations).
// Two results each within that bound differ by at most twice it.
// Where a build keeps the reference's order (scalar everywhere; SIMD for A·B and Aᵀ·B, whose
// accumulators run over k sequentially) the results must agree bit for bit: the reference
// rounds after every operation, exactly as f32 hardware does (kernels/reference/f32.ts).
import v8 from 'node:v8';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MATMUL_TN_WORK, type Kernels } from '../../kernels/kernels';
import { createBackend, createBackendSync, wasmBytes, type Backend } from '../../kernels/load';

// Node 20's V8 validates relaxed SIMD only behind this flag (Chromium by default). Set here, in
// this file's own worker process, so the relaxed module is really compiled and run in `npm test`;
// the test below fails, rather than skips, if the flag stops taking effect.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
afterAll(() => v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd'));

const simd = createBackendSync({ backend: 'wasm-simd', relaxed: false });
const relaxed = createBackendSync({ backend: 'wasm-simd' });
const scalar = createBackendSync({ backend: 'wasm-scalar' });
const ts = createBackendSync({ backend: 'ts' });
const wasm = [simd, relaxed, scalar];

const U = 2 ** -24;
const gamma = (K: number) => (K * U) / (1 - K * U);
const label = (b: Backend) => (b.relaxed ? 'relaxed' : b.name);

type Arr = Float32Array | Float64Array;
interface Out { readonly n: number; readonly type: 'f32' | 'f64' }

// Copies inputs into b's heap, runs `call` with their pointers (outputs first filled with NaN),
// returns copies of the outputs and checks everything allocated was freed.
function run(b: Backend, inputs: Record<string, Arr>, outputs: Record<string, Out>, call: (k: Kernels, p: Record<string, number>) => void): Record<string, Arr> {
  const before = b.heap.inUse;
  const p: Record<string, number> = {};
  for (const [name, a] of Object.entries(inputs)) {
    p[name] = b.heap.alloc(Math.max(1, a.length) * a.BYTES_PER_ELEMENT);
    if (a instanceof Float32Array) b.heap.f32.set(a, p[name] >>> 2);
    else b.heap.f64.set(a, p[name] >>> 3);
  }
  for (const [name, o] of Object.entries(outputs)) {
    p[name] = b.heap.alloc(Math.max(1, o.n) * (o.type === 'f32' ? 4 : 8));
    if (o.type === 'f32') b.heap.f32.fill(NaN, p[name] >>> 2, (p[name] >>> 2) + Math.max(1, o.n));
    else b.heap.f64.fill(NaN, p[name] >>> 3, (p[name] >>> 3) + Math.max(1, o.n));
  }
  call(b.k, p);
  const res: Record<string, Arr> = {};
  for (const [name, o] of Object.entries(outputs)) {
    res[name] = o.type === 'f32'
      ? b.heap.f32.slice(p[name] >>> 2, (p[name] >>> 2) + o.n)
      : b.heap.f64.slice(p[name] >>> 3, (p[name] >>> 3) + o.n);
  }
  for (const q of Object.values(p).reverse()) b.heap.free(q);
  expect(b.heap.inUse).toBe(before);
  return res;
}

const f32s = (n: number, lim = 4) =>
  fc.float32Array({ min: -lim, max: lim, noNaN: true, noDefaultInfinity: true, minLength: n, maxLength: n });

type Form = 'nn' | 'tn' | 'nt';
// A(i,k) and B(k,j) of each form, read from the flat arrays the kernel gets.
function accessors(form: Form, M: number, N: number, K: number, a: Float32Array, b: Float32Array) {
  const A = form === 'tn' ? (i: number, k: number) => a[k * M + i] : (i: number, k: number) => a[i * K + k];
  const B = form === 'nt' ? (k: number, j: number) => b[j * K + k] : (k: number, j: number) => b[k * N + j];
  return { A, B };
}

function callForm(form: Form, M: number, N: number, K: number) {
  return (k: Kernels, p: Record<string, number>) => {
    if (form === 'nn') k.matmul_f32(M, N, K, p.a, p.b, p.c);
    else if (form === 'tn') k.matmul_tn_f32(M, N, K, p.a, p.b, p.c, p.work);
    else k.matmul_nt_f32(M, N, K, p.a, p.b, p.c);
  };
}

function checkMatmul(form: Form, M: number, N: number, K: number, a: Float32Array, b: Float32Array): void {
  const { A, B } = accessors(form, M, N, K, a, b);
  const outs = { c: { n: M * N, type: 'f32' as const }, work: { n: MATMUL_TN_WORK / 4, type: 'f32' as const } };
  const call = callForm(form, M, N, K);
  const ref = run(ts, { a, b }, outs, call).c;
  const g = gamma(K);
  for (const be of [ts, ...wasm]) {
    const c = be === ts ? ref : run(be, { a, b }, outs, call).c;
    const sameOrder = be === scalar || be === ts || (be === simd && form !== 'nt');
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let exact = 0, abs = 0;
        for (let k = 0; k < K; k++) {
          exact += A(i, k) * B(k, j);
          abs += Math.abs(A(i, k) * B(k, j));
        }
        const got = c[i * N + j], want = ref[i * N + j];
        const bound = g * abs + K * 2 ** -53 * abs + K * 2 ** -149;
        const where = `${form} ${label(be)} M=${M} N=${N} K=${K} C(${i},${j}) = ${got}`;
        if (!(Math.abs(got - exact) <= bound)) throw new Error(`${where}, exact ${exact}, bound ${bound}`);
        if (sameOrder) {
          if (!Object.is(got, want)) throw new Error(`${where}, reference ${want} (same summation order: must be equal)`);
        } else if (!(Math.abs(got - want) <= 2 * bound)) {
          throw new Error(`${where}, reference ${want}, bound ${2 * bound}`);
        }
      }
    }
  }
}

describe('f32 kernels: wasm-simd, relaxed SIMD and wasm-scalar against the TypeScript reference and f64', () => {
  it('the relaxed module validates under the flag, is used by default and can be refused', () => {
    expect(relaxed.relaxed).toBe(true);
    expect(relaxed.name).toBe('wasm-simd');
    expect(simd.relaxed).toBe(false);
    expect(scalar.relaxed).toBe(false);
    expect(ts.relaxed).toBe(false);
    // The precompiled-module path (workerd) never takes the extra module.
    const pre = createBackendSync({ module: new WebAssembly.Module(wasmBytes('wasm-simd') as BufferSource) });
    expect(pre.relaxed).toBe(false);
    const c = run(pre, { a: new Float32Array([1, 2]), b: new Float32Array([3, 4]) }, { c: { n: 1, type: 'f32' } },
      (k, p) => k.matmul_f32(1, 1, 2, p.a, p.b, p.c)).c;
    expect(c[0]).toBe(11);
  });

  it('the async loader takes the relaxed module too, and refuses it on request', async () => {
    expect((await createBackend({ backend: 'wasm-simd' })).relaxed).toBe(true);
    expect((await createBackend({ backend: 'wasm-simd', relaxed: false })).relaxed).toBe(false);
    expect((await createBackend({ backend: 'wasm-scalar' })).relaxed).toBe(false);
  });

  it('the relaxed matmuls really fuse: an input whose unfused f32 result differs in the last bits', () => {
    // With t = 1 + 2⁻¹², t² = 1 + 2⁻¹¹ + 2⁻²⁴. Unfused, fl(t²) = 1 + 2⁻¹¹ (a tie, to even), and
    // −1 + fl(t²) = 2⁻¹¹. Fused, fma(t, t, −1) = 2⁻¹¹ + 2⁻²⁴ exactly. The term −1·1 comes first
    // (k = 0) and t·t four k later (k = 4), so that in A·Bᵀ both fall in the same SIMD k-lane.
    // (This machine's x86-64 has FMA3, and V8 lowers relaxed_madd to vfmadd there; a host
    // without FMA may legally return the unfused value, and this test would say so.)
    const t = 1 + 2 ** -12;
    const M = 4, N = 8, K = 8;
    const row = new Float32Array(K), col = new Float32Array(K);
    row[0] = 1; col[0] = -1; row[4] = t; col[4] = t;
    const fused = 2 ** -11 + 2 ** -24, plain = 2 ** -11;
    for (const form of ['nn', 'tn', 'nt'] as const) {
      const a = new Float32Array(M * K), b = new Float32Array(K * N);
      for (let k = 0; k < K; k++) {
        if (form === 'tn') a[k * M] = row[k]; else a[k] = row[k];
        if (form === 'nt') b[k] = col[k]; else b[k * N] = col[k];
      }
      const outs = { c: { n: M * N, type: 'f32' as const }, work: { n: MATMUL_TN_WORK / 4, type: 'f32' as const } };
      expect(run(relaxed, { a, b }, outs, callForm(form, M, N, K)).c[0], form).toBe(fused);
      for (const be of [simd, scalar, ts]) expect(run(be, { a, b }, outs, callForm(form, M, N, K)).c[0], `${form} ${be.name}`).toBe(plain);
    }
  });

  it('matmul, all three forms: odd sizes, tile edges (4 rows, 8 and 4 columns, 4 k-lanes)', () => {
    const size = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17), fc.integer({ min: 1, max: 40 }));
    fc.assert(
      fc.property(
        fc.tuple(size, size, size).chain(([M, N, K]) => fc.tuple(fc.constant([M, N, K] as const), f32s(M * K), f32s(K * N))),
        ([[M, N, K], a, b]) => {
          for (const form of ['nn', 'tn', 'nt'] as const) checkMatmul(form, M, N, K, a, b);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('Aᵀ·B across its K-blocks (4096/N rows, capped at 512) and past the packing threshold (M ≥ 256)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 200, max: 1100 })),
          fc.tuple(fc.integer({ min: 254, max: 262 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 600 })),
        ).chain(([M, N, K]) => fc.tuple(fc.constant([M, N, K] as const), f32s(M * K), f32s(K * N))),
        ([[M, N, K], a, b]) => checkMatmul('tn', M, N, K, a, b),
      ),
      { numRuns: 8, examples: [[[[8, 8, 513], new Float32Array(8 * 513).fill(0.5), new Float32Array(513 * 8).fill(-3)]]] },
    );
  });

  it('M, N or K = 0: an empty product is zeros, an empty output is not written past', () => {
    for (const form of ['nn', 'tn', 'nt'] as const) {
      for (const [M, N, K] of [[3, 5, 0], [0, 5, 3], [3, 0, 3], [0, 0, 0], [1, 1, 0]]) {
        const outs = { c: { n: Math.max(M * N, 1), type: 'f32' as const }, work: { n: MATMUL_TN_WORK / 4, type: 'f32' as const } };
        const a = new Float32Array(M * K).fill(1), b = new Float32Array(K * N).fill(1);
        for (const be of [ts, ...wasm]) {
          const c = run(be, { a, b }, outs, callForm(form, M, N, K)).c;
          // K = 0 with M·N > 0: zeros; M·N = 0: the single sentinel slot keeps its NaN.
          if (M * N > 0) expect(Array.from(c), `${form} ${label(be)}`).toEqual(new Array(M * N).fill(0));
          else expect(Number.isNaN(c[0]), `${form} ${label(be)} wrote into an empty output`).toBe(true);
        }
      }
    }
  });

  it('conversions: f64 → f32 rounds to nearest (Math.fround), f32 → f64 is exact', () => {
    const specials = [0, -0, 1e-46, -1e-40, 3.4028235677973366e38, 3.4028236e38, -1e39, Infinity, -Infinity, NaN, 1 + 2 ** -24, 1 + 3 * 2 ** -24];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 37 }).chain((n) => fc.float64Array({ minLength: n, maxLength: n })), (xs) => {
        const x = Float64Array.from([...xs, ...specials]);
        const want32 = Float32Array.from(x, Math.fround);
        for (const be of [ts, ...wasm]) {
          const r = run(be, { x }, { y: { n: x.length, type: 'f32' } }, (k, p) => k.cvt_f64_f32(x.length, p.x, p.y)).y;
          for (let i = 0; i < x.length; i++) if (!Object.is(r[i], want32[i])) throw new Error(`cvt_f64_f32 ${label(be)} ${x[i]} → ${r[i]}, want ${want32[i]}`);
          const back = run(be, { y: want32 }, { z: { n: x.length, type: 'f64' } }, (k, p) => k.cvt_f32_f64(x.length, p.y, p.z)).z;
          for (let i = 0; i < x.length; i++) if (!Object.is(back[i], want32[i])) throw new Error(`cvt_f32_f64 ${label(be)} ${want32[i]} → ${back[i]}`);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('bias add, fused bias + ReLU and the f64 bias gradient: exact', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 19 }))
          .chain(([M, N]) => fc.tuple(fc.constant([M, N] as const), f32s(M * N, 50), f32s(N, 50))),
        ([[M, N], x, bias]) => {
          const add = new Float32Array(M * N), relu = new Float32Array(M * N), colsum = new Float64Array(N);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              const v = Math.fround(x[i * N + j] + bias[j]);
              add[i * N + j] = v;
              relu[i * N + j] = v > 0 ? v : 0;
              colsum[j] += x[i * N + j]; // f64, rows in order
            }
          }
          for (const be of [ts, ...wasm]) {
            const r = run(be, { x, bias }, { add: { n: M * N, type: 'f32' }, relu: { n: M * N, type: 'f32' }, sum: { n: N, type: 'f64' } }, (k, p) => {
              k.bias_add_f32(M, N, p.x, p.bias, p.add);
              k.bias_relu_f32(M, N, p.x, p.bias, p.relu);
              k.sum_rows_f32_f64(M, N, p.x, p.sum);
            });
            expect(Array.from(r.add), `bias_add_f32 ${label(be)}`).toEqual(Array.from(add));
            expect(Array.from(r.relu), `bias_relu_f32 ${label(be)}`).toEqual(Array.from(relu));
            expect(Array.from(r.sum), `sum_rows_f32_f64 ${label(be)}`).toEqual(Array.from(colsum));
          }
          // In place (out = x), as the MLP uses them.
          for (const be of [ts, ...wasm]) {
            const before = be.heap.inUse;
            const px = be.heap.alloc(Math.max(1, M * N) * 4), pb = be.heap.alloc(N * 4);
            be.heap.f32.set(x, px >>> 2);
            be.heap.f32.set(bias, pb >>> 2);
            be.k.bias_relu_f32(M, N, px, pb, px);
            expect(Array.from(be.heap.f32.slice(px >>> 2, (px >>> 2) + M * N)), `bias_relu_f32 in place ${label(be)}`).toEqual(Array.from(relu));
            be.heap.free(pb);
            be.heap.free(px);
            expect(be.heap.inUse).toBe(before);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('activations and VJPs: the f32 lane ones exact, the transcendental ones the f64 kernel rounded once', () => {
    const fr = Math.fround;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 23 }).chain((n) => fc.tuple(f32s(n, 12), f32s(n, 3))), ([x, g]) => {
        const n = x.length;
        const sig = Float32Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
        const th = Float32Array.from(x, Math.tanh);
        // Lane-wise f32 formulas, written out: relu, its VJP, tanh's and sigmoid's VJPs.
        const want: Record<string, Float32Array> = {
          relu: Float32Array.from(x, (v) => (v > 0 ? v : 0)),
          relu_vjp: Float32Array.from(x, (v, i) => (v > 0 ? g[i] : 0)),
          tanh_vjp: Float32Array.from(th, (a, i) => fr(g[i] * fr(1 - fr(a * a)))),
          sigmoid_vjp: Float32Array.from(sig, (a, i) => fr(fr(g[i] * a) * fr(1 - a))),
        };
        for (const be of [ts, ...wasm]) {
          const o = (k: string) => ({ [k]: { n, type: 'f32' as const } });
          const r = run(be, { x, g, th, sig }, { ...o('relu'), ...o('relu_vjp'), ...o('tanh_vjp'), ...o('sigmoid_vjp') }, (k, p) => {
            k.relu_f32(n, p.x, p.relu);
            k.relu_vjp_f32(n, p.x, p.g, p.relu_vjp);
            k.tanh_vjp_f32(n, p.th, p.g, p.tanh_vjp);
            k.sigmoid_vjp_f32(n, p.sig, p.g, p.sigmoid_vjp);
          });
          for (const name of Object.keys(want)) expect(Array.from(r[name]), `${name}_f32 ${label(be)}`).toEqual(Array.from(want[name]));

          // Transcendental: the f32 kernel equals the same backend's f64 kernel on the widened
          // input, rounded once — the contract of activations32.ts — bit for bit.
          const x64 = Float64Array.from(x), g64 = Float64Array.from(g);
          const pairs = [
            ['tanh', (k: Kernels) => [k.tanh_f32, k.tanh_f64]],
            ['sigmoid', (k: Kernels) => [k.sigmoid_f32, k.sigmoid_f64]],
            ['softplus', (k: Kernels) => [k.softplus_f32, k.softplus_f64]],
            ['gelu', (k: Kernels) => [k.gelu_f32, k.gelu_f64]],
          ] as const;
          for (const [name, pick] of pairs) {
            const [f32k, f64k] = pick(be.k);
            const a = run(be, { x }, { y: { n, type: 'f32' } }, (_k, p) => f32k(n, p.x, p.y)).y;
            const b = run(be, { x64 }, { y: { n, type: 'f64' } }, (_k, p) => f64k(n, p.x64, p.y)).y;
            expect(Array.from(a), `${name}_f32 ${label(be)}`).toEqual(Array.from(b, fr));
          }
          const vjps = [
            ['softplus_vjp', (k: Kernels) => [k.softplus_vjp_f32, k.softplus_vjp_f64]],
            ['gelu_vjp', (k: Kernels) => [k.gelu_vjp_f32, k.gelu_vjp_f64]],
          ] as const;
          for (const [name, pick] of vjps) {
            const [f32k, f64k] = pick(be.k);
            const a = run(be, { x, g }, { y: { n, type: 'f32' } }, (_k, p) => f32k(n, p.x, p.g, p.y)).y;
            const b = run(be, { x64, g64 }, { y: { n, type: 'f64' } }, (_k, p) => f64k(n, p.x64, p.g64, p.y)).y;
            expect(Array.from(a), `${name}_f32 ${label(be)}`).toEqual(Array.from(b, fr));
          }
        }
        // And across builds: AssemblyScript's and V8's libm may differ by an f64 ulp, which can
        // move the f32 rounding by at most one f32 ulp (2⁻²³ relative to the result).
        for (const name of ['tanh', 'sigmoid', 'softplus', 'gelu'] as const) {
          const key = `${name}_f32` as const;
          const want32 = run(ts, { x }, { y: { n, type: 'f32' } }, (k, p) => k[key](n, p.x, p.y)).y;
          for (const be of wasm) {
            const got = run(be, { x }, { y: { n, type: 'f32' } }, (k, p) => k[key](n, p.x, p.y)).y;
            for (let i = 0; i < n; i++) {
              const tol = 2 ** -23 * Math.abs(want32[i]) + 2 ** -149;
              if (!(Math.abs(got[i] - want32[i]) <= tol)) throw new Error(`${key} ${label(be)} x=${x[i]}: ${got[i]} vs reference ${want32[i]}`);
            }
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('the SIMD build runs f32x4 code in the f32 matmuls; the relaxed module fuses; the scalar build has no v128', async () => {
    const { readFileSync } = await import('node:fs');
    const wat = readFileSync('.build/ngmm.simd.wat', 'utf8');
    const relaxedWat = readFileSync('.build/ngmm.relaxed.wat', 'utf8');
    for (const f of ['matmul_f32', 'matmul_tn_f32', 'matmul_nt_f32']) {
      const start = wat.indexOf(`\n (func $kernels/assembly/matmul32/${f} `);
      expect(start, f).toBeGreaterThanOrEqual(0);
    }
    expect(wat).toMatch(/f32x4\.mul/);
    expect(wat).not.toMatch(/relaxed_madd/);
    expect(relaxedWat).toMatch(/f32x4\.relaxed_madd/);
    expect(relaxedWat).not.toMatch(/\(data /);
    expect(readFileSync('.build/ngmm.scalar.wat', 'utf8')).not.toMatch(/v128|f32x4/);
  });
});
