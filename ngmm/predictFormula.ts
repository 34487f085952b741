// predictTable(model, table, options): a fitted model's predictions for the rows of a table, as
// lme4's predict(fit, newdata, allow.new.levels = TRUE). The model's formula and design read the
// table (the levels and kept columns of the fit, so new data is coded the same way); each row is
// predicted with its group's posterior where the group was in the training data and with the
// prior where it was not (a new group); with several terms each term's level is looked up on its
// own, so a row may combine a seen level of one term with a new level of another. The CLI's
// predict and eval and the web page's held-out rows all go through it.
import { parseFormula, type Formula } from './formula';
import { covariateColumns, modelFrame, type Frame, type Table } from './frame';
import type { Model } from './model';
import type { TermRows, TermsEffect } from './terms/multi';

export interface TablePredictOptions {
  /** The table rows to predict (0-based, each once), default all. */
  rows?: ArrayLike<number>;
  /** 'response' (default): E[y]; 'link': E[η]. */
  type?: 'response' | 'link';
  /**
   * Read the response and the prior weights too (to score the predictions): a row with a
   * missing value is then dropped, as na.omit, and listed in `frame.dropped`. Without it the
   * response is not read and a missing value in a column the formula uses is an error.
   */
  response?: boolean;
  /** The table's name in messages. */
  source?: string;
}

export interface TablePrediction {
  /**
   * The table as the model reads it: `frame.rows` is the table row of each prediction, `frame.y`
   * the response (with `response`), `frame.dropped` the rows left out for missing values.
   */
  frame: Frame;
  prediction: Float64Array;
  /**
   * A deep ensemble's spread per row (the SD of its members' predictions; Model.predictEnsemble
   * says what it is and is not), or null for a single model.
   */
  spread: Float64Array | null;
  /**
   * Each row's group: with one grouping factor its label, with several terms the level of the
   * model's first term (the term the model's `levels` and summary name first).
   */
  group: string[];
  /** Whether each row's group (as in `group`) was in the training data. */
  seen: boolean[];
  /** With several terms: per model term, whether each row's level of that term was seen. */
  termsSeen?: boolean[][];
  formula: Formula;
}

/** Predicts the rows of a table with a model fitted from a formula (see the file's head). */
export function predictTable(model: Model, table: Table, o: TablePredictOptions = {}): TablePrediction {
  const source = o.source ?? 'data';
  const type = o.type ?? 'response';
  if (!model.design) throw new Error(`${source}: the model was fitted from arrays, not from a formula, so it cannot read a table`);
  const formula = parseFormula(model.design.formula);
  const frame = modelFrame(formula, table, source, model.design, o.response ?? false, o.rows ? { rows: o.rows } : {});
  return model.random.kind === 'terms' ? byTerms(model, model.random, frame, formula, type) : byGroup(model, table, frame, formula, type, source);
}

// One grouping factor: the rows of training groups through their posteriors, the others
// through the prior (with the random-effect network's covariates where the model has g(z)).
function byGroup(model: Model, table: Table, frame: Frame, formula: Formula, type: 'response' | 'link', source: string): TablePrediction {
  const known = new Set(model.levels);
  const seen = frame.group.map((g) => known.has(g));
  const re = model.spec.randomEffect;
  // Covariates are read for the rows predicted only, and only when some group is new.
  const Z = re && seen.some((s) => !s) ? covariateColumns(table, re.covariates, source, frame.rows) : null;
  const d = re ? re.covariates.length : 0;
  const p = frame.xNames.length;
  const prediction = new Float64Array(seen.length);
  const spread = model.members.length > 0 ? new Float64Array(seen.length) : null;
  for (const isSeen of [true, false]) {
    const idx = seen.flatMap((s, i) => (s === isSeen ? [i] : []));
    if (idx.length === 0) continue;
    const X = new Float64Array(idx.length * p);
    idx.forEach((r, k) => X.set(frame.X.subarray(r * p, r * p + p), k * p));
    const Zs = Z ? Float64Array.from({ length: idx.length * d }, (_, k) => Z[idx[Math.floor(k / d)] * d + (k % d)]) : undefined;
    // The formula's offset() terms of these rows (Model.predict adds them to η).
    const offset = frame.offset ? Float64Array.from(idx, (r) => frame.offset![r]) : undefined;
    const pred = model.predictEnsemble(X, { type, groups: isSeen ? 'observed' : 'new', group: idx.map((r) => frame.group[r]), Z: Zs, ...(offset ? { offset } : {}) });
    idx.forEach((r, k) => {
      prediction[r] = pred.fit[k];
      if (spread) spread[r] = pred.spread![k];
    });
  }
  return { frame, prediction, spread, group: frame.group, seen, formula };
}

// Several terms: each model term matched with the table's by grouping factor and columns (the
// frame orders terms by their level counts, which may differ in this table from the fit's).
function byTerms(model: Model, random: TermsEffect, frame: Frame, formula: Formula, type: 'response' | 'link'): TablePrediction {
  const key = (name: string, columns: readonly string[]) => `${name}|${columns.join(',')}`;
  const byKey = new Map((frame.terms ?? []).map((t) => [key(t.name, t.columns), t]));
  const state = random.state;
  const rows: TermRows[] = [];
  const termsSeen: boolean[][] = [];
  random.terms.forEach((t, k) => {
    const ft = byKey.get(key(t.name, t.columns));
    if (!ft) throw new Error(`${formula.text}: the file gives no random-effect term '${t.name}' with the columns ${t.columns.join(', ')}`);
    const levels = Array.from(ft.group, (g) => ft.levels[g]);
    const known = new Set(state[k].levels);
    rows.push({ levels, Z: ft.Z });
    termsSeen.push(levels.map((l) => known.has(l)));
  });
  const prediction = model.predict(frame.X, { type, terms: rows, ...(frame.offset ? { offset: frame.offset } : {}) });
  return { spread: null,  frame, prediction, group: Array.from(rows[0].levels), seen: termsSeen[0], termsSeen, formula };
}
