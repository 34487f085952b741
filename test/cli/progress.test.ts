// The progress printer on synthetic reports (the clock is the reports' elapsedMs, so the test is
// exact): silent for a fit under a second, a plain line at most every 2 s off a terminal, a bar
// redrawn in place on one, and a time estimate that leaves out the warm-up step.
import { describe, expect, it } from 'vitest';
import type { FitProgress } from '../../ngmm/fit';
import { ProgressPrinter, duration } from '../../ngmm/cli/progress';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, s: { isTTY, write: (t: string) => out.push(t) } };
}

const adam = (epoch: number, elapsedMs: number, epochs = 10): FitProgress => ({ phase: 'adam', epoch, epochs, loss: 1.5, elapsedMs });

describe('ProgressPrinter', () => {
  it('says nothing for a fit that ends within a second', () => {
    const { out, s } = sink(false);
    const p = new ProgressPrinter(s);
    for (let e = 1; e <= 10; e++) p.report(adam(e, 90 * e));
    p.finish();
    expect(out).toEqual([]);
  });

  it('estimates the time left from the steps after the first (warm-up)', () => {
    const { s } = sink(false);
    const p = new ProgressPrinter(s);
    // A slow first epoch (3 s: compilation), then 1 s per epoch.
    p.report(adam(1, 3000));
    expect(p.eta(adam(1, 3000))).toBeNull();
    p.report(adam(2, 4000));
    // 8 epochs left at 1 s each; counting the warm-up would say 8 × 2 s.
    expect(p.eta(adam(2, 4000))).toBe(8);
    expect(p.eta(adam(6, 8000))).toBe(4);
  });

  it("an ensemble: the members still to train count in the time left, and the line names the member", () => {
    const { out, s } = sink(false);
    const p = new ProgressPrinter(s);
    const m = (epoch: number, elapsedMs: number): FitProgress => ({ ...adam(epoch, elapsedMs), member: 2, members: 5 });
    p.report(m(1, 3000));
    p.report(m(2, 4000));
    // 8 epochs of this member and 3 × 10 of the members after it, at 1 s each.
    expect(p.eta(m(2, 4000))).toBe(38);
    expect(out.join('')).toMatch(/^member 2\/5 · network: epoch\s+\d+\/10/m);
  });

  it('off a terminal: one line at most every 2 s, plus the last', () => {
    const { out, s } = sink(false);
    const p = new ProgressPrinter(s);
    for (let e = 1; e <= 10; e++) p.report(adam(e, 1000 + 700 * e));
    p.finish();
    // Epochs at 1.7, 2.4, …, 8.0 s: shown at 1.7 (first past 1 s), 3.8, 5.9, 8.0 (the last).
    expect(out.map((l) => l.match(/epoch +(\d+)\/10/)![1])).toEqual(['1', '4', '7', '10']);
    expect(out[0]).toBe('network: epoch  1/10  loss 1.50000  ETA …\n');
    expect(out[1]).toBe('network: epoch  4/10  loss 1.50000  ETA 4 s\n');
    expect(out.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
  });

  it('shows a held-back last report at the end, and the L-BFGS phases as upper bounds', () => {
    const { out, s } = sink(false);
    const p = new ProgressPrinter(s);
    const lin = (epoch: number, ms: number): FitProgress => ({ phase: 'linear', epoch, epochs: 500, loss: 2, elapsedMs: ms });
    p.report(lin(1, 1200));
    p.report(lin(2, 1300));
    p.report(lin(3, 1400));
    p.finish();
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^linear model: iteration {3}1\/500 {2}loss 2\.00000 {2}ETA …\n$/);
    // 100 ms per iteration from the second on, 497 iterations to the cap: at most 50 s.
    expect(out[1]).toMatch(/^linear model: iteration {3}3\/500 {2}loss 2\.00000 {2}ETA ≤ 50 s\n$/);
  });

  it('on a terminal: a bar redrawn with \\r, ended by a newline when the phase changes and at the end', () => {
    const { out, s } = sink(true);
    const p = new ProgressPrinter(s);
    p.report(adam(1, 1500, 2));
    p.report(adam(2, 2500, 2));
    p.report({ phase: 'polish', epoch: 1, epochs: 200, loss: 1, elapsedMs: 2600 });
    p.finish();
    const text = out.join('');
    expect(text).toMatch(/^\r\[#{12}\.{12}\] network: epoch 1\/2/);
    expect(text).toMatch(/\r\[#{24}\] network: epoch 2\/2 .*ETA 0 s\x1b\[K\n\r\[\.{24}\] polish: iteration {3}1\/200/);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('formats durations', () => {
    expect(duration(59.4)).toBe('59 s');
    expect(duration(185)).toBe('3 min 05 s');
    expect(duration(7800)).toBe('2 h 10 min');
  });
});
