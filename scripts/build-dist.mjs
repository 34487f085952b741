// Bundles the library into dist/: one ESM file with the WASM bytes embedded (no fs, no fetch),
// a minified copy, a ready-made Web Worker script, the two kernel modules as .wasm files (for
// hosts that must precompile them, e.g. Cloudflare workerd), type declarations, and a printed
// size (minified + gzipped, WASM included) that fails the build when over budget.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { declareWasmModule, fixDeclarationImports } from './fix-declarations.mjs';

// The budget for the minified, gzipped library with both WASM builds. Issue 4 set 150 kB when
// the bundle was 131 kB; issue 13 (several random-effect terms) added, minified, the Laplace
// approximation (11 kB), the sparse profiled LMM (10.6 kB), the terms structure (7.8 kB), the
// sparse Cholesky (5.3 kB), the nested quadrature (5.2 kB), the random-effect terms (3.6 kB),
// fitFormula, predictTable and the sparse dense tail (131 → 154.4 kB gzipped, measured with
// esbuild's metafile), and issue 17's plots 3.7 kB more (158.1 kB); the one-factor exact LMM
// then went through ngmm/lmm/multi.ts with one term, leaving ngmm/lmm/profiled.ts's deviance out
// of the bundle (155.8 kB). 160 kB left 4 kB. Issue 16 (f32 networks, both cores) added the f32
// kernels to both builds (+3.7 kB gzipped), the relaxed-SIMD f32 matmul module (+2.0 kB), the
// mixed-precision MLP and f32 reference kernels (+2.3 kB), and the worker threads' pool, pieces
// and shared-memory loader (+4.1 kB): 159.7 → 172.1 kB. 175 kB leaves 3 kB.
const BUDGET_BYTES = 175_000;

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
// The worker script carries its own copy of the library: a worker loads one file.
await build({ ...common, entryPoints: ['ngmm/worker/main.ts'], outfile: 'dist/worker.js', minify: true });
// The worker threads' script (issue 16): its own copy of the engine and the objective; the library
// starts it from `new URL('./threads.js', import.meta.url)`, i.e. next to the bundle.
// A worker never compiles modules (it is handed the compiled ones), so the embedded module bytes
// are left out of it: 102 kB of base64 a browser would otherwise download once per thread.
const noModuleBytes = {
  name: 'no-module-bytes',
  setup(b) {
    b.onResolve({ filter: /generated\/wasm$/ }, () => ({ path: 'no-module-bytes', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'const none = ""; export { none as SIMD_WASM_BASE64, none as SCALAR_WASM_BASE64, none as RELAXED_WASM_BASE64 };',
      loader: 'js',
    }));
  },
};
await build({ ...common, entryPoints: ['ngmm/threads/worker.ts'], outfile: 'dist/threads.js', minify: true, plugins: [noModuleBytes] });
// The latent-variable model (issue 15) is its own entry, `ngmm/latent`, with its own copy of the engine.
await build({ ...common, entryPoints: ['ngmm/latent/index.ts'], outfile: 'dist/latent.js', minify: true });
// The same bytes as the embedded base64 (decoded from the generated module, not re-read from
// .build/, so the .wasm files can never differ from what the bundle embeds).
const generated = readFileSync('kernels/generated/wasm.ts', 'utf8');
for (const [name, constant] of [['simd', 'SIMD_WASM_BASE64'], ['scalar', 'SCALAR_WASM_BASE64']]) {
  const m = generated.match(new RegExp(`${constant} = "([A-Za-z0-9+/=]+)"`));
  if (!m) throw new Error(`build-dist: ${constant} not found in kernels/generated/wasm.ts (run npm run build:wasm)`);
  writeFileSync(`dist/ngmm-${name}.wasm`, Buffer.from(m[1], 'base64'));
}
// The command line, for Node: fs is allowed here and only here.
await build({
  entryPoints: ['ngmm/bin.ts'],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node18',
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
  define: { __NGMM_VERSION__: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  logLevel: 'warning',
});
execFileSync(new URL('../node_modules/.bin/tsc', import.meta.url).pathname, ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
// Relative imports in the declarations name their files, as node16/nodenext resolution requires,
// and WebAssembly.Module is defined for hosts without the DOM library (fix-declarations.mjs).
fixDeclarationImports('dist/types');
declareWasmModule('dist/types', 'dist/types/ngmm/index.d.ts');
const min = readFileSync('dist/ngmm.min.js');
const gz = gzipSync(min, { level: 9 }).length;
console.log(`dist: ngmm.min.js ${(min.length / 1000).toFixed(1)} kB, gzipped ${(gz / 1000).toFixed(1)} kB (both WASM builds embedded; budget ${BUDGET_BYTES / 1000} kB)`);
if (gz > BUDGET_BYTES) {
  console.error(`build-dist: the gzipped bundle is ${gz} bytes, over the ${BUDGET_BYTES}-byte budget (issue 4); find what grew with esbuild's metafile before raising it`);
  process.exit(1);
}
