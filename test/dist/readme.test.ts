// The README's examples, run as written against the built bundle.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

// Runs the first ```ts block after `heading` with `probe` appended; returns what probe printed.
function runExample(heading: string, probe: string): unknown {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf(heading));
  const start = section.indexOf('```ts') + 5;
  const code = section.slice(start, section.indexOf('```', start));
  expect(code).toMatch(/from 'ngmm'/);
  const file = join(mkdtempSync(join(tmpdir(), 'ngmm-readme-')), 'example.mjs');
  writeFileSync(file, code.replace("from 'ngmm'", `from ${JSON.stringify(resolve('dist/ngmm.js'))}`) + `\nconsole.log(JSON.stringify(${probe}));\n`);
  return JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8' }));
}

it('the engine example fits XOR', () => {
  const out = runExample('## The engine in ten lines', 'Array.from(net.forward(x).data)') as number[];
  [0, 1, 1, 0].forEach((v, i) => expect(Math.abs(out[i] - v)).toBeLessThan(0.1));
});

it('the marginal-likelihood example gives two finite log-likelihoods and gradients', () => {
  const out = runExample('## The marginal likelihood', '[Array.from(L.data), Array.from(gf.data), Array.from(gs.data)]') as number[][];
  expect(out[0]).toHaveLength(2);
  expect(out[1]).toHaveLength(5);
  for (const v of out.flat()) expect(Number.isFinite(v)).toBe(true);
  expect(out[0].every((v) => v < 0)).toBe(true);
});

it("the README's bundle size is what the build makes (within 3 kB)", async () => {
  const { gzipSync } = await import('node:zlib');
  const said = Number(/minified and gzipped: about (\d+) kB/.exec(readFileSync('README.md', 'utf8'))?.[1]);
  const made = gzipSync(readFileSync("dist/ngmm.min.js")).length / 1000; // kB as the build prints them
  expect(Math.abs(said - made), `README says ${said} kB, the build makes ${made.toFixed(1)} kB`).toBeLessThanOrEqual(3);
});
