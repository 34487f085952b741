// The marginal-likelihood benchmark: (1) accuracy against cost for the ODE at rtol 1e−4…1e−12,
// fixed-grid log-sum-exp (Simpson on [−8, 8]) and adaptive Gauss–Hermite; (2) truncation error
// against the half-width T (the paper's Figure 2, with the predicted Gaussian-tail rate);
// (3) objective + gradient for 100 groups × 50 observations against the targets.
import * as E from '../engine/index';
import { createBackendSync, type Backend } from '../kernels/load';
import { Integrand } from '../kernels/reference/marginal/integrand';
import { family, type Family } from '../ngmm/families/index';
import { gaussHermite } from '../ngmm/marginal/gaussHermite';
import { groupResponse, type GroupedResponse } from '../ngmm/marginal/groups';
import { logMarginal, type GradientMethod } from '../ngmm/marginal/ode';
import { logMarginalQuadrature } from '../ngmm/marginal/quadrature';
import { integrateLog } from '../test/helpers/gaussKronrod';
import { logNdtr } from '../kernels/reference/special';
import { median, table, type Section } from './lib';

const simd = createBackendSync({ backend: 'wasm-simd' });
const tsb = createBackendSync({ backend: 'ts' });

interface Problem {
  label: string;
  fam: Family;
  data: GroupedResponse;
  f: Float64Array;
  s: Float64Array;
  phi: number;
  ref: Float64Array;
}

function simulate(fam: Family, G: number, n: number, seed: number, sb = 0.8): Problem {
  const rng = new E.Rng(seed);
  const N = G * n;
  const f = Float64Array.from({ length: N }, () => 0.5 * rng.normal());
  const y = new Float64Array(N);
  const phi = 1;
  for (let i = 0; i < G; i++) {
    const b = rng.normal();
    for (let j = i * n; j < (i + 1) * n; j++) {
      const mu = fam.mean(f[j] + sb * b, 1);
      if (fam.name === 'gaussian') y[j] = mu + phi * rng.normal();
      else if (fam.name === 'poisson') y[j] = rng.poisson(mu);
      else y[j] = rng.uniform() < mu ? 1 : 0;
    }
  }
  const data = groupResponse(fam, y, Array(G).fill(n));
  const s = new Float64Array(G).fill(sb);
  const ref = new Float64Array(G);
  for (let i = 0; i < G; i++) {
    const lo = i * n, hi = lo + n;
    if (fam.name === 'gaussian') {
      // docs/marginal.md §10 closed form.
      let S = 0, rr = 0;
      for (let j = lo; j < hi; j++) {
        const r = y[j] - f[j];
        S += r;
        rr += r * r;
      }
      const d = phi * phi + n * sb * sb;
      ref[i] = -0.5 * (n * Math.log(2 * Math.PI) + (n - 1) * Math.log(phi * phi) + Math.log(d) + (rr - (sb * sb * S * S) / d) / (phi * phi));
    } else {
      const g = integrand(data, f, s, phi, i);
      ref[i] = integrateLog((t) => g.ell(t), -Infinity, Infinity, { tol: 1e-13 }).logValue;
    }
  }
  return { label: `${fam.name}/${fam.link}, n = ${n}`, fam, data, f, s, phi, ref };
}

function integrand(data: GroupedResponse, f: Float64Array, s: Float64Array, phi: number, i: number): Integrand {
  const lo = data.offsets[i], hi = data.offsets[i + 1];
  return new Integrand(data.family.code, data.y.subarray(lo, hi), data.trials?.subarray(lo, hi) ?? null, f.subarray(lo, hi),
    new Float64Array(hi - lo), s[i], phi, data.cst[i]);
}

function timePerCall(fn: () => void, minMs = 150): number {
  fn();
  const samples: number[] = [];
  const start = performance.now();
  // At least three samples, unless one call alone takes over a second.
  while (performance.now() - start < minMs || (samples.length < 3 && performance.now() - start < 1000)) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

const relErr = (a: ArrayLike<number>, ref: ArrayLike<number>) => {
  let e = 0;
  for (let i = 0; i < ref.length; i++) e = Math.max(e, Math.abs(a[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
  return e;
};

interface FrontierPoint {
  method: string;
  setting: string;
  error: number;
  evalsPerGroup: number;
  msPerGroup: number;
}

function frontier(p: Problem): FrontierPoint[] {
  const G = p.data.ngroups;
  const out: FrontierPoint[] = [];
  const phiT = () => (p.fam.hasDispersion ? E.tensor([p.phi], []) : null);
  for (const rtol of [1e-4, 1e-6, 1e-8, 1e-10, 1e-12]) {
    let L = new Float64Array(0), rhs = 0;
    const run = () =>
      E.withBackend(simd, () =>
        E.tidy(() => {
          const r = logMarginal(E.tensor(p.f), E.tensor(p.s), phiT(), p.data, { rtol });
          L = r.L.toArray();
          rhs = r.stats.rhs.reduce((a, b) => a + b, 0) / G;
        }),
      );
    const ms = timePerCall(run) / G;
    out.push({ method: 'ODE (WASM)', setting: `rtol ${rtol.toExponential(0)}`, error: relErr(L, p.ref), evalsPerGroup: rhs, msPerGroup: ms });
  }
  // Simpson on the prior interval [−8, 8], in the log domain.
  for (const N of [33, 65, 129, 257, 513, 1025]) {
    const L = new Float64Array(G);
    const run = () => {
      for (let i = 0; i < G; i++) {
        const g = integrand(p.data, p.f, p.s, p.phi, i);
        const h = 16 / (N - 1);
        let m = -Infinity;
        const v = new Float64Array(N);
        for (let k = 0; k < N; k++) {
          v[k] = g.ell(-8 + k * h) + Math.log(k === 0 || k === N - 1 ? 1 : k % 2 ? 4 : 2);
          if (v[k] > m) m = v[k];
        }
        let acc = 0;
        for (let k = 0; k < N; k++) acc += Math.exp(v[k] - m);
        L[i] = m + Math.log((acc * h) / 3);
      }
    };
    const ms = timePerCall(run) / G;
    out.push({ method: 'Simpson [−8, 8] (TS)', setting: `${N} points`, error: relErr(L, p.ref), evalsPerGroup: N, msPerGroup: ms });
  }
  // Adaptive Gauss–Hermite on the 1-D integral (mode and curvature by the ODE path's Newton).
  for (const K of [1, 3, 5, 9, 15, 25]) {
    let L = new Float64Array(0);
    const run = () =>
      E.withBackend(tsb, () =>
        E.tidy(() => {
          const gcol = E.tensor(Float64Array.from(p.data.groupOf, (i) => p.s[i]), [p.data.nobs, 1]);
          L = logMarginalQuadrature(E.tensor(p.f), gcol, p.fam.hasDispersion ? E.tensor([p.phi], []) : null, p.data, { K }).toArray();
        }),
      );
    const ms = timePerCall(run) / G;
    out.push({ method: 'adaptive GH (TS)', setting: `${K} node${K === 1 ? '' : 's'}`, error: relErr(L, p.ref), evalsPerGroup: K, msPerGroup: ms });
  }
  void gaussHermite;
  return out;
}

// Truncation to [−T, T] on a Gaussian group, exactly: the posterior of t is N(μ, v) with
// μ = s·Σr/(σ² + ns²), v = σ²/(σ² + ns²), so L − L^{[−T,T]} = −log(Φ((T−μ)/√v) − Φ((−T−μ)/√v)).
// Theorem 3's rate: log error ≈ −c·T² with c = (1 + ns²/σ²)/2 = 1/(2v).
function truncation() {
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  for (const [n, s, sigma] of [[1, 1, 1], [10, 0.5, 1], [50, 0.3, 2]] as const) {
    const mu = 0.3, v = (sigma * sigma) / (sigma * sigma + n * s * s);
    const c = 1 / (2 * v);
    const pts: [number, number][] = [];
    for (let T = 1; T <= 8; T += 0.5) {
      const lo = logNdtr((-T - mu) / Math.sqrt(v)), hi = logNdtr((T - mu) / Math.sqrt(v));
      const err = -(hi + Math.log1p(-Math.exp(lo - hi)));
      if (err > 1e-300 && err < 0.1 && Number.isFinite(Math.log(err))) pts.push([T, err]);
    }
    // Least squares of log(err) on T² over the points with err < 1e−3 (the asymptotic range).
    const fitPts = pts.filter(([, e]) => e < 1e-3);
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const [T, e] of fitPts) {
      const x = T * T, y = Math.log(e);
      sx += x; sy += y; sxx += x * x; sxy += x * y;
    }
    const k = fitPts.length;
    const slope = (k * sxy - sx * sy) / (k * sxx - sx * sx);
    rows.push([`n = ${n}, s = ${s}, σ = ${sigma}`, c.toFixed(3), (-slope).toFixed(3), pts.map(([T, e]) => `${T}: ${e.toExponential(1)}`).filter((_, i) => i % 2 === 0).join(', ')]);
    data.push({ n, s, sigma, predictedRate: c, fittedRate: -slope, errors: pts });
  }
  return { rows, data };
}

// Objective + gradient for 100 groups × 50 observations at rtol 1e−8.
function targets() {
  const rows: (string | number)[][] = [];
  const data: unknown[] = [];
  const G = 100, n = 50;
  const cases: [string, Family, GradientMethod | 'gh25', Backend][] = [
    ['gaussian/identity', family('gaussian'), 'folded', simd],
    ['poisson/log', family('poisson'), 'folded', simd],
    ['bernoulli/logit', family('bernoulli'), 'folded', simd],
    ['bernoulli/logit', family('bernoulli'), 'adjoint', simd],
    ['bernoulli/logit', family('bernoulli'), 'discrete', simd],
    ['bernoulli/logit', family('bernoulli'), 'folded', tsb],
    ['bernoulli/logit', family('bernoulli'), 'gh25', simd],
  ];
  // Each case's call, then five rounds that time every case in turn (round-robin, so a slow
  // spell of the shared machine falls on all of them), and each case's median over the rounds.
  const runs = cases.map(([label, fam, method, b]) => {
    const p = simulate(fam, G, n, 7);
    const out = { rhs: 0, err: 0 };
    const call = () =>
      E.withBackend(b, () =>
        E.tidy(() => {
          const f = E.tensor(p.f), s = E.tensor(p.s), phi = fam.hasDispersion ? E.tensor([p.phi], []) : null;
          f.requiresGrad = s.requiresGrad = true;
          let L: E.Tensor;
          if (method === 'gh25') {
            const gcol = E.tensor(Float64Array.from(p.data.groupOf, (i) => p.s[i]), [p.data.nobs, 1]);
            gcol.requiresGrad = true;
            L = logMarginalQuadrature(f, gcol, phi, p.data, { K: 25 });
            E.grad(E.sum(L), [f, gcol]);
          } else {
            const r = logMarginal(f, s, phi, p.data, { rtol: 1e-8, gradient: method });
            L = r.L;
            out.rhs = r.stats.rhs.reduce((a, c) => a + c, 0) / G;
            E.grad(E.sum(L), [f, s]);
          }
          out.err = relErr(L.toArray(), p.ref);
        }),
      );
    return { label, method, b, call, out, times: [] as number[] };
  });
  for (let round = 0; round < 5; round++) for (const r of runs) r.times.push(timePerCall(r.call));
  for (const { label, method, b, out, times } of runs) {
    const ms = median(times);
    const method_ = method === 'gh25' ? 'adaptive GH, 25 nodes' : `ODE, ${method} gradient`;
    rows.push([label, method_, b.name, ms.toFixed(2), method === 'gh25' ? '25 (+ Newton)' : out.rhs.toFixed(0), out.err.toExponential(1)]);
    data.push({ family: label, method: method_, backend: b.name, ms, rhsPerGroup: out.rhs, maxRelError: out.err });
  }
  return { rows, data };
}

// The issue's own calibration of the targets: "a hand-written SIMD softplus runs ≈4 ns per
// element here against ≈16 ns for Math". The same two, measured in this run: our lane-wise
// e^{−|x|} then log1p (kernels/assembly/vmath.ts, the logit's softplus) and V8's Math in a
// plain loop, per element over 10⁴ values of x ∈ [−30, 0]. Their ratio to the quoted figures
// says how this machine compares with the one the targets were set on.
function calibration() {
  const n = 10_000;
  const h = simd.heap;
  const x = h.alloc(n * 8), e = h.alloc(n * 8), out = h.alloc(n * 8);
  const xs = Float64Array.from({ length: n }, (_, i) => -30 * (i / n));
  h.f64.set(xs, x >>> 3);
  const js = new Float64Array(n);
  const lanes = () => {
    simd.k.vexpneg_f64(n, x, e);
    simd.k.vlog1p_f64(n, e, out);
  };
  const math = () => {
    for (let i = 0; i < n; i++) {
      const v = xs[i];
      js[i] = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
    }
  };
  const simdNs: number[] = [], mathNs: number[] = [];
  for (let round = 0; round < 5; round++) {
    simdNs.push((timePerCall(lanes) * 1e6) / n);
    mathNs.push((timePerCall(math) * 1e6) / n);
  }
  for (const p of [out, e, x]) h.free(p);
  const lanesNs = median(simdNs), mathNs_ = median(mathNs);
  return { simdSoftplusNs: lanesNs, mathSoftplusNs: mathNs_, factorSimd: lanesNs / 4, factorMath: mathNs_ / 16 };
}

export async function runMarginal(): Promise<Section> {
  const problems: Problem[] = [];
  for (const fam of [family('gaussian'), family('bernoulli'), family('poisson')]) {
    for (const n of [10, 100, 10_000]) problems.push(simulate(fam, n === 10_000 ? 1 : 5, n, 11));
  }
  const frontierData: Record<string, FrontierPoint[]> = {};
  const parts: string[] = [];
  for (const p of problems) {
    process.stdout.write(`  marginal › frontier ${p.label}\n`);
    const pts = frontier(p);
    frontierData[p.label] = pts;
    parts.push(`**${p.label}** (${p.data.ngroups} groups)\n\n` + table(
      ['method', 'setting', 'max rel. error', 'ℓ evaluations per group', 'ms per group'],
      pts.map((q) => [q.method, q.setting, q.error.toExponential(1), q.evalsPerGroup.toFixed(0), q.msPerGroup.toFixed(3)]),
    ));
  }
  // Which method wins: for each problem and accuracy, the fewest ℓ evaluations reaching it.
  const levels = [1e-6, 1e-8, 1e-10, 1e-12];
  const winners = Object.entries(frontierData).map(([label, pts]) => [
    label,
    ...levels.map((acc) => {
      const ok = pts.filter((q) => q.error <= acc);
      if (ok.length === 0) return 'none';
      const best = ok.reduce((a, b) => (b.evalsPerGroup < a.evalsPerGroup ? b : a));
      const ode = ok.filter((q) => q.method.startsWith('ODE')).reduce<FrontierPoint | null>((a, b) => (!a || b.evalsPerGroup < a.evalsPerGroup ? b : a), null);
      return `${best.method.replace(/ \((WASM|TS)\)/, '')}, ${best.setting} (${best.evalsPerGroup.toFixed(0)})` + (ode && ode !== best ? `; ODE ${ode.evalsPerGroup.toFixed(0)}` : '');
    }),
  ]);
  process.stdout.write('  marginal › truncation\n');
  const tr = truncation();
  process.stdout.write('  marginal › targets\n');
  const tg = targets();
  const cal = calibration();
  const scale = Math.min(cal.factorSimd, cal.factorMath);
  const markdown = [
    '### Objective + gradient, 100 groups × 50 observations, rtol 1e−8',
    '',
    'Targets: Gaussian and Poisson-log under 1 ms (O(1) right-hand side from sufficient',
    'statistics), Bernoulli-logit by ODE under 15 ms (≤ 500 ℓ evaluations per group), by',
    'adaptive GH-25 under 2 ms. "rhs" counts ℓ(t) evaluations of the ODE solves per group.',
    '"ms": the median of five rounds that time every case in turn (each round a median of',
    'calls over ≥ 150 ms); single rounds on this shared machine move by ±30 %.',
    '',
    table(['family', 'method', 'backend', 'ms', 'rhs per group', 'max rel. error of L'], tg.rows),
    '',
    `Calibration, same run: the SIMD softplus (lane-wise e^{−|x|} and log1p) takes ${cal.simdSoftplusNs.toFixed(1)} ns per`,
    `element and V8's Math ${cal.mathSoftplusNs.toFixed(1)} ns, against the ≈4 and ≈16 ns the issue quotes for the machine`,
    `its targets were set on: this machine is ${cal.factorSimd.toFixed(1)}× (SIMD) and ${cal.factorMath.toFixed(1)}× (Math) slower. Scaled by the`,
    `smaller factor the targets read Gaussian and Poisson under ${scale.toFixed(1)} ms, Bernoulli by ODE under`,
    `${(15 * scale).toFixed(0)} ms, by GH-25 under ${(2 * scale).toFixed(1)} ms.`,
    '',
    '### Which method wins',
    '',
    'The cheapest method (fewest ℓ evaluations per group) whose largest error is within each',
    'accuracy, with the ODE\'s own count beside it when it is not the cheapest. Adaptive',
    'Gauss–Hermite wins wherever the posterior is close to Gaussian — that is, in every case',
    'here — because its nodes sit where the mass is; a fixed grid needs hundreds of points',
    'and fails on sharp posteriors (Poisson, n = 10⁴); the ODE costs more evaluations at every',
    'accuracy but needs no rule order chosen in advance: its error control finds the mass and',
    'reports its accuracy, and it keeps working on skewed posteriors where a GH rule of fixed',
    'size falls short (test/ngmm/quadrature.test.ts shows one).',
    '',
    table(['problem', ...levels.map((a) => `error ≤ ${a.toExponential(0)}`)], winners),
    '',
    '### Accuracy against cost',
    '',
    'Error is the largest |L − L_ref|/max(1, |L_ref|) over the groups (L_ref: closed form for',
    'the Gaussian, Gauss–Kronrod at 1e−13 otherwise). Evaluations of ℓ(t) are the fair cost',
    'measure; times are as measured but not like for like (the ODE runs in WASM, the grid and GH',
    'rules in TypeScript).',
    '',
    ...parts.flatMap((x) => [x, '']),
    '### Truncation error against T (the paper\'s Figure 2)',
    '',
    'L − L^{[−T,T]} for Gaussian groups, exactly (posterior N(μ, v), μ = 0.3). Theorem 3 predicts',
    'log error ≈ −c·T² with c = (1 + n s²/σ²)/2; the fitted c is the least-squares slope of',
    'log error on T² over the points below 1e−3.',
    '',
    table(['group', 'predicted c', 'fitted c', 'error at T = 1, 2, 3, …'], tr.rows),
  ].join('\n');
  return { name: 'marginal', title: 'The marginal likelihood: ODE, grids and quadrature', markdown, data: { frontier: frontierData, truncation: tr.data, targets: tg.data, calibration: cal } };
}
