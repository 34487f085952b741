// The live training chart: the mean negative log marginal likelihood per group on the
// training batches, and the early-stopping criterion (with held-out rows, the default: their
// negative log predictive density per held-out row; with held-out groups only, their −log L per
// group), one point per epoch of the member being trained, redrawn on every progress message.
import type { FitProgress } from '../../ngmm/fit';
import { el, extent, frame, legend } from './svg';

export function drawLoss(host: Element, history: readonly FitProgress[], epochs: number): void {
  const values = history.flatMap((p) => (p.validation === undefined ? [p.loss] : [p.loss, p.validation]));
  const f = frame(host, [0, Math.max(epochs, 1)], extent(values), 'epoch', '−log L (training: per group)');
  const line = (pick: (p: FitProgress) => number | undefined, cls: string) => {
    const pts = history.filter((p) => pick(p) !== undefined).map((p) => `${f.x(p.epoch).toFixed(1)},${f.y(pick(p)!).toFixed(1)}`);
    if (pts.length === 0) return;
    f.plot.append(el('polyline', { points: pts.join(' '), class: `line ${cls}` }));
    for (const pt of pts) {
      const [cx, cy] = pt.split(',');
      f.plot.append(el('circle', { cx, cy, r: 2.5, class: `dot ${cls}` }));
    }
  };
  line((p) => p.loss, 'train');
  line((p) => p.validation, 'valid');
  legend(f, [{ label: 'training batches', cls: 'train' }, { label: 'validation (held-out rows: per row)', cls: 'valid' }]);
}
