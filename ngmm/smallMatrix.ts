// The q × q work of random-slope covariances (q ≤ 3): mapping a covariance between the
// standardised and the user's scale, and its Cholesky factor where a boundary fit leaves a zero
// pivot (positive definite factorisations and solves: ngmm/lmm/dense.ts). Row-major flat arrays.

/**
 * A·S·Aᵀ for a q × q A (rows) and a q × q symmetric S (flat). Each row of A is divided by its
 * largest entry first and the product scaled back: a slope on a column like x·1e−300 has an
 * entry 1e300 in A, whose square would overflow although the result does not.
 */
export function sandwich(A: readonly (readonly number[])[], S: ArrayLike<number>): Float64Array {
  const { M, scale } = scaledSandwich(A, S), q = A.length;
  return Float64Array.from(M, (v, e) => scale[Math.floor(e / q)] * (v * scale[e % q]));
}

/**
 * A·S·Aᵀ as D·M·D with D = diag(scale): SDs √(M_rr)·scale_r and correlations from M alone
 * stay finite where a variance (scale_r²·M_rr, e.g. 1e600) would not.
 */
export function scaledSandwich(A: readonly (readonly number[])[], S: ArrayLike<number>): { M: Float64Array; scale: number[] } {
  const q = A.length, M = new Float64Array(q * q);
  const scale = A.map((row) => row.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1);
  for (let r = 0; r < q; r++) {
    for (let c = 0; c < q; c++) {
      let v = 0;
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) v += (A[r][a] / scale[r]) * S[a * q + b] * (A[c][b] / scale[c]);
      M[r * q + c] = v;
    }
  }
  return { M, scale };
}

/**
 * The lower Cholesky factor of a q × q positive semi-definite S (flat). A pivot that is not
 * above 1e−13 of its diagonal entry (a variance at zero or a correlation of ±1, a boundary fit:
 * what is left there is the subtraction's rounding, ~ε·S_cc) is set to 0 with the rest of its
 * column, so a singular covariance keeps an exactly singular factor.
 */
export function choleskyLower(S: ArrayLike<number>, q: number): Float64Array {
  const L = new Float64Array(q * q);
  for (let c = 0; c < q; c++) {
    let d = S[c * q + c];
    for (let k = 0; k < c; k++) d -= L[c * q + k] ** 2;
    L[c * q + c] = d > Math.max(1e-300, 1e-13 * S[c * q + c]) ? Math.sqrt(d) : 0;
    for (let r = c + 1; r < q; r++) {
      let v = S[r * q + c];
      for (let k = 0; k < c; k++) v -= L[r * q + k] * L[c * q + k];
      L[r * q + c] = L[c * q + c] > 0 ? v / L[c * q + c] : 0;
    }
  }
  return L;
}

