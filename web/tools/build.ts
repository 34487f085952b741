// Builds the demo page into web/dist/: the page's script, the fitting worker (the same entry as
// the package's dist/worker.js) and the worker threads' script it starts (dist/threads.js's
// entry, next to it where the library looks), bundled by esbuild, and the HTML.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export const WEB_DIST = resolve('web/dist');

export async function buildWeb(outdir = WEB_DIST): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'warning' } as const;
  await Promise.all([
    build({ ...common, entryPoints: ['web/page/main.ts'], outfile: resolve(outdir, 'main.js') }),
    build({ ...common, entryPoints: ['ngmm/worker/main.ts'], outfile: resolve(outdir, 'worker.js') }),
    build({ ...common, entryPoints: ['ngmm/threads/worker.ts'], outfile: resolve(outdir, 'threads.js') }),
  ]);
  copyFileSync('web/index.html', resolve(outdir, 'index.html'));
  return outdir;
}
