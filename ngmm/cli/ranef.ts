// `ngmm ranef`: each training group's conditional mode/mean of its random effects and their
// conditional SDs, as a CSV in the layout of lme4's as.data.frame(ranef(m, condVar = TRUE)):
// grpvar, term, grp, condval, condsd, one row per group and term, term by term (the intercept's
// rows first, then each slope's), so the two can be compared row for row.
import { parseFormula } from '../formula';
import type { Model } from '../model';
import { expectPositionals, stringValue, type CommandSpec, type ParsedArgs } from './args';
import { csvField, csvNumber } from './csvOut';
import { checkWritable, readModel, writeAtomic, writeStdout } from './io';

export const ranefSpec: CommandSpec = {
  name: 'ranef',
  brief: "write the groups' random effects as CSV",
  positionals: ['model.json'],
  summary: "Writes each training group's random effects (conditional means and SDs) as CSV: grpvar,term,grp,condval,condsd, as lme4's as.data.frame(ranef(m, condVar = TRUE)).",
  options: [{ name: 'out', short: 'o', arg: 'file', default: 'standard output', help: 'where to write the CSV' }],
};

/** The CSV lines (header first) for a model's random effects. */
export function* ranefLines(model: Model): Generator<string> {
  if (model.random.kind === 'terms') {
    // Several terms: lme4's order — term by term, then column by column, then level by level.
    yield 'grpvar,term,grp,condval,condsd\n';
    const { terms, state } = model.random;
    for (let k = 0; k < terms.length; k++) {
      const t = terms[k], st = state[k], q = t.columns.length;
      for (let c = 0; c < q; c++) {
        for (let g = 0; g < st.levels.length; g++) yield `${csvField(t.name)},${csvField(t.columns[c])},${csvField(st.levels[g])},${csvNumber(st.mode[g * q + c])},${csvNumber(st.condSd[g * q + c])}\n`;
      }
    }
    return;
  }
  const grpvar = model.design ? parseFormula(model.design.formula).random[0]?.group ?? 'group' : 'group';
  const terms = ['(Intercept)', ...model.spec.randomSlopes];
  const rows = model.random.ranef();
  yield 'grpvar,term,grp,condval,condsd\n';
  for (let t = 0; t < terms.length; t++) {
    for (const r of rows) {
      // On the user's scale (Model.ranef maps the standardised effects back), as lme4's.
      const condval = t === 0 ? r.mean : r.effects?.[t];
      const condsd = t === 0 ? r.sd : r.sds?.[t];
      yield `${csvField(grpvar)},${csvField(terms[t])},${csvField(r.group)},${csvNumber(condval)},${csvNumber(condsd)}\n`;
    }
  }
}

export function runRanef(args: ParsedArgs): void {
  expectPositionals(ranefSpec, args.positionals);
  const [modelPath] = args.positionals;
  const out = stringValue(args.values, 'out');
  if (out !== undefined) checkWritable(out, [modelPath]);
  const model = readModel(modelPath);
  try {
    // Computed whole before anything is written: a failure leaves no partial output file.
    const lines = [...ranefLines(model)];
    if (out !== undefined) writeAtomic(out, lines);
    else writeStdout(lines);
  } finally {
    model.dispose();
  }
}
