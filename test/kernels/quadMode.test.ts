// quad_mode_f64 finds each group's mode of ℓ(b) = Σ_j core(y_j, f_j + ⟨g_j, b⟩) − ‖b‖²/2: the
// parity test holds the builds to the reference, this holds all three to the mathematics.
// At the returned b̂ the Newton decrement λ² = ∇ℓᵀ(−∇²ℓ)⁻¹∇ℓ, computed here from the
// per-observation score and curvature, measures how far ℓ(b̂) is below the maximum (≈ λ²/2).
// The solver stops on a step ≤ 1e−12 or a gain ≤ 1e−15·(1 + |ℓ|), either of which leaves λ²/2
// orders below 1e−12·(1 + |ℓ|); a Newton or line search that stopped short would not.
// Every concave family code (the ones whose full steps are accepted by their slope alone),
// q = 1..3, groups of 1 to 40, from η near 0 to |η| ≈ 12 (steps that overshoot and fall back
// to the line search).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { all } from '../helpers/backends';
import { obsCore, obsHess, obsScore } from '../../kernels/reference/marginal/obs';

const CONCAVE = [0, 2, 3, 4, 5, 7, 8];

// Solves the q×q symmetric positive definite system A x = v by Cholesky (q ≤ 3); null if not PD.
function solveSpd(A: number[], v: number[], q: number): number[] | null {
  const L = new Array<number>(q * q).fill(0);
  for (let i = 0; i < q; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * q + j];
      for (let k = 0; k < j; k++) s -= L[i * q + k] * L[j * q + k];
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * q + i] = Math.sqrt(s);
      } else L[i * q + j] = s / L[j * q + j];
    }
  }
  const z = new Array<number>(q).fill(0), x = new Array<number>(q).fill(0);
  for (let i = 0; i < q; i++) {
    let s = v[i];
    for (let k = 0; k < i; k++) s -= L[i * q + k] * z[k];
    z[i] = s / L[i * q + i];
  }
  for (let i = q - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < q; k++) s -= L[k * q + i] * x[k];
    x[i] = s / L[i * q + i];
  }
  return x;
}

describe('quad_mode_f64', () => {
  it('returns the maximum of ℓ(b): Newton decrement λ²/2 ≤ 1e−12·(1 + |ℓ(b̂)|), and its Cholesky factor, on every backend', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(...CONCAVE), fc.double({ min: 0.1, max: 4, noNaN: true }), fc.integer({ min: 0, max: 1e6 }),
        (sizes, q, code, spread, seed) => {
          let s = seed;
          const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
          const G = sizes.length, n = sizes.reduce((a, b) => a + b, 0);
          const offsets = new Int32Array(G + 1);
          sizes.forEach((c, i) => (offsets[i + 1] = offsets[i] + c));
          const trials = code >= 2 && code <= 4;
          const m = Float64Array.from({ length: n }, () => (trials ? 1 + Math.floor(5 * u()) : 1));
          const f = Float64Array.from({ length: n }, () => spread * (2 * u() - 1));
          const g = Float64Array.from({ length: n * q }, () => spread * (2 * u() - 1));
          const y = Float64Array.from(m, (mj) =>
            (code === 0 ? 4 * u() - 2 : trials ? Math.floor(u() * (mj + 1)) : code === 8 ? 0.1 + 4 * u() : Math.floor(6 * u())));
          const phi = 0.7;
          for (const b of all) {
            const h = b.heap;
            const put = (a: Float64Array | Int32Array) => {
              const p = h.alloc(a.byteLength);
              if (a instanceof Int32Array) h.i32.set(a, p >>> 2);
              else h.f64.set(a, p >>> 3);
              return p;
            };
            const ptrs = [put(offsets), put(y), put(m), put(f), put(g), h.alloc(G * q * 8), h.alloc(G * q * q * 8)];
            const [po, py, pm, pf, pg, pmode, pchol] = ptrs;
            b.k.quad_mode_f64(code, G, po, q, py, trials ? pm : 0, pf, pg, phi, pmode, pchol);
            const mode = h.f64.slice(pmode >>> 3, (pmode >>> 3) + G * q), chol = h.f64.slice(pchol >>> 3, (pchol >>> 3) + G * q * q);
            for (const p of ptrs) h.free(p);
            for (let i = 0; i < G; i++) {
              const bh = Array.from(mode.subarray(i * q, (i + 1) * q));
              const grad = bh.map((v) => -v), H = new Array<number>(q * q).fill(0);
              let ell = -0.5 * bh.reduce((a, v) => a + v * v, 0);
              for (let d = 0; d < q; d++) H[d * q + d] = 1;
              for (let j = offsets[i]; j < offsets[i + 1]; j++) {
                let eta = f[j];
                for (let d = 0; d < q; d++) eta += g[j * q + d] * bh[d];
                ell += obsCore(code, y[j], m[j], eta, phi);
                const r = obsScore(code, y[j], m[j], eta, phi), hs = obsHess(code, y[j], m[j], eta, phi);
                for (let d = 0; d < q; d++) {
                  grad[d] += r * g[j * q + d];
                  for (let e = 0; e < q; e++) H[d * q + e] -= hs * g[j * q + d] * g[j * q + e];
                }
              }
              const step = solveSpd(H, grad, q);
              expect(step, `${b.name}: −∇²ℓ(b̂) is positive definite (concave ℓ)`).not.toBeNull();
              const dec = step!.reduce((a, v, d) => a + v * grad[d], 0);
              expect(dec / 2, `${b.name}: group ${i} of code ${code}, q ${q}: ℓ(b̂) below its maximum`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(ell)));
              // L Lᵀ = −∇²ℓ(b̂) (the rule's scale), to rounding of its entries.
              for (let r = 0; r < q; r++) {
                for (let c = 0; c <= r; c++) {
                  let v = 0;
                  for (let k = 0; k <= c; k++) v += chol[i * q * q + r * q + k] * chol[i * q * q + c * q + k];
                  expect(Math.abs(v - H[r * q + c]), `${b.name}: (L Lᵀ)[${r}][${c}]`).toBeLessThanOrEqual(1e-12 * (Math.abs(H[r * q + r]) + Math.abs(H[c * q + c])));
                }
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
