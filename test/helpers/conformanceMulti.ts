// The several-term conformance fixtures (test/fixtures/conformance-multi/, written by
// scripts/conformance/multi.R): their JSON layout, and the list of them in file order.
import { readFixtures, type FixtureBase, type ReferenceBase } from './conformanceFixtures';

export interface Term {
  /** The grouping factor: a CSV column, or columns joined by ':' (an interaction). */
  group: string;
  columns: string[];
  levels: number;
  sd: number[];
  /** The correlations, row by row of the upper triangle; null for a single column. */
  corr: number[] | null;
  /** The groups of other terms whose factor this term's factor is nested in. */
  nestedIn: string[];
}

export interface ExactFit {
  method: string;
  logLik: number;
  fixef: Record<string, number>;
  sd: number[];
  dispersion: number | null;
  gradientMaxAbs: number;
  /** max |g_i · scale_i|, scale = glmmTMB's SEs for β and 0.1 for the log SDs and log θ. */
  gradientScaledMaxAbs: number;
  gradientEvaluations: number;
  minusLaplaceLogLik: number;
}

export interface Reference extends ReferenceBase {
  ranefSD: null;
  ranefCov: null;
  ngroups: number[];
  terms: Term[];
  exactFit?: ExactFit | null;
  messages: string[];
  rSeconds: number;
  versions: Record<string, string>;
  checks: Record<string, number | string[]>;
}

export interface Fixture extends FixtureBase {
  link: string;
  weights: null;
  structure: string;
  comparison: 'exact' | 'laplace' | 'nestedExact';
  reference: Reference;
  tolerances: Record<string, number | null>;
}

export const multiDir = new URL('../fixtures/conformance-multi/', import.meta.url);
export const { files: multiFiles, fixtures: multiFixtures } = readFixtures<Fixture>(multiDir);
