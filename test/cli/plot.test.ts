// `ngmm plot` through the real binary (dist/cli.js): a fitted model drawn with and without a
// data file (the SVG parses, one curve per numeric covariate, one point per data row), and
// each bad call stopping with one `ngmm:` line naming the file or flag and writing nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random';
import { findAll, hasClass, parseXml } from '../helpers/xml';

const cli = resolve('dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'ngmm-plot-'));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });
const oneLine = (stderr: string) => {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/^ngmm: /);
  expect(stderr).not.toMatch(/\bat .*\.js:\d+/);
};

beforeAll(() => {
  const rng = new Rng(8);
  const rows = ['y,dose,age,clinic,arm'];
  for (let g = 0; g < 9; g++) {
    const b = 0.4 * rng.normal();
    for (let j = 0; j < 10; j++) {
      const dose = 5 * rng.uniform(), age = 20 + 40 * rng.uniform(), arm = rng.uniform() < 0.5 ? 'control' : 'treated';
      rows.push(`${rng.poisson(Math.exp(0.1 + 0.2 * dose - 0.01 * age + (arm === 'treated' ? 0.3 : 0) + b))},${dose},${age},c${g},${arm}`);
    }
  }
  writeFileSync(join(dir, 'train.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'new.csv'), 'y,dose,age,clinic,arm\n2,1.5,30,c0,control\n0,4,50,c77,treated\n,2,40,c1,control\n');
  execFileSync(process.execPath, [cli, 'fit', 'train.csv', '--formula', 'y ~ dose + age + arm + (1 | clinic)', '--family', 'poisson', '-o', 'm.json'], { cwd: dir });
});

describe('ngmm plot', () => {
  it('draws the model with a data file: curves per covariate, the caterpillar, one point per row read', () => {
    const r = run('plot', 'm.json', 'new.csv', '-o', 'p.svg');
    expect(r.status, r.stderr).toBe(0);
    const root = parseXml(readFileSync(join(dir, 'p.svg'), 'utf8'));
    const panel = (cls: string) => findAll(root, (e) => e.name === 'g' && hasClass(e, 'panel') && hasClass(e, cls));
    expect(panel('dependence').map((p) => p.attrs['data-covariate'])).toEqual(['dose', 'age']);
    expect(panel('caterpillar').map((p) => p.attrs['data-term'])).toEqual(['clinic']);
    expect(findAll(panel('caterpillar')[0], (e) => hasClass(e, 'interval'))).toHaveLength(9);
    // Three rows, one without a response: two points, one of them of a new clinic.
    const pts = findAll(panel('observed')[0], (e) => e.name === 'circle' && hasClass(e, 'point'));
    expect(pts).toHaveLength(2);
    expect(pts.filter((p) => hasClass(p, 'new'))).toHaveLength(1);
    // The data's range of dose, 1.5 to 4, on the curve's ends (0.01 px of a 306 px axis).
    const d = panel('dependence')[0];
    const [d0, d1] = d.attrs['data-x-domain'].split(' ').map(Number);
    expect([d0, d1]).toEqual([1.5, 4]);
    expect(findAll(root, (e) => e.name === 'text').map((t) => t.text)).toContain('observed y');
  });

  it('draws the model alone without a data file', () => {
    const r = run('plot', 'm.json', '--out', 'alone.svg');
    expect(r.status, r.stderr).toBe(0);
    const root = parseXml(readFileSync(join(dir, 'alone.svg'), 'utf8'));
    expect(findAll(root, (e) => hasClass(e, 'observed'))).toHaveLength(0);
    expect(findAll(root, (e) => hasClass(e, 'dependence'))).toHaveLength(2);
  });

  it('documents itself', () => {
    const r = run('plot', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: ngmm plot <model\.json> \[data\.csv\] \[options\]/);
    expect(r.stdout).toMatch(/-o, --out <file>\s+the SVG file to write \(required\)/);
    expect(run('--help').stdout).toMatch(/ngmm plot <model\.json> \[data\.csv\]\s+draw what the model learned as SVG/);
  });

  it('bad calls: one message naming the file or flag, nothing written', () => {
    const cases: [string[], number, RegExp][] = [
      [['plot', 'nope.json', '-o', 'x.svg'], 1, /^ngmm: cannot read 'nope\.json'/],
      [['plot', 'm.json', 'nope.csv', '-o', 'x.svg'], 1, /nope\.csv/],
      [['plot', 'm.json'], 2, /^ngmm: plot: -o\/--out is required/],
      [['plot', '-o', 'x.svg'], 2, /^ngmm: 'ngmm plot' needs <model\.json>/],
      [['plot', 'm.json', 'new.csv', 'extra', '-o', 'x.svg'], 2, /extra argument 'extra'/],
      [['plot', 'm.json', 'train.csv', '-o', 'train.csv'], 1, /cannot write 'train\.csv': it is an input/],
    ];
    for (const [args, status, msg] of cases) {
      const r = run(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(status);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(msg);
    }
    expect(existsSync(join(dir, 'x.svg'))).toBe(false);
    expect(readFileSync(join(dir, 'train.csv'), 'utf8')).toMatch(/^y,dose,age,clinic,arm\n/);
  });

  it('a data file without a column the formula uses names the file and the column', () => {
    writeFileSync(join(dir, 'noage.csv'), 'y,dose,clinic,arm\n1,2,c0,control\n');
    const r = run('plot', 'm.json', 'noage.csv', '-o', 'y.svg');
    expect(r.status).toBe(1);
    // A formula error: its line and the caret line under the formula position (ngmm/cli.ts).
    const [head, caret, ...rest] = r.stderr.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(head).toMatch(/^ngmm: formula: no column 'age' in noage\.csv/);
    expect(caret.trim()).toBe('^');
    expect(head.indexOf("'y ~ dose + age") + 1 + "y ~ dose + ".length).toBe(caret.indexOf('^'));
    expect(existsSync(join(dir, 'y.svg'))).toBe(false);
  });
});
