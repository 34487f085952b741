// How much of a quality cell's gap between ngmm's default NGMM and the PyTorch NGMM is the
// held-out sample: both fitted as the benchmark fits them, then a paired bootstrap over the
// held-out groups (4,000 resamples, seeded) of the metric ratio ngmm / PyTorch, with its 95 %
// percentile interval and the share of resamples where ngmm is lower.
//   node scripts/run-ts.mjs bench/quality/bootstrap.ts 0,6,10   (indices into grid(), 0–23)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { initSync } from '../../engine/backend';
import { Rng } from '../../engine/random';
import { fitFormula } from '../../ngmm/fitFormula';
import { generate, grid, X_NAMES } from './datasets';
import { csvText, parseTorchOut, torchConfig } from './peers';
import { METRIC } from './quality.bench';
import type { Column } from '../../ngmm/csv';
initSync();
const specs = grid(false);
const which = (process.argv[2] ?? '').split(',').filter(Boolean).map(Number);
if (which.length === 0 || which.some((i) => !(Number.isInteger(i) && i >= 0 && i < specs.length))) {
  console.error(`usage: bootstrap.ts <indices 0–${specs.length - 1}, comma-separated>`);
  process.exit(2);
}
for (const i of which) {
  const spec = specs[i]; const d = generate(spec); const n = d.train.y.length;
  const columns = new Map<string, Column>();
  X_NAMES.forEach((name, k) => columns.set(name, { kind: 'number', values: Float64Array.from({ length: n }, (_, r) => d.train.X[r * 5 + k]), missing: new Uint8Array(n) }));
  columns.set('y', { kind: 'number', values: Float64Array.from(d.train.y), missing: new Uint8Array(n) });
  columns.set('g', { kind: 'string', values: [...d.train.group], missing: new Uint8Array(n) });
  const f = `y ~ ${X_NAMES.join(' + ')} + (${spec.structure === 'slope' ? '1 + x1' : '1'} | g)`;
  const { model } = fitFormula({ columns, nrows: n } as any, f, { family: spec.family, hidden: [64, 32, 16] }, {}, 'train');
  const ng = { seen: model.predict(d.seen.X, { group: d.seen.group, groups: 'observed' }), fresh: model.predict(d.fresh.X, { group: d.fresh.group, groups: 'new' }) };
  const dir = mkdtempSync(join(os.tmpdir(), 'b-'));
  for (const [k, s] of [['train', d.train], ['seen', d.seen], ['fresh', d.fresh]] as const) writeFileSync(join(dir, `${k}.csv`), csvText(s));
  writeFileSync(join(dir, 'torch.json'), JSON.stringify(torchConfig(dir, spec.family, spec.seed, false)));
  execFileSync('/usr/bin/python3', [resolve('bench/quality/torch_ngmm.py'), join(dir, 'torch.json')], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const tp = parseTorchOut(readFileSync(join(dir, 'torch.out'), 'utf8'), d.seen.y.length, d.fresh.y.length);
  const metric = METRIC[spec.family].fn;
  for (const [kind, split, a, b] of [['seen', d.seen, ng.seen, tp.seen], ['new', d.fresh, ng.fresh, tp.fresh]] as const) {
    const groups = [...new Set(split.group)];
    const rowsOf = new Map(groups.map((g) => [g, [] as number[]]));
    split.group.forEach((g, r) => rowsOf.get(g)!.push(r));
    const ratio = (gs: string[]) => { const rows = gs.flatMap((g) => rowsOf.get(g)!); const y = rows.map((r) => split.y[r]); return metric(y, rows.map((r) => a[r])) / metric(y, rows.map((r) => b[r])); };
    const rng = new Rng(1); const B = 4000; const v: number[] = [];
    for (let t = 0; t < B; t++) v.push(ratio(groups.map(() => groups[rng.int(groups.length)])));
    v.sort((x, y) => x - y);
    console.log(`${spec.name} ${kind}: ratio ${ratio(groups).toFixed(4)}, 95 % interval ${v[Math.floor(0.025 * B)].toFixed(4)} … ${v[Math.floor(0.975 * B)].toFixed(4)}, P(ratio<1) ${(v.filter((x) => x < 1).length / B).toFixed(3)}, ${groups.length} groups, ${split.y.length} rows`);
  }
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
}
