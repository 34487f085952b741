// Every op, and the helpers the tape needs from them (installed here, once, to keep the
// tape free of an import cycle).
import { installTapeHelpers } from '../tape';
import { full } from '../tensor';
import { add } from './elementwise';
import { reshape } from './shape';
import { sum } from './reduce';
import { Tensor } from '../tensor';

installTapeHelpers({
  sumAll: (g) => sum(g),
  sumLeading: (g, rows, cols) => sum(reshape(g, [rows, cols]), 0),
  add: (a, b) => add(a, b),
  reshape: (g, shape) => reshape(g, shape),
  zerosLike: (t: Tensor) => full(t.shape, 0, t.backend),
  onesLike: (t: Tensor) => full(t.shape, 1, t.backend),
});

export * from './elementwise';
export * from './activations';
export * from './linalg';
export * from './reduce';
export * from './shape';
