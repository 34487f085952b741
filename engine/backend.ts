// The backend new tensors are created on. Lazily a synchronous WASM instance; call `init()`
// first where synchronous compilation is not allowed (a browser's main thread), or pass a
// precompiled module (Cloudflare workerd).
import { createBackend, createBackendSync, type Backend, type BackendOptions } from '../kernels/load';

let current: Backend | null = null;

export function backend(): Backend {
  return (current ??= createBackendSync());
}

export function setBackend(b: Backend): Backend {
  current = b;
  return b;
}

export async function init(opts: BackendOptions = {}): Promise<Backend> {
  return setBackend(await createBackend(opts));
}

export function initSync(opts: BackendOptions = {}): Backend {
  return setBackend(createBackendSync(opts));
}

/** Runs `fn` with `b` as the current backend, restoring the previous one after. */
export function withBackend<T>(b: Backend, fn: () => T): T {
  const prev = current;
  current = b;
  try {
    return fn();
  } finally {
    current = prev;
  }
}
