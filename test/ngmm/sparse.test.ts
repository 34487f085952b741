// The sparse Cholesky (ngmm/sparse) against a dense Cholesky written here, on random sparse
// symmetric positive definite matrices under three orderings (minimum degree, the identity, a
// random permutation); its symbolic analysis against the fill of a dense boolean elimination;
// and the ordering's effect on fill where the best fill is known.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { minimumDegree, SparseCholesky, SparseError, type SymmetricPattern } from '../../ngmm/sparse/index';
import { cholesky } from '../helpers/dense';

/** `stored` marks the structural pattern (an entry may be stored with the value 0). */
interface Sym { n: number; dense: Float64Array; stored: Uint8Array; pat: SymmetricPattern; values: Float64Array }

/** A symmetric matrix from its lower-triangle entries; the lower CSC keeps every listed entry. */
function build(n: number, entries: [number, number, number][]): Sym {
  const dense = new Float64Array(n * n), stored = new Uint8Array(n * n);
  const byCol: [number, number][][] = Array.from({ length: n }, () => []);
  const seen = new Set<number>();
  for (const [i, j, v] of entries) {
    const r = Math.max(i, j), c = Math.min(i, j);
    if (seen.has(r * n + c)) continue;
    seen.add(r * n + c);
    dense[r * n + c] = v; dense[c * n + r] = v;
    stored[r * n + c] = 1; stored[c * n + r] = 1;
    byCol[c].push([r, v]);
  }
  const colPtr = new Int32Array(n + 1);
  for (let c = 0; c < n; c++) colPtr[c + 1] = colPtr[c] + byCol[c].length;
  const rowIdx = new Int32Array(colPtr[n]), values = new Float64Array(colPtr[n]);
  for (let c = 0; c < n; c++) {
    // Rows deliberately unsorted within a column: the analysis must not rely on order.
    byCol[c].forEach(([r, v], t) => { rowIdx[colPtr[c] + t] = r; values[colPtr[c] + t] = v; });
  }
  return { n, dense, stored, pat: { n, colPtr, rowIdx }, values };
}

/** Random sparse SPD: off-diagonal entries in [−1, 1], diagonal above the row's absolute sum. */
const spd = fc.integer({ min: 1, max: 24 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.double({ min: -1, max: 1, noNaN: true })), { minLength: n, maxLength: 3 * n }),
    extra: fc.array(fc.double({ min: 0.01, max: 3, noNaN: true }), { minLength: n, maxLength: n }),
    seed: fc.nat(),
  }),
).map(({ n, edges, extra, seed }) => {
  const off = edges.filter(([i, j]) => i !== j);
  const rowSum = new Float64Array(n);
  const uniq = new Map<number, [number, number, number]>();
  for (const [i, j, v] of off) uniq.set(Math.max(i, j) * n + Math.min(i, j), [i, j, v]);
  for (const [i, j, v] of uniq.values()) { rowSum[i] += Math.abs(v); rowSum[j] += Math.abs(v); }
  const entries = [...uniq.values()];
  for (let i = 0; i < n; i++) entries.push([i, i, rowSum[i] + extra[i]]);
  return { ...build(n, entries), seed };
});

/** Entries of L (diagonal included) by eliminating the pattern of P A P' on a dense boolean matrix. */
function denseFill(sym: Sym, perm: Int32Array): number {
  const n = sym.n;
  const M = new Uint8Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) M[a * n + b] = a === b ? 1 : sym.stored[perm[a] * n + perm[b]];
  let count = 0;
  for (let k = 0; k < n; k++) {
    const below: number[] = [];
    for (let i = k + 1; i < n; i++) if (M[i * n + k]) below.push(i);
    count += 1 + below.length;
    for (const i of below) for (const j of below) M[i * n + j] = 1;
  }
  return count;
}

function shuffled(n: number, seed: number): Int32Array {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}

describe('SparseCholesky against a dense Cholesky', () => {
  it('P A P\' = L L\', log det, solves and the fill agree under three orderings', () => {
    fc.assert(fc.property(spd, (sym) => {
      const { n } = sym;
      const Ld = cholesky(sym.dense, n);
      let logDet = 0;
      for (let i = 0; i < n; i++) logDet += 2 * Math.log(Ld[i * n + i]);
      const b = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1) + 0.5);
      // Dense solve A x = b.
      const z = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = b[i];
        for (let k = 0; k < i; k++) s -= Ld[i * n + k] * z[k];
        z[i] = s / Ld[i * n + i];
      }
      const xd = new Float64Array(n);
      for (let i = n - 1; i >= 0; i--) {
        let s = z[i];
        for (let k = i + 1; k < n; k++) s -= Ld[k * n + i] * xd[k];
        xd[i] = s / Ld[i * n + i];
      }
      // Each ordering with the default analysis (no dense tail at these sizes), a dense tail
      // wherever half the trailing triangle is filled, and the whole matrix as the dense tail.
      const tails = [undefined, { minSize: 1 }, { minSize: 1, minDensity: 0 }];
      for (const [perm, denseTail] of [undefined, Int32Array.from({ length: n }, (_, i) => i), shuffled(n, sym.seed)].flatMap((p) => tails.map((t) => [p, t] as const))) {
        const ch = new SparseCholesky(sym.pat, { perm, denseTail });
        if (denseTail?.minDensity === 0) expect(ch.tailStart).toBe(0);
        if (!denseTail) expect(ch.tailStart).toBe(n);
        expect(ch.factor(sym.values)).toBe(-1);
        // The matrix is diagonally dominant with |off-diagonals| ≤ 1 and diagonal ≤ 3n + 3:
        // entries of L L' carry rounding of a few ulps of that.
        const P = ch.perm;
        const L = new Float64Array(n * n);
        for (let j = 0; j < n; j++) {
          expect(ch.Li[ch.Lp[j]]).toBe(j);
          for (let p = ch.Lp[j]; p < ch.Lp[j + 1]; p++) L[ch.Li[p] * n + j] = ch.Lx[p];
        }
        for (let a = 0; a < n; a++) {
          for (let c = 0; c <= a; c++) {
            let s = 0;
            for (let k = 0; k <= c; k++) s += L[a * n + k] * L[c * n + k];
            expect(Math.abs(s - sym.dense[P[a] * n + P[c]])).toBeLessThan(1e-12 * (3 * n + 3));
          }
        }
        expect(ch.nnzL).toBe(denseFill(sym, P));
        expect(Math.abs(ch.logDet() - logDet)).toBeLessThan(1e-12 * Math.max(1, Math.abs(logDet)) + 1e-13 * n);
        const x = ch.solve(b);
        // A is well conditioned (diagonally dominant by at least 0.01 per row, diagonal ≤ 3n + 3).
        for (let i = 0; i < n; i++) expect(Math.abs(x[i] - xd[i])).toBeLessThan(1e-9 * Math.max(1, Math.abs(xd[i])));
        // The selected inverse on L's pattern against the dense inverse (columns of A⁻¹ by the
        // dense solve above's method); entryIndex finds every stored entry of A in L.
        const Zsel = ch.selectedInverse();
        const Ainv = new Float64Array(n * n);
        for (let c = 0; c < n; c++) {
          const e = new Float64Array(n);
          e[c] = 1;
          for (let i = 0; i < n; i++) {
            let s = e[i];
            for (let k = 0; k < i; k++) s -= Ld[i * n + k] * e[k];
            e[i] = s / Ld[i * n + i];
          }
          for (let i = n - 1; i >= 0; i--) {
            let s = e[i];
            for (let k = i + 1; k < n; k++) s -= Ld[k * n + i] * e[k];
            e[i] = s / Ld[i * n + i];
          }
          for (let i = 0; i < n; i++) Ainv[i * n + c] = e[i];
        }
        for (let j = 0; j < n; j++) {
          for (let p = ch.Lp[j]; p < ch.Lp[j + 1]; p++) {
            // |A⁻¹| ≤ 100 here (every row is dominant by at least 0.01).
            expect(Math.abs(Zsel[p] - Ainv[P[ch.Li[p]] * n + P[j]])).toBeLessThan(1e-10);
          }
        }
        for (let c = 0; c < n; c++) {
          for (let p = sym.pat.colPtr[c]; p < sym.pat.colPtr[c + 1]; p++) {
            const r = sym.pat.rowIdx[p], idx = ch.entryIndex(r, c);
            expect(idx).toBeGreaterThanOrEqual(0);
            let col = 0;
            while (ch.Lp[col + 1] <= idx) col++;
            const pair = [P[ch.Li[idx]], P[col]].sort((x, y) => x - y);
            expect(pair).toEqual([Math.min(r, c), Math.max(r, c)]);
          }
        }
        // A second factorisation of new values on the same pattern (the per-θ use) is exact too.
        const scaled = sym.values.map((v) => 2 * v);
        expect(ch.factor(scaled)).toBe(-1);
        expect(Math.abs(ch.logDet() - (logDet + n * Math.log(2)))).toBeLessThan(1e-12 * Math.max(1, Math.abs(logDet)) + 1e-12 * n);
      }
    }), { numRuns: 150 });
  });

  it('reports the first non-positive pivot by its original column', () => {
    // [[1, 2], [2, 1]] is indefinite: the second pivot is 1 − 4 < 0.
    const s = build(3, [[0, 0, 4], [1, 1, 1], [2, 2, 1], [1, 2, 2]]);
    const ch = new SparseCholesky(s.pat, { perm: Int32Array.from([0, 1, 2]) });
    expect(ch.factor(s.values)).toBe(2);
    expect(() => ch.logDet()).toThrow(SparseError);
    const ch2 = new SparseCholesky(s.pat, { perm: Int32Array.from([2, 0, 1]) });
    expect(ch2.factor(s.values)).toBe(1);
    // The same pivots found in a dense tail: of the last two columns, and of all three.
    for (const maxSize of [2, 3]) {
      const denseTail = { minSize: 1, maxSize, minDensity: 0 };
      const tail = new SparseCholesky(s.pat, { perm: Int32Array.from([0, 1, 2]), denseTail });
      expect(tail.tailStart).toBe(3 - maxSize);
      expect(tail.factor(s.values)).toBe(2);
      expect(() => tail.logDet()).toThrow(SparseError);
      const tail2 = new SparseCholesky(s.pat, { perm: Int32Array.from([2, 0, 1]), denseTail });
      expect(tail2.factor(s.values)).toBe(1);
      // A failed factorisation leaves the work clean: a positive definite matrix factors next.
      expect(tail2.factor(Float64Array.from([4, 3, 1, 1]))).toBe(-1);
    }
  });

  it('refuses entries above the diagonal, a missing diagonal and a bad ordering', () => {
    const pat = { n: 2, colPtr: Int32Array.from([0, 1, 2]), rowIdx: Int32Array.from([0, 0]) };
    expect(() => new SparseCholesky(pat)).toThrow(/column 1 has row 0, outside the lower triangle/);
    const noDiag = { n: 2, colPtr: Int32Array.from([0, 2, 2]), rowIdx: Int32Array.from([0, 1]) };
    expect(() => new SparseCholesky(noDiag)).toThrow(/column 1 has no stored diagonal entry/);
    const ok = { n: 2, colPtr: Int32Array.from([0, 1, 2]), rowIdx: Int32Array.from([0, 1]) };
    expect(() => new SparseCholesky(ok, { perm: Int32Array.from([0, 0]) })).toThrow(/not a permutation/);
  });
});

describe('fill-reducing ordering', () => {
  it('an arrow matrix fills completely in its natural order and not at all under minimum degree', () => {
    const n = 30;
    const entries: [number, number, number][] = [];
    for (let i = 0; i < n; i++) entries.push([i, i, n + 1]);
    for (let i = 1; i < n; i++) entries.push([i, 0, 1]);
    const s = build(n, entries);
    const natural = new SparseCholesky(s.pat, { perm: Int32Array.from({ length: n }, (_, i) => i) });
    expect(natural.nnzL).toBe((n * (n + 1)) / 2);
    const md = new SparseCholesky(s.pat);
    expect(md.nnzL).toBe(2 * n - 1);
    // The hub goes last or next to last (with one spoke left, the two tie at degree 1).
    expect(md.perm.indexOf(0)).toBeGreaterThanOrEqual(n - 2);
    expect(md.factor(s.values)).toBe(-1);
    expect(natural.factor(s.values)).toBe(-1);
    expect(Math.abs(md.logDet() - natural.logDet())).toBeLessThan(1e-12 * Math.abs(natural.logDet()));
  });

  it('a forest is eliminated leaves first, without fill', () => {
    // Minimum degree always finds a node of degree ≤ 1 in a forest, and eliminating it adds no
    // edge, so L has exactly the pattern of A's lower triangle.
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.nat(), (n, seed) => {
      const order = shuffled(n, seed);
      const entries: [number, number, number][] = [];
      for (let i = 0; i < n; i++) entries.push([i, i, 4]);
      let s = seed >>> 0;
      for (let t = 1; t < n; t++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        if (s % 7 === 0) continue; // sometimes start a new tree
        entries.push([order[t], order[s % t], 1]);
      }
      const sym = build(n, entries);
      expect(new SparseCholesky(sym.pat).nnzL).toBe(sym.pat.colPtr[n]);
    }), { numRuns: 100 });
  });

  // Patterns of up to 90 nodes (several 32-bit words per bit row) with random priorities: the
  // ordering is fully determined (least degree, then priority, then index), so both graph
  // storages must give exactly the reference elimination's order.
  const graphCase = fc.integer({ min: 1, max: 90 }).chain((n) => fc.record({
    n: fc.constant(n),
    edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 4 * n }),
    priority: fc.array(fc.nat(3), { minLength: n, maxLength: n }),
  })).map(({ n, edges, priority }) => {
    const entries: [number, number, number][] = edges.filter(([i, j]) => i !== j).map(([i, j]) => [i, j, 1]);
    for (let i = 0; i < n; i++) entries.push([i, i, 1]);
    return { sym: build(n, entries), priority };
  });

  for (const graph of ['bits', 'sets'] as const) {
    it(`eliminates a node of least degree in the current elimination graph at every step (${graph})`, () => {
      fc.assert(fc.property(graphCase, ({ sym, priority }) => {
        const { n } = sym;
        const perm = minimumDegree(sym.pat, priority, graph);
        const M = new Uint8Array(n * n);
        for (let i = 0; i < n * n; i++) M[i] = sym.stored[i];
        const alive = new Uint8Array(n).fill(1);
        const degree = (v: number): number => {
          let d = 0;
          for (let w = 0; w < n; w++) if (w !== v && alive[w] && M[v * n + w]) d++;
          return d;
        };
        for (let k = 0; k < n; k++) {
          let best = -1;
          for (let w = 0; w < n; w++) {
            if (!alive[w]) continue;
            if (best < 0 || degree(w) < degree(best) || (degree(w) === degree(best) && priority[w] < priority[best])) best = w;
          }
          const v = perm[k];
          expect(v).toBe(best);
          const nb: number[] = [];
          for (let w = 0; w < n; w++) if (w !== v && alive[w] && M[v * n + w]) nb.push(w);
          for (const a of nb) for (const b of nb) M[a * n + b] = 1;
          alive[v] = 0;
        }
      }), { numRuns: 100 });
    });
  }

  it('breaks ties by the caller\'s priority', () => {
    // Four isolated nodes: every degree is 0, so the priority alone decides.
    const s = build(4, [[0, 0, 1], [1, 1, 1], [2, 2, 1], [3, 3, 1]]);
    expect(Array.from(minimumDegree(s.pat, [3, 1, 2, 0]))).toEqual([3, 1, 2, 0]);
    expect(Array.from(minimumDegree(s.pat))).toEqual([0, 1, 2, 3]);
  });
});
