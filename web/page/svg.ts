// Tiny SVG helpers for the demo's charts: element creation, linear scales, round tick values
// and a framed plot area with axes. No chart library: the page stays plain DOM.
import { extent, linear, ticks, type Scale } from '../../ngmm/plot/svg';

// The scales, ticks and extents are ngmm's own (ngmm/plot/svg.ts), shared with `ngmm plot`.
export { extent, linear, ticks, type Scale };

const NS = 'http://www.w3.org/2000/svg';

export function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export interface Frame {
  svg: SVGSVGElement;
  x: Scale;
  y: Scale;
  plot: SVGGElement;
}

export const WIDTH = 460, HEIGHT = 280;
const M = { left: 56, right: 12, top: 12, bottom: 40 };

/** Clears `host` and draws axes with ticks and labels for the given domains. */
export function frame(host: Element, xd: [number, number], yd: [number, number], xLabel: string, yLabel: string): Frame {
  const svg = el('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img' });
  const x = linear(xd, [M.left, WIDTH - M.right]);
  const y = linear(yd, [HEIGHT - M.bottom, M.top]);
  const axes = el('g', { class: 'axes' });
  axes.append(el('rect', { x: M.left, y: M.top, width: WIDTH - M.left - M.right, height: HEIGHT - M.top - M.bottom, class: 'area' }));
  const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(0) : String(v));
  for (const t of ticks(xd[0], xd[1])) {
    axes.append(el('line', { x1: x(t), x2: x(t), y1: HEIGHT - M.bottom, y2: HEIGHT - M.bottom + 4 }));
    axes.append(el('text', { x: x(t), y: HEIGHT - M.bottom + 16, 'text-anchor': 'middle' }, fmt(t)));
  }
  for (const t of ticks(yd[0], yd[1])) {
    axes.append(el('line', { x1: M.left - 4, x2: WIDTH - M.right, y1: y(t), y2: y(t), class: 'grid' }));
    axes.append(el('text', { x: M.left - 7, y: y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  axes.append(el('text', { x: (M.left + WIDTH - M.right) / 2, y: HEIGHT - 6, 'text-anchor': 'middle', class: 'label' }, xLabel));
  axes.append(el('text', { x: 14, y: (M.top + HEIGHT - M.bottom) / 2, 'text-anchor': 'middle', class: 'label', transform: `rotate(-90 14 ${(M.top + HEIGHT - M.bottom) / 2})` }, yLabel));
  const plot = el('g');
  svg.append(axes, plot);
  host.replaceChildren(svg);
  return { svg, x, y, plot };
}

/** A legend row of coloured keys in the top-right corner. */
export function legend(f: Frame, items: { label: string; cls: string }[]): void {
  const g = el('g', { class: 'legend' });
  items.forEach((it, i) => {
    const yy = M.top + 14 + i * 16;
    g.append(el('rect', { x: WIDTH - M.right - 196, y: yy - 8, width: 10, height: 10, class: it.cls }));
    g.append(el('text', { x: WIDTH - M.right - 181, y: yy + 1 }, it.label));
  });
  f.svg.append(g);
}
