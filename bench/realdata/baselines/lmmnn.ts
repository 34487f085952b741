// LMMNN (Simchoni & Rosset 2021, 2023): a Gaussian mixed model whose fixed part is a network,
// fitted on the exact marginal likelihood. With one random intercept per group,
//   y_i ~ N(f(X_i), V_i),   V_i = σ²I + σ_b²11ᵀ,
// and V_i's inverse and determinant have closed forms in O(n_i) (Sherman–Morrison, the matrix
// determinant lemma), so no n_i × n_i matrix is ever formed. This is the NGMM's Gaussian model
// with a scalar random intercept; docs/closed-form-marginals.md has the derivations.
import * as E from '../../../engine/index';
import type { Fitted, Rows, TrainOptions, TrainSet } from '../types';
import { predictSeenGroups, trainConjugate } from './conjugate';
import { forwardRows } from './groupRows';

const LOG_2PI = 1.8378770664093453;

/**
 * −Σ_i log N(y_i; η_i, σ²I + σ_b²11ᵀ) over the groups 0 … groups − 1 that `local` assigns the
 * rows to, on the tape. Per group, with r = y − η, S₁ = Σr, S₂ = Σr², D = σ² + nσ_b²:
 *   log det V = (n − 1)·log σ² + log D,   rᵀV⁻¹r = (S₂ − σ_b²S₁²/D)/σ².
 * A group without rows contributes 0 (its two log terms cancel), so Σ(n_i − 1) = n − groups.
 */
export function lmmnnNll(
  eta: E.Tensor, y: ArrayLike<number>, local: Int32Array, groups: number,
  logSigma: E.Tensor, logSigmaB: E.Tensor,
): E.Tensor {
  const n = y.length;
  const counts = new Float64Array(groups);
  for (let r = 0; r < n; r++) counts[local[r]]++;
  const r = E.sub(E.tensor(y, [n]), E.reshape(eta, [n]));
  const s1 = E.scatterAddRows(r, local, groups);
  const tau2 = E.exp(E.affine(logSigmaB, 2, 0));
  const D = E.add(E.mul(E.tensor(counts), tau2), E.exp(E.affine(logSigma, 2, 0)));
  const shrunk = E.mul(tau2, E.sum(E.div(E.square(s1), D)));
  const quad = E.mul(E.sub(E.sum(E.square(r)), shrunk), E.exp(E.affine(logSigma, -2, 0)));
  const logDet = E.add(E.affine(logSigma, 2 * (n - groups), 0), E.sum(E.log(D)));
  return E.affine(E.add(logDet, quad), 0.5, 0.5 * n * LOG_2PI);
}

interface GroupStats {
  readonly n: Float64Array;
  readonly s1: Float64Array;
  readonly s2: Float64Array;
}

function residualStats(f: Float64Array, rows: Rows, groups: number, into?: GroupStats): GroupStats {
  const s = into ?? { n: new Float64Array(groups), s1: new Float64Array(groups), s2: new Float64Array(groups) };
  for (let k = 0; k < f.length; k++) {
    const g = rows.group[k];
    if (!(g >= 0 && g < groups)) throw new Error(`row ${k}: group ${g} is not a training group 0..${groups - 1}`);
    const r = rows.y[k] - f[k];
    s.n[g]++;
    s.s1[g] += r;
    s.s2[g] += r * r;
  }
  return s;
}

/** The same log marginal as `lmmnnNll`, one group from its sufficient statistics (0 for n = 0). */
function groupLogLik(n: number, s1: number, s2: number, sigma2: number, tau2: number): number {
  const D = sigma2 + n * tau2;
  return -0.5 * (n * LOG_2PI + (n - 1) * Math.log(sigma2) + Math.log(D) + (s2 - (tau2 * s1 * s1) / D) / sigma2);
}

/** Fits LMMNN by Adam on mini-batches of whole groups (bench/realdata/baselines/conjugate.ts). */
export function fitLmmnn(set: TrainSet, o: TrainOptions): Fitted {
  if (set.family !== 'gaussian') throw new Error(`LMMNN models a Gaussian response, not ${set.family}`);
  const { train, groups } = set;
  const net = E.mlp([train.p, ...o.hidden, 1], 'relu', o.seed);
  // y is standardised: start with the variance split evenly between noise and groups.
  const logSigma = E.param([Math.log(Math.SQRT1_2)]);
  const logSigmaB = E.param([Math.log(Math.SQRT1_2)]);
  const params = [...net.parameters(), logSigma, logSigmaB];
  const dispose = (): void => params.forEach((t) => t.dispose());
  const variances = () => ({ sigma2: Math.exp(2 * logSigma.item()), tau2: Math.exp(2 * logSigmaB.item()) });
  try {
    const { loop, all: st } = trainConjugate<GroupStats>(set, o, {
      net,
      extra: [logSigma, logSigmaB],
      batchNll: (eta, b) => lmmnnNll(eta, b.y, b.local, b.groups, logSigma, logSigmaB),
      stats: (f, rows, into) => residualStats(f, rows, groups, into),
      logLik(s) {
        const { sigma2, tau2 } = variances();
        let ll = 0;
        for (let g = 0; g < groups; g++) ll += groupLogLik(s.n[g], s.s1[g], s.s2[g], sigma2, tau2);
        return ll;
      },
    });
    const { sigma2, tau2 } = variances();
    // The BLUP E[b_i | y_i] = σ_b²·1ᵀV⁻¹r = σ_b²·S₁/(σ² + nσ_b²), from every row of the group.
    const blup = st.s1.map((s1, g) => (tau2 * s1) / (sigma2 + st.n[g] * tau2));
    const predictNew = (rows: Rows): Float64Array => forwardRows(net, rows);
    return {
      predictSeen: (rows) => predictSeenGroups(net, rows, groups, (f, g) => f + blup[g]),
      predictNew,
      // Identity link: averaging f(x) + b over b ~ N(0, σ_b²) gives f(x) itself.
      predictNewMarginal: predictNew,
      info: {
        epochs: loop.epochs,
        bestEpoch: loop.bestEpoch,
        validNll: loop.bestValid,
        sigma: Math.sqrt(sigma2),
        sigmaB: Math.sqrt(tau2),
      },
      dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}
