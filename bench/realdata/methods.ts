// Which methods run on which response family, their labels, and how each is fitted. Every
// method gets the same split, the same network f (the grid's hidden layers) and the same
// early-stopping share; bench/realdata/README.md describes each.
import type { RepSplit } from './data';
import { fitLmmnn } from './baselines/lmmnn';
import { fitPgnn } from './baselines/pgnn';
import { fitEmbed, fitOhe } from './baselines/tabular';
import { fitLibrary } from './library';
import type { Fitted, RFamily, TrainOptions } from './types';

export type MethodName = 'ngmm' | 'glmm' | 'lmmnn' | 'pgnn' | 'ohe' | 'embed' | 'bbvi';

export const LABEL: Record<MethodName, string> = {
  ngmm: 'NGMM',
  glmm: 'GLMM',
  lmmnn: 'LMMNN',
  pgnn: 'PGNN',
  ohe: 'OHE',
  embed: 'Embed',
  bbvi: 'BBVI',
};

export const COLOR: Record<MethodName, string> = {
  ngmm: '#1b9e77',
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
  return ['ngmm', 'glmm', ...conjugate, 'ohe', 'embed', 'bbvi'];
}

/** Methods without hyper-parameters to tune (the GLMM: maximum likelihood, no network). */
export const UNTUNED: ReadonlySet<MethodName> = new Set(['glmm']);

const FITTERS: Partial<Record<MethodName, (split: RepSplit, o: TrainOptions) => Fitted>> = {
  ngmm: (s, o) => fitLibrary(s, o, false),
  glmm: (s, o) => fitLibrary(s, o, true),
  lmmnn: (s, o) => fitLmmnn(s.set, o),
  pgnn: (s, o) => fitPgnn(s.set, o),
  ohe: (s, o) => fitOhe(s.set, o),
  embed: (s, o) => fitEmbed(s.set, o, 16),
};

export function fitMethod(m: MethodName, split: RepSplit, o: TrainOptions): Fitted {
  const f = FITTERS[m];
  if (!f) throw new Error(`realdata: the method '${m}' is not built`);
  return f(split, o);
}
