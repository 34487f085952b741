// `ngmm eval`: the family's metric (ngmm/metrics.ts) on a CSV file with responses, separately
// for rows of training groups (posterior predictions) and rows of new groups (prior). A
// response the metric cannot score stops the command with its file row and column.
import { MetricError, metricFor } from '../metrics';
import { expectPositionals, type CommandSpec, type ParsedArgs } from './args';
import { readModel } from './io';
import { checkResponse, droppedNote, predictFile, responseColumn } from './rows';

export const evalSpec: CommandSpec = {
  name: 'eval',
  brief: 'score a model on a CSV file with responses',
  positionals: ['model.json', 'test.csv'],
  summary: 'Scores a saved model on a CSV file with responses: RMSE (gaussian), log-loss (bernoulli; binomial per trial), mean deviance (poisson, negbinomial at the fitted θ, gamma), for rows of training groups and of new groups; with the prior weights the model was fitted with, when the file has their column.',
  options: [],
};

export function runEval(args: ParsedArgs): void {
  expectPositionals(evalSpec, args.positionals);
  const [modelPath, file] = args.positionals;
  const model = readModel(modelPath);
  try {
    const { frame, prediction: pred, seen: observed, formula } = predictFile(model, modelPath, file, true, 'response');
    const kept = frame.rows;
    const fam = model.family;
    const column = responseColumn(formula);
    // Prior weights, as the fit used them (lme4): for a binomial proportion without cbind they
    // are the trials (k = y·w successes of w); otherwise row i counts w_i times in the mean.
    const w = frame.weights;
    const proportion = fam.name === 'binomial' && !frame.trials && w !== undefined;
    const trials = proportion ? w : frame.trials ?? (fam.name === 'binomial' ? new Float64Array(frame.y.length).fill(1) : undefined);
    // y·w is an integer up to rounding (0.3·10 is 3.0000000000000004); anything else stays as it is and is refused.
    const yk = proportion ? frame.y.map((v, i) => (Math.abs(v * w[i] - Math.round(v * w[i])) <= 1e-9 * w[i] ? Math.round(v * w[i]) : v * w[i])) : frame.y;
    const rowWeights = proportion ? undefined : w;
    checkResponse(fam, yk, trials, file, column, kept);
    // The dispersion where the family's deviance needs it (negative binomial θ); model.sigma is
    // the softplus of the dispersion parameter (σ, θ or the Gamma shape), NaN when there is none.
    const phi = Number.isFinite(model.sigma) ? model.sigma : undefined;
    const metric = metricFor(fam, phi);
    const lines = [`metric: ${metric.name}`];
    for (const isObs of [true, false]) {
      const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
      const label = isObs ? 'observed' : 'new';
      if (idx.length === 0) {
        lines.push(`${label} groups: no rows`);
        continue;
      }
      const y = Float64Array.from(idx, (i) => yk[i]);
      const mu = Float64Array.from(idx, (i) => pred[i]);
      const m = trials ? Float64Array.from(idx, (i) => trials[i]) : undefined;
      const wi = rowWeights ? Float64Array.from(idx, (i) => rowWeights[i]) : undefined;
      let v: number;
      try {
        v = metric.score(y, mu, m, wi);
      } catch (e) {
        if (e instanceof MetricError) throw new Error(`${file}: row ${kept[idx[e.index]] + 1}, column '${column}': ${e.message}`);
        throw e;
      }
      lines.push(`${label} groups: ${v.toFixed(6)} (${idx.length} rows)`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    const note = droppedNote(file, frame.dropped ?? [], 'not scored');
    if (note) process.stderr.write(`ngmm: note: ${note}\n`);
  } finally {
    model.dispose();
  }
}
