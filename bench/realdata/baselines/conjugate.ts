// What the two conjugate baselines (LMMNN, PGNN) share: a network f and a few variance
// parameters trained by Adam on mini-batches of whole groups (loss: the batch's negative log
// marginal per row), stopping early on the mean over `set.valid` rows of
// −log p(y_valid | y_train) — log p(y_train, y_valid) − log p(y_train), both closed form from
// per-group sufficient statistics — and predictions for seen groups from the statistics of
// every row of the group (docs/closed-form-marginals.md).
import * as E from '../../../engine/index';
import type { Rows, TrainOptions, TrainSet } from '../types';
import { forwardRows, gatherGroups, groupIndex, groupsPerBatch, type GroupBatch } from './groupRows';
import { trainLoop, type LoopResult } from './train';

export interface ConjugateModel<S> {
  readonly net: E.MLP;
  /** The variance parameters (log σ, log σ_b; log α). */
  readonly extra: readonly E.Tensor[];
  /** Σ over the batch's groups of −log p(y_i), on the tape, from f at the batch's rows. */
  batchNll(eta: E.Tensor, b: GroupBatch): E.Tensor;
  /** Per-group sufficient statistics of rows at f = eta, added into `into` when given. */
  stats(eta: Float64Array, rows: Rows, into?: S): S;
  /** Σ over groups of log p(y_i) from the statistics, at the current parameters. */
  logLik(s: S): number;
}

/**
 * Trains in place; returns the loop's record and the statistics of every row of D (train and
 * valid) at the chosen parameters, which the seen-group predictions condition on.
 */
export function trainConjugate<S>(set: TrainSet, o: TrainOptions, m: ConjugateModel<S>): { loop: LoopResult; all: S } {
  const { train, valid, groups } = set;
  const nTrain = train.y.length, nValid = valid.y.length;
  const index = groupIndex(train.group, groups);
  const loop = trainLoop({
    params: [...m.net.parameters(), ...m.extra],
    units: groups,
    batchSize: groupsPerBatch(nTrain, groups, o.batchSize),
    lr: o.lr, epochs: o.epochs, patience: o.patience, seed: o.seed,
    batchLoss(batch) {
      const b = gatherGroups(train, index, batch);
      if (b.n === 0) return E.scalar(0);
      return E.affine(m.batchNll(m.net.forward(E.tensor(b.X, [b.n, train.p])), b), 1 / b.n, 0);
    },
    validLoss() {
      const st = m.stats(forwardRows(m.net, train), train);
      const llTrain = m.logLik(st);
      // Without held-out rows, the training marginal per row is the only score there is.
      if (nValid === 0) return -llTrain / Math.max(1, nTrain);
      return -(m.logLik(m.stats(forwardRows(m.net, valid), valid, st)) - llTrain) / nValid;
    },
  });
  const all = m.stats(forwardRows(m.net, train), train);
  m.stats(forwardRows(m.net, valid), valid, all);
  return { loop, all };
}

/** f at rows of seen groups, each mapped with its group's posterior: `adjust(f, g)`. */
export function predictSeenGroups(net: E.MLP, rows: Rows, groups: number, adjust: (f: number, g: number) => number): Float64Array {
  return forwardRows(net, rows).map((v, k) => {
    const g = rows.group[k];
    if (!(g >= 0 && g < groups)) throw new Error(`predictSeen: row ${k} has group ${g}, not a training group`);
    return adjust(v, g);
  });
}
