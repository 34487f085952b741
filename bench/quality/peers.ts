// The text the quality benchmark hands to its peers: the CSV files (R's read.csv and the
// PyTorch script read the same ones), the mgcv script, and the PyTorch script's settings.
// Pure functions, so that the tests can check them without R or Python.
import type { Family, Split, Structure } from './datasets';
import { X_NAMES } from './datasets';

/** A split as CSV: x1..x5, y, g. Numbers in JavaScript's shortest round-trip form (exact in R's strtod). */
export function csvText(s: Split): string {
  const p = X_NAMES.length;
  const lines = [[...X_NAMES, 'y', 'g'].join(',')];
  for (let i = 0; i < s.y.length; i++) {
    const row: string[] = [];
    for (let k = 0; k < p; k++) row.push(String(s.X[i * p + k]));
    row.push(String(s.y[i]), s.group[i]);
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

const R_FAMILY: Record<Family, string> = { gaussian: 'gaussian()', bernoulli: 'binomial()', poisson: 'poisson()' };

/** The GAM's formula: a smooth per covariate and a random intercept (and slope on x1) per group. */
export function gamFormula(structure: Structure): string {
  const smooths = X_NAMES.map((x) => `s(${x})`).join(' + ');
  return `y ~ ${smooths} + s(g, bs = "re")${structure === 'slope' ? ' + s(g, x1, bs = "re")' : ''}`;
}

/** The random-effect smooths to leave out for new groups (mgcv's predict.gam `exclude`). */
export function gamExclude(structure: Structure): string[] {
  return structure === 'slope' ? ['s(g)', 's(g,x1)'] : ['s(g)'];
}

/**
 * The R script fitting mgcv's GAM by fast REML (`bam(method = "fREML")`: gam's REML had not finished after 9 min, when it was stopped, on 500 groups with random slopes) on <dir>/train.csv and writing predicted means for
 * <dir>/seen.csv (the groups' own effects) and <dir>/fresh.csv (random effects excluded), and
 * the fit's seconds, into <dir>/gam.out (one value a line: seconds, then the seen rows, then
 * the fresh rows). New groups' labels are replaced by a training level before predicting: the
 * excluded terms do not depend on it, and predict.gam refuses a factor level it has not seen.
 */
export function gamScript(dir: string, family: Family, structure: Structure): string {
  const q = (f: string) => JSON.stringify(`${dir}/${f}`);
  const exclude = gamExclude(structure).map((e) => JSON.stringify(e)).join(', ');
  return [
    'suppressPackageStartupMessages(library(mgcv))',
    `train <- read.csv(${q('train.csv')}, colClasses = c(g = "character"))`,
    `seen <- read.csv(${q('seen.csv')}, colClasses = c(g = "character"))`,
    `fresh <- read.csv(${q('fresh.csv')}, colClasses = c(g = "character"))`,
    'lev <- unique(train$g)',
    'train$g <- factor(train$g, levels = lev)',
    'seen$g <- factor(seen$g, levels = lev)',
    'fresh$g <- factor(rep(lev[1], nrow(fresh)), levels = lev)',
    't0 <- proc.time()[["elapsed"]]',
    `m <- bam(${gamFormula(structure)}, family = ${R_FAMILY[family]}, data = train, method = "fREML")`,
    'secs <- proc.time()[["elapsed"]] - t0',
    'ps <- as.numeric(predict(m, newdata = seen, type = "response"))',
    `pf <- as.numeric(predict(m, newdata = fresh, type = "response", exclude = c(${exclude})))`,
    `writeLines(format(c(secs, ps, pf), digits = 17), ${q('gam.out')})`,
    '',
  ].join('\n');
}

/** Parses gam.out: the seconds, then `nSeen` and `nFresh` predictions. */
export function parseGamOut(text: string, nSeen: number, nFresh: number): { seconds: number; seen: Float64Array; fresh: Float64Array } {
  const v = text.trim().split(/\s+/).map(Number);
  if (v.length !== 1 + nSeen + nFresh || v.some((x) => !Number.isFinite(x))) {
    throw new Error(`gam.out: expected ${1 + nSeen + nFresh} finite numbers (seconds, ${nSeen} seen, ${nFresh} new), got ${v.length}`);
  }
  return { seconds: v[0], seen: Float64Array.from(v.slice(1, 1 + nSeen)), fresh: Float64Array.from(v.slice(1 + nSeen)) };
}

/** The PyTorch NGMM's settings (bench/quality/torch_ngmm.py reads them as JSON). */
export interface TorchConfig {
  dir: string;
  family: Family;
  hidden: number[];
  lr: number;
  batchGroups: number;
  maxEpochs: number;
  patience: number;
  validation: number;
  gridPoints: number;
  gridHalfWidth: number;
  seed: number;
}

/** The practitioner's recipe of issue 17; `quick` only lowers the epoch cap. */
export function torchConfig(dir: string, family: Family, seed: number, quick = false): TorchConfig {
  return {
    dir, family, hidden: [64, 32, 16], lr: 1e-3, batchGroups: 16,
    maxEpochs: quick ? 10 : 300, patience: 20, validation: 0.1,
    gridPoints: 401, gridHalfWidth: 6, seed,
  };
}

/** Parses torch.out: one JSON line {seconds, epochs, bestEpoch, seen: [...], fresh: [...]}. */
export function parseTorchOut(text: string, nSeen: number, nFresh: number): { seconds: number; epochs: number; seen: Float64Array; fresh: Float64Array } {
  const o = JSON.parse(text) as { seconds: number; epochs: number; seen: number[]; fresh: number[] };
  if (o.seen.length !== nSeen || o.fresh.length !== nFresh) throw new Error(`torch.out: expected ${nSeen} seen and ${nFresh} new predictions, got ${o.seen.length} and ${o.fresh.length}`);
  return { seconds: o.seconds, epochs: o.epochs, seen: Float64Array.from(o.seen), fresh: Float64Array.from(o.fresh) };
}
