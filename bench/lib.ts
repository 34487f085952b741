// Shared benchmark plumbing: benny suites with short, fixed timing budgets, and the results
// file format (each section writes bench/results/<name>.json holding its data and its part
// of bench/RESULTS.md).
import b from 'benny';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export interface Timing {
  readonly name: string;
  /** Median seconds per call: robust to the shared machine's noise. */
  readonly median: number;
  readonly min: number;
  readonly opsPerSec: number;
  /** Relative margin of error of the mean, in percent. */
  readonly rme: number;
  readonly samples: number;
}

export interface Case {
  readonly name: string;
  readonly fn: () => void;
}

/** Runs cases one after another in one suite (benny/benchmark.js), returning per-case timings. */
export async function suite(name: string, cases: readonly Case[], maxTime = 0.5): Promise<Map<string, Timing>> {
  const summary = await b.suite(
    name,
    ...cases.map((c) => b.add(c.name, c.fn, { maxTime, minSamples: 5 })),
    b.cycle((result: { name: string; ops: number }) => {
      process.stdout.write(`  ${name} › ${result.name}: ${result.ops.toPrecision(4)} ops/s\n`);
    }),
  );
  const out = new Map<string, Timing>();
  for (const r of summary.results) {
    out.set(r.name, {
      name: r.name,
      median: r.details.median,
      min: r.details.min,
      opsPerSec: r.ops,
      rme: r.details.relativeMarginOfError,
      samples: r.samples,
    });
  }
  return out;
}

export interface Section {
  readonly name: string;
  readonly title: string;
  readonly markdown: string;
  readonly data: unknown;
}

const ORDER = ['kernels', 'marginal', 'fit', 'e2e', 'study'];

export function machine(): Record<string, string | number> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
  };
}

/** Writes the section's JSON and regenerates bench/RESULTS.md from every section on disk. */
export function writeSection(s: Section): void {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${s.name}.json`, JSON.stringify({ ...s, machine: machine() }, null, 2) + '\n');
  const sections = readdirSync('bench/results')
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(`bench/results/${f}`, 'utf8')) as Section & { machine: Record<string, string> })
    .filter((x) => typeof x.markdown === 'string')
    .sort((x, y) => rank(x.name) - rank(y.name));
  const md = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (do not edit). The machine is shared and noisy: absolute times',
    'move between runs, so every comparison below is a ratio of cases measured side by side in',
    'the same run. Times are medians of benny/benchmark.js samples.',
    '',
    ...sections.flatMap((x) => [
      `## ${x.title}`,
      '',
      `_Measured ${x.machine.date} on ${x.machine.cpu} (${x.machine.cores} cores), Node ${x.machine.node}._`,
      '',
      x.markdown,
      '',
    ]),
  ].join('\n');
  writeFileSync('bench/RESULTS.md', md);
}

function rank(name: string): number {
  const i = ORDER.indexOf(name);
  return i < 0 ? ORDER.length : i;
}

/** The median (the upper middle of an even count), without reordering v. */
export function median(v: readonly number[]): number {
  return [...v].sort((a, b) => a - b)[v.length >> 1];
}

export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
