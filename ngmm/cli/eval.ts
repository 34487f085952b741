// `ngmm eval`: the family's metric (ngmm/metrics.ts) on a CSV file with responses, separately
// for rows of training groups (posterior predictions) and rows of new groups (prior). A
// response the metric cannot score stops the command with its file row and column.
import { MetricError, metricFor } from '../metrics';
import { expectPositionals, type CommandSpec, type ParsedArgs } from './args';
import { readModel } from './io';
import { checkResponse, droppedNote, predictRows, responseColumn, rowsFor } from './rows';

export const evalSpec: CommandSpec = {
  name: 'eval',
  brief: 'score a model on a CSV file with responses',
  positionals: ['model.json', 'test.csv'],
  summary: 'Scores a saved model on a CSV file with responses: RMSE (gaussian), log-loss (bernoulli; binomial per trial), mean deviance (poisson and other families), for rows of training groups and of new groups.',
  options: [],
};

export function runEval(args: ParsedArgs): void {
  expectPositionals(evalSpec, args.positionals);
  const [modelPath, file] = args.positionals;
  const model = readModel(modelPath);
  try {
    const rows = rowsFor(model, modelPath, file, true);
    const { frame, observed, kept } = rows;
    const fam = model.family;
    const column = responseColumn(rows.formula);
    const trials = frame.trials ?? (fam.name === 'binomial' ? new Float64Array(frame.y.length).fill(1) : undefined);
    checkResponse(fam, frame.y, trials, file, column, kept);
    const pred = predictRows(model, rows, 'response');
    const metric = metricFor(fam);
    const lines = [`metric: ${metric.name}`];
    for (const isObs of [true, false]) {
      const idx = observed.flatMap((o, i) => (o === isObs ? [i] : []));
      const label = isObs ? 'observed' : 'new';
      if (idx.length === 0) {
        lines.push(`${label} groups: no rows`);
        continue;
      }
      const y = Float64Array.from(idx, (i) => frame.y[i]);
      const mu = Float64Array.from(idx, (i) => pred[i]);
      const m = trials ? Float64Array.from(idx, (i) => trials[i]) : undefined;
      let v: number;
      try {
        v = metric.score(y, mu, m);
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
