import { expect } from 'vitest';

/**
 * The error `fn` throws, checked to be a `kind` (so a test can then match its message);
 * fails the test when `fn` returns normally or throws anything else.
 */
export function thrown<E extends Error>(kind: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(kind);
    return e as E;
  }
  throw new Error(`expected a ${kind.name}`);
}
