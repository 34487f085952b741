// SVG as text, with no DOM and no plotting dependency: an element writer, linear scales, round
// tick values and a framed panel with axes. `ngmm plot`, the study's figure (bench/study/svg.ts)
// and the web page's charts (web/page/svg.ts) share the scale and tick helpers from here.

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export type Attrs = Record<string, string | number | undefined>;

// Two decimals are a hundredth of a pixel: finer than any screen, and the file stays small.
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === 'number' ? fmt(v) : String(v))}"`)
    .join('');
}

/** Builds an SVG document element by element; `open`/`close` nest groups. */
export class Svg {
  private readonly parts: string[] = [];
  constructor(readonly width: number, readonly height: number) {}

  rect(x: number, y: number, w: number, h: number, a: Attrs = {}): this {
    this.parts.push(`<rect${attrs({ x, y, width: w, height: h, ...a })}/>`);
    return this;
  }
  line(x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): this {
    this.parts.push(`<line${attrs({ x1, y1, x2, y2, stroke: '#000', ...a })}/>`);
    return this;
  }
  circle(cx: number, cy: number, r: number, a: Attrs = {}): this {
    this.parts.push(`<circle${attrs({ cx, cy, r, ...a })}/>`);
    return this;
  }
  /** A polyline through the points (x, y) in pixels. */
  path(points: readonly (readonly [number, number])[], a: Attrs = {}): this {
    const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${fmt(x)},${fmt(y)}`).join(' ');
    this.parts.push(`<path${attrs({ d, fill: 'none', ...a })}/>`);
    return this;
  }
  text(x: number, y: number, s: string, a: Attrs = {}): this {
    this.parts.push(`<text${attrs({ x, y, ...a })}>${escapeXml(s)}</text>`);
    return this;
  }
  open(a: Attrs = {}): this {
    this.parts.push(`<g${attrs(a)}>`);
    return this;
  }
  close(): this {
    this.parts.push('</g>');
    return this;
  }
  toString(): string {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
      `<rect x="0" y="0" width="${this.width}" height="${this.height}" fill="#fff"/>`,
      ...this.parts,
      '</svg>',
      '',
    ].join('\n');
  }
}

export type Scale = (v: number) => number;

/** The affine map of the domain [d0, d1] onto the range [r0, r1] (a degenerate domain: width 1). */
export function linear([d0, d1]: readonly [number, number], [r0, r1]: readonly [number, number]): Scale {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** About `n` round values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart). */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}

/** [min, max] of finite values, padded by `pad` of the span (a degenerate range is widened). */
export function extent(values: Iterable<number>, pad = 0.05): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (lo === Infinity) return [0, 1];
  if (hi === lo) return [lo - 1, hi + 1];
  const m = (hi - lo) * pad;
  return [lo - m, hi + m];
}

/** A tick label: plain digits, exponent form for very large or small magnitudes. */
export function tickLabel(v: number): string {
  return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(6)));
}

export interface PanelSpec {
  /** The panel's box in the document, axes and labels inside it. */
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
  xLabel: string;
  yLabel: string;
  xDomain: [number, number];
  yDomain: [number, number];
  /** Classes and data attributes of the panel's group (tests read the scales back from them). */
  attrs?: Attrs;
  /** No numeric ticks on y (a caterpillar's rows are levels, labelled by name). */
  noYTicks?: boolean;
}

export interface PanelFrame {
  x: Scale;
  y: Scale;
  /** The plotting area in pixels. */
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const MARGIN = { left: 62, right: 12, top: 30, bottom: 44 };

/**
 * Opens a panel's group (the caller draws into it and closes it): title, a framed plotting
 * area, ticks with grid lines, and the axis labels. The group carries the scales as
 * data-x-domain / data-x-range (and y) so a reader can map coordinates back to values.
 */
export function openPanel(svg: Svg, s: PanelSpec, margin: Partial<typeof MARGIN> = {}): PanelFrame {
  const m = { ...MARGIN, ...margin };
  const left = s.x + m.left, right = s.x + s.width - m.right, top = s.y + m.top, bottom = s.y + s.height - m.bottom;
  const x = linear(s.xDomain, [left, right]), y = linear(s.yDomain, [bottom, top]);
  svg.open({
    ...s.attrs,
    'data-x-domain': `${s.xDomain[0]} ${s.xDomain[1]}`,
    'data-x-range': `${left} ${right}`,
    'data-y-domain': `${s.yDomain[0]} ${s.yDomain[1]}`,
    'data-y-range': `${bottom} ${top}`,
  });
  svg.text((left + right) / 2, s.y + 18, s.title, { 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold', fill: '#222' });
  svg.rect(left, top, right - left, bottom - top, { fill: '#fafafa', stroke: '#999' });
  for (const t of ticks(s.xDomain[0], s.xDomain[1])) {
    if (t < s.xDomain[0] || t > s.xDomain[1]) continue;
    svg.line(x(t), top, x(t), bottom, { stroke: '#e6e6e6' });
    svg.line(x(t), bottom, x(t), bottom + 4, { stroke: '#666' });
    svg.text(x(t), bottom + 16, tickLabel(t), { 'text-anchor': 'middle', 'font-size': 11, fill: '#333' });
  }
  if (!s.noYTicks) {
    for (const t of ticks(s.yDomain[0], s.yDomain[1])) {
      if (t < s.yDomain[0] || t > s.yDomain[1]) continue;
      svg.line(left, y(t), right, y(t), { stroke: '#e6e6e6' });
      svg.line(left - 4, y(t), left, y(t), { stroke: '#666' });
      svg.text(left - 7, y(t) + 4, tickLabel(t), { 'text-anchor': 'end', 'font-size': 11, fill: '#333' });
    }
  }
  svg.text((left + right) / 2, s.y + s.height - 8, s.xLabel, { 'text-anchor': 'middle', 'font-size': 12, fill: '#222' });
  const yc = (top + bottom) / 2, yx = s.x + 14;
  svg.text(yx, yc, s.yLabel, { 'text-anchor': 'middle', 'font-size': 12, fill: '#222', transform: `rotate(-90 ${yx} ${yc})` });
  return { x, y, left, right, top, bottom };
}

/**
 * A legend of line (or dot) keys on a translucent box, in the corner of the plotting area that
 * covers the fewest of `avoid` (the drawn points in pixels; ties go to the top left).
 */
export function legend(svg: Svg, f: PanelFrame, items: { label: string; color: string; dash?: string; dot?: boolean }[], avoid: readonly (readonly [number, number])[] = []): void {
  // Width from the label's length at the 11 px font (about 5.6 px a character in Helvetica).
  const w = 34 + 5.6 * Math.max(...items.map((it) => it.label.length)), h = 8 + 15 * items.length;
  const corners = [[f.left + 3, f.top + 3], [f.right - 3 - w, f.top + 3], [f.left + 3, f.bottom - 3 - h], [f.right - 3 - w, f.bottom - 3 - h]];
  const covered = ([x0, y0]: number[]) => avoid.filter(([x, y]) => x >= x0 - 4 && x <= x0 + w + 4 && y >= y0 - 4 && y <= y0 + h + 4).length;
  const [bx, by] = corners.reduce((best, c) => (covered(c) < covered(best) ? c : best));
  svg.rect(bx, by, w, h, { fill: '#fff', 'fill-opacity': 0.85, stroke: '#ccc', class: 'legend' });
  items.forEach((it, i) => {
    const yy = by + 15 + i * 15, xx = bx + 5;
    if (it.dot) svg.circle(xx + 9, yy - 4, 3, { fill: it.color });
    else svg.line(xx, yy - 4, xx + 18, yy - 4, { stroke: it.color, 'stroke-width': 2, 'stroke-dasharray': it.dash });
    svg.text(xx + 24, yy, it.label, { 'font-size': 11, fill: '#222' });
  });
}
