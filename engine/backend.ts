// The backend new tensors are created on. Lazily a synchronous WASM instance; call `init()`
// first where synchronous compilation is not allowed (a browser's main thread), or pass a
// precompiled module (Cloudflare workerd).
import { createBackend, createBackendSync, type Backend, type BackendOptions } from '../kernels/load';

let current: Backend | null = null;

export function backend(): Backend {
  return (current ??= withHint(() => createBackendSync()));
}

export function setBackend(b: Backend): Backend {
  current = b;
  return b;
}

export async function init(opts: BackendOptions = {}): Promise<Backend> {
  try {
    return setBackend(await createBackend(opts));
  } catch (e) {
    throw hint(e);
  }
}

export function initSync(opts: BackendOptions = {}): Backend {
  return setBackend(withHint(() => createBackendSync(opts)));
}

// Hosts that forbid run-time compilation (Cloudflare workerd: "Wasm code generation
// disallowed by embedder") fail in the WebAssembly constructor; say what to do instead.
function hint(e: unknown): unknown {
  if (e instanceof Error && /disallowed|code generation/i.test(e.message)) {
    return new Error(`ngmm: this host refuses to compile WebAssembly at run time (${e.message}); compile the kernels at deploy time (import the file ngmm/wasm/simd.wasm as a module) and call initSync({ module }) first`, { cause: e });
  }
  return e;
}

function withHint<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw hint(e);
  }
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
