// The whole MLP forward in float32 as one primitive, with its VJP beside it: the network's
// arithmetic in f32, everything it touches outside in f64. Inputs are the f64 data x
// [batch × in] and the f64 master parameters W₀, b₀, W₁, b₁, … (what the optimiser updates,
// Micikevicius et al. 2018, "Mixed precision training", §3.1); the output is f64
// [batch × out]. docs/mixed-precision.md gives the error bounds.
//
// Why one primitive for the network rather than f32 versions of matmul, bias and the
// activations: the tape's tensors are f64, and a layer-by-layer f32 path would convert every
// activation to f64 and back between primitives. Here x and the weights are rounded to f32
// once per forward, the layers run on f32 buffers, and the backward pass reads the f32
// activations the forward kept.
//
// Memory. Everything the forward computes in f32 — x, the weights, each layer's activation
// (and, for softplus and GELU, its input) — lives in one allocation owned by the output
// tensor: disposing the output (which `tidy` does) frees it, so a forward leaks nothing
// whether or not a backward pass follows. The backward pass takes one scratch allocation
// (two ping-pong gradient buffers, a weight-gradient buffer, a transposed weight, matmul_tn's
// work) and frees it before returning.
import { MATMUL_TN_WORK } from '../kernels/kernels';
import type { Backend } from '../kernels/load';
import type { ActivationName } from './ops/activations';
import { apply } from './tape';
import { Tensor, untracked, type Primitive } from './tensor';

interface Attrs {
  readonly sizes: readonly number[];
  readonly activation: ActivationName;
}

// Activations whose VJP needs the layer's input z (the others read the answer: ReLU's answer is
// positive exactly where its input is; tanh and sigmoid differentiate through the answer).
const needsInput = (a: ActivationName): boolean => a === 'softplus' || a === 'gelu';

// f32 element offsets (from the start of the saved block) of x, each W, b, activation h and,
// where kept, pre-activation z. Each segment starts on a 16-byte boundary (4 floats) so the
// kernels' v128 loads are aligned.
interface Layout {
  readonly x: number;
  readonly W: number[];
  readonly b: number[];
  readonly h: number[];
  readonly z: number[];
  readonly floats: number;
}

const pad4 = (n: number): number => (n + 3) & ~3;

function layout(B: number, sizes: readonly number[], activation: ActivationName): Layout {
  let at = 0;
  const take = (n: number): number => {
    const o = at;
    at += pad4(n);
    return o;
  };
  const x = take(B * sizes[0]);
  const W: number[] = [], b: number[] = [], h: number[] = [], z: number[] = [];
  const L = sizes.length - 1;
  for (let l = 0; l < L; l++) {
    W.push(take(sizes[l] * sizes[l + 1]));
    b.push(take(sizes[l + 1]));
  }
  for (let l = 0; l < L; l++) {
    h.push(take(B * sizes[l + 1]));
    z.push(l + 1 < L && needsInput(activation) ? take(B * sizes[l + 1]) : h[l]);
  }
  return { x, W, b, h, z, floats: at };
}

/** The output of the mixed forward: it owns the f32 block the VJP reads. */
class MixedOutput extends Tensor {
  constructor(shape: readonly number[], b: Backend, readonly saved: Tensor) {
    super(shape, b);
  }

  override dispose(): void {
    super.dispose();
    this.saved.dispose();
  }
}

type ActKernel = 'relu_f32' | 'tanh_f32' | 'sigmoid_f32' | 'softplus_f32' | 'gelu_f32';
type VjpKernel = 'relu_vjp_f32' | 'tanh_vjp_f32' | 'sigmoid_vjp_f32' | 'softplus_vjp_f32' | 'gelu_vjp_f32';

const prim: Primitive<Attrs> = {
  name: 'mlp_mixed',
  forward(inputs, { sizes, activation }) {
    const [x] = inputs;
    const b = x.backend;
    const k = b.k;
    const B = x.shape[0];
    const L = sizes.length - 1;
    const lay = layout(B, sizes, activation);
    // Outside every scope: its lifetime is the output's, not the enclosing tidy's.
    const saved = untracked(() => new Tensor([Math.max(1, lay.floats >>> 1)], b));
    let out: MixedOutput;
    try {
      out = new MixedOutput([B, sizes[L]], b, saved);
    } catch (e) {
      saved.dispose();
      throw e;
    }
    const base = saved.ptr;
    const p = (o: number): number => base + 4 * o;
    k.cvt_f64_f32(x.size, x.ptr, p(lay.x));
    for (let l = 0; l < L; l++) {
      const W = inputs[1 + 2 * l], bias = inputs[2 + 2 * l];
      k.cvt_f64_f32(W.size, W.ptr, p(lay.W[l]));
      k.cvt_f64_f32(bias.size, bias.ptr, p(lay.b[l]));
    }
    let hPrev = p(lay.x);
    for (let l = 0; l < L; l++) {
      const n = sizes[l + 1];
      const z = p(lay.z[l]), h = p(lay.h[l]);
      k.matmul_f32(B, n, sizes[l], hPrev, p(lay.W[l]), z);
      if (l + 1 === L || activation === 'identity') {
        k.bias_add_f32(B, n, z, p(lay.b[l]), z);
      } else if (activation === 'relu') {
        k.bias_relu_f32(B, n, z, p(lay.b[l]), z);
      } else {
        k.bias_add_f32(B, n, z, p(lay.b[l]), z);
        k[`${activation}_f32` as ActKernel](B * n, z, h);
      }
      hPrev = h;
    }
    k.cvt_f32_f64(B * sizes[L], hPrev, out.ptr);
    return out;
  },

  vjp(g, ans, inputs, { sizes, activation }) {
    if (!(ans instanceof MixedOutput) || ans.saved.disposed) {
      throw new Error('mlp_mixed: the forward pass\'s saved activations are gone (was its output disposed before grad?)');
    }
    const [x] = inputs;
    const b = x.backend;
    const k = b.k;
    const B = x.shape[0];
    const L = sizes.length - 1;
    const lay = layout(B, sizes, activation);
    const base = ans.saved.ptr;
    const p = (o: number): number => base + 4 * o;

    let widest = 0, wmax = 0;
    for (let l = 0; l <= L; l++) widest = Math.max(widest, pad4(B * sizes[l]));
    for (let l = 0; l < L; l++) wmax = Math.max(wmax, pad4(sizes[l] * sizes[l + 1]));
    const scratchFloats = 2 * widest + 2 * wmax + MATMUL_TN_WORK / 4;
    const scratch = new Tensor([scratchFloats >>> 1], b);
    const grads: (Tensor | null)[] = new Array(inputs.length).fill(null);
    try {
      const s = scratch.ptr;
      let dz = s, dh = s + 4 * widest;
      const dW = s + 8 * widest, wT = dW + 4 * wmax, work = wT + 4 * wmax;
      k.cvt_f64_f32(g.size, g.ptr, dz);
      for (let l = L - 1; l >= 0; l--) {
        const nIn = sizes[l], nOut = sizes[l + 1];
        const hPrev = l === 0 ? p(lay.x) : p(lay.h[l - 1]);
        const W = inputs[1 + 2 * l], bias = inputs[2 + 2 * l];
        if (W.requiresGrad) {
          k.matmul_tn_f32(nIn, nOut, B, hPrev, dz, dW, work);
          const t = new Tensor(W.shape, b);
          k.cvt_f32_f64(W.size, dW, t.ptr);
          grads[1 + 2 * l] = t;
        }
        if (bias.requiresGrad) {
          const t = new Tensor(bias.shape, b);
          k.sum_rows_f32_f64(B, nOut, dz, t.ptr);
          grads[2 + 2 * l] = t;
        }
        // The gradient flowing into the layer's input: into the previous layer, or into x
        // only when x itself needs one (data does not: the matmul is skipped).
        if (l === 0 && !x.requiresGrad) break;
        // ∂h = δ·Wᵀ as A·B with an f32 copy of Wᵀ: at these shapes (a fan-out of 16–64 is the
        // dot products' length) A·B's 4×8 tiles beat A·Bᵀ's k-lane dots, whose horizontal sums
        // cost as much as the products (800×32 from 16: 19 µs against 30, rough, shared machine).
        const f = b.heap.f32, src = p(lay.W[l]) >>> 2, dst = wT >>> 2;
        for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) f[dst + j * nIn + i] = f[src + i * nOut + j];
        k.matmul_f32(B, nIn, nOut, dz, wT, dh);
        if (l === 0) {
          const t = new Tensor(x.shape, b);
          k.cvt_f32_f64(x.size, dh, t.ptr);
          grads[0] = t;
          break;
        }
        // Back through the activation of layer l − 1, in place.
        if (activation !== 'identity') {
          const src = needsInput(activation) ? p(lay.z[l - 1]) : p(lay.h[l - 1]);
          k[`${activation}_vjp_f32` as VjpKernel](B * nIn, src, dh, dh);
        }
        [dz, dh] = [dh, dz];
      }
    } finally {
      scratch.dispose();
    }
    return grads;
  },
};

/**
 * The MLP y = W_L·act(… act(x·W₀ + b₀) …) + b_L with every layer in float32 and the inputs,
 * parameters, output and gradients in float64. `params` is W₀, b₀, W₁, b₁, … with W_l
 * [sizes[l] × sizes[l+1]] and b_l [sizes[l+1]], as `MLP.parameters()`.
 */
export function mlpMixed(x: Tensor, params: readonly Tensor[], sizes: readonly number[], activation: ActivationName): Tensor {
  const L = sizes.length - 1;
  if (L < 1) throw new Error(`mlp_mixed: sizes must have at least two entries, got [${sizes.join(', ')}]`);
  if (x.shape.length !== 2 || x.shape[1] !== sizes[0]) {
    throw new Error(`mlp_mixed: input must be [batch × ${sizes[0]}], got [${x.shape.join(', ')}]`);
  }
  if (params.length !== 2 * L) throw new Error(`mlp_mixed: expected ${2 * L} parameter tensors, got ${params.length}`);
  for (let l = 0; l < L; l++) {
    const W = params[2 * l], bias = params[2 * l + 1];
    if (W.shape.length !== 2 || W.shape[0] !== sizes[l] || W.shape[1] !== sizes[l + 1]) {
      throw new Error(`mlp_mixed: weight ${l} must be [${sizes[l]} × ${sizes[l + 1]}], got [${W.shape.join(', ')}]`);
    }
    if (bias.shape.length !== 1 || bias.shape[0] !== sizes[l + 1]) {
      throw new Error(`mlp_mixed: bias ${l} must be [${sizes[l + 1]}], got [${bias.shape.join(', ')}]`);
    }
  }
  return apply(prim, [x, ...params], { sizes: [...sizes], activation });
}
