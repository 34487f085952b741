// asMatrix: every way a JavaScript user holds a matrix gives the same row-major Float64Array,
// and every wrong shape or type is one message naming the argument, row and column.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asMatrix } from '../../ngmm/input';

describe('asMatrix', () => {
  it('a Float64Array, another typed array, a number[] and rows give the same matrix', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (n, p, seed) => {
      const rows = Array.from({ length: n }, (_, i) => Array.from({ length: p }, (_, j) => ((seed + 31 * i + 7 * j) % 1000) / 8));
      const flat = rows.flat();
      const expected = new Float64Array(flat);
      expect(asMatrix(rows, p, 'X')).toEqual(expected);
      expect(asMatrix(rows, undefined, 'X')).toEqual(expected);
      expect(asMatrix(flat, p, 'X')).toEqual(expected);
      expect(asMatrix(Float32Array.from(flat), p, 'X')).toEqual(new Float64Array(Float32Array.from(flat)));
      expect(asMatrix(rows.map((r) => Float64Array.from(r)), p, 'X')).toEqual(expected);
      const f64 = Float64Array.from(flat);
      expect(asMatrix(f64, p, 'X')).toBe(f64);
    }));
    expect(asMatrix(Int32Array.of(1, -2, 3, 4), 2, 'X')).toEqual(Float64Array.of(1, -2, 3, 4));
  });

  it('keeps NaN and infinities (whether they are errors is for the reader of the numbers)', () => {
    expect(asMatrix([[NaN, Infinity]], 2, 'X')).toEqual(Float64Array.of(NaN, Infinity));
  });

  it('no columns: any number of empty rows, or an empty array', () => {
    expect(asMatrix([[], [], []], 0, 'X')).toEqual(new Float64Array(0));
    expect(asMatrix([], 0, 'X')).toEqual(new Float64Array(0));
    expect(() => asMatrix([1], 0, 'X')).toThrow(/^X has 1 values, which is not a whole number of rows of 0 columns/);
  });

  it('names the row of a ragged row, against the model or against row 1', () => {
    expect(() => asMatrix([[1, 2], [3, 4], [5]], 2, 'X')).toThrow(/^X: row 3 has 1 value, but the model has 2 columns$/);
    expect(() => asMatrix([[1, 2], [3, 4, 5]], undefined, 'X')).toThrow(/^X: row 2 has 3 values, but row 1 has 2$/);
    expect(() => asMatrix([[1, 2, 3]], 2, 'predict: X')).toThrow(/^predict: X: row 1 has 3 values, but the model has 2 columns$/);
  });

  it('names the row and column of a value that is not a number', () => {
    expect(() => asMatrix([[1, 2], [3, '4']], 2, 'X')).toThrow(/^X: row 2, column 2: the string "4" is not a number$/);
    expect(() => asMatrix([[1, 2], [3, null]], 2, 'X', ['age', 'dose'])).toThrow(/^X: row 2, column 'dose': null is not a number$/);
    expect(() => asMatrix([1, 2, 3, undefined, 5, 6], 3, 'X', ['a', 'b', 'c'])).toThrow(/^X: row 2, column 'a': undefined is not a number$/);
    expect(() => asMatrix([1, 2, 3, true], 2, 'X')).toThrow(/^X: row 2, column 2: a boolean is not a number$/);
    expect(() => asMatrix([1, 2n], undefined, 'X')).toThrow(/^X: element 2: the BigInt 2 is not a number$/);
    // A hole in a sparse row reads as undefined.
    // eslint-disable-next-line no-sparse-arrays
    expect(() => asMatrix([[1, , 3]], 3, 'X')).toThrow(/^X: row 1, column 2: undefined is not a number$/);
  });

  it('a flat array of the wrong length, mixed rows and numbers, and non-matrices are named errors', () => {
    expect(() => asMatrix([1, 2, 3, 4, 5], 2, 'X')).toThrow(/^X has 5 values, which is not a whole number of rows of 2 columns \(row-major, n × 2\)$/);
    expect(() => asMatrix(new Float64Array(5), 2, 'X')).toThrow(/^X has 5 values/);
    expect(() => asMatrix([[1, 2], 3], 2, 'X')).toThrow(/^X: row 2 is a number, not an array/);
    expect(() => asMatrix([1, [2, 3]], undefined, 'X')).toThrow(/^X: element 2 is an array but element 1 is a number/);
    expect(() => asMatrix(undefined, 2, 'X')).toThrow(/^X is missing/);
    expect(() => asMatrix('1,2', 2, 'X')).toThrow(/^X must be a typed array, a number\[\] \(row-major\) or an array of rows, not the string "1,2"$/);
    expect(() => asMatrix({ length: 2, 0: 1, 1: 2 }, 2, 'X')).toThrow(/not an object$/);
    expect(() => asMatrix(new BigInt64Array(2), 2, 'X')).toThrow(/^X: a BigInt64Array is not supported/);
    expect(() => asMatrix(new DataView(new ArrayBuffer(16)), 2, 'X')).toThrow(/^X: a DataView is not supported/);
    expect(() => asMatrix([1, 2], 1.5, 'X')).toThrow(/^X: the number of columns must be a non-negative integer, got 1.5$/);
  });
});
