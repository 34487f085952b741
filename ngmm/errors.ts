// The library's own errors. Every problem with what a user brings (a formula, a data file, an
// option value) is raised as an NgmmError subclass, so a caller (the CLI) can print its message
// as it is and treat anything else as a bug. The formula parser's FormulaError and the CSV
// parser's CsvError live beside their parsers and extend NgmmError too.
//
// Where a value sits in a data file is written one way everywhere (csv, frame, data):
//   row N   the N-th data row, 1-based, counted without the header and the blank lines that
//           are skipped (it is the row R's read.csv would give the same number);
//   line L  the 1-based physical line of the file on which that row starts (a quoted field
//           may span lines), added in parentheses when known: "row 3 (line 5)".

export class NgmmError extends Error {
  override name = 'NgmmError';
}

/** Where a bad value is. Every field is optional; the message shows those given. */
export interface DataLocation {
  /** The input's name, a file name. */
  readonly source?: string;
  /** 1-based data row (see the convention above). */
  readonly row?: number;
  /** 1-based physical line of the file on which the row starts. */
  readonly line?: number;
  /** The column's name. */
  readonly column?: string;
}

/** A problem with the data's values or shape: a missing column, a bad number, an empty file. */
export class DataError extends NgmmError implements DataLocation {
  override name = 'DataError';
  readonly source?: string;
  readonly row?: number;
  readonly line?: number;
  readonly column?: string;

  /** @param detail what is wrong, without the location (the message adds it in front). */
  constructor(
    readonly detail: string,
    at: DataLocation = {},
  ) {
    super(locationPrefix(at) + detail);
    if (at.source !== undefined) this.source = at.source;
    if (at.row !== undefined) this.row = at.row;
    if (at.line !== undefined) this.line = at.line;
    if (at.column !== undefined) this.column = at.column;
  }

  /** The same problem with its location replaced field by field (undefined keeps a field). */
  relocated(at: DataLocation): DataError {
    const { source, row, line, column } = this;
    return new DataError(this.detail, { source, row, line, column, ...definedOnly(at) });
  }
}

function definedOnly(at: DataLocation): DataLocation {
  return Object.fromEntries(Object.entries(at).filter(([, v]) => v !== undefined));
}

function locationPrefix(at: DataLocation): string {
  const parts: string[] = [];
  if (at.row !== undefined) parts.push(`row ${at.row}${at.line !== undefined ? ` (line ${at.line})` : ''}`);
  else if (at.line !== undefined) parts.push(`line ${at.line}`);
  if (at.column !== undefined) parts.push(`column ${quoteName(at.column)}`);
  const where = parts.join(', ');
  const head = at.source !== undefined ? (where ? `${at.source}: ${where}` : at.source) : where;
  return head ? `${head}: ` : '';
}

/** A user-supplied name in a message: quoted, and visible even when it holds quotes or line ends. */
export function quoteName(name: string): string {
  return /^[^'\p{C}]*$/u.test(name) ? `'${name}'` : JSON.stringify(name);
}

/**
 * The candidate closest to `name` by edit distance, when close enough to be a likely typo
 * (at most a third of the name's length, at least 1 and at most 3 edits; a difference of
 * case alone always counts), for "did you mean …?".
 */
export function closest(name: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  for (const c of candidates) {
    if (c === name) continue;
    // Ties go to a name one extends or is extended by ('w' → 'wt' rather than 'y').
    const related = c.startsWith(name) || name.startsWith(c) ? -0.5 : 0;
    const d = (c.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, c, limit)) + related;
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** " (did you mean 'x'?)" or "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const c = closest(name, candidates);
  return c === null ? '' : ` (did you mean ${quoteName(c)}?)`;
}

// Levenshtein distance, stopping early (returning limit + 1) once it must exceed `limit`.
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length];
}
