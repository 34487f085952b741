// The library's matrix inputs (X, Z) as JavaScript users hold them: a typed array or a plain
// number[] in row-major order, or an array of rows. Everything becomes one row-major
// Float64Array, and a shape or type error says which row and column, in the caller's terms.
//
// Only shape and type are checked here: a number that is NaN or infinite is still a number,
// and whether it is an error (or a missing value to drop) is for the code that reads it.

/** A matrix as a typed array or number[] (row-major, n × p), or as rows (n arrays of p numbers). */
export type MatrixInput = ArrayLike<number> | readonly ArrayLike<number>[];

// Typed arrays whose elements are not JavaScript numbers (BigInt64Array, BigUint64Array).
const isBigIntArray = (v: ArrayBufferView): boolean =>
  (typeof BigInt64Array !== 'undefined' && v instanceof BigInt64Array) || (typeof BigUint64Array !== 'undefined' && v instanceof BigUint64Array);

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  if (typeof v === 'object') return ArrayBuffer.isView(v) ? `a ${v.constructor.name}` : 'an object';
  return typeof v === 'bigint' ? `the BigInt ${v}` : `${typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`}`;
};

/**
 * X as a row-major Float64Array of n × p values. `p` is the number of columns when the caller
 * knows it (a flat input must then hold a multiple of p values, and every row p values);
 * without it, rows give p and a flat input is taken as it is. `name` (e.g. 'X', 'predict: X')
 * starts every message; `columns` names the columns in them. A Float64Array is returned as it
 * is, not copied.
 */
export function asMatrix(X: unknown, p: number | undefined, name: string, columns?: readonly string[]): Float64Array {
  const col = (j: number) => (columns && j < columns.length ? `column '${columns[j]}'` : `column ${j + 1}`);
  if (X === null || X === undefined) throw new TypeError(`${name} is missing: give a typed array, a number[] (row-major) or an array of rows`);
  if (ArrayBuffer.isView(X)) {
    if (X instanceof DataView || isBigIntArray(X)) {
      throw new TypeError(`${name}: ${describe(X)} is not supported; give a Float64Array (or another typed array of numbers), a number[] or an array of rows`);
    }
    const flat = X as unknown as ArrayLike<number>;
    checkFlatLength(flat.length, p, name);
    return X instanceof Float64Array ? X : Float64Array.from(flat);
  }
  if (!Array.isArray(X)) {
    throw new TypeError(`${name} must be a typed array, a number[] (row-major) or an array of rows, not ${describe(X)}`);
  }
  if (X.length > 0 && (Array.isArray(X[0]) || ArrayBuffer.isView(X[0]))) return fromRows(X, p, name, col);
  checkFlatLength(X.length, p, name);
  const out = new Float64Array(X.length);
  const width = p && p > 0 ? p : 1;
  for (let i = 0; i < X.length; i++) {
    const v: unknown = X[i];
    if (typeof v !== 'number') {
      if (Array.isArray(v) || ArrayBuffer.isView(v)) {
        throw new TypeError(`${name}: element ${i + 1} is ${describe(v)} but element 1 is a number; give either rows (all arrays) or a flat row-major number[]`);
      }
      const where = p && p > 0 ? `row ${Math.floor(i / width) + 1}, ${col(i % width)}` : `element ${i + 1}`;
      throw new TypeError(`${name}: ${where}: ${describe(v)} is not a number`);
    }
    out[i] = v;
  }
  return out;
}

function checkFlatLength(len: number, p: number | undefined, name: string): void {
  if (p === undefined) return;
  if (!Number.isInteger(p) || p < 0) throw new RangeError(`${name}: the number of columns must be a non-negative integer, got ${p}`);
  if (p === 0 ? len !== 0 : len % p !== 0) {
    throw new RangeError(`${name} has ${len} values, which is not a whole number of rows of ${p} column${p === 1 ? '' : 's'} (row-major, n × ${p})`);
  }
}

function fromRows(rows: readonly unknown[], p: number | undefined, name: string, col: (j: number) => string): Float64Array {
  if (p !== undefined && (!Number.isInteger(p) || p < 0)) throw new RangeError(`${name}: the number of columns must be a non-negative integer, got ${p}`);
  const first = rows[0] as ArrayLike<unknown>;
  const width = p ?? first.length;
  const out = new Float64Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row) && !ArrayBuffer.isView(row)) {
      throw new TypeError(`${name}: row ${i + 1} is ${describe(row)}, not an array (row 1 is an array, so every row must be)`);
    }
    if (ArrayBuffer.isView(row) && (row instanceof DataView || isBigIntArray(row))) throw new TypeError(`${name}: row ${i + 1}: ${describe(row)} is not supported`);
    const r = row as ArrayLike<unknown>;
    if (r.length !== width) {
      const why = p !== undefined ? `the model has ${p} column${p === 1 ? '' : 's'}` : `row 1 has ${width}`;
      throw new RangeError(`${name}: row ${i + 1} has ${r.length} value${r.length === 1 ? '' : 's'}, but ${why}`);
    }
    for (let j = 0; j < width; j++) {
      const v = r[j];
      if (typeof v !== 'number') throw new TypeError(`${name}: row ${i + 1}, ${col(j)}: ${describe(v)} is not a number`);
      out[i * width + j] = v;
    }
  }
  return out;
}
