// The paper's PISA analysis (§5.3, Appendix 14 and 15.4; issue 15) on simulated PISA-like data
// (bench/pisa/simulate.ts, README there): the four background models under the same
// partial-credit measurement model, fitted by maximum marginal likelihood, scored per domain on
// held-out students of training schools ("seen schools": the school's posterior of u) and on
// students of test schools ("new schools": the prior).
//
//   npm run experiments -- pisa            10 repetitions: bench/results/pisa.{json,md,svg} + RESULTS.md
//   npm run experiments -- pisa --quick    one small repetition (checks the code; a test runs it)
//   options: --reps N  --nodes K (per dimension, inner and outer; default 3)  --out DIR  --replot
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { initSync } from '../../engine/backend';
import { Rng } from '../../engine/random';
import { BACKGROUNDS, type BackgroundKind } from '../../ngmm/latent/background';
import { bySchool, fitLatent, type DomainTotals, type LatentData } from '../../ngmm/latent/fit';
import { studentLik } from '../../ngmm/latent/pcm';
import { domainScore } from '../../ngmm/latent/predict';
import { DOMAINS } from '../../ngmm/latent/types';
import { machine, table, writeSection } from '../lib';
import { finishRun, parseExperimentArgs } from '../experimentArgs';
import { ProgressBar } from '../progressBar';
import { dotIntervalFigure, type Panel } from '../study/svg';
import { simulatePisa } from './simulate';

/** Appendix 15.4's split: schools to train / validation / test; students held out within training schools. */
export const SPLIT = { train: 0.7, valid: 0.1, test: 0.2, heldStudents: 0.2 };
export const FIT = { epochs: 100, lr: 0.01, batchSchools: 8, patience: 10, hidden: [64, 32], hiddenG: [16] };
const QUICK = { schools: 24, minStudents: 10, maxStudents: 14, epochs: 2 };
export const LABEL: Record<BackgroundKind | 'truth', string> = { 'fe-lin': 'FE–LIN', 'me-lin': 'ME–LIN', 'fe-nn': 'FE–NN', 'me-nn': 'ME–NN', truth: 'true model' };

/**
 * The generating model's predictive, as a reference the fitted models cannot beat on average:
 * new schools θ_d ~ N(f_d, Σ_dd + g_d²) (u integrated); seen schools θ_d ~ N(f_d + g_d u_d, Σ_dd)
 * with the school's true u (an oracle: a fitted model only has u's posterior).
 */
function truthScores(s: ReturnType<typeof simulatePisa>, students: Int32Array, seen: boolean): Cell[] {
  const lik = studentLik(s.bank, s.responses);
  const t = s.truth, tot = DOMAINS.map(() => ({ nll: 0, students: 0, correct: 0, answered: 0 }));
  for (const st of students) {
    const j = s.school[st];
    for (let d = 0; d < 3; d++) {
      const f = t.f[st * 3 + d], g = t.g[j * 3 + d], v = t.Sigma[d * 3 + d];
      const prior = seen ? { weight: [1], mean: [f + g * t.u[j * 3 + d]], sd: [Math.sqrt(v)] } : { weight: [1], mean: [f], sd: [Math.sqrt(v + g * g)] };
      const r = domainScore(s.bank, s.responses, lik, st, d, prior);
      if (!r) continue;
      tot[d].nll += r.nll;
      tot[d].students++;
      tot[d].correct += r.correct;
      tot[d].answered += r.answered;
    }
  }
  return cells(tot);
}

export interface PisaSplit {
  train: Int32Array;
  held: Int32Array;
  valid: Int32Array;
  test: Int32Array;
}

/** Schools shuffled by the seed and cut by SPLIT; in each training school ⌊0.2 n⌋ (≥ 1) students held out. */
export function splitSchools(school: Int32Array, nSchools: number, seed: number): PisaSplit {
  const rng = new Rng(seed);
  const order = Array.from({ length: nSchools }, (_, i) => i);
  rng.shuffle(order);
  const nTrain = Math.round(SPLIT.train * nSchools), nValid = Math.round(SPLIT.valid * nSchools);
  const role = new Int8Array(nSchools);
  order.forEach((s, i) => (role[s] = i < nTrain ? 0 : i < nTrain + nValid ? 1 : 2));
  const bySchool = new Map<number, number[]>();
  school.forEach((s, i) => {
    const l = bySchool.get(s);
    if (l) l.push(i);
    else bySchool.set(s, [i]);
  });
  const train: number[] = [], held: number[] = [], valid: number[] = [], test: number[] = [];
  for (const [s, students] of [...bySchool.entries()].sort((a, b) => a[0] - b[0])) {
    if (role[s] === 1) valid.push(...students);
    else if (role[s] === 2) test.push(...students);
    else {
      const shuffled = [...students];
      rng.shuffle(shuffled);
      const h = shuffled.length >= 2 ? Math.max(1, Math.floor(SPLIT.heldStudents * shuffled.length)) : 0;
      held.push(...shuffled.slice(0, h));
      train.push(...shuffled.slice(h));
    }
  }
  const sort = (a: number[]) => Int32Array.from(a.sort((x, y) => x - y));
  return { train: sort(train), held: sort(held), valid: sort(valid), test: sort(test) };
}

interface Cell {
  /** Mean negative log marginal likelihood per student of the domain's responses. */
  nll: number;
  /** Share of item responses whose most probable category was observed. */
  accuracy: number;
}

export interface PisaRun {
  rep: number;
  /** 'truth': the generating model's own predictive (see truthScores). */
  model: BackgroundKind | 'truth';
  seconds: number;
  epochs: number;
  bestEpoch: number;
  message: string;
  /** Per domain (DOMAINS order). */
  seen: Cell[];
  fresh: Cell[];
  sigma: number[];
  /**
   * The school-effect scale per domain, RMS over the test schools of g_d(z_j): fitted (mixed
   * models; 0 for the FE ones) and true — does the model recover how much schools differ?
   */
  gFitted: number[];
  gTrue: number[];
}

export interface PisaData {
  command: string;
  quick: boolean;
  reps: number;
  nodes: number;
  fit: typeof FIT;
  split: typeof SPLIT;
  sim: { schools: number; minStudents: number; maxStudents: number; truth: string };
  seconds: number;
  backend: string;
  runs: PisaRun[];
}

const rmsG = (g: Float64Array, schools: number[]): number[] => [0, 1, 2].map((d) => Math.sqrt(schools.reduce((acc, j) => acc + g[j * 3 + d] ** 2, 0) / schools.length));
const cells = (t: DomainTotals[]): Cell[] => t.map((d) => ({ nll: d.nll / d.students, accuracy: d.correct / d.answered }));
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const sd = (v: number[]) => (v.length > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1)) : NaN);

export function markdown(d: PisaData): string {
  const lines: string[] = [];
  if (d.quick) lines.push('**Quick run (`--quick`): one small repetition, 2 epochs. It checks the code; its numbers measure nothing.**', '');
  lines.push(
    `Command: \`${d.command}\`; wall time ${(d.seconds / 60).toFixed(1)} min; backend ${d.backend}.`,
    `Data: simulated PISA-like schools (bench/pisa/README.md), ${d.sim.schools} schools × ${d.sim.minStudents}–${d.sim.maxStudents} students, ${d.sim.truth} background truth, a new simulation per repetition; ${d.reps} repetition${d.reps > 1 ? 's' : ''}.`,
    `Split (Appendix 15.4): schools ${100 * d.split.train} / ${100 * d.split.valid} / ${100 * d.split.test} % to training / validation (early stopping) / test ("new schools"); ${100 * d.split.heldStudents} % of each training school's students held out ("seen schools").`,
    `Fit: maximum marginal likelihood, the θ and u integrals by adaptive Gauss–Hermite with ${d.nodes} nodes per dimension (${d.nodes ** 3} per 3-D integral); Adam, learning rate ${d.fit.lr}, ${d.fit.batchSchools} schools per batch, ≤ ${d.fit.epochs} epochs, patience ${d.fit.patience} on the validation schools; f = MLP [${d.fit.hidden.join(', ')}] over standardised continuous covariates (+ missing indicators) and 4-dim embeddings of the categorical ones (with a missing level); g = softplus(MLP [${d.fit.hiddenG.join(', ')}]) of the school covariates; linear models on the principal components explaining 95 % of the dummy-coded covariates (g = softplus of a linear map of z).`,
    'School effect: the root mean square over the test schools of the fitted g_d(z_j) (0 for the fixed-effects models, whose Σ then absorbs the school variance); the true model\'s row is the truth.',
    'The true model: the generating model\'s predictive (new schools: u integrated; seen schools: an oracle that knows the school\'s u).',
    'Metrics per domain, held-out students only: the mean negative log marginal likelihood of a student\'s responses in the domain (NLL, lower is better) and the accuracy of the most probable category of each item response (higher is better), mean ± SD over repetitions.',
    '',
  );
  for (const [di, dom] of DOMAINS.entries()) {
    lines.push(`### ${dom}`, '');
    const rows = [...BACKGROUNDS, 'truth' as const].map((m) => {
      const rs = d.runs.filter((r) => r.model === m);
      const f = (xs: number[], digits: number) => (xs.length ? `${mean(xs).toFixed(digits)}${xs.length > 1 ? ` ± ${sd(xs).toFixed(digits)}` : ''}` : '—');
      return [LABEL[m], f(rs.map((r) => r.seen[di].nll), 3), f(rs.map((r) => r.seen[di].accuracy), 4), f(rs.map((r) => r.fresh[di].nll), 3), f(rs.map((r) => r.fresh[di].accuracy), 4), f(rs.map((r) => r.gFitted[di]), 3), f(rs.map((r) => Math.sqrt(r.sigma[di * 4])), 3), m === 'truth' ? '—' : f(rs.map((r) => r.seconds), 1)];
    });
    lines.push(table(['model', 'seen schools NLL', 'seen accuracy', 'new schools NLL', 'new accuracy', 'school effect: RMS g_d', 'residual SD √Σ_dd', 'fit (s)'], rows), '');
  }
  return lines.join('\n');
}

/** Per domain and metric, each model against FE–LIN (the official model), paired by repetition. */
export function figure(d: PisaData): string {
  const others = BACKGROUNDS.filter((m) => m !== 'fe-lin');
  const panels: Panel[] = [];
  for (const metric of ['nll', 'accuracy'] as const) {
    for (const [di, dom] of DOMAINS.entries()) {
      const point = (m: BackgroundKind, regime: 'seen' | 'fresh') => {
        const rel: number[] = [];
        for (const r of d.runs.filter((x) => x.model === m)) {
          const base = d.runs.find((x) => x.model === 'fe-lin' && x.rep === r.rep);
          if (base) rel.push(100 * (r[regime][di][metric] / base[regime][di][metric] - 1));
        }
        if (!rel.length) return null;
        const s = Number.isFinite(sd(rel)) ? sd(rel) : 0;
        return { mean: mean(rel), lo: mean(rel) - s, hi: mean(rel) + s };
      };
      panels.push({
        title: `${dom}: ${metric === 'nll' ? 'NLL (lower is better)' : 'accuracy (higher is better)'}`,
        rows: others.map((m) => LABEL[m]),
        points: [others.map((m) => point(m, 'seen')), others.map((m) => point(m, 'fresh'))],
      });
    }
  }
  return dotIntervalFigure({
    title: 'Simulated PISA: background models against the official FE–LIN, per domain',
    subtitle: `(model − FE–LIN)/FE–LIN of each metric, mean ± SD over ${d.reps} repetition${d.reps > 1 ? 's' : ''}`,
    panelRows: ['Negative log marginal likelihood of a held-out student\'s responses', 'Accuracy of the most probable category'],
    panels,
    series: [{ name: 'seen schools', color: '#1b9e77' }, { name: 'new schools', color: '#d95f02' }],
    xLabel: 'relative difference from FE–LIN (%)',
    unit: '%',
    columns: 3,
    note: `${d.quick ? 'QUICK RUN — measures nothing. ' : ''}${d.command}; ${(d.seconds / 60).toFixed(1)} min.`,
  });
}

export async function runPisa(argv: readonly string[]): Promise<void> {
  const { flag, opt } = parseExperimentArgs('pisa', argv, ['quick', 'replot'], ['reps', 'nodes', 'out']);
  const quick = flag('quick');
  const outDir = opt('out') ?? (quick ? '.build/pisa-quick' : 'bench/results');
  const reps = Number(opt('reps') ?? (quick ? 1 : 10));
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`pisa: --reps must be a positive integer, got ${opt('reps')}`);
  const nodes = Number(opt('nodes') ?? 3);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 15) throw new Error(`pisa: --nodes must be an integer in 1 … 15, got ${opt('nodes')}`);
  mkdirSync(outDir, { recursive: true });
  const write = (d: PisaData) => {
    const md = markdown(d);
    writeFileSync(`${outDir}/pisa.md`, `# Simulated PISA: the latent NGMM (paper §5.3)\n\n${md}\n`);
    writeFileSync(`${outDir}/pisa.svg`, figure(d));
    if (outDir === 'bench/results') writeSection({ name: 'pisa', title: 'Simulated PISA: latent background models (paper §5.3)', markdown: md, data: d });
    else writeFileSync(`${outDir}/pisa.json`, JSON.stringify({ name: 'pisa', data: d, machine: machine() }, null, 2) + '\n');
  };
  if (flag('replot')) {
    write((JSON.parse(readFileSync(`${outDir}/pisa.json`, 'utf8')) as { data: PisaData }).data);
    console.log(`pisa: redrew ${outDir}/pisa.{md,svg}`);
    return;
  }
  const backend = initSync();
  const sim = quick ? { schools: QUICK.schools, minStudents: QUICK.minStudents, maxStudents: QUICK.maxStudents, truth: 'nonlinear' } : { schools: 150, minStudents: 20, maxStudents: 40, truth: 'nonlinear' };
  const data: PisaData = {
    command: `npm run experiments -- pisa ${argv.join(' ')}`.trim(), quick, reps, nodes,
    fit: quick ? { ...FIT, epochs: QUICK.epochs } : FIT, split: SPLIT, sim, seconds: 0, backend: backend.name, runs: [],
  };
  const bar = new ProgressBar('pisa');
  const total = reps * BACKGROUNDS.length;
  let done = 0;
  for (let rep = 1; rep <= reps; rep++) {
    const s = simulatePisa({ seed: 100 + rep, schools: sim.schools, minStudents: sim.minStudents, maxStudents: sim.maxStudents, truth: 'nonlinear' });
    const ld: LatentData = {
      bank: s.bank, responses: s.responses, school: s.school, nSchools: s.nSchools,
      covariates: { num: s.xNum.values, numNames: s.xNum.names, cat: s.xCat.values, catNames: s.xCat.names, catLevels: s.xCat.levels },
      z: s.z.values, pZ: s.z.cols,
    };
    const split = splitSchools(s.school, s.nSchools, 7000 + rep);
    const condition = bySchool(s.school, split.train);
    const testSchools = [...new Set(Array.from(split.test, (st) => s.school[st]))];
    data.runs.push({ rep, model: 'truth', gFitted: rmsG(s.truth.g, testSchools), gTrue: rmsG(s.truth.g, testSchools), seconds: 0, epochs: 0, bestEpoch: 0, message: 'the generating model (seen schools: the true u)', seen: truthScores(s, split.held, true), fresh: truthScores(s, split.test, false), sigma: Array.from(s.truth.Sigma) });
    for (const kind of BACKGROUNDS) {
      const label = `rep ${rep}/${reps} ${LABEL[kind]}`;
      bar.update(done, total, label, true);
      const t = performance.now();
      const m = fitLatent(ld, kind, split.train, split.valid, {
        innerNodes: nodes, outerNodes: nodes, epochs: data.fit.epochs, lr: FIT.lr, batchSchools: FIT.batchSchools, patience: FIT.patience,
        hidden: FIT.hidden, hiddenG: FIT.hiddenG, seed: rep,
        onProgress: (p) => bar.update(done + p.epoch / p.epochs, total, `${label} epoch ${p.epoch}`),
      });
      const seconds = (performance.now() - t) / 1000;
      try {
        data.runs.push({
          rep, model: kind, seconds, epochs: m.info.epochs, bestEpoch: m.info.bestEpoch, message: m.info.message,
          seen: cells(m.score(split.held, 'seen', condition)), fresh: cells(m.score(split.test, 'new')), sigma: Array.from(m.background.sigma().Sigma),
          gFitted: m.schoolScale(testSchools), gTrue: rmsG(s.truth.g, testSchools),
        });
      } finally {
        m.dispose();
      }
      done++;
    }
    data.seconds = bar.seconds;
    if (!quick) writeFileSync(`${outDir}/pisa.partial.json`, JSON.stringify(data, null, 1));
  }
  finishRun('pisa', outDir, bar, total, data, write);
}
