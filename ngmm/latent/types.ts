// The latent-variable NGMM's data shapes (issue 15; the paper's §5.3 and Appendix 11/15.4):
// students answer test items, each item measures one of D = 3 proficiency domains through a
// partial-credit model, and each student's proficiency vector θ ∈ R³ is explained by a
// background model. Columnar, typed arrays: a school of 40 students answering ~30 items each is
// a few kilobytes, and the marginal's inner loops index them directly.

/** Domains, in this order everywhere: 0 reading, 1 mathematics, 2 science. */
export const DOMAINS = ['reading', 'mathematics', 'science'] as const;
export const D = 3;

/**
 * The test's items. Item k measures domain `domain[k]` and has categories 0 … m_k with
 * m_k = stepStart[k+1] − stepStart[k] ≥ 1 step difficulties δ_k1 … δ_km in
 * steps[stepStart[k] … stepStart[k+1]). Partial-credit model (Masters 1982):
 *   P(x = c | θ_d) ∝ exp(Σ_{h ≤ c} (θ_d − δ_kh)),  c = 0 … m_k  (the empty sum for c = 0 is 0).
 */
export interface ItemBank {
  readonly domain: Int32Array;
  readonly stepStart: Int32Array;
  readonly steps: Float64Array;
}

/**
 * Item responses of a set of students: student s answered items item[start[s] … start[s+1])
 * with scores score[…] (0 … m_k). Items a student did not see (rotated booklets) are simply
 * absent; an item appears at most once per student.
 */
export interface Responses {
  readonly start: Int32Array;
  readonly item: Int32Array;
  readonly score: Int32Array;
}
