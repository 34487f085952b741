// Reverse mode against central finite differences, along random directions (HIPS/autograd's
// trick): for a scalar L(x₁…x_k) and a random unit-∞-norm direction uᵢ per input,
//   ⟨∇ᵢL, uᵢ⟩  vs  (L(xᵢ + h·uᵢ) − L(xᵢ − h·uᵢ)) / 2h.
// Step: the central difference has truncation error ≈ h²|L'''|/6 and rounding error ≈ ε|L|/h,
// minimised near h = (3ε)^{1/3} ≈ 1e−5 relative to the input's scale; we use
// h = 1e−5·max(1, ‖xᵢ‖∞), which leaves both terms near 1e−10 relative for smooth L of order 1,
// and one Richardson step, (4·D(h/2) − D(h))/3, which removes the h² term: a function with a
// large third derivative (tanh(x³) near saturation) would otherwise show 1e−6 of pure
// truncation error.
// The comparison is relative to max(|ad|, |fd|, 1e−3·‖∇ᵢL‖₂‖uᵢ‖₂): the floor keeps a
// direction that happens to be nearly orthogonal to the gradient from dividing by ~0.
// The finite difference's own rounding noise, ≈ ε·|L|/h (taken ×100 for the few roundings in
// L), is subtracted first: where the true derivative is 0, fd is that noise, not an error.
import { grad, tidy, tensor, type Tensor } from '../../engine/index';
import { Rng } from '../../engine/random';

export interface Input {
  readonly values: Float64Array;
  readonly shape: readonly number[];
}

export interface VjpReport {
  readonly worst: number;
  readonly details: string;
}

export function checkVjp(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly Input[],
  seed = 1,
): VjpReport {
  const rng = new Rng(seed);
  let scale = 1;
  const evalAt = (vals: readonly Float64Array[]): number =>
    tidy(() => f(...vals.map((v, i) => tensor(v, inputs[i].shape))).item());

  const [adDirs, adNorms, dirs] = tidy(() => {
    const ts = inputs.map((inp) => {
      const t = tensor(inp.values, inp.shape);
      t.requiresGrad = true;
      return t;
    });
    const L = f(...ts);
    scale = Math.max(1, Math.abs(L.item()));
    const gs = grad(L, ts);
    const dirs = inputs.map((inp) => {
      const u = new Float64Array(inp.values.length);
      for (let i = 0; i < u.length; i++) u[i] = 2 * rng.uniform() - 1;
      return u;
    });
    const ad = gs.map((g, i) => dot(g.data, dirs[i]));
    const norms = gs.map((g, i) => Math.sqrt(dot(g.data, g.data) * dot(dirs[i], dirs[i])));
    return [ad, norms, dirs] as const;
  });

  let worst = 0;
  const lines: string[] = [];
  inputs.forEach((inp, i) => {
    const h = 1e-5 * Math.max(1, maxAbs(inp.values));
    const central = (step: number): number => {
      const plus = inputs.map((x) => x.values.slice());
      const minus = inputs.map((x) => x.values.slice());
      for (let j = 0; j < inp.values.length; j++) {
        plus[i][j] += step * dirs[i][j];
        minus[i][j] -= step * dirs[i][j];
      }
      return (evalAt(plus) - evalAt(minus)) / (2 * step);
    };
    const fd = (4 * central(h / 2) - central(h)) / 3;
    const ad = adDirs[i];
    const denom = Math.max(Math.abs(ad), Math.abs(fd), 1e-3 * adNorms[i], 1e-300);
    // Richardson weights the half-step difference by 4/3, whose noise is 2ε|L|/h: ×3 overall.
    const noise = (300 * 2.220446049250313e-16 * scale) / h;
    const err = Math.max(0, Math.abs(ad - fd) - noise) / denom;
    if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
    lines.push(`input ${i} [${inp.shape.join('×')}]: ad=${ad} fd=${fd} rel=${err.toExponential(2)}`);
  });
  return { worst, details: lines.join('\n') };
}

/** Weighted sum Σ y⊙w of an op's output, the usual way to turn any op into a scalar to check. */
export function weights(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 2 * rng.uniform() - 1;
  return w;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
