// Fitting the latent NGMM (issue 15): maximum marginal likelihood of the students' item
// responses under the partial-credit model (ngmm/latent/pcm.ts) and one of the four background
// models (ngmm/latent/background.ts), the θ and u integrals by nested adaptive Gauss–Hermite
// (ngmm/latent/adapt.ts, marginal.ts; docs/latent-marginal.md). Each objective evaluation
// first adapts the rules to the current parameters (numbers only) and then differentiates the
// school log-marginals with the rules held fixed, as the library's random-slope path does.
//   'adam' (default, as the paper fits all four): mini-batches of schools, early stopping on
//     the validation schools' marginal likelihood per student (the best epoch kept);
//   'lbfgs' (linear backgrounds): full-batch L-BFGS, for a precise optimum where standard
//     errors are wanted (the recovery test). The rules move with the parameters, so the
//     objective is smooth only to the quadrature's accuracy: use ≥ 5 nodes per dimension.
import * as E from '../../engine/index';
import { Rng } from '../../engine/random';
import { adaptSchools, innerLogLik, LatentMarginalError, type LatentRules, type MeasurementLik } from './adapt';
import { Background, type BackgroundKind, type BackgroundOptions, type StudentInputs } from './background';
import { categoryCodes, fitEncoding, linearInputs, numericInputs, type Covariates, type Encoding } from './design';
import { latentLogLik, latentPosterior } from './marginal';
import { identify, pcmAtNodes, studentLik, type StudentLik } from './pcm';
import { inverseInformation } from './information';
import { domainScore, type DomainPrior } from './predict';
import { D, type ItemBank, type Responses } from './types';

export interface LatentData {
  readonly bank: ItemBank;
  readonly responses: Responses;
  /** Student → school (0 … nSchools − 1). */
  readonly school: Int32Array;
  readonly nSchools: number;
  readonly covariates: Covariates;
  /** School covariates, nSchools × pZ row-major (already on a sensible scale; standardised here). */
  readonly z: Float64Array;
  readonly pZ: number;
}

export interface LatentFitOptions extends BackgroundOptions {
  readonly innerNodes?: number;
  readonly outerNodes?: number;
  /** Adam (neural backgrounds): epochs, learning rate, schools per batch, patience. */
  readonly epochs?: number;
  readonly lr?: number;
  readonly batchSchools?: number;
  readonly patience?: number;
  /**
   * The linear backgrounds' inputs: 'pca' (default; the official PISA conditioning) or
   * 'columns' — the continuous covariates themselves, standardised (with missing indicators),
   * no categorical ones: a known linear truth's Γ is then recovered up to the columns' scales
   * (the recovery test).
   */
  readonly linearInputs?: 'pca' | 'columns';
  readonly pcaShare?: number;
  readonly optimizer?: 'adam' | 'lbfgs';
  /**
   * Estimate the items' step difficulties (starting from the bank's) instead of taking them as
   * known: identified by centring each domain's steps at 0 (`identify`, docs/latent-pcm.md §4),
   * the background's intercepts free.
   */
  readonly estimateSteps?: boolean;
  readonly onProgress?: (p: { epoch: number; epochs: number; loss: number; validation: number | null }) => void;
}

type Inputs = { lin?: Float64Array; num?: Float64Array; cat?: Int32Array[] };

function rowsOf(src: Float64Array, width: number, ids: Int32Array): Float64Array {
  const out = new Float64Array(ids.length * width);
  ids.forEach((id, i) => out.set(src.subarray(id * width, id * width + width), i * width));
  return out;
}

/** Students of each school, among `students`, grouped and ordered by school. */
function bySchool(school: Int32Array, students: Int32Array): Map<number, Int32Array> {
  const m = new Map<number, number[]>();
  for (const s of students) {
    const list = m.get(school[s]);
    if (list) list.push(s);
    else m.set(school[s], [s]);
  }
  return new Map([...m.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, Int32Array.from(v)]));
}

export class LatentModel {
  private likCache: { steps: Float64Array; lik: StudentLik } | null = null;
  /** Free step difficulties when they are estimated (identified through `identify`). */
  readonly rawSteps: E.Tensor | null;
  private readonly all: Inputs;
  private readonly zs: Float64Array;
  private readonly widths: { lin: number; num: number };
  info: { epochs: number; bestEpoch: number; loss: number; converged: boolean; message: string } = { epochs: 0, bestEpoch: 0, loss: NaN, converged: false, message: '' };

  constructor(readonly data: LatentData, readonly background: Background, readonly encoding: Encoding, readonly options: LatentFitOptions) {
    this.rawSteps = options.estimateSteps ? E.param(data.bank.steps, [data.bank.steps.length]) : null;
    const n = data.school.length;
    const ids = Int32Array.from({ length: n }, (_, i) => i);
    const c = data.covariates;
    if (background.kind === 'fe-lin' || background.kind === 'me-lin') {
      const lin = options.linearInputs === 'columns' ? numericInputs(c, ids, encoding) : linearInputs(c, ids, encoding);
      this.all = { lin };
      this.widths = { lin: background.shape.pLin, num: 0 };
    } else {
      const num = numericInputs(c, ids, encoding);
      this.all = { num, cat: c.catNames.map((_, j) => categoryCodes(c, ids, j)) };
      this.widths = { lin: 0, num: background.shape.pNum };
    }
    // School covariates standardised over all schools' values (they are design variables of
    // the sample, not outcomes); a constant column becomes 0.
    const S = data.nSchools, p = data.pZ;
    this.zs = new Float64Array(S * p);
    for (let j = 0; j < p; j++) {
      let m = 0, v = 0;
      for (let s = 0; s < S; s++) m += data.z[s * p + j] / S;
      for (let s = 0; s < S; s++) v += (data.z[s * p + j] - m) ** 2 / Math.max(1, S - 1);
      const sd = v > 0 ? Math.sqrt(v) : 1;
      for (let s = 0; s < S; s++) this.zs[s * p + j] = (data.z[s * p + j] - m) / sd;
    }
  }

  inputs(ids: Int32Array): StudentInputs {
    const out: { n: number; lin?: Float64Array; num?: Float64Array; cat?: Int32Array[] } = { n: ids.length };
    if (this.all.lin) out.lin = rowsOf(this.all.lin, this.widths.lin, ids);
    if (this.all.num) out.num = rowsOf(this.all.num, this.widths.num, ids);
    if (this.all.cat) out.cat = this.all.cat.map((codes) => Int32Array.from(ids, (i) => codes[i]));
    return out;
  }

  /** The item bank with the current step difficulties (the estimated ones, identified, when estimated). */
  get bank(): ItemBank {
    if (!this.rawSteps) return this.data.bank;
    const steps = E.noGrad(() => E.tidy(() => identify(this.data.bank, this.rawSteps!).toArray()));
    return { domain: this.data.bank.domain, stepStart: this.data.bank.stepStart, steps };
  }

  /** The partial-credit likelihood at the current step difficulties. */
  get lik(): StudentLik {
    const bank = this.bank;
    if (!this.likCache || this.likCache.steps.some((v, i) => v !== bank.steps[i])) this.likCache = { steps: Float64Array.from(bank.steps), lik: studentLik(bank, this.data.responses) };
    return this.likCache.lik;
  }

  /** The measurement likelihood of batch row n = student ids[n]. */
  measurement(ids: Int32Array): MeasurementLik {
    const lik = this.lik;
    return { evaluate: (n, th, out) => lik.evaluate(ids[n], th, out) };
  }

  /** Every parameter the fit estimates: the background's, then the free steps when estimated. */
  parameters(): E.Tensor[] {
    return this.rawSteps ? [...this.background.parameters(), this.rawSteps] : this.background.parameters();
  }

  schoolZ(schools: readonly number[]): Float64Array {
    return rowsOf(this.zs, this.data.pZ, Int32Array.from(schools));
  }

  /**
   * A batch of schools (school → its students) with its rules adapted at the current
   * parameters and ℓ at the rules' nodes: what the tape needs besides the parameters.
   */
  prepare(groups: Map<number, Int32Array>): PreparedBatch {
    const schools = [...groups.keys()];
    const ids = Int32Array.from(schools.flatMap((s) => Array.from(groups.get(s)!)));
    const start = new Int32Array(schools.length + 1);
    schools.forEach((s, i) => (start[i + 1] = start[i] + groups.get(s)!.length));
    const x = this.inputs(ids), z = this.schoolZ(schools);
    const bg = this.background;
    const muV = E.noGrad(() => E.tidy(() => bg.mu(x).toArray()));
    const gV = bg.mixed ? E.noGrad(() => E.tidy(() => bg.scale(z, schools.length)!.toArray())) : null;
    const meas = this.measurement(ids);
    const rules = adaptSchools(meas, muV, bg.chol.data, gV, start, { innerNodes: this.options.innerNodes, outerNodes: this.options.outerNodes });
    return { schools, ids, x, z, rules, ell: innerLogLik(rules, meas), muV, gV };
  }

  /** −Σ log p(x_j) over a prepared batch, on the tape, the rules held fixed. */
  negLogLikWith(b: PreparedBatch): E.Tensor {
    const bg = this.background;
    // ℓ at the fixed nodes: constants with known difficulties, on the tape when estimated.
    const ell = this.rawSteps
      ? pcmAtNodes(this.data.bank, this.data.responses, b.ids, b.rules.theta, b.rules.K, identify(this.data.bank, this.rawSteps))
      : E.tensor(b.ell, [b.ids.length, b.rules.K]);
    return E.neg(E.sum(latentLogLik(b.rules, bg.mu(b.x), bg.chol, bg.scale(b.z, b.schools.length), ell)));
  }

  /** −Σ log p(x_j) over `groups`, the rules adapted at the current parameters, and the number of students. */
  negLogLik(groups: Map<number, Int32Array>): { loss: E.Tensor; students: number } {
    const b = this.prepare(groups);
    return { loss: this.negLogLikWith(b), students: b.ids.length };
  }

  /**
   * The proficiency estimates: each student's posterior mean and SD of θ (per domain) given
   * the responses of every student in `groups` (school → students): its own, and through the
   * school's u (mixed models) its school-mates'. [n × 3] each, in the groups' student order.
   */
  proficiency(groups: Map<number, Int32Array>): { students: Int32Array; mean: Float64Array; sd: Float64Array } {
    const b = this.prepare(groups);
    const post = latentPosterior(b.rules, b.muV, this.background.chol.data, b.gV, b.ell);
    return { students: b.ids, mean: post.thetaMean, sd: post.thetaSd };
  }

  /** RMS over `schools` of the school-effect scale g_d(z_j) per domain (0 for the fixed-effects models). */
  schoolScale(schools: readonly number[]): number[] {
    if (!this.background.mixed || schools.length === 0) return [0, 0, 0];
    const g = E.noGrad(() => E.tidy(() => this.background.scale(this.schoolZ(schools), schools.length)!.toArray()));
    return [0, 1, 2].map((d) => Math.sqrt(schools.reduce((acc, _, i) => acc + g[i * 3 + d] ** 2, 0) / schools.length));
  }

  /** The posterior over each school's u from its students in `groups` (mixed models), as weighted nodes. */
  schoolPosterior(groups: Map<number, Int32Array>): Map<number, { nodes: Float64Array; weights: Float64Array }> {
    const out = new Map<number, { nodes: Float64Array; weights: Float64Array }>();
    const bg = this.background;
    if (!bg.mixed) return out;
    const b = this.prepare(groups);
    const { schools, rules } = b;
    const post = latentPosterior(rules, b.muV, bg.chol.data, b.gV, b.ell);
    schools.forEach((s, i) => out.set(s, { nodes: post.uNodes.slice(i * rules.Q * 3, (i + 1) * rules.Q * 3), weights: post.uWeights.slice(i * rules.Q, (i + 1) * rules.Q) }));
    return out;
  }

  /**
   * Per-domain predictive metrics of `students` (not used in fitting): 'seen' conditions on
   * the school's posterior from `conditionOn` (its training students), 'new' uses the prior.
   */
  score(students: Int32Array, regime: 'seen' | 'new', conditionOn?: Map<number, Int32Array>): DomainTotals[] {
    const bg = this.background;
    const totals: DomainTotals[] = Array.from({ length: D }, () => ({ nll: 0, students: 0, correct: 0, answered: 0 }));
    if (students.length === 0) return totals;
    const bank = this.bank, lik = this.lik;
    const muV = E.noGrad(() => E.tidy(() => bg.mu(this.inputs(students)).toArray()));
    const { Sigma } = bg.sigma();
    const schools = [...new Set(students.map((s) => this.data.school[s]))];
    const gAll = new Map<number, Float64Array>();
    if (bg.mixed) {
      const gV = E.noGrad(() => E.tidy(() => bg.scale(this.schoolZ(schools), schools.length)!.toArray()));
      schools.forEach((s, i) => gAll.set(s, gV.slice(i * 3, i * 3 + 3)));
    }
    const post = regime === 'seen' && bg.mixed ? this.schoolPosterior(new Map(schools.map((s) => {
      const g = conditionOn?.get(s);
      if (!g || g.length === 0) throw new Error(`latent: school ${s} has no training students to condition on`);
      return [s, g];
    }))) : null;
    students.forEach((s, i) => {
      const j = this.data.school[s];
      for (let d = 0; d < D; d++) {
        const m = muV[i * 3 + d], sdE = Math.sqrt(Sigma[d * 3 + d]);
        let prior: DomainPrior;
        if (!bg.mixed) prior = { weight: [1], mean: [m], sd: [sdE] };
        else if (post) {
          const { nodes, weights } = post.get(j)!;
          const g = gAll.get(j)![d];
          prior = { weight: weights, mean: Float64Array.from(weights, (_, q) => m + g * nodes[q * 3 + d]), sd: new Float64Array(weights.length).fill(sdE) };
        } else {
          const g = gAll.get(j)![d];
          prior = { weight: [1], mean: [m], sd: [Math.sqrt(sdE * sdE + g * g)] };
        }
        const r = domainScore(bank, this.data.responses, lik, s, d, prior);
        if (!r) continue;
        totals[d].nll += r.nll;
        totals[d].students++;
        totals[d].correct += r.correct;
        totals[d].answered += r.answered;
      }
    });
    return totals;
  }

  dispose(): void {
    this.background.dispose();
    this.rawSteps?.dispose();
  }
}

export interface PreparedBatch {
  readonly schools: number[];
  readonly ids: Int32Array;
  readonly x: StudentInputs;
  readonly z: Float64Array;
  readonly rules: LatentRules;
  readonly ell: Float64Array;
  readonly muV: Float64Array;
  readonly gV: Float64Array | null;
}

export { bySchool };

export interface DomainTotals {
  nll: number;
  students: number;
  correct: number;
  answered: number;
}

/** The model before fitting: its encoding fitted on the students `train`, the parameters at their starts. */
export function buildLatent(data: LatentData, kind: BackgroundKind, train: Int32Array, o: LatentFitOptions = {}): LatentModel {
  const c = data.covariates;
  const encoding = fitEncoding(c, train, o.pcaShare ?? 0.95);
  const columns = o.linearInputs === 'columns';
  const shape = {
    pLin: columns ? c.numNames.length + encoding.missingCols.length : encoding.pca.k,
    pNum: c.numNames.length + encoding.missingCols.length,
    catLevels: c.catLevels,
    pZ: data.pZ,
  };
  return new LatentModel(data, new Background(kind, shape, o), encoding, o);
}

/** Fits one background model on the students `train`, stopping early on `valid` (Adam). */
export function fitLatent(data: LatentData, kind: BackgroundKind, train: Int32Array, valid: Int32Array, o: LatentFitOptions = {}): LatentModel {
  const model = buildLatent(data, kind, train, o);
  const groups = bySchool(data.school, train);
  const params = model.parameters();
  if (o.optimizer === 'lbfgs') {
    // Adapt, optimise with the rules fixed (a smooth objective with its exact gradient), and
    // adapt again at the new estimate, until the estimate stops moving (by ≤ 1e−5, a few
    // ten-thousandths of a typical SE; the re-adapted objective itself moves with the nodes by
    // the quadrature error, so a tighter stop would only chase that): the usual way to maximise
    // an adaptive-quadrature likelihood (Pinheiro & Bates 1995, §3).
    // Each round's L-BFGS is held to a few iterations (10 in the first rounds, from a start far
    // from the estimate, then 50), and its result is accepted only if the objective with the
    // rules re-adapted there is no worse than before the round (else the step is halved, up to
    // 20 times): with the nodes fixed, the objective is only trustworthy near where they were
    // adapted. Measured: at 3 nodes per dimension, unchecked rounds drove log L₂₂ to −4.4 (a
    // near-singular Σ the fixed nodes rewarded and the re-adapted objective did not) until a
    // student's mode could no longer be found.
    const nTrain = train.length;
    const snapshot = () => params.map((p) => Float64Array.from(p.data));
    const restore = (v: Float64Array[]) => params.forEach((p, i) => p.data.set(v[i]));
    const adapted = (): number => {
      try {
        return E.noGrad(() => E.tidy(() => model.negLogLikWith(model.prepare(groups)).item())) / nTrain;
      } catch (e) {
        if (e instanceof LatentMarginalError) return Infinity; // a region where the rules cannot be built is no better
        throw e;
      }
    };
    let current = adapted(), rounds = 0, moved = Infinity, halvings = 0, message = '';
    if (!Number.isFinite(current)) throw new Error('latent: the objective is not finite at the starting parameters');
    for (rounds = 1; rounds <= 20 && moved > 1e-5; rounds++) {
      const before = snapshot();
      const batch = model.prepare(groups);
      const r = E.minimize(params, () => E.affine(model.negLogLikWith(batch), 1 / nTrain, 0), { gtol: 1e-7, maxIter: rounds <= 3 ? 10 : 50 });
      message = r.message;
      const after = snapshot();
      let value = adapted(), t = 1;
      while (!(value <= current + 1e-12 * Math.abs(current)) && t > 2 ** -20) {
        t /= 2;
        halvings++;
        params.forEach((p, i) => p.data.set(before[i].map((v, k) => v + t * (after[i][k] - v))));
        value = adapted();
      }
      if (!(value <= current + 1e-12 * Math.abs(current))) {
        restore(before); // no step along this round's direction helps: as close as the rule allows
        moved = 0;
        break;
      }
      current = value;
      moved = Math.max(...params.map((p, i) => Math.max(...Array.from(p.data, (v, k) => Math.abs(v - before[i][k])))));
    }
    model.info = { epochs: rounds, bestEpoch: rounds, loss: current, converged: moved <= 1e-5, message: `${rounds} adaptation rounds, ${halvings} step halvings; last L-BFGS: ${message}` };
    return model;
  }
  const validGroups = bySchool(data.school, valid);
  const validLoss = () => {
    if (validGroups.size === 0) return NaN;
    return E.noGrad(() => E.tidy(() => {
      const { loss, students } = model.negLogLik(validGroups);
      return loss.item() / students;
    }));
  };
  const rng = new Rng(o.seed ?? 1);
  const opt = new E.Adam(params, { lr: o.lr ?? 0.01 });
  const schools = [...groups.keys()];
  const B = o.batchSchools ?? 8, epochs = o.epochs ?? 60, patience = o.patience ?? 10;
  let best = validLoss(), bestEpoch = 0, stale = 0, epoch = 0, last = NaN;
  let saved = params.map((p) => Float64Array.from(p.data));
  try {
    for (epoch = 1; epoch <= epochs; epoch++) {
      rng.shuffle(schools);
      let total = 0, count = 0;
      for (let b = 0; b < schools.length; b += B) {
        const batch = new Map(schools.slice(b, b + B).map((s) => [s, groups.get(s)!]));
        E.tidy(() => {
          const { loss, students } = model.negLogLik(batch);
          const scaled = E.affine(loss, 1 / students, 0);
          total += loss.item();
          count += students;
          opt.step(E.grad(scaled, params));
        });
      }
      last = total / count;
      const v = validLoss();
      o.onProgress?.({ epoch, epochs, loss: last, validation: Number.isNaN(v) ? null : v });
      if (Number.isNaN(v) || v < best) {
        best = v;
        bestEpoch = epoch;
        stale = 0;
        saved = params.map((p) => Float64Array.from(p.data));
      } else if (++stale >= patience) {
        break;
      }
    }
  } finally {
    opt.dispose();
  }
  params.forEach((p, i) => p.data.set(saved[i]));
  model.info = { epochs: Math.min(epoch, epochs), bestEpoch, loss: last, converged: true, message: bestEpoch > 0 ? `best validation epoch ${bestEpoch}` : 'no epoch improved on the start' };
  return model;
}

/**
 * Standard errors of every parameter (in `model.parameters()` order, flattened) from the
 * observed information: the Hessian of −Σ_j log p(x_j) over the training schools, by central
 * differences of its exact gradient with the rules adapted at the estimate and held fixed
 * (the objective the estimate optimises), symmetrised and inverted. h = 1e−4 per coordinate:
 * the gradient is exact to rounding, so the difference quotient's error is O(h²)·g''' ≈ 1e−8
 * relative, far below the SEs' own sampling error.
 */
export function standardErrors(model: LatentModel, train: Int32Array, h = 1e-4): Float64Array {
  return covariance(model, train, h).se;
}

/** The estimates' covariance (the inverse observed information, n × n) and its diagonal's square roots; see standardErrors. */
export function covariance(model: LatentModel, train: Int32Array, h = 1e-4): { cov: Float64Array; se: Float64Array } {
  const params = model.parameters();
  const batch = model.prepare(bySchool(model.data.school, train));
  const x = Float64Array.from(params.flatMap((p) => Array.from(p.data)));
  const setAll = (v: Float64Array) => {
    let o = 0;
    for (const p of params) {
      p.data.set(v.subarray(o, o + p.size));
      o += p.size;
    }
  };
  const gradient = (at: Float64Array): Float64Array => {
    setAll(at);
    return E.tidy(() => Float64Array.from(E.grad(model.negLogLikWith(batch), params).flatMap((t) => Array.from(t.data))));
  };
  try {
    const r = inverseInformation(x, gradient, () => h);
    if (!r.cov) throw new Error(`standardErrors: the observed information is not positive definite at parameter ${r.pivot} (not identified, or the fit is not at a maximum)`);
    const cov = r.cov, n = x.length;
    return { cov, se: Float64Array.from({ length: n }, (_, k) => Math.sqrt(cov[k * n + k])) };
  } finally {
    setAll(x);
  }
}
