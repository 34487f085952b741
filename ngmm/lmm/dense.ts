// Small dense kernels for the LMM's per-group q × q and p × p blocks: row-major, in place,
// no allocation. Sizes here are at most a few dozen, so plain loops beat any blocking.

/**
 * Lower Cholesky factor of the symmetric positive definite k × k matrix at a[off..], in place
 * (the strict upper triangle is zeroed). Returns the index of the first pivot that is not
 * positive and finite, or -1 when the factorisation succeeded.
 */
export function cholLower(a: Float64Array, off: number, k: number): number {
  for (let j = 0; j < k; j++) {
    let d = a[off + j * k + j];
    for (let m = 0; m < j; m++) d -= a[off + j * k + m] * a[off + j * k + m];
    if (!(d > 0) || !Number.isFinite(d)) return j;
    const l = Math.sqrt(d);
    a[off + j * k + j] = l;
    for (let i = j + 1; i < k; i++) {
      let s = a[off + i * k + j];
      for (let m = 0; m < j; m++) s -= a[off + i * k + m] * a[off + j * k + m];
      a[off + i * k + j] = s / l;
    }
    for (let i = 0; i < j; i++) a[off + i * k + j] = 0;
  }
  return -1;
}

/** Solves L x = b in place for `nrhs` right-hand sides stored as the columns of b (k × nrhs). */
export function forwardSolve(L: Float64Array, lo: number, k: number, b: Float64Array, bo: number, nrhs: number): void {
  for (let c = 0; c < nrhs; c++) {
    for (let i = 0; i < k; i++) {
      let s = b[bo + i * nrhs + c];
      for (let m = 0; m < i; m++) s -= L[lo + i * k + m] * b[bo + m * nrhs + c];
      b[bo + i * nrhs + c] = s / L[lo + i * k + i];
    }
  }
}

/** Solves L' x = b in place for the columns of b (k × nrhs). */
export function backSolve(L: Float64Array, lo: number, k: number, b: Float64Array, bo: number, nrhs: number): void {
  for (let c = 0; c < nrhs; c++) {
    for (let i = k - 1; i >= 0; i--) {
      let s = b[bo + i * nrhs + c];
      for (let m = i + 1; m < k; m++) s -= L[lo + m * k + i] * b[bo + m * nrhs + c];
      b[bo + i * nrhs + c] = s / L[lo + i * k + i];
    }
  }
}
