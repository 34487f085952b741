// The study's dot-and-interval figure (the SVG writer is ngmm/plot/svg.ts) in the
// spirit of the paper's Figure 3: one panel per family, one row per setting, one colour per
// test set, a dot at the mean and a bar over the interval.

// The SVG writer and the tick rule are ngmm's own (ngmm/plot/svg.ts), shared with `ngmm plot`.
import { Svg, ticks } from '../../ngmm/plot/svg';

export { escapeXml, Svg, ticks } from '../../ngmm/plot/svg';

export interface Point {
  mean: number;
  lo: number;
  hi: number;
}

export interface Panel {
  title: string;
  /** Row labels, top to bottom. */
  rows: string[];
  /** points[series][row], null where a cell is missing. */
  points: (Point | null)[][];
}

export interface FigureSpec {
  title: string;
  subtitle?: string;
  /** Titles of the rows of panels (e.g. the data-generating processes); panels fill rows in order. */
  panelRows: string[];
  panels: Panel[];
  series: { name: string; color: string }[];
  xLabel: string;
  /** Appended to tick labels, e.g. '%'. */
  unit?: string;
  columns: number;
  note?: string;
  /**
   * Axis limits no panel extends beyond (display units): a point or interval end outside is
   * drawn at the edge with an arrowhead and its value, so that one wild interval does not
   * squeeze every other point of its panel into a few pixels.
   */
  clip?: readonly [number, number];
}

/** Panels of dot-and-interval plots sharing series colours, each with its own x-range and a line at 0. */
export function dotIntervalFigure(spec: FigureSpec): string {
  const pw = 300, labelW = 110, rowH = 34, top = 70, gapY = 90, left = 20;
  const rowsPerPanel = Math.max(...spec.panels.map((p) => p.rows.length));
  const ph = rowsPerPanel * rowH + 10;
  const nRows = Math.ceil(spec.panels.length / spec.columns);
  const W = left + spec.columns * (labelW + pw + 20) + 10;
  const H = top + nRows * (ph + gapY) + (spec.note ? 20 : 0);
  const svg = new Svg(W, H);
  svg.text(W / 2, 22, spec.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold' });
  if (spec.subtitle) svg.text(W / 2, 40, spec.subtitle, { 'text-anchor': 'middle', 'font-size': 12, fill: '#444' });
  // Legend, top right.
  let lx = W - 20 - spec.series.length * 150;
  for (const s of spec.series) {
    svg.line(lx, 56, lx + 24, 56, { stroke: s.color, 'stroke-width': 2 });
    svg.circle(lx + 12, 56, 4, { fill: s.color });
    svg.text(lx + 30, 60, s.name, { fill: '#222' });
    lx += 150;
  }
  spec.panels.forEach((panel, k) => {
    const r = Math.floor(k / spec.columns), c = k % spec.columns;
    const x0 = left + c * (labelW + pw + 20) + labelW, y0 = top + r * (ph + gapY) + 24;
    if (c === 0 && spec.panelRows[r]) svg.text(left, y0 - 30, spec.panelRows[r], { 'font-size': 13, 'font-weight': 'bold', fill: '#222' });
    svg.text(x0 + pw / 2, y0 - 4, panel.title, { 'text-anchor': 'middle', 'font-size': 13 });
    const vals = panel.points.flat().filter((p): p is Point => p !== null).flatMap((p) => [p.lo, p.hi, p.mean]).filter(Number.isFinite);
    let lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
    if (spec.clip) {
      lo = Math.max(lo, spec.clip[0]);
      hi = Math.min(hi, spec.clip[1]);
    }
    if (!(hi > lo)) hi = lo + 1;
    const pad = 0.06 * (hi - lo);
    lo -= pad;
    hi += pad;
    const tk = ticks(lo, hi, 5);
    lo = Math.min(lo, tk[0]);
    hi = Math.max(hi, tk[tk.length - 1]);
    const X = (v: number) => x0 + ((v - lo) / (hi - lo)) * pw;
    svg.rect(x0, y0, pw, ph, { fill: '#fafafa', stroke: '#999' });
    for (const t of tk) {
      svg.line(X(t), y0, X(t), y0 + ph, { stroke: '#e3e3e3' });
      svg.line(X(t), y0 + ph, X(t), y0 + ph + 4, { stroke: '#666' });
      svg.text(X(t), y0 + ph + 16, `${+t.toPrecision(6)}${spec.unit ?? ''}`, { 'text-anchor': 'middle', 'font-size': 11, fill: '#333' });
    }
    svg.line(X(0), y0, X(0), y0 + ph, { stroke: '#555', 'stroke-dasharray': '4 3' });
    svg.text(x0 + pw / 2, y0 + ph + 34, spec.xLabel, { 'text-anchor': 'middle', 'font-size': 11, fill: '#222' });
    panel.rows.forEach((label, i) => {
      const yc = y0 + 5 + (i + 0.5) * rowH;
      svg.text(x0 - 8, yc + 4, label, { 'text-anchor': 'end', 'font-size': 11, fill: '#222' });
      const ns = spec.series.length;
      spec.series.forEach((s, j) => {
        const p = panel.points[j]?.[i];
        if (!p) return;
        const y = yc + (j - (ns - 1) / 2) * 10;
        const at = (v: number) => X(Math.min(hi, Math.max(lo, v)));
        svg.line(at(p.lo), y, at(p.hi), y, { stroke: s.color, 'stroke-width': 2 });
        // An end inside the axis gets a tick; one outside an arrowhead at the edge.
        for (const [v, dir] of [[p.lo, -1], [p.hi, 1]] as const) {
          if (v >= lo && v <= hi) svg.line(X(v), y - 3, X(v), y + 3, { stroke: s.color, 'stroke-width': 1.5 });
          else svg.path([[at(v), y], [at(v) - 6 * dir, y - 4], [at(v) - 6 * dir, y + 4], [at(v), y]], { fill: s.color });
        }
        if (p.mean >= lo && p.mean <= hi) svg.circle(X(p.mean), y, 4, { fill: s.color });
        else {
          const edge = at(p.mean), right = p.mean > hi;
          const back = right ? -9 : 9;
          svg.path([[edge, y], [edge + back, y - 5], [edge + back, y + 5], [edge, y]], { fill: s.color, stroke: '#fff' });
          svg.text(edge + (right ? -12 : 12), y - 5, `${+p.mean.toPrecision(3)}${spec.unit ?? ''}`, { 'text-anchor': right ? 'end' : 'start', 'font-size': 10, fill: s.color });
        }
      });
    });
  });
  if (spec.note) svg.text(left, H - 10, spec.note, { 'font-size': 11, fill: '#444' });
  return svg.toString();
}
