// Black-box variational inference on the NGMM itself (the paper's Appendix 13 and 15.2): the
// same model, η_ij = f_θ(x_ij) + b_i with b_i ~ N(0, σ_b²), fitted by maximising an evidence
// lower bound instead of the tailored marginal likelihood. Every network weight and bias gets
// an independent N(0, s²) prior; the variational family is fully factorised Gaussian over the
// weights and the random intercepts; σ_b and the Gaussian residual σ are point estimates
// (type-II: they maximise the ELBO). The gradient is the reparameterisation estimator
// (Kingma & Welling 2014; Blundell et al. 2015, "Bayes by Backprop") with S Monte Carlo samples
// per step, not the score-function estimator of Ranganath et al. (2014): the model is
// differentiable in θ and b, and the reparameterised gradient typically has far lower variance. The math
// is written out in docs/bbvi.md.
import * as E from '../../../engine/index';
import { gaussHermite } from '../../../ngmm/marginal/gaussHermite';
import type { Fitted, RFamily, Rows, TrainOptions, TrainSet } from '../types';
import { meanOf, sumNll } from './nll';
import { trainLoop, type LoopResult } from './train';

export type BbviOptions = TrainOptions & {
  /** Monte Carlo samples of (θ, b) per gradient step (5, as Appendix 15.2). */
  readonly samples?: number;
  /** SD s of the N(0, s²) prior on every network weight and bias (default 1). */
  readonly priorSd?: number;
  /** Draws from q averaged by the predictions (default 100). */
  readonly predictSamples?: number;
};

/**
 * The variational parameters and the point hyper-parameters. Network parameters are in
 * E.MLP's order W₀ [p × h₁], b₀ [h₁], W₁, b₁, …; q(θ_k) = N(m_k, softplus(ρ_k)²) elementwise.
 */
export interface Variational {
  readonly m: readonly E.Tensor[];
  readonly rho: readonly E.Tensor[];
  /** q(b_i) = N(μ_i, softplus(ρ_{b,i})²), one per training group: [groups]. */
  readonly mu: E.Tensor;
  readonly rhoB: E.Tensor;
  /** log σ_b, a scalar. */
  readonly logSigmaB: E.Tensor;
  /** log σ (Gaussian residual SD), a scalar; null for the other families. */
  readonly logSigma: E.Tensor | null;
}

/** The standard-normal draws of one gradient step: theta[s][k] matches m[k]; b[s] has one per group. */
export interface Noise {
  readonly theta: readonly (readonly Float64Array[])[];
  readonly b: readonly Float64Array[];
}

/** What the objective needs besides the parameters and the batch. */
export interface ElboModel {
  readonly family: RFamily;
  /** Training rows N: the likelihood of a batch is scaled by N/|B|, and the −ELBO divided by N. */
  readonly n: number;
  readonly priorSd: number;
}

/** f(x) with the given parameter tensors (W₀, b₀, W₁, b₁, …), relu between layers: [rows × 1]. */
export function forwardWith(x: E.Tensor, params: readonly E.Tensor[]): E.Tensor {
  let h = x;
  for (let l = 0; l < params.length; l += 2) {
    h = E.bias(E.matmul(h, params[l]), params[l + 1]);
    if (l + 2 < params.length) h = E.relu(h);
  }
  return h;
}

/**
 * Σ_j KL(N(mean_j, sd_j²) ‖ N(0, s²)) = Σ_j [log s − log sd_j + (sd_j² + mean_j²)/(2s²) − ½],
 * with s a constant or exp(logS) for a scalar tensor logS (σ_b, whose ELBO gradient we need).
 */
export function klNormal(mean: E.Tensor, sd: E.Tensor, logS: E.Tensor | number): E.Tensor {
  const n = mean.size;
  const quad = E.add(E.sum(E.square(sd)), E.sum(E.square(mean)));
  const logSd = E.sum(E.log(sd));
  if (typeof logS === 'number') {
    return E.sub(E.affine(quad, 0.5 * Math.exp(-2 * logS), n * logS - n / 2), logSd);
  }
  const scaled = E.mul(E.affine(quad, 0.5, 0), E.exp(E.affine(logS, -2, 0)));
  return E.sub(E.add(E.affine(logS, n, -n / 2), scaled), logSd);
}

/**
 * −ELBO/N for the rows of one mini-batch B (x [|B| × p], y, training group per row) with the
 * given standard-normal draws:
 *   (1/(S·|B|)) Σ_s Σ_{i∈B} −log p(y_i | θ_s, b_s) + [KL(q(θ)‖p(θ)) + KL(q(b)‖p(b | σ_b))] / N,
 * θ_s = m + softplus(ρ)·ε_s, b_s = μ + softplus(ρ_b)·ε_{b,s}. Deterministic, so its gradient
 * can be checked by finite differences; the training step calls exactly this.
 */
export function elboWithNoise(
  model: ElboModel, v: Variational, x: E.Tensor, y: ArrayLike<number>, group: Int32Array, noise: Noise,
): E.Tensor {
  const S = noise.theta.length;
  const rows = y.length;
  if (S === 0 || noise.b.length !== S) throw new Error(`elboWithNoise: ${S} weight draws and ${noise.b.length} random-effect draws`);
  if (rows === 0 || x.shape[0] !== rows || group.length !== rows) {
    throw new Error(`elboWithNoise: ${x.shape[0]} rows of x, ${rows} responses and ${group.length} groups`);
  }
  const G = v.mu.size;
  const sd = v.rho.map((r) => E.softplus(r));
  const sdB = E.softplus(v.rhoB);
  let nll: E.Tensor | null = null;
  for (let s = 0; s < S; s++) {
    const theta = v.m.map((m, k) => E.add(m, E.mul(sd[k], E.tensor(noise.theta[s][k], m.shape))));
    const b = E.add(v.mu, E.mul(sdB, E.tensor(noise.b[s], [G])));
    const eta = E.add(E.reshape(forwardWith(x, theta), [rows]), E.gatherRows(b, group, G));
    const term = sumNll(model.family, eta, y, v.logSigma ?? undefined);
    nll = nll ? E.add(nll, term) : term;
  }
  const logS = Math.log(model.priorSd);
  let kl = klNormal(v.mu, sdB, v.logSigmaB);
  v.m.forEach((m, k) => {
    kl = E.add(kl, klNormal(m, sd[k], logS));
  });
  return E.add(E.affine(nll!, 1 / (S * rows), 0), E.affine(kl, 1 / model.n, 0));
}

/** S sets of standard-normal draws shaped like `shapes` (the network's parameters) and `groups`. */
export function drawNoise(rng: E.Rng, sizes: readonly number[], groups: number, S: number): Noise {
  const normals = (n: number): Float64Array => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.normal();
    return a;
  };
  const theta: Float64Array[][] = [];
  const b: Float64Array[] = [];
  for (let s = 0; s < S; s++) {
    theta.push(sizes.map(normals));
    b.push(normals(groups));
  }
  return { theta, b };
}

const softplus = (r: number): number => Math.max(r, 0) + Math.log1p(Math.exp(-Math.abs(r)));
const softplusInverse = (sd: number): number => Math.log(Math.expm1(sd));

// A per-step noise stream that depends on (seed, step) alone, not on how many normals earlier
// steps consumed; the multiplier decorrelates neighbouring seeds before Rng's own mixing.
const stepSeed = (seed: number, step: number): number => (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0;

/** Fits by Adam on −ELBO/N over shuffled mini-batches of training rows, stopping early on `set.valid`. */
export function fitBbvi(set: TrainSet, o: BbviOptions): Fitted {
  const S = o.samples ?? 5;
  const priorSd = o.priorSd ?? 1;
  const predictSamples = o.predictSamples ?? 100;
  const { family, groups: G, train, valid } = set;
  const p = train.p;
  if (!(Number.isInteger(S) && S >= 1)) throw new RangeError(`fitBbvi: samples must be an integer ≥ 1, got ${S}`);
  if (!(priorSd > 0 && Number.isFinite(priorSd))) throw new RangeError(`fitBbvi: priorSd must be finite and > 0, got ${priorSd}`);
  if (!(Number.isInteger(predictSamples) && predictSamples >= 1)) {
    throw new RangeError(`fitBbvi: predictSamples must be an integer ≥ 1, got ${predictSamples}`);
  }
  if (train.y.length === 0 || valid.y.length === 0) {
    throw new RangeError(`fitBbvi: needs training and validation rows (early stopping), got ${train.y.length} and ${valid.y.length}`);
  }
  for (const [name, r] of [['train', train], ['valid', valid]] as const) checkGroups(`fitBbvi: ${name}`, r.group, G);

  const net = E.mlp([p, ...o.hidden, 1], 'relu', o.seed);
  const m = net.parameters();
  // Initial SDs: a thousandth of the prior SD for the weights (and of the initial σ_b for the
  // intercepts), so q starts as a near point mass at E.mlp's He initialisation and the first
  // steps train the means as for an ordinary network; the KL term (minimised at sd = s) then
  // widens them. Starting at the prior (sd = s = 1 against He scales of √(2/fan_in)) would
  // bury the signal of the first steps in weight noise, the failure Blundell et al. (2015)
  // avoid with a small initial σ too. Adam moves ρ by ≈ lr per step, so the widths are learnt.
  const sigmaB0 = 1;
  const v: Variational = E.untracked(() => ({
    m,
    rho: m.map((t) => E.param(new Float64Array(t.size).fill(softplusInverse(1e-3 * priorSd)), t.shape)),
    mu: E.param(new Float64Array(G), [G]),
    rhoB: E.param(new Float64Array(G).fill(softplusInverse(1e-3 * sigmaB0)), [G]),
    logSigmaB: E.param([Math.log(sigmaB0)], []),
    // Gaussian y is standardised: σ = 1 is the marginal SD, an upper end for the residual.
    logSigma: family === 'gaussian' ? E.param([0], []) : null,
  }));
  const params = [...v.m, ...v.rho, v.mu, v.rhoB, v.logSigmaB, ...(v.logSigma ? [v.logSigma] : [])];
  const Xtrain = E.untracked(() => E.tensor(train.X, [train.y.length, p]));
  const Xvalid = E.untracked(() => E.tensor(valid.X, [valid.y.length, p]));
  const model: ElboModel = { family, n: train.y.length, priorSd };
  const sizes = m.map((t) => t.size);

  let result: LoopResult;
  try {
    result = trainLoop({
      params,
      units: train.y.length,
      batchSize: o.batchSize,
      batchLoss(batch, step) {
        const rows = Int32Array.from(batch);
        const noise = drawNoise(new E.Rng(stepSeed(o.seed, step)), sizes, G, S);
        const y = Float64Array.from(rows, (r) => train.y[r]);
        const group = Int32Array.from(rows, (r) => train.group[r]);
        return elboWithNoise(model, v, E.gatherRows(Xtrain, rows), y, group, noise);
      },
      // Early stopping scores the valid rows' mean NLL at the variational means (θ = m, b = μ):
      // deterministic, so "no improvement for `patience` epochs" reflects the fit and not Monte
      // Carlo noise, and one forward pass instead of a predictive average over many draws.
      validLoss: () => E.tidy(() => {
        const eta = E.add(E.reshape(forwardWith(Xvalid, v.m), [valid.y.length]), E.gatherRows(v.mu, valid.group, G));
        return sumNll(family, eta, valid.y, v.logSigma ?? undefined).item() / valid.y.length;
      }),
      lr: o.lr,
      epochs: o.epochs,
      patience: o.patience,
      seed: o.seed,
    });
  } catch (e) {
    for (const t of [...params, Xtrain, Xvalid]) t.dispose();
    throw e;
  }
  Xtrain.dispose();
  Xvalid.dispose();

  const sigmaB = Math.exp(v.logSigmaB.item());
  const sigma = v.logSigma ? Math.exp(v.logSigma.item()) : null;

  // Draws from q shared by the three predictions (common random numbers: seen, new and
  // marginal differ by the random effect, not by which networks were drawn), and the same on
  // every call. θ and b come from separate streams so that predictNew draws the same θ as predictSeen.
  const predict = (rows: Rows, effect: 'posterior' | 'zero' | 'prior'): Float64Array => {
    if (rows.p !== p) throw new RangeError(`bbvi: rows have ${rows.p} covariates, the fit ${p}`);
    if (effect === 'posterior') checkGroups('bbvi: predictSeen', rows.group, G);
    const n = rows.y.length;
    const out = new Float64Array(n);
    if (n === 0) return out;
    const rngTheta = new E.Rng(stepSeed(o.seed ^ 0x2545f491, 0));
    const rngB = new E.Rng(stepSeed(o.seed ^ 0x68e31da4, 0));
    const mVals = v.m.map((t) => t.toArray());
    const sdVals = v.rho.map((t) => Float64Array.from(t.data, softplus));
    const mu = v.mu.toArray();
    const sdB = Float64Array.from(v.rhoB.data, softplus);
    // E over b ~ N(0, σ_b²) of the inverse link by Gauss–Hermite: 32 nodes integrate e^{σ_b ξ}
    // to ~1e−12 relative for σ_b ≤ 5, and the logistic to ≤ 1e−7 absolute for σ_b ≤ 2 (1e−4
    // at σ_b = 5, its complex poles come closer in ξ), below the Monte Carlo error over θ.
    const gh = gaussHermite(32);
    E.tidy(() => {
      const X = E.tensor(rows.X, [n, p]);
      for (let s = 0; s < predictSamples; s++) {
        const f = E.tidy(() => {
          const theta = mVals.map((mk, k) => {
            const draw = new Float64Array(mk.length);
            for (let j = 0; j < mk.length; j++) draw[j] = mk[j] + sdVals[k][j] * rngTheta.normal();
            return E.tensor(draw, v.m[k].shape);
          });
          return forwardWith(X, theta).toArray();
        });
        const b = effect === 'posterior' ? Float64Array.from(mu, (mi, i) => mi + sdB[i] * rngB.normal()) : null;
        for (let r = 0; r < n; r++) {
          if (b) out[r] += meanOf(family, f[r] + b[rows.group[r]]);
          else if (effect === 'zero' || family === 'gaussian') out[r] += meanOf(family, f[r]);
          else for (let k = 0; k < gh.nodes.length; k++) out[r] += gh.weights[k] * meanOf(family, f[r] + sigmaB * gh.nodes[k]);
        }
      }
    });
    for (let r = 0; r < n; r++) out[r] /= predictSamples;
    return out;
  };

  return {
    predictSeen: (rows) => predict(rows, 'posterior'),
    predictNew: (rows) => predict(rows, 'zero'),
    predictNewMarginal: (rows) => predict(rows, 'prior'),
    info: {
      epochs: result.epochs,
      bestEpoch: result.bestEpoch,
      steps: result.steps,
      bestValid: result.bestValid,
      sigmaB,
      sigma,
      samples: S,
      priorSd,
    },
    dispose() {
      for (const t of params) t.dispose();
    },
  };
}

function checkGroups(name: string, group: Int32Array, G: number): void {
  for (let r = 0; r < group.length; r++) {
    const g = group[r];
    if (!(Number.isInteger(g) && g >= 0 && g < G)) throw new RangeError(`${name}: row ${r} has group ${g}, outside 0..${G - 1}`);
  }
}
