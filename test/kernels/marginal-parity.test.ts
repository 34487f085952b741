// marginal_f64: the WASM builds (SIMD and scalar) against the TypeScript reference
// (kernels/reference/marginal), which they port operation for operation. Same inputs on all
// three backends, every family code, all gradient methods, mode-centred and prior intervals.
//
// What "agree" means. The WASM builds use AssemblyScript's exp/log/log1p/expm1/pow, V8 its
// own; they differ by an ulp now and then. Such an ulp moves ℓ, the error norm and the next
// step size by rounding only, so the two solves take the same steps and their results agree
// to ~1e-15 — unless a step's error norm lands within rounding of 1, where one side accepts
// and the other rejects. From there the step sequences differ and the results agree only to
// the solver tolerance. So: same status always; same step counts in the overwhelming
// majority of groups, and then values to 1e-12 (relative to max(1, |value|)) and gradients to
// 1e-14 per solver step (accepted or rejected; at least 1e-13): the adjoint carries the ulp
// differences of every step's integrand, so its rounding grows with the step count — measured
// over ~1,800 random groups per run, ≤ 6e-15 for the usual ≤ 40 steps, but 1.1e-12 for a
// Poisson-sqrt group of 204 steps (y = 7, s = 3: two modes across η = 0), which the former flat
// 1e-12 bound failed although both WASM builds agreed with each other to the last bit).
// Differing step counts are counted (asserted rare) and held to 50·rtol.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../kernels/load';
import { scalar, simd, ts } from '../helpers/backends';

const OPT_COUNT = 7;
const STAT_COUNT = 8;
const RECORD_SIZE = 18;
const WORK_STEPS = 20000;
const TOL = 1e-12;
const GRAD_TOL_PER_STEP = 1e-14;
const RUNS = 300;

interface Case {
  code: number;
  G: number;
  offs: Int32Array;
  y: Float64Array;
  trials: Float64Array | null;
  f: Float64Array;
  s: Float64Array;
  phi: number;
  cst: Float64Array;
  opts: Float64Array; // rtol, atol, T, c0, maxSteps, grad, centre
}

interface Result {
  ret: number;
  L: Float64Array;
  gf: Float64Array;
  gs: Float64Array;
  gphi: Float64Array;
  stats: Float64Array;
}

// Scratch for the adjoint/discrete records, allocated once per backend.
const workPtr = new Map<Backend, number>();
function work(b: Backend): number {
  let p = workPtr.get(b);
  if (p === undefined) {
    p = b.heap.alloc(WORK_STEPS * RECORD_SIZE * 8);
    workPtr.set(b, p);
  }
  return p;
}

function run(b: Backend, c: Case, workSteps = WORK_STEPS, withCache = true): Result {
  const n = c.y.length;
  const h = b.heap;
  const ptrs: number[] = [];
  const put = (a: Float64Array | Int32Array): number => {
    const p = h.alloc(Math.max(1, a.length) * a.BYTES_PER_ELEMENT);
    ptrs.push(p);
    if (a instanceof Int32Array) h.i32.set(a, p >>> 2);
    else h.f64.set(a, p >>> 3);
    return p;
  };
  const out = (len: number): number => put(new Float64Array(len).fill(NaN)); // NaN: "not written"
  const offs = put(c.offs), y = put(c.y), f = put(c.f), s = put(c.s), cst = put(c.cst), opts = put(c.opts);
  const trials = c.trials ? put(c.trials) : 0;
  const L = out(c.G), gf = out(n), gs = out(c.G), gphi = out(c.G), stats = out(c.G * STAT_COUNT);
  const w = work(b);
  // The SIMD logit path's stage score cache, as the op passes it (the reference ignores it).
  let maxN = 1;
  for (let i = 0; i < c.G; i++) maxN = Math.max(maxN, c.offs[i + 1] - c.offs[i]);
  const cache = withCache ? out(7 * maxN) : 0;
  const ret = b.k.marginal_f64(c.code, c.G, offs, y, trials, f, s, c.phi, cst, opts, L, gf, gs, gphi, stats, w, workSteps, cache);
  const get = (p: number, len: number) => h.f64.slice(p >>> 3, (p >>> 3) + len);
  const res: Result = {
    ret, L: get(L, c.G), gf: get(gf, n), gs: get(gs, c.G), gphi: get(gphi, c.G), stats: get(stats, c.G * STAT_COUNT),
  };
  for (const p of ptrs.reverse()) h.free(p);
  return res;
}

/** |a − b| / max(1, |b|); 0 when both are the same non-finite value. */
function diff(a: number, b: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

/** |a − b| / scale; 0 when both are the same non-finite value. */
function relTo(a: number, b: number, scale: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return Math.abs(a - b) / scale;
}

// Tallies over every group compared (both WASM builds), reported at the end.
const tally = {
  groups: 0, sameSteps: 0, diffSteps: 0, sameEvals: 0, nonOk: 0,
  maxValSame: 0, maxGradSame: 0, maxGradPlain: 0, maxModeSame: 0, maxValDiffRel: 0, maxGradDiff: 0,
};

// Compares one WASM result with the reference, group by group.
function compare(c: Case, ref: Result, got: Result, name: string): void {
  const rtol = c.opts[0], grad = c.opts[5];
  const ctx = () => `${name}, code ${c.code}, grad ${grad}, rtol ${rtol}, centre ${c.opts[6]}`;
  expect(got.ret, `return value (${ctx()})`).toBe(ref.ret);
  for (let i = 0; i < c.G; i++) {
    const st = (r: Result, k: number) => r.stats[i * STAT_COUNT + k];
    const g = `group ${i} (${ctx()})`;
    tally.groups++;
    expect(st(got, 5), `status, ${g}`).toBe(st(ref, 5));
    if (st(ref, 5) !== 0) tally.nonOk++;
    const obs: number[] = [];
    for (let j = c.offs[i]; j < c.offs[i + 1]; j++) obs.push(j);
    const grads = (r: Result) => [r.gs[i], r.gphi[i], ...obs.map((j) => r.gf[j])];
    if (grad === 0) {
      // Not written by any backend.
      for (const v of grads(got)) expect(v, `gradient written with grad 0, ${g}`).toBeNaN();
      for (const v of grads(ref)) expect(v).toBeNaN();
    }
    const same = st(got, 0) === st(ref, 0) && st(got, 1) === st(ref, 1);
    if (same) {
      tally.sameSteps++;
      if (st(got, 2) === st(ref, 2) && st(got, 3) === st(ref, 3) && st(got, 4) === st(ref, 4)) tally.sameEvals++;
      const dL = diff(got.L[i], ref.L[i]);
      tally.maxValSame = Math.max(tally.maxValSame, dL);
      expect(dL, `L ${got.L[i]} vs ${ref.L[i]}, ${g}`).toBeLessThanOrEqual(TOL);
      for (const k of [6, 7]) {
        const d = diff(st(got, k), st(ref, k));
        tally.maxModeSame = Math.max(tally.maxModeSame, d);
        expect(d, `stats[${k}] ${st(got, k)} vs ${st(ref, k)}, ${g}`).toBeLessThanOrEqual(TOL);
      }
      // A gradient is a posterior expectation of a score, a quadrature sum whose rounding is
      // relative to its terms, not to the result: with s = 0, ∂L/∂s = Σr·E[t] and E[t] = 0 by
      // cancellation. The terms are bounded by the gradient's size times the reach in t.
      const gg = grads(got), gr = grads(ref);
      const sumGf = obs.reduce((a, j) => a + (Number.isFinite(ref.gf[j]) ? Math.abs(ref.gf[j]) : 0), 0);
      const gScale = (1 + Math.abs(st(ref, 6)) + st(ref, 7)) * Math.max(Math.abs(ref.gs[i]), Math.abs(ref.gphi[i]), sumGf);
      for (let q = 0; q < gr.length; q++) {
        tally.maxGradPlain = Math.max(tally.maxGradPlain, diff(gg[q], gr[q]));
        const d = relTo(gg[q], gr[q], Math.max(1, Math.abs(gr[q]), Number.isFinite(gScale) ? gScale : 0));
        tally.maxGradSame = Math.max(tally.maxGradSame, d);
        const gradTol = Math.max(1e-13, GRAD_TOL_PER_STEP * (st(ref, 0) + st(ref, 1)));
        expect(d, `gradient ${q} ${gg[q]} vs ${gr[q]} (${st(ref, 0) + st(ref, 1)} steps), ${g}`).toBeLessThanOrEqual(gradTol);
      }
    } else {
      tally.diffSteps++;
      // One side accepted a step at norm ≈ 1 that the other rejected: solver-tolerance agreement.
      const dL = diff(got.L[i], ref.L[i]);
      tally.maxValDiffRel = Math.max(tally.maxValDiffRel, dL / rtol);
      expect(dL, `L ${got.L[i]} vs ${ref.L[i]} (steps ${st(got, 0)}/${st(got, 1)} vs ${st(ref, 0)}/${st(ref, 1)}), ${g}`)
        .toBeLessThanOrEqual(50 * rtol);
      if (grad !== 0 && st(ref, 5) === 0) {
        // Gradients follow the steps too: a generous sanity bound only (measured ≲ 1e−8).
        const gg = grads(got), gr = grads(ref);
        for (let q = 0; q < gr.length; q++) {
          const d = diff(gg[q], gr[q]);
          tally.maxGradDiff = Math.max(tally.maxGradDiff, d);
          expect(d, `gradient ${q} ${gg[q]} vs ${gr[q]} (steps differ), ${g}`).toBeLessThanOrEqual(1e-5);
        }
      }
    }
  }
}

// Observations: per observation two uniforms and a trial count, mapped to valid (y, f, m) per code.
const obsArb = fc.tuple(
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.integer({ min: 1, max: 5 }),
);
const groupArb = fc.record({
  obs: fc.array(obsArb, { minLength: 1, maxLength: 40 }),
  s: fc.double({ min: 0, max: 3, noNaN: true }),
  cst: fc.double({ min: -3, max: 3, noNaN: true }),
});
const caseArb: fc.Arbitrary<Params> = fc.record({
  code: fc.integer({ min: 0, max: 8 }),
  grad: fc.integer({ min: 0, max: 3 }),
  rtol: fc.constantFrom(1e-8, 1e-10),
  prior: fc.integer({ min: 0, max: 9 }).map((v) => v === 0), // 1 in 10: centre 1, c0 = −40
  useTrials: fc.boolean(),
  phi: fc.double({ min: 0.3, max: 2.5, noNaN: true }),
  groups: fc.array(groupArb, { minLength: 1, maxLength: 5 }),
});

interface Params {
  code: number;
  grad: number;
  rtol: number;
  prior: boolean;
  useTrials: boolean;
  phi: number;
  groups: { obs: [number, number, number][]; s: number; cst: number }[];
}

function build({ code, grad, rtol, prior, useTrials, phi, groups }: Params): Case {
  const binomial = code >= 2 && code <= 4;
  // The m slot: trials for the binomial codes, prior weights (0 … 4, zeros included) for the others.
  const withTrials = useTrials;
  const dispersion = code <= 1 || code === 7 || code === 8;
  const G = groups.length;
  const n = groups.reduce((a, g) => a + g.obs.length, 0);
  const offs = new Int32Array(G + 1);
  const y = new Float64Array(n), f = new Float64Array(n), m = new Float64Array(n);
  let j = 0;
  groups.forEach((g, i) => {
    offs[i] = j;
    for (const [uy, uf, trials] of g.obs) {
      f[j] = code === 6 ? 0.5 + 1.5 * Math.max(uf, 1e-3) : -2 + 4 * uf; // code 6: f > 0.5
      if (code <= 1) y[j] = -3 + 6 * uy;
      else if (binomial) {
        m[j] = withTrials ? trials : 1;
        y[j] = Math.min(m[j], Math.floor(uy * (m[j] + 1)));
      } else if (code === 8) y[j] = 0.05 + 4 * uy; // Gamma: y > 0
      else y[j] = Math.floor(uy * 8);
      if (!binomial) m[j] = trials - 1;
      j++;
    }
  });
  offs[G] = n;
  const opts = new Float64Array(OPT_COUNT);
  opts.set([rtol, rtol * 1e-2, 8, prior ? -40 : NaN, 20000, grad, prior ? 1 : 0]);
  return {
    code, G, offs, y, trials: withTrials ? m : null, f,
    s: Float64Array.from(groups, (g) => g.s), phi: dispersion ? phi : 1, cst: Float64Array.from(groups, (g) => g.cst), opts,
  };
}

describe('marginal_f64: wasm-simd and wasm-scalar against the TypeScript reference', () => {
  afterAll(() => {
    for (const b of [simd, scalar, ts]) {
      const p = workPtr.get(b);
      if (p !== undefined) b.heap.free(p);
    }
    workPtr.clear();
  });

  it('same steps and results on random groups of every family, all gradient methods', () => {
    fc.assert(
      fc.property(caseArb, (p) => {
        const c = build(p);
        const ref = run(ts, c);
        for (const b of [simd, scalar]) compare(c, ref, run(b, c), b.name);
      }),
      { numRuns: RUNS },
    );
    console.info(`marginal parity: ${JSON.stringify(tally)}`);
    // Differing step counts come only from norms within rounding of 1: rare.
    expect(tally.diffSteps).toBeLessThanOrEqual(0.05 * tally.groups);
    expect(tally.groups).toBeGreaterThan(100);
  });

  it('large Bernoulli groups (1023 … 3001 observations), SIMD with and without the cache (exp base, per-observation path): same steps and results', () => {
    // Odd and even sizes (the scalar tail); the exp base's product runs over the whole group.
    fc.assert(
      fc.property(
        fc.constantFrom(1023, 1024, 1025, 2047, 2049, 3001), fc.integer({ min: 0, max: 1 }), fc.double({ min: 0.05, max: 3, noNaN: true }),
        fc.array(obsArb, { minLength: 16, maxLength: 16 }),
        (n, grad, s, pattern) => {
          const obs = Array.from({ length: n }, (_, j) => pattern[(j * 7) % 16]);
          const c = build({ code: 2, grad, rtol: 1e-8, prior: false, useTrials: false, phi: 1, groups: [{ obs, s, cst: 0 }] });
          const ref = run(ts, c);
          compare(c, ref, run(simd, c), simd.name);
          compare(c, ref, run(simd, c, WORK_STEPS, false), `${simd.name} without the cache`);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('Bernoulli exp base (SIMD: e^{η} = e^{f + s·t̂}·e^{s·(t − t̂)}, Σ log(1 + e^{η}) as a product): |η| up to 700, its fallbacks, every gradient method', () => {
    // |f + s·t̂| or |η| past 600 sends a pair to the direct formula; a large s with few
    // saturated observations (a wide posterior, σ̂ near 1, the interval t̂ ± 8σ̂ or more) sends whole
    // evaluations there (|s·(t − t̂)| past 30, and past 709 where e^{s·(t − t̂)} overflows);
    // factors up to e^{600} exercise the product's exponent bookkeeping. Mode-centred only:
    // prior-centred intervals with a large s start stiff (c₀ = −40 far from the mode) and
    // amplify ulp-level differences in ℓ to 1e−11 relative in L whatever the formula (the
    // session-start build, a log1p per observation, differed from the reference by up to
    // 6.9e−11 on 400 such groups, this one by 2.4e−11).
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 41 }),
        fc.double({ min: 0.05, max: 3, noNaN: true }), fc.integer({ min: 0, max: 3 }), fc.boolean(),
        (obs, s, grad, big) => {
          const n = big ? Math.min(obs.length, 3) : obs.length;
          const f = Float64Array.from(obs.slice(0, n), ([kind, u, neg]) => (neg ? -1 : 1) * (kind === 0 ? 3 * u : kind === 1 ? 20 + 280 * u : 590 + 110 * u));
          // With a large s, y follows the sign of f: saturated observations leave the posterior
          // near the prior (σ̂ ≈ 1), so s·(t − t̂) reaches hundreds.
          const y = Float64Array.from(obs.slice(0, n), ([, , , one], j) => (big ? (f[j] > 0 ? 1 : 0) : one ? 1 : 0));
          const opts = new Float64Array(OPT_COUNT);
          // Saturated large-s groups have ∂L/∂s ~ 1e−9 out of terms a thousand times larger,
          // and the continuous adjoint's backward solve (grad 2) amplifies ulp differences in ℓ
          // there to ~1e−12 (the session-start build: 5.7e−13 on one such group): those take
          // the value and the folded gradient only.
          opts.set([1e-8, 1e-10, 8, NaN, 20000, big ? grad % 2 : grad, 0]);
          const c: Case = {
            code: 2, G: 1, offs: new Int32Array([0, n]), y, trials: null, f, s: new Float64Array([big ? 40 * s : s]), phi: 1,
            cst: new Float64Array([0]), opts,
          };
          compare(c, run(ts, c), run(simd, c), simd.name);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the mode and its SD in a saturated Bernoulli group match a 40-digit computation on every backend', () => {
    // Three observations y = 1 at f = 20 and s = 104.6: t̂ ≈ 6.5e−7 and σ(η) = 1 − 2e−9 at the
    // mode, where p·(1 − p) keeps seven digits; the curvature as σ(η)·σ(−η) keeps them all.
    // Reference values: mpmath at 40 digits (root of ℓ′, then 1/√(−ℓ″)), independent of ngmm.
    const s = 40 * 2.615279514144755;
    const opts = new Float64Array(OPT_COUNT);
    opts.set([1e-8, 1e-10, 8, NaN, 20000, 0, 0]);
    const c: Case = {
      code: 2, G: 1, offs: new Int32Array([0, 3]), y: new Float64Array([1, 1, 1]), trials: null,
      f: new Float64Array([20, 20, 20]), s: new Float64Array([s]), phi: 1, cst: new Float64Array([0]), opts,
    };
    for (const b of [ts, simd, scalar]) {
      const r = run(b, c);
      expect(Math.abs(r.stats[6] / 6.468153723055591654e-7 - 1), `mode, ${b.name}`).toBeLessThan(1e-14);
      expect(Math.abs(r.stats[7] / 0.99996616965703283383 - 1), `SD, ${b.name}`).toBeLessThan(1e-15);
    }
  });

  it('bit for bit once V8 uses the same exp/log/log1p/expm1/pow as the WASM build', async () => {
    // The strongest check that the port is operation for operation: compile AssemblyScript's
    // NativeMath into a tiny module, let the reference call it instead of V8's Math, and every
    // output (values, gradients, step and evaluation counts, modes) must then be identical.
    const asc = await import('assemblyscript/asc');
    const fns = ['exp', 'log', 'log1p', 'expm1'];
    const src = fns.map((f) => `export function ${f}(x: f64): f64 { return Math.${f}(x); }`).join('\n') +
      '\nexport function pow(x: f64, y: f64): f64 { return Math.pow(x, y); }\n';
    const out = await asc.compileString(src, { optimizeLevel: 3, runtime: 'stub' });
    expect(out.error, out.stderr.toString()).toBeNull();
    const lib = new WebAssembly.Instance(new WebAssembly.Module(out.binary as BufferSource), { env: { abort() {} } })
      .exports as Record<string, (...a: number[]) => number>;
    const M = Math as unknown as Record<string, unknown>;
    const saved = Object.fromEntries([...fns, 'pow'].map((f) => [f, M[f]]));
    let groups = 0;
    try {
      for (const f of [...fns, 'pow']) M[f] = lib[f];
      fc.assert(
        fc.property(caseArb, (p) => {
          const c = build(p);
          const ref = run(ts, c);
          // The SIMD build evaluates the logit family (code 2) with its own lane-wise exp and
          // log1p (kernels/assembly/vmath.ts) and two-lane sums, and solves Gaussian-identity
          // and Poisson-log groups (codes 0 and 5) two at a time with the lane-wise exp, expm1
          // and log (marginal/lanes.ts) when the gradient is none or folded: equal to rounding,
          // not to the bit; the tolerance suite above covers them. Everything else, and the
          // scalar build for all cases, must match bit for bit.
          const lanes = c.code === 2 || ((c.code === 0 || c.code === 5) && c.opts[5] <= 1);
          for (const b of lanes ? [scalar] : [simd, scalar]) {
            const got = run(b, c);
            expect(got.ret).toBe(ref.ret);
            for (const k of ['L', 'gf', 'gs', 'gphi', 'stats'] as const) {
              expect(Array.from(got[k]), `${k} (${b.name}, code ${c.code}, grad ${c.opts[5]})`).toEqual(Array.from(ref[k]));
            }
          }
          groups += c.G;
        }),
        { numRuns: 80 },
      );
    } finally {
      for (const f of [...fns, 'pow']) M[f] = saved[f];
    }
    expect(Math.exp).toBe(saved.exp);
    expect(groups).toBeGreaterThan(100);
  });

  it('stops with status 4 when the work buffer cannot hold the records (adjoint, discrete)', () => {
    const g = { obs: Array.from({ length: 12 }, (_, i) => [((i * 7) % 10) / 10, (i % 5) / 5, 2] as [number, number, number]), s: 1.2, cst: 0 };
    for (const grad of [2, 3]) {
      const c = build({ code: 2, grad, rtol: 1e-10, prior: false, useTrials: true, phi: 1, groups: [g, g] });
      const ref = run(ts, c);
      expect(ref.ret).toBe(0);
      const steps = ref.stats[0];
      expect(steps).toBeGreaterThan(3);
      for (const b of [simd, scalar]) {
        const small = run(b, c, 3);
        expect(small.ret).toBe(1); // the first group failed
        expect(small.stats[5]).toBe(4);
        expect(small.stats[STAT_COUNT + 5]).toBe(4);
        expect(small.L[0]).toBeNaN();
        // Exactly enough room: the same answer as the reference.
        const exact = run(b, c, steps);
        expect(exact.ret).toBe(0);
        expect(diff(exact.L[0], ref.L[0])).toBeLessThanOrEqual(TOL);
      }
    }
    // Methods that keep no records ignore workSteps.
    const c = build({ code: 2, grad: 1, rtol: 1e-10, prior: false, useTrials: true, phi: 1, groups: [g] });
    for (const b of [simd, scalar]) expect(run(b, c, 0).stats[5]).toBe(0);
  });

  it('two groups at a time (SIMD, Gaussian and Poisson): failing groups among good ones, in any order', () => {
    // The lane solver closes and refills each lane as its group ends, so groups finish out of
    // order; a group that cannot be planned (NaN input) or hits the step cap must leave the
    // reference's results, and the others theirs, whatever their neighbours did.
    const mk = (n: number, s: number, shift: number) => ({
      obs: Array.from({ length: n }, (_, i) => [((i * 7 + shift) % 10) / 10, ((i * 3 + shift) % 5) / 5, 1] as [number, number, number]),
      s, cst: 0.3,
    });
    // Mode-centred Gaussian groups all take the same steps (standardised, they are one
    // integrand); prior-centred ones and Poisson groups do not, so some variants split.
    let mixed = 0;
    for (const code of [0, 5]) {
      for (const grad of [0, 1]) {
        for (const prior of [false, true]) {
          const groups = [mk(30, 1.5, 0), mk(1, 0.2, 1), mk(12, 3, 2), mk(40, 0.01, 3), mk(5, 2, 4), mk(20, 1, 5), mk(7, 0.7, 6)];
          const c = build({ code, grad, rtol: 1e-8, prior, useTrials: false, phi: 0.8, groups });
          // Group 2 cannot be planned; the cap then stops the groups that need the most steps.
          c.f[c.offs[2] + 1] = NaN;
          const full = run(ts, c);
          const counts = Array.from({ length: c.G }, (_, i) => full.stats[i * STAT_COUNT] + full.stats[i * STAT_COUNT + 1]);
          const ok = counts.filter((_, i) => i !== 2);
          const cap = Math.floor((Math.min(...ok) + Math.max(...ok)) / 2) - (Math.min(...ok) === Math.max(...ok) ? 1 : 0);
          c.opts[4] = cap;
          const ref = run(ts, c);
          const capped = ok.filter((v) => v > cap).length;
          expect(capped, 'groups at the cap').toBeGreaterThan(0);
          if (capped < ok.length) mixed++;
          expect(ref.stats[2 * STAT_COUNT + 5]).toBe(2);
          const got = run(simd, c);
          expect(got.ret).toBe(ref.ret);
          for (let i = 0; i < c.G; i++) {
            const ctx = `group ${i} (code ${code}, grad ${grad}, prior ${prior})`;
            const st = (r: Result) => Array.from(r.stats.subarray(i * STAT_COUNT, i * STAT_COUNT + 6));
            expect(st(got), `${ctx} stats`).toEqual(st(ref));
            expect(diff(got.L[i], ref.L[i]), `${ctx} L`).toBeLessThanOrEqual(TOL);
            if (grad) {
              expect(diff(got.gs[i], ref.gs[i]), `${ctx} ∂L/∂s`).toBeLessThanOrEqual(TOL);
              expect(diff(got.gphi[i], ref.gphi[i]), `${ctx} ∂L/∂ϕ`).toBeLessThanOrEqual(TOL);
              for (let j = c.offs[i]; j < c.offs[i + 1]; j++) expect(diff(got.gf[j], ref.gf[j]), `${ctx} ∂L/∂f[${j}]`).toBeLessThanOrEqual(TOL);
            }
          }
        }
      }
    }
    expect(mixed, 'variants where the cap stops some groups and not others').toBeGreaterThanOrEqual(4);
  });

  it('two groups at a time: stage weights that underflow to subnormals count as in the scalar path', () => {
    // A Poisson group of zeros with a large scale: its far-tail stage weights e^{ℓ−m} fall
    // between e^{−745} and e^{−708}, subnormal, and the folded gradient counts an evaluation
    // only for a nonzero weight (found in review: a lane exp that flushed to 0 there counted
    // one fewer). The lanes' contract is the scalar build's solve, planning included (whose
    // Newton, on NativeMath, here takes three more ℓ evaluations than the reference's on V8's
    // Math), so the counts are held to the scalar build, the values to the reference.
    const c = build({
      code: 5, grad: 1, rtol: 1e-8, prior: false, useTrials: false, phi: 1,
      groups: [{ obs: [[0, 0.5, 1], [0, 0.625, 1], [0, 0.375, 1]], s: 10, cst: 0 }, { obs: [[0.5, 0.5, 1]], s: 1, cst: 0 }],
    });
    const ref = run(ts, c), plain = run(scalar, c), got = run(simd, c);
    for (let i = 0; i < c.G; i++) {
      const st = (r: Result) => Array.from(r.stats.subarray(i * STAT_COUNT, i * STAT_COUNT + 6));
      expect(st(got), `group ${i}`).toEqual(st(plain));
      expect(diff(got.L[i], ref.L[i]), `group ${i} L`).toBeLessThanOrEqual(TOL);
    }
  });
});
