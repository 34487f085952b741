// Each training group's random effect: posterior mean ± 2 SD (model.ranef(), the effect on
// the linear predictor), groups sorted by their mean; the simulation's true effects (centred)
// as dots.
import type { RanefRow } from '../../ngmm/worker/protocol';
import { el, extent, frame, legend } from './svg';

export function drawEffects(host: Element, ranef: readonly RanefRow[], truth?: ReadonlyMap<string, number>): void {
  const rows = [...ranef].sort((a, b) => a.mean - b.mean);
  const values = rows.flatMap((r) => [r.mean - 2 * r.sd, r.mean + 2 * r.sd, truth?.get(r.group) ?? r.mean]);
  const f = frame(host, [-0.5, rows.length - 0.5], extent(values), `group (sorted by posterior mean; ${rows.length} groups)`, 'group effect on η');
  f.plot.append(el('line', { x1: f.x(-0.5), x2: f.x(rows.length - 0.5), y1: f.y(0), y2: f.y(0), class: 'identity' }));
  rows.forEach((r, i) => {
    const x = f.x(i).toFixed(1);
    f.plot.append(el('line', { x1: x, x2: x, y1: f.y(r.mean - 2 * r.sd).toFixed(1), y2: f.y(r.mean + 2 * r.sd).toFixed(1), class: 'interval' }));
    f.plot.append(el('circle', { cx: x, cy: f.y(r.mean).toFixed(1), r: 1.8, class: 'dot mean' }));
    const t = truth?.get(r.group);
    if (t !== undefined) f.plot.append(el('circle', { cx: x, cy: f.y(t).toFixed(1), r: 1.8, class: 'dot truth' }));
  });
  legend(f, truth ? [{ label: 'posterior mean ± 2 SD', cls: 'mean' }, { label: 'true effect (centred)', cls: 'truth' }] : [{ label: 'posterior mean ± 2 SD', cls: 'mean' }]);
}
