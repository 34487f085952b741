// Builds the demo page into web/dist/: the page's script and the fitting worker (the same
// entry as the package's dist/worker.js), both bundled by esbuild, and the HTML.
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
  ]);
  copyFileSync('web/index.html', resolve(outdir, 'index.html'));
  return outdir;
}
