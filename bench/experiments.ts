// `npm run experiments -- <name> [options]`: the paper's experiments on real (or realistic)
// data, each writing bench/results/<name>.{json,md,svg}. realdata: §5.1 and Appendix 13;
// pisa: §5.3 (the latent model on simulated PISA-like data).
import { runPisa } from './pisa/pisa';
import { runRealdata } from './realdata/realdata';

const experiments: Record<string, (argv: readonly string[]) => Promise<void>> = { realdata: runRealdata, pisa: runPisa };
const [name, ...rest] = process.argv.slice(2);
const run = name ? experiments[name] : undefined;
if (!run) {
  process.stderr.write(`experiments: ${name ? `unknown experiment '${name}'` : 'name an experiment'} (have: ${Object.keys(experiments).join(', ')})\n`);
  process.exit(2);
}
try {
  await run(rest);
} catch (e) {
  process.stderr.write(`experiments: ${(e as Error).message}\n`);
  process.exit(1);
}
