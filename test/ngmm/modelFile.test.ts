// Model.load (ngmm/modelFile.ts) over mutated model files. Four small models are fitted here
// and saved; each mutation of a saved file must either be rejected with one
// 'not a valid ngmm model file: …' message, or load a model that predicts what the original
// predicts (observed and new groups, both scales). Rejections leave the kernel heap as it was,
// and a file cannot make the loader allocate more than the numbers it holds.
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as E from '../../engine/index';
import { fit, Model, simulate } from '../../ngmm/index';

type Json = any;

interface Fixture {
  name: string;
  model: Model;
  json: Json;
  /** Rows to predict: X (training rows), their group labels, Z for a model with g(z). */
  X: Float64Array;
  group: string[];
  Z?: Float64Array;
  /**
   * Paths whose numbers are free parameters with no second statement in the file (a network's
   * weights and what feeds it): a finite change there is a different, valid model.
   */
  free: (path: (string | number)[]) => boolean;
  /**
   * Paths where a change of shape that loads (an ensemble member removed, the members
   * reordered) is a different, valid model: it must then save back as the file.
   */
  freeShape?: (path: (string | number)[]) => boolean;
}

const heap = () => E.backend().heap;

function predictions(m: Model, f: Fixture): Float64Array[] {
  const out: Float64Array[] = [];
  // `hasOffset` has no second statement in the file: a mutated `true` only makes predict ask
  // for the offset, and a zero offset then predicts as before.
  const offset = m.hasOffset ? new Float64Array(f.group.length) : undefined;
  for (const type of ['response', 'link'] as const) {
    out.push(m.predict(f.X, { group: f.group, type, offset }));
    out.push(m.predict(f.X, { type, groups: 'new', Z: f.Z, offset }));
  }
  return out;
}

const fixtures: Fixture[] = [];

beforeAll(() => {
  const data = (kind: 'poisson' | 'gaussian' | 'bernoulli', seed: number) => {
    const s = simulate(kind, seed, { groups: 10, perGroup: 6 });
    return { X: s.train.X, xNames: s.xNames, y: s.train.y, group: s.train.group };
  };
  const make = (name: string, d: ReturnType<typeof data> & { Z?: Float64Array; zNames?: string[] }, model: Model, free: Fixture['free']) => {
    const n = 12;
    fixtures.push({
      name, model, json: JSON.parse(JSON.stringify(model)), free,
      ...(model.members.length > 0 ? { freeShape: (p: (string | number)[]) => p[0] === 'members' && p.length <= 2 } : {}),
      X: d.X.slice(0, n * 5), group: d.group.slice(0, n), Z: d.Z?.slice(0, n),
    });
  };
  const none = () => false;
  const pois = data('poisson', 1);
  make('poisson GLMM (σ_b)', pois, fit(pois, { family: 'poisson' }), none);
  const gaus = data('gaussian', 2);
  make('gaussian LMM with a random slope (Λ, σ)', gaus, fit(gaus, { family: 'gaussian', randomSlopes: ['x1'] }), none);
  const bern = data('bernoulli', 3);
  const netFree = (p: (string | number)[]) => p[0] === 'standardise' || (p[0] === 'params' && (p[1] === 'b0' || p[1] === 'W' || (p[1] === 'net' && p[2] === 'params')));
  // A deep ensemble's further members are model files of their own, checked as such and against
  // the first member; removing one (or all) leaves a valid smaller ensemble: free like weights.
  const withMembers = (free: Fixture['free']) => (p: (string | number)[]) => free(p) || (p[0] === 'members' && (p.length <= 2 || free(p.slice(2))));
  // Two members keep the files (and the exhaustive pass over their paths) small.
  make('bernoulli with a network f', bern, fit(bern, { family: 'bernoulli', hidden: [4], seed: 1 }, { epochs: 2, ensemble: 2 }), withMembers(netFree));
  const pz = data('poisson', 4);
  const zOf = (g: string) => (Number(g.slice(1)) % 3) / 2;
  const withZ = { ...pz, Z: Float64Array.from(pz.group, zOf), zNames: ['z'] };
  // With g(z), each group's scale is ‖g(z_i)‖ (z_i is not saved): free as well.
  const gFree = (p: (string | number)[]) => netFree(p) || (p[0] === 'params' && (p[1] === 'gNet' && p[2] === 'params' || p[1] === 'zStandardise')) ||
    (p[0] === 'posterior' && p[2] === 'scale');
  make('poisson with a random-effect network g', withZ, fit(withZ, { family: 'poisson', randomEffect: { covariates: ['z'], hidden: [3] } }, { epochs: 2, ensemble: 2 }), withMembers(gFree));
});

// ---------------------------------------------------------------------------------------------
// Mutations

type Path = (string | number)[];
const clone = (v: Json): Json => JSON.parse(JSON.stringify(v));

function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}
function get(v: Json, p: Path): Json {
  return p.reduce((o, k) => o[k], v);
}

interface Mutation {
  path: Path;
  what: string;
  file: Json;
  /** A finite change of a number (what a free parameter may legitimately take). */
  finiteNumber?: boolean;
  /** A change to one posterior's log-weights (see the tolerance note below). */
  weights?: boolean;
  relabel?: boolean;
}

/** One mutation of `json`: kind k on path p (both indices taken modulo what applies). */
function mutate(json: Json, all: Path[], pi: number, k: number, c: number): Mutation {
  const file = clone(json);
  const structural = [
    // Posterior rules: shift or scale one group's log-weights, swap two groups (labels and
    // rules together: the same model), repeat a label, permute one rule's nodes with weights.
    () => {
      const g = pi % file.posterior.length, shift = [0.5, -3, Math.log(36), 1e-6][k % 4];
      file.posterior[g].logw = file.posterior[g].logw.map((w: number) => w + shift);
      return { path: ['posterior', g, 'logw'], what: `logw + ${shift}`, file };
    },
    () => {
      const g = pi % file.posterior.length;
      file.posterior[g].logw = file.posterior[g].logw.map((w: number) => w * (1 + (k % 3)));
      return { path: ['posterior', g, 'logw'], what: `logw × ${1 + (k % 3)}`, file };
    },
    () => {
      const G = file.levels.length, a = pi % G, b = (pi + 1 + (k % (G - 1))) % G;
      [file.levels[a], file.levels[b]] = [file.levels[b], file.levels[a]];
      [file.posterior[a], file.posterior[b]] = [file.posterior[b], file.posterior[a]];
      return { path: ['levels'], what: `groups ${a} and ${b} swapped with their rules`, file };
    },
    () => {
      const G = file.levels.length, a = pi % G, b = (pi + 1 + (k % (G - 1))) % G;
      file.levels[a] = file.levels[b];
      return { path: ['levels', a], what: `level ${a} repeats level ${b}`, file };
    },
    () => {
      const g = pi % file.posterior.length, post = file.posterior[g], K = post.logw.length, q = post.nodes.length / K;
      const a = k % K, b = (a + 1 + (pi % (K - 1))) % K;
      [post.logw[a], post.logw[b]] = [post.logw[b], post.logw[a]];
      for (let d = 0; d < q; d++) [post.nodes[a * q + d], post.nodes[b * q + d]] = [post.nodes[b * q + d], post.nodes[a * q + d]];
      return { path: ['posterior', g, 'nodes'], what: `nodes ${a} and ${b} swapped with their weights`, file };
    },
  ];
  if (c < 0.15) return { ...structural[k % structural.length](), weights: true };
  const path = all[pi % all.length];
  if (path.length === 0) return { path, what: 'the whole file replaced by []', file: [] };
  const parent = get(file, path.slice(0, -1)), key = path[path.length - 1];
  const v = parent[key as any];
  const set = (x: Json, what: string, extra: Partial<Mutation> = {}): Mutation => {
    parent[key as any] = x;
    return { path, what, file, ...extra };
  };
  const del = (): Mutation => {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
    return { path, what: 'deleted', file };
  };
  const options: (() => Mutation)[] = [del, () => set(null, 'null'), () => set('x', "'x'"), () => set({}, '{}'), () => set([], '[]')];
  if (typeof v === 'number') {
    const finite = [-(Math.abs(v) + 1), v + 1, v - 0.5, 1e300, -1e300];
    options.push(
      ...[NaN, Infinity, -Infinity].map((x) => () => set(x, String(x))),
      ...finite.map((x) => () => set(x, `${x}`, { finiteNumber: true })),
      () => set(String(v), 'the number as a string'),
      () => set(true, 'true'),
    );
  } else if (typeof v === 'string') {
    options.push(() => set('', "''"), () => set('toString', "'toString'"), () => set('__proto__', "'__proto__'"), () => set(1, '1'), () => set(`${v}x`, 'a different string'));
  } else if (typeof v === 'boolean') {
    options.push(() => set(!v, 'negated'), () => set(String(v), 'as a string'));
  } else if (Array.isArray(v) && v.length > 0) {
    options.push(
      () => set(v.slice(0, -1), 'last element dropped'),
      () => set([...v, v[v.length - 1]], 'last element repeated'),
      () => set([...v].reverse(), 'reversed', { finiteNumber: typeof v[0] === 'number' }),
      () => set(v.map(() => 1e9), 'every element 1e9', { finiteNumber: typeof v[0] === 'number' }),
    );
  }
  const m = options[k % options.length]();
  if ((path[0] === 'posterior' && path[2] === 'logw') || (path[0] === 'members' && path[2] === 'posterior' && path[4] === 'logw')) m.weights = true;
  // Group labels are names: a file whose labels are other distinct strings, or the same ones in
  // another order over the same rules, is a valid file about differently named groups, and no
  // check could tell it from the original (nothing else in the file refers to a label).
  if (path[0] === 'levels' || (path.length === 1 && path[0] === 'posterior' && m.what === 'reversed')) m.relabel = true;
  // A member's posteriors permuted is its groups relabelled (its labels must be the first
  // member's, but which posterior a label names has no second statement).
  if (path[0] === 'members' && path.length === 3 && path[2] === 'posterior' && m.what === 'reversed') m.relabel = true;
  return m;
}

// A change to one of a rule's log-weights that keeps log Σ w within the loader's 1e−9 of 0 can
// only have moved that much weight (a tail node's, w_k < 1e−9): it cannot be told from
// rounding, and moves a prediction by at most ~1e−9 of the spread of the rule's values. Every
// other accepted change must leave the predictions bitwise equal.
const WEIGHT_TOL = 1e-8;

function check(f: Fixture, m: Mutation, expected: Float64Array[]): void {
  const label = `${f.name}: ${m.path.join('.')} ${m.what}`;
  let loaded: Model;
  try {
    loaded = Model.load(m.file);
  } catch (e) {
    expect(e, label).toBeInstanceOf(Error);
    const msg = (e as Error).message;
    expect(msg, label).toMatch(/^not a valid ngmm model file: \S/);
    expect(msg, label).not.toMatch(/Cannot read|is not a function|is not iterable|Maximum call stack|out of kernel memory|\n\s+at /);
    return;
  }
  try {
    if ((m.finiteNumber && f.free(m.path)) || m.relabel || f.freeShape?.(m.path)) {
      // A different model, and the one the file describes: it saves back as the file.
      expect(JSON.stringify(loaded), label).toBe(JSON.stringify(m.file));
      return;
    }
    const got = predictions(loaded, f);
    got.forEach((g, i) => {
      if (m.weights) {
        g.forEach((v, r) => expect(Math.abs(v - expected[i][r]), `${label} [${i}][${r}]`).toBeLessThanOrEqual(WEIGHT_TOL * Math.max(1, Math.abs(expected[i][r]))));
      } else expect(Array.from(g), label).toEqual(Array.from(expected[i]));
    });
  } finally {
    loaded.dispose();
  }
}

describe('Model.load over mutated model files', () => {
  it('the unmutated files load and predict bitwise as the fitted models do', () => {
    expect(fixtures).toHaveLength(4);
    for (const f of fixtures) {
      const back = Model.load(clone(f.json));
      const want = predictions(f.model, f), got = predictions(back, f);
      got.forEach((g, i) => expect(Array.from(g), f.name).toEqual(Array.from(want[i])));
      expect(JSON.stringify(back)).toBe(JSON.stringify(f.json));
      back.dispose();
    }
  });

  it('each mutation is rejected with one clear message, or loads a model that predicts the same', () => {
    for (const f of fixtures) {
      const all = paths(f.json);
      const expected = predictions(f.model, f);
      fc.assert(fc.property(fc.nat(), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), (pi, k, c) => {
        check(f, mutate(f.json, all, pi, k, c), expected);
      }), { numRuns: 400, seed: 12 });
    }
  });

  it('every path of every file, every applicable mutation (exhaustive over kinds at a sample of paths)', () => {
    for (const f of fixtures) {
      const all = paths(f.json);
      const expected = predictions(f.model, f);
      // Outside the posterior every path; inside it, the first group's.
      const chosen = all.map((p, i) => [p, i] as const).filter(([p]) => p[0] !== 'posterior' || p[1] === 0 || p.length === 1);
      for (const [, i] of chosen) for (let k = 0; k < 14; k++) check(f, mutate(f.json, all, i, k, 1), expected);
    }
  });
});

describe('Model.load: what each check catches', () => {
  const pois = () => fixtures[0];
  const load = (edit: (j: Json) => void, f = pois()) => {
    const j = clone(f.json);
    edit(j);
    return () => Model.load(j).dispose();
  };

  it('unnormalised posterior weights (the 243-for-6.7 defect)', () => {
    const f = pois(), j = clone(f.json);
    j.posterior[0].logw = j.posterior[0].logw.map((w: number) => w + Math.log(36));
    expect(() => Model.load(j)).toThrow(/^not a valid ngmm model file: 'posterior\[0\].logw' is not normalised \(log Σ exp = 3.58352, not 0\)$/);
  });

  it('a rule whose mean, SD or nodes disagree with it', () => {
    expect(load((j) => (j.posterior[1].mean += 0.01))).toThrow(/'posterior\[1\].mean' .* is not the mean of its rule/);
    expect(load((j) => (j.posterior[1].sd *= 1.01))).toThrow(/'posterior\[1\].sd' .* is not the SD of its rule/);
    expect(load((j) => (j.posterior[2].nodes[3] += 1e-3))).toThrow(/'posterior\[2\].nodes\[3\]' is not where the adaptive Gauss–Hermite rule puts it/);
    expect(load((j) => (j.posterior[2].nodes = j.posterior[2].nodes.map((t: number) => -t)))).toThrow(/'posterior\[2\].nodes' are not an adaptive Gauss–Hermite rule/);
    // Random slopes: the node of coordinate 2 moved along coordinate 1 breaks the triangle.
    const slopes = fixtures[1];
    expect(load((j) => (j.posterior[0].nodes[2 * 12 + 1] += 0.5), slopes)).toThrow(/'posterior\[0\].nodes\[25\]' is not where/);
  });

  it('a group scale that is not σ_b, a parameter the summary does not match', () => {
    expect(load((j) => (j.posterior[0].scale *= 1.5))).toThrow(/'posterior\[0\].scale' .* is not σ_b = softplus\(params.thetaB\)/);
    // (W enters the intercept on the original scale, the first coefficient checked.)
    expect(load((j) => (j.params.W[2] += 0.1))).toThrow(/'summary.fixef.\(Intercept\).estimate' is .* but the parameters give/);
    expect(load((j) => (j.summary.fixef.x3.estimate *= 1.001))).toThrow(/'summary.fixef.x3.estimate' is .* but the parameters give/);
    expect(load((j) => (j.standardise.mean[0] += 0.1))).toThrow(/'summary.fixef.\(Intercept\).estimate'/);
    expect(load((j) => (j.params.thetaSigma += 0.1), fixtures[1])).toThrow(/'summary.sigma' is .* but the parameters give/);
    expect(load((j) => (j.params.thetaL[1] += 0.1), fixtures[1])).toThrow(/'summary.ranefCov.sd\[0\]' is .* but the parameters give/);
    // Without a stored summary the same numbers are a valid (different) model.
    expect(load((j) => {
      j.params.W[2] += 0.1;
      j.summary = null;
    })).not.toThrow();
  });

  it('labels, names, sizes and types', () => {
    expect(load((j) => (j.levels[3] = j.levels[1]))).toThrow(/^not a valid ngmm model file: 'levels\[3\]' repeats "g1"$/);
    expect(load((j) => (j.levels[3] = 7))).toThrow(/'levels\[3\]' must be a string, not 7/);
    expect(load((j) => (j.standardise.sd[1] = 0))).toThrow(/'standardise.sd\[1\]' must be positive, not 0/);
    expect(load((j) => (j.params.W[0] = null))).toThrow(/'params.W\[0\]' must be a finite number, not null/);
    expect(load((j) => (j.spec.activation = 'toString'))).toThrow(/'spec.activation': unknown activation "toString"/);
    expect(load((j) => (j.spec.family = 'toString'))).toThrow(/^not a valid ngmm model file: 'spec.family': unknown family "toString" \(have: .*poisson.*\)$/);
    expect(load((j) => (j.spec.link = 'constructor'))).toThrow(/^not a valid ngmm model file: 'spec.link': the poisson family has no link "constructor" \(have: [^)]*\blog\b[^)]*\)$/);
    expect(load((j) => (j.spec.randomSlopes = ['nope']))).toThrow(/'spec.randomSlopes\[0\]': "nope" is not one of 'xNames'/);
    expect(load((j) => (j.fit.epochs = 1.5))).toThrow(/'fit.epochs' must be an integer/);
    expect(load((j) => (j.fit.nobs = 3))).toThrow(/'fit.nobs' must be an integer from 8 to/);
    expect(load((j) => (j.params.thetaSigma = 1))).toThrow(/'params.thetaSigma' is given but the poisson family has no dispersion/);
  });

  it('design level names are kept as data, never as object keys with meaning', () => {
    const f = pois(), j = clone(f.json);
    j.design = { formula: 'y ~ x1 + (1 | g)', xNames: j.xNames, levels: JSON.parse('{"__proto__": ["a", "b"], "constructor": ["c"]}') };
    const m = Model.load(j);
    expect(Object.keys(m.design!.levels)).toEqual(['__proto__', 'constructor']);
    expect(m.design!.levels['__proto__']).toEqual(['a', 'b']);
    m.dispose();
  });
});

describe('Model.load: cost and memory', () => {
  it('sizes are checked against the numbers in the file before anything is allocated', () => {
    const f = fixtures[2];
    const h = heap(), top = h.highWater, cap = h.capacity;
    const cases: [(j: Json) => void, RegExp][] = [
      // The defect: a small file declaring two 15000-unit layers (2.25·10⁸ weights).
      [(j) => (j.spec.hidden = [15000, 15000]), /'params.net.sizes' \[5, 4, 1\] do not match the spec's layers \[5, 15000, 15000, 1\]/],
      [(j) => {
        j.spec.hidden = [15000, 15000];
        j.params.net.sizes = [5, 15000, 15000, 1];
        j.params.net.params = [[], [], [], [], [], []];
      }, /'params.net.params\[0\]' has 0 numbers where 75000 are needed/],
      [(j) => (j.spec.hidden = [1e300]), /'spec.hidden\[0\]' must be an integer from 1 to 1048576/],
      [(j) => (j.params.net = null), /'params.net' must be an object, not null/],
      [(j) => (j.spec.randomEffect = { covariates: ['x1'], hidden: [50000], outDim: 50000 }), /'params.gNet' must be an object/],
    ];
    const alloc = vi.spyOn(h, 'alloc');
    try {
      for (const [edit, msg] of cases) {
        const j = clone(f.json);
        edit(j);
        expect(() => Model.load(j)).toThrow(msg);
      }
      // Not one block of kernel memory was asked for, and the heap neither grew nor reached higher.
      expect(alloc).not.toHaveBeenCalled();
    } finally {
      alloc.mockRestore();
    }
    expect(h.highWater).toBe(top);
    expect(h.capacity).toBe(cap);
  });

  it('10⁴ rejected loads leave kernel memory where it was', () => {
    // Files rejected after the model's tensors exist (by the summary check, the last one) and
    // before; the network model has the most tensors to leak.
    const files: Json[] = [];
    for (const f of fixtures) {
      const a = clone(f.json);
      a.summary.ranefNetwork = !a.summary.ranefNetwork;
      const b = clone(f.json);
      b.summary.family = 'other';
      const c = clone(f.json);
      c.posterior[0].logw[0] = NaN;
      files.push(a, b, c);
    }
    for (const file of files) expect(() => Model.load(file)).toThrow(/^not a valid ngmm model file/);
    const h = heap(), inUse = h.inUse, cap = h.capacity;
    let rejected = 0;
    for (let i = 0; i < 1e4; i++) {
      try {
        Model.load(files[i % files.length]);
      } catch {
        rejected++;
      }
    }
    expect(rejected).toBe(1e4);
    expect(h.inUse).toBe(inUse);
    expect(h.capacity).toBe(cap);
  });
});

