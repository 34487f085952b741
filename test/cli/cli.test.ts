// The real `ngmm` binary (dist/cli.js, built by `npm test`) on CSV files: a fit, predict,
// summary and eval round, and every bad input stopping with one message that names the file,
// row and column (or the formula position), with exit status 1 (2 for a usage error).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../engine/random';
import { Model, predictTable, readCsvTable } from '../../ngmm/index';

const cli = resolve('dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'ngmm-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });

let train = '';
beforeAll(() => {
  const rng = new Rng(5);
  const rows = ['y,x1,x2,school,kind'];
  for (let g = 0; g < 25; g++) {
    const b = 0.5 * rng.normal();
    for (let j = 0; j < 8; j++) {
      const x1 = rng.normal(), x2 = rng.uniform(), kind = rng.uniform() < 0.5 ? 'a' : 'b';
      const eta = 0.2 + 0.7 * x1 - 0.4 * x2 + (kind === 'b' ? 0.3 : 0) + b;
      rows.push(`${rng.poisson(Math.exp(eta))},${x1},${x2},s${g},${kind}`);
    }
  }
  train = file('train.csv', rows.join('\r\n') + '\r\n');
});

describe('ngmm CLI', () => {
  it('fit → predict → summary --json → eval', () => {
    const fitted = execFileSync(process.execPath, [cli, 'fit', train, '--formula', 'y ~ x1 + x2 + kind + (1 | school)', '--family', 'poisson', '-o', 'm.json'], { encoding: 'utf8', cwd: dir });
    expect(fitted).toMatch(/Fixed effects:/);
    expect(fitted).toMatch(/kind=b/);
    const s = JSON.parse(execFileSync(process.execPath, [cli, 'summary', 'm.json', '--json'], { encoding: 'utf8', cwd: dir }));
    for (const k of ['family', 'link', 'logLik', 'nobs', 'ngroups', 'fixef', 'ranefSD', 'sigma', 'converged']) expect(s).toHaveProperty(k);
    expect(s.nobs).toBe(200);
    expect(s.ngroups).toBe(25);
    expect(s.converged).toBe(true);
    expect(Object.keys(s.fixef)).toEqual(['(Intercept)', 'x1', 'x2', 'kind=b']);
    expect(Math.abs(s.fixef.x1.estimate - 0.7)).toBeLessThan(4 * s.fixef.x1.se);
    const newData = file('new.csv', 'x1,x2,school,kind\n0.1,0.5,s1,a\n-0.3,0.2,s99,b\n');
    const pred = execFileSync(process.execPath, [cli, 'predict', 'm.json', newData], { encoding: 'utf8', cwd: dir }).trim().split('\n');
    expect(pred[0]).toBe('row,group,groups,prediction');
    expect(pred[1]).toMatch(/^1,s1,observed,\d/);
    expect(pred[2]).toMatch(/^2,s99,new,\d/);
    const ev = execFileSync(process.execPath, [cli, 'eval', 'm.json', train], { encoding: 'utf8', cwd: dir });
    expect(ev).toMatch(/metric: mean deviance\nobserved groups: [\d.]+ \(200 rows\)/);
  });

  it('a network is a deep ensemble by default: its summary says so and predict adds ensemble_sd, the members\' SD', () => {
    const r = run('fit', train, '--formula', 'y ~ x1 + x2 + (1 | school)', '--family', 'poisson', '--hidden', '4', '--epochs', '3', '--ensemble', '3', '-o', 'e.json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Deep ensemble of 3 networks: predictions are the members' mean/);
    const newData = file('new-e.csv', 'x1,x2,school\n0.1,0.5,s1\n-0.3,0.2,s99\n');
    const pred = run('predict', 'e.json', newData).stdout.trim().split('\n');
    expect(pred[0]).toBe('row,group,groups,prediction,ensemble_sd');
    const rows = pred.slice(1).map((l) => l.split(','));
    expect(rows.map((c) => c[2])).toEqual(['observed', 'new']);
    // The file holds the two further members, and the columns are the library's ensemble
    // prediction and spread of these rows (test/ngmm/recipe.test.ts proves that is the members' mean and SD).
    const model = Model.load(JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8')));
    expect(model.members).toHaveLength(2);
    const p = predictTable(model, readCsvTable(readFileSync(newData, 'utf8')));
    rows.forEach((c, i) => {
      expect(Number(c[3])).toBe(p.prediction[i]);
      expect(Number(c[4])).toBe(p.spread![i]);
      expect(p.spread![i]).toBeGreaterThan(0);
    });
    model.dispose();
  });

  it('fits correlated random slopes from (1 + x1 | school)', () => {
    const r = run('fit', train, '--formula', 'y ~ x1 + x2 + (1 + x1 | school)', '--family', 'poisson', '-o', 's.json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/group x1\s+SD [\d.]+\s+corr/);
    const s = JSON.parse(run('summary', 's.json', '--json').stdout);
    expect(s.ranefCov.names).toEqual(['(Intercept)', 'x1']);
  });

  it('fits a binomial model from cbind(successes, trials − successes)', () => {
    const rng = new Rng(9);
    const rows = ['k,m,x,site'];
    for (let g = 0; g < 15; g++) {
      const b = 0.5 * rng.normal();
      for (let j = 0; j < 6; j++) {
        const x = rng.normal(), m = 1 + rng.int(10);
        const p = 1 / (1 + Math.exp(-(0.3 + 0.8 * x + b)));
        let k = 0;
        for (let t = 0; t < m; t++) if (rng.uniform() < p) k++;
        rows.push(`${k},${m},${x},s${g}`);
      }
    }
    const data = file('binom.csv', rows.join('\n') + '\n');
    const r = run('fit', data, '--formula', 'cbind(k, m - k) ~ x + (1 | site)', '--family', 'binomial', '-o', 'b.json');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(run('summary', 'b.json', '--json').stdout);
    expect(s.family).toBe('binomial');
    expect(Math.abs(s.fixef.x.estimate - 0.8)).toBeLessThan(4 * s.fixef.x.se);
    const bad = file('binom-bad.csv', 'k,m,x,site\n5,3,0.1,a\n1,3,0.2,a\n');
    const e = run('fit', bad, '--formula', 'cbind(k, m - k) ~ x + (1 | site)', '--family', 'binomial', '-o', 'bb.json');
    expect(e.status).toBe(1);
    expect(e.stderr).toMatch(/binom-bad\.csv: row 1, column 'k': binomial successes must be an integer in 0\.\.3, got 5/);
  });

  it('fits a network by Gauss–Hermite; progress, if any (a fit past 1 s), is plain lines off a terminal', () => {
    const r = run('fit', train, '--formula', 'y ~ x1 + x2 + (1 | school)', '--family', 'poisson', '--hidden', '4', '--epochs', '3',
      '--marginal', 'quadrature', '--nodes', '15', '-o', 'n.json');
    expect(r.status, r.stderr).toBe(0);
    // test/cli/progress.test.ts checks the printer itself; here: nothing but progress lines.
    for (const l of r.stderr.split('\n').filter((x) => x)) {
      expect(l).toMatch(/^(linear model: iteration|network: epoch|polish: iteration) +\d+\/\d+  loss -?\d+\.\d+  ETA /);
    }
    expect(r.stderr).not.toMatch(/\r/);
    expect(r.stdout).toMatch(/Optimizer: ran 3 epochs of Adam/);
  });

  const header = 'y,x1,x2,school,kind\n';
  const ok = (y: string, x1 = '0.5') => `${y},${x1},0.1,s1,a\n${y},0.2,0.3,s1,b\n1,0.3,0.3,s2,a\n0,0.1,0.9,s2,b\n`;
  it.each([
    ['a missing column', header + ok('1'), ['--formula', 'y ~ x1 + age + (1 | school)', '--family', 'poisson'], /no column 'age'/],
    ['a non-numeric value', header + ok('1', 'abc'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson'], /bad\.csv: row 1 \(line 2\), column 'x1': 'abc' is not a number/],
    ['Inf', header + ok('1', 'Inf'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson'], /bad\.csv: row 1 \(line 2\), column 'x1': 'Inf' is not a number \(the column's other values are numbers/],
    ['a Bernoulli y of 0.5', header + ok('0.5'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'bernoulli'], /bad\.csv: row 1, column 'y': bernoulli response must be 0 or 1, got 0.5/],
    ['a negative count', header + ok('-1'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson'], /bad\.csv: row 1, column 'y': poisson response must be a non-negative integer count, got -1/],
    ['a fractional count', header + ok('2.5'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson'], /bad\.csv: row 1, column 'y': poisson response must be a non-negative integer count, got 2.5/],
    ['a formula that does not parse', header + ok('1'), ['--formula', 'y ~ x1 + (1 | school', '--family', 'poisson'], /formula.*position \d+/],
    ['a ragged row', header + '1,0.1,0.2,s1\n' + ok('1'), ['--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson'], /row 1 \(line 2\) has 4 fields, the header has 5/],
  ])('stops on %s, naming where', (_label, csv, args, message) => {
    const p = file('bad.csv', csv);
    const r = run('fit', p, ...args, '-o', 'bad.json');
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ngmm: /);
    expect(r.stderr).toMatch(message);
    // One message: a line, plus a caret line under the formula for formula errors.
    expect(r.stderr.trim().split('\n')).toHaveLength(/formula:/.test(r.stderr) ? 2 : 1);
  });

  // lme4 fits both: a row with NA is dropped (na.omit) with a note naming it, and a group of one row is a group.
  it('drops a row with a missing value, saying which, and fits a group of one row', () => {
    const p = file('na.csv', header + ok('1', 'NA') + '3,0.2,0.2,s3,a\n');
    const r = run('fit', p, '--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson', '-o', 'na.json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ngmm: note: .*na\.csv: 1 row with missing values was dropped \(row 1\), as R's na\.omit does$/m);
    expect(r.stdout).toMatch(/4 observations in 3 groups/);
  });

  it('rejects a corrupted model file, and usage errors print the usage', () => {
    file('broken.json', '{"format":"ngmm-model","version":1');
    expect(run('summary', 'broken.json').stderr).toMatch(/broken.json: not a valid ngmm model file/);
    const m = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'));
    file('edited.json', JSON.stringify({ ...m, params: { ...m.params, W: [1, 2] } }));
    const edited = run('summary', 'edited.json');
    expect(edited.status).toBe(1);
    expect(edited.stderr).toMatch(/edited.json: not a valid ngmm model file: 'params.W' has 2 numbers where 3 are needed/);
    // Usage errors: status 2 and one line (ngmm <command> --help has the options).
    const u = run('fit', 'x.csv');
    expect(u.status).toBe(2);
    expect(u.stderr).toBe(`ngmm: 'ngmm fit' needs --formula, e.g. --formula "y ~ x + (1 | g)"\n`);
    const mq = run('fit', train, '--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson', '--marginal', 'laplace');
    expect(mq.status).toBe(2);
    expect(mq.stderr).toBe("ngmm: --marginal must be one of ode, quadrature, got 'laplace'\n");
    const nq = run('fit', train, '--formula', 'y ~ x1 + (1 | school)', '--family', 'poisson', '--nodes', '0', '--marginal', 'quadrature');
    expect(nq.status).toBe(2);
    expect(nq.stderr).toBe("ngmm: --nodes must be an integer from 1 to 100, got '0'\n");
  });
});
