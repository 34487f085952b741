// A tensor is a shape over f64 data that lives in its backend's heap. The data is addressed
// by a byte pointer, never held as a view, because views die when the memory grows.
// Tensors made inside `tidy` are freed when it returns (unless returned); tensors made
// outside any scope (parameters, optimiser state) live until `dispose()`.
import type { Backend } from '../kernels/load';
import { backend } from './backend';

export interface Node {
  readonly prim: Primitive<any>;
  readonly inputs: readonly Tensor[];
  readonly attrs: any;
}

/**
 * A differentiable primitive: forward and its vector-Jacobian product side by side.
 * `vjp` gets the upstream gradient `g` (shape of `ans`), the forward answer and inputs, and
 * returns one gradient per input (null where there is none). The tape un-broadcasts and sums.
 */
export interface Primitive<A = undefined> {
  readonly name: string;
  forward(inputs: readonly Tensor[], attrs: A): Tensor;
  vjp(g: Tensor, ans: Tensor, inputs: readonly Tensor[], attrs: A): readonly (Tensor | null)[];
}

let nextId = 1;
const scopes: Tensor[][] = [];

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: Backend;
  private _ptr: number;
  requiresGrad = false;
  node: Node | null = null;

  /** Allocates uninitialised storage; use the factories below rather than this. */
  constructor(shape: readonly number[], b: Backend = backend()) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.backend = b;
    this._ptr = b.heap.alloc(this.size * 8);
    if (scopes.length > 0) scopes[scopes.length - 1].push(this);
  }

  /** Byte offset of the data in the heap. */
  get ptr(): number {
    if (this._ptr < 0) throw new Error(`tensor #${this.id} [${this.shape.join(', ')}] was disposed`);
    return this._ptr;
  }

  get disposed(): boolean {
    return this._ptr < 0;
  }

  /** A live view of the data: valid until the next allocation may grow memory. */
  get data(): Float64Array {
    const o = this.ptr >>> 3;
    return this.backend.heap.f64.subarray(o, o + this.size);
  }

  /** A copy of the data. */
  toArray(): Float64Array<ArrayBuffer> {
    return new Float64Array(this.data);
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item() needs one element, tensor has shape [${this.shape.join(', ')}]`);
    return this.backend.heap.f64[this.ptr >>> 3];
  }

  dispose(): void {
    if (this._ptr >= 0) {
      this.backend.heap.free(this._ptr);
      this._ptr = -1;
    }
  }

  toString(): string {
    return `Tensor[${this.shape.join('×')}]`;
  }
}

/** A tensor holding `values` (copied), shaped `shape` (default: 1-D). */
export function tensor(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
  if (sizeOf(shape) !== values.length) {
    throw new Error(`tensor: ${values.length} values do not fill shape [${shape.join(', ')}]`);
  }
  const t = new Tensor(shape);
  t.backend.heap.f64.set(values, t.ptr >>> 3);
  return t;
}

export function scalar(v: number): Tensor {
  return full([], v);
}

export function full(shape: readonly number[], v: number, b: Backend = backend()): Tensor {
  const t = new Tensor(shape, b);
  t.backend.k.fill_f64(t.size, v, t.ptr);
  return t;
}

export const zeros = (shape: readonly number[], b?: Backend): Tensor => full(shape, 0, b);
export const ones = (shape: readonly number[], b?: Backend): Tensor => full(shape, 1, b);

/** A trainable tensor: requires a gradient and is never freed by a scope. */
export function param(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
  const t = untracked(() => tensor(values, shape));
  t.requiresGrad = true;
  return t;
}

/** Runs `fn` outside every scope: what it allocates lives until disposed. */
export function untracked<T>(fn: () => T): T {
  const saved = scopes.splice(0, scopes.length);
  try {
    return fn();
  } finally {
    scopes.push(...saved);
  }
}

/**
 * Runs `fn` in a memory scope: every tensor created inside is freed on return except the
 * tensors found in the result (a tensor, or arrays/objects of them), which move to the
 * enclosing scope. This is what keeps memory flat over 10⁵ training steps.
 */
export function tidy<T>(fn: () => T): T {
  const mine: Tensor[] = [];
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  scopes.pop();
  const kept = new Set<Tensor>();
  collect(result, kept, 0);
  const parent = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  for (const t of mine) {
    if (kept.has(t)) parent?.push(t);
    else t.dispose();
  }
  return result;
}

function collect(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (ArrayBuffer.isView(v)) return;
  for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, out, depth + 1);
}
