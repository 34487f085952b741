// The inverse of a small dense matrix (an observed information of a few dozen parameters) by
// Gauss–Jordan elimination with partial pivoting (Golub & Van Loan 2013, §3.4): both
// latent-model fits (fit.ts, pcmFit.ts) invert their Hessians with it.

/** A⁻¹ (n × n, row-major), or the column at which elimination met an exactly zero pivot. */
export function invertDense(A0: ArrayLike<number>, n: number): { inv: Float64Array; singular: -1 } | { inv: null; singular: number } {
  if (A0.length !== n * n) throw new Error(`invertDense: ${A0.length} values for a ${n} × ${n} matrix`);
  const A = Float64Array.from(A0), inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * n + c]) > Math.abs(A[piv * n + c])) piv = r;
    if (!(Math.abs(A[piv * n + c]) > 0)) return { inv: null, singular: c };
    if (piv !== c) {
      for (let k = 0; k < n; k++) {
        [A[c * n + k], A[piv * n + k]] = [A[piv * n + k], A[c * n + k]];
        [inv[c * n + k], inv[piv * n + k]] = [inv[piv * n + k], inv[c * n + k]];
      }
    }
    const d = A[c * n + c];
    for (let k = 0; k < n; k++) {
      A[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = A[r * n + c];
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        A[r * n + k] -= f * A[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return { inv, singular: -1 };
}
