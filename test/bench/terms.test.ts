// The terms benchmark's pure parts: the R scripts it writes, the parsing of R's tagged output,
// and the section's markdown (the goal stated against the measured ratios). Nothing is timed
// and R is never run: the R output below is written by hand in the format fitScript emits.
import { describe, expect, it } from 'vitest';
import {
  cacheFile, cell, cpuInfo, DATA_SETS, exportScript, fitScript, parseR, peerCall, ratio, rString, secs, sectionMarkdown,
  type DataSet, type TermsRun,
} from '../../bench/terms.bench';

const byName = (n: string) => DATA_SETS.find((d) => d.name === n)!;

describe('terms bench: data sets', () => {
  it('covers the brief: Gaussian crossed and nested, a crossed Bernoulli of ≥ 5,000 rows with glmmTMB, a nested Poisson', () => {
    const kinds = DATA_SETS.map((d) => d.structure);
    expect(kinds.filter((k) => k === 'Gaussian crossed').length).toBe(2);
    expect(kinds.filter((k) => k === 'Gaussian nested').length).toBe(2);
    expect(byName('verbagg')).toMatchObject({ structure: 'Bernoulli crossed', family: 'binomial', peers: ['lme4', 'glmmTMB'] });
    expect(byName('verbagg').formula).toBe('r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)');
    expect(byName('grouseticks').formula).toBe('TICKS ~ factor(YEAR) + cHEIGHT + (1|LOCATION/BROOD)');
    expect(byName('grouseticks').note).toMatch(/exactly.*Laplace/);
    // Every column the formula names is exported (and nothing the formula does not use).
    for (const d of DATA_SETS) {
      const named = new Set(d.formula.match(/[A-Za-z][A-Za-z0-9_.]*/g)!.filter((w) => w !== 'factor'));
      expect(new Set(d.columns), d.name).toEqual(named);
    }
  });
});

describe('terms bench: helpers', () => {
  it('reads the CPU model and the logical cores from /proc/cpuinfo', () => {
    const text = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n';
    expect(cpuInfo(text)).toEqual({ model: 'AMD EPYC 7B13', cores: 2 });
    expect(cpuInfo('Hardware\t: BCM2835\n')).toBeNull();
  });

  it('quotes R strings', () => {
    expect(rString('/tmp/a "b"\\c.csv')).toBe('"/tmp/a \\"b\\"\\\\c.csv"');
  });

  it('keys the cache file by what is exported', () => {
    const d = byName('insteval');
    expect(cacheFile('/c', d)).toMatch(/^\/c\/insteval-[0-9a-f]{10}\.csv$/);
    expect(cacheFile('/c', { ...d })).toBe(cacheFile('/c', d));
    expect(cacheFile('/c', { ...d, rows: 20000 })).not.toBe(cacheFile('/c', d));
    expect(cacheFile('/c', { ...d, columns: ['y', 's', 'd'] })).not.toBe(cacheFile('/c', d));
  });

  it('states ratios as ngmm over the peer and times in ms or s', () => {
    expect(ratio(0.5, 2)).toBe('0.25');
    expect(ratio(3, 1.5)).toBe('2.00');
    expect(ratio(undefined, 1)).toBe('—');
    expect(ratio(1, undefined)).toBe('—');
    expect(secs(0.01234)).toBe('12.3 ms');
    expect(secs(4.567)).toBe('4.57 s');
    expect(secs(undefined)).toBe('—');
    expect(cell('`y ~ (1|a) + (1|b)`')).toBe('`y ~ (1\\|a) + (1\\|b)`');
  });
});

describe('terms bench: R scripts', () => {
  it('fits with the peer matching the family: lmer by ML, glmer by Laplace, glmmTMB', () => {
    expect(peerCall(byName('penicillin'), 'lme4')).toBe('lmer(diameter ~ 1 + (1|plate) + (1|sample), data = d, REML = FALSE)');
    expect(peerCall(byName('verbagg'), 'lme4')).toBe('glmer(r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item), data = d, family = binomial, nAGQ = 1)');
    expect(peerCall(byName('grouseticks'), 'glmmTMB')).toBe('glmmTMB(TICKS ~ factor(YEAR) + cHEIGHT + (1|LOCATION/BROOD), data = d, family = poisson)');
  });

  it('times each requested peer, after a warm-up when asked, with the data read before', () => {
    const s = fitScript(byName('verbagg'), '/tmp/v.csv', ['lme4', 'glmmTMB'], 7, true);
    expect(s).toContain('library(lme4); library(glmmTMB)');
    expect(s).toContain('d <- read.csv("/tmp/v.csv", stringsAsFactors = TRUE)');
    expect(s.indexOf('read.csv')).toBeLessThan(s.indexOf('bench("lme4"'));
    expect(s).toContain('if (TRUE) invisible(run())');
    expect(s).toContain('times <- numeric(7)');
    expect(s).toContain('for (i in seq_len(7))');
    expect(s).toContain('bench("lme4", function() glmer(');
    expect(s).toContain('bench("glmmTMB", function() glmmTMB(');
    const q = fitScript(byName('pastes'), '/tmp/p.csv', ['lme4'], 1, false);
    expect(q).toContain('if (FALSE) invisible(run())');
    expect(q).not.toContain('glmmTMB');
  });

  it('exports each data set through a temporary file, its subsample when it has one, and reports a missing package', () => {
    const d: DataSet = { ...byName('insteval'), rows: 20000 };
    const s = exportScript([{ ds: d, file: '/c/i.csv' }, { ds: byName('egsingle'), file: '/c/e.csv' }]);
    expect(s).toContain('if (requireNamespace("lme4", quietly = TRUE)) {');
    expect(s).toContain('d <- (lme4::InstEval)[, c("y", "service", "s", "d")]');
    expect(s).toContain('d <- head(d, 20000)');
    expect(s).toContain('write.csv(d, "/c/i.csv.tmp", row.names = FALSE)');
    expect(s).toContain('stopifnot(file.rename("/c/i.csv.tmp", "/c/i.csv"))');
    expect(s).toContain('} else emit("missing", "egsingle", "mlmRev")');
    expect(s.match(/head\(d/g)).toHaveLength(1);
  });
});

describe('terms bench: R output', () => {
  const out = [
    'Loading required package: Matrix',
    'NGMMBENCH\tsetup\t0.262\t1.460\t0.002\t4.2.2',
    'NGMMBENCH\tfit\tlme4\t1.1.31\t-987.93821234\t403\t0.2850,0.2710,0.3000\tBROOD:LOCATION=118;LOCATION=63\t1\tModel failed to converge',
    'NGMMBENCH\terror\tglmmTMB\tNA/NaN function evaluation',
    'Warning message:',
  ].join('\n');

  it('reads the setup, each fit and each error, ignoring untagged lines', () => {
    const r = parseR(out);
    expect(r).toMatchObject({ startup: 0.262, packages: 1.46, readCsv: 0.002, rVersion: '4.2.2' });
    expect(r.fits).toEqual([{
      peer: 'lme4', version: '1.1.31', logLik: -987.93821234, nobs: 403, times: [0.285, 0.271, 0.3],
      levels: { 'BROOD:LOCATION': 118, LOCATION: 63 }, warnings: 1, firstWarning: 'Model failed to converge',
    }]);
    expect(r.errors).toEqual([{ peer: 'glmmTMB', message: 'NA/NaN function evaluation' }]);
  });

  it('reads versions, exports and missing packages', () => {
    const r = parseR('NGMMBENCH\tversion\tR\t4.2.2\nNGMMBENCH\tversion\tglmmTMB\t\nNGMMBENCH\texported\tpastes\t60\nNGMMBENCH\tmissing\tegsingle\tmlmRev\n');
    expect(r.versions).toEqual({ R: '4.2.2', glmmTMB: '' });
    expect(r.exported).toEqual({ pastes: 60 });
    expect(r.missing).toEqual({ egsingle: 'mlmRev' });
  });

  it('refuses a tagged line it cannot read, quoting it', () => {
    expect(() => parseR('NGMMBENCH\tfit\tlme4\t1.1\tNA\t403\t0.1\t\t0\t')).toThrow(/R output: 'fit' line has no number for logLik: "NGMMBENCH\\tfit/);
    expect(() => parseR('NGMMBENCH\tsetup\t0.2\t\t0.1\t4.2')).toThrow(/no number for package loading/);
    expect(() => parseR('NGMMBENCH\tbogus\t1')).toThrow(/R output: unknown line "NGMMBENCH\\tbogus\\t1"/);
  });
});

describe('terms bench: section markdown', () => {
  const fit = (peer: 'lme4' | 'glmmTMB', times: number[], logLik: number) =>
    ({ peer, version: '1', logLik, nobs: 144, times, levels: { plate: 24, sample: 6 }, warnings: 0, firstWarning: '' });
  const run = (quick: boolean): TermsRun => ({
    machine: { cpu: 'AMD EPYC 7B13', cores: 2, node: 'v20.1.0', r: '4.2.2', lme4: '1.1.31', glmmTMB: '1.1.5' },
    reps: 5, warm: !quick, quick,
    notices: [],
    rows: [
      {
        ds: byName('penicillin'),
        ngmm: { seconds: [0.04, 0.02, 0.03, 0.05, 0.01], logLik: -166.0942, nobs: 144, levels: { plate: 24, sample: 6 }, integration: 'exact', converged: true, notes: [] },
        r: { startup: 0.25, packages: 1.4, readCsv: 0.002, fits: [fit('lme4', [0.06, 0.07, 0.05, 0.09, 0.08], -166.0942)], errors: [], versions: {}, exported: {}, missing: {} },
        rWall: 2.1,
      },
      {
        ds: byName('verbagg'),
        ngmm: { seconds: [3, 3, 3], logLik: -4000, nobs: 7584, levels: { id: 316, item: 24 }, integration: 'Laplace', converged: true, notes: [] },
        r: { startup: 0.3, packages: 2, readCsv: 0.02, fits: [fit('lme4', [1, 1, 1], -4000), fit('glmmTMB', [2, 2, 2], -4000)], errors: [], versions: {}, exported: {}, missing: {} },
        rWall: 12,
      },
      { ds: byName('egsingle'), ngmm: { seconds: [1], logLik: -8000, nobs: 7230, levels: { schoolid: 60 }, integration: 'exact', converged: false, notes: [] }, rSkipped: 'R did not run' },
    ],
  });

  it('names the machine, says the peers ran side by side, and states the goal against each measured ratio', () => {
    const md = sectionMarkdown(run(false));
    expect(md).toContain('AMD EPYC 7B13, 2 logical cores; Node v20.1.0; R 4.2.2 with lme4 1.1.31 and glmmTMB 1.1.5');
    expect(md).toContain('side by side in the same run');
    expect(md).toContain('medians of 5 fits per side');
    // Medians 0.03 / 0.07 and 3 / 1 (glmmTMB: 3 / 2); egsingle has no lme4 time.
    expect(md).toContain('Measured: Penicillin (lme4) 0.43 (met); VerbAgg (lme4) 3.00 (not met) — met on 1 of 2.');
    expect(md).toMatch(/\| 3\.00 s \| 1\.00 s \| 2\.00 s \| 3\.00 \| 1\.50 \|/);
    expect(md).toContain('exact (not converged)');
    expect(md).toContain('| -166.0942 | -166.0942 | — |');
    // VerbAgg has 3 timed fits of the 5 asked for (a data set with maxReps).
    expect(md).toContain('VerbAgg (lme4): 3 timed fits per side (one fit takes long), not 5.');
    expect(md).not.toContain('Penicillin (lme4): 5 timed fits');
    expect(md).toContain('egsingle (mlmRev): R peers skipped (R did not run).');
    expect(md).toContain('| Penicillin (lme4) | 250 ms | 1.40 s | 2.00 ms | 2.10 s |');
    expect(md).not.toContain('--quick');
  });

  it('keeps every row of the main table at its 14 columns (the formulas\' bars escaped)', () => {
    const lines = sectionMarkdown(run(false)).split('\n').filter((l) => (l.startsWith('| data set') && l.includes('logLik')) || /^\| (Penicillin|VerbAgg|egsingle).*(crossed|nested)/.test(l));
    expect(lines.length).toBe(4);
    for (const l of lines) expect(l.split(/(?<!\\)\|/).length - 2, l).toBe(14);
  });

  it('says which of R and the peers were missing', () => {
    const r = run(false);
    expect(sectionMarkdown({ ...r, machine: { ...r.machine, glmmTMB: '' } })).toContain('R 4.2.2 with lme4 1.1.31 and glmmTMB not installed.');
    expect(sectionMarkdown({ ...r, machine: { ...r.machine, r: '', lme4: '', glmmTMB: '' } })).toContain('Node v20.1.0; R not available.');
  });

  it('marks a quick run as a check, not a measurement', () => {
    expect(sectionMarkdown(run(true))).toContain('A `--quick` run: one fit per side and no warm-up');
  });
});
