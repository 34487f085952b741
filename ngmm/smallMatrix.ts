// The q × q matrix work of random-slope covariances (q ≤ 3): mapping a covariance between the
// standardised and the user's scale, and its Cholesky factor. Row-major flat arrays.

/** A·S·Aᵀ for a q × q A (rows) and a q × q symmetric S (flat). */
export function sandwich(A: readonly (readonly number[])[], S: ArrayLike<number>): Float64Array {
  const q = A.length, out = new Float64Array(q * q);
  for (let r = 0; r < q; r++) {
    for (let c = 0; c < q; c++) {
      let v = 0;
      for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) v += A[r][a] * S[a * q + b] * A[c][b];
      out[r * q + c] = v;
    }
  }
  return out;
}

/**
 * The lower Cholesky factor of a q × q positive semi-definite S (flat). A pivot that is not
 * above `floor` (a variance at zero: a boundary fit) is set to 0 with the rest of its column.
 */
export function choleskyLower(S: ArrayLike<number>, q: number, floor = 1e-300): Float64Array {
  const L = new Float64Array(q * q);
  for (let c = 0; c < q; c++) {
    let d = S[c * q + c];
    for (let k = 0; k < c; k++) d -= L[c * q + k] ** 2;
    L[c * q + c] = d > floor ? Math.sqrt(d) : 0;
    for (let r = c + 1; r < q; r++) {
      let v = S[r * q + c];
      for (let k = 0; k < c; k++) v -= L[r * q + k] * L[c * q + k];
      L[r * q + c] = L[c * q + c] > 0 ? v / L[c * q + c] : 0;
    }
  }
  return L;
}
