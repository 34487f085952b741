// Principal components of the background covariates, as the official PISA analysis conditions
// its linear model on them (OECD 2014, PISA 2012 Technical Report, ch. 9: the components that
// explain 95 % of the variance of the standardised, dummy-coded questionnaire variables).
// p is a few dozen columns, so the covariance's eigen-decomposition is the cyclic Jacobi method
// (Golub & Van Loan 2013, §8.5): simple, and accurate to rounding for symmetric matrices.

/** Eigenvalues (descending) and unit eigenvectors (columns of `vectors`, p × p row-major) of a symmetric matrix. */
export function symmetricEigen(A0: ArrayLike<number>, p: number): { values: Float64Array; vectors: Float64Array } {
  if (A0.length !== p * p) throw new Error(`symmetricEigen: ${A0.length} values for a ${p} × ${p} matrix`);
  const A = Float64Array.from(A0), V = new Float64Array(p * p);
  for (let i = 0; i < p; i++) V[i * p + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let i = 0; i < p; i++) {
      diag += A[i * p + i] ** 2;
      for (let j = i + 1; j < p; j++) off += A[i * p + j] ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let i = 0; i < p; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = A[i * p + j];
        if (aij === 0) continue;
        // The rotation that zeroes A[i][j]: tan of the angle t, the smaller root for stability.
        const theta = (A[j * p + j] - A[i * p + i]) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < p; k++) {
          const aki = A[k * p + i], akj = A[k * p + j];
          A[k * p + i] = c * aki - s * akj;
          A[k * p + j] = s * aki + c * akj;
        }
        for (let k = 0; k < p; k++) {
          const aik = A[i * p + k], ajk = A[j * p + k];
          A[i * p + k] = c * aik - s * ajk;
          A[j * p + k] = s * aik + c * ajk;
        }
        for (let k = 0; k < p; k++) {
          const vki = V[k * p + i], vkj = V[k * p + j];
          V[k * p + i] = c * vki - s * vkj;
          V[k * p + j] = s * vki + c * vkj;
        }
      }
    }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((a, b) => A[b * p + b] - A[a * p + a]);
  const values = Float64Array.from(order, (i) => A[i * p + i]);
  const vectors = new Float64Array(p * p);
  order.forEach((src, dst) => {
    for (let k = 0; k < p; k++) vectors[k * p + dst] = V[k * p + src];
  });
  return { values, vectors };
}

export interface Pca {
  /** Column means and SDs of the training design (the standardisation). */
  readonly mean: Float64Array;
  readonly sd: Float64Array;
  /** p × k loadings (row-major): the first k eigenvectors of the correlation matrix. */
  readonly loadings: Float64Array;
  readonly p: number;
  readonly k: number;
  /** Share of the total variance the k components explain. */
  readonly explained: number;
}

/**
 * PCA of X (n × p, row-major) on the correlation scale, keeping the fewest components whose
 * eigenvalues sum to at least `share` of the total. Constant columns are kept with SD 1 (they
 * contribute nothing).
 */
export function fitPca(X: ArrayLike<number>, n: number, p: number, share = 0.95): Pca {
  if (!(share > 0 && share <= 1)) throw new Error(`pca: share must be in (0, 1], got ${share}`);
  if (n < 2) throw new Error(`pca: needs at least 2 rows, got ${n}`);
  const mean = new Float64Array(p), sd = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) mean[j] += X[i * p + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) sd[j] += (X[i * p + j] - mean[j]) ** 2 / (n - 1);
  for (let j = 0; j < p; j++) sd[j] = sd[j] > 0 ? Math.sqrt(sd[j]) : 1;
  const C = new Float64Array(p * p);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < p; a++) {
      const za = (X[i * p + a] - mean[a]) / sd[a];
      for (let b = a; b < p; b++) C[a * p + b] += (za * (X[i * p + b] - mean[b])) / sd[b] / (n - 1);
    }
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) C[a * p + b] = C[b * p + a];
  const { values, vectors } = symmetricEigen(C, p);
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  let k = 0, acc = 0;
  while (k < p && acc < share * total - 1e-12 * total) acc += Math.max(0, values[k++]);
  k = Math.max(1, k);
  const loadings = new Float64Array(p * k);
  for (let a = 0; a < p; a++) for (let c = 0; c < k; c++) loadings[a * k + c] = vectors[a * p + c];
  return { mean, sd, loadings, p, k, explained: total > 0 ? acc / total : 1 };
}

/** Component scores of rows X (n × p) under a fitted PCA: n × k. */
export function pcaScores(pca: Pca, X: ArrayLike<number>, n: number): Float64Array {
  const { p, k } = pca;
  if (X.length !== n * p) throw new Error(`pca: ${X.length} values for ${n} rows of ${p} columns`);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < p; a++) {
      const z = (X[i * p + a] - pca.mean[a]) / pca.sd[a];
      if (z === 0) continue;
      for (let c = 0; c < k; c++) out[i * k + c] += z * pca.loadings[a * k + c];
    }
  }
  return out;
}
