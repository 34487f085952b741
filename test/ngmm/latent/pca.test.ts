// PCA of the background covariates (ngmm/latent/pca.ts): the Jacobi eigen-decomposition against
// matrices built from known eigenpairs, and the components' share of variance.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitPca, pcaScores, symmetricEigen } from '../../../ngmm/latent/pca';

// A random orthogonal matrix by Gram–Schmidt on fast-check's numbers.
function orthogonal(p: number, raw: number[]): Float64Array {
  const Q = new Float64Array(p * p);
  for (let c = 0; c < p; c++) {
    const v = Array.from({ length: p }, (_, r) => raw[c * p + r] + (r === c ? 3 : 0));
    for (let d = 0; d < c; d++) {
      let dot = 0;
      for (let r = 0; r < p; r++) dot += v[r] * Q[r * p + d];
      for (let r = 0; r < p; r++) v[r] -= dot * Q[r * p + d];
    }
    const norm = Math.hypot(...v);
    for (let r = 0; r < p; r++) Q[r * p + c] = v[r] / norm;
  }
  return Q;
}

describe('symmetricEigen', () => {
  it('recovers the eigenvalues and eigenvectors of Q·diag(λ)·Qᵀ', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 49, maxLength: 49 }), fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 7, maxLength: 7 }), (p, raw, lam0) => {
        const Q = orthogonal(p, raw);
        // Distinct eigenvalues (spaced by ≥ 0.05) so the eigenvectors are determined up to sign.
        const lam = lam0.slice(0, p).map((v, i) => v + 0.05 * i * 11).sort((a, b) => b - a);
        for (let i = 1; i < p; i++) if (lam[i - 1] - lam[i] < 0.05) return;
        const A = new Float64Array(p * p);
        for (let r = 0; r < p; r++) for (let c = 0; c < p; c++) for (let k = 0; k < p; k++) A[r * p + c] += Q[r * p + k] * lam[k] * Q[c * p + k];
        const { values, vectors } = symmetricEigen(A, p);
        // Rounding: Jacobi is backward stable, eigenvalue errors ~ p·ε·‖A‖ (‖A‖ ≤ 11 here).
        for (let k = 0; k < p; k++) expect(Math.abs(values[k] - lam[k])).toBeLessThan(1e-11);
        for (let k = 0; k < p; k++) {
          let dot = 0;
          for (let r = 0; r < p; r++) dot += vectors[r * p + k] * Q[r * p + k];
          // Eigenvector error ~ ε‖A‖ / gap (gap ≥ 0.05).
          expect(Math.abs(Math.abs(dot) - 1)).toBeLessThan(1e-9);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('fitPca', () => {
  it('keeps the fewest components reaching the share, and scores are the standardised rows times the loadings', () => {
    // Two strongly correlated columns and one independent: on the correlation scale the
    // eigenvalues are 1 + r, 1, 1 − r (r the correlation), whatever the data.
    const n = 400, p = 3, X = new Float64Array(n * p);
    for (let i = 0; i < n; i++) {
      const a = Math.sin(1.3 * i), b = Math.cos(2.1 * i + 0.3);
      X[i * p] = 5 + 2 * a;
      X[i * p + 1] = -1 + 0.5 * (a + 0.1 * b);
      X[i * p + 2] = 10 * Math.sin(0.7 * i * i);
    }
    const pca = fitPca(X, n, p, 0.6);
    // Largest eigenvalue ≈ 1 + r ≈ 1.99 of a total 3 → 66 % ≥ 60 %: one component.
    expect(pca.k).toBe(1);
    expect(pca.explained).toBeGreaterThan(0.6);
    const all = fitPca(X, n, p, 1);
    expect(all.k).toBe(3);
    expect(all.explained).toBeCloseTo(1, 12);
    const s = pcaScores(pca, X, n);
    let m = 0;
    for (let i = 0; i < n; i++) m += s[i] / n;
    expect(Math.abs(m)).toBeLessThan(1e-12);
    const i = 17;
    let hand = 0;
    for (let a = 0; a < p; a++) hand += ((X[i * p + a] - pca.mean[a]) / pca.sd[a]) * pca.loadings[a];
    expect(s[i]).toBeCloseTo(hand, 12);
  });

  it('refuses a share outside (0, 1] and too few rows', () => {
    expect(() => fitPca([1, 2], 2, 1, 0)).toThrow(/share must be in/);
    expect(() => fitPca([1], 1, 1)).toThrow(/at least 2 rows/);
  });
});
