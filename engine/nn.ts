// The multilayer perceptron: Linear → activation → … → Linear (no activation on the output).
// Weights are stored [in × out] so a layer is one matmul plus a bias on row-major batches.
// `precision: 'mixed'` runs the layers in float32 (engine/mlpMixed.ts) while the parameters,
// their gradients and everything downstream stay float64.
import { mlpMixed } from './mlpMixed';
import { activations, type ActivationName } from './ops/activations';
import { bias, matmul } from './ops/linalg';
import { Rng } from './random';
import { param, Tensor } from './tensor';

export type Init = 'he' | 'glorot';

/** 'f64': every layer in float64. 'mixed': the layers in float32, parameters and gradients float64. */
export type Precision = 'f64' | 'mixed';

export interface MLPOptions {
  /** Default 'f64'. */
  readonly precision?: Precision;
}

function checkPrecision(p: unknown): Precision {
  if (p !== 'f64' && p !== 'mixed') throw new Error(`mlp: precision must be 'f64' or 'mixed', got ${JSON.stringify(p)}`);
  return p;
}

export interface MLPJSON {
  readonly kind: 'mlp';
  readonly version: 1;
  readonly sizes: readonly number[];
  readonly activation: ActivationName;
  /** How the layers compute; absent in records written before it existed, read as 'f64'. */
  readonly precision?: Precision;
  /** One flat row-major array per parameter: W₀, b₀, W₁, b₁, … */
  readonly params: readonly (readonly number[])[];
}

export class MLP {
  readonly sizes: readonly number[];
  readonly activation: ActivationName;
  readonly weights: Tensor[] = [];
  readonly biases: Tensor[] = [];
  private _precision: Precision;

  /** Builds the layers from `values` (one flat array per parameter, as in `toJSON`). */
  constructor(sizes: readonly number[], activation: ActivationName, values: readonly (ArrayLike<number>)[], opts: MLPOptions = {}) {
    this._precision = checkPrecision(opts.precision ?? 'f64');
    if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new Error(`mlp: sizes must be ≥ 2 positive integers, got [${sizes.join(', ')}]`);
    }
    if (!(activation in activations)) throw new Error(`mlp: unknown activation '${activation}'`);
    if (values.length !== 2 * (sizes.length - 1)) {
      throw new Error(`mlp: expected ${2 * (sizes.length - 1)} parameter arrays, got ${values.length}`);
    }
    this.sizes = [...sizes];
    this.activation = activation;
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [fi, fo] = [sizes[l], sizes[l + 1]];
      const w = values[2 * l], b = values[2 * l + 1];
      if (w.length !== fi * fo || b.length !== fo) {
        throw new Error(`mlp: layer ${l} needs ${fi * fo} weights and ${fo} biases, got ${w.length} and ${b.length}`);
      }
      this.weights.push(param(w, [fi, fo]));
      this.biases.push(param(b, [fo]));
    }
  }

  /** How `forward` computes: settable between steps (the parameters are float64 either way). */
  get precision(): Precision {
    return this._precision;
  }

  set precision(p: Precision) {
    this._precision = checkPrecision(p);
  }

  /** x [batch × sizes[0]] → [batch × sizes.at(-1)]. */
  forward(x: Tensor): Tensor {
    if (x.shape.length !== 2 || x.shape[1] !== this.sizes[0]) {
      throw new Error(`mlp: input must be [batch × ${this.sizes[0]}], got [${x.shape.join(', ')}]`);
    }
    if (this._precision === 'mixed') return mlpMixed(x, this.parameters(), this.sizes, this.activation);
    const act = activations[this.activation];
    let h = x;
    for (let l = 0; l < this.weights.length; l++) {
      h = bias(matmul(h, this.weights[l]), this.biases[l]);
      if (l + 1 < this.weights.length) h = act(h);
    }
    return h;
  }

  parameters(): Tensor[] {
    return this.weights.flatMap((w, l) => [w, this.biases[l]]);
  }

  toJSON(): MLPJSON {
    return {
      kind: 'mlp',
      version: 1,
      sizes: [...this.sizes],
      activation: this.activation,
      precision: this._precision,
      params: this.parameters().map((p) => Array.from(p.data)),
    };
  }

  /**
   * Overwrites the parameters from `toJSON()` output of an MLP of the same architecture (the
   * record's precision is not adopted: it says how a network computes, not what it holds).
   */
  setFromJSON(j: unknown): void {
    const o = j as Partial<MLPJSON>;
    if (!o || o.kind !== 'mlp' || o.version !== 1 || !Array.isArray(o.sizes) || !Array.isArray(o.params)) {
      throw new Error('mlp: not a version-1 MLP record');
    }
    if (o.sizes.length !== this.sizes.length || o.sizes.some((v, i) => v !== this.sizes[i])) {
      throw new Error(`mlp: sizes [${o.sizes.join(', ')}] do not match [${this.sizes.join(', ')}]`);
    }
    if (o.activation !== this.activation) throw new Error(`mlp: activation '${o.activation}' does not match '${this.activation}'`);
    const ps = this.parameters();
    if (o.params.length !== ps.length) throw new Error(`mlp: expected ${ps.length} parameter arrays, got ${o.params.length}`);
    o.params.forEach((arr, i) => {
      if (!Array.isArray(arr) || arr.length !== ps[i].size || arr.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new Error(`mlp: parameter array ${i} must hold ${ps[i].size} finite numbers`);
      }
    });
    o.params.forEach((arr, i) => ps[i].data.set(arr));
  }

  static fromJSON(j: unknown): MLP {
    const o = j as Partial<MLPJSON>;
    if (!o || o.kind !== 'mlp' || o.version !== 1 || !Array.isArray(o.sizes) || !Array.isArray(o.params)) {
      throw new Error('mlp: not a version-1 MLP record');
    }
    for (const [i, arr] of o.params.entries()) {
      if (!Array.isArray(arr) || arr.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw new Error(`mlp: parameter array ${i} must hold finite numbers`);
      }
    }
    return new MLP(o.sizes, o.activation as ActivationName, o.params, { precision: checkPrecision(o.precision ?? 'f64') });
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/**
 * A seeded MLP. He-normal initialisation (std √(2/fan_in)) for rectifier-like activations,
 * Glorot-uniform (±√(6/(fan_in+fan_out))) otherwise; biases start at zero.
 */
export function mlp(sizes: readonly number[], activation: ActivationName = 'relu', seed = 0, init?: Init, opts: MLPOptions = {}): MLP {
  const rng = new Rng(seed);
  const scheme = init ?? (activation === 'relu' || activation === 'gelu' || activation === 'softplus' ? 'he' : 'glorot');
  const values: Float64Array[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fi, fo] = [sizes[l], sizes[l + 1]];
    const w = new Float64Array(fi * fo);
    if (scheme === 'he') {
      const sd = Math.sqrt(2 / fi);
      for (let i = 0; i < w.length; i++) w[i] = sd * rng.normal();
    } else {
      const a = Math.sqrt(6 / (fi + fo));
      for (let i = 0; i < w.length; i++) w[i] = a * (2 * rng.uniform() - 1);
    }
    values.push(w, new Float64Array(fo));
  }
  return new MLP(sizes, activation, values, opts);
}
