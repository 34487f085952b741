// Reading CSV (RFC 4180) into typed columns. The parser is incremental so a file of any size is
// read chunk by chunk: it holds one chunk and the record being assembled, never the input.
// Accepted beyond the RFC, because real files have them: LF or lone CR record ends as well as
// CRLF, a UTF-8 byte-order mark, a last record without a line end, and a bare quote inside an
// unquoted field (taken literally, as R and pandas do, so `5'11"` survives).

import { DataError, NgmmError, didYouMean, quoteName } from './errors';

export class CsvError extends NgmmError {
  override name = 'CsvError';
  /**
   * @param line 1-based physical line (line ends inside quoted fields count).
   * @param column 1-based field index within the record.
   */
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

export interface CsvParserOptions {
  /** Field separator, a single character other than '"', CR and LF. Default ','. */
  delimiter?: string;
  /** Name of the input (a file name) to start error messages with. Default 'csv'. */
  source?: string;
}

const LF = 10;
const CR = 13;
const QUOTE = 34;
const BOM = 0xfeff;

// Where the parser is within the current field.
const FIELD_START = 0; // before its first character
const UNQUOTED = 1;
const QUOTED = 2;
const QUOTE_IN_QUOTED = 3; // just read a quote inside quotes: the closing one, or the first of ""

function checkDelimiter(d: string): number {
  if (d.length !== 1 || d === '"' || d === '\r' || d === '\n') {
    throw new DataError(`the CSV delimiter must be one character other than '"', CR and LF, got ${JSON.stringify(d)}`);
  }
  return d.charCodeAt(0);
}

export class CsvParser {
  /** The 1-based physical line on which each record of the last push()/end() result starts. */
  lines: readonly number[] = [];
  private readonly delimiter: number;
  private readonly source: string;
  private state = FIELD_START;
  /** Text of the current field taken from earlier chunks (the rest is still in the chunk). */
  private field = '';
  private record: string[] = [];
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  /** The last character was a CR line end, so an LF that follows belongs to the same line end. */
  private afterCR = false;
  private atStart = true;
  private ended = false;

  constructor(opts: CsvParserOptions = {}) {
    this.delimiter = checkDelimiter(opts.delimiter ?? ',');
    this.source = opts.source ?? 'csv';
  }

  /** Parses `chunk` after the text already pushed; returns the records it completed. */
  push(chunk: string): string[][] {
    if (this.ended) throw new Error('CsvParser: push() after end()');
    const out: string[][] = [];
    const lines: number[] = [];
    this.lines = lines;
    const n = chunk.length;
    const delim = this.delimiter;
    let i = 0;
    if (this.atStart && n > 0) {
      this.atStart = false;
      if (chunk.charCodeAt(0) === BOM) i = 1;
    }
    // The loop works on locals (written back below); a CsvError leaves the parser unusable.
    let { state, field, record, line, recordLine, afterCR } = this;
    let start = i; // first character of the current field's pending text in this chunk
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (afterCR) {
        afterCR = false;
        // The LF of a CRLF: the line is already counted and, outside quotes, the record ended.
        // Inside quotes it stays in the field's pending text.
        if (c === LF) continue;
      }
      let endsRecord = false;
      switch (state) {
        case FIELD_START:
          if (c === QUOTE) {
            state = QUOTED;
            start = i + 1;
            this.quoteLine = line;
          } else if (c === delim) {
            record.push('');
          } else if (c === CR || c === LF) {
            record.push('');
            endsRecord = true;
          } else {
            state = UNQUOTED;
            start = i;
          }
          break;
        case UNQUOTED:
          if (c === delim || c === CR || c === LF) {
            record.push(field + chunk.slice(start, i));
            field = '';
            state = FIELD_START;
            endsRecord = c !== delim;
          }
          break;
        case QUOTED:
          if (c === QUOTE) {
            field += chunk.slice(start, i);
            state = QUOTE_IN_QUOTED;
          } else if (c === CR) {
            line++;
            afterCR = true;
          } else if (c === LF) {
            line++;
          }
          break;
        default: // QUOTE_IN_QUOTED
          if (c === QUOTE) {
            field += '"';
            state = QUOTED;
            start = i + 1;
          } else if (c === delim || c === CR || c === LF) {
            record.push(field);
            field = '';
            state = FIELD_START;
            endsRecord = c !== delim;
          } else {
            const col = record.length + 1;
            const ch = JSON.stringify(String.fromCodePoint(chunk.codePointAt(i)!));
            throw new CsvError(
              `${this.source}: line ${line}, field ${col}: unexpected ${ch} after the closing quote of a quoted field ` +
                `(a field must end at its closing quote; a quote inside a quoted field is written "")`,
              line,
              col,
            );
          }
      }
      if (endsRecord) {
        out.push(record);
        lines.push(recordLine);
        record = [];
        line++;
        recordLine = line;
        afterCR = c === CR;
      }
    }
    if (state === UNQUOTED || state === QUOTED) field += chunk.slice(start, n);
    this.state = state;
    this.field = field;
    this.record = record;
    this.line = line;
    this.recordLine = recordLine;
    this.afterCR = afterCR;
    return out;
  }

  /** Completes the input: returns the last record (one without a line end), if any. */
  end(): string[][] {
    if (this.ended) throw new Error('CsvParser: end() called twice');
    this.ended = true;
    this.lines = [];
    const { state, record } = this;
    if (state === QUOTED) {
      const col = record.length + 1;
      throw new CsvError(
        `${this.source}: line ${this.quoteLine}, field ${col}: the quoted field opened on line ${this.quoteLine} is never closed ` +
          `(the input ends inside it, on line ${this.line})`,
        this.quoteLine,
        col,
      );
    }
    // Right after a line end there is no pending record: a final line end does not start one.
    if (state === FIELD_START && record.length === 0) return [];
    record.push(state === FIELD_START ? '' : this.field);
    this.lines = [this.recordLine];
    this.record = [];
    this.field = '';
    return [record];
  }
}

export type Column =
  | { kind: 'number'; values: Float64Array /* NaN where missing */; missing: Uint8Array }
  | { kind: 'string'; values: string[] /* the text as written, also where missing */; missing: Uint8Array };

export interface CsvTable {
  /** Names of the kept columns, in file order. */
  names: string[];
  /** Every name of the header, in file order, kept or not. */
  header: string[];
  columns: Map<string, Column>;
  nrows: number;
  /** The 1-based physical line on which each data row starts (for messages: "row 3 (line 5)"). */
  lines: Int32Array;
}

/** Which columns of a file to keep, and how to read them: see ReadCsvOptions.select. */
export interface ColumnSelection {
  /** The columns to keep; every other column is skipped as it is read and never stored. */
  keep: Iterable<string>;
  /**
   * Kept columns read as text exactly as written, whatever they hold: labels such as group
   * ids, where '01' is not '1' and a 20-digit id must not be rounded to a double.
   */
  text?: Iterable<string>;
}

export interface ReadCsvOptions {
  delimiter?: string;
  /** Field texts read as missing values. Default ['', 'NA']. */
  na?: string[];
  /** File name for error messages. */
  source?: string;
  /**
   * Called once with the header's names, before any data row is read: which columns to keep
   * and which to read as text. It may throw, so that a formula naming a column the file lacks
   * stops at once rather than after reading the file. Default: every column, typed by its
   * values.
   */
  select?: (header: readonly string[]) => ColumnSelection;
}

// Decimal or scientific notation only: Number() alone would also accept ' 3', '0x10', 'Infinity'
// and '' (as 0), which in a data file are text, not numbers.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const isDigit = (c: number) => c >= DIGIT_0 && c <= DIGIT_9;

/**
 * Whether String(x) gives back `text`, a NUMBER that reads as x. Decided from the characters
 * alone in nearly all cases, because String() costs more than the rest of reading a value:
 * String() writes no '+', no leading or trailing zeros, no '.5' or '5.', no 'E'; and fixed
 * notation with at most 15 significant digits is its shortest round-trip spelling whenever it
 * writes fixed notation (|x| ≥ 1e-6; below 1e21 follows from the digit count), since distinct
 * decimals of ≤ 15 digits are distinct doubles.
 */
function writtenAsString(text: string, x: number): boolean {
  const n = text.length;
  let i = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  const intStart = i;
  while (i < n && isDigit(text.charCodeAt(i))) i++;
  const intDigits = i - intStart;
  if (intDigits === 0 || (intDigits > 1 && text.charCodeAt(intStart) === DIGIT_0)) return false; // '+1', '.5', '007'
  const intIsZero = intDigits === 1 && text.charCodeAt(intStart) === DIGIT_0;
  let fracDigits = 0;
  let fracZeros = 0;
  if (i < n && text.charCodeAt(i) === 46 /* . */) {
    const fracStart = ++i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    fracDigits = i - fracStart;
    if (fracDigits === 0 || text.charCodeAt(i - 1) === DIGIT_0) return false; // '5.', '1.50'
    while (text.charCodeAt(fracStart + fracZeros) === DIGIT_0) fracZeros++;
  }
  if (i < n) return String(x) === text; // an exponent: String() writes 1e+21 and 1.5e-7 itself
  if (intIsZero && (fracDigits === 0 ? intStart === 1 : fracZeros >= 6)) return false; // '-0'; below 1e-6 String() uses an exponent
  const digits = intIsZero ? fracDigits - fracZeros : intDigits + fracDigits;
  return digits <= 15 || String(x) === text;
}

type TypedArray = Uint8Array | Int32Array | Float64Array;

/**
 * An append-only typed array (a flag per row costs one byte, a line number four, a value eight:
 * not a slot of a JS array, whose growth copies stay in the collector's old space), doubled as
 * it fills.
 */
class Growable<T extends TypedArray> {
  length = 0;
  constructor(private data: T) {}

  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new (this.data.constructor as new (n: number) => T)(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  at(i: number): number {
    return this.data[i];
  }

  finish(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/**
 * One column while it is being read. While every value so far is a number only the numbers are
 * kept, plus the text of the values that String() would not write back the same way ('1.50',
 * '007', '-0', the NA text); if a later value is text, the earlier texts are rebuilt exactly
 * from those. A column of plainly written numbers thus never holds its strings. A column read
 * as text (labels) keeps each distinct text once, however many rows repeat it.
 */
class ColumnReader {
  private numbers: Growable<Float64Array> | null;
  /** Rows (increasing) whose text String() would not reproduce, and their texts. */
  private spelledRows: number[] = [];
  private spelledTexts: string[] = [];
  private strings: string[] | null;
  private readonly interned: Map<string, string> | null;
  private missing = new Growable(new Uint8Array(1024));
  /** The first value written as a number too large for a double ('1e999'), and its row. */
  overflowRow = -1;
  overflowText = '';

  constructor(asText: boolean) {
    this.numbers = asText ? null : new Growable(new Float64Array(1024));
    this.strings = asText ? [] : null;
    this.interned = asText ? new Map() : null;
  }

  add(text: string, isMissing: boolean): void {
    const row = this.missing.length;
    this.missing.push(isMissing ? 1 : 0);
    if (this.numbers) {
      if (isMissing) {
        this.numbers.push(NaN);
        if (text !== '') this.spell(row, text);
        return;
      }
      if (NUMBER.test(text)) {
        const x = Number(text);
        if (!Number.isFinite(x)) {
          // Still a number to R (which reads it as Inf); an error if the column stays numeric.
          this.numbers.push(NaN);
          if (this.overflowRow < 0) {
            this.overflowRow = row;
            this.overflowText = text;
          }
          this.spell(row, text);
          return;
        }
        this.numbers.push(x);
        if (!writtenAsString(text, x)) this.spell(row, text);
        return;
      }
      this.becomeText();
    }
    if (this.interned) {
      const known = this.interned.get(text);
      if (known === undefined) this.interned.set(text, text);
      else text = known;
    }
    this.strings!.push(text);
  }

  private spell(row: number, text: string): void {
    this.spelledRows.push(row);
    this.spelledTexts.push(text);
  }

  private becomeText(): void {
    const numbers = this.numbers!;
    const strings: string[] = new Array(numbers.length);
    let k = 0;
    for (let r = 0; r < numbers.length; r++) {
      if (this.spelledRows[k] === r) strings[r] = this.spelledTexts[k++];
      else strings[r] = this.missing.at(r) ? '' : String(numbers.at(r));
    }
    this.strings = strings;
    this.numbers = null;
    this.spelledRows = [];
    this.spelledTexts = [];
    this.overflowRow = -1;
  }

  finish(): Column {
    const missing = this.missing.finish();
    return this.numbers ? { kind: 'number', values: this.numbers.finish(), missing } : { kind: 'string', values: this.strings!, missing };
  }
}

// A long string is parsed in pieces so that only one piece's records exist at a time.
function* pieces(text: string): Generator<string> {
  const size = 1 << 16;
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

/**
 * Reads a CSV with a header line into typed columns: a column is numeric when every value that
 * is not missing is a decimal number, otherwise it is text (columns selected as text are text
 * in any case). A number too large for a double ('1e999') in a column that is otherwise
 * numeric is an error naming its row and column: R reads it as Inf, which no model can use.
 * `text` may be the whole file or its chunks in order (e.g. from a streaming decoder); only
 * the selected columns are stored. A blank line is skipped when the header has more than one
 * column (it cannot be a row then); with one column it is a missing value, since the RFC
 * cannot tell it apart from one empty field.
 */
export function readCsvTable(text: string | Iterable<string>, opts: ReadCsvOptions = {}): CsvTable {
  const source = opts.source ?? 'csv';
  const na = new Set(opts.na ?? ['', 'NA']);
  const parser = new CsvParser({ delimiter: opts.delimiter, source });
  let names: string[] | null = null;
  // readers[j] for each kept column j of the header, null for a skipped one.
  let readers: (ColumnReader | null)[] = [];
  let kept: number[] = [];
  const lines = new Growable(new Int32Array(1024));

  const take = (records: string[][], recordLines: readonly number[]) => {
    for (let r = 0; r < records.length; r++) {
      const record = records[r];
      if (!names) {
        names = header(record, recordLines[r], source);
        ({ readers, kept } = selection(names, opts.select, source));
        continue;
      }
      const k = names.length;
      if (k > 1 && record.length === 1 && record[0] === '') continue;
      if (record.length !== k) {
        throw new CsvError(
          `${source}: row ${lines.length + 1} (line ${recordLines[r]}) has ${record.length} field${record.length === 1 ? '' : 's'}, the header has ${k}`,
          recordLines[r],
          Math.min(record.length, k) + 1,
        );
      }
      for (const j of kept) readers[j]!.add(record[j], na.has(record[j]));
      lines.push(recordLines[r]);
    }
  };
  for (const chunk of typeof text === 'string' ? pieces(text) : text) take(parser.push(chunk), parser.lines);
  take(parser.end(), parser.lines);

  if (!names) throw new CsvError(`${source}: the input is empty; expected a header line with the column names`, 1, 1);
  const all: string[] = names;
  const rowLines = lines.finish();
  const columns = new Map<string, Column>();
  for (const j of kept) {
    const reader = readers[j]!;
    const column = reader.finish();
    if (column.kind === 'number' && reader.overflowRow >= 0) {
      const row = reader.overflowRow;
      throw new DataError(`${reader.overflowText} is not a finite number (beyond the largest double, 1.8e308) in a numeric column`, {
        source,
        row: row + 1,
        line: rowLines[row],
        column: all[j],
      });
    }
    columns.set(all[j], column);
  }
  return { names: kept.map((j) => all[j]), header: all, columns, nrows: rowLines.length, lines: rowLines };
}

function header(record: string[], line: number, source: string): string[] {
  const seen = new Map<string, number>();
  record.forEach((name, j) => {
    if (name === '') throw new CsvError(`${source}: line ${line}: column ${j + 1} of the header has an empty name`, line, j + 1);
    const first = seen.get(name);
    if (first !== undefined) {
      throw new CsvError(`${source}: line ${line}: the header names column ${quoteName(name)} twice (columns ${first + 1} and ${j + 1})`, line, j + 1);
    }
    seen.set(name, j);
  });
  return record;
}

function selection(names: string[], select: ReadCsvOptions['select'], source: string): { readers: (ColumnReader | null)[]; kept: number[] } {
  if (!select) return { readers: names.map(() => new ColumnReader(false)), kept: names.map((_, j) => j) };
  const chosen = select(names);
  const index = new Map(names.map((name, j) => [name, j]));
  const find = (name: string) => {
    const j = index.get(name);
    if (j === undefined) throw new DataError(`no column ${quoteName(name)}${didYouMean(name, names)}; the header has ${names.map(quoteName).join(', ')}`, { source, line: 1 });
    return j;
  };
  const keep = new Set<number>();
  for (const name of chosen.keep) keep.add(find(name));
  const text = new Set<number>();
  for (const name of chosen.text ?? []) {
    const j = find(name);
    keep.add(j);
    text.add(j);
  }
  const kept = [...keep].sort((a, b) => a - b);
  return { readers: names.map((_, j) => (keep.has(j) ? new ColumnReader(text.has(j)) : null)), kept };
}
