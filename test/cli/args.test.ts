// Argument parsing in process (the spawned CLI is tested in badInput.test.ts): the did-you-mean
// distance, strict parsing's refusals in words that name the flag, and the value checks' ranges.
import { describe, expect, it } from 'vitest';
import {
  UsageError, closest, editDistance, helpText, integerIn, numberIn, oneOf, parseCommandArgs, sizeList, type CommandSpec,
} from '../../ngmm/cli/args';
import { fitSpec, planFit } from '../../ngmm/cli/fit';

const spec: CommandSpec = {
  name: 'try',
  positionals: ['data.csv'],
  summary: 'a test command',
  brief: 'test',
  options: [
    { name: 'epochs', arg: 'N', default: '100', help: 'epochs' },
    { name: 'lr', arg: 'x', default: '0.001', help: 'rate' },
    { name: 'reml', help: 'flag' },
    { name: 'batch-size', arg: 'N', default: '16', help: 'batch' },
    { name: 'out', short: 'o', arg: 'file', default: 'model.json', help: 'output' },
  ],
};

function usage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('editDistance and closest', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('epoch', 'epochs')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('lr', 'rl')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('suggests near misses only', () => {
    const names = ['epochs', 'lr', 'reml', 'batch-size', 'weights'];
    expect(closest('epoch', names)).toBe('epochs');
    expect(closest('REML', names)).toBe('reml');
    expect(closest('batch_size', names)).toBe('batch-size');
    expect(closest('batchsize', names)).toBe('batch-size');
    expect(closest('weight', names)).toBe('weights');
    expect(closest('formula', names)).toBeNull();
    expect(closest('x', names)).toBeNull();
  });
});

describe('parseCommandArgs', () => {
  it('reads options and positionals', () => {
    const r = parseCommandArgs(spec, ['d.csv', '--epochs', '5', '--reml', '-o', 'm.json', '--lr=0.01']);
    expect(r.positionals).toEqual(['d.csv']);
    expect(Object.fromEntries(r.values)).toEqual({ epochs: '5', reml: true, out: 'm.json', lr: '0.01' });
  });
  it('takes a negative number as the value of a valued option', () => {
    expect(parseCommandArgs(spec, ['--lr', '-1']).values.get('lr')).toBe('-1');
    expect(parseCommandArgs(spec, ['--lr', '-.5']).values.get('lr')).toBe('-.5');
  });
  it('refuses, naming the flag', () => {
    expect(usage(() => parseCommandArgs(spec, ['--epoch', '5']))).toBe("unknown option --epoch for 'ngmm try' (did you mean --epochs?)");
    expect(usage(() => parseCommandArgs(spec, ['--REML']))).toMatch(/unknown option --REML .*did you mean --reml\?/);
    expect(usage(() => parseCommandArgs(spec, ['--formula', 'y']))).toMatch(/unknown option --formula for 'ngmm try' \(see ngmm try --help\)/);
    expect(usage(() => parseCommandArgs(spec, ['--epochs']))).toMatch(/^--epochs needs a value/);
    expect(usage(() => parseCommandArgs(spec, ['--epochs', '--reml']))).toMatch(/^--epochs needs a value, got the option '--reml'/);
    expect(usage(() => parseCommandArgs(spec, ['--reml=yes']))).toMatch(/^--reml is a flag and takes no value/);
    expect(usage(() => parseCommandArgs(spec, ['-O', 'x']))).toMatch(/unknown option -O .*did you mean -o\?/);
    expect(usage(() => parseCommandArgs(spec, ['-epochs', '3']))).toMatch(/unknown option -epochs .*two dashes: did you mean --epochs\?/);
    expect(usage(() => parseCommandArgs(spec, ['--epochs', '3', '--epochs', '4']))).toBe('--epochs is given twice; give it once');
    expect(usage(() => parseCommandArgs(spec, ['--type', 'link'], new Map([['type', 'predict']])))).toMatch(/--type is an option of 'ngmm predict', not of 'ngmm try'/);
  });
  it("is safe with names that are Object.prototype's", () => {
    expect(usage(() => parseCommandArgs(spec, ['--constructor', '1']))).toMatch(/unknown option --constructor/);
    expect(usage(() => parseCommandArgs(spec, ['--toString']))).toMatch(/unknown option --toString/);
  });
});

describe('option values', () => {
  const v = (o: Record<string, string>) => new Map<string, string | true>(Object.entries(o));
  it('numbers: strict notation and the stated range', () => {
    expect(numberIn(v({ lr: '1e-3' }), 'lr', 0, Infinity, { loOpen: true })).toBe(0.001);
    expect(usage(() => numberIn(v({ lr: '0' }), 'lr', 0, Infinity, { loOpen: true }))).toBe("--lr must be a number > 0, got '0'");
    expect(usage(() => numberIn(v({ lr: 'Infinity' }), 'lr', 0, Infinity, { loOpen: true }))).toMatch(/--lr must be a number > 0/);
    expect(usage(() => numberIn(v({ lr: '0x10' }), 'lr', 0, Infinity, { loOpen: true }))).toMatch(/got '0x10'/);
    expect(usage(() => numberIn(v({ lr: '' }), 'lr', 0, Infinity, { loOpen: true }))).toMatch(/got ''/);
    expect(usage(() => numberIn(v({ validation: '1' }), 'validation', 0, 1, { hiOpen: true }))).toBe("--validation must be a number in [0, 1), got '1'");
    expect(numberIn(v({ validation: '0' }), 'validation', 0, 1, { hiOpen: true })).toBe(0);
    expect(usage(() => numberIn(v({ rtol: '1e-15' }), 'rtol', 1e-14, 1e-2))).toBe("--rtol must be a number in [1e-14, 0.01], got '1e-15'");
  });
  it('integers', () => {
    expect(integerIn(v({ epochs: '5' }), 'epochs', 1, Number.MAX_SAFE_INTEGER)).toBe(5);
    expect(usage(() => integerIn(v({ epochs: '1.5' }), 'epochs', 1, Number.MAX_SAFE_INTEGER))).toBe("--epochs must be a positive integer, got '1.5'");
    expect(usage(() => integerIn(v({ epochs: '0' }), 'epochs', 1, Number.MAX_SAFE_INTEGER))).toMatch(/positive integer, got '0'/);
    expect(usage(() => integerIn(v({ nodes: '101' }), 'nodes', 1, 100))).toBe("--nodes must be an integer from 1 to 100, got '101'");
  });
  it('lists and words', () => {
    expect(sizeList(v({ hidden: '64, 32,16' }), 'hidden', 4096)).toEqual([64, 32, 16]);
    for (const bad of ['64,,32', '0', '-1', '1.5', 'a', '5000', '']) {
      expect(usage(() => sizeList(v({ hidden: bad }), 'hidden', 4096))).toMatch(/^--hidden takes integers from 1 to 4096/);
    }
    expect(oneOf(v({ type: 'link' }), 'type', ['response', 'link'])).toBe('link');
    expect(usage(() => oneOf(v({ type: 'Link' }), 'type', ['response', 'link']))).toBe("--type must be one of response, link, got 'Link' (did you mean link?)");
  });
});

describe('help and the fit plan', () => {
  it('lists every option with its default', () => {
    const h = helpText(fitSpec);
    for (const o of fitSpec.options) {
      expect(h).toContain(`--${o.name}`);
      if (o.default !== undefined) expect(h).toContain(`(default: ${o.default})`);
    }
    expect(h).toMatch(/-h, --help/);
  });

  const plan = (...a: string[]) => planFit(parseCommandArgs(fitSpec, ['d.csv', '--formula', 'y ~ x + (1 | g)', ...a]));
  it('refuses options that would be ignored, and --reml outside Gaussian identity linear models', () => {
    expect(usage(() => plan('--family', 'poisson', '--epochs', '5'))).toMatch(/^--epochs applies to network fits/);
    expect(usage(() => plan('--family', 'poisson', '--reml'))).toMatch(/^--reml applies to Gaussian identity-link linear models.*poisson with the log link/);
    expect(usage(() => plan('--family', 'gaussian', '--link', 'log', '--reml'))).toMatch(/^--reml .*gaussian with the log link/);
    expect(usage(() => plan('--family', 'gaussian', '--hidden', '4', '--reml'))).toMatch(/^--reml .*and a network/);
    expect(plan('--family', 'gaussian', '--reml').options.reml).toBe(true);
    expect(usage(() => plan('--family', 'poisson', '--nodes', '10'))).toMatch(/^--nodes .*--marginal quadrature/);
    // With one grouping factor, rows are held out by default: --patience applies unless they are not.
    expect(plan('--family', 'poisson', '--hidden', '4', '--patience', '3').options.patience).toBe(3);
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--validation-rows', '0', '--patience', '3'))).toMatch(/^--patience .*--validation or --validation-rows > 0/);
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--validation-rows', '1'))).toMatch(/^--validation-rows /);
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--ensemble', '0'))).toMatch(/^--ensemble /);
    expect(usage(() => plan('--family', 'poisson', '--ensemble', '3'))).toMatch(/^--ensemble applies to network fits/);
    expect(usage(() => plan('--family', 'poisson', '--activation', 'tanh'))).toMatch(/^--activation .*--hidden/);
    expect(usage(() => plan('--family', 'poisson', '--re-hidden', '4'))).toMatch(/^--re-hidden .*--re-covariates/);
    // Threads and precision (issue 16): network options, checked.
    expect(plan('--family', 'poisson', '--threads', '2').options.threads).toBe(2); // the L-BFGS passes of large data
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--threads', '0'))).toMatch(/^--threads /);
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--threads', '65'))).toMatch(/^--threads /);
    expect(plan('--family', 'poisson', '--hidden', '4', '--threads', '2').options.threads).toBe(2);
    expect(usage(() => plan('--family', 'poisson', '--re-covariates', 'x', '--precision', 'mixed'))).toMatch(/^--precision .*--hidden/);
    expect(usage(() => plan('--family', 'poisson', '--hidden', '4', '--precision', 'f32'))).toMatch(/^--precision /);
    expect(plan('--family', 'poisson', '--hidden', '4', '--precision', 'mixed').spec.precision).toBe('mixed');
  });
  it('checks --family and --link against the library table', () => {
    expect(usage(() => plan('--family', 'toString'))).toBe("--family must be one of gaussian, bernoulli, binomial, poisson, negbinomial, gamma, got 'toString'");
    // glmmTMB's and R's names for the same families.
    expect(plan('--family', 'nbinom2').fam.name).toBe('negbinomial');
    expect(plan('--family', 'Gamma').fam.name).toBe('gamma');
    expect(plan('--family', 'negbinomial').fam.link).toBe('log');
    expect(usage(() => plan('--family', 'constructor'))).toMatch(/^--family must be one of/);
    expect(usage(() => plan('--family', 'Poisson'))).toMatch(/did you mean poisson\?/);
    expect(usage(() => plan('--family', 'poisson', '--link', 'logit'))).toBe("--link for --family poisson must be one of log, sqrt, got 'logit'");
    expect(usage(() => plan('--family', 'poisson', '--link', '__proto__'))).toMatch(/^--link for --family poisson must be one of/);
    expect(plan('--family', 'poisson', '--link', 'sqrt').fam.link).toBe('sqrt');
  });
  it('maps the network options to FitOptions', () => {
    const p = plan('--family', 'bernoulli', '--hidden', '8,4', '--epochs', '7', '--lr', '0.01', '--polish', 'none', '--schedule', 'cosine',
      '--validation', '0.2', '--patience', '3', '--seed', '9', '--weight-decay', '0', '--marginal', 'quadrature', '--nodes', '15', '--rtol', '1e-6',
      '--ensemble', '3', '--validation-rows', '0.1');
    expect(p.spec).toMatchObject({ family: 'bernoulli', link: 'logit', hidden: [8, 4], seed: 9 });
    expect(p.options).toMatchObject({ epochs: 7, lr: 0.01, polish: false, schedule: 'cosine', validation: 0.2, patience: 3, seed: 9, weightDecay: 0, marginal: 'quadrature', nodes: 15, rtol: 1e-6, ensemble: 3, validationRows: 0.1 });
    expect(plan('--family', 'bernoulli', '--hidden', '8', '--polish', 'all').options.polish).toBe(true);
  });
});

describe('errorText', () => {
  it('keeps a formula error’s caret under the position after the ngmm: prefix', async () => {
    const { errorText } = await import('../../ngmm/cli');
    const { parseFormula } = await import('../../ngmm/formula');
    let e: unknown;
    try {
      parseFormula('y ~ x + (1 | g');
    } catch (err) {
      e = err;
    }
    const [head, caret] = errorText(e).split('\n');
    expect(head).toMatch(/^ngmm: formula: /);
    // The caret points at the '(' that is never closed.
    const quoted = head.indexOf("'y ~ x") + 1;
    expect(head[caret.indexOf('^')]).toBe('(');
    expect(caret.indexOf('^') - quoted).toBe('y ~ x + '.length);
  });
  it('makes any other error one line, and says when it is a bug', async () => {
    const { errorText } = await import('../../ngmm/cli');
    expect(errorText(new Error('a\nb'))).toBe('ngmm: a; b');
    expect(errorText(new TypeError('x.slice is not a function'))).toBe('ngmm: internal error (please report it): x.slice is not a function');
  });
});

describe('expectPositionals', () => {
  it('names what is missing or extra', async () => {
    const { expectPositionals } = await import('../../ngmm/cli/args');
    expect(usage(() => expectPositionals(spec, []))).toBe("'ngmm try' needs <data.csv> (usage: ngmm try <data.csv> [options])");
    expect(usage(() => expectPositionals(spec, ['a.csv', 'b.csv']))).toBe("'ngmm try' takes <data.csv>, got the extra argument 'b.csv'");
    expect(usage(() => expectPositionals(spec, ['a.csv', 'epochs']))).toMatch(/got the extra argument 'epochs' \(did you mean --epochs\?\)$/);
  });
});
