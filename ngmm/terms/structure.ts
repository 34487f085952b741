// The contract every random-effect structure of a model keeps (docs/terms.md): Model and the
// fitting stages talk to the structure only through it, plus the structure's own objective
// (ngmm/fitting/objective.ts) and model-file section (ngmm/modelFile.ts). A new structure is a
// class implementing this, its objective, and its file section.
import type { Tensor } from '../../engine/tensor';

export interface RandomStructure {
  /** The model file's tag for the structure. */
  readonly kind: string;
  /** How the marginal likelihood is integrated, in words (the summary's line). */
  integration(): string;
  /** The scalar variance parameters on the tape (softplus-parametrised SDs, Cholesky entries). */
  varianceParams(): Tensor[];
  /** The parameters of a random-effect network, if the structure has one. */
  networkParams(): Tensor[];
  /** Whether some random-effect SD is below 1e−3·unit (where the linear stage restarts). */
  nearBoundary(unit: number): boolean;
  /** Sets every random-effect SD to `sd` and correlations to 0 (a start or restart). */
  setScale(sd: number): void;
  /** Each level's posterior summary on the user's scale (lme4's ranef(condVar = TRUE)). */
  ranef(): { group: string; mean: number; sd: number; scale: number; effects?: number[]; sds?: number[] }[];
  dispose(): void;
}
