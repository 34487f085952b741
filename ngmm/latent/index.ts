// `import … from 'ngmm/latent'`: the latent-variable NGMM (issue 15; docs/latent-model.md) —
// students' item responses under a partial-credit measurement model, proficiency θ ∈ R³
// explained by one of four background models, fitted by maximum marginal likelihood with
// nested adaptive Gauss–Hermite. A separate entry (dist/latent.js) so that the main bundle
// does not carry it.
export { initSync, init } from '../../engine/backend';
export { Embedding, embedding, type EmbeddingJSON, type EmbeddingOptions } from '../../engine/embedding';
export { D, DOMAINS, type ItemBank, type Responses } from './types';
export { BACKGROUNDS, Background, type BackgroundKind, type BackgroundOptions, type BackgroundShape } from './background';
export { buildLatent, bySchool, covariance, fitLatent, LatentModel, standardErrors, type DomainTotals, type LatentData, type LatentFitOptions } from './fit';
export { studentLik, itemLogProbs, identify, pcmAtNodes, validatePcm, type StudentLik } from './pcm';
export { fitPcm1D, type Pcm1DFit, type Pcm1DOptions } from './pcmFit';
export { adaptSchools, innerLogLik, LatentMarginalError, type LatentRules, type MeasurementLik } from './adapt';
export { latentLogLik, latentPosterior, type LatentPosterior } from './marginal';
export { domainScore, type DomainPrior, type DomainScore } from './predict';
export { fitPca, pcaScores, type Pca } from './pca';
export type { Covariates } from './design';
