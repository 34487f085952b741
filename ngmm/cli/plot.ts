// `ngmm plot`: what a saved model learned, as one SVG file (ngmm/plot/plotModel.ts): partial
// dependence of f on each numeric covariate beside the linear part, the random effects'
// caterpillar plot, and with a data file observed against predicted. Written atomically.
import { parseFormula } from '../formula';
import { frameColumns } from '../frame';
import { plotModel } from '../plot/plotModel';
import { expectPositionals, UsageError, stringValue, type CommandSpec, type ParsedArgs } from './args';
import { checkWritable, readModel, readTable, writeAtomic } from './io';

export const plotSpec: CommandSpec = {
  name: 'plot',
  brief: 'draw what the model learned as SVG',
  positionals: ['model.json', '[data.csv]'],
  summary:
    "Draws a fitted model as one SVG: partial dependence of f on each numeric covariate (link scale; over the data's range, others at their medians and factors at their reference levels; without data over the training mean ± 2 SD) beside the model's linear part, each random-effect term's levels as conditional mean ± 2 SD sorted (a caterpillar plot), and with a data file observed against predicted.",
  options: [{ name: 'out', short: 'o', arg: 'file', help: 'the SVG file to write (required)' }],
};

export function runPlot(args: ParsedArgs): void {
  expectPositionals(plotSpec, args.positionals);
  const [modelPath, dataPath] = args.positionals;
  const out = stringValue(args.values, 'out');
  if (out === undefined) throw new UsageError('plot: -o/--out is required: the SVG file to write');
  checkWritable(out, dataPath === undefined ? [modelPath] : [modelPath, dataPath]);
  const model = readModel(modelPath);
  try {
    if (!model.design) throw new Error(`${modelPath}: the model was fitted from arrays, not from a formula, so plot cannot tell its covariates from factor levels${dataPath ? ` nor read '${dataPath}'` : ''}`);
    const re = model.spec.randomEffect;
    const table = dataPath === undefined ? undefined : readTable(dataPath, frameColumns(parseFormula(model.design.formula), { source: dataPath, design: model.design, needResponse: true, ...(re ? { extra: re.covariates } : {}) }));
    // Drawn whole before anything is written: a failure leaves no partial file.
    const svg = plotModel(model, table, { source: dataPath });
    writeAtomic(out, [svg]);
  } finally {
    model.dispose();
  }
}
