// An embedding layer: a trainable [levels × dim] table whose row k is level k's vector, for a
// categorical input with many levels (a group id, a categorical covariate). The lookup is a row
// gather, so its VJP is the scatter-add already on the tape (engine/ops/shape.ts): the
// gradient of a row is the sum of the gradients of every position that looked it up.
// With `missing: true` the table has one more row, the "missing" category, looked up by −1
// (a categorical covariate with missing values gets a learned vector of its own rather than
// an imputed level).
import { gatherRows } from './ops/shape';
import { Rng } from './random';
import { param, Tensor } from './tensor';

export interface EmbeddingJSON {
  readonly kind: 'embedding';
  readonly version: 1;
  readonly levels: number;
  readonly dim: number;
  readonly missing: boolean;
  /** Row-major, (levels + missing) × dim; the missing row, when there is one, is last. */
  readonly table: readonly number[];
}

export interface EmbeddingOptions {
  readonly seed?: number;
  /** SD of the initial entries (default 1). */
  readonly scale?: number;
  /** Adds a row for index −1 (default false: −1 is refused). */
  readonly missing?: boolean;
}

/** The rows of the table shape: `levels` categories, plus the missing row when there is one. */
const tableRows = (levels: number, missing: boolean): number => levels + (missing ? 1 : 0);

/**
 * Rows of `table` for `index` (each in 0 … levels − 1, or −1 for the missing row, which is row
 * `levels`, when `missing`), as a [index.length × dim] tensor on the tape.
 */
export function lookupRows(table: Tensor, index: Int32Array, levels: number, missing: boolean): Tensor {
  if (!(index instanceof Int32Array)) throw new Error('embedding: the index must be an Int32Array');
  const rows = tableRows(levels, missing);
  if (table.shape.length !== 2 || table.shape[0] !== rows) {
    throw new Error(`embedding: the table must be [${rows} × dim], got [${table.shape.join(', ')}]`);
  }
  let at = index;
  for (let r = 0; r < index.length; r++) {
    const v = index[r];
    if (v === -1 && missing) {
      if (at === index) at = Int32Array.from(index);
      at[r] = levels;
    } else if (v === -1) {
      throw new Error(`embedding: index −1 (missing) at position ${r}, but the embedding has no missing row (create it with missing: true)`);
    } else if (v < 0 || v >= levels) {
      throw new Error(`embedding: index ${v} at position ${r} is outside 0..${levels - 1}${missing ? ' (or −1 for missing)' : ''}`);
    }
  }
  return gatherRows(table, at, rows);
}

export class Embedding {
  readonly levels: number;
  readonly dim: number;
  readonly missing: boolean;
  /** The parameter, [(levels + missing) × dim]. */
  readonly table: Tensor;

  /** A table holding `values` (row-major, as `toJSON().table`). */
  constructor(levels: number, dim: number, values: ArrayLike<number>, missing = false) {
    if (!Number.isInteger(levels) || levels < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new Error(`embedding: levels and dim must be positive integers, got ${levels} and ${dim}`);
    }
    const rows = tableRows(levels, missing);
    if (values.length !== rows * dim) {
      throw new Error(`embedding: a [${rows} × ${dim}] table needs ${rows * dim} values, got ${values.length}`);
    }
    this.levels = levels;
    this.dim = dim;
    this.missing = missing;
    this.table = param(values, [rows, dim]);
  }

  /** [index.length × dim]: row `index[r]` of the table (the missing row for −1). */
  forward(index: Int32Array): Tensor {
    return lookupRows(this.table, index, this.levels, this.missing);
  }

  /**
   * The mean of the `levels` category rows (the missing row left out: it is a category of its
   * own, not a draw from the population of levels) — the vector an unseen level gets.
   */
  meanRow(): Float64Array {
    const t = this.table.data, d = this.dim;
    const m = new Float64Array(d);
    for (let k = 0; k < this.levels; k++) for (let j = 0; j < d; j++) m[j] += t[k * d + j];
    for (let j = 0; j < d; j++) m[j] /= this.levels;
    return m;
  }

  parameters(): Tensor[] {
    return [this.table];
  }

  toJSON(): EmbeddingJSON {
    return { kind: 'embedding', version: 1, levels: this.levels, dim: this.dim, missing: this.missing, table: Array.from(this.table.data) };
  }

  static fromJSON(j: unknown): Embedding {
    const o = j as Partial<EmbeddingJSON>;
    if (!o || o.kind !== 'embedding' || o.version !== 1 || typeof o.missing !== 'boolean' || !Array.isArray(o.table)) {
      throw new Error('embedding: not a version-1 embedding record');
    }
    if (o.table.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
      throw new Error('embedding: the table must hold finite numbers');
    }
    return new Embedding(o.levels as number, o.dim as number, o.table, o.missing);
  }

  dispose(): void {
    this.table.dispose();
  }
}

/**
 * A seeded embedding with entries scale·N(0, 1) (default scale 1, as PyTorch's nn.Embedding).
 * Unit scale puts the embedding columns on the scale of the standardised covariates they are
 * usually concatenated with, so the next layer's He initialisation (which assumes unit-variance
 * inputs) fits them as well; a smaller scale starts the network nearly blind to the category.
 */
export function embedding(levels: number, dim: number, o: EmbeddingOptions = {}): Embedding {
  const scale = o.scale ?? 1;
  if (!(scale >= 0) || !Number.isFinite(scale)) throw new Error(`embedding: scale must be a finite number ≥ 0, got ${scale}`);
  // Before the draw: a nonsense size must fail with this message, not as a typed-array error.
  if (!Number.isInteger(levels) || levels < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new Error(`embedding: levels and dim must be positive integers, got ${levels} and ${dim}`);
  }
  const missing = o.missing ?? false;
  const rows = tableRows(levels, missing);
  const rng = new Rng(o.seed ?? 0);
  const values = new Float64Array(rows * dim);
  for (let i = 0; i < values.length; i++) values[i] = scale * rng.normal();
  return new Embedding(levels, dim, values, missing);
}
