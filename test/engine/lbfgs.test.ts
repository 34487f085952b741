// L-BFGS with the strong-Wolfe line search: classic test functions with known minima, a
// logistic-regression maximum likelihood against Newton–Raphson (IRLS) written here, and
// plain-words reporting when it does not converge.
import { describe, expect, it } from 'vitest';
import * as E from '../../engine/index';
import { ts } from '../helpers/backends';

function rosenbrock(x: Float64Array, g: Float64Array): number {
  let f = 0;
  g.fill(0);
  for (let i = 0; i + 1 < x.length; i++) {
    const a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    f += 100 * a * a + b * b;
    g[i] += -400 * x[i] * a - 2 * b;
    g[i + 1] += 200 * a;
  }
  return f;
}

describe('lbfgs', () => {
  it('finds the Rosenbrock minimum in 2 and 10 dimensions', () => {
    for (const x0 of [[-1.2, 1], Array.from({ length: 10 }, (_, i) => (i % 2 ? 1 : -1.2))]) {
      const r = E.lbfgs(rosenbrock, x0, { gtol: 1e-8 });
      expect(r.converged, r.message).toBe(true);
      for (const v of r.x) expect(Math.abs(v - 1)).toBeLessThan(1e-7);
      expect(r.message).toMatch(/^converged/);
    }
  });

  // With memory ≥ n the pairs span the space; with less, L-BFGS on a spectrum this spread is
  // known to need many iterations (measured: memory 10 not there after 300).
  it('solves an ill-conditioned quadratic (condition number 10⁴) with full memory', () => {
    const n = 20;
    const d = Float64Array.from({ length: n }, (_, i) => 10 ** ((4 * i) / (n - 1)));
    const c = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const r = E.lbfgs((x, g) => {
      let f = 0;
      for (let i = 0; i < n; i++) {
        f += 0.5 * d[i] * (x[i] - c[i]) ** 2;
        g[i] = d[i] * (x[i] - c[i]);
      }
      return f;
    }, new Float64Array(n), { gtol: 1e-10, memory: n, maxIter: 400 });
    expect(r.converged).toBe(true);
    for (let i = 0; i < n; i++) expect(Math.abs(r.x[i] - c[i])).toBeLessThan(1e-10 / d[i] * 10);
  });

  it('says in plain words when it stops short', () => {
    const r = E.lbfgs(rosenbrock, [-1.2, 1], { maxIter: 3 });
    expect(r.converged).toBe(false);
    expect(r.message).toMatch(/not converged after 3 iterations: largest gradient component .* raise maxIter/);
    const bad = E.lbfgs((_x, g) => {
      g.fill(0);
      return NaN;
    }, [1]);
    expect(bad.converged).toBe(false);
    expect(bad.message).toMatch(/not finite at the start/);
  });

  it('over tensors: a logistic regression MLE matches Newton–Raphson', () => {
    E.withBackend(ts, () => {
      const rng = new E.Rng(4);
      const n = 200, p = 3;
      const X = Float64Array.from({ length: n * p }, (_, i) => (i % p === 0 ? 1 : rng.normal()));
      const beta = [0.3, -1, 0.7];
      const y = Float64Array.from({ length: n }, (_, i) => {
        let eta = 0;
        for (let j = 0; j < p; j++) eta += X[i * p + j] * beta[j];
        return rng.uniform() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
      });
      // IRLS in plain numbers: β ← β + (XᵀWX)⁻¹Xᵀ(y − μ), solved by Gaussian elimination.
      const b = new Float64Array(p);
      for (let it = 0; it < 50; it++) {
        const H = new Float64Array(p * p), gr = new Float64Array(p);
        for (let i = 0; i < n; i++) {
          let eta = 0;
          for (let j = 0; j < p; j++) eta += X[i * p + j] * b[j];
          const mu = 1 / (1 + Math.exp(-eta)), w = mu * (1 - mu);
          for (let j = 0; j < p; j++) {
            gr[j] += X[i * p + j] * (y[i] - mu);
            for (let k = 0; k < p; k++) H[j * p + k] += w * X[i * p + j] * X[i * p + k];
          }
        }
        const A = Array.from({ length: p }, (_, j) => [...H.slice(j * p, j * p + p), gr[j]]);
        for (let c = 0; c < p; c++) {
          for (let r = c + 1; r < p; r++) {
            const m = A[r][c] / A[c][c];
            for (let k = c; k <= p; k++) A[r][k] -= m * A[c][k];
          }
        }
        const step = new Float64Array(p);
        for (let r = p - 1; r >= 0; r--) {
          let s = A[r][p];
          for (let k = r + 1; k < p; k++) s -= A[r][k] * step[k];
          step[r] = s / A[r][r];
        }
        for (let j = 0; j < p; j++) b[j] += step[j];
      }
      const w = E.param(new Float64Array(p), [p, 1]);
      const x = E.untracked(() => E.tensor(X, [n, p]));
      const yt = E.untracked(() => E.tensor(y, [n, 1]));
      // Negative log-likelihood: Σ softplus(η) − y·η.
      const r = E.minimize([w], () => {
        const eta = E.matmul(x, w);
        return E.sum(E.sub(E.softplus(eta), E.mul(yt, eta)));
      }, { gtol: 1e-9 });
      expect(r.converged, r.message).toBe(true);
      for (let j = 0; j < p; j++) expect(Math.abs(w.data[j] - b[j])).toBeLessThan(1e-8);
      w.dispose();
      x.dispose();
      yt.dispose();
    });
  });

  describe('abort', () => {
    const x0 = [-1.2, 1];

    it('stops at the iteration after the signal is aborted from onIteration, keeping that iterate', () => {
      const ctl = new AbortController();
      const seen: { it: number; f: number }[] = [];
      let calls = 0, callsAtAbort = -1;
      const r = E.lbfgs((x, g) => (calls++, rosenbrock(x, g)), x0, {
        signal: ctl.signal,
        onIteration: (it, f) => {
          seen.push({ it, f });
          if (it === 5) {
            ctl.abort();
            callsAtAbort = calls;
          }
        },
      });
      expect(r.converged).toBe(false);
      expect(r.message).toBe('aborted');
      expect(r.iterations).toBe(5);
      expect(seen.map((s) => s.it)).toEqual([0, 1, 2, 3, 4, 5]);
      // The result is the iterate onIteration was shown, with its own gradient, and nothing
      // was evaluated after the abort.
      expect(r.f).toBe(seen[5].f);
      const g = new Float64Array(2);
      expect(rosenbrock(r.x, g)).toBe(r.f);
      expect(r.gradNorm).toBe(Math.max(Math.abs(g[0]), Math.abs(g[1])));
      expect(calls).toBe(callsAtAbort);
      expect(r.evaluations).toBe(calls);
    });

    it('an abort during an iteration (inside the objective) ends it at the next iteration', () => {
      const ctl = new AbortController();
      let calls = 0;
      const its: number[] = [];
      const r = E.lbfgs((x, g) => {
        if (++calls === 12) ctl.abort();
        return rosenbrock(x, g);
      }, x0, { signal: ctl.signal, onIteration: (it) => its.push(it) });
      expect(r.message).toBe('aborted');
      expect(r.converged).toBe(false);
      expect(r.iterations).toBe(its[its.length - 1]);
      // The same run without the signal passes through the same iterates; it is not yet done.
      const full = E.lbfgs(rosenbrock, x0, { maxIter: r.iterations });
      expect(Array.from(r.x)).toEqual(Array.from(full.x));
      expect(full.converged).toBe(false);
    });

    it('an abort during the last allowed iteration is reported as an abort, not as the iteration cap', () => {
      const ctl = new AbortController();
      let its = 0;
      const r = E.lbfgs((x, g) => {
        if (its === 3) ctl.abort();
        return rosenbrock(x, g);
      }, x0, { signal: ctl.signal, maxIter: 3, onIteration: (it) => (its = it + 1) });
      expect([r.message, r.converged, r.iterations]).toEqual(['aborted', false, 3]);
    });

    it('an already aborted signal costs one evaluation and returns the start', () => {
      let calls = 0;
      const r = E.lbfgs((x, g) => (calls++, rosenbrock(x, g)), x0, { signal: AbortSignal.abort() });
      expect([r.message, r.converged, r.iterations, calls]).toEqual(['aborted', false, 0, 1]);
      expect(Array.from(r.x)).toEqual(x0);
    });

    it('a signal that is never aborted changes nothing', () => {
      const a = E.lbfgs(rosenbrock, x0, { gtol: 1e-8 });
      const b = E.lbfgs(rosenbrock, x0, { gtol: 1e-8, signal: new AbortController().signal });
      expect(b).toEqual(a);
      expect(a.converged).toBe(true);
    });

    it('minimize leaves the parameters at the last iterate when aborted', () => {
      E.withBackend(ts, () => {
        const ctl = new AbortController();
        const w = E.param([3, -2], [2]);
        const fs: number[] = [];
        // f(w) = Σ (w − 1)⁴: far from converged after two iterations.
        const r = E.minimize([w], () => E.sum(E.square(E.square(E.sub(w, 1)))), {
          signal: ctl.signal,
          onIteration: (it, f) => {
            fs.push(f);
            if (it === 2) ctl.abort();
          },
        });
        expect([r.message, r.iterations]).toEqual(['aborted', 2]);
        expect(Array.from(w.data)).toEqual(Array.from(r.x));
        expect(r.f).toBe(fs[2]);
        expect(fs[2]).toBeLessThan(fs[0]);
        w.dispose();
      });
    });
  });
});
