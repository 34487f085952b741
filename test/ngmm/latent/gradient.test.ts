// Issue 15, bar 2: the gradient of the latent model's objective (−Σ_j log p(x_j), the rules
// adapted once and then held fixed) with respect to every parameter — Σ's log-Cholesky
// parameters, Γ and the intercepts (linear backgrounds), the network f and its embeddings, the
// school-scale map g (linear or a network), and the step difficulties when estimated —
// against central finite differences of the same fixed-rule objective, for all four
// background models (fast-check over parameter points and coordinates).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initSync } from '../../../engine/backend';
import * as E from '../../../engine/index';
import { simulatePisa } from '../../../bench/pisa/simulate';
import { BACKGROUNDS } from '../../../ngmm/latent/background';
import { buildLatent, bySchool, type LatentData } from '../../../ngmm/latent/fit';

initSync();

const sim = simulatePisa({ seed: 21, schools: 3, minStudents: 5, maxStudents: 6 });
const data: LatentData = {
  bank: sim.bank, responses: sim.responses, school: sim.school, nSchools: sim.nSchools,
  covariates: { num: sim.xNum.values, numNames: sim.xNum.names, cat: sim.xCat.values, catNames: sim.xCat.names, catLevels: sim.xCat.levels },
  z: sim.z.values, pZ: sim.z.cols,
};
const all = Int32Array.from({ length: sim.nStudents }, (_, i) => i);

describe('latent model: the objective’s gradient', () => {
  for (const kind of BACKGROUNDS) {
    it(`${kind}, difficulties estimated: every parameter against central differences`, () => {
      const heap0 = E.backend().heap.inUse;
      const m = buildLatent(data, kind, all, { estimateSteps: true, innerNodes: 3, outerNodes: 3, hidden: [5], hiddenG: [3], embedDim: 2, seed: 3 });
      const params = m.parameters();
      try {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(), (seed, ki) => {
            // A parameter point away from the start (zero g weights, Σ = I …): small random moves.
            const rng = new E.Rng(seed);
            for (const p of params) for (let i = 0; i < p.size; i++) p.data[i] += 0.15 * rng.normal();
            const batch = m.prepare(bySchool(sim.school, all));
            const f = () => E.noGrad(() => E.tidy(() => m.negLogLikWith(batch).item()));
            const grads = E.tidy(() => E.grad(m.negLogLikWith(batch), params).map((t) => t.toArray()));
            // One coordinate of every parameter tensor per run.
            params.forEach((p, pi) => {
              const k = (ki + 7 * pi) % p.size, v = p.data[k];
              // h = 1e−5: the objective is ~10² with rounding ~1e−13, so the difference's
              // rounding error is ~1e−8 absolute and its truncation h²·f'''/6 ~1e−9.
              const h = 1e-5;
              p.data[k] = v + h;
              const fp = f();
              p.data[k] = v - h;
              const fm = f();
              p.data[k] = v;
              const fd = (fp - fm) / (2 * h);
              expect(Math.abs(grads[pi][k] - fd), `parameter ${pi} [${k}]`).toBeLessThan(1e-5 * Math.max(1, Math.abs(fd)));
            });
          }),
          { numRuns: 12 },
        );
      } finally {
        m.dispose();
      }
      expect(E.backend().heap.inUse).toBe(heap0);
    });
  }
});

describe('latent model: proficiency estimates', () => {
  it('posterior means follow the true θ and posterior SDs are below the prior SDs', () => {
    const m = buildLatent(data, 'me-lin', all, { innerNodes: 5, outerNodes: 5 });
    try {
      const { students, mean, sd } = m.proficiency(bySchool(sim.school, all));
      const { Sigma } = m.background.sigma();
      expect(students.length).toBe(sim.nStudents);
      // At the start Σ = I and g = 0.3: the prior SD per domain is √(1 + 0.09); ~11 responses
      // per domain must narrow it (a student with no item in a domain keeps it: ≤, not <).
      for (let i = 0; i < students.length; i++) {
        for (let d = 0; d < 3; d++) {
          expect(sd[i * 3 + d]).toBeLessThanOrEqual(Math.sqrt(Sigma[d * 4] + 0.09) + 1e-9);
          expect(Number.isFinite(mean[i * 3 + d])).toBe(true);
        }
      }
      // Even from the starting parameters, the estimates correlate with the simulated θ in
      // mathematics (every student answers maths items): r > 0.5 for ~17 students is far
      // beyond what chance gives (P < 2 %).
      const x = Array.from(students, (s) => sim.truth.theta[s * 3 + 1]), y = Array.from(students, (_, i) => mean[i * 3 + 1]);
      const mx = x.reduce((a, v) => a + v, 0) / x.length, my = y.reduce((a, v) => a + v, 0) / y.length;
      const cov = x.reduce((a, v, i) => a + (v - mx) * (y[i] - my), 0);
      const r = cov / Math.sqrt(x.reduce((a, v) => a + (v - mx) ** 2, 0) * y.reduce((a, v) => a + (v - my) ** 2, 0));
      expect(r).toBeGreaterThan(0.5);
    } finally {
      m.dispose();
    }
  });
});
