// The PISA-like simulator has the design and the distributions bench/pisa/README.md documents.
// Expected values are computed here independently (the partial-credit probabilities, the
// booklet contents, least squares, the linear coding); bounds are k standard errors of the
// statistic at the sample size used, with k stated.
import { describe, expect, it } from 'vitest';
import { BOOKLETS, CLUSTERS, MISSING_RATE, simulatePisa, type PisaData } from '../../../bench/pisa/simulate';

const base = simulatePisa({ seed: 11 }); // defaults: 150 schools of 20–40 students, nonlinear truth
const N = base.nStudents;

/** P(x = c | θ) of the partial-credit model from its definition, exp(cθ − Σ_{h≤c} δ_h) / Σ. */
function pcm(theta: number, deltas: number[]): number[] {
  const w = [1];
  let cum = 0;
  for (let c = 1; c <= deltas.length; c++) {
    cum += deltas[c - 1];
    w.push(Math.exp(c * theta - cum));
  }
  const t = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / t);
}

const stepsOf = (d: PisaData, k: number) => Array.from(d.bank.steps.subarray(d.bank.stepStart[k], d.bank.stepStart[k + 1]));
const domainOf = (name: string) => ({ R: 0, M: 1, S: 2 })[name[1] as 'R' | 'M' | 'S'];
const arraysOf = (d: PisaData) => [
  d.bank.domain, d.bank.stepStart, d.bank.steps, d.responses.start, d.responses.item, d.responses.score,
  d.school, d.booklet, d.xNum.values, d.xCat.values, d.xLinear.values, d.z.values,
  d.truth.theta, d.truth.f, d.truth.u, d.truth.g, d.truth.Sigma,
];

/** Solves the normal equations of y on [1, X] (Gaussian elimination with partial pivoting); returns the residual variance. */
function lsResidualVariance(X: Float64Array, p: number, y: (s: number) => number, n: number): number {
  const q = p + 1, M = Array.from({ length: q }, () => new Float64Array(q + 1));
  const row = new Float64Array(q);
  for (let s = 0; s < n; s++) {
    row[0] = 1;
    row.set(X.subarray(s * p, (s + 1) * p), 1);
    const v = y(s);
    for (let i = 0; i < q; i++) {
      for (let j = 0; j < q; j++) M[i][j] += row[i] * row[j];
      M[i][q] += row[i] * v;
    }
  }
  for (let i = 0; i < q; i++) {
    let piv = i;
    for (let r = i + 1; r < q; r++) if (Math.abs(M[r][i]) > Math.abs(M[piv][i])) piv = r;
    [M[i], M[piv]] = [M[piv], M[i]];
    for (let r = 0; r < q; r++) {
      if (r === i) continue;
      const a = M[r][i] / M[i][i];
      for (let c = i; c <= q; c++) M[r][c] -= a * M[i][c];
    }
  }
  const beta = M.map((r, i) => r[q] / r[i]);
  let rss = 0;
  for (let s = 0; s < n; s++) {
    let v = beta[0];
    for (let k = 0; k < p; k++) v += beta[k + 1] * X[s * p + k];
    rss += (y(s) - v) ** 2;
  }
  return rss / n;
}

describe('PISA simulator', () => {
  it('is a deterministic function of the seed; the truth options leave items, covariates and draws alone', () => {
    const a = simulatePisa({ seed: 5, schools: 20 }), b = simulatePisa({ seed: 5, schools: 20 });
    arraysOf(a).forEach((x, i) => expect(arraysOf(b)[i]).toEqual(x));
    const c = simulatePisa({ seed: 6, schools: 20 });
    for (const [x, y] of [[a.bank.steps, c.bank.steps], [a.truth.theta, c.truth.theta], [a.xNum.values, c.xNum.values]] as const) {
      expect(x.length === y.length && x.every((v, i) => Object.is(v, y[i]))).toBe(false);
    }
    // Without the school effect θ loses exactly g ⊙ u and everything upstream is unchanged.
    const off = simulatePisa({ seed: 5, schools: 20, schoolEffect: false });
    expect(off.bank.steps).toEqual(a.bank.steps);
    expect(off.xCat.values).toEqual(a.xCat.values);
    expect(off.booklet).toEqual(a.booklet);
    expect(off.truth.u).toEqual(a.truth.u);
    expect(off.truth.g.every((v) => v === 0)).toBe(true);
    let worst = 0;
    for (let s = 0; s < a.nStudents; s++) {
      for (let d = 0; d < 3; d++) {
        const j = a.school[s], want = a.truth.theta[3 * s + d] - a.truth.g[3 * j + d] * a.truth.u[3 * j + d];
        worst = Math.max(worst, Math.abs(off.truth.theta[3 * s + d] - want));
      }
    }
    expect(worst).toBeLessThan(1e-12); // one rounding of f + g·u + ε against f + ε
  });

  it('uses the PISA 2012 booklet design: each cluster once per position, mathematics in every booklet', () => {
    expect(BOOKLETS.length).toBe(13);
    for (let p = 0; p < 4; p++) expect(new Set(BOOKLETS.map((b) => b[p])).size).toBe(13);
    const without = (letter: string) => BOOKLETS.filter((b) => !b.some((c) => c[1] === letter)).map((_, i) => i);
    expect(BOOKLETS.flatMap((b, i) => (b.some((c) => c[1] === 'R') ? [] : [i + 1]))).toEqual([1, 5, 7, 10]);
    expect(BOOKLETS.flatMap((b, i) => (b.some((c) => c[1] === 'S') ? [] : [i + 1]))).toEqual([4, 6, 9, 11]);
    expect(without('M')).toEqual([]);
  });

  it('gives each student exactly the items of one booklet, rotated within schools, covering every item', () => {
    // Item ranges per cluster from the default cluster sizes [12, 5, 12], independently of the code.
    const size = [12, 5, 12], start = [0];
    for (const c of CLUSTERS) start.push(start[start.length - 1] + size[domainOf(c)]);
    expect(start[13]).toBe(base.bank.domain.length);
    const bookletItems = BOOKLETS.map((b) => {
      const items: number[] = [];
      for (const c of b) for (let k = start[CLUSTERS.indexOf(c)]; k < start[CLUSTERS.indexOf(c) + 1]; k++) items.push(k);
      return items.sort((x, y) => x - y);
    });
    const { start: rs, item } = base.responses;
    const taken = new Int32Array(base.bank.domain.length);
    for (let s = 0; s < N; s++) {
      const mine = Array.from(item.subarray(rs[s], rs[s + 1]));
      expect(mine).toEqual(bookletItems[base.booklet[s]]);
      for (const k of mine) taken[k]++;
    }
    for (let k = 0; k < start[13]; k++) {
      const cluster = start.findIndex((v, c) => k >= v && k < start[c + 1]);
      expect(base.bank.domain[k]).toBe(domainOf(CLUSTERS[cluster]));
    }
    // Rotation: a school's booklet counts differ by at most one, so each item is taken by
    // 4/13 of the students up to one student per school.
    for (let j = 0; j < base.nSchools; j++) {
      const counts = new Array(13).fill(0);
      for (let s = 0; s < N; s++) if (base.school[s] === j) counts[base.booklet[s]]++;
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    for (const t of taken) expect(Math.abs(t - (4 / 13) * N)).toBeLessThanOrEqual(4 * base.nSchools);
    expect(Math.min(...taken)).toBeGreaterThan(0.25 * N);
    // Students without reading items: booklets 1, 5, 7, 10.
    const noReading = Array.from(base.booklet).filter((b) => [0, 4, 6, 9].includes(b)).length / N;
    expect(Math.abs(noReading - 4 / 13)).toBeLessThan((4 * base.nSchools) / N);
  });

  it('builds an item bank of the documented mix: ~25 % partial-credit items, locations within ±2.5', () => {
    const K = base.bank.domain.length;
    const perDomain = [0, 0, 0], poly = [0, 0, 0], four = [0, 0, 0];
    for (let k = 0; k < K; k++) {
      const d = base.bank.domain[k], m = base.bank.stepStart[k + 1] - base.bank.stepStart[k];
      perDomain[d]++;
      if (m > 1) poly[d]++;
      if (m === 3) four[d]++;
      expect(m === 1 || m === 2 || m === 3).toBe(true);
      const loc = stepsOf(base, k).reduce((a, b) => a + b, 0) / m;
      expect(Math.abs(loc)).toBeLessThanOrEqual(2.5 + 1e-12);
    }
    expect(perDomain).toEqual([36, 35, 36]);
    expect(poly).toEqual([9, 9, 9]); // round(0.25 · n_d)
    expect(four).toEqual([3, 3, 3]); // round(0.3 · 9)

    // Steps: increasing on average, reversed with probability Φ(−0.9 / (0.55√2)) = 0.124 per
    // adjacent pair. A bank of only polytomous items gives ~500 pairs: SE √(0.124·0.876/500) ≈ 0.015;
    // the bound is ±4 SE (pairs within an item are mildly dependent).
    const big = simulatePisa({ seed: 2, schools: 1, clusterItems: [30, 30, 30], polytomousShare: 1 });
    let pairs = 0, reversed = 0, rise = 0;
    const locs: number[] = [];
    for (let k = 0; k < big.bank.domain.length; k++) {
      const st = stepsOf(big, k);
      locs.push(st.reduce((a, b) => a + b, 0) / st.length);
      for (let h = 1; h < st.length; h++) {
        pairs++;
        rise += st[h] - st[h - 1];
        if (st[h] < st[h - 1]) reversed++;
      }
    }
    expect(Math.abs(reversed / pairs - 0.124)).toBeLessThan(4 * Math.sqrt((0.124 * 0.876) / pairs));
    // Mean rise 0.9 per step, SD 0.55√2 = 0.78 per pair: SE 0.035 at 500 pairs.
    expect(Math.abs(rise / pairs - 0.9)).toBeLessThan(4 * (0.78 / Math.sqrt(pairs)));
    // Locations: N(0, 1.1²) truncated at ±2.5 (SD ≈ 1.02): 390 items span most of the range.
    expect(Math.min(...locs)).toBeLessThan(-2);
    expect(Math.max(...locs)).toBeGreaterThan(2);
    expect(Math.abs(locs.reduce((a, b) => a + b, 0) / locs.length)).toBeLessThan(4 * (1.02 / Math.sqrt(locs.length)));
  });

  it('draws scores from the partial-credit model at the simulated θ', () => {
    // For every item, split its takers at θ_d = 0 and compare each category's count with its
    // expectation Σ_s P(c | θ_s); the count is a sum of independent Bernoullis, so
    // z = (O − E) / √Σ p(1 − p) has mean 0 and variance 1 exactly, and is close to normal where
    // E ≥ 10. ~500 such cells: the largest |z| exceeds 4.5 with probability < 500 · 6.8e−6 ≈ 0.003,
    // and the mean z² (exactly 1 in expectation) has SD ≈ √(2/350) ≈ 0.08 with the dependence
    // between an item's categories: ±0.25 is 3 SD.
    const K = base.bank.domain.length, C = 4; // at most 4 categories
    const cell = (k: number, half: number, c: number) => (k * 2 + half) * C + c;
    const O = new Float64Array(K * 2 * C), E = new Float64Array(K * 2 * C), V = new Float64Array(K * 2 * C);
    const { start, item, score } = base.responses;
    const steps = Array.from({ length: K }, (_, k) => stepsOf(base, k));
    let outOfRange = 0;
    for (let s = 0; s < N; s++) {
      for (let r = start[s]; r < start[s + 1]; r++) {
        const k = item[r], t = base.truth.theta[3 * s + base.bank.domain[k]];
        const p = pcm(t, steps[k]), half = t < 0 ? 0 : 1;
        if (!(score[r] >= 0 && score[r] < p.length)) outOfRange++;
        for (let c = 0; c < p.length; c++) {
          E[cell(k, half, c)] += p[c];
          V[cell(k, half, c)] += p[c] * (1 - p[c]);
        }
        O[cell(k, half, score[r])]++;
      }
    }
    expect(outOfRange).toBe(0);
    let zMax = 0, z2 = 0, cells = 0;
    for (let i = 0; i < E.length; i++) {
      if (E[i] < 10) continue;
      const z = (O[i] - E[i]) / Math.sqrt(V[i]);
      zMax = Math.max(zMax, Math.abs(z));
      z2 += z * z;
      cells++;
    }
    expect(cells).toBeGreaterThan(300);
    expect(zMax).toBeLessThan(4.5);
    expect(Math.abs(z2 / cells - 1)).toBeLessThan(0.25);
  });

  it('gives θ − f − g ⊙ u the stated covariance Σ, and u a standard normal', () => {
    // The documented Σ: SDs 0.85, 0.9, 0.85; correlations 0.78 (R–M), 0.83 (R–S), 0.85 (M–S).
    const sd = [0.85, 0.9, 0.85], cor = [[1, 0.78, 0.83], [0.78, 1, 0.85], [0.83, 0.85, 1]];
    const Sigma = cor.flatMap((r, i) => r.map((c, j) => c * sd[i] * sd[j]));
    Sigma.forEach((v, k) => expect(base.truth.Sigma[k]).toBeCloseTo(v, 12));
    const C = new Float64Array(9);
    for (let s = 0; s < N; s++) {
      const j = base.school[s], e = [0, 1, 2].map((d) => base.truth.theta[3 * s + d] - base.truth.f[3 * s + d] - base.truth.g[3 * j + d] * base.truth.u[3 * j + d]);
      for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) C[3 * a + b] += (e[a] * e[b]) / N;
    }
    // SE of a sample (co)variance of normals with known mean 0: √((Σ_aa Σ_bb + Σ_ab²) / N); 4.5 SE.
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        const se = Math.sqrt((Sigma[4 * a] * Sigma[4 * b] + Sigma[3 * a + b] ** 2) / N);
        expect(Math.abs(C[3 * a + b] - Sigma[3 * a + b])).toBeLessThan(4.5 * se);
      }
    }
    // u over 3000 one-student schools: the mean of u² has SE √(2/9000) ≈ 0.015, the cross
    // moments SE 1/√3000 ≈ 0.018; 4.5 SE.
    const many = simulatePisa({ seed: 4, schools: 3000, minStudents: 1, maxStudents: 1 });
    const M = new Float64Array(9);
    for (let j = 0; j < 3000; j++) for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) M[3 * a + b] += (many.truth.u[3 * j + a] * many.truth.u[3 * j + b]) / 3000;
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) expect(Math.abs(M[3 * a + b] - (a === b ? 1 : 0))).toBeLessThan(4.5 * (a === b ? Math.sqrt(2 / 3000) : Math.sqrt(1 / 3000)));
    }
  });

  it('has the documented missing rates; gender and age are never missing', () => {
    const miss = (col: number, num: boolean) => {
      let m = 0;
      for (let s = 0; s < N; s++) m += num ? (Number.isNaN(base.xNum.values[3 * s + col]) ? 1 : 0) : base.xCat.values[4 * s + col] === -1 ? 1 : 0;
      return m / N;
    };
    // Binomial SE √(p(1 − p)/N) at N ≈ 4500; 4.5 SE.
    const check = (rate: number, p: number) => expect(Math.abs(rate - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / N));
    check(miss(0, true), MISSING_RATE.escs);
    check(miss(2, true), MISSING_RATE.homework);
    check(miss(1, false), MISSING_RATE.immig);
    check(miss(2, false), MISSING_RATE.language);
    check(miss(3, false), MISSING_RATE.books);
    expect(miss(1, true)).toBe(0);
    expect(miss(0, false)).toBe(0);
    for (const p of [MISSING_RATE.immig, MISSING_RATE.language, MISSING_RATE.books]) expect(p >= 0.03 && p <= 0.08).toBe(true);
    // Observed codes are within their levels; ages within 15y3m … 16y2m.
    let bad = 0;
    for (let s = 0; s < N; s++) {
      for (let c = 0; c < 4; c++) {
        const v = base.xCat.values[4 * s + c];
        if (!(v >= -1 && v < base.xCat.levels[c])) bad++;
      }
      const age = base.xNum.values[3 * s + 1];
      if (!(age >= 15.25 && age <= 16 + 2 / 12)) bad++;
    }
    expect(bad).toBe(0);
  });

  it('codes xLinear from the observed covariates: value or 0 with a missing flag, level indicators against level 0', () => {
    const p = base.xLinear.cols;
    expect(p).toBe(17);
    for (let s = 0; s < N; s++) {
      const [escs, age, hw] = base.xNum.values.subarray(3 * s, 3 * s + 3);
      const [gender, immig, lang, books] = base.xCat.values.subarray(4 * s, 4 * s + 4);
      const want = [
        Number.isNaN(escs) ? 0 : escs, Number.isNaN(escs) ? 1 : 0, age, Number.isNaN(hw) ? 0 : hw, Number.isNaN(hw) ? 1 : 0,
        gender, immig === 1 ? 1 : 0, immig === 2 ? 1 : 0, immig < 0 ? 1 : 0, lang === 1 ? 1 : 0, lang < 0 ? 1 : 0,
        ...[1, 2, 3, 4, 5].map((l) => (books === l ? 1 : 0)), books < 0 ? 1 : 0,
      ];
      expect(Array.from(base.xLinear.values.subarray(s * p, (s + 1) * p))).toEqual(want);
    }
  });

  it('keeps school sizes within bounds, schools contiguous, z as documented', () => {
    const n = new Array(base.nSchools).fill(0), sum = new Array(base.nSchools).fill(0), cnt = new Array(base.nSchools).fill(0);
    for (let s = 0; s < N; s++) {
      if (s > 0) expect(base.school[s]).toBeGreaterThanOrEqual(base.school[s - 1]);
      const j = base.school[s], e = base.xNum.values[3 * s];
      n[j]++;
      if (!Number.isNaN(e)) { sum[j] += e; cnt[j]++; }
    }
    expect(base.nSchools).toBe(150);
    expect(base.options).toMatchObject({ schools: 150, minStudents: 20, maxStudents: 40, truth: 'nonlinear', schoolEffect: true });
    expect(Math.min(...n)).toBe(20);
    expect(Math.max(...n)).toBe(40);
    for (let j = 0; j < base.nSchools; j++) {
      const [meanEscs, size, priv, urban] = base.z.values.subarray(4 * j, 4 * j + 4);
      expect(meanEscs).toBeCloseTo(sum[j] / cnt[j], 12);
      expect(size).toBeGreaterThanOrEqual(n[j]);
      expect(priv === 0 || priv === 1).toBe(true);
      expect(urban === 0 || urban === 1).toBe(true);
    }
  });

  it('linear truth: f = intercept + Γᵀx̃ exactly and a constant g; nonlinear truth: f beyond linear, g rising with private/urban', () => {
    const lin = simulatePisa({ seed: 11, truth: 'linear' });
    const { Gamma, intercept } = lin.truth;
    expect(Gamma!.length).toBe(17 * 3);
    const p = lin.xLinear.cols;
    for (let s = 0; s < lin.nStudents; s++) {
      for (let d = 0; d < 3; d++) {
        let v = intercept![d];
        for (let k = 0; k < p; k++) v += Gamma![3 * k + d] * lin.xLinear.values[s * p + k];
        expect(lin.truth.f[3 * s + d]).toBeCloseTo(v, 12);
      }
    }
    for (let j = 0; j < lin.nSchools; j++) for (let d = 0; d < 3; d++) expect(lin.truth.g[3 * j + d]).toBe(lin.truth.g[d]);
    expect(lin.truth.g[0]).toBeGreaterThan(0);
    expect(base.truth.Gamma).toBeNull();

    // The nonlinear f: least squares on [1, xLinear] leaves 10–25 % of its variance (README: ~14 %
    // at 60,000 students; at ~4,500 the share moves by well under 0.02).
    for (let d = 0; d < 3; d++) {
      const y = (s: number) => base.truth.f[3 * s + d];
      let m = 0, v = 0;
      for (let s = 0; s < N; s++) m += y(s) / N;
      for (let s = 0; s < N; s++) v += (y(s) - m) ** 2 / N;
      const share = lsResidualVariance(base.xLinear.values, p, y, N) / v;
      expect(share).toBeGreaterThan(0.1);
      expect(share).toBeLessThan(0.25);
    }
    let hi = 0, nHi = 0, lo = 0, nLo = 0;
    for (let j = 0; j < base.nSchools; j++) {
      const priv = base.z.values[4 * j + 2], urban = base.z.values[4 * j + 3], g = base.truth.g[3 * j + 1];
      expect(g).toBeGreaterThan(0);
      if (priv === 1 && urban === 1) { hi += g; nHi++; }
      if (priv === 0 && urban === 0) { lo += g; nLo++; }
    }
    expect(nHi).toBeGreaterThan(5);
    expect(hi / nHi).toBeGreaterThan(1.3 * (lo / nLo));
  });

  it('rejects bad options with a message naming the option', () => {
    expect(() => simulatePisa({ seed: 1.5 })).toThrow(/seed must be an integer/);
    expect(() => simulatePisa({ seed: 1, schools: 0 })).toThrow(/schools must be a positive integer/);
    expect(() => simulatePisa({ seed: 1, minStudents: 30, maxStudents: 20 })).toThrow(/maxStudents \(20\) is below minStudents \(30\)/);
    expect(() => simulatePisa({ seed: 1, truth: 'quadratic' as never })).toThrow(/truth must be/);
    expect(() => simulatePisa({ seed: 1, clusterItems: [12, 0, 12] })).toThrow(/clusterItems\[1\] must be a positive integer/);
    expect(() => simulatePisa({ seed: 1, polytomousShare: 1.5 })).toThrow(/polytomousShare must be in \[0, 1\]/);
  });
});
