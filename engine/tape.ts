// Reverse mode. Each result of a primitive applied to inputs that need gradients remembers
// its node (primitive, inputs, attrs); `grad` walks those nodes in reverse topological order.
// The tape does the bookkeeping (order, summing, un-broadcasting, shape checks that name the
// primitive); the rules in ops/ do only the math.
import { Tensor, type Primitive } from './tensor';

let gradEnabled = true;

/** Runs `fn` without recording: nothing it computes can be differentiated. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Applies a primitive, recording it when any input requires a gradient. */
export function apply<A>(prim: Primitive<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  for (const t of inputs) {
    if (t.backend !== inputs[0].backend) throw new Error(`${prim.name}: inputs live on different backends`);
  }
  const out = noGrad(() => prim.forward(inputs, attrs));
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { prim, inputs, attrs };
  }
  return out;
}

/**
 * Defines a custom differentiable op from a forward and a hand-written VJP — how the NGMM
 * marginal likelihood enters the tape, exactly like a built-in primitive.
 */
export function defineOp<A = undefined>(prim: Primitive<A>): (inputs: readonly Tensor[], attrs: A) => Tensor {
  return (inputs, attrs) => apply(prim, inputs, attrs);
}

// Backward-pass bookkeeping straight on the kernels: these run under noGrad (the tape does not
// differentiate its own bookkeeping) and must not depend on ops/, which depends on the tape.
function fill(like: readonly number[], b: Tensor['backend'], v: number): Tensor {
  const t = new Tensor(like, b);
  b.k.fill_f64(t.size, v, t.ptr);
  return t;
}

function reshapeTo(g: Tensor, shape: readonly number[]): Tensor {
  const t = new Tensor(shape, g.backend);
  const f = g.backend.heap.f64;
  f.copyWithin(t.ptr >>> 3, g.ptr >>> 3, (g.ptr >>> 3) + g.size);
  return t;
}

function addGrads(a: Tensor, b: Tensor): Tensor {
  const t = new Tensor(a.shape, a.backend);
  a.backend.k.add_f64(a.size, a.ptr, b.ptr, t.ptr);
  return t;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// Brings a gradient back to its input's shape: a scalar input sums everything, an input that
// matches the trailing dimensions sums over the leading ones (row broadcast).
function unbroadcast(name: string, g: Tensor, input: Tensor): Tensor {
  if (sameShape(g.shape, input.shape)) return g;
  if (g.size === input.size) return reshapeTo(g, input.shape);
  if (input.size === 1) return fill(input.shape, g.backend, g.backend.k.sum_f64(g.size, g.ptr));
  const k = input.shape.length;
  if (k < g.shape.length && sameShape(g.shape.slice(g.shape.length - k), input.shape)) {
    const t = new Tensor(input.shape, g.backend);
    g.backend.k.sum_rows_f64(g.size / input.size, input.size, g.ptr, t.ptr);
    return t;
  }
  throw new Error(
    `${name}: gradient of shape [${g.shape.join(', ')}] does not fit input [${input.shape.join(', ')}]`,
  );
}

/**
 * Gradients of the scalar `loss` with respect to each of `wrt` (zeros where `loss` does not
 * depend on one). The returned tensors belong to the current scope.
 */
export function grad(loss: Tensor, wrt: readonly Tensor[]): Tensor[] {
  if (loss.size !== 1) throw new Error(`grad: loss must have one element, got [${loss.shape.join(', ')}]`);
  return noGrad(() => {
    const order: Tensor[] = [];
    const seen = new Set<number>();
    // Iterative post-order DFS: deep chains (long unrolled loops) must not overflow the stack.
    const stack: [Tensor, number][] = [[loss, 0]];
    seen.add(loss.id);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const inputs = t.node?.inputs ?? [];
      if (i < inputs.length) {
        top[1]++;
        const u = inputs[i];
        if (u.requiresGrad && !seen.has(u.id)) {
          seen.add(u.id);
          stack.push([u, 0]);
        }
      } else {
        order.push(t);
        stack.pop();
      }
    }
    const grads = new Map<number, Tensor>();
    grads.set(loss.id, fill(loss.shape, loss.backend, 1));
    for (let n = order.length - 1; n >= 0; n--) {
      const t = order[n];
      const g = grads.get(t.id);
      const node = t.node;
      if (!g || !node) continue;
      const gs = node.prim.vjp(g, t, node.inputs, node.attrs);
      if (gs.length !== node.inputs.length) {
        throw new Error(`${node.prim.name}: vjp returned ${gs.length} gradients for ${node.inputs.length} inputs`);
      }
      node.inputs.forEach((input, i) => {
        const gi = gs[i];
        if (!input.requiresGrad || gi === null) return;
        const fitted = unbroadcast(node.prim.name, gi, input);
        const prev = grads.get(input.id);
        grads.set(input.id, prev ? addGrads(prev, fitted) : fitted);
      });
    }
    return wrt.map((p) => grads.get(p.id) ?? fill(p.shape, p.backend, 0));
  });
}
