// Closed forms the numerical paths are tested against (docs/marginal.md §10).

// The Gaussian group's exact log marginal and its gradients (derivatives of the closed form,
// worked by hand: d = σ² + n s², S = Σr, Q = Σr² − s²S²/d).
export function gaussianExact(r: Float64Array, s: number, sig: number) {
  const n = r.length;
  let S = 0, rr = 0;
  for (const v of r) {
    S += v;
    rr += v * v;
  }
  const s2 = sig * sig, d = s2 + n * s * s, Q = rr - (s * s * S * S) / d;
  const L = -0.5 * (n * Math.log(2 * Math.PI) + (n - 1) * Math.log(s2) + Math.log(d) + Q / s2);
  const gf = Float64Array.from(r, (v) => (v - (s * s * S) / d) / s2); // ∂L/∂f_j (r = y − f)
  const dQds = (-2 * s * S * S) / d + (s * s * S * S * 2 * n * s) / (d * d);
  const gs = -0.5 * ((2 * n * s) / d + dQds / s2);
  const dQdsig = (s * s * S * S * 2 * sig) / (d * d);
  const gsig = -0.5 * ((2 * (n - 1)) / sig + (2 * sig) / d + dQdsig / s2 - (2 * Q) / (s2 * sig));
  return { L, gf, gs, gsig };
}
