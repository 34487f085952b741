// A PISA-like data set for the latent-variable experiment (issue 15; the paper's §5.3): an item
// bank in three domains, the PISA 2012 rotated-booklet design, schools of 20–40 students with
// questionnaire-like covariates, proficiencies θ ∈ R³ from a known background model and item
// responses from the partial-credit model. Every number is listed, with why it is plausible, in
// bench/pisa/README.md; the design itself is the OECD PISA 2012 Technical Report's (Figure 2.1).
import { Rng } from '../../engine/random';
import { D, type ItemBank, type Responses } from '../../ngmm/latent/types';

// ---------------------------------------------------------------------------------------------
// Test design

/** PISA 2012's thirteen 30-minute clusters: 3 reading, 7 mathematics (the major domain), 3 science. */
export const CLUSTERS = [
  'PR1', 'PR2', 'PR3',
  'PM1', 'PM2', 'PM3', 'PM4', 'PM5', 'PM6A', 'PM7A',
  'PS1', 'PS2', 'PS3',
] as const;
/** The domain (0 reading, 1 mathematics, 2 science) of each cluster. */
export const CLUSTER_DOMAIN: readonly number[] = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2];

/**
 * The 13 standard booklets of PISA 2012, clusters by position (Technical Report, Figure 2.1). Each
 * cluster sits once in each of the four positions; booklets 1, 5, 7 and 10 hold no reading
 * cluster and 4, 6, 9 and 11 no science cluster, so 4 students in 13 answer no item of that
 * domain, and every booklet holds mathematics.
 */
export const BOOKLETS: readonly (readonly (typeof CLUSTERS)[number][])[] = [
  ['PM5', 'PS3', 'PM6A', 'PS2'],
  ['PS3', 'PR3', 'PM7A', 'PR2'],
  ['PR3', 'PM6A', 'PS1', 'PM3'],
  ['PM6A', 'PM7A', 'PR1', 'PM4'],
  ['PM7A', 'PS1', 'PM1', 'PM5'],
  ['PM1', 'PM2', 'PR2', 'PM6A'],
  ['PM2', 'PS2', 'PM3', 'PM7A'],
  ['PS2', 'PR2', 'PM4', 'PS1'],
  ['PR2', 'PM3', 'PM5', 'PR1'],
  ['PM3', 'PM4', 'PS3', 'PM1'],
  ['PM4', 'PM5', 'PR3', 'PM2'],
  ['PS1', 'PR1', 'PM2', 'PS3'],
  ['PR1', 'PM1', 'PS2', 'PR3'],
];

// ---------------------------------------------------------------------------------------------
// Options and output

export type Truth = 'nonlinear' | 'linear';

export interface SimOptions {
  /** Everything is a deterministic function of the seed (an integer) and the other options. */
  seed: number;
  /** Number of schools (150). */
  schools?: number;
  /** Sampled students per school, uniform on minStudents … maxStudents (20 … 40). */
  minStudents?: number;
  maxStudents?: number;
  /** The background model's truth (nonlinear). */
  truth?: Truth;
  /** false: g = 0, no school effect (the FE recovery test). true. */
  schoolEffect?: boolean;
  /** Items per cluster, by domain [reading, mathematics, science] ([12, 5, 12]: 36, 35, 36 items). */
  clusterItems?: readonly [number, number, number];
  /** Share of each domain's items scored with partial credit (0.25). */
  polytomousShare?: number;
}

/** A row-major numeric matrix with named columns. */
export interface NumTable {
  readonly rows: number;
  readonly cols: number;
  readonly names: readonly string[];
  readonly values: Float64Array;
}

/** A row-major matrix of category codes 0 … levels[k] − 1, −1 where missing. */
export interface CatTable {
  readonly rows: number;
  readonly cols: number;
  readonly names: readonly string[];
  readonly levels: readonly number[];
  readonly levelNames: readonly (readonly string[])[];
  readonly values: Int32Array;
}

export interface PisaTruth {
  /** θ_ij, [N × 3] row-major, domains in DOMAINS order. */
  readonly theta: Float64Array;
  /** f(x_ij), [N × 3]: the background model's fixed part. */
  readonly f: Float64Array;
  /** u_j ~ N(0, I₃), [S × 3] (drawn even when schoolEffect is false). */
  readonly u: Float64Array;
  /** g(z_j) > 0 (or 0), [S × 3]. */
  readonly g: Float64Array;
  /** Σ, the covariance of ε_ij, 3 × 3 row-major. */
  readonly Sigma: Float64Array;
  /** Linear truth only: f(x) = intercept + Γᵀ x̃ with x̃ a row of xLinear; Γ is [pLin × 3] row-major. */
  readonly Gamma: Float64Array | null;
  readonly intercept: Float64Array | null;
}

export interface PisaDesign {
  readonly clusters: readonly string[];
  readonly clusterDomain: Int32Array;
  /** Cluster c holds items clusterStart[c] … clusterStart[c+1] − 1. */
  readonly clusterStart: Int32Array;
  /** [13 × 4] cluster indices of each booklet, by position. */
  readonly booklets: Int32Array;
}

export interface PisaData {
  /** The options the data were simulated with, defaults filled in. */
  readonly options: Required<SimOptions>;
  readonly nStudents: number;
  readonly nSchools: number;
  readonly bank: ItemBank;
  /** Each student's booklet's items, in ascending item order. */
  readonly responses: Responses;
  /** Student → school, non-decreasing (a school's students are contiguous). */
  readonly school: Int32Array;
  /** Student → booklet 0 … 12 (PISA's booklet number minus one). */
  readonly booklet: Int32Array;
  readonly design: PisaDesign;
  /** escs, age, homework; NaN where missing. */
  readonly xNum: NumTable;
  /** gender, immig, language, books; −1 where missing. */
  readonly xCat: CatTable;
  /** The numeric coding the linear truth uses (continuous with missing → 0, its missing indicator, 0/1 level indicators against level 0). */
  readonly xLinear: NumTable;
  /** School covariates: meanEscs, size, private, urban. */
  readonly z: NumTable;
  readonly truth: PisaTruth;
}

// ---------------------------------------------------------------------------------------------
// Constants of the generating model (README: "Numbers")

/** Residual SDs of θ by domain and their correlations (reading–maths, reading–science, maths–science). */
const SIGMA_SD = [0.85, 0.9, 0.85];
const SIGMA_COR = { rm: 0.78, rs: 0.83, ms: 0.85 };

/** Missing rates of the questionnaire variables (MCAR). */
export const MISSING_RATE = { escs: 0.025, homework: 0.07, immig: 0.04, language: 0.05, books: 0.035 } as const;

/** Age range of the PISA population: 15 years 3 months to 16 years 2 months. */
const AGE_MIN = 15 + 3 / 12;
const AGE_MAX = 16 + 2 / 12;
const AGE_MID = (AGE_MIN + AGE_MAX) / 2;

const NUM_NAMES = ['escs', 'age', 'homework'] as const;
const CAT_NAMES = ['gender', 'immig', 'language', 'books'] as const;
const CAT_LEVELS = [
  ['female', 'male'],
  ['native', 'second-generation', 'first-generation'],
  ['test language', 'other'],
  ['0-10', '11-25', '26-100', '101-200', '201-500', '>500'],
];
/** Ordinal-probit cut points of books at home on its latent scale (README: "Covariates"). */
const BOOK_CUTS = [-1.05, -0.48, 0.27, 0.75, 1.37];

export const LINEAR_NAMES = [
  'escs', 'escs_missing', 'age', 'homework', 'homework_missing',
  'gender_male', 'immig_second', 'immig_first', 'immig_missing',
  'language_other', 'language_missing',
  'books_11_25', 'books_26_100', 'books_101_200', 'books_201_500', 'books_gt500', 'books_missing',
] as const;
const P_LIN = LINEAR_NAMES.length;

const Z_NAMES = ['meanEscs', 'size', 'private', 'urban'] as const;

/** Γ of the linear truth, one row per LINEAR_NAMES entry: [reading, mathematics, science]. */
const GAMMA_LINEAR: readonly (readonly [number, number, number])[] = [
  [0.38, 0.42, 0.4], // escs (per SD)
  [-0.3, -0.3, -0.3], // escs_missing
  [0.18, 0.22, 0.2], // age (per year)
  [0.02, 0.03, 0.025], // homework (per hour a week)
  [-0.15, -0.18, -0.15], // homework_missing
  [-0.32, 0.12, 0.03], // gender_male
  [-0.1, -0.08, -0.12], // immig_second
  [-0.28, -0.2, -0.3], // immig_first
  [-0.2, -0.2, -0.2], // immig_missing
  [-0.22, -0.1, -0.18], // language_other
  [-0.15, -0.15, -0.15], // language_missing
  [0.15, 0.12, 0.15], // books 11–25
  [0.32, 0.28, 0.33], // books 26–100
  [0.45, 0.4, 0.47], // books 101–200
  [0.55, 0.5, 0.58], // books 201–500
  [0.6, 0.55, 0.63], // books > 500
  [-0.1, -0.1, -0.1], // books_missing
];
/** Intercepts putting the population mean of f near 0 (age enters raw, so −Γ_age·15.7 is in here). */
const INTERCEPT_LINEAR = [-2.98, -3.86, -3.51];
/** The linear truth's constant school-effect scale g. */
const G_LINEAR = [0.5, 0.55, 0.5];
/** The nonlinear truth's base school-effect scale, modulated by z. */
const G_BASE = [0.42, 0.48, 0.42];

// ---------------------------------------------------------------------------------------------

/** The default options, filled in. */
export function simOptions(o: SimOptions): Required<SimOptions> {
  const r: Required<SimOptions> = {
    seed: o.seed,
    schools: o.schools ?? 150,
    minStudents: o.minStudents ?? 20,
    maxStudents: o.maxStudents ?? 40,
    truth: o.truth ?? 'nonlinear',
    schoolEffect: o.schoolEffect ?? true,
    clusterItems: o.clusterItems ?? [12, 5, 12],
    polytomousShare: o.polytomousShare ?? 0.25,
  };
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new Error(`simulatePisa: ${what} must be a positive integer, got ${v}`);
  };
  if (!Number.isInteger(r.seed)) throw new Error(`simulatePisa: seed must be an integer, got ${r.seed}`);
  posInt(r.schools, 'schools');
  posInt(r.minStudents, 'minStudents');
  posInt(r.maxStudents, 'maxStudents');
  if (r.maxStudents < r.minStudents) {
    throw new Error(`simulatePisa: maxStudents (${r.maxStudents}) is below minStudents (${r.minStudents})`);
  }
  if (r.truth !== 'nonlinear' && r.truth !== 'linear') {
    throw new Error(`simulatePisa: truth must be 'nonlinear' or 'linear', got ${String(r.truth)}`);
  }
  if (r.clusterItems.length !== D) throw new Error(`simulatePisa: clusterItems needs ${D} counts (reading, mathematics, science)`);
  r.clusterItems.forEach((n, d) => posInt(n, `clusterItems[${d}]`));
  if (!(r.polytomousShare >= 0 && r.polytomousShare <= 1)) {
    throw new Error(`simulatePisa: polytomousShare must be in [0, 1], got ${r.polytomousShare}`);
  }
  return r;
}

/** Simulates one PISA-like country sample (README: the design and every number). */
export function simulatePisa(options: SimOptions): PisaData {
  const o = simOptions(options);
  // One stream per component, seeded in a fixed order, so that e.g. the truth option changes θ
  // and the responses but not the items, booklets or covariates of the same seed.
  const master = new Rng(o.seed);
  const rngBank = new Rng(master.nextU32());
  const rngSchool = new Rng(master.nextU32());
  const rngStudent = new Rng(master.nextU32());
  const rngU = new Rng(master.nextU32());
  const rngEps = new Rng(master.nextU32());
  const rngResp = new Rng(master.nextU32());

  const { bank, clusterStart } = simulateBank(rngBank, o.clusterItems, o.polytomousShare);
  const design: PisaDesign = {
    clusters: CLUSTERS,
    clusterDomain: Int32Array.from(CLUSTER_DOMAIN),
    clusterStart,
    booklets: Int32Array.from(BOOKLETS.flatMap((b) => b.map((c) => CLUSTERS.indexOf(c)))),
  };

  // Schools: urban/rural, a latent socio-economic level, sector, enrolment and sample size.
  const S = o.schools;
  const urban = new Float64Array(S), level = new Float64Array(S), priv = new Float64Array(S);
  const size = new Float64Array(S), nPer = new Int32Array(S);
  for (let j = 0; j < S; j++) {
    urban[j] = rngSchool.uniform() < 0.6 ? 1 : 0;
    level[j] = -0.15 + 0.3 * urban[j] + 0.4 * rngSchool.normal();
    priv[j] = rngSchool.uniform() < 1 / (1 + Math.exp(-(-1.7 + 0.9 * level[j]))) ? 1 : 0;
    nPer[j] = o.minStudents + rngSchool.int(o.maxStudents - o.minStudents + 1);
    const enrol = Math.exp(Math.log(600) + 0.4 * urban[j] - 0.2 * priv[j] + 0.55 * rngSchool.normal());
    size[j] = Math.max(nPer[j], Math.round(enrol));
  }
  let N = 0;
  for (let j = 0; j < S; j++) N += nPer[j];

  // Students.
  const school = new Int32Array(N), booklet = new Int32Array(N);
  const xNum = new Float64Array(N * 3), xCat = new Int32Array(N * 4);
  for (let j = 0, s = 0; j < S; j++) {
    // Booklets rotate down the school's student list from a random start.
    const start = rngStudent.int(BOOKLETS.length);
    for (let i = 0; i < nPer[j]; i++, s++) {
      school[s] = j;
      booklet[s] = (start + i) % BOOKLETS.length;
      drawStudent(rngStudent, urban[j], level[j], xNum.subarray(3 * s, 3 * s + 3), xCat.subarray(4 * s, 4 * s + 4));
    }
  }

  // School covariates: the mean observed ESCS of the sampled students.
  const z = new Float64Array(S * 4);
  let allSum = 0, allCount = 0;
  for (let s = 0; s < N; s++) if (!Number.isNaN(xNum[3 * s])) { allSum += xNum[3 * s]; allCount++; }
  for (let j = 0, s = 0; j < S; j++) {
    let sum = 0, count = 0;
    for (let i = 0; i < nPer[j]; i++, s++) if (!Number.isNaN(xNum[3 * s])) { sum += xNum[3 * s]; count++; }
    // A school whose every sampled student skipped ESCS (in practice only in tiny samples) gets the overall mean.
    z[4 * j] = count > 0 ? sum / count : allCount > 0 ? allSum / allCount : 0;
    z[4 * j + 1] = size[j];
    z[4 * j + 2] = priv[j];
    z[4 * j + 3] = urban[j];
  }

  const xLin = linearDesign(xNum, xCat, N);

  // Background model.
  const f = new Float64Array(N * 3);
  let Gamma: Float64Array | null = null, intercept: Float64Array | null = null;
  if (o.truth === 'linear') {
    Gamma = Float64Array.from(GAMMA_LINEAR.flat());
    intercept = Float64Array.from(INTERCEPT_LINEAR);
    for (let s = 0; s < N; s++) {
      for (let d = 0; d < D; d++) {
        let v = intercept[d];
        for (let k = 0; k < P_LIN; k++) v += Gamma[k * D + d] * xLin[s * P_LIN + k];
        f[s * D + d] = v;
      }
    }
  } else {
    for (let s = 0; s < N; s++) fNonlinear(xNum.subarray(3 * s, 3 * s + 3), xCat.subarray(4 * s, 4 * s + 4), f.subarray(3 * s, 3 * s + 3));
  }
  const g = new Float64Array(S * D);
  if (o.schoolEffect) {
    for (let j = 0; j < S; j++) {
      if (o.truth === 'linear') g.set(G_LINEAR, D * j);
      else gNonlinear(z.subarray(4 * j, 4 * j + 4), g.subarray(D * j, D * j + D));
    }
  }
  const u = new Float64Array(S * D);
  for (let k = 0; k < u.length; k++) u[k] = rngU.normal();

  const Sigma = sigma();
  const L = cholesky3(Sigma);
  const theta = new Float64Array(N * D);
  for (let s = 0; s < N; s++) {
    const j = school[s];
    const e0 = rngEps.normal(), e1 = rngEps.normal(), e2 = rngEps.normal();
    const eps = [L[0] * e0, L[3] * e0 + L[4] * e1, L[6] * e0 + L[7] * e1 + L[8] * e2];
    for (let d = 0; d < D; d++) theta[s * D + d] = f[s * D + d] + g[j * D + d] * u[j * D + d] + eps[d];
  }

  const responses = simulateResponses(rngResp, bank, design, booklet, theta);

  return {
    options: o,
    nStudents: N,
    nSchools: S,
    bank,
    responses,
    school,
    booklet,
    design,
    xNum: { rows: N, cols: 3, names: NUM_NAMES, values: xNum },
    xCat: { rows: N, cols: 4, names: CAT_NAMES, levels: CAT_LEVELS.map((l) => l.length), levelNames: CAT_LEVELS, values: xCat },
    xLinear: { rows: N, cols: P_LIN, names: LINEAR_NAMES, values: xLin },
    z: { rows: S, cols: 4, names: Z_NAMES, values: z },
    truth: { theta, f, u, g, Sigma, Gamma, intercept },
  };
}

// ---------------------------------------------------------------------------------------------
// Item bank

/**
 * Items cluster by cluster (so in domain order: reading, mathematics, science). Each item has a
 * location b ~ N(0, 1.1²) truncated to [−2.5, 2.5]; a polytomous item's steps are b + τ_h with
 * τ_h = 0.9·(h − (m+1)/2) + N(0, 0.55²) centred to mean 0, so steps increase on average and an
 * adjacent pair is reversed with probability Φ(−0.9 / (0.55·√2)) ≈ 0.12.
 */
function simulateBank(rng: Rng, perCluster: readonly number[], polyShare: number): { bank: ItemBank; clusterStart: Int32Array } {
  const clusterStart = new Int32Array(CLUSTERS.length + 1);
  for (let c = 0; c < CLUSTERS.length; c++) clusterStart[c + 1] = clusterStart[c] + perCluster[CLUSTER_DOMAIN[c]];
  const K = clusterStart[CLUSTERS.length];
  const domain = new Int32Array(K);
  for (let c = 0; c < CLUSTERS.length; c++) domain.fill(CLUSTER_DOMAIN[c], clusterStart[c], clusterStart[c + 1]);

  // Steps per item: exactly round(share·n_d) polytomous items per domain, 30 % of them with 4
  // categories, at random places in the domain.
  const nSteps = new Int32Array(K).fill(1);
  for (let d = 0; d < D; d++) {
    const items: number[] = [];
    for (let k = 0; k < K; k++) if (domain[k] === d) items.push(k);
    rng.shuffle(items);
    const nPoly = Math.round(polyShare * items.length), nFour = Math.round(0.3 * nPoly);
    for (let i = 0; i < nPoly; i++) nSteps[items[i]] = i < nFour ? 3 : 2;
  }
  const stepStart = new Int32Array(K + 1);
  for (let k = 0; k < K; k++) stepStart[k + 1] = stepStart[k] + nSteps[k];
  const steps = new Float64Array(stepStart[K]);
  for (let k = 0; k < K; k++) {
    let b: number;
    do b = 1.1 * rng.normal(); while (Math.abs(b) > 2.5);
    const m = nSteps[k], tau = new Float64Array(m);
    let mean = 0;
    for (let h = 0; h < m; h++) {
      tau[h] = m === 1 ? 0 : 0.9 * (h + 1 - (m + 1) / 2) + 0.55 * rng.normal();
      mean += tau[h] / m;
    }
    for (let h = 0; h < m; h++) steps[stepStart[k] + h] = b + tau[h] - mean;
  }
  return { bank: { domain, stepStart, steps }, clusterStart };
}

// ---------------------------------------------------------------------------------------------
// Students

/**
 * One student's questionnaire answers. The latent ESCS is the school's level plus a within-school
 * part, lower for students of immigrant background; books at home is an ordinal probit on ESCS;
 * homework is log-normal, rising with ESCS; the language spoken at home depends on immigrant
 * status. Missing answers are MCAR at MISSING_RATE; gender and age come from the school roster
 * and are never missing.
 */
function drawStudent(rng: Rng, urban: number, level: number, num: Float64Array, cat: Int32Array): void {
  const male = rng.uniform() < 0.5 ? 1 : 0;
  const r = rng.uniform();
  const pSecond = 0.06 + 0.03 * urban, pFirst = 0.04 + 0.03 * urban;
  const immig = r < pFirst ? 2 : r < pFirst + pSecond ? 1 : 0;
  const pOther = [0.04, 0.45, 0.7][immig];
  const language = rng.uniform() < pOther ? 1 : 0;
  const escs = level - 0.3 * (immig > 0 ? 1 : 0) + 0.85 * rng.normal();
  const bookLatent = 0.75 * escs + 0.66 * rng.normal();
  let books = 0;
  while (books < BOOK_CUTS.length && bookLatent > BOOK_CUTS[books]) books++;
  const age = AGE_MIN + (AGE_MAX - AGE_MIN) * rng.uniform();
  const homework = Math.min(30, Math.round(2 * Math.exp(Math.log(4) + 0.15 * escs + 0.7 * rng.normal())) / 2);

  num[0] = rng.uniform() < MISSING_RATE.escs ? NaN : escs;
  num[1] = age;
  num[2] = rng.uniform() < MISSING_RATE.homework ? NaN : homework;
  cat[0] = male;
  cat[1] = rng.uniform() < MISSING_RATE.immig ? -1 : immig;
  cat[2] = rng.uniform() < MISSING_RATE.language ? -1 : language;
  cat[3] = rng.uniform() < MISSING_RATE.books ? -1 : books;
}

/** The linear truth's numeric coding of the observed covariates (LINEAR_NAMES). */
function linearDesign(xNum: Float64Array, xCat: Int32Array, N: number): Float64Array {
  const X = new Float64Array(N * P_LIN);
  for (let s = 0; s < N; s++) {
    const row = X.subarray(s * P_LIN, (s + 1) * P_LIN);
    const escs = xNum[3 * s], age = xNum[3 * s + 1], hw = xNum[3 * s + 2];
    const [gender, immig, language, books] = xCat.subarray(4 * s, 4 * s + 4);
    // A missing value is 0 with its indicator set: the indicator's coefficient absorbs the fill value.
    row[0] = Number.isNaN(escs) ? 0 : escs;
    row[1] = Number.isNaN(escs) ? 1 : 0;
    row[2] = age;
    row[3] = Number.isNaN(hw) ? 0 : hw;
    row[4] = Number.isNaN(hw) ? 1 : 0;
    row[5] = gender === 1 ? 1 : 0;
    row[6] = immig === 1 ? 1 : 0;
    row[7] = immig === 2 ? 1 : 0;
    row[8] = immig === -1 ? 1 : 0;
    row[9] = language === 1 ? 1 : 0;
    row[10] = language === -1 ? 1 : 0;
    for (let l = 1; l <= 5; l++) row[10 + l] = books === l ? 1 : 0;
    row[16] = books === -1 ? 1 : 0;
  }
  return X;
}

// ---------------------------------------------------------------------------------------------
// The nonlinear truth

const BOOK_EFFECT = [-0.4, -0.22, 0, 0.14, 0.22, 0.18];
/** [native, second, first] × [test language, other]. */
const ORIGIN_EFFECT = [
  [0, -0.15],
  [-0.05, -0.25],
  [-0.15, -0.45],
];
const ESCS_SCALE = [1, 1.1, 1.05];
const BOOK_SCALE = [1.1, 0.9, 1];
const ORIGIN_SCALE = [1.2, 0.9, 1];
const MALE_EFFECT = [-0.35, 0.15, 0.03];
/** Centres f's population mean near 0 in each domain. */
const INTERCEPT_NONLINEAR = [0.36, 0.06, 0.14];

const homeworkCurve = (h: number) => 0.4 * Math.log1p(h) - 0.045 * h - (0.4 * Math.log1p(4) - 0.045 * 4);

/**
 * f(x) of the nonlinear truth, from the observed covariates only (a missing answer has its own
 * effect), so that the Bayes-optimal background model is a function of what a model sees:
 *   a saturating ESCS effect 0.55·tanh(2(e + 0.3)), 60 % weaker for first-generation immigrants
 *     (parents' schooling abroad buys less);
 *   a concave books-at-home effect that dips for > 500 books, stronger at low ESCS
 *     (−0.2·(b − 2.5)·tanh e);
 *   homework with diminishing, then negative returns (0.4·ln(1 + h) − 0.045·h peaks near 8 h a
 *     week), 40 % weaker for boys, and −0.4 above 12 h a week;
 *   an immigrant-status × home-language table; a gender gap by domain; 0.2 per year of age.
 * A least-squares fit on xLinear explains about 85 % of its variance (README).
 */
export function fNonlinear(num: ArrayLike<number>, cat: ArrayLike<number>, out: Float64Array): void {
  const escs = num[0], age = num[1], hw = num[2];
  const [male, immig, language, books] = [cat[0], cat[1], cat[2], cat[3]];
  const escsTerm = Number.isNaN(escs) ? -0.35 : (immig === 2 ? 0.4 : 1) * 0.55 * Math.tanh(2 * (escs + 0.3));
  let bookTerm = books === -1 ? -0.25 : BOOK_EFFECT[books];
  if (books !== -1 && !Number.isNaN(escs)) bookTerm += -0.2 * (books - 2.5) * Math.tanh(escs);
  const hwTerm = Number.isNaN(hw) ? -0.2 : (male === 1 ? 0.6 : 1) * homeworkCurve(hw) - (hw > 12 ? 0.4 : 0);
  let originTerm = 0;
  if (immig !== -1 && language !== -1) originTerm = ORIGIN_EFFECT[immig][language];
  else originTerm = (immig === -1 ? -0.2 : ORIGIN_EFFECT[immig][0]) + (language === -1 ? -0.15 : 0);
  for (let d = 0; d < D; d++) {
    out[d] = INTERCEPT_NONLINEAR[d] + ESCS_SCALE[d] * escsTerm + BOOK_SCALE[d] * bookTerm + hwTerm
      + ORIGIN_SCALE[d] * originTerm + (male === 1 ? MALE_EFFECT[d] : 0) + 0.2 * (age - AGE_MID);
  }
}

/**
 * g(z) of the nonlinear truth: the between-school SD of each domain, larger in private and urban
 * schools, in small schools and in disadvantaged ones:
 *   g_d = G_BASE_d · exp(0.35·private + 0.25·urban − 0.12·ln(size / 600) − 0.15·tanh(1.5·meanEscs)).
 */
export function gNonlinear(z: ArrayLike<number>, out: Float64Array): void {
  const [meanEscs, size, priv, urban] = [z[0], z[1], z[2], z[3]];
  const m = Math.exp(0.35 * priv + 0.25 * urban - 0.12 * Math.log(size / 600) - 0.15 * Math.tanh(1.5 * meanEscs));
  for (let d = 0; d < D; d++) out[d] = G_BASE[d] * m;
}

/** Σ = diag(sd) R diag(sd). */
function sigma(): Float64Array {
  const R = [1, SIGMA_COR.rm, SIGMA_COR.rs, SIGMA_COR.rm, 1, SIGMA_COR.ms, SIGMA_COR.rs, SIGMA_COR.ms, 1];
  return Float64Array.from(R, (r, k) => r * SIGMA_SD[Math.floor(k / 3)] * SIGMA_SD[k % 3]);
}

/** Lower Cholesky factor of a 3 × 3 positive-definite matrix, row-major. */
function cholesky3(A: Float64Array): Float64Array {
  const L = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[3 * i + j];
      for (let k = 0; k < j; k++) s -= L[3 * i + k] * L[3 * j + k];
      L[3 * i + j] = i === j ? Math.sqrt(s) : s / L[3 * j + j];
    }
  }
  return L;
}

// ---------------------------------------------------------------------------------------------
// Responses

/**
 * Each student answers the items of their booklet's four clusters, in ascending item order. A
 * score is drawn from the partial-credit model (Masters 1982): with ψ_0 = 0 and
 * ψ_c = Σ_{h ≤ c} (θ_d − δ_h), P(x = c) = exp(ψ_c) / Σ_c' exp(ψ_c'), by inverting the CDF of
 * the max-shifted weights.
 */
function simulateResponses(rng: Rng, bank: ItemBank, design: PisaDesign, booklet: Int32Array, theta: Float64Array): Responses {
  const N = booklet.length, nb = BOOKLETS.length, pos = 4;
  const bookletItems: Int32Array[] = [];
  for (let b = 0; b < nb; b++) {
    const cl = Array.from(design.booklets.subarray(pos * b, pos * b + pos)).sort((x, y) => x - y);
    const items: number[] = [];
    for (const c of cl) for (let k = design.clusterStart[c]; k < design.clusterStart[c + 1]; k++) items.push(k);
    bookletItems.push(Int32Array.from(items));
  }
  const start = new Int32Array(N + 1);
  for (let s = 0; s < N; s++) start[s + 1] = start[s] + bookletItems[booklet[s]].length;
  const item = new Int32Array(start[N]), score = new Int32Array(start[N]);
  let maxM = 1;
  for (let k = 0; k + 1 < bank.stepStart.length; k++) maxM = Math.max(maxM, bank.stepStart[k + 1] - bank.stepStart[k]);
  const w = new Float64Array(maxM + 1);
  for (let s = 0; s < N; s++) {
    const items = bookletItems[booklet[s]];
    item.set(items, start[s]);
    for (let r = 0; r < items.length; r++) {
      const k = items[r], t = theta[s * D + bank.domain[k]];
      const s0 = bank.stepStart[k], m = bank.stepStart[k + 1] - s0;
      let psi = 0, max = 0;
      w[0] = 0;
      for (let h = 1; h <= m; h++) {
        psi += t - bank.steps[s0 + h - 1];
        w[h] = psi;
        if (psi > max) max = psi;
      }
      let total = 0;
      for (let h = 0; h <= m; h++) total += (w[h] = Math.exp(w[h] - max));
      let u = rng.uniform() * total, c = 0;
      while (c < m && u >= w[c]) u -= w[c++];
      score[start[s] + r] = c;
    }
  }
  return { start, item, score };
}
