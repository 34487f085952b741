// The partial-credit model (ngmm/latent/pcm.ts) against an independent direct formula
// P(x = c | θ) = exp(Σ_{h ≤ c}(θ − δ_h)) / Σ_j exp(Σ_{h ≤ j}(θ − δ_h)) written here (no
// log-sum-exp; exact enough for |θ|, |δ| ≤ 6 and m ≤ 4, where no exponent passes e^40), its
// derivatives against central finite differences, the per-student sums against sums written
// here, the tape op's VJP, identification, and messages for bad inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as E from '../../../engine/index';
import { NgmmError } from '../../../ngmm/errors';
import {
  addStepGradient, domainShift, identify, itemLogProbs, itemMoments, pcmAtNodes, studentLik,
} from '../../../ngmm/latent/pcm';
import type { ItemBank, Responses } from '../../../ngmm/latent/types';
import { checkVjp, weights } from '../../helpers/checkVjp';
import { thrown } from '../../helpers/thrown';

function directProbs(d: readonly number[], theta: number): number[] {
  const num = [1];
  let s = 0;
  for (const dh of d) {
    s += theta - dh;
    num.push(Math.exp(s));
  }
  const Z = num.reduce((a, b) => a + b, 0);
  return num.map((v) => v / Z);
}
const directLogP = (d: readonly number[], theta: number, c: number) => Math.log(directProbs(d, theta)[c]);
const directMean = (d: readonly number[], theta: number) => directProbs(d, theta).reduce((a, p, c) => a + c * p, 0);

const logProbs = (d: readonly number[], theta: number) => {
  const out = new Float64Array(d.length + 1);
  itemLogProbs(d, 0, d.length, theta, out);
  return out;
};

const stepsArb = fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 4 });
const thetaArb = fc.double({ min: -6, max: 6, noNaN: true });

describe('one item', () => {
  it('category probabilities match the direct formula', () => {
    // Both sides are a handful of exps and one division: agreement to ~1e−15 relative; 1e−12
    // leaves room for the direct formula's own rounding on the smallest category (≥ e^−40).
    fc.assert(fc.property(stepsArb, thetaArb, (d, theta) => {
      const lp = logProbs(d, theta), p = directProbs(d, theta);
      for (let c = 0; c <= d.length; c++) expect(Math.abs(Math.exp(lp[c]) - p[c])).toBeLessThanOrEqual(1e-12 * p[c] + 1e-300);
    }), { numRuns: 300 });
  });

  it('stays finite where the direct formula overflows', () => {
    const d = [0.5, -1, 2];
    expect(directProbs(d, 800).some(Number.isNaN)).toBe(true);
    const hi = logProbs(d, 800), lo = logProbs(d, -800);
    // At θ = 800 the top category holds all but e^{−(800 − 2)} of the mass; at −800, category 0.
    expect(hi[3]).toBeCloseTo(0, 15);
    expect(lo[0]).toBeCloseTo(0, 15);
    // log P(2) − log P(3) = δ_3 − θ exactly: the log domain keeps what the probability loses.
    expect(hi[2] - hi[3]).toBeCloseTo(2 - 800, 9);
    for (const v of [...hi, ...lo]) expect(Number.isFinite(v)).toBe(true);
  });

  it('∂/∂θ log P = c − E[X] and ∂²/∂θ² log P = −Var[X] match finite differences', () => {
    // Central differences, h = 1e−5: truncation h²|f'''|/6 ≲ 1e−10 (|f'''| ≤ m³), rounding
    // ε|f|/h ≲ 1e−9 for |log P| ≤ 40: tolerance 1e−7. The second derivative differences the
    // direct formula's c − E[X] (an independent first derivative), same error budget.
    fc.assert(fc.property(stepsArb, thetaArb, fc.nat(), (d, theta, cc) => {
      const m = d.length, c = cc % (m + 1), h = 1e-5;
      const { mean, variance } = itemMoments(logProbs(d, theta), m);
      const fd1 = (directLogP(d, theta + h, c) - directLogP(d, theta - h, c)) / (2 * h);
      expect(Math.abs(c - mean - fd1)).toBeLessThanOrEqual(1e-7);
      const fd2 = -(directMean(d, theta + h) - directMean(d, theta - h)) / (2 * h);
      expect(Math.abs(-variance - fd2)).toBeLessThanOrEqual(1e-7);
    }), { numRuns: 300 });
  });

  it('∂/∂δ_h log P = P(X ≥ h) − 1[h ≤ c] matches finite differences', () => {
    fc.assert(fc.property(stepsArb, thetaArb, fc.nat(), fc.double({ min: 0.1, max: 3, noNaN: true }), (d, theta, cc, w) => {
      const m = d.length, c = cc % (m + 1), h = 1e-5;
      const g = new Float64Array(m + 2);
      addStepGradient(logProbs(d, theta), m, c, w, g, 1);
      expect(g[0]).toBe(0);
      expect(g[m + 1]).toBe(0);
      for (let j = 0; j < m; j++) {
        const dp = d.slice(), dm = d.slice();
        dp[j] += h;
        dm[j] -= h;
        const fd = (w * (directLogP(dp, theta, c) - directLogP(dm, theta, c))) / (2 * h);
        expect(Math.abs(g[1 + j] - fd)).toBeLessThanOrEqual(3e-7);
      }
    }), { numRuns: 300 });
  });
});

// A bank of 9 items over 3 domains with 1–3 steps, and students answering random subsets in
// random order (rotated booklets); student 0 never sees a science item.
function makeData(seed: number, nStudents = 6): { bank: ItemBank; resp: Responses } {
  const rng = new E.Rng(seed);
  const domain = Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1, 2]);
  const K = domain.length;
  const stepStart = new Int32Array(K + 1);
  for (let k = 0; k < K; k++) stepStart[k + 1] = stepStart[k] + 1 + Math.floor(3 * rng.uniform());
  const steps = Float64Array.from({ length: stepStart[K] }, () => 1.2 * rng.normal());
  const start = [0], item: number[] = [], score: number[] = [];
  for (let s = 0; s < nStudents; s++) {
    const order = Array.from({ length: K }, (_, k) => k).sort(() => rng.uniform() - 0.5);
    for (const k of order) {
      if (s === 0 && domain[k] === 2) continue;
      if (rng.uniform() < 0.3) continue;
      item.push(k);
      score.push(Math.floor(rng.uniform() * (stepStart[k + 1] - stepStart[k] + 1)));
    }
    start.push(item.length);
  }
  return { bank: { domain, stepStart, steps }, resp: { start: Int32Array.from(start), item: Int32Array.from(item), score: Int32Array.from(score) } };
}

const itemSteps = (bank: ItemBank, k: number, steps: ArrayLike<number> = bank.steps) =>
  Array.from(steps).slice(bank.stepStart[k], bank.stepStart[k + 1]);

// Student s's log-likelihood and c − E[X] per domain, by hand with the direct formula.
function byHand(bank: ItemBank, resp: Responses, s: number, theta: ArrayLike<number>, steps: ArrayLike<number> = bank.steps) {
  let ll = 0;
  const g = [0, 0, 0], perDomain = [0, 0, 0];
  for (let r = resp.start[s]; r < resp.start[s + 1]; r++) {
    const k = resp.item[r], d = bank.domain[k], c = resp.score[r], st = itemSteps(bank, k, steps);
    const lp = directLogP(st, theta[d], c);
    ll += lp;
    perDomain[d] += lp;
    g[d] += c - directMean(st, theta[d]);
  }
  return { ll, g, perDomain };
}

describe('studentLik', () => {
  it('log-likelihood, gradient and Hessian diagonal match sums written by hand and finite differences', () => {
    // Value and gradient: the same terms summed in another way, ~1e−14 relative; 1e−11
    // absolute for sums of ≤ 9 terms of size ≤ 20. Hessian: central differences (h = 1e−5) of
    // the hand-written gradient, error ≲ 1e−9 as in the one-item test.
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.array(thetaArb, { minLength: 3, maxLength: 3 }), (seed, th) => {
      const { bank, resp } = makeData(seed);
      const lik = studentLik(bank, resp);
      const out = new Float64Array(7), h = 1e-5;
      for (let s = 0; s < lik.students; s++) {
        const theta = Float64Array.from(th);
        lik.evaluate(s, theta, out);
        const hand = byHand(bank, resp, s, theta);
        expect(Math.abs(out[0] - hand.ll)).toBeLessThanOrEqual(1e-11);
        for (let d = 0; d < 3; d++) {
          expect(Math.abs(out[1 + d] - hand.g[d])).toBeLessThanOrEqual(1e-11);
          expect(Math.abs(lik.domainLogLik(s, d, theta[d]) - hand.perDomain[d])).toBeLessThanOrEqual(1e-11);
          const tp = theta.slice(), tm = theta.slice();
          tp[d] += h;
          tm[d] -= h;
          const fd = (byHand(bank, resp, s, tp).g[d] - byHand(bank, resp, s, tm).g[d]) / (2 * h);
          expect(Math.abs(out[4 + d] - fd)).toBeLessThanOrEqual(1e-7);
        }
      }
    }), { numRuns: 25 });
  });

  it('a domain without items contributes exactly 0', () => {
    const { bank, resp } = makeData(7);
    const lik = studentLik(bank, resp), out = new Float64Array(7);
    lik.evaluate(0, Float64Array.from([0.3, -0.2, 1.7]), out);
    expect(out[3]).toBe(0);
    expect(out[6]).toBe(0);
    expect(lik.domainLogLik(0, 2, 1.7)).toBe(0);
    // …and the science proficiency does not move the total.
    const out2 = new Float64Array(7);
    lik.evaluate(0, Float64Array.from([0.3, -0.2, -4]), out2);
    expect(out2[0]).toBe(out[0]);
  });

  it('probs gives the direct formula for every item', () => {
    const { bank, resp } = makeData(3);
    const lik = studentLik(bank, resp), out = new Float64Array(4);
    for (let k = 0; k < bank.domain.length; k++) {
      for (const t of [-2.5, 0, 1.3]) {
        lik.probs(k, t, out);
        const p = directProbs(itemSteps(bank, k), t);
        p.forEach((v, c) => expect(Math.abs(out[c] - v)).toBeLessThanOrEqual(1e-14));
      }
    }
  });
});

describe('bad inputs', () => {
  const good = () => {
    const { bank, resp } = makeData(11, 4);
    const copy = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, (v as Int32Array).slice()])) as T;
    return { bank: copy(bank), resp: copy(resp) };
  };
  const msg = (bank: ItemBank, resp: Responses) => thrown(NgmmError, () => studentLik(bank, resp)).message;

  it('name the student and item', () => {
    let g = good();
    const r = g.resp.start[2];
    const k = g.resp.item[r], m = g.bank.stepStart[k + 1] - g.bank.stepStart[k];
    (g.resp.score as Int32Array)[r] = m + 1;
    expect(msg(g.bank, g.resp)).toBe(`student 2, item ${k}: score ${m + 1} is outside 0 … ${m}`);

    g = good();
    (g.resp.score as Int32Array)[r] = -1;
    expect(msg(g.bank, g.resp)).toBe(`student 2, item ${k}: score -1 is outside 0 … ${m}`);

    g = good();
    (g.resp.item as Int32Array)[r] = 9;
    expect(msg(g.bank, g.resp)).toBe('student 2: item 9 is not in the bank (items 0 … 8)');

    g = good();
    (g.resp.item as Int32Array)[r + 1] = g.resp.item[r];
    expect(msg(g.bank, g.resp)).toBe(`student 2, item ${k}: answered more than once`);

    g = good();
    (g.bank.domain as Int32Array)[4] = 3;
    expect(msg(g.bank, g.resp)).toBe('item 4: domain 3 is not 0, 1 or 2');

    g = good();
    (g.bank.steps as Float64Array)[g.bank.stepStart[5]] = NaN;
    expect(msg(g.bank, g.resp)).toBe('item bank: item 5, step 1 is NaN (must be finite)');

    g = good();
    expect(msg({ ...g.bank, steps: g.bank.steps.subarray(1) }, g.resp)).toMatch(/^item bank: stepStart ends at \d+ but there are \d+ steps$/);
    expect(msg(g.bank, { ...g.resp, score: g.resp.score.subarray(1) })).toMatch(/^responses: \d+ items but \d+ scores$/);
  });

  it('studentLik and pcmAtNodes refuse a student that is not there', () => {
    const { bank, resp } = good();
    const lik = studentLik(bank, resp);
    expect(thrown(NgmmError, () => lik.evaluate(4, new Float64Array(3), new Float64Array(7))).message)
      .toBe('student 4 is not among the 4 students (0 … 3)');
    E.tidy(() => {
      const st = E.tensor(bank.steps);
      expect(thrown(NgmmError, () => pcmAtNodes(bank, resp, Int32Array.from([0, 7]), new Float64Array(6), 1, st)).message)
        .toBe('pcmAtNodes: students[1] = 7 is not among the 4 students');
      expect(thrown(NgmmError, () => pcmAtNodes(bank, resp, Int32Array.from([0]), new Float64Array(6), 1, st)).message)
        .toBe('pcmAtNodes: nodes has 6 entries, expected 1 students × 1 nodes × 3');
      expect(thrown(NgmmError, () => pcmAtNodes(bank, resp, Int32Array.from([0]), new Float64Array(3), 1, E.tensor([1, 2]))).message)
        .toMatch(/^pcmAtNodes: steps has 2 entries but the bank has \d+ steps$/);
    });
  });
});

describe('pcmAtNodes', () => {
  function nodesFor(seed: number, n: number, M: number) {
    const rng = new E.Rng(seed);
    return Float64Array.from({ length: n * M * 3 }, () => 1.5 * rng.normal());
  }

  it('each entry is the student\'s log-likelihood at that node, with the steps from the tensor', () => {
    const { bank, resp } = makeData(5);
    const students = Int32Array.from([3, 0, 5, 3]), M = 4, nodes = nodesFor(1, students.length, M);
    const other = bank.steps.map((v, j) => v + 0.1 * j);
    const before = E.backend().heap.inUse;
    const got = E.tidy(() => pcmAtNodes(bank, resp, students, nodes, M, E.tensor(other)).toArray());
    expect(E.backend().heap.inUse).toBe(before);
    for (let i = 0; i < students.length; i++) {
      for (let m = 0; m < M; m++) {
        const want = byHand(bank, resp, students[i], nodes.subarray((i * M + m) * 3, (i * M + m + 1) * 3), other).ll;
        expect(Math.abs(got[i * M + m] - want)).toBeLessThanOrEqual(1e-11);
      }
    }
  });

  it('its VJP in the steps matches finite differences', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
      const { bank, resp } = makeData(seed);
      const students = Int32Array.from([0, 1, 2, 3, 4, 5]), M = 3, nodes = nodesFor(seed + 1, 6, M);
      const w = weights(6 * M, seed + 2);
      const before = E.backend().heap.inUse;
      const r = checkVjp((st) => E.sum(E.mul(pcmAtNodes(bank, resp, students, nodes, M, st), E.tensor(w, [6, M]))),
        [{ values: bank.steps.slice(), shape: [bank.steps.length] }], seed);
      expect(E.backend().heap.inUse).toBe(before);
      // checkVjp's Richardson-extrapolated central difference is good to ~1e−9 relative here.
      expect(r.worst, r.details).toBeLessThanOrEqual(1e-7);
    }), { numRuns: 20 });
  });

  it('is invariant to one shift of a domain\'s θ and δ together (why δ needs identifying)', () => {
    const { bank, resp } = makeData(9);
    const students = Int32Array.from([0, 1, 2]), M = 2, nodes = nodesFor(4, 3, M);
    const a = [0.7, -1.1, 2.3];
    const shiftedSteps = bank.steps.slice(), shiftedNodes = nodes.map((v, j) => v + a[j % 3]);
    for (let k = 0; k < bank.domain.length; k++) for (let j = bank.stepStart[k]; j < bank.stepStart[k + 1]; j++) shiftedSteps[j] += a[bank.domain[k]];
    E.tidy(() => {
      const x = pcmAtNodes(bank, resp, students, nodes, M, E.tensor(bank.steps)).toArray();
      const y = pcmAtNodes(bank, resp, students, shiftedNodes, M, E.tensor(shiftedSteps)).toArray();
      x.forEach((v, j) => expect(Math.abs(v - y[j])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v))));
    });
  });
});

describe('identify', () => {
  it('centres the steps within each domain; its VJP matches finite differences', () => {
    const { bank } = makeData(13);
    const raw = bank.steps.map((v, j) => v + 0.3 * j);
    const before = E.backend().heap.inUse;
    const got = E.tidy(() => identify(bank, E.tensor(raw)).toArray());
    expect(E.backend().heap.inUse).toBe(before);
    const sums = [0, 0, 0], means = [0, 0, 0], counts = [0, 0, 0];
    for (let k = 0; k < bank.domain.length; k++) for (let j = bank.stepStart[k]; j < bank.stepStart[k + 1]; j++) {
      sums[bank.domain[k]] += got[j];
      means[bank.domain[k]] += raw[j];
      counts[bank.domain[k]]++;
    }
    for (const s of sums) expect(Math.abs(s)).toBeLessThanOrEqual(1e-13);
    // Same answer as raw minus domainShift, and a shift of raw within a domain changes nothing.
    const shift = domainShift(bank, raw);
    for (let d = 0; d < 3; d++) expect(Math.abs(shift[d] - means[d] / counts[d])).toBeLessThanOrEqual(1e-14);
    for (let k = 0; k < bank.domain.length; k++) for (let j = bank.stepStart[k]; j < bank.stepStart[k + 1]; j++) {
      expect(Math.abs(got[j] - (raw[j] - shift[bank.domain[k]]))).toBeLessThanOrEqual(1e-14);
    }
    const w = weights(raw.length, 2);
    const r = checkVjp((x) => E.sum(E.mul(identify(bank, x), E.tensor(w))), [{ values: raw, shape: [raw.length] }]);
    expect(r.worst, r.details).toBeLessThanOrEqual(1e-8);
  });
});
