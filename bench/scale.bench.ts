// `npm run bench -- scale`: fits of 10⁶–10⁷ rows, each in a fresh child process so that its peak
// RSS is its own (bench/scale.case.ts), with wall time and peak memory:
//   - an NGMM (f with hidden layers 64, 32, 16; 5 Adam epochs; an ensemble of 1 network, not the
//     recipe's 5) on 10⁶ rows = 10⁴ groups × 100, Poisson: peak RSS must stay ≤ 1.5 GB, and the
//     memory after each epoch must not grow (checked below, with the margins stated there);
//   - a linear Poisson GLMM on 10⁷ rows = 10⁵ groups × 100: it must complete;
//   - the CSV reader (bench/scale.csv.ts) on a 10⁶-row file with 20 columns the formula does not use.
// `npm run bench -- scale --quick` (or SCALE_QUICK=1): 10⁵ rows each, a fast end-to-end check.
// A failed check fails the section (after its results are written) with a message saying which.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScaleKind, ScaleResult } from './scale.case';
import type { CsvReadResult } from './scale.csv';
import { table, writeSection, type Section } from './lib';

/** The bar's limit on the NGMM's peak RSS (MB; 1.5 GB). */
export const NGMM_PEAK_MB = 1536;
/**
 * Growth allowed from epoch 1 to the last: the kernel heap's live bytes must not grow at all
 * beyond 1 MB (every epoch frees what it allocates; only a leak grows it); the process RSS by at
 * most 5 % of epoch 1's or 32 MB, whichever is larger (the JS collector frees on its own schedule,
 * so RSS moves by tens of MB between epochs without a leak).
 */
export const HEAP_GROWTH_MB = 1;
export const RSS_GROWTH = { share: 0.05, mb: 32 };

export interface ScaleSizes {
  ngmm: { groups: number; perGroup: number; epochs: number };
  glmm: { groups: number; perGroup: number };
  csv: { rows: number; unused: number };
}

export const FULL: ScaleSizes = { ngmm: { groups: 10_000, perGroup: 100, epochs: 5 }, glmm: { groups: 100_000, perGroup: 100 }, csv: { rows: 1_000_000, unused: 20 } };
export const QUICK: ScaleSizes = { ngmm: { groups: 1_000, perGroup: 100, epochs: 5 }, glmm: { groups: 1_000, perGroup: 100 }, csv: { rows: 100_000, unused: 20 } };

function child(script: string, args: (string | number)[]): string {
  try {
    return execFileSync(process.execPath, ['scripts/run-ts.mjs', script, ...args.map(String)], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; status?: number };
    throw new Error(`bench scale: ${script} ${args.join(' ')} failed (exit ${err.status}): ${(err.stderr ?? '').trim().split('\n').slice(-12).join('\n')}`);
  }
}

/** Runs one fit in a fresh process (bench/scale.case.ts) and returns what it reports. */
export function runScaleCase(kind: ScaleKind, groups: number, perGroup: number, epochs = 5): ScaleResult {
  const out = child('bench/scale.case.ts', [kind, groups, perGroup, epochs]).trim().split('\n');
  return JSON.parse(out[out.length - 1]) as ScaleResult;
}

/** The memory checks of the NGMM case: each failed one as a sentence (none: all held). */
export function memoryChecks(r: ScaleResult, peakLimitMB: number | null): string[] {
  const bad: string[] = [];
  if (peakLimitMB !== null && r.peakRssMB > peakLimitMB) bad.push(`the NGMM's peak RSS ${r.peakRssMB.toFixed(0)} MB exceeds ${peakLimitMB} MB`);
  if (r.perEpoch.length < 2) {
    bad.push(`the NGMM reported memory after ${r.perEpoch.length} epoch(s); at least 2 are needed to see growth`);
    return bad;
  }
  const first = r.perEpoch[0], last = r.perEpoch[r.perEpoch.length - 1];
  const heapUp = last.heapInUseMB - first.heapInUseMB;
  if (heapUp > HEAP_GROWTH_MB) bad.push(`kernel heap in use grew by ${heapUp.toFixed(2)} MB from epoch ${first.epoch} to epoch ${last.epoch} (allowed ${HEAP_GROWTH_MB} MB)`);
  const rssAllowed = Math.max(RSS_GROWTH.mb, RSS_GROWTH.share * first.rssMB);
  const rssUp = last.rssMB - first.rssMB;
  if (rssUp > rssAllowed) bad.push(`RSS grew by ${rssUp.toFixed(0)} MB from epoch ${first.epoch} to epoch ${last.epoch} (allowed ${rssAllowed.toFixed(0)} MB)`);
  return bad;
}

const mb = (v: number) => `${v.toFixed(0)} MB`;
const sec = (v: number) => (v >= 120 ? `${Math.floor(v / 60)} min ${Math.round(v % 60)} s` : `${v.toFixed(1)} s`);

export async function runScale(): Promise<Section> {
  const quick = process.argv.includes('--quick') || process.env.SCALE_QUICK === '1';
  const z = quick ? QUICK : FULL;
  console.log(`  scale: NGMM on ${z.ngmm.groups * z.ngmm.perGroup} rows…`);
  const ngmm = runScaleCase('ngmm', z.ngmm.groups, z.ngmm.perGroup, z.ngmm.epochs);
  console.log('  scale ngmm:', JSON.stringify(ngmm));
  console.log(`  scale: linear GLMM on ${z.glmm.groups * z.glmm.perGroup} rows…`);
  const glmm = runScaleCase('glmm', z.glmm.groups, z.glmm.perGroup);
  console.log('  scale glmm:', JSON.stringify(glmm));
  const dir = mkdtempSync(join(tmpdir(), 'ngmm-scale-'));
  let csv: CsvReadResult;
  try {
    const path = join(dir, 'wide.csv');
    child('bench/scale.csv.ts', ['write', path, z.csv.rows, z.csv.unused]);
    csv = JSON.parse(child('bench/scale.csv.ts', ['read', path]).trim()) as CsvReadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('  scale csv:', JSON.stringify(csv));

  const failures = [...memoryChecks(ngmm, quick ? null : NGMM_PEAK_MB)];
  if (!(Number.isFinite(glmm.logLik) && glmm.fixef && Object.values(glmm.fixef).every((c) => Number.isFinite(c.se)))) {
    failures.push(`the GLMM did not end with a finite logLik and standard errors (logLik ${glmm.logLik})`);
  }
  const fitRow = (what: string, r: ScaleResult) => [
    what, r.rows.toLocaleString('en'), `${r.groups.toLocaleString('en')} × ${r.perGroup}`, sec(r.fitSeconds),
    Object.entries(r.phases).map(([k, v]) => `${k} ${sec(v)}`).join(', '), mb(r.peakRssMB), mb(r.wasmMB), mb(r.dataMB), r.logLik.toFixed(1),
  ];
  const md = [
    `Fits at scale, each in a fresh process on the §4 design (Poisson, x ~ U(−1, 1)⁵, b_i ~ N(0, 0.5²), seeded)${quick ? ' — **quick run (10⁵ rows each), not the bar\'s sizes**' : ''}. ` +
      'Wall times are of one run on the 2-core machine, the fits on its threads (the default: both cores). Peak RSS is the process\'s ' +
      '(`process.resourceUsage().maxRSS`: the data, the JS heap and the WASM memory together); WASM is the kernel memory\'s size at the end ' +
      '(it only grows), data the arrays handed to `fit` (X, y, group ids).',
    '',
    table(['fit', 'rows', 'groups × rows', 'wall time', 'phases', 'peak RSS', 'WASM', 'data', 'logLik'], [
      fitRow(`NGMM f: 64, 32, 16; ${ngmm.epochs} epochs; ensemble 1`, ngmm),
      fitRow('linear GLMM', glmm),
    ]),
    '',
    `Memory after each Adam epoch of the NGMM (kernel heap in use and its high-water mark, process RSS); the check allows the heap ${HEAP_GROWTH_MB} MB ` +
      `and RSS ${Math.round(RSS_GROWTH.share * 100)} % of epoch 1's (at least ${RSS_GROWTH.mb} MB) of growth from the first epoch to the last:`,
    '',
    table(['epoch', 'heap in use', 'heap high-water', 'RSS', 'time'], ngmm.perEpoch.map((e) => [e.epoch, `${e.heapInUseMB.toFixed(2)} MB`, mb(e.heapTopMB), mb(e.rssMB), sec(e.seconds)])),
    '',
    `The CSV reader (as \`ngmm fit\` reads a file: only the formula's 7 columns kept) on ${csv.rows.toLocaleString('en')} rows with ${z.csv.unused} columns the formula does not use ` +
      `(${mb(csv.fileMB)}): ${sec(csv.readSeconds)}, peak RSS ${mb(csv.readPeakRssMB)} after reading and ${mb(csv.framePeakRssMB)} after building the model frame ` +
      `(the process started at ${mb(csv.startRssMB)}).`,
    '',
    failures.length === 0 ? `Checks: all held${quick ? ' (the 1.5 GB limit applies to the full run only)' : ` (NGMM peak RSS ≤ ${NGMM_PEAK_MB} MB; no growth across epochs; the GLMM completed)`}.` : `**Checks failed:** ${failures.join('; ')}.`,
  ].join('\n');
  const section: Section = { name: 'scale', title: 'Scale: fits of 10⁶–10⁷ rows', markdown: md, data: { quick, sizes: z, ngmm, glmm, csv, failures } };
  if (failures.length > 0) {
    writeSection(section);
    throw new Error(`bench scale failed: ${failures.join('; ')} (results written to bench/results/scale.json)`);
  }
  return section;
}
