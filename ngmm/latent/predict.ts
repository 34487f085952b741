// Predictive metrics of the latent model (issue 15; the paper's Appendix 15.4): for a student
// the model has not seen, per domain d, (1) the accuracy of the most probable category of each
// item response and (2) the negative log marginal likelihood of the student's responses in d,
// both under the student's predictive distribution of θ_d — a Gaussian (a fixed-effects model,
// or a new school with the school effect integrated: Var = Σ_dd + g_d²) or a mixture of
// Gaussians over the school's posterior u-nodes (a seen school: θ_d | u ~ N(μ_d + g_d u_d, Σ_dd)).
// Each domain is then a 1-D integral; a fixed Gauss–Hermite rule over each component is exact to
// well below the metrics' precision (the responses of ≤ 20 items narrow θ_d by a factor ≈ 2–3,
// which 40 nodes resolve: checked against 120 nodes in the tests).
import { gaussHermite } from '../marginal/gaussHermite';
import type { StudentLik } from './pcm';
import type { ItemBank, Responses } from './types';

/** A mixture of Gaussians over θ_d: weights (summing to 1), means and SDs. */
export interface DomainPrior {
  readonly weight: ArrayLike<number>;
  readonly mean: ArrayLike<number>;
  readonly sd: ArrayLike<number>;
}

export interface DomainScore {
  /** −log p(x_{s,d} | prior): the student's responses in domain d. */
  readonly nll: number;
  /** Item responses in d whose most probable category (under the predictive) was observed. */
  readonly correct: number;
  readonly answered: number;
}

export const PREDICT_NODES = 40;

/** The metrics of student s in domain d, or null when the student answered no item of d. */
export function domainScore(bank: ItemBank, resp: Responses, lik: StudentLik, s: number, d: number, prior: DomainPrior, nodes = PREDICT_NODES): DomainScore | null {
  const items: number[] = [], scores: number[] = [];
  for (let t = resp.start[s]; t < resp.start[s + 1]; t++) {
    if (bank.domain[resp.item[t]] === d) {
      items.push(resp.item[t]);
      scores.push(resp.score[t]);
    }
  }
  if (items.length === 0) return null;
  const rule = gaussHermite(nodes);
  // Nodes θ = m + sd·ξ with weights w (the rule is for N(0, 1)); log-sum-exp over all of them.
  const logTerms: number[] = [];
  const pred = items.map((k) => new Float64Array(bank.stepStart[k + 1] - bank.stepStart[k] + 1));
  let maxM = 1;
  for (const k of items) maxM = Math.max(maxM, bank.stepStart[k + 1] - bank.stepStart[k]);
  const p = new Float64Array(maxM + 1);
  for (let c = 0; c < prior.weight.length; c++) {
    if (!(prior.weight[c] > 0)) continue;
    for (let i = 0; i < rule.nodes.length; i++) {
      const th = prior.mean[c] + prior.sd[c] * rule.nodes[i];
      const w = prior.weight[c] * rule.weights[i];
      logTerms.push(Math.log(w) + lik.domainLogLik(s, d, th));
      items.forEach((k, j) => {
        lik.probs(k, th, p);
        for (let x = 0; x < pred[j].length; x++) pred[j][x] += w * p[x];
      });
    }
  }
  const max = Math.max(...logTerms);
  const nll = -(max + Math.log(logTerms.reduce((acc, v) => acc + Math.exp(v - max), 0)));
  let correct = 0;
  items.forEach((_, j) => {
    let best = 0;
    for (let x = 1; x < pred[j].length; x++) if (pred[j][x] > pred[j][best]) best = x;
    if (best === scores[j]) correct++;
  });
  return { nll, correct, answered: items.length };
}
