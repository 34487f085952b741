// The real-data comparison's common shapes (issue 14): every method — the NGMM, the GLMM and
// the baselines of bench/realdata/baselines/ — trains on a `TrainSet`, stops early on the
// held-out rows of its training groups (`valid`), and predicts rows of seen groups (with the
// group's own effect) and of unseen groups (fixed effects only; where the model has a random
// effect, also its marginal mean over the prior).
export type RFamily = 'gaussian' | 'poisson' | 'bernoulli';

/** Rows of a split: covariates already imputed and standardised from the training split. */
export interface Rows {
  /** n × p, row-major. */
  readonly X: Float64Array;
  readonly p: number;
  /** The response: standardised (Gaussian), a count (Poisson) or 0/1 (Bernoulli). */
  readonly y: Float64Array;
  /** Index of the row's training group, 0 … groups − 1; −1 for a group not seen in training. */
  readonly group: Int32Array;
}

export interface TrainSet {
  readonly family: RFamily;
  /** Number of training groups (the range of `group` in `train` and `valid`). */
  readonly groups: number;
  /** Rows the method fits. */
  readonly train: Rows;
  /** Held-out rows of training groups, for early stopping and the grid only. */
  readonly valid: Rows;
}

/** The settings a method is given; the grid (bench/realdata/grid.ts) varies `hidden` and `lr`. */
export interface TrainOptions {
  /** Hidden layer widths of the MLP f (relu), the same network for every method. */
  readonly hidden: readonly number[];
  readonly lr: number;
  /** Upper bound on epochs (passes over the training rows). */
  readonly epochs: number;
  /** Rows per mini-batch (128, as the paper's Appendix 15.2). */
  readonly batchSize: number;
  /** Epochs without improvement of the validation loss before stopping; the best epoch's parameters are kept. */
  readonly patience: number;
  readonly seed: number;
}

export interface Fitted {
  /** E[y] for rows of seen groups (`group` ≥ 0), with each group's own effect. */
  predictSeen(rows: Rows): Float64Array;
  /** E[y] for rows of unseen groups from the fixed effects alone (random effect at 0 / OHE all-zero / Embed mean). */
  predictNew(rows: Rows): Float64Array;
  /** E[y] for rows of unseen groups averaged over the random effect's prior, where the method has one. */
  predictNewMarginal?(rows: Rows): Float64Array;
  /** What the fit did: epochs run, the best epoch, variance estimates … (written to realdata.json). */
  readonly info: Record<string, number | string | null>;
  dispose(): void;
}
