// The two non-hierarchical baselines of the paper's §5.1 and Appendix 15.2, after Simchoni &
// Rosset (2021, 2023): the group enters the network f as an input, with no random effect and no
// shrinkage, either as a one-hot vector (OHE) or as a learned 16-dimensional embedding (Embed),
// concatenated to the covariates and fed through the same MLP f as the NGMM's. Both are fitted
// by maximum likelihood on rows (the family's NLL, σ = 1 for the Gaussian: squared error) with
// the shared loop (./train.ts).
// Unseen groups: OHE gives them the all-zero indicator (no group column switched on: the
// network's output at the covariates alone); Embed gives them the mean of the trained group
// embeddings (the centre of the groups it has seen).
import * as E from '../../../engine/index';
import { embedding, type EmbeddingJSON } from '../../../engine/embedding';
import type { Fitted, Rows, TrainOptions, TrainSet } from '../types';
import { meanOf, sumNll } from './nll';
import { trainLoop } from './train';

/** Rows per forward pass when scoring or predicting: bounds the heap a large split needs. */
const CHUNK = 4096;

/** The parameters of a fitted baseline, for saving or recomputing its predictions. */
export interface TabularJSON {
  readonly method: 'ohe' | 'embed';
  readonly net: E.MLPJSON;
  readonly embedding?: EmbeddingJSON;
}

export interface TabularFitted extends Fitted {
  toJSON(): TabularJSON;
}

/** What differs between the two baselines: how the group reaches f, and what it owns. */
interface GroupInput {
  /** η [n × 1] for covariates x [n × p] of rows in `group` (null: every row is of an unseen group). */
  eta(x: E.Tensor, group: Int32Array | null): E.Tensor;
  parameters(): E.Tensor[];
  toJSON(): TabularJSON;
  dispose(): void;
}

/**
 * The OHE network's η for x [n × p] and one-hot group indicators, without building the
 * indicators. The first layer on [x, onehot(g)] is x·W₀[0:p] + W₀[p + g] + b₀: the one-hot
 * block of the product only selects row p + g of W₀, so the layer costs O(n·(p + 1)·h₁)
 * where the [n × (p + G)] product costs O(n·(p + G)·h₁) — 30× more for p = 16, G = 500 — and
 * the gather's VJP (a scatter-add into the rows of W₀ the batch used) is the dense product's gradient
 * without the zero rows. `group` null: the all-zero indicator, the first layer x·W₀[0:p] + b₀.
 * The remaining layers are the MLP's own, as in `MLP.forward`.
 */
export function oheEta(net: E.MLP, p: number, x: E.Tensor, group: Int32Array | null): E.Tensor {
  const w0 = net.weights[0];
  const G = net.sizes[0] - p;
  let first = E.matmul(x, E.gatherRows(w0, Int32Array.from({ length: p }, (_, j) => j)));
  if (group) {
    const at = new Int32Array(group.length);
    for (let r = 0; r < group.length; r++) {
      if (!(group[r] >= 0 && group[r] < G)) throw new Error(`OHE: group ${group[r]} at row ${r} is not a training group (0..${G - 1})`);
      at[r] = p + group[r];
    }
    first = E.add(first, E.gatherRows(w0, at));
  }
  const act = E.activations[net.activation];
  let h = E.bias(first, net.biases[0]);
  for (let l = 1; l < net.weights.length; l++) h = E.bias(E.matmul(act(h), net.weights[l]), net.biases[l]);
  return h;
}

function oheInput(set: TrainSet, o: TrainOptions): GroupInput {
  const p = set.train.p;
  const net = E.mlp([p + set.groups, ...o.hidden, 1], 'relu', o.seed);
  return {
    eta: (x, group) => oheEta(net, p, x, group),
    parameters: () => net.parameters(),
    toJSON: () => ({ method: 'ohe', net: net.toJSON() }),
    dispose: () => net.dispose(),
  };
}

function embedInput(set: TrainSet, o: TrainOptions, dim: number): GroupInput {
  const p = set.train.p;
  // Its own stream: seeded like the network, the table would repeat the first layer's draws.
  const emb = embedding(set.groups, dim, { seed: o.seed + 0x9e3779b9 });
  let net: E.MLP;
  try {
    net = E.mlp([p + dim, ...o.hidden, 1], 'relu', o.seed);
  } catch (e) {
    emb.dispose();
    throw e;
  }
  return {
    eta(x, group) {
      const n = x.shape[0];
      let z: E.Tensor;
      if (group) {
        z = emb.forward(group);
      } else {
        const m = emb.meanRow(), rep = new Float64Array(n * dim);
        for (let r = 0; r < n; r++) rep.set(m, r * dim);
        z = E.tensor(rep, [n, dim]);
      }
      return net.forward(E.concat([x, z], 1));
    },
    parameters: () => [...net.parameters(), ...emb.parameters()],
    toJSON: () => ({ method: 'embed', net: net.toJSON(), embedding: emb.toJSON() }),
    dispose: () => {
      net.dispose();
      emb.dispose();
    },
  };
}

function checkRows(name: string, rows: Rows, p: number, groups: number, seen: boolean): void {
  const n = rows.y.length;
  if (rows.p !== p) throw new Error(`${name}: ${rows.p} covariates, the training rows have ${p}`);
  if (rows.X.length !== n * p || rows.group.length !== n) {
    throw new Error(`${name}: ${n} responses, but X holds ${rows.X.length} values (p = ${p}) and group ${rows.group.length}`);
  }
  if (!seen) return;
  for (let i = 0; i < n; i++) {
    const g = rows.group[i];
    if (!(g >= 0 && g < groups)) throw new Error(`${name}: row ${i} has group ${g}, not a training group (0..${groups - 1})`);
  }
}

/** Row i of `rows` for i in `at`, as a tensor [at.length × p]. */
function covariates(rows: Rows, at: ArrayLike<number>): E.Tensor {
  const p = rows.p, out = new Float64Array(at.length * p);
  for (let r = 0; r < at.length; r++) out.set(rows.X.subarray(at[r] * p, at[r] * p + p), r * p);
  return E.tensor(out, [at.length, p]);
}

const range = (from: number, to: number): Int32Array => Int32Array.from({ length: to - from }, (_, i) => from + i);

function fitTabular(method: string, set: TrainSet, o: TrainOptions, make: () => GroupInput): TabularFitted {
  const { train, valid, family, groups } = set;
  const p = train.p;
  if (!(p >= 1)) throw new Error(`${method}: needs at least one covariate, got p = ${p}`);
  if (train.y.length === 0 || valid.y.length === 0) {
    throw new Error(`${method}: needs training and validation rows (got ${train.y.length} and ${valid.y.length})`);
  }
  checkRows(`${method} (train)`, train, p, groups, true);
  checkRows(`${method} (valid)`, valid, p, groups, true);
  const model = make();

  // η of rows s … e − 1, with their groups or as rows of unseen groups.
  const etaOf = (rows: Rows, s: number, e: number, seen: boolean): E.Tensor =>
    model.eta(covariates(rows, range(s, e)), seen ? rows.group.subarray(s, e) : null);

  let res;
  try {
    res = trainLoop({
      params: model.parameters(),
      units: train.y.length,
      batchSize: o.batchSize,
      batchLoss(batch) {
        const eta = model.eta(covariates(train, batch), Int32Array.from(batch, (i) => train.group[i]));
        // The batch mean, so the step size does not depend on the batch's size.
        return E.affine(sumNll(family, eta, Float64Array.from(batch, (i) => train.y[i])), 1 / batch.length, 0);
      },
      validLoss() {
        let total = 0;
        for (let s = 0; s < valid.y.length; s += CHUNK) {
          const e = Math.min(valid.y.length, s + CHUNK);
          total += E.tidy(() => sumNll(family, etaOf(valid, s, e, true), valid.y.subarray(s, e)).item());
        }
        return total / valid.y.length;
      },
      lr: o.lr,
      epochs: o.epochs,
      patience: o.patience,
      seed: o.seed,
    });
  } catch (e) {
    model.dispose();
    throw e;
  }

  const predict = (rows: Rows, seen: boolean, name: string): Float64Array => {
    checkRows(name, rows, p, groups, seen);
    const n = rows.y.length, out = new Float64Array(n);
    E.noGrad(() => {
      for (let s = 0; s < n; s += CHUNK) {
        const e = Math.min(n, s + CHUNK);
        E.tidy(() => {
          const eta = etaOf(rows, s, e, seen).data;
          for (let r = s; r < e; r++) out[r] = meanOf(family, eta[r - s]);
        });
      }
    });
    return out;
  };

  return {
    predictSeen: (rows) => predict(rows, true, `${method}.predictSeen`),
    predictNew: (rows) => predict(rows, false, `${method}.predictNew`),
    info: { method, epochs: res.epochs, bestEpoch: res.bestEpoch, steps: res.steps, bestValid: res.bestValid },
    toJSON: () => model.toJSON(),
    dispose: () => model.dispose(),
  };
}

/** OHE-MLP: f([x, onehot(group)]) with f = E.mlp([p + G, ...hidden, 1], 'relu', seed). */
export function fitOhe(set: TrainSet, o: TrainOptions): TabularFitted {
  return fitTabular('OHE', set, o, () => oheInput(set, o));
}

/** Embed-MLP: f([x, e_group]) with a learned e ∈ ℝ^dim per group and f = E.mlp([p + dim, ...hidden, 1]). */
export function fitEmbed(set: TrainSet, o: TrainOptions, dim = 16): TabularFitted {
  return fitTabular('Embed', set, o, () => embedInput(set, o, dim));
}
