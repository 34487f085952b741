// The simulated PISA experiment (bench/pisa/pisa.ts, issue 15): Appendix 15.4's split, and the
// quick run end to end (the four background models fitted and scored per domain on seen and new
// schools, the table and the figure). Nothing here is timed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePisa } from '../../bench/pisa/simulate';
import { LABEL, runPisa, SPLIT, splitSchools, type PisaData } from '../../bench/pisa/pisa';
import { BACKGROUNDS } from '../../ngmm/latent/background';
import { DOMAINS } from '../../ngmm/latent/types';

describe('pisa: the split', () => {
  it('partitions students by school role: 70/10/20 % of schools, 20 % of each training school held out', () => {
    const s = simulatePisa({ seed: 4, schools: 50, minStudents: 10, maxStudents: 20 });
    const sp = splitSchools(s.school, s.nSchools, 9);
    const all = [...sp.train, ...sp.held, ...sp.valid, ...sp.test].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: s.nStudents }, (_, i) => i));
    const schoolsOf = (ids: Int32Array) => new Set(Array.from(ids, (i) => s.school[i]));
    const tr = schoolsOf(sp.train), va = schoolsOf(sp.valid), te = schoolsOf(sp.test);
    expect(tr.size).toBe(Math.round(SPLIT.train * 50));
    expect(va.size).toBe(Math.round(SPLIT.valid * 50));
    expect(te.size).toBe(50 - tr.size - va.size);
    for (const j of va) expect(tr.has(j) || te.has(j)).toBe(false);
    for (const j of te) expect(tr.has(j)).toBe(false);
    // Held-out students come from training schools, ⌊0.2 n⌋ of each.
    for (const j of tr) {
      const n = Array.from(s.school).filter((x) => x === j).length;
      const held = Array.from(sp.held).filter((i) => s.school[i] === j).length;
      expect(held).toBe(Math.max(1, Math.floor(SPLIT.heldStudents * n)));
    }
    // Another seed, other schools.
    const other = splitSchools(s.school, s.nSchools, 10);
    expect(Array.from(other.test)).not.toEqual(Array.from(sp.test));
  });
});

describe('pisa: the quick run, end to end', () => {
  let dir = '';
  let data: PisaData;
  let md = '', svg = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(os.tmpdir(), 'ngmm-pisa-'));
    // In-process (the command line itself is exercised by the refusal test below).
    await runPisa(['--quick', '--out', dir]);
    data = (JSON.parse(readFileSync(join(dir, 'pisa.json'), 'utf8')) as { data: PisaData }).data;
    md = readFileSync(join(dir, 'pisa.md'), 'utf8');
    svg = readFileSync(join(dir, 'pisa.svg'), 'utf8');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fits the four models and scores every domain on seen and new schools', () => {
    expect(data.quick).toBe(true);
    for (const m of [...BACKGROUNDS, 'truth'] as const) {
      const r = data.runs.find((x) => x.model === m)!;
      expect(r, m).toBeDefined();
      for (const regime of ['seen', 'fresh'] as const) {
        expect(r[regime].length).toBe(3);
        for (const c of r[regime]) {
          expect(c.nll > 0 && Number.isFinite(c.nll), `${m} ${regime}`).toBe(true);
          expect(c.accuracy > 0 && c.accuracy < 1, `${m} ${regime}`).toBe(true);
        }
      }
    }
    // The fixed-effects models have no school effect; the mixed ones a positive one.
    for (const m of BACKGROUNDS) {
      const r = data.runs.find((x) => x.model === m)!;
      if (m.startsWith('fe')) expect(r.gFitted).toEqual([0, 0, 0]);
      else expect(r.gFitted.every((v) => v > 0)).toBe(true);
    }
  });

  it('writes a table per domain and a figure of six panels', () => {
    for (const d of DOMAINS) expect(md).toContain(`### ${d}`);
    for (const m of [...BACKGROUNDS, 'truth'] as const) expect(md).toContain(`| ${LABEL[m]} |`);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const d of DOMAINS) {
      expect(svg).toContain(`${d}: NLL (lower is better)`);
      expect(svg).toContain(`${d}: accuracy (higher is better)`);
    }
  });

  it('refuses bad options with one message and status 1', async () => {
    const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', 'bench/experiments.ts', 'pisa', '--quick', '--out', join(dir, 'bad'), '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^experiments: pisa: unknown option --bogus/);
    expect(r.stderr).not.toMatch(/ at /);
    for (const [args, msg] of [
      [['--nodes', '0'], /--nodes must be an integer in 1 … 15, got 0/],
      [['--reps', 'x'], /--reps must be a positive integer, got x/],
    ] as const) {
      await expect(runPisa(['--quick', '--out', join(dir, 'bad'), ...args])).rejects.toThrow(msg);
    }
  });
});
