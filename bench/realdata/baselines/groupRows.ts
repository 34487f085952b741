// Rows by group, for the two baselines whose loss is a closed-form group marginal (LMMNN and
// PGNN, docs/closed-form-marginals.md): a group's rows must meet in one mini-batch, so the
// training loop's units are groups, and a batch is the rows of its groups with group indices
// renumbered 0 … B − 1.
import * as E from '../../../engine/index';
import type { Rows } from '../types';

export interface GroupIndex {
  /** Rows of group g are `rows[offsets[g]] … rows[offsets[g + 1] − 1]`, in their original order. */
  readonly offsets: Int32Array;
  readonly rows: Int32Array;
}

/** Counting sort of the rows by group; rows with a group outside 0 … groups − 1 are refused. */
export function groupIndex(group: Int32Array, groups: number): GroupIndex {
  const offsets = new Int32Array(groups + 1);
  for (let r = 0; r < group.length; r++) {
    const g = group[r];
    if (!(g >= 0 && g < groups)) throw new Error(`row ${r}: group ${g} is not a training group 0..${groups - 1}`);
    offsets[g + 1]++;
  }
  for (let g = 0; g < groups; g++) offsets[g + 1] += offsets[g];
  const next = offsets.slice(0, groups);
  const rows = new Int32Array(group.length);
  for (let r = 0; r < group.length; r++) rows[next[group[r]]++] = r;
  return { offsets, rows };
}

/**
 * Groups per mini-batch so that a batch holds about `batchSize` rows on average:
 * max(1, round(batchSize / mean rows per group)).
 */
export function groupsPerBatch(rows: number, groups: number, batchSize: number): number {
  if (groups === 0 || rows === 0) return 1;
  return Math.max(1, Math.round(batchSize / (rows / groups)));
}

export interface GroupBatch {
  /** n × p covariates, the response and each row's batch-local group 0 … groups − 1. */
  readonly X: Float64Array;
  readonly y: Float64Array;
  readonly local: Int32Array;
  readonly n: number;
  readonly groups: number;
}

/** The rows of the groups `batch` (indices into the training groups), group after group. */
export function gatherGroups(rows: Rows, index: GroupIndex, batch: ArrayLike<number>): GroupBatch {
  const p = rows.p;
  let n = 0;
  for (let b = 0; b < batch.length; b++) n += index.offsets[batch[b] + 1] - index.offsets[batch[b]];
  const X = new Float64Array(n * p), y = new Float64Array(n), local = new Int32Array(n);
  let k = 0;
  for (let b = 0; b < batch.length; b++) {
    for (let j = index.offsets[batch[b]]; j < index.offsets[batch[b] + 1]; j++, k++) {
      const r = index.rows[j];
      X.set(rows.X.subarray(r * p, r * p + p), k * p);
      y[k] = rows.y[r];
      local[k] = b;
    }
  }
  return { X, y, local, n, groups: batch.length };
}

/** f(x) for every row, off the tape, as a plain array. */
export function forwardRows(net: E.MLP, rows: Rows): Float64Array {
  const n = rows.y.length;
  if (n === 0) return new Float64Array(0);
  if (rows.X.length !== n * rows.p) throw new Error(`rows: X holds ${rows.X.length} values, ${n} rows × ${rows.p} columns need ${n * rows.p}`);
  return E.noGrad(() => E.tidy(() => net.forward(E.tensor(rows.X, [n, rows.p])).toArray()));
}
