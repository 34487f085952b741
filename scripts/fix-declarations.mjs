// Makes the emitted declarations (dist/types) usable by every consumer. Two fixes:
//
// 1. Every relative module specifier names its file: './fit' becomes './fit.js' and
// '../engine' (a directory) '../engine/index.js'. The sources import without
// extensions (resolved by esbuild and by TypeScript's 'bundler' mode), and tsc copies the
// specifiers into the .d.ts files as written; but the package is "type": "module", so under
// `moduleResolution` node16/nodenext a consumer's TypeScript reads these declarations as ES
// modules, where a relative import must name its file (TS2834), and every export became `any`.
// TypeScript maps a '.js' specifier to the '.d.ts' beside it in every resolution mode, so the
// rewritten files work under node16, nodenext and bundler alike.
//
// 2. The WebAssembly types the declarations name (BackendOptions.module, FitRequest.module: a
// precompiled WebAssembly.Module; Backend.wasm.memory, the shared memory worker threads use) are
// declared where they can be missing. TypeScript defines the
// WebAssembly namespace only in its DOM and WebWorker libraries, which a Node project need not
// load (@types/node 20 does not declare it), and there every declaration naming it was an error.
// An empty interface merges with the libraries' where they are loaded.
//
// 3. A constant initialised with a long string literal (the embedded WASM bytes in base64) is
// declared as the literal: 190 kB of declarations. It is declared as `string`.
//
// Usage: node scripts/fix-declarations.mjs <declarations directory> <entry .d.ts>   (build-dist runs it)
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// `from '…'`, `import '…'` and `import('…')` (inline type imports), either quote.
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*|\.{1,2})\2/g;

/** The specifier with its file named, or an error naming the file and specifier that resolve to nothing. */
function withFile(spec, fromFile) {
  if (/\.(js|mjs|cjs|json)$/.test(spec)) return spec;
  const base = resolve(dirname(fromFile), spec);
  if (existsSync(`${base}.d.ts`)) return `${spec}.js`;
  if (existsSync(join(base, 'index.d.ts'))) return `${spec.replace(/\/$/, '')}/index.js`;
  throw new Error(`fix-declarations: ${fromFile}: '${spec}' is neither ${spec}.d.ts nor ${spec}/index.d.ts`);
}

function* declarationFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* declarationFiles(p);
    else if (name.endsWith('.d.ts')) yield p;
  }
}

/** Rewrites the declarations under `dir` in place (fixes 1 and 3); returns the number of specifiers changed. */
export function fixDeclarationImports(dir) {
  let changed = 0;
  for (const file of declarationFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    const out = text.replace(SPECIFIER, (all, lead, q, spec) => {
      const next = withFile(spec, file);
      if (next === spec) return all;
      changed++;
      return `${lead}${q}${next}${q}`;
    }).replace(/^(export declare const \w+) = "[A-Za-z0-9+/=]{1000,}";$/gm, '$1: string;');
    if (out !== text) writeFileSync(file, out);
  }
  return changed;
}

const WASM_GLOBAL = `// Declared for hosts whose TypeScript libraries lack WebAssembly (see scripts/fix-declarations.mjs);
// merges with the DOM/WebWorker library's interface where that is loaded.
declare namespace WebAssembly {
    interface Module {}
    interface Memory {}
}
`;

/** Writes webassembly.d.ts beside the declarations and references it from the entry file. */
export function declareWasmModule(dir, entry) {
  writeFileSync(join(dir, 'webassembly.d.ts'), WASM_GLOBAL);
  const ref = relative(dirname(entry), join(dir, 'webassembly.d.ts')).split('\\').join('/');
  const text = readFileSync(entry, 'utf8');
  if (!text.includes(ref)) writeFileSync(entry, `/// <reference path="${ref}" />\n${text}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, entry] = process.argv.slice(2);
  if (!dir || !entry) {
    console.error('usage: node scripts/fix-declarations.mjs <declarations directory> <entry .d.ts>');
    process.exit(2);
  }
  const n = fixDeclarationImports(dir);
  declareWasmModule(dir, entry);
  console.log(`fix-declarations: ${n} relative specifiers now name their files; WebAssembly.Module and Memory declared`);
}
