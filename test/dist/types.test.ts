// The published types, as a consumer gets them: the package is packed with `npm pack` (dist/
// comes from `npm run build`, which `npm test` runs first), installed from the tarball into a
// fresh project (offline: it has no dependencies), and type-checked by the project's own
// TypeScript under each module resolution a consumer may use. One file uses fit, Model and
// summary with typed values and must compile cleanly; the other assigns typed results to the
// wrong types, and must fail with exactly those errors — which it would not if an export had
// become `any` (what extension-less imports in the declarations did under node16/nodenext).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tsc = resolve('node_modules/typescript/bin/tsc');
const nodeTypes = resolve('node_modules/@types');
let dir = '';

const USE = `import { fit, Model, summary, formatSummary, type ModelSpec, type Summary, type FitOptions } from 'ngmm';
import { BACKGROUNDS, fitLatent, type BackgroundKind, type LatentData, type LatentModel } from 'ngmm/latent';
const X = new Float64Array([0, 1, 2, 3, 4, 5]);
const spec: ModelSpec = { family: 'poisson', hidden: [] };
const opts: FitOptions = { epochs: 1, onProgress: (p) => { const e: number = p.epoch; void e; } };
const m: Model = fit({ X, xNames: ['x'], y: [1, 2, 3, 4, 2, 1], group: ['a', 'a', 'b', 'b', 'c', 'c'] }, spec, opts);
const s: Summary = summary(m);
const text: string = formatSummary(s);
const ll: number = m.logLik();
const back: Model = Model.load(JSON.parse(JSON.stringify(m.toJSON())));
const p: Float64Array = back.predict(X, { groups: 'new' });
const kinds: readonly BackgroundKind[] = BACKGROUNDS;
const fitL: (d: LatentData, k: BackgroundKind, t: Int32Array, v: Int32Array) => LatentModel = fitLatent;
export { text, ll, p, kinds, fitL };
`;

// Each line is wrong in one way; the expected diagnostics name the line.
const NEG = `import { fit, Model, summary, type ModelSpec } from 'ngmm';
const m = fit({ X: new Float64Array(0), xNames: [], y: [1], group: ['a'] }, { family: 'poisson' });
const n: number = fit({ X: new Float64Array(0), xNames: [], y: [1], group: ['a'] }, { family: 'poisson' });
const s: string = summary(m);
const spec: ModelSpec = { family: 'nope' };
const k: string = Model.load({}).logLik();
export { n, s, spec, k };
`;
const EXPECTED = [
  "neg.ts(3,7): error TS2322: Type 'Model' is not assignable to type 'number'.",
  "neg.ts(4,7): error TS2322: Type 'Summary' is not assignable to type 'string'.",
  `neg.ts(5,27): error TS2322: Type '"nope"' is not assignable to type 'FamilyName'.`,
  "neg.ts(6,7): error TS2322: Type 'number' is not assignable to type 'string'.",
];

// Node projects (types from @types/node, no DOM library) and a browser bundle (the DOM library,
// no Node). nodenext also checks the package's own declarations against @types/node
// (skipLibCheck off: the slow one); node16 as `tsc --init` configures a project (skipLibCheck
// on: there an export that fails to resolve is silently `any`, which the wrong-type file
// catches); bundler checks the declarations against the DOM library, whose own files are skipped.
const node = { types: ['node'], typeRoots: [nodeTypes], lib: ['es2022'] };
const MODES = [
  { resolution: 'nodenext', module: 'nodenext', env: { ...node, skipLibCheck: false } },
  { resolution: 'node16', module: 'node16', env: { ...node, skipLibCheck: true } },
  { resolution: 'bundler', module: 'esnext', env: { types: [], lib: ['es2022', 'dom'], skipLibCheck: false, skipDefaultLibCheck: true } },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ngmm-types-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${dir}`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', `./${tarball}`], { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'use.ts'), USE);
  writeFileSync(join(dir, 'neg.ts'), NEG);
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed types in a consumer project', () => {
  for (const m of MODES) {
    it(`type-checks under moduleResolution ${m.resolution}: typed exports, no error in the package's declarations`, () => {
      const config = join(dir, `tsconfig.${m.resolution}.json`);
      writeFileSync(config, JSON.stringify({
        compilerOptions: { module: m.module, moduleResolution: m.resolution, target: 'es2022', strict: true, noEmit: true, ...m.env },
        files: ['use.ts', 'neg.ts'],
      }));
      const r = spawnSync(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
      const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
      expect(r.status).not.toBe(0);
      expect(lines).toHaveLength(EXPECTED.length);
      EXPECTED.forEach((e, i) => (typeof e === 'string' ? expect(lines[i]).toBe(e) : expect(lines[i]).toMatch(e)));
    }, 60_000);
  }
});
