// `ngmm summary`: a saved model's lme4-style summary, as text or as JSON (every field of the
// library's Summary, so the two never show different numbers).
import { expectPositionals, flag, type CommandSpec, type ParsedArgs } from './args';
import { readModel } from './io';
import { formatSummary } from '../summary';

export const summarySpec: CommandSpec = {
  name: 'summary',
  brief: "print a model's summary",
  positionals: ['model.json'],
  summary: "Prints a saved model's summary: family, logLik, AIC/BIC, random-effect SDs, coefficients with SEs.",
  options: [{ name: 'json', default: 'off: a text table', help: 'print the summary as JSON' }],
};

export function runSummary(args: ParsedArgs): void {
  expectPositionals(summarySpec, args.positionals);
  const model = readModel(args.positionals[0]);
  try {
    const s = model.summary();
    process.stdout.write(flag(args.values, 'json') ? JSON.stringify(s, null, 2) + '\n' : formatSummary(s) + '\n');
  } finally {
    model.dispose();
  }
}
