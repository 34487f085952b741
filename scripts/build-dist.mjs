// Bundles the library into dist/: one ESM file with the WASM bytes embedded (no fs, no fetch),
// a minified copy, type declarations, and a printed size (minified + gzipped, WASM included).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

rmSync('dist', { recursive: true, force: true });
const common = {
  entryPoints: ['ngmm/index.ts'],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  logLevel: 'warning',
};
await build({ ...common, outfile: 'dist/ngmm.js' });
await build({ ...common, outfile: 'dist/ngmm.min.js', minify: true });
// The command line, for Node: fs is allowed here and only here.
await build({
  entryPoints: ['ngmm/bin.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
execFileSync(new URL('../node_modules/.bin/tsc', import.meta.url).pathname, ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
const min = readFileSync('dist/ngmm.min.js');
const gz = gzipSync(min, { level: 9 }).length;
console.log(`dist: ngmm.min.js ${(min.length / 1024).toFixed(1)} KiB, gzipped ${(gz / 1024).toFixed(1)} KiB (both WASM builds embedded)`);
