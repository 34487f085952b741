// logMarginal: each group's log marginal likelihood L_i = log ∫ e^{ℓ_i(t)} dt as one tape
// primitive (docs/marginal.md §3–6). Forward runs the batched ODE kernel, which also returns the
// gradients ∂L_i/∂f_j, ∂L_i/∂s_i, ∂L_i/∂ϕ (posterior expectations, by the chosen method);
// the VJP only scales them by the upstream gradient. The solver's steps never enter the tape.
import { OPT_COUNT, STAT_COUNT, RECORD_SIZE } from '../../kernels/reference/marginal/kernel';
import { BINOMIAL_LOGIT } from '../../kernels/reference/marginal/obs';
import { apply } from '../../engine/tape';
import { Tensor, type Primitive } from '../../engine/tensor';
import { gatherRows, mul, reshape, sum } from '../../engine/ops/index';
import { upload, type GroupedResponse } from './groups';

export type GradientMethod = 'folded' | 'adjoint' | 'discrete';

export interface OdeOptions {
  /** Relative accuracy asked of each group's marginal likelihood e^{L_i}. Default 1e−8. */
  rtol?: number;
  /** Absolute floor of the error control on u = log of the running integral. Default rtol/100. */
  atol?: number;
  /**
   * Half-width of the interval around each mode, in posterior SDs (extended until ℓ has fallen
   * T²/2 below its peak), or in t for centre 'prior'. Default √(2·ln(100/rtol)) within [5, 8]:
   * the mass beyond, e^{−T²/2} relative, is then a hundredth of the tolerance before the
   * Mills-ratio tail estimates even account for it (6.8 at rtol 1e−8, 8 at 1e−12).
   */
  T?: number;
  /** Baseline u(a) (relative to the shift m) instead of the Mills-ratio tail start. */
  c0?: number;
  /** Hard cap on steps per group; reaching it is an error that names the group. */
  maxSteps?: number;
  /** How gradients are computed (all agree; 'folded' is the cheapest). */
  gradient?: GradientMethod;
  /** 'mode' (default): t̂ ± T·σ̂ with tails. 'prior': the fixed interval [−T, T] with baseline c0. */
  centre?: 'mode' | 'prior';
}

export interface SolverStats {
  steps: Float64Array;
  rejected: Float64Array;
  rhs: Float64Array;
  evals: Float64Array;
  gradEvals: Float64Array;
  mode: Float64Array;
  sd: Float64Array;
}

interface Attrs {
  readonly data: GroupedResponse;
  readonly opts: Required<Omit<OdeOptions, 'c0'>> & { c0: number };
  stats?: SolverStats;
  /** ∂L_i/∂f_j [n], ∂L_i/∂s_i [G], ∂L_i/∂ϕ [G], written by the kernel; heap tensors of the scope. */
  saved?: { gf: Tensor; gs: Tensor; gphi: Tensor };
}

const GRAD_CODE: Record<GradientMethod, number> = { folded: 1, adjoint: 2, discrete: 3 };
const STATUS_TEXT = [
  'ok',
  'the ODE integrator reached its step cap',
  'the log-integrand is not finite (check the fixed-effect outputs, scale and dispersion for NaN/Inf)',
  'the integral did not exceed the baseline c0 (lower c0 or use the default tail start)',
  'the step record for the adjoint gradient ran out of room (raise maxSteps)',
];

const LogMarginal: Primitive<Attrs> = {
  name: 'logMarginal',
  forward([f, s, phi], attrs) {
    const { data, opts } = attrs;
    const b = f.backend, h = b.heap, k = b.k;
    const G = data.ngroups, n = data.nobs;
    if (f.size !== n) throw new Error(`logMarginal: ${f.size} fixed-effect outputs for ${n} observations`);
    if (s.size !== G) throw new Error(`logMarginal: ${s.size} random-effect scales for ${G} groups`);
    const phiValue = phi ? phi.item() : 1;
    if (data.family.hasDispersion && !phi) throw new Error(`logMarginal: the ${data.family.name} family needs a dispersion ϕ`);
    const wantGrad = f.requiresGrad || s.requiresGrad || (phi?.requiresGrad ?? false);
    const grad = wantGrad ? GRAD_CODE[opts.gradient] : 0;
    const u = upload(data, b);
    const out = new Tensor([G], b);
    // The kernel writes the gradients straight into tensors the VJP uses in place.
    const saved = grad ? { gf: new Tensor([n], b), gs: new Tensor([G], b), gphi: new Tensor([G], b) } : null;
    // The SIMD logit path's scratch (kernel.ts): six stage score slots and the Bernoulli exp base, each the largest group.
    let maxN = 0;
    for (let i = 0; i < G; i++) maxN = Math.max(maxN, data.offsets[i + 1] - data.offsets[i]);
    const cached = data.family.code === BINOMIAL_LOGIT && b.name !== 'ts';
    const scratch = [
      h.alloc(OPT_COUNT * 8), h.alloc(G * STAT_COUNT * 8), grad >= 2 ? h.alloc(opts.maxSteps * RECORD_SIZE * 8) : 0,
      cached ? h.alloc(7 * Math.max(1, maxN) * 8) : 0,
    ];
    const [po, stats, work, cache] = scratch;
    try {
      h.f64.set([opts.rtol, opts.atol, opts.T, opts.c0, opts.maxSteps, grad, opts.centre === 'prior' ? 1 : 0], po >>> 3);
      const failed = k.marginal_f64(
        data.family.code, G, u.offsets, u.y, u.trials, f.ptr, s.ptr, phiValue, u.cst, po,
        out.ptr, saved?.gf.ptr ?? 0, saved?.gs.ptr ?? 0, saved?.gphi.ptr ?? 0, stats, work, grad >= 2 ? opts.maxSteps : 0, cache,
      );
      const F = h.f64;
      const st = F.subarray(stats >>> 3, (stats >>> 3) + G * STAT_COUNT);
      const col = (c: number) => {
        const v = new Float64Array(G);
        for (let i = 0; i < G; i++) v[i] = st[i * STAT_COUNT + c];
        return v;
      };
      attrs.stats = { steps: col(0), rejected: col(1), rhs: col(2), evals: col(3), gradEvals: col(4), mode: col(6), sd: col(7) };
      if (failed) {
        const i = failed - 1;
        const code = st[i * STAT_COUNT + 5];
        throw new Error(
          `logMarginal: group ${i} (of ${G}, ${data.offsets[i + 1] - data.offsets[i]} observations, scale s = ${F[(s.ptr >>> 3) + i]}): ` +
            `${STATUS_TEXT[code] ?? `status ${code}`} (rtol ${opts.rtol}, maxSteps ${opts.maxSteps})`,
        );
      }
      if (saved) attrs.saved = saved;
    } catch (e) {
      out.dispose();
      if (saved) for (const t of Object.values(saved)) t.dispose();
      throw e;
    } finally {
      for (const p of scratch) if (p) h.free(p);
    }
    return out;
  },
  // Each input's gradient is the upstream g_i times the saved ∂L_i/∂·: per observation through
  // its group's g (a row gather), per group directly, summed over groups for ϕ.
  vjp(g, _ans, [f, s, phi], attrs) {
    const sv = attrs.saved;
    if (!sv) throw new Error('logMarginal: gradients were not computed in the forward pass');
    const { groupOf, ngroups: G, nobs: n } = attrs.data;
    const gf = f.requiresGrad ? reshape(mul(reshape(gatherRows(reshape(g, [G, 1]), groupOf), [n]), sv.gf), f.shape) : null;
    const gs = s.requiresGrad ? reshape(mul(g, sv.gs), s.shape) : null;
    const gp = phi?.requiresGrad ? reshape(sum(mul(g, sv.gphi)), phi.shape) : null;
    return phi ? [gf, gs, gp] : [gf, gs];
  },
};

export interface MarginalResult {
  /** L_i per group, [G]. */
  readonly L: Tensor;
  /** Per-group solver statistics (steps, rejections, rhs evaluations, mode, posterior SD). */
  readonly stats: SolverStats;
}

// The solver's options, checked before the kernel sees them: a NaN step cap, say, would never
// stop a solve (every comparison with NaN is false).
function checkOptions(o: Attrs['opts'], c0Given: boolean): void {
  const bad = (name: string, v: unknown, want: string) => {
    throw new Error(`logMarginal: option ${name} = ${String(v)}: ${want}`);
  };
  if (!(o.rtol > 0 && o.rtol < 1)) bad('rtol', o.rtol, 'a relative tolerance in (0, 1)');
  if (!(o.atol >= 0 && Number.isFinite(o.atol))) bad('atol', o.atol, 'a finite tolerance ≥ 0');
  if (!(o.T > 0 && Number.isFinite(o.T))) bad('T', o.T, 'a finite half-width > 0');
  if (c0Given && !Number.isFinite(o.c0)) bad('c0', o.c0, 'a finite baseline (or leave it out for the tail start)');
  if (!(Number.isInteger(o.maxSteps) && o.maxSteps >= 1)) bad('maxSteps', o.maxSteps, 'a whole number of steps ≥ 1');
  if (!Object.prototype.hasOwnProperty.call(GRAD_CODE, o.gradient)) bad('gradient', o.gradient, `one of ${Object.keys(GRAD_CODE).join(', ')}`);
  if (o.centre !== 'mode' && o.centre !== 'prior') bad('centre', o.centre, "'mode' or 'prior'");
}

/**
 * Per-group log marginal likelihoods [G] of the grouped response, given the fixed-effect
 * outputs f [n] (or [n×1]) in the response's (group-sorted) order, the random-effect scale per
 * group s [G] (s_i = ‖g(z_i)‖), and for the Gaussian family the residual SD ϕ (one element).
 */
export function logMarginal(f: Tensor, s: Tensor, phi: Tensor | null, data: GroupedResponse, o: OdeOptions = {}): MarginalResult {
  const rtol = o.rtol ?? 1e-8;
  const attrs: Attrs = {
    data,
    opts: {
      rtol,
      atol: o.atol ?? rtol * 1e-2,
      T: o.T ?? Math.min(8, Math.max(5, Math.sqrt(2 * Math.log(100 / rtol)))),
      c0: o.c0 ?? NaN,
      maxSteps: o.maxSteps ?? 100_000,
      gradient: o.gradient ?? 'folded',
      centre: o.centre ?? 'mode',
    },
  };
  checkOptions(attrs.opts, o.c0 !== undefined);
  const L = apply(LogMarginal, phi ? [f, s, phi] : [f, s], attrs);
  return { L, stats: attrs.stats! };
}
