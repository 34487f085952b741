// The study's SVG writer: a well-formed document with the labels a reader needs.
import { describe, expect, it } from 'vitest';
import { dotIntervalFigure, escapeXml, Svg, ticks } from '../../bench/study/svg';

/** Well-formedness for the subset the writer emits: balanced tags, quoted attributes, escaped text. */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<>]*")*)\s*(\/?)>/g;
  let last = 0, m: RegExpExecArray | null;
  while ((m = tag.exec(svg))) {
    const between = svg.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!amp;|lt;|gt;|quot;)/);
    last = tag.lastIndex;
    if (m[1]) expect(stack.pop()).toBe(m[2]);
    else if (!m[4]) stack.push(m[2]);
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
}

describe('svg writer', () => {
  it('escapes text and attributes', () => {
    expect(escapeXml('a < b & "c" > d')).toBe('a &lt; b &amp; &quot;c&quot; &gt; d');
    const s = new Svg(10, 10).text(1, 2, 'x < 1 & y', { fill: '"red"' }).toString();
    checkWellFormed(s);
    expect(s).toContain('x &lt; 1 &amp; y');
  });

  it('ticks are round numbers covering the range', () => {
    expect(ticks(-42, 7)).toEqual([-40, -30, -20, -10, 0]);
    expect(ticks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    for (const [lo, hi] of [[-3.3, 0.2], [-95, 12], [0.001, 0.004]]) {
      const t = ticks(lo, hi);
      expect(t.length).toBeGreaterThanOrEqual(3);
      expect(t[0]).toBeGreaterThanOrEqual(lo - 1e-12);
      expect(t[t.length - 1]).toBeLessThanOrEqual(hi + 1e-12);
    }
  });

  it('draws a figure with title, panel titles, row labels, axis label with units, legend and a zero line', () => {
    const svg = dotIntervalFigure({
      title: 'NGMM vs GLMM',
      subtitle: 'dot = mean, bar = ±1 SD',
      panelRows: ['Nonlinear'],
      panels: ['Gaussian: RMSE', 'Poisson: deviance'].map((title, k) => ({
        title,
        rows: ['intercept, σ²=0.25', 'int. + slope, σ²=1'],
        points: [
          [{ mean: -40 + k, lo: -45, hi: -35 }, null],
          [{ mean: -10, lo: -20, hi: 5 }, { mean: 2, lo: -1, hi: 4 }],
        ],
      })),
      series: [{ name: 'observed groups', color: '#1f77b4' }, { name: 'new groups', color: '#d62728' }],
      xLabel: '(NGMM − GLMM) / GLMM  [%]',
      unit: '%',
      columns: 2,
      note: 'a & b',
    });
    checkWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    for (const label of ['NGMM vs GLMM', 'Gaussian: RMSE', 'Poisson: deviance', 'intercept, σ²=0.25', 'observed groups', 'new groups', '(NGMM − GLMM) / GLMM  [%]', 'Nonlinear', 'a &amp; b']) {
      expect(svg).toContain(label);
    }
    expect(svg).toMatch(/>-40%</);
    expect(svg).toContain('stroke-dasharray');
    // Three points in each panel: a dot per drawn point (legend dots: 2).
    expect(svg.match(/<circle/g)!.length).toBe(2 + 2 * 3);
  });
});
