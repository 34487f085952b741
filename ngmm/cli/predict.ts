// `ngmm predict`: predictions per row of a CSV file from a saved model, to standard output or
// a file (written atomically). Each output row names its file row, so rows dropped for missing
// values leave a visible gap rather than shifting the rest.
import { expectPositionals, oneOf, stringValue, type CommandSpec, type ParsedArgs } from './args';
import { checkWritable, readModel, writeAtomic, writeStdout } from './io';
import { csvField } from './csvOut';
import { droppedNote, predictFile } from './rows';

export const predictSpec: CommandSpec = {
  name: 'predict',
  brief: 'predict the rows of a CSV file',
  positionals: ['model.json', 'new.csv'],
  summary: "Predicts each row of a CSV file: a training group's posterior mean where the group was fitted, the prior (a new group) otherwise.",
  options: [
    { name: 'type', arg: 'scale', default: 'response', help: 'response (the mean) or link (the linear predictor η)' },
    { name: 'out', short: 'o', arg: 'file', default: 'standard output', help: 'where to write the predictions (CSV: row,group,groups,prediction; a deep ensemble adds ensemble_sd, the SD of its members\' predictions)' },
  ],
};

export function runPredict(args: ParsedArgs): void {
  expectPositionals(predictSpec, args.positionals);
  const [modelPath, file] = args.positionals;
  const type = oneOf(args.values, 'type', ['response', 'link'] as const) ?? 'response';
  const out = stringValue(args.values, 'out');
  if (out !== undefined) checkWritable(out, [modelPath, file]);
  const model = readModel(modelPath);
  try {
    const { frame, prediction: pred, spread, group, seen } = predictFile(model, modelPath, file, false, type);
    function* lines(): Generator<string> {
      // A deep ensemble adds its spread: the SD of its members' predictions (docs/ensemble.md).
      yield `row,group,groups,prediction${spread ? ',ensemble_sd' : ''}\n`;
      for (let i = 0; i < pred.length; i++) yield `${frame.rows[i] + 1},${csvField(group[i])},${seen[i] ? 'observed' : 'new'},${pred[i]}${spread ? `,${spread[i]}` : ''}\n`;
    }
    const note = droppedNote(file, frame.dropped ?? [], 'not predicted');
    if (out !== undefined) writeAtomic(out, lines());
    else writeStdout(lines());
    if (note) process.stderr.write(`ngmm: note: ${note}\n`);
  } finally {
    model.dispose();
  }
}
