// The Poisson–Gamma neural mixed model, PGNN (Lee 2023, subject-specific deep neural networks
// for count data with high-cardinality categorical features; the HGLM of Lee & Nelder 1996
// with a network mean):
//   y_ij | u_i ~ Poisson(μ_ij·u_i),   μ = exp f(x),   u_i ~ Gamma(shape α, rate α),
// so E[u] = 1 and var u = 1/α. The Gamma is conjugate to the Poisson, and a group's marginal
// is the negative multinomial in closed form (docs/closed-form-marginals.md):
//   log p(y_i) = Σ_j [y_ij·log μ_ij − log y_ij!] + lgamma(α + Y) − lgamma(α) + α·log α − (α + Y)·log(α + M),
// Y = Σ_j y_ij, M = Σ_j μ_ij; a one-row group gives the negative binomial NB(size α, mean μ).
import * as E from '../../../engine/index';
import { digamma, lgamma as lgammaScalar } from '../../../kernels/reference/special';
import type { Fitted, Rows, TrainOptions, TrainSet } from '../types';
import { predictSeenGroups, trainConjugate } from './conjugate';
import { forwardRows } from './groupRows';

// log Γ elementwise, d/dx log Γ(x) = ψ(x). A primitive rather than a composition: the engine
// has no log Γ, and the reference special functions (fdlibm's lgamma, ψ by recurrence and the
// asymptotic series, Abramowitz & Stegun 6.3.18) are accurate to an ulp or two for x > 0,
// the only arguments the marginal passes (α > 0, α + Y > 0).
const Lgamma: E.Primitive = {
  name: 'lgamma',
  forward([x]) {
    const out = new E.Tensor(x.shape, x.backend);
    const xs = x.data, o = out.data; // views taken after the allocation, which may grow memory
    for (let i = 0; i < x.size; i++) o[i] = lgammaScalar(xs[i]);
    return out;
  },
  vjp(g, _ans, [x]) {
    const psi = new E.Tensor(x.shape, x.backend);
    const xs = x.data, o = psi.data;
    for (let i = 0; i < x.size; i++) o[i] = digamma(xs[i]);
    return [E.mul(g, psi)];
  },
};

const lgammaOp = E.defineOp(Lgamma);

/** log Γ(x) elementwise on the tape (x > 0). */
export const lgamma = (x: E.Tensor): E.Tensor => lgammaOp([x], undefined);

/**
 * −Σ_i log p(y_i) over the groups 0 … groups − 1 that `local` assigns the rows to, on the tape,
 * with η = log μ the network's output and α = e^{logAlpha}. A group without rows contributes 0
 * (Y = M = 0: its Gamma terms cancel), so every group's α terms appear `groups` times.
 */
export function pgnnNll(eta: E.Tensor, y: ArrayLike<number>, local: Int32Array, groups: number, logAlpha: E.Tensor): E.Tensor {
  const n = y.length;
  const Y = new Float64Array(groups);
  let logFactorials = 0;
  for (let r = 0; r < n; r++) {
    Y[local[r]] += y[r];
    logFactorials += lgammaScalar(y[r] + 1);
  }
  const e = E.reshape(eta, [n]);
  const alpha = E.exp(logAlpha);
  const M = E.scatterAddRows(E.exp(e), local, groups);
  const aY = E.add(E.tensor(Y), alpha);
  const poisson = E.sum(E.mul(E.tensor(y, [n]), e));
  const gammaTerms = E.sub(
    E.add(E.sum(lgamma(aY)), E.affine(E.sub(E.mul(alpha, logAlpha), lgamma(alpha)), groups, 0)),
    E.sum(E.mul(aY, E.log(E.add(M, alpha)))),
  );
  return E.affine(E.add(poisson, gammaTerms), -1, logFactorials);
}

interface GroupStats {
  /** Σ y, Σ μ and Σ (y·log μ − log y!) per group. */
  readonly Y: Float64Array;
  readonly M: Float64Array;
  readonly c: Float64Array;
}

function countStats(eta: Float64Array, rows: Rows, groups: number, into?: GroupStats): GroupStats {
  const s = into ?? { Y: new Float64Array(groups), M: new Float64Array(groups), c: new Float64Array(groups) };
  for (let k = 0; k < eta.length; k++) {
    const g = rows.group[k];
    if (!(g >= 0 && g < groups)) throw new Error(`row ${k}: group ${g} is not a training group 0..${groups - 1}`);
    const y = rows.y[k];
    s.Y[g] += y;
    s.M[g] += Math.exp(eta[k]);
    s.c[g] += y * eta[k] - lgammaScalar(y + 1);
  }
  return s;
}

function logLikAll(s: GroupStats, alpha: number): number {
  const prior = alpha * Math.log(alpha) - lgammaScalar(alpha);
  let ll = 0;
  for (let g = 0; g < s.Y.length; g++) {
    ll += s.c[g] + lgammaScalar(alpha + s.Y[g]) + prior - (alpha + s.Y[g]) * Math.log(alpha + s.M[g]);
  }
  return ll;
}

/** Fits PGNN by Adam on mini-batches of whole groups (bench/realdata/baselines/conjugate.ts). */
export function fitPgnn(set: TrainSet, o: TrainOptions): Fitted {
  if (set.family !== 'poisson') throw new Error(`PGNN models counts (poisson), not ${set.family}`);
  const { train, groups } = set;
  const nTrain = train.y.length;
  const net = E.mlp([train.p, ...o.hidden, 1], 'relu', o.seed);
  // The output bias starts at log ȳ, so the first epochs fit shape rather than level; α = 1.
  let ybar = 0;
  for (let k = 0; k < nTrain; k++) ybar += train.y[k] / nTrain;
  net.biases[net.biases.length - 1].data[0] = Math.log(Math.max(ybar, 1e-3));
  const logAlpha = E.param([0]);
  const params = [...net.parameters(), logAlpha];
  const dispose = (): void => params.forEach((t) => t.dispose());
  try {
    const { loop, all: st } = trainConjugate<GroupStats>(set, o, {
      net,
      extra: [logAlpha],
      batchNll: (eta, b) => pgnnNll(eta, b.y, b.local, b.groups, logAlpha),
      stats: (eta, rows, into) => countStats(eta, rows, groups, into),
      logLik: (s) => logLikAll(s, Math.exp(logAlpha.item())),
    });
    const alpha = Math.exp(logAlpha.item());
    // E[u_i | y_i] = (α + Y)/(α + M), the Gamma posterior's mean, from every row of the group.
    const shrink = st.Y.map((Y, g) => (alpha + Y) / (alpha + st.M[g]));
    const predictNew = (rows: Rows): Float64Array => forwardRows(net, rows).map(Math.exp);
    return {
      predictSeen: (rows) => predictSeenGroups(net, rows, groups, (eta, g) => Math.exp(eta) * shrink[g]),
      predictNew,
      // E[μu] = μ·E[u] = μ: the marginal mean over the prior is the fixed-effects prediction.
      predictNewMarginal: predictNew,
      info: {
        epochs: loop.epochs,
        bestEpoch: loop.bestEpoch,
        validNll: loop.bestValid,
        alpha,
        reVariance: 1 / alpha,
      },
      dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}
