// Comparing one runtime's numbers of the shared case with Node's: every number, element by
// element, to a relative tolerance; a mismatch names the runtime, the quantity and the index.
export interface CaseNumbers {
  backend: string;
  loss: number[];
  validation: number[];
  observed: number[];
  fresh: number[];
  ranefMean: number[];
  ranefSd: number[];
  /** The several-terms GLMMs' and NGMMs' numbers (fixtures/case.mjs termsNumbers). */
  terms: number[];
  termsNeural: number[];
}

export const QUANTITIES = ['loss', 'validation', 'observed', 'fresh', 'ranefMean', 'ranefSd', 'terms', 'termsNeural'] as const;

/** The largest |a − b| / max(|a|, |b|) over all numbers (0 when all are equal). */
export function maxRelativeDifference(a: CaseNumbers, b: CaseNumbers): { rel: number; where: string } {
  let worst = { rel: 0, where: 'nowhere' };
  for (const q of QUANTITIES) {
    if (a[q].length !== b[q].length) return { rel: Infinity, where: `${q}: ${a[q].length} vs ${b[q].length} values` };
    a[q].forEach((x, i) => {
      const y = b[q][i];
      // The several-terms numbers include conditional modes near 0 (a level's effect of
      // 0.004 on the log scale), which have no relative digits to keep: last-bit differences
      // of the hosts' Math carry through the fit as errors relative to the effects' scale
      // (order 1), so those are measured against max(|x|, |y|, 1).
      const floor = q === 'terms' || q === 'termsNeural' ? 1 : 0;
      const rel = x === y ? 0 : Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y), floor);
      if (!(rel <= worst.rel)) worst = { rel, where: `${q}[${i}]: ${x} vs ${y}` };
    });
  }
  return worst;
}
