// The CSV reader: every RFC 4180 rule and the accepted extensions (LF/CR line ends, BOM, no
// final line end), records split across chunks anywhere, errors that name line and field;
// properties: write-then-parse round trips for arbitrary text in arbitrary chunks, arbitrary
// input only ever raises CsvError, and numeric tables come back bit for bit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvError, CsvParser, readCsvTable, type Column } from '../../ngmm/csv';
import { DataError } from '../../ngmm/errors';
import { thrown } from '../helpers/thrown';

function parse(chunks: string | string[], delimiter?: string): string[][] {
  const p = new CsvParser({ delimiter });
  const out: string[][] = [];
  for (const c of typeof chunks === 'string' ? [chunks] : chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

// Splits `text` at the given cut points (any integers; taken modulo the length, sorted).
function split(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(text.slice(prev, c));
    prev = c;
  }
  out.push(text.slice(prev));
  return out;
}

// The smallest writer that makes parse(write(records)) = records. Beyond quoting fields with a
// delimiter, quote, CR or LF: a BOM at the start of the text would be taken for a byte-order
// mark, and a record of one empty field is an empty line, which a final record without a line
// end cannot be; quoting keeps both.
function write(records: string[][], eol: string, finalEol: boolean, delimiter = ','): string {
  const field = (f: string, lone: boolean) =>
    f.includes(delimiter) || /["\r\n]/.test(f) || f.startsWith('\uFEFF') || (lone && f === '') ? `"${f.replace(/"/g, '""')}"` : f;
  return records.map((r) => r.map((f) => field(f, r.length === 1)).join(delimiter)).join(eol) + (finalEol && records.length > 0 ? eol : '');
}

const caught = (fn: () => unknown): CsvError => thrown(CsvError, fn);

describe('CsvParser', () => {
  it('reads plain records with LF, CRLF or CR line ends, with or without a final one', () => {
    const want = [
      ['a', 'b', 'c'],
      ['1', '2', '3'],
    ];
    for (const eol of ['\n', '\r\n', '\r']) {
      expect(parse(`a,b,c${eol}1,2,3${eol}`)).toEqual(want);
      expect(parse(`a,b,c${eol}1,2,3`)).toEqual(want);
    }
    expect(parse('a\r\nb\nc\rd')).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('reads quoted fields: doubled quotes, delimiters and line ends inside quotes', () => {
    expect(parse('"a ""quoted"" word","x,y"\n')).toEqual([['a "quoted" word', 'x,y']]);
    expect(parse('"line1\nline2","l1\r\nl2","cr\ronly"\r\nnext')).toEqual([['line1\nline2', 'l1\r\nl2', 'cr\ronly'], ['next']]);
    expect(parse('""""\n"",""')).toEqual([['"'], ['', '']]);
  });

  it('keeps empty fields and empty lines, and reads nothing from empty input', () => {
    expect(parse('a,,c\n,,\n')).toEqual([
      ['a', '', 'c'],
      ['', '', ''],
    ]);
    expect(parse('a,\n,b')).toEqual([
      ['a', ''],
      ['', 'b'],
    ]);
    expect(parse('a\n\nb\n')).toEqual([['a'], [''], ['b']]);
    expect(parse('')).toEqual([]);
    expect(parse('\n')).toEqual([['']]);
    expect(parse('""')).toEqual([['']]);
  });

  it('skips a UTF-8 byte-order mark at the start only', () => {
    expect(parse('\uFEFFa,b\n1,2')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
    expect(parse(['', '\uFEFF"a"', ',b'])).toEqual([['a', 'b']]);
    expect(parse('a,\uFEFFb')).toEqual([['a', '\uFEFFb']]);
  });

  it('takes a bare quote inside an unquoted field literally', () => {
    expect(parse(`5'11",x"y\n`)).toEqual([[`5'11"`, 'x"y']]);
  });

  it('uses another delimiter', () => {
    expect(parse('a;b,c;"d;e"\n', ';')).toEqual([['a', 'b,c', 'd;e']]);
    expect(parse('a\tb\n', '\t')).toEqual([['a', 'b']]);
    expect(() => new CsvParser({ delimiter: '"' })).toThrow(/delimiter/);
    expect(() => new CsvParser({ delimiter: ';;' })).toThrow(/delimiter/);
  });

  it('carries a quoted field, a doubled quote and a CRLF across chunk boundaries', () => {
    const text = 'id,note\r\n1,"he said ""hi"",\r\nthen left"\r\n2,x\r\n';
    const want = [
      ['id', 'note'],
      ['1', 'he said "hi",\r\nthen left'],
      ['2', 'x'],
    ];
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j += 3) {
        expect(parse([text.slice(0, i), text.slice(i, j), text.slice(j)])).toEqual(want);
      }
    }
    // A CR ending a chunk: the record is complete at once, the LF starting the next is skipped.
    const p = new CsvParser();
    expect(p.push('a,b\r')).toEqual([['a', 'b']]);
    expect(p.push('\nc,d\r')).toEqual([['c', 'd']]);
    expect(p.push('\n')).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('yields records as they complete and reports the line each starts on', () => {
    const p = new CsvParser();
    expect(p.push('a,b\n1,"x\ny"\n2')).toEqual([
      ['a', 'b'],
      ['1', 'x\ny'],
    ]);
    expect(p.lines).toEqual([1, 2]);
    expect(p.push(',z')).toEqual([]);
    expect(p.end()).toEqual([['2', 'z']]);
    expect(p.lines).toEqual([4]);
    expect(() => p.push('x')).toThrow(/after end/);
  });

  it('rejects a character after a closing quote, naming line and field', () => {
    const e = caught(() => parse('a,b\r\n1,"ab"c\n'));
    expect([e.line, e.column]).toEqual([2, 2]);
    expect(e.message).toMatch(/^csv: line 2, field 2: unexpected "c" after the closing quote/);
    const f = caught(() => parse('"x\ny" z'));
    expect([f.line, f.column]).toEqual([2, 1]);
  });

  it('rejects a quoted field that is never closed, naming the line it opened on', () => {
    const e = caught(() => parse(['a,b\n1,"open', '\nmore\n']));
    expect([e.line, e.column]).toEqual([2, 2]);
    expect(e.message).toBe('csv: line 2, field 2: the quoted field opened on line 2 is never closed (the input ends inside it, on line 4)');
  });
});

describe('readCsvTable', () => {
  const num = (c: Column | undefined) => {
    expect(c?.kind).toBe('number');
    return c as Extract<Column, { kind: 'number' }>;
  };
  const str = (c: Column | undefined) => {
    expect(c?.kind).toBe('string');
    return c as Extract<Column, { kind: 'string' }>;
  };

  it('types columns: numbers (with NaN for missing) and text', () => {
    const t = readCsvTable('\uFEFFy,x,g\r\n1.5,NA,a\r\n-2e3,.5,b\r\n,+7,NA\r\n');
    expect(t.names).toEqual(['y', 'x', 'g']);
    expect(t.nrows).toBe(3);
    const y = num(t.columns.get('y'));
    expect([...y.values]).toEqual([1.5, -2000, NaN]);
    expect([...y.missing]).toEqual([0, 0, 1]);
    expect([...num(t.columns.get('x')).values]).toEqual([NaN, 0.5, 7]);
    const g = str(t.columns.get('g'));
    expect(g.values).toEqual(['a', 'b', 'NA']);
    expect([...g.missing]).toEqual([0, 0, 1]);
  });

  it('reads strictly: only decimal and scientific notation make a number', () => {
    for (const bad of ['1e', '0x10', ' 3', '3 ', 'Infinity', '-Infinity', 'NaN', '1,5', '+', '.', '1_000', '٣']) {
      const c = readCsvTable(`v\n1\n${bad.includes(',') ? `"${bad}"` : bad}\n`).columns.get('v');
      expect(c?.kind, bad).toBe('string');
    }
    for (const good of ['3', '-3', '+3', '3.', '.3', '3.25', '1e5', '1E-5', '-1.5e+300', '007']) {
      expect(readCsvTable(`v\n${good}\n`).columns.get('v')?.kind, good).toBe('number');
    }
  });

  it('keeps the text of a column exactly as written when it turns out to be text', () => {
    const t = readCsvTable('id\n007\n1.50\n-0\nNA\n\n2\nA1\n');
    expect(str(t.columns.get('id')).values).toEqual(['007', '1.50', '-0', 'NA', '', '2', 'A1']);
    expect([...t.columns.get('id')!.missing]).toEqual([0, 0, 0, 1, 1, 0, 0]);
  });

  it('honours custom NA strings and delimiter, and treats an all-missing column as numeric', () => {
    const t = readCsvTable('a;b\n.;x\n1;.\n', { delimiter: ';', na: ['.'] });
    expect([...num(t.columns.get('a')).values]).toEqual([NaN, 1]);
    expect(str(t.columns.get('b')).values).toEqual(['x', '.']);
    const u = readCsvTable('a,b\nNA,1\n,2\n');
    expect([...num(u.columns.get('a')).missing]).toEqual([1, 1]);
  });

  it('skips blank lines when the header has several columns', () => {
    const t = readCsvTable('a,b\n\n1,2\n\n\n3,4\n\n');
    expect(t.nrows).toBe(2);
    expect(readCsvTable('a\n1\n\n2\n').nrows).toBe(3);
  });

  it('reads a sequence of chunks', () => {
    const t = readCsvTable(['a,b\n1,"x', '\ny"\n2', ',z\n']);
    expect(str(t.columns.get('b')).values).toEqual(['x\ny', 'z']);
  });

  it('rejects a row with the wrong number of fields, naming source, row, line', () => {
    const text = 'a,b,c,d,e\n' + '1,2,3,4,5\n'.repeat(16) + '1,2,3,4\n';
    const e = caught(() => readCsvTable(text, { source: 'data.csv' }));
    expect(e.message).toBe('data.csv: row 17 (line 18) has 4 fields, the header has 5');
    expect([e.line, e.column]).toEqual([18, 5]);
    const f = caught(() => readCsvTable('a,b\n"x\ny",2,3\n'));
    expect(f.message).toBe('csv: row 1 (line 2) has 3 fields, the header has 2');
    expect(f.column).toBe(3);
  });

  it('rejects an empty or duplicate column name and an empty input', () => {
    const e = caught(() => readCsvTable('x,y,x\n1,2,3\n', { source: 'd.csv' }));
    expect(e.message).toBe("d.csv: line 1: the header names column 'x' twice (columns 1 and 3)");
    expect(e.column).toBe(3);
    expect(caught(() => readCsvTable('a,,c\n')).message).toBe('csv: line 1: column 2 of the header has an empty name');
    expect(caught(() => readCsvTable('')).message).toMatch(/empty/);
  });

  it('names the source in parser errors', () => {
    expect(caught(() => readCsvTable('a\n"x', { source: 'f.csv' })).message).toMatch(/^f\.csv: line 2, field 1: /);
  });
});

describe('readCsvTable: choosing columns, labels and locations', () => {
  const dataError = (fn: () => unknown): DataError => thrown(DataError, fn);

  it('keeps only the selected columns, asking before any row is read', () => {
    let header: readonly string[] = [];
    let rowsRead = false;
    function* chunks() {
      yield 'a,b,c,d\n';
      rowsRead = true;
      yield '1,x,2,3\n4,y,5,6\n';
    }
    const t = readCsvTable(chunks(), {
      select: (h) => {
        header = [...h];
        expect(rowsRead).toBe(false);
        return { keep: ['d', 'b'] };
      },
    });
    expect(header).toEqual(['a', 'b', 'c', 'd']);
    expect(t.header).toEqual(['a', 'b', 'c', 'd']);
    expect(t.names).toEqual(['b', 'd']);
    expect([...t.columns.keys()].sort()).toEqual(['b', 'd']);
    expect([...(t.columns.get('d')!.values as Float64Array)]).toEqual([3, 6]);
  });

  it('reads label columns as text exactly as written', () => {
    const t = readCsvTable('id,v\n01,1\n1,2\n12345678901234567890,3\n12345678901234567891,4\n1.50,5\nNA,6\n', { select: () => ({ keep: ['v'], text: ['id'] }) });
    const id = t.columns.get('id')!;
    expect(id.kind).toBe('string');
    expect(id.values).toEqual(['01', '1', '12345678901234567890', '12345678901234567891', '1.50', 'NA']);
    expect([...id.missing]).toEqual([0, 0, 0, 0, 0, 1]);
    // Read by content, the same ids would be numbers: 01 = 1, and the two long ids one double.
    const n = readCsvTable('id\n01\n1\n12345678901234567890\n12345678901234567891\n').columns.get('id')!;
    expect(n.kind).toBe('number');
    expect(new Set(n.values as Float64Array).size).toBe(2);
  });

  it('a selected column the header lacks is an error with a suggestion', () => {
    const e = dataError(() => readCsvTable('weight,x\n1,2\n', { source: 'd.csv', select: () => ({ keep: ['wieght'] }) }));
    expect(e.message).toBe("d.csv: line 1: no column 'wieght' (did you mean 'weight'?); the header has 'weight', 'x'");
  });

  it('a number beyond the doubles in a numeric column names its row, line and column', () => {
    // Row 1 spans lines 2–3 (a quoted line end); line 4 is blank; row 2 is line 5.
    const csv = 'a,b\n"x\ny",1\n\nz,-1e999\nw,2\n';
    const e = dataError(() => readCsvTable(csv, { source: 'd.csv' }));
    expect(e.message).toBe("d.csv: row 2 (line 5), column 'b': -1e999 is not a finite number (beyond the largest double, 1.8e308) in a numeric column");
    expect([e.row, e.line, e.column]).toEqual([2, 5, 'b']);
    // In a text column it is text like any other; in an unselected column it is never read.
    expect(readCsvTable('v\n1e999\nabc\n').columns.get('v')!.values).toEqual(['1e999', 'abc']);
    expect(readCsvTable('v,w\n1e999,1\n', { select: () => ({ keep: ['w'] }) }).nrows).toBe(1);
    expect(readCsvTable('v\n1e999\n', { select: () => ({ keep: [], text: ['v'] }) }).columns.get('v')!.values).toEqual(['1e999']);
  });

  it('gives the line on which each row starts', () => {
    const t = readCsvTable('a,b\n1,"x\ny"\n\n2,z\n3,"p\r\nq\nr"\n4,s');
    expect([...t.lines]).toEqual([2, 5, 6, 9]);
    expect(readCsvTable('a,b\n').nrows).toBe(0);
  });

  it('a bad delimiter is a DataError, not a RangeError', () => {
    expect(dataError(() => readCsvTable('a\n1\n', { delimiter: '"' })).message).toBe(`the CSV delimiter must be one character other than '"', CR and LF, got "\\""`);
  });

  it('columns may be named like Object.prototype keys', () => {
    const t = readCsvTable('__proto__,constructor,toString\n1,a,2\n');
    expect(t.names).toEqual(['__proto__', 'constructor', 'toString']);
    expect([...(t.columns.get('__proto__')!.values as Float64Array)]).toEqual([1]);
  });
});

describe('properties', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\r', '\n', ' ', '\uFEFF', ';') });
  const anyText = fc.oneof(text, fc.string({ unit: 'binary' }));
  const records = fc.array(fc.array(anyText, { minLength: 1, maxLength: 5 }), { maxLength: 8 });

  it('parse(write(records)) = records, in any chunks, for either line end and delimiter', () => {
    fc.assert(
      fc.property(
        records,
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.boolean(),
        fc.constantFrom(',', ';', '\t'),
        fc.array(fc.nat(), { maxLength: 6 }),
        (rs, eol, finalEol, delim, cuts) => {
          const csv = write(rs, eol, finalEol, delim);
          expect(parse(csv, delim)).toEqual(rs);
          expect(parse(split(csv, cuts), delim)).toEqual(rs);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('arbitrary input yields records or a CsvError, nothing else', () => {
    const decoder = new TextDecoder();
    const input = fc.oneof(
      fc.string({ unit: 'binary' }),
      text,
      fc.uint8Array({ maxLength: 64 }).map((b) => decoder.decode(b)),
    );
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 4 }), (s, cuts) => {
        for (const chunks of [[s], split(s, cuts)]) {
          try {
            const rs = parse(chunks);
            expect(rs.every((r) => r.length >= 1 && r.every((f) => typeof f === 'string'))).toBe(true);
          } catch (e) {
            if (!(e instanceof CsvError)) throw e;
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.column).toBeGreaterThanOrEqual(1);
          }
          try {
            readCsvTable(chunks);
          } catch (e) {
            if (!(e instanceof CsvError || e instanceof DataError)) throw e;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a column of numbers however written reads as Number(text), and as the exact texts once it holds text', () => {
    const decimal = fc
      .oneof(
        fc.stringMatching(/^[+-]?\d{1,18}(\.\d{0,18})?([eE][+-]?\d{1,3})?$/),
        fc.stringMatching(/^-?0\.0{0,8}[1-9]\d{0,6}$/),
        fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      )
      .filter((s) => Number.isFinite(Number(s)));
    fc.assert(
      fc.property(fc.array(decimal, { minLength: 1, maxLength: 10 }), (texts) => {
        const numeric = readCsvTable(`v\n${texts.join('\n')}\n`).columns.get('v')!;
        expect(numeric.kind).toBe('number');
        texts.forEach((t, i) => expect(Object.is(numeric.values[i], Number(t))).toBe(true));
        const text = readCsvTable(`v\n${texts.join('\n')}\nNA\nA\n`).columns.get('v')!;
        expect(text.values).toEqual([...texts, 'NA', 'A']);
      }),
      { numRuns: 500 },
    );
  });

  it('readCsvTable reproduces numbers written with String(x) exactly', () => {
    const value = fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { freq: 6 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((k) => fc.array(fc.array(value, { minLength: k, maxLength: k }), { maxLength: 12 })),
        fc.constantFrom('', 'NA'),
        fc.array(fc.nat(), { maxLength: 4 }),
        (rows, na, cuts) => {
          const k = rows[0]?.length ?? 1;
          const names = Array.from({ length: k }, (_, j) => `x${j}`);
          // A one-column row of one missing value written as '' would be a blank line.
          const cell = (v: number | null) => (v === null ? (k === 1 ? 'NA' : na) : String(v));
          const csv = [names.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
          const t = readCsvTable(split(csv, cuts));
          expect(t.nrows).toBe(rows.length);
          names.forEach((name, j) => {
            const c = t.columns.get(name)!;
            expect(c.kind).toBe('number');
            rows.forEach((r, i) => {
              const v = r[j];
              expect(c.missing[i]).toBe(v === null ? 1 : 0);
              // String(-0) is '0', so -0 comes back as 0; everything else bit for bit.
              if (v !== null) expect(Object.is(c.values[i], v === 0 ? 0 : v)).toBe(true);
              else expect(c.values[i]).toBeNaN();
            });
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
