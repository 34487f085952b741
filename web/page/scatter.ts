// Predictions against the truth for held-out rows of training groups ("observed": the group's
// posterior is used) and for rows of held-out groups ("new": the prior), with the identity line.
import { el, extent, frame, legend } from './svg';

export interface ScatterSet {
  label: string;
  cls: string;
  predicted: ArrayLike<number>;
  truth: ArrayLike<number>;
}

export function drawScatter(host: Element, sets: ScatterSet[], truthLabel: string): void {
  const all = sets.flatMap((s) => [...Array.from(s.predicted), ...Array.from(s.truth)]);
  const d = extent(all);
  const f = frame(host, d, d, truthLabel, 'prediction');
  f.plot.append(el('line', { x1: f.x(d[0]), y1: f.y(d[0]), x2: f.x(d[1]), y2: f.y(d[1]), class: 'identity' }));
  for (const s of sets) {
    for (let i = 0; i < s.predicted.length; i++) {
      f.plot.append(el('circle', { cx: f.x(s.truth[i]).toFixed(1), cy: f.y(s.predicted[i]).toFixed(1), r: 2.2, class: `point ${s.cls}` }));
    }
  }
  legend(f, sets.map((s) => ({ label: s.label, cls: s.cls })));
}
