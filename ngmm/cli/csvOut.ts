// Writing CSV fields (RFC 4180): a field with a comma, a quote or a line end is quoted, quotes
// doubled. Numbers are written with String(): the shortest text that reads back as the same
// double, so nothing is lost between ngmm and R.

export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A number as R's write.csv would let read.csv read it back: NA for a missing value. */
export function csvNumber(x: number | undefined): string {
  return x === undefined || Number.isNaN(x) ? 'NA' : String(x);
}
