// Every op, one file per family.
export * from './elementwise';
export * from './activations';
export * from './linalg';
export * from './reduce';
export * from './shape';
