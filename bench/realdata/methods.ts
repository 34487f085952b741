// Which methods run on which response family, their labels, and how each is fitted. Every
// method gets the same split, the same network f (the grid's hidden layers) and the same
// early-stopping share; bench/realdata/README.md describes each.
import type { RepSplit } from './data';
import { fitBbvi } from './baselines/bbvi';
import { fitLmmnn } from './baselines/lmmnn';
import { fitPgnn } from './baselines/pgnn';
import { fitEmbed, fitOhe } from './baselines/tabular';
import { fitLibrary } from './library';
import type { Fitted, RFamily, TrainOptions } from './types';

export type MethodName = 'ngmm' | 'ngmm5' | 'glmm' | 'lmmnn' | 'pgnn' | 'ohe' | 'embed' | 'bbvi';

export const LABEL: Record<MethodName, string> = {
  ngmm: 'NGMM',
  ngmm5: 'NGMM ×5',
  glmm: 'GLMM',
  lmmnn: 'LMMNN',
  pgnn: 'PGNN',
  ohe: 'OHE',
  embed: 'Embed',
  bbvi: 'BBVI',
};

export const COLOR: Record<MethodName, string> = {
  ngmm: '#1b9e77',
  ngmm5: '#1b9e77',
  glmm: '#7570b3',
  lmmnn: '#e7298a',
  pgnn: '#e7298a',
  ohe: '#d95f02',
  embed: '#66a61e',
  bbvi: '#a6761d',
};

/** NGMM first: the reference every other method is compared with. */
export function methodsFor(family: RFamily): MethodName[] {
  const conjugate: MethodName[] = family === 'gaussian' ? ['lmmnn'] : family === 'poisson' ? ['pgnn'] : [];
  return ['ngmm', 'ngmm5', 'glmm', ...conjugate, 'ohe', 'embed', 'bbvi'];
}

/**
 * Methods not tuned on the grid: the GLMM (maximum likelihood, no network) and the NGMM's
 * 5-member ensemble, which takes the single NGMM's chosen settings (the ensemble averages
 * networks trained as the single one is; tuning it again would cost five times as much).
 */
export const UNTUNED: ReadonlySet<MethodName> = new Set(['glmm', 'ngmm5']);
/** Where an untuned method takes its settings from. */
export const SETTINGS_OF: Partial<Record<MethodName, MethodName>> = { ngmm5: 'ngmm' };

const FITTERS: Partial<Record<MethodName, (split: RepSplit, o: TrainOptions) => Fitted>> = {
  ngmm: (s, o) => fitLibrary(s, o, false),
  ngmm5: (s, o) => fitLibrary(s, o, false, 5),
  glmm: (s, o) => fitLibrary(s, o, true),
  lmmnn: (s, o) => fitLmmnn(s.set, o),
  pgnn: (s, o) => fitPgnn(s.set, o),
  ohe: (s, o) => fitOhe(s.set, o),
  embed: (s, o) => fitEmbed(s.set, o, 16),
  bbvi: (s, o) => fitBbvi(s.set, o),
};

export function fitMethod(m: MethodName, split: RepSplit, o: TrainOptions): Fitted {
  const f = FITTERS[m];
  if (!f) throw new Error(`realdata: the method '${m}' is not built`);
  return f(split, o);
}
