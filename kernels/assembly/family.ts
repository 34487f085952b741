// The family log-likelihood on an n × K grid of linear predictors (observation j's row holds
// its value at K quadrature nodes), and its η-gradient: the per-element work of the
// Gauss–Hermite marginal. Codes and formulas are those of marginal/obs.ts.
//   family_core_f64:  out[j,k] = core(y_j, η[j,k], ϕ)          (c(y) is added per group elsewhere)
//   family_score_vjp_f64: out[j,k] = g[j,k]·score(y_j, η[j,k], ϕ)
// trials = 0 means one trial per observation. out may alias eta (core) or g (score).
import { obsCore, obsScore } from './marginal/obs';

export function family_core_f64(code: i32, n: i32, K: i32, y: usize, trials: usize, phi: f64, eta: usize, out: usize): void {
  for (let j = 0; j < n; j++) {
    const yj = load<f64>(y + (<usize>j << 3));
    const m = trials != 0 ? load<f64>(trials + (<usize>j << 3)) : 1.0;
    const row = <usize>j * <usize>K;
    for (let k = 0; k < K; k++) {
      const o = (row + <usize>k) << 3;
      store<f64>(out + o, obsCore(code, yj, m, load<f64>(eta + o), phi));
    }
  }
}

export function family_score_vjp_f64(code: i32, n: i32, K: i32, y: usize, trials: usize, phi: f64, eta: usize, g: usize, out: usize): void {
  for (let j = 0; j < n; j++) {
    const yj = load<f64>(y + (<usize>j << 3));
    const m = trials != 0 ? load<f64>(trials + (<usize>j << 3)) : 1.0;
    const row = <usize>j * <usize>K;
    for (let k = 0; k < K; k++) {
      const o = (row + <usize>k) << 3;
      store<f64>(out + o, load<f64>(g + o) * obsScore(code, yj, m, load<f64>(eta + o), phi));
    }
  }
}
