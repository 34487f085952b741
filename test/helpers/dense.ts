// Dense reference computations for the mixed-model and sparse tests: plain textbook loops on full
// n × n matrices, deliberately independent of ngmm (no blocking, no sparsity, no profiling
// tricks), so that the code under test is checked against something it does not share.

/** Cholesky of a dense symmetric positive definite n × n matrix (row-major, lower factor). */
export function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = i === j ? Math.sqrt(s) : s / L[j * n + j];
    }
  }
  return L;
}

/** L⁻¹ b for a lower-triangular L. */
export function lsolve(L: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/** L'⁻¹ z for a lower-triangular L. */
export function ltsolve(L: Float64Array, n: number, z: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let m = i + 1; m < n; m++) s -= L[m * n + i] * x[m];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/** Λ (q × q row-major) from θ: its lower triangle by columns (lme4), or only the diagonal. */
export function lambdaFromTheta(th: ArrayLike<number>, q: number, diagonal = false): Float64Array {
  const L = new Float64Array(q * q);
  let k = 0;
  if (diagonal) for (let a = 0; a < q; a++) L[a * q + a] = th[k++];
  else for (let c = 0; c < q; c++) for (let r = c; r < q; r++) L[r * q + c] = th[k++];
  return L;
}

/**
 * Adds one random-effect term's share Z (I ⊗ ΛΛ') Z' to the dense n × n covariance V: rows i
 * and j share the q × q covariance ΛΛ' when they are in the same level of the term's factor.
 */
export function addTermCovariance(V: Float64Array, n: number, group: Int32Array, Z: Float64Array, q: number, Lam: Float64Array): void {
  const S = new Float64Array(q * q); // ΛΛ'
  for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) for (let r = 0; r < q; r++) S[a * q + b] += Lam[a * q + r] * Lam[b * q + r];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (group[i] !== group[j]) continue;
      let s = 0;
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) s += Z[i * q + a] * S[a * q + b] * Z[j * q + b];
      V[i * n + j] += s;
    }
  }
}

/**
 * −2 × the maximised Gaussian log-density of y (ML), or the REML criterion, for y ~ N(Xβ, σ²V₀)
 * with V₀ given (n × n) and β, σ² maximised out, by generalised least squares: whiten by
 * V₀ = LL', solve the normal equations of the whitened problem, and use
 * −2ℓ = log|V₀| + d (1 + log(2π r²/d)) (+ log|X'V₀⁻¹X| under REML), d = n or n − p.
 */
export function gaussianCriterion(V: Float64Array, n: number, X: Float64Array, p: number, y: Float64Array, reml: boolean): number {
  const L = cholesky(V, n);
  let logDetV = 0;
  for (let i = 0; i < n; i++) logDetV += 2 * Math.log(L[i * n + i]);
  const wy = lsolve(L, n, y);
  const wX = Array.from({ length: p }, (_, c) => lsolve(L, n, Float64Array.from({ length: n }, (__, i) => X[i * p + c])));
  const XtX = new Float64Array(p * p), Xty = new Float64Array(p);
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < p; b++) for (let i = 0; i < n; i++) XtX[a * p + b] += wX[a][i] * wX[b][i];
    for (let i = 0; i < n; i++) Xty[a] += wX[a][i] * wy[i];
  }
  const R = cholesky(XtX, p);
  const beta = ltsolve(R, p, lsolve(R, p, Xty));
  let r2 = 0;
  for (let i = 0; i < n; i++) {
    let e = wy[i];
    for (let c = 0; c < p; c++) e -= wX[c][i] * beta[c];
    r2 += e * e;
  }
  let logDetXVX = 0;
  for (let a = 0; a < p; a++) logDetXVX += 2 * Math.log(R[a * p + a]);
  const dof = reml ? n - p : n;
  return logDetV + (reml ? logDetXVX : 0) + dof * (1 + Math.log((2 * Math.PI * r2) / dof));
}
