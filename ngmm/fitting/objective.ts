// What the optimisers minimise: the mean negative log marginal likelihood per unit, where a
// unit is what the likelihood is a sum over — a group for one grouping factor (so mini-batches
// of groups are unbiased, and groups can be held out), the whole data set for several terms
// (crossed levels share rows: one unit), averaged there over the terms' levels so that the
// gradient tolerance means the same per level.
import * as E from '../../engine/index';
import type { PreparedData } from '../data';
import { releaseResponse, subsetResponse } from '../marginal/groups';
import type { Model } from '../model';
import type { BoundTerms, TermsEffect } from '../terms/multi';
import { sumPieces, type PieceRunner } from '../threads/pieces';

/**
 * Where a pass in parts gets its threads: asked only when the data do split into several parts,
 * so that a small fit never starts worker threads it would not use. null: this thread alone.
 */
export type ThreadSource = (() => PieceRunner | null) | null;

/** The marginal method of one grouping factor while fitting: the ODE's rtol, and Gauss–Hermite nodes (0: the ODE). */
export interface Method {
  rtol: number;
  nodes: number;
}

export interface Objective {
  /** Independent units the log-likelihood sums over: groups; 1 when it does not split. */
  readonly units: number;
  /** The mean −log-likelihood per unit over `units` (null: all of them), on the tape. */
  value(units: Int32Array | null, sub?: { k: number; rng: E.Rng }): E.Tensor;
  /** The same objective integrated more finely, where its accuracy is a tolerance (the ODE's rtol); null where not. */
  finer(): Objective | null;
  /**
   * Holds out a share of each unit's rows (where the units are groups): the objective of the
   * kept rows, and the held-out rows' negative log predictive density given the kept rows.
   * Absent where the likelihood does not split into groups.
   */
  holdOutRows?(share: number, rng: E.Rng): RowHoldout;
  /** How many rows the given units hold (where the units are groups). */
  rowsIn?(units: Int32Array): number;
  /** What another thread needs to rebuild this objective (ngmm/threads), where it can. */
  readonly replica?: { readonly model: Model; readonly prep: PreparedData; readonly how: Method };
}

/**
 * Rows per part when a full-data pass (the linear stage, the polish) is split into parts of
 * whole groups: each part's tape is built, differentiated and freed before the next, so a pass
 * over 10⁶ rows needs the memory of 50,000 (measured: the linear stage of a 10⁶-row Poisson
 * NGMM ran out of the 4 GiB heap with 3.6 GB in use when done in one piece).
 */
export const PASS_ROWS = 50_000;

/**
 * L-BFGS on the objective over every unit, in parts of whole groups of at most `maxRows` rows
 * (one part — exactly `minimize` on value(null) — when the data are smaller or do not split).
 */
export function minimizeObjective(params: E.Tensor[], obj: Objective, o: E.LbfgsOptions, maxRows = PASS_ROWS, threads: ThreadSource = null): E.LbfgsResult {
  const parts = objectiveParts(obj, maxRows);
  if (!parts) return E.minimize(params, () => obj.value(null), o);
  // value(units) is the mean per unit over `units`: weighted by their share, the parts sum to
  // the mean over all units.
  const runner = threads?.() ?? null;
  if (!runner || runner.threads < 2 || !obj.replica) return E.minimizeSum(params, parts.length, (k) => E.mul(obj.value(parts[k]), parts[k].length / obj.units), o);
  // The same parts on several threads (ngmm/threads/pieces.ts), summed in part order: the same
  // terms added in the same order as minimizeSum adds them, so the same bits.
  try {
    return E.minimizeWith(params, (gOut) => E.tidy(() => {
      const { loss, grads } = sumPieces(obj, parts, obj.units, params, runner);
      let k = 0;
      for (const g of grads) {
        gOut.set(g.data, k);
        k += g.size;
      }
      return loss;
    }), o);
  } finally {
    runner.release(obj);
  }
}

/** Consecutive units cut into parts of at most `maxRows` rows (a larger unit is a part of its own), or null for one part. */
export function objectiveParts(obj: Objective, maxRows: number): Int32Array[] | null {
  if (!obj.rowsIn || obj.units <= 1) return null;
  const all = Int32Array.from({ length: obj.units }, (_, i) => i);
  if (obj.rowsIn(all) <= maxRows) return null;
  return cutUnits(obj.units, (u) => obj.rowsIn!(all.subarray(u, u + 1)), maxRows).map(([a, b]) => all.slice(a, b));
}

/** Units 0 … n−1 cut in order into runs [start, end) of at most `maxRows` rows (a larger unit is a run of its own). */
export function cutUnits(n: number, rowsOf: (u: number) => number, maxRows: number): [number, number][] {
  const runs: [number, number][] = [];
  let start = 0, rows = 0;
  for (let u = 0; u < n; u++) {
    const r = rowsOf(u);
    if (u > start && rows + r > maxRows) {
      runs.push([start, u]);
      start = u;
      rows = 0;
    }
    rows += r;
  }
  if (n > 0) runs.push([start, n]);
  return runs;
}

/** Rows held out within groups (validation on rows of groups that are also trained on). */
export interface RowHoldout {
  /** The objective of the kept rows only. */
  readonly train: Objective;
  /** How many rows are held out (groups of one row keep theirs). */
  readonly heldRows: number;
  /**
   * Σ over `units` of −log p(held-out rows | kept rows) = −(log p(all rows) − log p(kept rows)):
   * each group's predictive density of its held-out rows under its posterior from the kept
   * rows, by two marginals (untracked).
   */
  conditional(units: Int32Array): number;
}

/**
 * One grouping factor: each group's marginal (ODE or Gauss–Hermite) over a batch of groups.
 * `maxRows`: the part size of the untracked passes it makes itself (the held-out rows' criterion).
 */
export function groupedObjective(model: Model, prep: PreparedData, how: Method, maxRows = PASS_ROWS): Objective {
  const G = prep.response.ngroups;
  const all = Int32Array.from({ length: G }, (_, i) => i);
  const self: Objective = {
    units: G,
    replica: { model, prep, how },
    value(groups, sub) {
      const use = groups ?? all;
      const { response, rows } = subsetResponse(prep.response, use, sub);
      const p = prep.p;
      const X = new Float64Array(rows.length * p);
      for (let k = 0; k < rows.length; k++) X.set(prep.X.subarray(rows[k] * p, rows[k] * p + p), k * p);
      let Z: E.Tensor | null = null;
      if (prep.Zg) {
        const d = prep.d;
        const Zb = new Float64Array(use.length * d);
        for (let k = 0; k < use.length; k++) Zb.set(prep.Zg.subarray(use[k] * d, use[k] * d + d), k * d);
        Z = E.tensor(Zb, [use.length, d]);
      }
      try {
        const off = prep.offset ? Float64Array.from(rows, (r) => prep.offset![r]) : null;
        const { L } = model.logMarginal(E.tensor(X, [rows.length, p]), response, how.rtol, Z, how.nodes, off);
        return E.neg(E.mean(L));
      } finally {
        releaseResponse(response);
      }
    },
    // The ODE's error (rtol relative to each L_i) is noise in the objective and its gradient
    // that can stop a line search short of gtol, on non-log-concave integrands above all
    // (Poisson-sqrt: measured stuck at rtol 1e−8, converged at 1e−10).
    finer: () => (how.nodes === 0 && how.rtol > 1e-10 ? groupedObjective(model, prep, { rtol: 1e-10, nodes: 0 }, maxRows) : null),
    rowsIn(units) {
      let n = 0;
      for (const g of units) n += prep.response.offsets[g + 1] - prep.response.offsets[g];
      return n;
    },
    holdOutRows(share, rng) {
      const r = prep.response;
      const mask = new Uint8Array(r.nobs).fill(1);
      let held = 0;
      for (let g = 0; g < G; g++) {
        const n = r.offsets[g + 1] - r.offsets[g];
        // round(share·n) rows, but every group keeps at least one (its posterior needs it).
        const h = Math.min(n - 1, Math.round(share * n));
        const idx = Int32Array.from({ length: n }, (_, i) => r.offsets[g] + i);
        rng.shuffle(idx);
        for (let i = 0; i < h; i++) mask[idx[i]] = 0;
        held += Math.max(0, h);
      }
      // The kept rows as data of their own, made once: the batches then subset them as any data.
      const train = groupedObjective(model, keptRows(prep, mask), how, maxRows);
      return {
        train,
        heldRows: held,
        conditional(units) {
          // value() is −mean log p per unit, so this is Σ (log p(kept) − log p(all)); both
          // marginals at the same accuracy. Each group's term is its own, so the units go in
          // parts of ≤ maxRows rows, each part's values freed before the next (the training
          // groups of a 10⁶-row fit in one piece ran out of the 4 GiB heap).
          let total = 0;
          for (const [a, b] of cutUnits(units.length, (k) => r.offsets[units[k] + 1] - r.offsets[units[k]], maxRows)) {
            const part = units.subarray(a, b);
            total += E.noGrad(() => E.tidy(() => part.length * (self.value(part).item() - train.value(part).item())));
          }
          return total;
        },
      };
    },
  };
  return self;
}

/** The data restricted to the rows where `keep` is 1 (every group keeps at least one). */
function keptRows(prep: PreparedData, keep: Uint8Array): PreparedData {
  const all = Int32Array.from({ length: prep.response.ngroups }, (_, i) => i);
  const { response, rows } = subsetResponse(prep.response, all, undefined, keep);
  const p = prep.p;
  const X = new Float64Array(rows.length * p);
  rows.forEach((j, k) => X.set(prep.X.subarray(j * p, j * p + p), k * p));
  const pick = (v: Float64Array | null) => (v ? Float64Array.from(rows, (j) => v[j]) : null);
  return { ...prep, response, X, order: Int32Array.from(rows, (j) => prep.order[j]), weights: pick(prep.weights), offset: pick(prep.offset) };
}

/**
 * Several terms: the structure's marginal (Laplace or nested quadrature) of all rows, in the
 * bound order (`X` standardised and `offset` in that order), per level of the terms. `X` is a
 * heap tensor the caller owns: all rows go into every evaluation, so they are copied in once.
 */
export function termsObjective(model: Model, te: TermsEffect, bound: BoundTerms, X: E.Tensor, offset: Float64Array | null): Objective {
  return {
    units: 1,
    value() {
      const phi = model.thetaSigma ? E.softplus(model.thetaSigma) : null;
      return E.mul(te.logLik(model.fixedEta(X, offset), phi, bound), -1 / bound.units);
    },
    finer: () => null,
  };
}
