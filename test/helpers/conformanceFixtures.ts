// What every conformance fixture (test/fixtures/conformance*/, written by scripts/conformance/)
// has in common: the data set, the model asked for, and the reference fit's common numbers;
// each suite's fixtures add their own (one grouping factor: test/ngmm/conformance.test.ts;
// several terms: test/helpers/conformanceMulti.ts).
import { readFileSync, readdirSync } from 'node:fs';

export interface ReferenceBase {
  method: string;
  logLik: number;
  fixef: Record<string, number>;
  se: Record<string, number>;
  sigma: number | null;
  dispersion: number | null;
  nobs: number;
  nrowsCsv: number;
  /** 1-based data rows na.omit dropped. */
  droppedRows: number[];
  droppedColumns: string[];
}

export interface FixtureBase {
  name: string;
  dataset: string;
  source: string;
  csv: string;
  formula: string;
  /** R's family name: bernoulli (a binary binomial), binomial, poisson, gaussian, nbinom2, Gamma. */
  family: string;
  reml: boolean;
  features: string[];
}

/** The JSON fixtures of a directory, in file-name order. */
export function readFixtures<T extends FixtureBase>(dir: URL): { files: string[]; fixtures: T[] } {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return { files, fixtures: files.map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T) };
}
