// The WASM builds (SIMD and scalar) against the TypeScript reference, kernel by kernel, on
// random sizes including 1 and odd ones (SIMD tails). Elementwise kernels must agree to
// 1e−12 relative. Sums and products may add in a different order (SIMD keeps partial sums),
// so there the error is measured against Σ|terms| — the bound any summation order obeys
// (≈ n·ε·Σ|terms|, far below 1e−12 for these sizes); equal orders still give 0.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../kernels/load';
import { MATMUL_TN_WORK, type Kernels } from '../../kernels/kernels';
import { scalar, simd, ts } from '../helpers/backends';

const TOL = 1e-12;
const RUNS = 40;

type Arrays = Record<string, Float64Array | Int32Array>;

// Copies inputs into the backend's heap, runs `call` with their pointers and output pointers
// (outputs pre-filled with `init` when given), and returns copies of the outputs.
function run(
  b: Backend,
  inputs: Arrays,
  outputs: Record<string, number | Float64Array>,
  call: (k: Kernels, p: Record<string, number>) => number | void,
): { outs: Record<string, Float64Array>; ret: number | void } {
  const p: Record<string, number> = {};
  const ptrs: number[] = [];
  for (const [name, arr] of Object.entries(inputs)) {
    p[name] = b.heap.alloc(Math.max(1, arr.length) * arr.BYTES_PER_ELEMENT);
    ptrs.push(p[name]);
    if (arr instanceof Int32Array) b.heap.i32.set(arr, p[name] >>> 2);
    else b.heap.f64.set(arr, p[name] >>> 3);
  }
  for (const [name, spec] of Object.entries(outputs)) {
    const n = typeof spec === 'number' ? spec : spec.length;
    p[name] = b.heap.alloc(Math.max(1, n) * 8);
    ptrs.push(p[name]);
    if (typeof spec === 'number') b.heap.f64.fill(NaN, p[name] >>> 3, (p[name] >>> 3) + n);
    else b.heap.f64.set(spec, p[name] >>> 3);
  }
  const ret = call(b.k, p);
  const outs: Record<string, Float64Array> = {};
  for (const [name, spec] of Object.entries(outputs)) {
    const n = typeof spec === 'number' ? spec : spec.length;
    outs[name] = b.heap.f64.slice(p[name] >>> 3, (p[name] >>> 3) + n);
  }
  for (const q of ptrs.reverse()) b.heap.free(q);
  return { outs, ret };
}

function relErr(a: number, b: number, scale = Math.abs(b)): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(a - b) / Math.max(scale, 1e-300);
}

function compare(
  name: string,
  inputs: Arrays,
  outputs: Record<string, number | Float64Array>,
  call: (k: Kernels, p: Record<string, number>) => number | void,
  // A scale for results that may cancel to near 0 (a bound on the terms they are made of);
  // the error is held to TOL times the larger of it and the result itself, so a result larger
  // than the bound assumed (the Gaussian log link's score grows like e^{2η}) is still held
  // to TOL relative, as every result is without a scale.
  scaleOf?: (out: string, i: number) => number,
): void {
  const ref = run(ts, inputs, outputs, call);
  for (const b of [simd, scalar]) {
    const got = run(b, inputs, outputs, call);
    if (typeof ref.ret === 'number') {
      const s = scaleOf ? scaleOf('ret', 0) : Math.abs(ref.ret);
      const e = relErr(got.ret as number, ref.ret, s);
      if (!(e <= TOL)) throw new Error(`${name} (${b.name}) returned ${got.ret}, reference ${ref.ret}`);
    }
    for (const [o, want] of Object.entries(ref.outs)) {
      if (o.startsWith('_')) continue; // scratch, not a result
      const have = got.outs[o];
      for (let i = 0; i < want.length; i++) {
        const s = scaleOf ? Math.max(scaleOf(o, i), Math.abs(want[i])) : Math.abs(want[i]);
        const e = relErr(have[i], want[i], s);
        if (!(e <= TOL)) throw new Error(`${name} (${b.name}) ${o}[${i}] = ${have[i]}, reference ${want[i]}, rel ${e}`);
      }
    }
  }
}

const size = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9), fc.integer({ min: 1, max: 70 }));
const arr = (n: number, min = -5, max = 5) =>
  fc.float64Array({ min, max, noNaN: true, noDefaultInfinity: true, minLength: n, maxLength: n });

describe('kernel parity: wasm-simd and wasm-scalar against the TypeScript reference', () => {
  it('matmul, all three forms', () => {
    fc.assert(
      fc.property(
        // Small odd sizes for the SIMD tails, plus sizes past the packing threshold of Aᵀ·B
        // (M ≥ 128) and past its K-blocks (K > 2048/N).
        fc.oneof(
          fc.tuple(size, size, size),
          fc.tuple(fc.integer({ min: 126, max: 140 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 600 })),
        ).chain(([M, N, K]) => fc.tuple(fc.constant([M, N, K] as const), arr(M * K), arr(K * N))),
        ([[M, N, K], a, b]) => {
          // |C| scale: Σ_k |A(i,k)||B(k,j)| for the form at hand.
          const scale = (A: (i: number, k: number) => number, B: (k: number, j: number) => number) =>
            (_o: string, idx: number) => {
              const i = Math.floor(idx / N), j = idx % N;
              let s = 0;
              for (let k = 0; k < K; k++) s += Math.abs(A(i, k) * B(k, j));
              return s;
            };
          compare('matmul_f64', { a, b }, { c: M * N }, (k, p) => k.matmul_f64(M, N, K, p.a, p.b, p.c),
            scale((i, k) => a[i * K + k], (k, j) => b[k * N + j]));
          compare('matmul_tn_f64', { a, b }, { c: M * N, _work: MATMUL_TN_WORK / 8 }, (k, p) => k.matmul_tn_f64(M, N, K, p.a, p.b, p.c, p._work),
            scale((i, k) => a[k * M + i], (k, j) => b[k * N + j]));
          const bt = b; // read as N×K for the nt form
          compare('matmul_nt_f64', { a, b: bt }, { c: M * N }, (k, p) => k.matmul_nt_f64(M, N, K, p.a, p.b, p.c),
            scale((i, k) => a[i * K + k], (k, j) => bt[j * K + k]));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('elementwise, activations and their VJPs, special functions', () => {
    const unary: (keyof Kernels)[] = [
      'exp_f64', 'relu_f64', 'tanh_f64', 'sigmoid_f64', 'softplus_f64', 'gelu_f64',
      'erf_f64', 'erfc_f64', 'log_ndtr_f64', 'log1pexp_f64',
    ];
    const positive: (keyof Kernels)[] = ['log_f64', 'log1p_f64', 'lgamma_f64'];
    const binary: (keyof Kernels)[] = [
      'add_f64', 'sub_f64', 'mul_f64', 'div_f64', 'relu_vjp_f64', 'tanh_vjp_f64', 'sigmoid_vjp_f64',
      'softplus_vjp_f64', 'gelu_vjp_f64',
    ];
    fc.assert(
      fc.property(size.chain((n) => fc.tuple(fc.constant(n), arr(n, -40, 40), arr(n, -40, 40), arr(n, 1e-3, 200))),
        ([n, x, y, pos]) => {
          for (const name of unary) {
            compare(name, { x }, { out: n }, (k, p) => (k[name] as (a: number, b: number, c: number) => void)(n, p.x, p.out));
          }
          for (const name of positive) {
            compare(name, { x: pos }, { out: n }, (k, p) => (k[name] as (a: number, b: number, c: number) => void)(n, p.x, p.out));
          }
          for (const name of binary) {
            compare(name, { x, y }, { out: n }, (k, p) =>
              (k[name] as (a: number, b: number, c: number, d: number) => void)(n, p.x, p.y, p.out));
          }
          compare('affine_f64', { x }, { out: n }, (k, p) => k.affine_f64(n, p.x, -1.25, 0.5, p.out));
          compare('rdiv_f64', { x }, { out: n }, (k, p) => k.rdiv_f64(n, 3.5, p.x, p.out));
          compare('fill_f64', {}, { out: n }, (k, p) => k.fill_f64(n, 0.1, p.out));
          // In place: out aliases the input exactly.
          compare('add_f64 in place', { x, y }, {}, (k, p) => {
            k.add_f64(n, p.x, p.y, p.x);
            return k.sum_f64(n, p.x) + k.sum_f64(0, p.x);
          }, () => x.reduce((s, v, i) => s + Math.abs(v + y[i]), 0));
        }),
      { numRuns: RUNS },
    );
  });

  it('reductions, broadcasts, bias, log-sum-exp', () => {
    fc.assert(
      fc.property(
        fc.tuple(size, size).chain(([M, N]) => fc.tuple(fc.constant([M, N] as const), arr(M * N, -30, 30), arr(Math.max(M, N)))),
        ([[M, N], x, v]) => {
          const absSum = x.reduce((s, t) => s + Math.abs(t), 0);
          const colAbs = (j: number) => { let s = 0; for (let i = 0; i < M; i++) s += Math.abs(x[i * N + j]); return s; };
          const rowAbs = (i: number) => { let s = 0; for (let j = 0; j < N; j++) s += Math.abs(x[i * N + j]); return s; };
          compare('sum_f64', { x }, {}, (k, p) => k.sum_f64(M * N, p.x), () => absSum);
          compare('sum_rows_f64', { x }, { out: N }, (k, p) => k.sum_rows_f64(M, N, p.x, p.out), (_o, j) => colAbs(j));
          compare('sum_cols_f64', { x }, { out: M }, (k, p) => k.sum_cols_f64(M, N, p.x, p.out), (_o, i) => rowAbs(i));
          compare('bias_add_f64', { x, v }, { out: M * N }, (k, p) => k.bias_add_f64(M, N, p.x, p.v, p.out));
          compare('broadcast_rows_f64', { v }, { out: M * N }, (k, p) => k.broadcast_rows_f64(M, N, p.v, p.out));
          compare('broadcast_cols_f64', { v }, { out: M * N }, (k, p) => k.broadcast_cols_f64(M, N, p.v, p.out));
          compare('lse_f64', { x }, {}, (k, p) => k.lse_f64(M * N, p.x));
          compare('lse_rows_f64', { x }, { out: M }, (k, p) => k.lse_rows_f64(M, N, p.x, p.out));
          compare('lse_vjp_f64', { x }, { out: M * N }, (k, p) => k.lse_vjp_f64(M * N, p.x, 31, 0.7, p.out));
          compare('lse_rows_vjp_f64', { x, a: v.map((t) => t + 30), g: v }, { out: M * N },
            (k, p) => k.lse_rows_vjp_f64(M, N, p.x, p.a, p.g, p.out));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('row gather and scatter-add, optimiser updates', () => {
    fc.assert(
      fc.property(
        fc.tuple(size, size, size).chain(([R, N, rows]) =>
          fc.tuple(fc.constant([R, N, rows] as const), arr(rows * N), arr(R * N),
            fc.array(fc.nat({ max: rows - 1 }), { minLength: R, maxLength: R })),
        ),
        ([[R, N, rows], x, g, ix]) => {
          const idx = Int32Array.from(ix);
          compare('gather_rows_f64', { x, idx }, { out: R * N }, (k, p) => k.gather_rows_f64(R, N, p.x, p.idx, p.out));
          const init = x.map((t) => t / 3);
          compare('scatter_add_rows_f64', { g, idx }, { out: init }, (k, p) => k.scatter_add_rows_f64(R, N, p.g, p.idx, p.out),
            (_o, i) => Math.abs(init[i]) + g.reduce((s, t) => s + Math.abs(t), 0));
          const n = R * N;
          const pv = g.map((t) => t * 0.5), m = g.map((t) => t * 0.1), v2 = g.map((t) => t * t);
          compare('adam_f64', { g }, { p: pv, m, v: v2 }, (k, q) =>
            k.adam_f64(n, q.p, q.g, q.m, q.v, 1e-3, 0.9, 0.999, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 1e-2));
          compare('sgd_f64', { g }, { p: pv, buf: m }, (k, q) => k.sgd_f64(n, q.p, q.g, q.buf, 1e-2, 0.9, 1e-3));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('Gauss–Hermite per-element kernels (log-likelihood and score on the node grid, their VJP, group modes), every family code, q = 1..3', () => {
    fc.assert(
      fc.property(
        // K past 128: the SIMD Bernoulli product table's limit (those take the log1p path).
        fc.tuple(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }), fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(129, 130)),
          fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 1e6 })),
        ([sizes, K, q, code, seed]) => {
          let s = seed;
          const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
          const G = sizes.length, n = sizes.reduce((a, b) => a + b, 0);
          const offsets = new Int32Array(G + 1);
          sizes.forEach((c, i) => (offsets[i + 1] = offsets[i] + c));
          const m = Float64Array.from({ length: n }, () => 1 + Math.floor(5 * u()));
          const y = Float64Array.from(m, (mj) =>
            (code <= 1 ? 4 * u() - 2 : code <= 4 ? Math.floor(u() * (mj + 1)) : code === 8 ? 0.5 + 4 * u() : Math.floor(6 * u())));
          // Poisson-sqrt needs η > 0: positive f, small g and nodes; Gamma small |η| (its terms grow like y·e^{−η}).
          const narrow = code === 6 || code === 8;
          const f = Float64Array.from({ length: n }, () => (code === 6 ? 1.5 + u() : 4 * u() - 2));
          const g = Float64Array.from({ length: n * q }, () => (narrow ? 0.2 : 1) * (2 * u() - 1));
          const nodes = Float64Array.from({ length: G * K * q }, () => (narrow ? 1 : 3) * (2 * u() - 1));
          const up = Float64Array.from({ length: G * K }, () => 2 * u() - 1);
          // The m slot always set: trials for the binomial codes, prior weights for the others.
          const trials = true;
          const ins: Arrays = { offsets, y, m, f, g, nodes, up };
          const phi = 0.7;
          // Elements are differences of terms of size ≤ m·(1 + |η|) (|η| ≤ 11 here): the error is
          // measured against that, as a score y·σ(−η) − (m − y)·σ(η) may cancel to near 0. The
          // group sums (ll, dphi: G × K) against the sum of their terms' bounds.
          const bound = (j: number) => (code === 8 ? 40 : 12) * m[j] / (code <= 1 ? phi * phi * phi : 1);
          const termScale = (o: string, i: number) => {
            if (o === 'score') return bound(Math.floor(i / K));
            let t = 0;
            for (let j = offsets[Math.floor(i / K)]; j < offsets[Math.floor(i / K) + 1]; j++) t += bound(j);
            return t;
          };
          compare('quad_loglik_f64', ins, { ll: G * K, score: n * K, dphi: G * K }, (k, p) =>
            k.quad_loglik_f64(code, G, p.offsets, K, q, p.y, trials ? p.m : 0, p.f, p.g, p.nodes, phi, p.ll, p.score, p.dphi), termScale);
          if (code === 2 && q === 1) {
            // Without dphi the SIMD build takes its two-lane logit path.
            compare('quad_loglik_f64 (logit lanes)', ins, { ll: G * K, score: n * K }, (k, p) =>
              k.quad_loglik_f64(code, G, p.offsets, K, q, p.y, trials ? p.m : 0, p.f, p.g, p.nodes, phi, p.ll, p.score, 0), termScale);
          }
          const score = Float64Array.from({ length: n * K }, () => 2 * u() - 1);
          // Sums over the K nodes (the SIMD build adds them two lanes at a time): against
          // Σ|terms| ≤ K·max|node| (|up|, |score| ≤ 1, |node| ≤ 3).
          compare('quad_loglik_vjp_f64', { ...ins, score }, { gf: n, gg: n * q }, (k, p) =>
            k.quad_loglik_vjp_f64(G, p.offsets, K, q, p.nodes, p.score, p.up, p.gf, p.gg), () => 3 * K);
          {
            // Modes and Cholesky entries are O(1)–O(10) here; Newton converges quadratically, so
            // exp/log rounding differences leave both at the same point to ~1e−15 (the
            // non-concave codes 1 and 6 start from the same grid point on both sides).
            compare('quad_mode_f64', ins, { mode: G * q, chol: G * q * q }, (k, p) =>
              k.quad_mode_f64(code, G, p.offsets, q, p.y, trials ? p.m : 0, p.f, p.g, phi, p.mode, p.chol), () => 10);
          }
        },
      ),
      // The example: a Gaussian-log case whose score (−2.6e5) passed the term bound assumed.
      { numRuns: RUNS, examples: [[[[5, 9, 2, 2], 5, 3, 1, 9]]] },
    );
  });

  it('Gauss–Hermite Bernoulli groups past the SIMD product block (a log per 512 observations and node): group sums and scores', () => {
    fc.assert(
      fc.property(fc.constantFrom(511, 512, 513, 1025, 1400), fc.constantFrom(1, 2, 24, 25, 127, 128), fc.integer({ min: 0, max: 1e6 }), (n, K, seed) => {
        let s = seed;
        const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
        const offsets = new Int32Array([0, n]);
        const y = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
        const f = Float64Array.from({ length: n }, () => 4 * u() - 2), g = Float64Array.from({ length: n }, () => 2 * u() - 1);
        const nodes = Float64Array.from({ length: K }, () => 6 * u() - 3);
        // ll: a sum of n terms each ≤ 1 + |η| ≤ 6; scores ≤ 1.
        compare('quad_loglik_f64 (Bernoulli product)', { offsets, y, f, g, nodes }, { ll: K, score: n * K }, (k, p) =>
          k.quad_loglik_f64(2, 1, p.offsets, K, 1, p.y, 0, p.f, p.g, p.nodes, 1, p.ll, p.score, 0), (o) => (o === 'll' ? 6 * n : 1));
      }),
      { numRuns: 12 },
    );
  });

  it('Gauss–Hermite Bernoulli groups with one design value g (SIMD base form e^{η_jk} = B_j·F_k): sums and scores, |η| to 700 and its fallbacks', () => {
    fc.assert(
      fc.property(
        // K = 127, 128: the static tables' last entries (MAX_PRODUCT_K = 128).
        fc.array(fc.constantFrom(1, 2, 3, 50, 51, 600), { minLength: 1, maxLength: 3 }), fc.constantFrom(1, 2, 24, 25, 127, 128),
        fc.constantFrom(0.3, -1.7, 40, 100), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1e6 }),
        (sizes, K, gv, spread, seed) => {
          let s = seed;
          const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
          const G = sizes.length, n = sizes.reduce((a, b) => a + b, 0);
          const offsets = new Int32Array(G + 1);
          sizes.forEach((c, i) => (offsets[i + 1] = offsets[i] + c));
          const y = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
          // spread 2: some |f| past 600 (pairs go direct); g = 40 or 100 with nodes ±3 puts
          // g·(b_k − b₀) past 600 for some groups (the whole group goes direct).
          const f = Float64Array.from({ length: n }, () => (spread === 0 ? 4 * u() - 2 : spread === 1 ? 60 * u() - 30 : (u() < 0.5 ? -1 : 1) * 700 * u()));
          const g = new Float64Array(n).fill(gv);
          const nodes = Float64Array.from({ length: G * K }, () => 6 * u() - 3);
          const bound = 2 + Math.max(...Array.from(f, Math.abs)) + 3 * Math.abs(gv);
          compare('quad_loglik_f64 (Bernoulli, one g per group)', { offsets, y, f, g, nodes }, { ll: G * K, score: n * K }, (k, p) =>
            k.quad_loglik_f64(2, G, p.offsets, K, 1, p.y, 0, p.f, p.g, p.nodes, 1, p.ll, p.score, 0),
            (o, i) => (o === 'll' ? bound * (offsets[Math.floor(i / K) + 1] - offsets[Math.floor(i / K)]) : 1));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the SIMD build really runs SIMD code in its hot loops', async () => {
    const { readFileSync } = await import('node:fs');
    const wat = readFileSync('.build/ngmm.simd.wat', 'utf8');
    const scalarWat = readFileSync('.build/ngmm.scalar.wat', 'utf8');
    const body = (name: string): string => {
      const start = wat.indexOf(`\n (func $kernels/assembly/${name} `);
      expect(start, `${name} not found in the SIMD build`).toBeGreaterThanOrEqual(0);
      const end = wat.indexOf('\n (func ', start + 1);
      return wat.slice(start, end < 0 ? undefined : end);
    };
    for (const f of ['matmul/matmul_f64', 'matmul/matmul_tn_f64', 'matmul/matmul_nt_f64']) {
      const b = body(f);
      expect(b).toMatch(/f64x2\.mul/);
      expect(b).toMatch(/f64x2\.add/);
      expect(b).toMatch(/v128\.load64_splat|v128\.load/);
    }
    expect(body('optim/adam_f64')).toBeDefined();
    expect(scalarWat).not.toMatch(/v128|f64x2/);
    expect(simd.name).toBe('wasm-simd');
    expect(scalar.name).toBe('wasm-scalar');
  });
});
