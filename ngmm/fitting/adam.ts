// The network stage of a fit: Adam over mini-batches of units (groups; the whole data set when
// the likelihood does not split), the network at `lr` and the scale parameters at their own
// `lrScale` (a single rate left σ_b inflated by 30–94 % when early stopping fired: docs/marginal.md
// §12), early stopping on held-out units, recovery from a diverging step, and the
// L-BFGS polish (FitOptions.polish says why the linear part by default).
import * as E from '../../engine/index';
import type { FitOptions } from '../fit';
import type { Model } from '../model';
import { minimizeObjective, type Objective } from './objective';
import { batchGradient } from '../threads/pieces';
import { threadRunner } from '../threads/pool';

export function snapshot(model: Model): Float64Array[] {
  return model.parameters().map((t) => t.toArray());
}

export function restore(model: Model, s: Float64Array[]): void {
  model.parameters().forEach((t, i) => t.data.set(s[i]));
}

function finite(obj: Objective): boolean {
  try {
    return Number.isFinite(E.tidy(() => obj.value(null).item()));
  } catch {
    return false;
  }
}

/**
 * Trains every parameter from the linear fit the model holds, yielding after each epoch; sets
 * `model.info` (what ran and how it stopped). `t0` is the fit's start (progress times).
 */
export function* adamStage(model: Model, obj: Objective, o: FitOptions, t0: number): Generator<void, void, void> {
  const progress = (phase: 'polish', maxIter: number) => (it: number, f: number) =>
    o.onProgress?.({ phase, epoch: it, epochs: maxIter, loss: f, elapsedMs: performance.now() - t0 });
  const epochs = o.epochs ?? 100;
  const lr = o.lr ?? 1e-3;
  const rng = new E.Rng(o.seed ?? 0);
  const G = obj.units;
  const order = Int32Array.from({ length: G }, (_, i) => i);
  rng.shuffle(order);
  const nVal = Math.floor((o.validation ?? 0) * G);
  const val = order.slice(0, nVal);
  const train = order.slice(nVal);
  // Rows held out within the training groups (o.validationRows): the batches see the kept
  // rows, and the early-stopping criterion is the negative log predictive density of every
  // held-out row (those of whole held-out groups included) per row.
  const rowsShare = o.validationRows ?? 0;
  if (!(rowsShare >= 0 && rowsShare < 1)) throw new Error(`fit: validationRows must be a share in [0, 1), got ${o.validationRows}`);
  const holdout = rowsShare > 0 ? obj.holdOutRows?.(rowsShare, rng) : undefined;
  if (rowsShare > 0 && !holdout) throw new Error('fit: validationRows needs independent groups; a model with several random-effect terms is fitted on all rows at once');
  const trainObj = holdout ? holdout.train : obj;
  const checking = nVal > 0 || (holdout !== undefined && holdout.heldRows > 0);
  const valRows = holdout && nVal > 0 ? obj.rowsIn?.(val) ?? 0 : 0;
  const validationLoss = (): number => {
    if (!holdout || holdout.heldRows === 0) return E.tidy(() => obj.value(val).item());
    let total = holdout.conditional(train);
    if (nVal > 0) total += E.tidy(() => nVal * obj.value(val).item());
    return total / (holdout.heldRows + valRows);
  };
  // Weight decay (decoupled, AdamW) shrinks the network only: the linear part is the GLMM the
  // network corrects, and the polish refits it.
  const linearParams = model.linearParams();
  const lin = new E.Adam(linearParams, { lr });
  const net = model.net ? new E.Adam(model.net.parameters(), { lr, weightDecay: o.weightDecay ?? 0 }) : null;
  const scales = new E.Adam(model.scaleParams(), { lr: o.lrScale ?? 10 * lr });
  const batch = Math.max(1, o.batchSize ?? 16);
  // Threads split each batch into pieces of groups (ngmm/threads/pieces.ts): the same pieces on
  // any number of threads, so the numbers do not depend on it. Subsampling draws each group's
  // rows from one random stream in batch order, so it stays on this thread.
  const th = o.subsample ? { runner: null, threads: 1, why: 'subsample draws rows on the fitting thread' } : threadRunner(o.threads, o.onWarning);
  if (th.why && o.threads !== undefined && o.threads > th.threads) o.onWarning?.(`fit: training on ${th.threads} thread${th.threads === 1 ? '' : 's'}, not ${o.threads}: ${th.why}`);
  const linearFit = snapshot(model);
  let best = Infinity, bestParams = snapshot(model), sinceBest = 0, lastGood = snapshot(model);
  let epoch = 0, stopped = '', diverged = false;
  // The workers hold a replica of the training objective until it is released, also when a
  // fit ends by an exception or is abandoned between epochs.
  try {
    for (epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(train);
      let total = 0, batches = 0;
      for (let b0 = 0; b0 < train.length; b0 += batch) {
        if (o.signal?.aborted) {
          stopped = 'aborted';
          break;
        }
        const groups = train.slice(b0, b0 + batch);
        if (o.schedule === 'cosine') {
          const frac = (epoch - 1 + b0 / Math.max(1, train.length)) / epochs;
          lin.lr = lr * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * frac)));
          if (net) net.lr = lin.lr;
          scales.lr = (o.lrScale ?? 10 * lr) * (lin.lr / lr);
        }
        let loss: number, why = '';
        try {
          loss = E.tidy(() => {
            let L: number, gs: E.Tensor[];
            if (o.subsample) {
              const t = trainObj.value(groups, { k: o.subsample, rng });
              [L, gs] = [t.item(), E.grad(t, model.parameters())];
            } else ({ loss: L, grads: gs } = batchGradient(trainObj, groups, model.parameters(), th.runner));
            const nl = linearParams.length, nf = model.fixedParams().length;
            lin.step(gs.slice(0, nl));
            net?.step(gs.slice(nl, nf));
            scales.step(gs.slice(nf));
            return L;
          });
        } catch (e) {
          // The marginal kernel refuses non-finite inputs (a step that blew up the network).
          loss = NaN;
          why = `: ${(e as Error).message}`;
        }
        if (!Number.isFinite(loss) || model.parameters().some((t) => t.data.some((v) => !Number.isFinite(v)))) {
          // Stop, go back to the end of the last complete epoch (or, below, to the best
          // validation epoch when there is one), and say what to change.
          restore(model, lastGood);
          const kept = checking && best < Infinity ? 'the best validation epoch' : `epoch ${epoch - 1}`;
          stopped = `diverged at epoch ${epoch} (the objective became ${loss}${why}); the parameters of ${kept} are restored — lower the learning rate (now ${lr}) or standardise the response`;
          diverged = true;
          break;
        }
        total += loss;
        batches++;
      }
      if (stopped) break;
      lastGood = snapshot(model);
      const trainLoss = total / Math.max(1, batches);
      let valLoss: number | undefined;
      if (checking) {
        valLoss = validationLoss();
        if (valLoss < best) {
          best = valLoss;
          bestParams = snapshot(model);
          sinceBest = 0;
        } else if (++sinceBest >= (o.patience ?? 20)) {
          stopped = `early stopping after ${o.patience ?? 20} epochs without improvement`;
          epoch++;
          break;
        }
      }
      o.onProgress?.({ phase: 'adam', epoch, epochs, loss: trainLoss, validation: valLoss, elapsedMs: performance.now() - t0 });
      yield;
    }
  } finally {
    th.runner?.release(trainObj);
  }
  if (checking && best < Infinity) restore(model, bestParams);
  if (diverged && !finite(obj)) {
    // The epoch restored was already on its way out (finite batches, parameters that no
    // longer give a finite likelihood on every group): go back to the linear fit, which did.
    restore(model, linearFit);
    stopped += '; those parameters no longer give a finite likelihood on every group, so the network is reset to the linear fit';
  }
  lin.dispose();
  net?.dispose();
  scales.dispose();
  const polish = o.polish ?? 'linear';
  let polished = '';
  let didPolish = false;
  if (polish !== false && stopped !== 'aborted' && !diverged) {
    if (o.signal?.aborted) polished = '; aborted before the L-BFGS polish';
    else {
      const params = polish === 'linear' ? [...model.linearParams(), ...model.varianceParams()] : model.parameters();
      const before = snapshot(model);
      try {
        const pr = minimizeObjective(params, obj, { gtol: o.gtol ?? 1e-6, maxIter: 200, onIteration: progress('polish', 200), signal: o.signal }, undefined, () => th.runner);
        polished = `; then L-BFGS${polish === 'linear' ? ' on the linear part and the variance parameters' : ''}: ${pr.message}`;
        didPolish = true;
      } catch (e) {
        restore(model, before);
        polished = `; the L-BFGS polish failed and was undone (${(e as Error).message})`;
        o.onWarning?.(`fit: the L-BFGS polish after Adam failed and was undone: ${(e as Error).message}`);
      }
    }
  }
  model.info = {
    converged: false,
    message: stopped === 'aborted'
      ? `aborted at epoch ${epoch}; ${checking ? 'the best validation parameters are kept' : 'the last parameters are kept'}`
      : (stopped || `ran ${epochs} epochs of Adam (stochastic: no convergence test)`) + polished,
    optimizer: !didPolish ? 'Adam' : polish === 'linear' ? 'Adam + L-BFGS (linear part)' : 'Adam + L-BFGS',
    epochs: epoch - 1,
    logLik: NaN,
    threads: th.threads,
  };
  if (diverged) o.onWarning?.(`fit ${model.info.message}`);
}
