// The training loop every baseline shares: Adam over mini-batches of "units" (rows, or groups
// for the closed-form group marginals), a fresh shuffle per epoch, early stopping on a
// validation loss with the best epoch's parameters restored. One loop, so that a difference
// between baselines is the model's, not the optimiser's.
import * as E from '../../../engine/index';

export interface LoopOptions {
  /** The parameters Adam updates. */
  readonly params: readonly E.Tensor[];
  /** How many units (rows or groups) an epoch visits. */
  readonly units: number;
  /** Units per mini-batch. */
  readonly batchSize: number;
  /**
   * The mini-batch loss as a scalar tensor on the tape, for the units `batch` (indices into
   * 0 … units − 1), scaled as the caller likes (its gradient is what Adam steps on).
   */
  batchLoss(batch: Int32Array, step: number): E.Tensor;
  /** The validation loss at the current parameters (lower is better), computed off the tape. */
  validLoss(): number;
  readonly lr: number;
  readonly epochs: number;
  readonly patience: number;
  readonly seed: number;
}

export interface LoopResult {
  /** Epochs run, and the epoch (1-based) whose parameters were kept. */
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly bestValid: number;
  readonly steps: number;
}

/** Trains in place; the parameters end at the best validation epoch's values. */
export function trainLoop(o: LoopOptions): LoopResult {
  const rng = new E.Rng(o.seed);
  const opt = new E.Adam(o.params, { lr: o.lr });
  const order = Int32Array.from({ length: o.units }, (_, i) => i);
  let best = E.noGrad(() => o.validLoss());
  let bestEpoch = 0, stale = 0, epoch = 0, steps = 0;
  let saved = o.params.map((p) => Float64Array.from(p.data));
  try {
    for (epoch = 1; epoch <= o.epochs; epoch++) {
      rng.shuffle(order);
      for (let s = 0; s < o.units; s += o.batchSize) {
        const batch = order.subarray(s, Math.min(o.units, s + o.batchSize));
        E.tidy(() => {
          const loss = o.batchLoss(batch, steps);
          const g = E.grad(loss, o.params);
          opt.step(g);
        });
        steps++;
      }
      const v = E.noGrad(() => o.validLoss());
      if (v < best) {
        best = v;
        bestEpoch = epoch;
        stale = 0;
        saved = o.params.map((p) => Float64Array.from(p.data));
      } else if (!Number.isFinite(v) || ++stale >= o.patience) {
        break;
      }
    }
  } finally {
    opt.dispose();
  }
  o.params.forEach((p, i) => p.data.set(saved[i]));
  return { epochs: Math.min(epoch, o.epochs), bestEpoch, bestValid: best, steps };
}
