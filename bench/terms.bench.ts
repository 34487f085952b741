// Fit time against lme4 (and glmmTMB for the GLMMs), side by side in one run, on R-package data
// sets with several random-effect terms (issue 13, bar 5): Gaussian crossed and nested, a crossed
// Bernoulli GLMM of 7,584 rows and a nested Poisson GLMM. The same CSV (exported from the R
// packages by Rscript into bench/.cache/terms/, never committed) is fitted by ngmm's fitFormula
// in this process and by lmer/glmer/glmmTMB in an Rscript child started right after, with the
// same formula text.
//
// What is timed, on both sides, is the fit call alone with the data already in memory: ngmm's
// fitFormula on the parsed table (model frame included, as lmer's includes its own), R's
// lmer/glmer/glmmTMB call by proc.time() inside R. Each side does one untimed fit first (ngmm:
// the WASM kernels' first use; R: lazily loaded package code), then REPS timed fits; the median
// is reported. R's process start, package loading and CSV reading are recorded separately, so
// nobody mistakes them for fit time. Both sides run on one thread (the R child gets
// OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = 1: ngmm's fit is single-threaded).
//
// The models are the same, not the algorithms: Gaussian fits are ML on both sides (lmer with
// REML = FALSE; lme4's default REML would make logLiks incomparable). The crossed Bernoulli model
// is the Laplace approximation on all three sides. The nested Poisson model is integrated exactly
// by ngmm (level by level: adaptive Gauss–Hermite over locations, the ODE over broods) and by
// the Laplace approximation in glmer (nAGQ = 1: lme4 allows nAGQ > 1 only for one scalar term)
// and glmmTMB, so its logLiks differ by the Laplace error, not by a different model.
//
// `npm run bench -- terms --quick` (or TERMS_QUICK=1): one fit per side, no warm-up — a check
// that the code runs end to end, not a measurement. TERMS_REPS sets the repetitions (default 5;
// InstEval caps them at 3, see its entry); TERMS_DATA=penicillin,pastes runs only those data sets.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { readCsvTable } from '../ngmm/csv';
import { fitFormula } from '../ngmm/fitFormula';
import { median, table, type Section } from './lib';

export type Peer = 'lme4' | 'glmmTMB';
type FamilyName = 'gaussian' | 'binomial' | 'poisson';

export interface DataSet {
  /** Key (file names, TERMS_DATA). */
  name: string;
  /** As the table shows it, with its source package. */
  label: string;
  structure: 'Gaussian crossed' | 'Gaussian nested' | 'Bernoulli crossed' | 'Poisson nested';
  /** The same text is given to fitFormula and to R. */
  formula: string;
  family: FamilyName;
  /** The R package the data come from (the export needs it, the fits do not). */
  pkg: 'lme4' | 'mlmRev';
  /** R expression giving the data frame; only `columns` of it are exported. */
  expr: string;
  columns: string[];
  /** Export only the first `rows` rows (a documented subsample). */
  rows?: number;
  /** At most this many timed fits per side, whatever TERMS_REPS says (a slow data set). */
  maxReps?: number;
  peers: Peer[];
  /** What the reader must know about this comparison. */
  note?: string;
}

export const DATA_SETS: readonly DataSet[] = [
  {
    name: 'penicillin', label: 'Penicillin (lme4)', structure: 'Gaussian crossed',
    formula: 'diameter ~ 1 + (1|plate) + (1|sample)', family: 'gaussian',
    pkg: 'lme4', expr: 'lme4::Penicillin', columns: ['diameter', 'plate', 'sample'], peers: ['lme4'],
  },
  {
    name: 'insteval', label: 'InstEval (lme4)', structure: 'Gaussian crossed',
    formula: 'y ~ service + (1|s) + (1|d)', family: 'gaussian',
    pkg: 'lme4', expr: 'lme4::InstEval', columns: ['y', 'service', 's', 'd'], peers: ['lme4'],
    // All 73,421 rows: one ngmm fit took 98 s (lme4: 12 s) on the shared 2-core machine, so the
    // full set stays, with fewer repetitions, rather than a subsample that would flatter neither side.
    maxReps: 3,
  },
  {
    name: 'pastes', label: 'Pastes (lme4)', structure: 'Gaussian nested',
    formula: 'strength ~ 1 + (1|batch/cask)', family: 'gaussian',
    pkg: 'lme4', expr: 'lme4::Pastes', columns: ['strength', 'batch', 'cask'], peers: ['lme4'],
  },
  {
    // Children in schools, five yearly scores each (mlmRev's egsingle: 7,230 rows, 1,721
    // children, 60 schools): the larger nested Gaussian design.
    name: 'egsingle', label: 'egsingle (mlmRev)', structure: 'Gaussian nested',
    formula: 'math ~ year + (1|schoolid/childid)', family: 'gaussian',
    pkg: 'mlmRev', expr: 'mlmRev::egsingle', columns: ['math', 'year', 'schoolid', 'childid'], peers: ['lme4'],
  },
  {
    // r2 as 0/1 (its levels N, Y), so that both sides read the same numeric response.
    name: 'verbagg', label: 'VerbAgg (lme4)', structure: 'Bernoulli crossed',
    formula: 'r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)', family: 'binomial',
    pkg: 'lme4', expr: 'transform(lme4::VerbAgg, r2 = as.integer(r2 == "Y"))',
    columns: ['r2', 'Anger', 'Gender', 'btype', 'situ', 'id', 'item'], peers: ['lme4', 'glmmTMB'],
    note: 'all three sides by the Laplace approximation (glmer nAGQ = 1)',
  },
  {
    // lme4's grouseticks carries cHEIGHT = HEIGHT − mean(HEIGHT) (its help page's centring).
    name: 'grouseticks', label: 'grouseticks (lme4)', structure: 'Poisson nested',
    formula: 'TICKS ~ factor(YEAR) + cHEIGHT + (1|LOCATION/BROOD)', family: 'poisson',
    pkg: 'lme4', expr: 'lme4::grouseticks', columns: ['TICKS', 'YEAR', 'cHEIGHT', 'LOCATION', 'BROOD'], peers: ['lme4', 'glmmTMB'],
    note: 'ngmm integrates exactly (level by level), glmer (nAGQ = 1) and glmmTMB by Laplace: the logLiks differ by the Laplace error',
  },
];

// ---- pure helpers (test/bench/terms.test.ts) ----

/** The CPU model and the number of logical cores from /proc/cpuinfo's text (null if absent). */
export function cpuInfo(text: string): { model: string; cores: number } | null {
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim();
  const cores = text.split('\n').filter((l) => /^processor\s*:/.test(l)).length;
  return model && cores > 0 ? { model, cores } : null;
}

/** An R string literal: JSON's escapes (\" \\ \n \uXXXX) are R's too. */
export function rString(s: string): string {
  return JSON.stringify(s);
}

/** The cache file of a data set: its name and a hash of what was exported, so an edit re-exports. */
export function cacheFile(dir: string, ds: DataSet): string {
  const key = createHash('sha256').update(JSON.stringify([ds.expr, ds.columns, ds.rows ?? null])).digest('hex').slice(0, 10);
  return join(dir, `${ds.name}-${key}.csv`);
}

// Every line R writes for us starts with this tag and is tab-separated, so package start-up
// messages and warnings printed by R never parse as results.
const TAG = 'NGMMBENCH';
const R_EMIT = `emit <- function(...) cat(paste(c("${TAG}", ...), collapse = "\\t"), "\\n", sep = "")\nclean <- function(s) gsub("[\\t\\r\\n]+", " ", s)`;

/**
 * The R script that reports R's and the packages' versions and writes each data set's CSV
 * (to a temporary name, then renamed, so an interrupted export leaves no partial cache) when its
 * source package is installed; a missing package is reported, not an error.
 */
export function exportScript(sets: readonly { ds: DataSet; file: string }[]): string {
  const lines = [
    R_EMIT,
    'emit("version", "R", paste(R.version$major, R.version$minor, sep = "."))',
    'for (p in c("lme4", "glmmTMB", "mlmRev")) emit("version", p, if (requireNamespace(p, quietly = TRUE)) as.character(packageVersion(p)) else "")',
  ];
  for (const { ds, file } of sets) {
    const cols = `c(${ds.columns.map(rString).join(', ')})`;
    const rows = ds.rows ? `d <- head(d, ${ds.rows})\n  ` : '';
    lines.push(
      `if (requireNamespace(${rString(ds.pkg)}, quietly = TRUE)) {`,
      `  d <- (${ds.expr})[, ${cols}]`,
      `  ${rows}write.csv(d, ${rString(file + '.tmp')}, row.names = FALSE)`,
      `  stopifnot(file.rename(${rString(file + '.tmp')}, ${rString(file)}))`,
      `  emit("exported", ${rString(ds.name)}, nrow(d))`,
      `} else emit("missing", ${rString(ds.name)}, ${rString(ds.pkg)})`,
    );
  }
  return lines.join('\n') + '\n';
}

/** The R call fitting the data set's model with one peer (data frame `d`). */
export function peerCall(ds: DataSet, peer: Peer): string {
  if (peer === 'glmmTMB') return `glmmTMB(${ds.formula}, data = d, family = ${ds.family})`;
  return ds.family === 'gaussian'
    ? `lmer(${ds.formula}, data = d, REML = FALSE)`
    : `glmer(${ds.formula}, data = d, family = ${ds.family}, nAGQ = 1)`;
}

/** Each grouping factor's number of levels in a fitted peer model `m`, as an R expression. */
const PEER_LEVELS: Record<Peer, string> = {
  lme4: 'sapply(getME(m, "flist"), nlevels)',
  glmmTMB: 'sapply(m$modelInfo$reTrms$cond$flist, nlevels)',
};

/**
 * The R script timing the peers on one data set: R's start-up (proc.time at the first line is
 * the time since the R process started), package loading and reading the CSV are reported
 * apart; then per peer `warm` untimed fits and `reps` fits each timed by proc.time, with the
 * last fit's logLik, rows and levels, and the warnings R raised (convergence messages).
 */
export function fitScript(ds: DataSet, csv: string, peers: readonly Peer[], reps: number, warm: boolean): string {
  const pkgs = peers.map((p) => `library(${p})`).join('; ');
  const lines = [
    R_EMIT,
    'start <- proc.time()[["elapsed"]]',
    `suppressPackageStartupMessages({ ${pkgs} })`,
    'loaded <- proc.time()[["elapsed"]]',
    `d <- read.csv(${rString(csv)}, stringsAsFactors = TRUE)`,
    'ready <- proc.time()[["elapsed"]]',
    'emit("setup", sprintf("%.3f", start), sprintf("%.3f", loaded - start), sprintf("%.3f", ready - loaded), paste(R.version$major, R.version$minor, sep = "."))',
    'bench <- function(peer, fit, levels) {',
    '  warns <- character(0)',
    '  run <- function() withCallingHandlers(fit(), warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })',
    '  tryCatch({',
    `    if (${warm ? 'TRUE' : 'FALSE'}) invisible(run())`,
    `    times <- numeric(${reps})`,
    `    for (i in seq_len(${reps})) { t0 <- proc.time()[["elapsed"]]; m <- run(); times[i] <- proc.time()[["elapsed"]] - t0 }`,
    '    lv <- levels(m)',
    '    w <- unique(warns)',
    '    emit("fit", peer, as.character(packageVersion(peer)), sprintf("%.17g", as.numeric(logLik(m))), nobs(m), paste(sprintf("%.4f", times), collapse = ","),',
    '         paste(names(lv), lv, sep = "=", collapse = ";"), length(w), clean(if (length(w)) w[1] else ""))',
    '  }, error = function(e) emit("error", peer, clean(conditionMessage(e))))',
    '}',
  ];
  for (const p of peers) lines.push(`bench(${rString(p)}, function() ${peerCall(ds, p)}, function(m) ${PEER_LEVELS[p]})`);
  return lines.join('\n') + '\n';
}

export interface PeerResult {
  peer: Peer;
  version: string;
  logLik: number;
  nobs: number;
  /** Seconds per timed fit, in order. */
  times: number[];
  levels: Record<string, number>;
  warnings: number;
  firstWarning: string;
}

export interface ROutput {
  /** Seconds from the R process's start to the script's first line. */
  startup?: number;
  packages?: number;
  readCsv?: number;
  rVersion?: string;
  fits: PeerResult[];
  errors: { peer: string; message: string }[];
  versions: Record<string, string>;
  exported: Record<string, number>;
  missing: Record<string, string>;
}

/** The tagged lines of an R script's output (exportScript or fitScript); other lines are ignored. */
export function parseR(text: string): ROutput {
  const out: ROutput = { fits: [], errors: [], versions: {}, exported: {}, missing: {} };
  for (const line of text.split('\n')) {
    const f = line.replace(/\r$/, '').split('\t');
    if (f[0] !== TAG) continue;
    const num = (i: number, what: string) => {
      const v = Number(f[i]);
      if (f[i] === undefined || f[i] === '' || Number.isNaN(v)) throw new Error(`R output: '${f[1]}' line has no number for ${what}: ${JSON.stringify(line)}`);
      return v;
    };
    switch (f[1]) {
      case 'setup':
        out.startup = num(2, 'start-up');
        out.packages = num(3, 'package loading');
        out.readCsv = num(4, 'reading the CSV');
        out.rVersion = f[5];
        break;
      case 'version':
        out.versions[f[2]] = f[3] ?? '';
        break;
      case 'exported':
        out.exported[f[2]] = num(3, 'rows');
        break;
      case 'missing':
        out.missing[f[2]] = f[3];
        break;
      case 'error':
        out.errors.push({ peer: f[2], message: f[3] ?? '' });
        break;
      case 'fit': {
        const levels: Record<string, number> = {};
        for (const kv of (f[7] ?? '').split(';').filter(Boolean)) {
          const k = kv.lastIndexOf('=');
          levels[kv.slice(0, k)] = Number(kv.slice(k + 1));
        }
        out.fits.push({
          peer: f[2] as Peer, version: f[3], logLik: num(4, 'logLik'), nobs: num(5, 'rows'),
          times: (f[6] ?? '').split(',').map(Number), levels, warnings: num(8, 'warnings'), firstWarning: f[9] ?? '',
        });
        break;
      }
      default:
        throw new Error(`R output: unknown line ${JSON.stringify(line)}`);
    }
  }
  return out;
}

/** ngmm's time over a peer's, "0.42" (< 1: ngmm faster), or "—" when either is missing. */
export function ratio(ngmm: number | undefined, peer: number | undefined): string {
  return ngmm !== undefined && peer !== undefined && peer > 0 ? (ngmm / peer).toFixed(2) : '—';
}

/** A time with three significant digits, in ms below a second ("12.3 ms", "4.56 s"), or "—". */
export function secs(s: number | undefined): string {
  if (s === undefined) return '—';
  return s < 1 ? `${(s * 1000).toPrecision(3)} ms` : `${s.toPrecision(3)} s`;
}

/** Text for a markdown table cell: a '|' (the formulas' bar) would end the cell, so it is escaped. */
export function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export interface NgmmResult {
  seconds: number[];
  logLik: number;
  nobs: number;
  levels: Record<string, number>;
  integration: string;
  converged: boolean;
  notes: string[];
}

export interface Row {
  ds: Pick<DataSet, 'name' | 'label' | 'structure' | 'formula' | 'note' | 'rows' | 'maxReps'>;
  ngmm?: NgmmResult;
  ngmmError?: string;
  /** Node's clock around the whole Rscript child (start-up, loading and every fit). */
  rWall?: number;
  r?: ROutput;
  /** Why R did not run for this data set. */
  rSkipped?: string;
}

export interface TermsRun {
  machine: { cpu: string; cores: number; node: string; r: string; lme4: string; glmmTMB: string };
  reps: number;
  warm: boolean;
  quick: boolean;
  rows: Row[];
  notices: string[];
}

const levelText = (lv: Record<string, number>) => Object.entries(lv).map(([k, n]) => `${k} ${n}`).join(', ');
const ll = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(4));
const peerFit = (r: Row, p: Peer) => r.r?.fits.find((f) => f.peer === p);
const med = (t: number[] | undefined) => (t && t.length ? median(t) : undefined);

/** The section's markdown: the machine, how it was measured, the table, and the goal against what was measured. */
export function sectionMarkdown(run: TermsRun): string {
  const m = run.machine;
  const timed = run.quick
    ? '**A `--quick` run: one fit per side and no warm-up — a check that the code runs, not a measurement.**'
    : `Times are medians of ${run.reps} fits per side, each side warmed by one untimed fit first.`;
  const rows = run.rows.map((r) => {
    const lme4 = peerFit(r, 'lme4'), tmb = peerFit(r, 'glmmTMB');
    const t = med(r.ngmm?.seconds), tl = med(lme4?.times), tt = med(tmb?.times);
    const n = r.ngmm?.nobs ?? lme4?.nobs;
    const nr = r.ngmm && lme4 && lme4.nobs !== r.ngmm.nobs ? `${r.ngmm.nobs} (lme4 ${lme4.nobs})` : n === undefined ? '—' : String(n);
    return [
      `${r.ds.label}${r.ds.rows ? `, first ${r.ds.rows} rows` : ''}`, r.ds.structure, `\`${r.ds.formula}\``, nr,
      r.ngmm ? levelText(r.ngmm.levels) : lme4 ? levelText(lme4.levels) : '—',
      r.ngmm ? r.ngmm.integration + (r.ngmm.converged ? '' : ' (not converged)') : `failed: ${r.ngmmError ?? '—'}`,
      secs(t), secs(tl), secs(tt), ratio(t, tl), ratio(t, tt),
      ll(r.ngmm?.logLik), ll(lme4?.logLik), ll(tmb?.logLik),
    ];
  });
  const goal = run.rows.map((r) => {
    const t = med(r.ngmm?.seconds), tl = med(peerFit(r, 'lme4')?.times);
    const q = ratio(t, tl);
    return { label: r.ds.label, q, met: q !== '—' && t! <= tl! };
  });
  const measured = goal.filter((g) => g.q !== '—');
  const overhead = run.rows.filter((r) => r.r?.startup !== undefined).map((r) => [
    r.ds.label, secs(r.r!.startup), secs(r.r!.packages), secs(r.r!.readCsv), secs(r.rWall),
  ]);
  const notes = run.rows.flatMap((r) => [
    ...(r.ds.note ? [`${r.ds.label}: ${r.ds.note}.`] : []),
    ...(!run.quick && r.ngmm && r.ngmm.seconds.length < run.reps ? [`${r.ds.label}: ${r.ngmm.seconds.length} timed fits per side (one fit takes long), not ${run.reps}.`] : []),
    ...(r.r?.fits ?? []).filter((f) => f.warnings > 0).map((f) => `${r.ds.label}, ${f.peer}: ${f.warnings} distinct warning${f.warnings > 1 ? 's' : ''} (first: "${f.firstWarning}").`),
    ...(r.r?.errors ?? []).map((e) => `${r.ds.label}, ${e.peer}: failed (${e.message}).`),
    ...(r.rSkipped ? [`${r.ds.label}: R peers skipped (${r.rSkipped}).`] : []),
    ...(r.ngmm?.notes ?? []).map((n) => `${r.ds.label}, ngmm: ${n}.`),
  ]);
  return [
    `Machine: ${m.cpu}, ${m.cores} logical cores; Node ${m.node}; ${m.r ? `R ${m.r} with lme4 ${m.lme4 || 'not installed'} and glmmTMB ${m.glmmTMB || 'not installed'}` : 'R not available'}.`,
    'ngmm (fitFormula, this process) and the R peers (lmer/glmer and glmmTMB, an Rscript child started right after, one thread)',
    'fitted the same CSV with the same formula side by side in the same run, data set by data set. Timed: the fit call alone, data',
    'already in memory (ngmm: fitFormula on the parsed table, model frame included; R: the lmer/glmer/glmmTMB call, by proc.time).',
    `${timed} Gaussian fits are ML on both sides (lmer REML = FALSE). "ngmm/lme4" < 1: ngmm faster.`,
    '',
    ...run.notices.map((n) => `- ${n}`),
    ...(run.notices.length ? [''] : []),
    table(
      ['data set', 'structure', 'formula', 'rows', 'levels', 'ngmm integration', 'ngmm', 'lme4', 'glmmTMB', 'ngmm/lme4', 'ngmm/glmmTMB', 'logLik ngmm', 'logLik lme4', 'logLik glmmTMB'],
      rows.map((r) => r.map(cell)),
    ),
    '',
    `**Goal: at least as fast as lme4 on each data set (ngmm/lme4 ≤ 1).** Measured: ${measured.length
      ? measured.map((g) => `${g.label} ${g.q} (${g.met ? 'met' : 'not met'})`).join('; ') + ` — met on ${measured.filter((g) => g.met).length} of ${measured.length}.`
      : 'no data set had both times.'}`,
    '',
    ...(notes.length ? ['Notes:', '', ...notes.map((n) => `- ${n}`), ''] : []),
    ...(overhead.length
      ? [
        'Not fit time, recorded apart: R\'s process start (to the script\'s first line), loading the peer packages, reading the CSV,',
        'and the whole Rscript child by Node\'s clock (all of these plus every warm-up and timed fit):',
        '',
        table(['data set', 'R start', 'packages', 'read.csv', 'Rscript child in all'], overhead),
      ]
      : []),
  ].join('\n');
}

// ---- running ----

const RSCRIPT = process.env.RSCRIPT ?? 'Rscript';
const R_ENV = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

function runR(script: string, dir: string, name: string): { text: string; wall: number } {
  const file = join(dir, `${name}.R`);
  writeFileSync(file, script);
  const t = performance.now();
  const text = execFileSync(RSCRIPT, ['--vanilla', file], { encoding: 'utf8', env: R_ENV, maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  return { text, wall: (performance.now() - t) / 1000 };
}

function rFailure(e: unknown): string {
  const err = e as Error & { stderr?: string; code?: string };
  if (err.code === 'ENOENT') return `${RSCRIPT} not found`;
  const lines = (err.stderr ?? err.message).split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith('Error')) ?? lines[0] ?? 'failed';
}

function machineCpu(): { model: string; cores: number } {
  try {
    const c = cpuInfo(readFileSync('/proc/cpuinfo', 'utf8'));
    if (c) return c;
  } catch {
    // Not Linux: os.cpus() below.
  }
  return { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length };
}

function ngmmRun(csv: string, ds: DataSet, reps: number, warm: boolean): NgmmResult {
  const tbl = readCsvTable(readFileSync(csv, 'utf8'), { source: ds.name });
  const once = () => {
    const t = performance.now();
    const fit = fitFormula(tbl, ds.formula, { family: ds.family }, {}, ds.name);
    return { seconds: (performance.now() - t) / 1000, fit };
  };
  if (warm) once().fit.model.dispose();
  const seconds: number[] = [];
  let last: ReturnType<typeof once>['fit'] | null = null;
  for (let i = 0; i < reps; i++) {
    last?.model.dispose();
    const r = once();
    seconds.push(r.seconds);
    last = r.fit;
  }
  const s = last!.model.summary();
  const out: NgmmResult = {
    seconds, logLik: s.logLik, nobs: s.nobs,
    levels: Object.fromEntries((s.terms ?? []).map((t) => [t.term, t.levels])),
    integration: s.integration ?? '—', converged: s.converged, notes: last!.notes,
  };
  last!.model.dispose();
  return out;
}

export async function runTerms(): Promise<Section> {
  const quick = process.argv.includes('--quick') || process.env.TERMS_QUICK === '1';
  const reps = quick ? 1 : Number(process.env.TERMS_REPS ?? 5);
  if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`TERMS_REPS must be a positive integer, got '${process.env.TERMS_REPS}'`);
  const warm = !quick;
  const only = process.env.TERMS_DATA?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of only ?? []) if (!DATA_SETS.some((d) => d.name === n)) throw new Error(`TERMS_DATA: no data set '${n}' (have: ${DATA_SETS.map((d) => d.name).join(', ')})`);
  const sets = DATA_SETS.filter((d) => !only || only.includes(d.name));
  const cacheDir = resolve('bench/.cache/terms');
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(os.tmpdir(), 'ngmm-terms-'));
  const notices: string[] = [];
  const notice = (s: string) => {
    notices.push(s);
    console.log(`  terms: ${s}`);
  };
  try {
    // Versions, and the CSVs not yet cached. Without R, cached CSVs still give ngmm's times.
    let probe: ROutput | null = null;
    try {
      const todo = sets.map((ds) => ({ ds, file: cacheFile(cacheDir, ds) })).filter((x) => !existsSync(x.file));
      probe = parseR(runR(exportScript(todo), tmp, 'export').text);
    } catch (e) {
      notice(`R did not run (${rFailure(e)}): lme4 and glmmTMB skipped; only data sets already in bench/.cache/terms are fitted, by ngmm alone`);
    }
    const v = probe?.versions ?? {};
    for (const p of ['lme4', 'glmmTMB'] as const) if (probe && !v[p]) notice(`R package ${p} is not installed: that peer is skipped`);
    const rows: Row[] = [];
    for (const ds of sets) {
      const csv = cacheFile(cacheDir, ds);
      const row: Row = { ds };
      rows.push(row);
      if (!existsSync(csv)) {
        notice(`${ds.label}: no data (${probe?.missing[ds.name] ? `R package ${ds.pkg} is not installed` : 'not exported'}): skipped`);
        row.rSkipped = 'no data';
        continue;
      }
      const n = Math.min(reps, ds.maxReps ?? reps);
      try {
        row.ngmm = ngmmRun(csv, ds, n, warm);
        console.log(`  terms ${ds.name}: ngmm ${secs(median(row.ngmm.seconds))} logLik ${row.ngmm.logLik.toFixed(4)} (${row.ngmm.integration})`);
      } catch (e) {
        row.ngmmError = (e as Error).message.split('\n')[0];
        console.log(`  terms ${ds.name}: ngmm failed: ${row.ngmmError}`);
      }
      const peers = ds.peers.filter((p) => !!v[p]);
      if (!probe || peers.length === 0) {
        row.rSkipped = probe ? `R package${ds.peers.length > 1 ? 's' : ''} ${ds.peers.join(', ')} not installed` : 'R did not run';
        continue;
      }
      try {
        const r = runR(fitScript(ds, csv, peers, n, warm), tmp, ds.name);
        row.r = parseR(r.text);
        row.rWall = r.wall;
        for (const f of row.r.fits) console.log(`  terms ${ds.name}: ${f.peer} ${secs(median(f.times))} logLik ${f.logLik.toFixed(4)}`);
        for (const e of row.r.errors) console.log(`  terms ${ds.name}: ${e.peer} failed: ${e.message}`);
      } catch (e) {
        row.rSkipped = `Rscript failed: ${rFailure(e)}`;
        console.log(`  terms ${ds.name}: ${row.rSkipped}`);
      }
    }
    const cpu = machineCpu();
    const run: TermsRun = {
      machine: { cpu: cpu.model, cores: cpu.cores, node: process.version, r: v.R ?? '', lme4: v.lme4 ?? '', glmmTMB: v.glmmTMB ?? '' },
      reps, warm, quick, rows, notices,
    };
    return { name: 'terms', title: 'Several random-effect terms: fit time against lme4 and glmmTMB', markdown: sectionMarkdown(run), data: run };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
