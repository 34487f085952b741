// Runs the shared case (fixtures/case.mjs) in Deno, Bun and workerd, each from its npm
// package, and returns the numbers it printed or answered. Nothing here reaches the network:
// the binaries are in node_modules, and workerd listens on loopback only.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import type { CaseNumbers } from './compare';

const run = promisify(execFile);
const fixture = (name: string) => resolve('test/runtimes/fixtures', name);
const bin = (name: string) => resolve('node_modules/.bin', name);
// The package's own files, found through its `exports` (a package can import itself by name).
const fromPackage = (specifier: string) => createRequire(resolve('package.json')).resolve(specifier);

async function script(cmd: string, args: string[]): Promise<CaseNumbers> {
  const { stdout } = await run(cmd, args, {
    encoding: 'utf8',
    timeout: 60_000,
    // No update checks or telemetry: CI has no network but the package registries.
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DO_NOT_TRACK: '1' },
  });
  return JSON.parse(stdout);
}

/** Deno with no permissions at all: the bundle needs none (no fs, no net, no env). */
export const runDeno = () => script(bin('deno'), ['run', '--no-prompt', fixture('run.mjs')]);

export const runBun = () => script(bin('bun'), [fixture('run.mjs')]);

export interface WorkerdAnswers {
  numbers: CaseNumbers;
  /** What the default initSync() (compiling from bytes) said inside workerd. */
  fromBytes: { status: number; text: string };
}

/** A worker with the bundle, the case and the SIMD kernels as a compiled-WASM module, the
 * last two files as a Cloudflare project would import them: 'ngmm' and 'ngmm/wasm/simd.wasm'. */
export async function runWorkerd(): Promise<WorkerdAnswers> {
  const mf = new Miniflare({
    modulesRoot: '/worker',
    modules: [
      { type: 'ESModule', path: '/worker/index.mjs', contents: readFileSync(fixture('workerd.mjs'), 'utf8') },
      { type: 'ESModule', path: '/worker/ngmm.js', contents: readFileSync(fromPackage('ngmm'), 'utf8') },
      { type: 'ESModule', path: '/worker/case.mjs', contents: readFileSync(fixture('case.mjs'), 'utf8') },
      { type: 'CompiledWasm', path: '/worker/ngmm-simd.wasm', contents: readFileSync(fromPackage('ngmm/wasm/simd.wasm')) },
    ],
    compatibilityDate: '2026-04-01',
  });
  try {
    const bytes = await mf.dispatchFetch('http://localhost/from-bytes');
    const fromBytes = { status: bytes.status, text: await bytes.text() };
    const res = await mf.dispatchFetch('http://localhost/');
    if (!res.ok) throw new Error(`workerd answered ${res.status}: ${await res.text()}`);
    return { numbers: (await res.json()) as CaseNumbers, fromBytes };
  } finally {
    await mf.dispose();
  }
}
