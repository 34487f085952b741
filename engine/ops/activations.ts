// Activations. Each VJP kernel takes whichever of input and answer is cheaper: tanh and
// sigmoid reuse the answer, relu, softplus and gelu need the input.
import type { KernelName } from '../../kernels/kernels';
import { apply } from '../tape';
import { Tensor, type Primitive } from '../tensor';

function activation(name: string, fwd: KernelName, bwd: KernelName, fromAnswer: boolean): (x: Tensor) => Tensor {
  const prim: Primitive = {
    name,
    forward([x]) {
      const out = new Tensor(x.shape, x.backend);
      (x.backend.k[fwd] as (n: number, x: number, out: number) => void)(x.size, x.ptr, out.ptr);
      return out;
    },
    vjp(g, ans, [x]) {
      const out = new Tensor(x.shape, x.backend);
      const src = fromAnswer ? ans : x;
      (x.backend.k[bwd] as (n: number, s: number, g: number, out: number) => void)(x.size, src.ptr, g.ptr, out.ptr);
      return [out];
    },
  };
  return (x) => apply(prim, [x], undefined);
}

export const relu = activation('relu', 'relu_f64', 'relu_vjp_f64', false);
export const tanh = activation('tanh', 'tanh_f64', 'tanh_vjp_f64', true);
export const sigmoid = activation('sigmoid', 'sigmoid_f64', 'sigmoid_vjp_f64', true);
/** log(1 + eˣ), computed without overflow. */
export const softplus = activation('softplus', 'softplus_f64', 'softplus_vjp_f64', false);
/** The exact (erf) GELU, x·Φ(x). */
export const gelu = activation('gelu', 'gelu_f64', 'gelu_vjp_f64', false);

export type ActivationName = 'relu' | 'tanh' | 'sigmoid' | 'softplus' | 'gelu' | 'identity';

export const activations: Record<ActivationName, (x: Tensor) => Tensor> = {
  relu, tanh, sigmoid, softplus, gelu, identity: (x) => x,
};
