// The built bundle (dist/ngmm.js, made by `npm run build` before the tests) runs in a plain
// Node process whose file-system access is limited, by Node's permission model, to the bundle
// and the script: the WASM bytes cannot come from a .wasm file. And it runs from a precompiled
// WebAssembly.Module with compilation from bytes forbidden, as Cloudflare workerd requires.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bundle = resolve('dist/ngmm.js');
const script = resolve('test/dist/fixtures/train.mjs');

function run(mode: string): { backend: string; losses: number[]; grads: number[][] } {
  const out = execFileSync(
    process.execPath,
    ['--experimental-permission', `--allow-fs-read=${bundle}`, `--allow-fs-read=${script}`, '--no-warnings', script, bundle, mode],
    { encoding: 'utf8' },
  );
  return JSON.parse(out);
}

describe('the built bundle', () => {
  it('exists (npm test builds it first)', () => {
    expect(existsSync(bundle)).toBe(true);
  });

  it('trains with file reads limited to itself, sync and async init, and from a precompiled Module', () => {
    const sync = run('sync');
    const asyncInit = run('async');
    const pre = run('precompiled');
    expect(sync.backend).toBe('wasm-simd');
    expect(pre.backend).toBe('wasm-simd');
    expect(sync.losses[4]).toBeLessThan(sync.losses[0]);
    expect(asyncInit).toEqual(sync);
    expect(pre).toEqual(sync);
  });

  it('a read of anything else is really denied in that process', () => {
    expect(() =>
      execFileSync(process.execPath, ['--experimental-permission', `--allow-fs-read=${script}`, '--no-warnings', '-e',
        "require('node:fs').readFileSync('package.json')"], { encoding: 'utf8', stdio: 'pipe' }),
    ).toThrow(/ERR_ACCESS_DENIED/);
  });
});
