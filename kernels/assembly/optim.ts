// In-place optimiser updates over a parameter vector and its state.

/**
 * Adam with decoupled weight decay (AdamW, Loshchilov & Hutter 2019):
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
 *   p ← p − lr·( (m/c₁) / (√(v/c₂) + ε) + wd·p ),  c_k = 1 − β_kᵗ (bias corrections, passed in).
 */
export function adam_f64(
  n: i32, p: usize, g: usize, m: usize, v: usize,
  lr: f64, b1: f64, b2: f64, eps: f64, c1: f64, c2: f64, wd: f64,
): void {
  const ib1 = 1 - b1;
  const ib2 = 1 - b2;
  const ic1 = 1 / c1;
  const ic2 = 1 / c2;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    const gi = load<f64>(g + o);
    const mi = b1 * load<f64>(m + o) + ib1 * gi;
    const vi = b2 * load<f64>(v + o) + ib2 * gi * gi;
    store<f64>(m + o, mi);
    store<f64>(v + o, vi);
    const pi = load<f64>(p + o);
    store<f64>(p + o, pi - lr * ((mi * ic1) / (Math.sqrt(vi * ic2) + eps) + wd * pi));
  }
}

/** SGD with heavy-ball momentum and L2 weight decay: buf ← μ·buf + g + wd·p, p ← p − lr·buf. */
export function sgd_f64(n: i32, p: usize, g: usize, buf: usize, lr: f64, mu: f64, wd: f64): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    const pi = load<f64>(p + o);
    const bi = mu * load<f64>(buf + o) + load<f64>(g + o) + wd * pi;
    store<f64>(buf + o, bi);
    store<f64>(p + o, pi - lr * bi);
  }
}
