// Child process of bench/scale.bench.ts: the CSV reader's peak memory on a file with many
// columns the formula does not use. Prints one JSON line.
//   node scripts/run-ts.mjs bench/scale.csv.ts write <path> <rows> <unused>   the §4 design, Poisson,
//       100 rows a group, then <unused> columns the formula leaves out (numbers, words, and text
//       that is no number in a column of numbers)
//   node scripts/run-ts.mjs bench/scale.csv.ts read <path>   reads it as `ngmm fit` does (only the
//       formula's columns kept), then builds the model frame
import { openSync, writeSync, closeSync, statSync } from 'node:fs';
import { readTable } from '../ngmm/cli/io';
import { frameColumns, modelFrame } from '../ngmm/frame';
import { parseFormula } from '../ngmm/formula';
import { scaleData } from './scale.case';
import { X_NAMES } from './study/simulate';

export const CSV_FORMULA = `y ~ ${X_NAMES.join(' + ')} + (1 | school)`;
const MB = 1024 * 1024;

/** The value of unused column u in row r: a number, a word, or (every 1000th row of the numeric columns) malformed text. */
function unused(u: number, r: number): string {
  if (u % 4 === 3) return `w${(r * 7 + u) % 13}`;
  if (r % 1000 === 999) return u % 2 === 0 ? 'n/a?' : '1.2.3';
  return ((r * 0.37 + u) % 17).toFixed(3);
}

export function writeCsv(path: string, rows: number, extra: number): void {
  const perGroup = 100;
  const d = scaleData(Math.ceil(rows / perGroup), perGroup);
  const P = X_NAMES.length;
  const fd = openSync(path, 'w');
  const names = [...Array.from({ length: extra }, (_, u) => `u${u + 1}`), 'school', ...X_NAMES, 'y'];
  let buf = names.join(',') + '\n';
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let u = 0; u < extra; u++) cells.push(unused(u, r));
    cells.push(`s${d.group[r]}`);
    for (let k = 0; k < P; k++) cells.push(d.X[r * P + k].toPrecision(6));
    cells.push(String(d.y[r]));
    buf += cells.join(',') + '\n';
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
}

export interface CsvReadResult {
  rows: number;
  fileMB: number;
  readSeconds: number;
  /** Peak RSS after reading the table, and after building the model frame from it (MB). */
  readPeakRssMB: number;
  framePeakRssMB: number;
  /** The baseline: RSS before reading (the process with the code loaded). */
  startRssMB: number;
}

export function readCase(path: string): CsvReadResult {
  const startRssMB = process.memoryUsage().rss / MB;
  const f = parseFormula(CSV_FORMULA);
  const t = performance.now();
  const table = readTable(path, frameColumns(f, { source: path }));
  const readSeconds = (performance.now() - t) / 1000;
  const readPeakRssMB = (process.resourceUsage().maxRSS * 1024) / MB;
  const frame = modelFrame(f, table, path);
  const framePeakRssMB = (process.resourceUsage().maxRSS * 1024) / MB;
  return { rows: frame.y.length, fileMB: statSync(path).size / MB, readSeconds, readPeakRssMB, framePeakRssMB, startRssMB };
}

if (process.argv[1]?.endsWith('scale.csv.run.mjs')) {
  const [what, path, rows, extra] = process.argv.slice(2);
  if (what === 'write') writeCsv(path, Number(rows), Number(extra));
  else if (what === 'read') console.log(JSON.stringify(readCase(path)));
  else throw new Error(`scale.csv: the first argument is 'write' or 'read', got '${what}'`);
}
