// Positive model scales (σ_b, σ, θ, Λ's diagonal) are softplus of free parameters: smooth,
// unbounded and, unlike exp, linear for large values so a step in the optimiser stays a step.
// Above 30 softplus(v) = v to double precision (e^{−30} < ε), which keeps both directions exact.

export const softplus = (v: number): number => (v > 30 ? v : Math.log1p(Math.exp(v)));

/** softplus⁻¹ of a positive value (−∞ at 0: callers that may meet 0 floor it first). */
export const softplusInv = (v: number): number => (v > 30 ? v : Math.log(Math.expm1(v)));
