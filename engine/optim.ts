// Optimisers update parameters in place with one kernel call per parameter tensor. Their
// state is allocated once, outside every scope, so a training loop's memory stays flat.
import { Tensor, untracked, zeros } from './tensor';

export interface Optimizer {
  /** Learning rate, settable between steps (schedules). */
  lr: number;
  step(grads: readonly Tensor[]): void;
}

function checkGrads(name: string, params: readonly Tensor[], grads: readonly Tensor[]): void {
  if (grads.length !== params.length) throw new Error(`${name}: ${grads.length} gradients for ${params.length} parameters`);
  grads.forEach((g, i) => {
    if (g.size !== params[i].size) {
      throw new Error(`${name}: gradient ${i} has ${g.size} elements, parameter has ${params[i].size}`);
    }
  });
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW). */
  weightDecay?: number;
}

export class Adam implements Optimizer {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken. */
  t = 0;
  // β₁ᵗ and β₂ᵗ as running products: IEEE multiplication is the same in every JavaScript
  // engine, Math.pow is not (Node 20 and workerd differ in the last bit on ~10 % of arguments).
  private beta1t = 1;
  private beta2t = 1;
  private readonly m: Tensor[];
  private readonly v: Tensor[];

  constructor(readonly params: readonly Tensor[], o: AdamOptions = {}) {
    this.lr = o.lr ?? 1e-3;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.m = untracked(() => params.map((p) => zeros(p.shape, p.backend)));
    this.v = untracked(() => params.map((p) => zeros(p.shape, p.backend)));
  }

  step(grads: readonly Tensor[]): void {
    checkGrads('Adam', this.params, grads);
    this.t++;
    this.beta1t *= this.beta1;
    this.beta2t *= this.beta2;
    const c1 = 1 - this.beta1t;
    const c2 = 1 - this.beta2t;
    this.params.forEach((p, i) => {
      p.backend.k.adam_f64(
        p.size, p.ptr, grads[i].ptr, this.m[i].ptr, this.v[i].ptr,
        this.lr, this.beta1, this.beta2, this.eps, c1, c2, this.weightDecay,
      );
    });
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
}

export class SGD implements Optimizer {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  private readonly buf: Tensor[];

  constructor(readonly params: readonly Tensor[], o: SGDOptions = {}) {
    this.lr = o.lr ?? 1e-2;
    this.momentum = o.momentum ?? 0;
    this.weightDecay = o.weightDecay ?? 0;
    this.buf = untracked(() => params.map((p) => zeros(p.shape, p.backend)));
  }

  step(grads: readonly Tensor[]): void {
    checkGrads('SGD', this.params, grads);
    this.params.forEach((p, i) => {
      p.backend.k.sgd_f64(p.size, p.ptr, grads[i].ptr, this.buf[i].ptr, this.lr, this.momentum, this.weightDecay);
    });
  }

  dispose(): void {
    for (const t of this.buf) t.dispose();
  }
}
