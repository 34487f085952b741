// The linear stage of a fit: the linear part of f and the variance parameters by L-BFGS to a
// gradient-norm tolerance (all of a linear model; the start of a neural one), finished at a
// finer integration when the line search stalls on the integrator's noise, and restarted once
// from a moderate scale when a random-effect SD ends near 0.
import type { Tensor } from '../../engine/tensor';
import type { FitOptions } from '../fit';
import type { Model } from '../model';
import { minimizeObjective, type Objective } from './objective';
import { restore, snapshot } from './adam';
import { threadRunner } from '../threads/pool';
import type { PieceRunner } from '../threads/pieces';

// The unit a random-effect SD is measured in: the link scale, or σ for a Gaussian.
function scaleUnit(model: Model): number {
  return model.family.name === 'gaussian' ? model.sigma : 1;
}

/** Minimises `obj` over `params`; sets `model.info` (converged, message, iterations). */
export function linearStage(model: Model, obj: Objective, params: Tensor[], o: FitOptions, t0: number): void {
  const onIteration = (it: number, f: number) => o.onProgress?.({ phase: 'linear', epoch: it, epochs: 500, loss: f, elapsedMs: performance.now() - t0 });
  // Data over PASS_ROWS rows are minimised in parts, which threads share (the same bits on any number).
  let runner: PieceRunner | null | undefined;
  const threads = () => (runner === undefined ? (runner = threadRunner(o.threads, o.onWarning).runner) : runner);
  const run = (ob: Objective) => minimizeObjective(params, ob, { gtol: o.gtol ?? 1e-6, maxIter: 500, onIteration, signal: o.signal }, undefined, threads);
  let r = run(obj);
  const finer = obj.finer();
  if (!r.converged && r.message.startsWith('stopped: the line search') && finer) r = run(finer);
  if (!Number.isFinite(r.f)) throw new Error(`fit: the linear model's objective is not finite (${r.f}); check the data for extreme values`);
  // A random-effect SD near 0 may be a true boundary optimum or a plateau: with σ_b =
  // softplus(θ) the gradient in θ vanishes like σ_b as θ → −∞, so a step that overshoots
  // towards 0 early (while the dispersion is still far off) can strand the search there
  // (measured: Gamma on sleepstudy, logLik −943.9 at σ_b = 2e−5 against −883.6 at 0.125).
  // Restart from σ_b = 0.5 and keep whichever optimum is higher.
  if (!o.signal?.aborted && model.random.nearBoundary(scaleUnit(model))) {
    const before = snapshot(model);
    model.random.setScale(0.5 * scaleUnit(model));
    const again = run(obj);
    if (Number.isFinite(again.f) && again.f < r.f - 1e-10 * Math.abs(r.f)) r = again;
    else restore(model, before);
  }
  model.info = { converged: r.converged, message: r.message, optimizer: 'L-BFGS', epochs: r.iterations, logLik: NaN };
}
