// ngmm's public entry point: the engine, the response families, and the per-group marginal
// likelihood (ODE for a scalar random effect, adaptive Gauss–Hermite for random slopes).
export * from '../engine/index';
export { family, type Family, type FamilyName, type LinkName } from './families/index';
export { groupResponse, releaseResponse, type GroupedResponse } from './marginal/groups';
export { logMarginal, type OdeOptions, type GradientMethod, type MarginalResult, type SolverStats } from './marginal/ode';
export { logMarginalQuadrature, type QuadratureOptions } from './marginal/quadrature';
export { gaussHermite, adaptiveNodes, productRule } from './marginal/gaussHermite';
