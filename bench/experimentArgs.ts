// What every `npm run experiments -- <name>` run shares: its options (flags and valued options,
// anything else refused with the experiment's name) and its ending (the last progress line,
// the results written, the partial checkpoint removed).
import { unlinkSync } from 'node:fs';
import type { ProgressBar } from './progressBar';

export interface ExperimentArgs {
  flag(name: string): boolean;
  /** The value after --name, or undefined when the option is absent. */
  opt(name: string): string | undefined;
}

export function parseExperimentArgs(experiment: string, argv: readonly string[], flags: readonly string[], valued: readonly string[]): ExperimentArgs {
  const isFlag = (a: string) => flags.includes(a.slice(2)), isValued = (a: string) => valued.includes(a.slice(2));
  argv.forEach((a, i) => {
    if (a.startsWith('--')) {
      if (!isFlag(a) && !isValued(a)) throw new Error(`${experiment}: unknown option ${a} (have: ${[...flags, ...valued].map((x) => `--${x}`).join(', ')})`);
      if (isValued(a) && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))) throw new Error(`${experiment}: ${a} needs a value`);
    } else if (!(i > 0 && isValued(argv[i - 1]))) {
      throw new Error(`${experiment}: unexpected argument '${a}'`);
    }
  });
  return {
    flag: (name) => argv.includes(`--${name}`),
    opt: (name) => {
      const i = argv.indexOf(`--${name}`);
      return i >= 0 ? argv[i + 1] : undefined;
    },
  };
}

/** Ends a run: the bar at 100 %, the results written, the checkpoint `<name>.partial.json` removed. */
export function finishRun<T extends { seconds: number }>(experiment: string, outDir: string, bar: ProgressBar, total: number, data: T, write: (d: T) => void): void {
  bar.update(total, total, 'done', true);
  bar.newline();
  data.seconds = bar.seconds;
  write(data);
  try {
    unlinkSync(`${outDir}/${experiment}.partial.json`);
  } catch {
    /* a quick run writes none */
  }
  console.log(`${experiment}: ${(data.seconds / 60).toFixed(1)} min; wrote ${outDir}/${experiment}.{json,md,svg}`);
}
