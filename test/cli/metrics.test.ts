// The evaluation metrics against values computed by hand (the arithmetic is in the comments),
// and every response they cannot score refused with its index.
import { describe, expect, it } from 'vitest';
import { MetricError, binomialLogLoss, logLoss, meanDeviance, metricFor, poissonDeviance, rmse } from '../../ngmm/metrics';
import { family } from '../../ngmm/families/index';

// Sums of a few logs: agreement to a few ulps of the result.
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-15 * Math.max(1, Math.abs(b)) * 8);

function refused(f: () => unknown, index: number, message: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MetricError);
    expect((e as MetricError).index).toBe(index);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a MetricError');
}

describe('metrics', () => {
  it('RMSE: √((0 + 1 + 4)/3)', () => {
    close(rmse([1, 2, 3], [1, 1, 1]), Math.sqrt(5 / 3));
    refused(() => rmse([1, 2], [1, NaN]), 1, /prediction NaN/);
  });

  it('Bernoulli log-loss: −(ln 0.8 + ln 0.7)/2, and y = 5 or p = 1.2 refused', () => {
    close(logLoss([1, 0], [0.8, 0.3]), (0.22314355131420976 + 0.35667494393873245) / 2);
    // A certain wrong prediction: −ln(1e−15) = 34.5387…, finite.
    close(logLoss([1], [0]), 34.538776394910684);
    refused(() => logLoss([1, 5], [0.5, 0.5]), 1, /must be 0 or 1, got 5/);
    refused(() => logLoss([0, 1], [1.2, 0.5]), 0, /probability 1.2 is outside/);
  });

  it('binomial: k/m scored as k successes and m − k failures, per trial', () => {
    // −(3 ln 0.5 + 1 ln 0.5 + 0 + 2 ln 0.75)/(4 + 2)
    close(binomialLogLoss([3, 0], [4, 2], [0.5, 0.25]), (4 * 0.6931471805599453 + 2 * 0.2876820724517809) / 6);
    // The proportion 3/4 at p = 0.75 is mostly successes: −(3 ln 0.75 + ln 0.25)/4 = 0.5623…,
    // where scoring the proportion as a failure would give −ln 0.25 = 1.386.
    close(binomialLogLoss([3], [4], [0.75]), (3 * 0.2876820724517809 + 1.3862943611198906) / 4);
    // The same as the Bernoulli log-loss of the trials written out one by one.
    const k = [2, 0, 5, 1], m = [3, 2, 5, 4], p = [0.3, 0.6, 0.9, 0.2];
    const y: number[] = [], q: number[] = [];
    k.forEach((ki, i) => {
      for (let t = 0; t < m[i]; t++) {
        y.push(t < ki ? 1 : 0);
        q.push(p[i]);
      }
    });
    close(binomialLogLoss(k, m, p), logLoss(y, q));
    refused(() => binomialLogLoss([1, 4], [3, 3], [0.5, 0.5]), 1, /successes must be an integer in 0\.\.3, got 4/);
    refused(() => binomialLogLoss([1, 1], [3, 2.5], [0.5, 0.5]), 1, /trials must be a non-negative integer, got 2.5/);
    // Rows of 0 trials carry no weight (as glm's weights = 0).
    close(binomialLogLoss([0, 1], [0, 2], [0.1, 0.5]), 0.6931471805599453);
  });

  it('Poisson mean deviance: (2·1 + 2(2 ln 2 − 1))/2 = 2 ln 2, and y = −3 or 2.5 refused', () => {
    close(poissonDeviance([0, 2], [1, 1]), 2 * 0.6931471805599453);
    refused(() => poissonDeviance([1, -3], [1, 1]), 1, /non-negative integer count, got -3/);
    refused(() => poissonDeviance([2.5], [1]), 0, /got 2.5/);
    refused(() => poissonDeviance([1], [0]), 0, /predicted mean 0 is not positive/);
  });

  it("any other family: the family's own unit deviance, after its own support check", () => {
    // A Gamma-like family: d(y, μ) = 2[−ln(y/μ) + (y − μ)/μ]; y = 2, μ = 1: 2(1 − ln 2).
    const gamma = {
      name: 'gamma' as never,
      deviance: (y: number, mu: number) => 2 * (-Math.log(y / mu) + (y - mu) / mu),
      validate: (y: ArrayLike<number>) => {
        for (let i = 0; i < y.length; i++) if (!(y[i] > 0)) return { index: i, message: `gamma response must be positive, got ${y[i]}` };
        return null;
      },
    };
    const metric = metricFor(gamma);
    expect(metric.name).toBe('mean deviance');
    close(metric.score([2], [1]), 2 * (1 - 0.6931471805599453));
    refused(() => metric.score([2, 0], [1, 1]), 1, /gamma response must be positive, got 0/);
    // The library's Poisson deviance through the generic path agrees with the Poisson metric.
    close(meanDeviance(family('poisson'), [0, 2, 7], [1, 1, 4]), poissonDeviance([0, 2, 7], [1, 1, 4]));
  });

  it('metricFor picks by family; binomial without trials is one trial per row', () => {
    expect(metricFor(family('gaussian')).name).toBe('RMSE');
    expect(metricFor(family('bernoulli')).name).toBe('log-loss');
    expect(metricFor(family('poisson')).name).toBe('mean deviance');
    const b = metricFor(family('binomial'));
    expect(b.name).toBe('log-loss per trial');
    close(b.score([1, 0], [0.8, 0.3]), logLoss([1, 0], [0.8, 0.3]));
  });
});

describe('metrics on no observations', () => {
  it('are NaN (the mean of nothing), and mismatched lengths are refused', () => {
    expect(rmse([], [])).toBeNaN();
    expect(logLoss([], [])).toBeNaN();
    expect(poissonDeviance([], [])).toBeNaN();
    expect(binomialLogLoss([], [], [])).toBeNaN();
    expect(() => rmse([1, 2], [1])).toThrow(/2 responses but 1 predictions/);
  });
});

describe('prior weights and the dispersion', () => {
  it('weight each row w_i times (a row of weight 2 is that row twice), and refuse all-zero weights', () => {
    // √((1·1² + 2·2²)/3) = √3
    close(rmse([1, 2], [0, 0], [1, 2]), Math.sqrt(3));
    close(rmse([1, 2], [0, 0], [1, 2]), rmse([1, 2, 2], [0, 0, 0]));
    close(logLoss([1, 0], [0.8, 0.3], [3, 1]), logLoss([1, 1, 1, 0], [0.8, 0.8, 0.8, 0.3]));
    close(poissonDeviance([0, 3], [1, 2], [0, 2]), poissonDeviance([3], [2]));
    close(binomialLogLoss([1, 2], [2, 4], [0.5, 0.25], [2, 1]), binomialLogLoss([1, 1, 2], [2, 2, 4], [0.5, 0.5, 0.25]));
    refused(() => rmse([1], [0], [0]), 0, /every row has weight 0/);
  });
  it("pass the model's θ to the negative binomial deviance", () => {
    // NB2 unit deviance at y = 3, μ = 1, θ = 2: 2[3 log 3 − 5 log(5/3)].
    const theta = 2, want = 2 * (3 * Math.log(3) - 5 * Math.log(5 / 3));
    close(metricFor(family('negbinomial'), theta).score([3], [1]), want);
    close(meanDeviance(family('negbinomial'), [3, 3], [1, 1], undefined, [1, 1], theta), want);
  });
});
