// The quality benchmark's tables: per data set and held-out kind, each method's metric, ngmm's
// NGMM against the best peer (the lower of the PyTorch NGMM and the GAM), each method's gap to
// the true model, and each method's fit time. Pure, so that the tests can check the numbers.
import { table } from '../lib';

export const METHODS = ['truth', 'ngmm', 'glmm', 'gam', 'torch'] as const;
export type Method = (typeof METHODS)[number];
export const PEERS: readonly Method[] = ['torch', 'gam'];
export const LABEL: Record<Method, string> = { truth: 'true model', ngmm: 'ngmm NGMM', glmm: 'ngmm GLMM', gam: 'mgcv GAM', torch: 'PyTorch NGMM' };

export type Kind = 'seen' | 'new';

export interface Cell {
  dataset: string;
  kind: Kind;
  /** RMSE, log-loss or Poisson deviance: lower is better. */
  metric: string;
  /** null: the method did not run (missing peer, or it failed: see `notes`). */
  values: Record<Method, number | null>;
}

export interface Timing {
  dataset: string;
  trainRows: number;
  seconds: Record<Method, number | null>;
}

/** The lowest metric among the peers that ran, or null when none did. */
export function bestPeer(values: Record<Method, number | null>): { method: Method; value: number } | null {
  let best: { method: Method; value: number } | null = null;
  for (const m of PEERS) {
    const v = values[m];
    if (v !== null && Number.isFinite(v) && (best === null || v < best.value)) best = { method: m, value: v };
  }
  return best;
}

/** a / b as "0.953×"; '—' when either is missing. */
export function ratio(a: number | null, b: number | null): string {
  return a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '—' : `${(a / b).toFixed(3)}×`;
}

/** value − truth with its sign, "+0.0123"; '—' when either is missing. */
export function gap(value: number | null, truth: number | null): string {
  if (value === null || truth === null) return '—';
  const d = value - truth;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}`;
}

export function num(v: number | null, digits = 4): string {
  return v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Mean of value/truth − 1 over the cells where both exist, and how many there were. */
export function meanRelativeGap(cells: readonly Cell[], m: Method): { mean: number; n: number } {
  let s = 0, n = 0;
  for (const c of cells) {
    const v = c.values[m], t = c.values.truth;
    if (v === null || t === null || !(t > 0)) continue;
    s += v / t - 1;
    n++;
  }
  return { mean: n > 0 ? s / n : NaN, n };
}

/** Cells where ngmm's NGMM is below the best peer, of the cells where both exist. */
export function wins(cells: readonly Cell[]): { won: number; of: number } {
  let won = 0, of = 0;
  for (const c of cells) {
    const b = bestPeer(c.values), v = c.values.ngmm;
    if (!b || v === null) continue;
    of++;
    if (v < b.value) won++;
  }
  return { won, of };
}

export function metricTable(cells: readonly Cell[]): string {
  return table(
    ['data set', 'held out', 'metric', ...METHODS.map((m) => LABEL[m]), 'NGMM / best peer', 'best peer', ...METHODS.filter((m) => m !== 'truth').map((m) => `${LABEL[m]} − truth`)],
    cells.map((c) => {
      const b = bestPeer(c.values);
      return [
        c.dataset, c.kind === 'seen' ? 'rows of seen groups' : 'new groups', c.metric,
        ...METHODS.map((m) => num(c.values[m])),
        ratio(c.values.ngmm, b ? b.value : null), b ? LABEL[b.method] : '—',
        ...METHODS.filter((m) => m !== 'truth').map((m) => gap(c.values[m], c.values.truth)),
      ];
    }),
  );
}

export function timeTable(ts: readonly Timing[]): string {
  const timed = METHODS.filter((m) => m !== 'truth');
  return table(
    ['data set', 'training rows', ...timed.map((m) => `${LABEL[m]} s`), 'NGMM / PyTorch time'],
    ts.map((t) => [t.dataset, t.trainRows, ...timed.map((m) => num(t.seconds[m], 2)), ratio(t.seconds.ngmm, t.seconds.torch)]),
  );
}
