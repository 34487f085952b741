// `npm run bench`: every benchmark section, each writing bench/results/<name>.json and its
// part of bench/RESULTS.md. `npm run bench -- kernels` runs one section.
import { runKernels } from './kernels.bench';
import { runMarginal } from './marginal.bench';
import { runE2E } from './e2e.bench';
import { runTerms } from './terms.bench';
import { runQuality } from './quality/quality.bench';
import { runLatent } from './latent.bench';
import { runScale } from './scale.bench';
import { writeSection, type Section } from './lib';

const sections: Record<string, () => Promise<Section>> = { kernels: runKernels, marginal: runMarginal, e2e: runE2E, terms: runTerms, quality: runQuality, latent: runLatent, scale: runScale };
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length > 0 ? wanted : Object.keys(sections)) {
  const run = sections[name];
  if (!run) throw new Error(`unknown bench section '${name}' (have: ${Object.keys(sections).join(', ')})`);
  console.log(`bench: ${name}`);
  writeSection(await run());
}
console.log('bench: wrote bench/RESULTS.md');
