// Matrix product and bias. matmul's VJP needs the two transposed forms, which is why the
// kernels come in three: dA = G·Bᵀ (matmul_nt), dB = Aᵀ·G (matmul_tn).
import { MATMUL_TN_WORK } from '../../kernels/kernels';
import { apply } from '../tape';
import { Tensor, type Primitive } from '../tensor';

function dims2(name: string, t: Tensor): [number, number] {
  if (t.shape.length !== 2) throw new Error(`${name}: expected a matrix, got shape [${t.shape.join(', ')}]`);
  return [t.shape[0], t.shape[1]];
}

type Form = 'nn' | 'nt' | 'tn';

// One primitive for the three forms, so that each form's VJP is again a matmul.
const MatMul: Primitive<Form> = {
  name: 'matmul',
  forward([a, b], form) {
    const [ar, ac] = dims2('matmul', a);
    const [br, bc] = dims2('matmul', b);
    const [M, K, K2, N] =
      form === 'nn' ? [ar, ac, br, bc] : form === 'nt' ? [ar, ac, bc, br] : [ac, ar, br, bc];
    if (K !== K2) {
      throw new Error(`matmul: inner dimensions differ, [${a.shape.join(', ')}] · [${b.shape.join(', ')}] (${form})`);
    }
    const out = new Tensor([M, N], a.backend);
    const k = a.backend.k;
    if (form === 'nn') k.matmul_f64(M, N, K, a.ptr, b.ptr, out.ptr);
    else if (form === 'nt') k.matmul_nt_f64(M, N, K, a.ptr, b.ptr, out.ptr);
    else {
      const work = a.backend.heap.alloc(MATMUL_TN_WORK);
      k.matmul_tn_f64(M, N, K, a.ptr, b.ptr, out.ptr, work);
      a.backend.heap.free(work);
    }
    return out;
  },
  vjp(g, _ans, [a, b], form) {
    const ga = !a.requiresGrad ? null : form === 'tn' ? mm(b, g, 'nt') : mm(g, b, form === 'nn' ? 'nt' : 'nn');
    const gb = !b.requiresGrad ? null : form === 'nt' ? mm(g, a, 'tn') : mm(a, g, form === 'nn' ? 'tn' : 'nn');
    return [ga, gb];
  },
};

const mm = (a: Tensor, b: Tensor, form: Form): Tensor => apply(MatMul, [a, b], form);

/** A·B for matrices A [M×K], B [K×N]. */
export const matmul = (a: Tensor, b: Tensor): Tensor => mm(a, b, 'nn');
/** A·Bᵀ for A [M×K], B [N×K]. */
export const matmulNT = (a: Tensor, b: Tensor): Tensor => mm(a, b, 'nt');
/** Aᵀ·B for A [K×M], B [K×N]. */
export const matmulTN = (a: Tensor, b: Tensor): Tensor => mm(a, b, 'tn');

/** x + b with b [N] added to every row of x [M×N]. The tape sums the rows for b's gradient. */
const Bias: Primitive = {
  name: 'bias',
  forward([x, b]) {
    const [M, N] = dims2('bias', x);
    if (b.size !== N) throw new Error(`bias: ${b.size} biases for ${N} columns`);
    const out = new Tensor(x.shape, x.backend);
    x.backend.k.bias_add_f64(M, N, x.ptr, b.ptr, out.ptr);
    return out;
  },
  vjp: (g) => [g, g],
};

export const bias = (x: Tensor, b: Tensor): Tensor => apply(Bias, [x, b], undefined);
