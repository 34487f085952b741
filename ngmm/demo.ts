// `npm start`: the built-in example. Until the mixed-model layer lands, it trains the engine's
// MLP on a small nonlinear regression and reports the fit and the backend it ran on.
import { Adam, initSync, mean, mlp, Rng, square, sub, tensor, tidy, grad } from './index';

const backend = initSync();
const rng = new Rng(2026);
const n = 512;
const xs = new Float64Array(2 * n);
const ys = new Float64Array(n);
for (let i = 0; i < n; i++) {
  const a = 2 * rng.uniform() - 1, b = 2 * rng.uniform() - 1;
  xs[2 * i] = a;
  xs[2 * i + 1] = b;
  ys[i] = Math.sin(3 * a) * b + 0.05 * rng.normal();
}
const x = tensor(xs, [n, 2]);
const y = tensor(ys, [n, 1]);
const net = mlp([2, 32, 32, 1], 'tanh', 1);
const opt = new Adam(net.parameters(), { lr: 5e-3 });
const t0 = performance.now();
for (let step = 0; step <= 1000; step++) {
  const loss = tidy(() => {
    const l = mean(square(sub(net.forward(x), y)));
    opt.step(grad(l, net.parameters()));
    return l.item();
  });
  if (step % 200 === 0) console.log(`step ${String(step).padStart(4)}  mse ${loss.toFixed(5)}`);
}
console.log(`backend ${backend.name}; 1000 Adam steps in ${((performance.now() - t0) / 1000).toFixed(2)} s (noise variance 0.0025)`);
