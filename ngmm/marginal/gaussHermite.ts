// Gauss–Hermite rules for expectations under N(0, 1) ("probabilists'" Hermite weight φ), the
// adaptive (mode/scale-shifted) 1-D rule built on them, and tensor products for q ≤ 3.
//
// Method. The K nodes are the eigenvalues of the Jacobi matrix of the orthonormal Hermite
// polynomials p_j = He_j/√(j!), which satisfy x·p_j = √(j+1)·p_{j+1} + √j·p_{j−1} (Golub &
// Welsch, Math. Comp. 23, 1969): zero diagonal, off-diagonal √1 … √(K−1). Instead of a full
// eigensolver, each eigenvalue is isolated by bisection on the Sturm count of J − xI (Barth,
// Martin & Wilkinson, Numer. Math. 9, 1967), which is simple and cannot miss or duplicate a
// root; that gives every node to an absolute ~ε·‖J‖, and two or three Newton steps on
// p_K(x) (p_K' = √K·p_{K−1}) make it accurate relative to itself, which matters for the
// nodes near 0. The nodes are then made exactly antisymmetric.
//
// Weights are the Christoffel numbers of the probability measure φ:
//   w_k = 1 / Σ_{j<K} p_j(ξ_k)²,
// a sum of squares (no cancellation, no overflow for K ≤ 64: Σ ≤ ~1e60). log w_k is computed
// as −log Σ directly, so it is accurate even where w_k is tiny (~1e-60 at K = 64's ends).
// This is the physicists' rule (weight e^{−x²}) with nodes × √2 and weights / √π.
//
// Results are cached per K; callers receive fresh copies, so mutating them is harmless.

export interface GaussHermiteRule {
  /** ξ_k, ascending, exactly symmetric (ξ_{K−1−k} = −ξ_k; the middle node is 0 for odd K). */
  nodes: Float64Array;
  /** w_k, Σ w_k = 1: Σ w_k g(ξ_k) ≈ E[g(ξ)], ξ ~ N(0, 1); exact for polynomials of degree < 2K. */
  weights: Float64Array;
  /** log w_k, computed directly (not log of weights). */
  logWeights: Float64Array;
}

export const GH_MAX_K = 64;

const cache = new Map<number, GaussHermiteRule>();

export function gaussHermite(K: number): GaussHermiteRule {
  checkK(K);
  let r = cache.get(K);
  if (!r) {
    r = compute(K);
    cache.set(K, r);
  }
  return { nodes: r.nodes.slice(), weights: r.weights.slice(), logWeights: r.logWeights.slice() };
}

/**
 * Adaptive Gauss–Hermite rule for ∫ exp(ℓ(t)) dt, where ℓ is the full log-integrand (prior
 * log-density included): with t_k = mode + scale·ξ_k,
 *   ∫ e^{ℓ(t)} dt ≈ Σ_k exp(ℓ(t_k) + logWeights_k).
 * Derivation: substitute t = mode + scale·ξ and divide/multiply by φ(ξ):
 *   ∫ e^{ℓ(t)} dt = scale ∫ [e^{ℓ(mode + scale ξ)} / φ(ξ)] φ(ξ) dξ ≈ scale Σ_k w_k e^{ℓ(t_k)} / φ(ξ_k),
 * and −log φ(ξ) = ξ²/2 + ½ log 2π, so logWeights_k = log w_k + ξ_k²/2 + ½ log(2π) + log(scale).
 * The rule is exact when e^{ℓ} is a Gaussian with that mean and sd times a polynomial of degree
 * < 2K; with mode = argmax ℓ and scale = (−ℓ''(mode))^{−1/2} it is the Laplace approximation
 * for K = 1 (Liu & Pierce, Biometrika 81, 1994; Pinheiro & Bates, JCGS 4, 1995).
 */
export function adaptiveNodes(
  K: number,
  mode: number,
  scale: number,
): { nodes: Float64Array; logWeights: Float64Array } {
  if (!(scale > 0 && Number.isFinite(scale))) throw new RangeError(`adaptiveNodes: scale must be finite and > 0, got ${scale}`);
  if (!Number.isFinite(mode)) throw new RangeError(`adaptiveNodes: mode must be finite, got ${mode}`);
  const r = base(K);
  const nodes = new Float64Array(K);
  const logWeights = new Float64Array(K);
  const c = HALF_LOG_2PI + Math.log(scale);
  for (let k = 0; k < K; k++) {
    const x = r.nodes[k]!;
    nodes[k] = mode + scale * x;
    logWeights[k] = r.logWeights[k]! + 0.5 * x * x + c;
  }
  return { nodes, logWeights };
}

/**
 * Tensor-product rule for E[g(ξ)], ξ ~ N(0, I_q), q = 1..3: K^q points, row-major
 * (nodes[i·q + d] is coordinate d of point i; the last coordinate varies fastest), and
 * logWeights[i] = Σ_d log w_{k_d}.
 */
export function productRule(K: number, q: number): { nodes: Float64Array; logWeights: Float64Array } {
  if (!(Number.isInteger(q) && q >= 1 && q <= 3)) throw new RangeError(`productRule: q must be 1, 2 or 3, got ${q}`);
  const r = base(K);
  const n = K ** q;
  const nodes = new Float64Array(n * q);
  const logWeights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i;
    let lw = 0;
    for (let d = q - 1; d >= 0; d--) {
      const k = rest % K;
      rest = (rest - k) / K;
      nodes[i * q + d] = r.nodes[k]!;
      lw += r.logWeights[k]!;
    }
    logWeights[i] = lw;
  }
  return { nodes, logWeights };
}

// ---------------------------------------------------------------------------------------------

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

function checkK(K: number): void {
  if (!(Number.isInteger(K) && K >= 1 && K <= GH_MAX_K))
    throw new RangeError(`gaussHermite: K must be an integer in [1, ${GH_MAX_K}], got ${K}`);
}

// Cached rule without copying, for this module's own use.
function base(K: number): GaussHermiteRule {
  checkK(K);
  let r = cache.get(K);
  if (!r) {
    r = compute(K);
    cache.set(K, r);
  }
  return r;
}

// Number of eigenvalues of the K×K Jacobi matrix below x: the number of negative pivots of
// the LDLᵀ factorisation of J − xI (Sylvester's law of inertia).
function sturmCount(K: number, x: number): number {
  // A zero pivot is replaced by a tiny negative one before it is counted (as LAPACK's dstebz
  // does with its pivmin), so the count stays consistent with the next pivot's sign.
  const tiny = 1e-300;
  let count = 0;
  let d = -x;
  for (let i = 1; ; i++) {
    if (Math.abs(d) < tiny) d = -tiny;
    if (d < 0) count++;
    if (i === K) return count;
    d = -x - i / d; // diagonal 0, b_i² = i
  }
}

// p_K(x), p_{K−1}(x) and Σ_{j<K} p_j(x)² by the three-term recurrence.
function recur(K: number, x: number): { pK: number; pK1: number; sumSq: number } {
  let pm = 0;
  let p = 1;
  let sumSq = 1;
  for (let j = 1; j <= K; j++) {
    const next = (x * p - Math.sqrt(j - 1) * pm) / Math.sqrt(j);
    pm = p;
    p = next;
    if (j < K) sumSq += p * p;
  }
  return { pK: p, pK1: pm, sumSq };
}

function compute(K: number): GaussHermiteRule {
  const nodes = new Float64Array(K);
  const bound = 2 * Math.sqrt(K - 1) + 1; // Gershgorin: |λ| ≤ √(K−2) + √(K−1)
  for (let k = 0; k < K; k++) {
    let lo = -bound;
    let hi = bound;
    for (;;) {
      const mid = 0.5 * (lo + hi);
      if (mid <= lo || mid >= hi) break;
      if (sturmCount(K, mid) > k) hi = mid;
      else lo = mid;
    }
    let x = 0.5 * (lo + hi);
    for (let it = 0; it < 4; it++) {
      const { pK, pK1 } = recur(K, x);
      const step = pK / (Math.sqrt(K) * pK1);
      if (!Number.isFinite(step)) break;
      x -= step;
      if (Math.abs(step) <= 1e-17 * Math.max(Math.abs(x), 1e-300)) break;
    }
    nodes[k] = x;
  }
  for (let k = 0; k < K >> 1; k++) {
    const v = 0.5 * (nodes[K - 1 - k]! - nodes[k]!);
    nodes[k] = -v;
    nodes[K - 1 - k] = v;
  }
  if (K & 1) nodes[K >> 1] = 0;
  const weights = new Float64Array(K);
  const logWeights = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const lw = -Math.log(recur(K, nodes[k]!).sumSq);
    logWeights[k] = lw;
    weights[k] = Math.exp(lw);
  }
  // Symmetrise the weights too (the two halves are computed independently).
  for (let k = 0; k < K >> 1; k++) {
    const lw = 0.5 * (logWeights[k]! + logWeights[K - 1 - k]!);
    logWeights[k] = logWeights[K - 1 - k] = lw;
    weights[k] = weights[K - 1 - k] = Math.exp(lw);
  }
  return { nodes, weights, logWeights };
}
