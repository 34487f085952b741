// Test oracle: log ∫_a^b exp(logf(t)) dt (and posterior moments) by globally adaptive
// Gauss–Kronrod G7/K15 quadrature, in the log domain.
//
// This exists to check the ODE-based marginal integrator, so it shares nothing with it and
// favours reliability over speed. Design (Piessens, de Doncker-Kapenga, Überhuber & Kahaner,
// "QUADPACK", Springer 1983, routines QK15/QAGS):
//
// * Log domain. logf may be ±1e4, so the integrand is evaluated as exp(logf(t) − M) with a
//   shift M ≈ max logf, and the answer returned as M + log(Σ). M starts as the maximum found
//   by the mode search below; if a panel later finds logf (plus the log-Jacobian of the
//   infinite-range map) more than RESCALE above M, every stored panel is rescaled by
//   exp(M_old − M_new) (a factor ≤ 1, so nothing overflows).
//
// * Infinite ranges. The range is first split at finite breakpoints, then a half-line
//   [c, ∞) is mapped onto x ∈ [0, 1) by t = c + L·x/(1−x), dt = L/(1−x)² dx, and (−∞, c]
//   by t = c − L·x/(1−x). (−∞, ∞) with no breakpoint is split at 0. L is the length of the
//   neighbouring finite segment (1 if there is none), so the map's own scale matches the
//   local scale of the integrand and the Kronrod nodes never see a factor-1e4 stretch. The
//   x = 1 end is never evaluated (Kronrod nodes are interior). The ∫ over x is smooth when
//   logf decays at least like a power, so plain K15 handles it.
//
// * Not stepping over a narrow bump. An adaptive rule only refines where its samples see
//   something, so a bump of width 1e-4 at t = 50 inside a panel of width 100 is invisible.
//   Two defences:
//     1. Mode search: logf is sampled at the 15 Kronrod nodes of 4 panels per segment (in the
//        mapped x variable, so half-lines are covered), and the best sample is refined by
//        golden-section search on logf between its neighbours. Working on logf rather than f
//        is what makes this reliable: a Gaussian bump is a parabola in log space, visible
//        from anywhere, whereas exp(logf) underflows to 0 a few widths away.
//     2. Hints: the found mode and every caller breakpoint are treated as centres of a
//        feature. On each side, the half-width w where logf drops by ½ (σ for a Gaussian) is
//        found by doubling/halving, and breakpoints are added at h ± w·{1, 4, 16, 64}. The
//        initial mesh therefore resolves the bump at every scale from w to 64w; adaptivity
//        does the rest.
//   The mode search finds one (the highest) local mode. For multimodal integrands the caller
//   MUST pass every mode (or a point near it) in opts.breakpoints — an adaptive quadrature
//   cannot discover a feature none of its samples touch.
//
// * Error estimate and strategy: QUADPACK's QK15 estimate, err = resasc·min(1, (200|K15 −
//   G7|/resasc)^{3/2}), floored at 50·ε·∫|f| (the rounding level), and QAG's global strategy:
//   always bisect the panel with the largest (relative) error estimate, until the summed
//   estimate is below tol times the total. Panels at maxDepth bisections are frozen.
//
// * Node rounding. logf only ever sees doubles: near t = 50 they are 7e-15 apart, which for a
//   bump of width 1e-4 moves each node by ~1e-10 of the bump's scale and would cap the
//   accuracy at ~1e-12 however fine the mesh. On finite segments the ideal node is formed in
//   double-double (TwoSum/TwoProd), logf is sampled at its rounding t̃, and the first-order
//   term Σ w·y'(t̃)·(t − t̃) is added back, with y' from differentiating the panel's degree-14
//   interpolant. (The half-line maps are not corrected: features live in the finite segments
//   the hints create, and the tails are smooth on the scale of their own rounding.)
//
// * Moments. integrateLogMoments integrates f·g_k on the same mesh (same samples). A panel's
//   priority is the largest of its error ratios over all quantities, and the loop stops when
//   every quantity meets its tolerance. For the normaliser Z the tolerance is tol·Z; for
//   ∫ f·g_k it is tol·∫ f·|g_k|, i.e. the moment E[g_k] is required to within
//   ≈ 2·tol·E[|g_k|] (the second tol from dividing by Z). E|g| ≥ |E g| is the natural scale:
//   it is relative accuracy for moments that do not cancel, and for moments that cancel (E[t]
//   of a centred density is 0) it is accuracy relative to the spread of g, which is the best
//   that any quadrature of a cancelling sum can promise.

// QUADPACK qk15 table: Kronrod abscissae (xgk[1], xgk[3], xgk[5], xgk[7] = 0 are the 7-point
// Gauss–Legendre nodes), Kronrod weights, and Gauss weights for the 7-point rule.
const XGK: readonly number[] = [
  0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
  0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
  0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
  0.207784955007898467600689403773245, 0.0,
];
const WGK: readonly number[] = [
  0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
  0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
  0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
  0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
];
const WG: readonly number[] = [
  0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
  0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
];

/** The Kronrod/Gauss table, exported so the tests can check its exactness. */
export const GK15 = { xgk: XGK, wgk: WGK, wg: WG } as const;

const EPS = 2.220446049250313e-16;
const RESCALE = 30; // let values reach e^30 above the shift before rescaling
const GOLDEN = 0.6180339887498949;

export interface IntegrateOptions {
  /** Relative tolerance on the total (default 1e-13). Below ~1e-14 the rounding floor wins. */
  tol?: number;
  /** Maximum number of bisections of an initial panel (default 60). */
  maxDepth?: number;
  /** Give up after this many logf evaluations (default 2e6); check `error`. */
  maxEvals?: number;
  /**
   * Points to split the range at. Pass the mode(s) of the integrand: each breakpoint is
   * also treated as the centre of a feature and the mesh is refined geometrically around
   * it. Required for multimodal integrands (only the highest mode is found automatically).
   */
  breakpoints?: number[];
}

export interface IntegrateResult {
  /** log ∫ exp(logf). */
  logValue: number;
  /** Estimated relative error of ∫ exp(logf) (≈ absolute error of logValue). */
  error: number;
  /** Number of logf evaluations, mode search included. */
  evals: number;
}

export interface MomentsResult {
  logZ: number;
  /** moments[k] = ∫ exp(logf)·fs[k] / ∫ exp(logf). */
  moments: number[];
  /** Estimated relative error of Z. */
  error: number;
  /** Estimated error of each moment (≈ its share of the tolerance, see header). */
  momentErrors: number[];
  evals: number;
}

export function integrateLog(
  logf: (t: number) => number,
  a: number,
  b: number,
  opts: IntegrateOptions = {},
): IntegrateResult {
  const r = integrate(logf, a, b, [], opts);
  return { logValue: r.logZ, error: r.error, evals: r.evals };
}

export function integrateLogMoments(
  logf: (t: number) => number,
  a: number,
  b: number,
  fs: ((t: number) => number)[],
  opts: IntegrateOptions = {},
): MomentsResult {
  return integrate(logf, a, b, fs, opts);
}

// A segment of the split range and its map x ↦ t. kind 0: t = x on [lo, hi];
// kind +1: [c, ∞), t = c + L·x/(1−x), x ∈ [0, 1); kind −1: (−∞, c], t = c − L·x/(1−x).
interface Segment {
  kind: -1 | 0 | 1;
  lo: number; // x range
  hi: number;
  c: number;
  L: number;
  logL: number;
}

function makeSegment(p: number, q: number, L: number): Segment {
  if (p === -Infinity) return { kind: -1, lo: 0, hi: 1, c: q, L, logL: Math.log(L) };
  if (q === Infinity) return { kind: 1, lo: 0, hi: 1, c: p, L, logL: Math.log(L) };
  return { kind: 0, lo: p, hi: q, c: 0, L: 1, logL: 0 };
}

function tOf(s: Segment, x: number): number {
  if (s.kind === 0) return x;
  if (x >= 1) return s.kind * Infinity;
  return s.c + s.kind * s.L * (x / (1 - x));
}

function logJac(s: Segment, x: number): number {
  return s.kind === 0 ? 0 : s.logL - 2 * Math.log1p(-x);
}

interface Panel {
  seg: number;
  xl: number;
  xr: number;
  depth: number;
  res: Float64Array;
  err: Float64Array;
  abs: Float64Array;
  prio: number;
}

// Binary max-heap on Panel.prio (QAG keeps its panels ordered by error the same way).
class Heap {
  readonly items: Panel[] = [];
  get size(): number {
    return this.items.length;
  }
  push(p: Panel): void {
    const h = this.items;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const j = (i - 1) >> 1;
      if (h[j]!.prio >= h[i]!.prio) break;
      [h[i], h[j]] = [h[j]!, h[i]!];
      i = j;
    }
  }
  pop(): Panel {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.prio > h[m]!.prio) m = l;
        if (r < h.length && h[r]!.prio > h[m]!.prio) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function integrate(
  logf: (t: number) => number,
  a: number,
  b: number,
  fs: ((t: number) => number)[],
  opts: IntegrateOptions,
): MomentsResult {
  const tol = opts.tol ?? 1e-13;
  const maxDepth = opts.maxDepth ?? 60;
  const maxEvals = opts.maxEvals ?? 2e6;
  const nq = 1 + fs.length;
  if (Number.isNaN(a) || Number.isNaN(b) || a > b) throw new Error(`integrateLog: need a ≤ b, got [${a}, ${b}]`);
  if (a === b) return { logZ: -Infinity, moments: fs.map(() => NaN), error: 0, momentErrors: fs.map(() => 0), evals: 0 };
  if (!(tol > 0)) throw new Error(`integrateLog: tol must be > 0, got ${tol}`);

  let evals = 0;
  const lf = (t: number): number => {
    evals++;
    const v = logf(t);
    if (Number.isNaN(v)) throw new Error(`integrateLog: logf(${t}) is NaN`);
    return v;
  };

  const userBps = [...new Set((opts.breakpoints ?? []).filter((p) => p > a && p < b && Number.isFinite(p)))].sort(
    (x, y) => x - y,
  );

  // ---- 1. mode search over segments split at the user's breakpoints
  const searchPts = [a, ...userBps, b];
  if (a === -Infinity && b === Infinity && userBps.length === 0) searchPts.splice(1, 0, 0);
  let bestT = NaN;
  let bestV = -Infinity;
  for (let i = 0; i + 1 < searchPts.length; i++) {
    const s = makeSegment(searchPts[i]!, searchPts[i + 1]!, 1);
    const g = (x: number): number => {
      const t = tOf(s, x);
      return Number.isFinite(t) ? lf(t) : -Infinity;
    };
    // 4 panels × 15 Kronrod nodes, ascending in x.
    const xs: number[] = [];
    const np = 4;
    const w = (s.hi - s.lo) / np;
    for (let p = 0; p < np; p++) {
      const c = s.lo + (p + 0.5) * w;
      const h = 0.5 * w;
      for (let j = 0; j < 7; j++) xs.push(c - h * XGK[j]!);
      xs.push(c);
      for (let j = 6; j >= 0; j--) xs.push(c + h * XGK[j]!);
    }
    const vs = xs.map(g);
    let ib = 0;
    for (let j = 1; j < vs.length; j++) if (vs[j]! > vs[ib]!) ib = j;
    if (!(vs[ib]! > -Infinity)) continue;
    // Golden-section maximisation of logf between the best sample's neighbours. It finds the
    // peak if logf is unimodal on that bracket; otherwise it still returns the best point seen,
    // which only costs the hints below some precision.
    let l = ib > 0 ? xs[ib - 1]! : s.lo;
    let r = ib + 1 < xs.length ? xs[ib + 1]! : s.hi;
    let bx = xs[ib]!;
    let bv = vs[ib]!;
    let x1 = r - GOLDEN * (r - l);
    let x2 = l + GOLDEN * (r - l);
    let f1 = g(x1);
    let f2 = g(x2);
    for (let it = 0; it < 200 && x1 < x2; it++) {
      if (f1 > bv) (bx = x1), (bv = f1);
      if (f2 > bv) (bx = x2), (bv = f2);
      if (f1 >= f2) {
        r = x2;
        x2 = x1;
        f2 = f1;
        x1 = r - GOLDEN * (r - l);
        f1 = g(x1);
      } else {
        l = x1;
        x1 = x2;
        f1 = f2;
        x2 = l + GOLDEN * (r - l);
        f2 = g(x2);
      }
    }
    if (f1 > bv) (bx = x1), (bv = f1);
    if (f2 > bv) (bx = x2), (bv = f2);
    if (bv > bestV) {
      bestV = bv;
      bestT = tOf(s, bx);
    }
  }

  // ---- 2. geometric breakpoints around each hint (found mode + user breakpoints)
  const bps = new Set<number>(userBps);
  const hints: [number, number][] = [];
  if (bestV > -Infinity && bestT > a && bestT < b) {
    bps.add(bestT);
    hints.push([bestT, bestV]);
  } else if (bestV > -Infinity) {
    hints.push([bestT, bestV]); // mode at an end point: still refine towards it
  }
  for (const h of userBps) {
    const v = lf(h);
    if (v > -Infinity) hints.push([h, v]);
  }
  for (const [h, fh] of hints) {
    for (const dir of [-1, 1] as const) {
      const limit = dir > 0 ? b - h : h - a;
      const w = halfWidth(lf, h, fh, dir, limit);
      if (w === null) continue;
      for (let j = 0, m = 1; j < 4; j++, m *= 4) {
        const p = h + dir * w * m;
        if (p > a && p < b) bps.add(p);
      }
    }
  }
  if (a === -Infinity && b === Infinity && bps.size === 0) bps.add(0);
  const pts = [a, ...[...bps].sort((x, y) => x - y), b];
  const segs: Segment[] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const p = pts[i]!;
    const q = pts[i + 1]!;
    let L = 1;
    if (p === -Infinity && i + 2 < pts.length && Number.isFinite(pts[i + 2]!)) L = pts[i + 2]! - q;
    if (q === Infinity && i > 0 && Number.isFinite(pts[i - 1]!)) L = p - pts[i - 1]!;
    if (!(L > 0 && Number.isFinite(L))) L = 1;
    segs.push(makeSegment(p, q, L));
  }

  // ---- 3. global adaptive G7/K15
  let M = bestV > -Infinity ? bestV : -Infinity;
  const heap = new Heap();
  const frozen: Panel[] = [];
  const pending: Panel[] = [];
  const resSum = new Float64Array(nq);
  const absSum = new Float64Array(nq);
  const errSum = new Float64Array(nq);
  const lv = new Float64Array(15);
  const ts = new Float64Array(15);
  const fv = new Float64Array(15);
  const delta = new Float64Array(15);

  const rescaleAll = (newM: number): void => {
    const k = Math.exp(M - newM);
    for (const p of [...heap.items, ...frozen, ...pending]) {
      for (let q = 0; q < nq; q++) {
        p.res[q]! *= k;
        p.err[q]! *= k;
        p.abs[q]! *= k;
      }
    }
    for (let q = 0; q < nq; q++) {
      resSum[q]! *= k;
      absSum[q]! *= k;
      errSum[q]! *= k;
    }
    M = newM;
  };

  const scaleOf = (q: number): number => Math.max(absSum[q]!, 1e-300);

  const evalPanel = (seg: number, xl: number, xr: number, depth: number): Panel => {
    const s = segs[seg]!;
    const h = 0.5 * (xr - xl);
    // Finite segments: the nodes are rounded to doubles before logf sees them; delta[i] is the
    // exact offset (ideal − rounded), corrected for below.
    const exact = s.kind === 0 ? nodesWithRounding(xl, xr, ts, delta) : false;
    let mx = -Infinity;
    for (let i = 0; i < 15; i++) {
      let v: number;
      if (exact) v = lf(ts[i]!);
      else {
        const x = c15(xl, xr, i);
        const t = tOf(s, x);
        ts[i] = t;
        v = Number.isFinite(t) ? lf(t) + logJac(s, x) : -Infinity;
      }
      lv[i] = v;
      if (v > mx) mx = v;
    }
    if (mx === Infinity) throw new Error('integrateLog: logf is +Infinity inside the range');
    if (mx > -Infinity && (M === -Infinity || mx > M + RESCALE)) rescaleAll(mx);
    for (let i = 0; i < 15; i++) fv[i] = lv[i]! === -Infinity ? 0 : Math.exp(lv[i]! - M);
    const res = new Float64Array(nq);
    const err = new Float64Array(nq);
    const abs = new Float64Array(nq);
    const y = new Float64Array(15);
    for (let q = 0; q < nq; q++) {
      if (q === 0) y.set(fv);
      else {
        const g = fs[q - 1]!;
        for (let i = 0; i < 15; i++) y[i] = fv[i] === 0 ? 0 : fv[i]! * g(ts[i]!);
      }
      const fc = y[7]!;
      let resk = WGK[7]! * fc;
      let resg = WG[3]! * fc;
      let resabs = Math.abs(resk);
      for (let j = 0; j < 7; j++) {
        const f1 = y[j]!;
        const f2 = y[8 + j]!;
        resk += WGK[j]! * (f1 + f2);
        resabs += WGK[j]! * (Math.abs(f1) + Math.abs(f2));
        if (j & 1) resg += WG[(j - 1) >> 1]! * (f1 + f2);
      }
      const mean = 0.5 * resk;
      let resasc = WGK[7]! * Math.abs(fc - mean);
      for (let j = 0; j < 7; j++) resasc += WGK[j]! * (Math.abs(y[j]! - mean) + Math.abs(y[8 + j]! - mean));
      const ah = Math.abs(h);
      resk *= h;
      resg *= h;
      resabs *= ah;
      resasc *= ah;
      if (exact) {
        // First-order node-rounding correction: Σ w·y(t_ideal) ≈ Σ w·[y(t̃) + y'(t̃)·δ], with
        // y' = (1/h)·(D y) from the degree-14 interpolant (D = differentiation matrix on the
        // 15 nodes of [−1, 1]), so the h cancels. δ/h is ~1e-11 at worst (a 1e-4-wide bump at
        // t = 50, where doubles are 7e-15 apart); without this the rule's result would carry
        // that relative error however fine the mesh.
        let ck = 0;
        let cg = 0;
        for (let i = 0; i < 15; i++) {
          const di = delta[i]!;
          if (di === 0) continue;
          let dy = 0;
          const row = i * 15;
          for (let j = 0; j < 15; j++) dy += DIFF[row + j]! * y[j]!;
          ck += WK_BY_NODE[i]! * dy * di;
          cg += WG_BY_NODE[i]! * dy * di;
        }
        resk += ck;
        resg += cg;
      }
      let e = Math.abs(resk - resg);
      if (resasc !== 0 && e !== 0) e = resasc * Math.min(1, Math.pow((200 * e) / resasc, 1.5));
      e = Math.max(e, 50 * EPS * resabs);
      if (!Number.isFinite(resk) || !Number.isFinite(e)) throw new Error('integrateLog: non-finite panel value (fs overflow?)');
      res[q] = resk;
      err[q] = e;
      abs[q] = resabs;
    }
    return { seg, xl, xr, depth, res, err, abs, prio: 0 };
  };

  const priority = (p: Panel): number => {
    let m = 0;
    for (let q = 0; q < nq; q++) m = Math.max(m, p.err[q]! / scaleOf(q));
    return m;
  };
  const add = (p: Panel, sign: 1 | -1): void => {
    for (let q = 0; q < nq; q++) {
      resSum[q]! += sign * p.res[q]!;
      absSum[q]! += sign * p.abs[q]!;
      errSum[q]! += sign * p.err[q]!;
    }
  };
  const converged = (): boolean => {
    for (let q = 0; q < nq; q++) if (!(errSum[q]! <= tol * absSum[q]!)) return false;
    return true;
  };
  // Exact re-summation (Neumaier) to remove the drift of the running sums.
  const resum = (): void => {
    const all = [...heap.items, ...frozen];
    for (let q = 0; q < nq; q++) {
      for (const [arr, key] of [
        [resSum, 'res'],
        [absSum, 'abs'],
        [errSum, 'err'],
      ] as const) {
        let s = 0;
        let comp = 0;
        for (const p of all) {
          const v = p[key][q]!;
          const t = s + v;
          comp += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
          s = t;
        }
        arr[q] = s + comp;
      }
    }
  };

  for (let i = 0; i < segs.length; i++) pending.push(evalPanel(i, segs[i]!.lo, segs[i]!.hi, 0));
  const initial = pending.splice(0);
  for (const p of initial) add(p, 1);
  for (const p of initial) {
    p.prio = priority(p);
    heap.push(p);
  }
  for (;;) {
    if (converged()) {
      resum();
      if (converged()) break;
    }
    if (heap.size === 0 || evals >= maxEvals) break;
    const p = heap.pop();
    if (p.depth >= maxDepth) {
      frozen.push(p);
      continue;
    }
    const xm = 0.5 * (p.xl + p.xr);
    // p and c1 are in neither heap nor frozen while the children are evaluated, so they are
    // listed in `pending` for rescaleAll to see.
    pending.push(p);
    const c1 = evalPanel(p.seg, p.xl, xm, p.depth + 1);
    pending.push(c1);
    const c2 = evalPanel(p.seg, xm, p.xr, p.depth + 1);
    pending.length = 0;
    add(p, -1);
    add(c1, 1);
    add(c2, 1);
    c1.prio = priority(c1);
    c2.prio = priority(c2);
    heap.push(c1);
    heap.push(c2);
  }
  resum();

  const Z = resSum[0]!;
  const logZ = Z > 0 ? M + Math.log(Z) : -Infinity;
  const moments: number[] = [];
  const momentErrors: number[] = [];
  for (let k = 0; k < fs.length; k++) {
    moments.push(resSum[k + 1]! / Z);
    momentErrors.push((errSum[k + 1]! + Math.abs(resSum[k + 1]!) * (errSum[0]! / Z)) / Z);
  }
  return { logZ, moments, error: Z > 0 ? errSum[0]! / Z : 0, momentErrors, evals };
}

// Node i of the K15 rule on [xl, xr], in the order 0..6 = c − h·xgk[j], 7 = c,
// 8..14 = c + h·xgk[j − 8].
function nodeS(i: number): number {
  return i < 7 ? -XGK[i]! : i === 7 ? 0 : XGK[i - 8]!;
}
function c15(xl: number, xr: number, i: number): number {
  return 0.5 * (xl + xr) + 0.5 * (xr - xl) * nodeS(i);
}

// Kronrod and Gauss weights indexed by node (Gauss weight 0 at the Kronrod-only nodes).
const WK_BY_NODE = Float64Array.from({ length: 15 }, (_, i) => WGK[i < 7 ? i : i === 7 ? 7 : i - 8]!);
const WG_BY_NODE = Float64Array.from({ length: 15 }, (_, i) => {
  const j = i < 7 ? i : i === 7 ? 7 : i - 8;
  return j === 7 ? WG[3]! : j & 1 ? WG[(j - 1) >> 1]! : 0;
});

// Differentiation matrix of the polynomial interpolant at the 15 nodes of [−1, 1], from
// barycentric weights (Berrut & Trefethen, SIAM Review 46, 2004, eq. 9.4):
// D_ij = (λ_j/λ_i)/(s_i − s_j), D_ii = −Σ_{j≠i} D_ij.
const DIFF: Float64Array = (() => {
  const n = 15;
  const sv = Array.from({ length: n }, (_, i) => nodeS(i));
  const lam = sv.map((si, i) => {
    let p = 1;
    for (let k = 0; k < n; k++) if (k !== i) p *= si - sv[k]!;
    return 1 / p;
  });
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let diag = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const v = lam[j]! / lam[i]! / (sv[i]! - sv[j]!);
      d[i * n + j] = v;
      diag -= v;
    }
    d[i * n + i] = diag;
  }
  return d;
})();

// Error-free transformations (Knuth's TwoSum; Dekker's product with Veltkamp splitting).
function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}
function split(a: number): [number, number] {
  const c = 134217729 * a; // 2^27 + 1
  const hi = c - (c - a);
  return [hi, a - hi];
}
function twoProd(a: number, b: number): [number, number] {
  const p = a * b;
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

// Rounded nodes t̃_i of the K15 rule on [xl, xr] (written to ts) and δ_i = t_i − t̃_i, where
// t_i = (xl + xr)/2 + (xr − xl)/2 · s_i is evaluated in double-double. Returns false (caller
// falls back to plain evaluation) if the splitting would overflow.
function nodesWithRounding(xl: number, xr: number, ts: Float64Array, delta: Float64Array): boolean {
  if (!(Math.abs(xl) < 1e290 && Math.abs(xr) < 1e290)) return false;
  const [S, eS] = twoSum(xl, xr);
  const [D, eD] = twoSum(xr, -xl);
  const cHi = 0.5 * S;
  const cLo = 0.5 * eS;
  const hHi = 0.5 * D;
  const hLo = 0.5 * eD;
  for (let i = 0; i < 15; i++) {
    const si = nodeS(i);
    const [p, pe] = twoProd(hHi, si);
    const [t, e1] = twoSum(cHi, p);
    ts[i] = t;
    delta[i] = e1 + (cLo + pe + hLo * si);
  }
  return true;
}

// Distance d from h (in direction dir) at which logf has dropped by ½ below logf(h), to
// within a factor 2; null if it never drops that much inside the range.
function halfWidth(
  lf: (t: number) => number,
  h: number,
  fh: number,
  dir: -1 | 1,
  limit: number,
): number | null {
  if (!(limit > 0)) return null;
  const scale = Math.max(1, Math.abs(h));
  let d = Math.min(1e-2 * scale, 0.5 * limit);
  const drop = (x: number): number => fh - lf(h + dir * x);
  if (drop(d) > 0.5) {
    const floor = Math.max(4 * EPS * Math.abs(h), 1e-300);
    for (let it = 0; it < 2000 && d > floor; it++) {
      d *= 0.5;
      if (drop(d) <= 0.5) break;
    }
    return d;
  }
  for (let it = 0; it < 2000; it++) {
    d *= 2;
    if (d >= limit || !Number.isFinite(h + dir * d)) return null;
    if (drop(d) >= 0.5) return d;
  }
  return null;
}
