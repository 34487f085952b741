// The NGMM and the GLMM of the comparison: the library's own `fit` (ngmm/fit.ts) on D, the
// training and early-stopping rows together — the library holds out its own rows for early
// stopping (`validationRows`, the same 20 % share the baselines get) and its posterior then
// uses every row of D, as the closed-form baselines' posteriors do.
import { fit } from '../../ngmm/fit';
import type { Model } from '../../ngmm/model';
import { meanOf } from './baselines/nll';
import type { RepSplit } from './data';
import type { Fitted, Rows, TrainOptions } from './types';

/**
 * The NGMM with one network f (the grid's `hidden`), fitted as the library's default recipe
 * for a network (docs/recipe.md) except `ensemble: 1`: every baseline is one network, so the
 * NGMM is one network too; `ensemble` 5 is the recipe's own deep ensemble (reported beside,
 * not as the reference). hidden = []: the GLMM (maximum likelihood; the exact LMM when
 * Gaussian).
 */
export function fitLibrary(split: RepSplit, o: TrainOptions, linear: boolean, ensemble = 1): Fitted {
  const { all } = split;
  const model: Model = fit(
    { X: all.X, xNames: split.covariates, y: all.y, group: Array.from(all.group) },
    { family: split.set.family, hidden: linear ? [] : [...o.hidden], seed: o.seed },
    linear ? {} : { ensemble, lr: o.lr, epochs: Math.min(o.epochs, 300), patience: o.patience, seed: o.seed },
  );
  const fam = split.set.family;
  return {
    predictSeen: (r: Rows) => model.predict(r.X, { group: Array.from(r.group), groups: 'observed' }),
    predictNew: (r: Rows) => model.predict(r.X, { groups: 'new', type: 'link' }).map((e) => meanOf(fam, e)),
    predictNewMarginal: (r: Rows) => model.predict(r.X, { groups: 'new' }),
    info: {
      epochs: model.info.epochs,
      converged: String(model.info.converged),
      sigmaB: model.ranefSD,
      logLik: model.info.logLik,
    },
    dispose: () => model.dispose(),
  };
}
