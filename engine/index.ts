// The autodiff engine: tensors over WASM memory, a reverse-mode tape, ops, MLPs, optimisers.
export { backend, init, initSync, setBackend, withBackend } from './backend';
export { Tensor, tensor, scalar, full, zeros, ones, param, tidy, untracked, type Primitive, type Node } from './tensor';
export { grad, noGrad, apply, defineOp } from './tape';
export * from './ops/index';
export { MLP, mlp, type MLPJSON, type MLPOptions, type Precision, type Init } from './nn';
export { Adam, SGD, type Optimizer, type AdamOptions, type SGDOptions } from './optim';
export { lbfgs, minimize, minimizeSum, minimizeWith, type LbfgsOptions, type LbfgsResult, type Objective } from './lbfgs';
export { Rng } from './random';
export { createBackend, createBackendSync, wasmBytes, type Backend, type BackendName, type BackendOptions } from '../kernels/load';
