// Runs a TypeScript entry point under Node: bundles it with esbuild into .build/ and imports
// it, passing the remaining arguments through.
import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { basename, resolve } from 'node:path';

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
const outfile = resolve('.build', `${basename(entry, '.ts')}.run.mjs`);
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  packages: 'external',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
// The worker threads' script next to the bundle, where the library looks for it (ngmm/threads/pool.ts).
await build({ entryPoints: ['ngmm/threads/worker.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: resolve('.build', 'threads.js'), logLevel: 'warning' });
process.argv = [process.argv[0], outfile, ...rest];
await import(pathToFileURL(outfile).href);
