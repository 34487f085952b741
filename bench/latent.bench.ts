// `npm run bench -- latent` (issue 15, bar 5): the latent model's marginal likelihood for one
// school of 30 simulated PISA students (bench/pisa/simulate.ts: rotated booklets, ~33 items
// each), with its gradient, at 3, 5 and 7 Gauss–Hermite nodes per dimension (K³ nodes per 3-D
// integral), for the fixed-effects (θ integrals only) and the mixed model (θ inside u).
// Cost: adaptation + ℓ at the nodes + the school log-marginal + its gradient in μ, Σ, g.
// Accuracy: against the same rule at 13 (FE) / 11 (ME) nodes, whose own error the marginal's
// tests bound at ≤ 1e−8 relative (test/ngmm/latent/marginal.test.ts, a brute-force grid).
import * as E from '../engine/index';
import { adaptSchools, innerLogLik } from '../ngmm/latent/adapt';
import { latentLogLik } from '../ngmm/latent/marginal';
import { studentLik } from '../ngmm/latent/pcm';
import { simulatePisa } from './pisa/simulate';
import { suite, table, type Section } from './lib';

export async function runLatent(): Promise<Section> {
  E.initSync();
  const sim = simulatePisa({ seed: 5, schools: 40, minStudents: 30, maxStudents: 30 });
  const lik = studentLik(sim.bank, sim.responses);
  // School 0's 30 students, at the truth's means, Σ and g (a realistic point in parameter space).
  const ids = Int32Array.from({ length: 30 }, (_, i) => i);
  const mu = Float64Array.from({ length: 90 }, (_, k) => sim.truth.f[k]);
  const S = sim.truth.Sigma;
  const L00 = Math.sqrt(S[0]), L10 = S[3] / L00, L20 = S[6] / L00, L11 = Math.sqrt(S[4] - L10 * L10), L21 = (S[7] - L20 * L10) / L11, L22 = Math.sqrt(S[8] - L20 * L20 - L21 * L21);
  const chol = Float64Array.of(Math.log(L00), Math.log(L11), Math.log(L22), L10, L20, L21);
  const g = sim.truth.g.slice(0, 3);
  const start = Int32Array.of(0, 30);
  const meas = { evaluate: (n: number, th: Float64Array, out: Float64Array) => lik.evaluate(ids[n], th, out) };
  const items = sim.responses.start[30] - sim.responses.start[0];
  const once = (nodes: number, mixed: boolean): number => {
    const rules = adaptSchools(meas, mu, chol, mixed ? g : null, start, { innerNodes: nodes, outerNodes: nodes });
    const ell = innerLogLik(rules, meas);
    return E.tidy(() => {
      const m = E.param(mu, [30, 3]), c = E.param(chol, [6]), gg = mixed ? E.param(g, [1, 3]) : null;
      const ll = latentLogLik(rules, m, c, gg, E.tensor(ell, [30, rules.K]));
      const v = ll.item();
      E.grad(E.sum(ll), gg ? [m, c, gg] : [m, c]);
      [m, c, gg].forEach((t) => t?.dispose());
      return v;
    });
  };
  const ref = { fe: once(13, false), me: once(11, true) };
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  for (const mixed of [false, true]) {
    const timings = await suite(`latent ${mixed ? 'ME' : 'FE'}`, [3, 5, 7].map((k) => ({ name: `${k} nodes`, fn: () => void once(k, mixed) })), 1);
    for (const k of [3, 5, 7]) {
      const v = once(k, mixed), r = mixed ? ref.me : ref.fe;
      const t = timings.get(`${k} nodes`)!;
      results.push({ model: mixed ? 'mixed' : 'fixed', nodes: k, ms: 1000 * t.median, logLik: v, absError: Math.abs(v - r), relError: Math.abs(v - r) / Math.abs(r) });
      rows.push([mixed ? 'mixed (θ in u)' : 'fixed effects (θ)', k, k ** 3, (1000 * t.median).toFixed(1), v.toFixed(6), Math.abs(v - r).toExponential(1), (Math.abs(v - r) / Math.abs(r)).toExponential(1)]);
    }
  }
  const md = [
    `One school of 30 simulated PISA students answering ${items} items in all (bench/pisa/simulate.ts, seed 5), at the generating model's μ, Σ and g. One evaluation = adaptation (each student's mode and curvature; the school's outer mode), ℓ at every inner node, the school log-marginal and its gradient in μ, Σ's log-Cholesky parameters and g. Error: against the same adaptive rule at 13 (fixed) or 11 (mixed) nodes per dimension, itself within 1e−8 relative of a brute-force grid (test/ngmm/latent/marginal.test.ts).`,
    '',
    table(['model', 'nodes per dimension', 'nodes per 3-D integral', 'ms (median)', 'log p(x_j)', 'absolute error', 'relative error'], rows),
    '',
    `Reference log-marginals: fixed effects ${ref.fe.toFixed(9)}, mixed ${ref.me.toFixed(9)}.`,
  ].join('\n');
  return { name: 'latent', title: 'Latent model: one school\'s marginal likelihood with its gradient (issue 15)', markdown: md, data: { students: 30, items, reference: ref, results } };
}
