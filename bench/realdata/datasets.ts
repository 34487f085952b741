// The six real data sets of the comparison (issue 14), exported from Debian's R packages by
// scripts/realdata/export.R to bench/realdata/data/<name>.csv (columns: group, y, covariates).
// Two per response family; each grouping factor has ≥ 59 levels (the largest available in
// those packages for that kind of response; bench/realdata/README.md says why each).
import type { RFamily } from './types';

export interface RealDataset {
  readonly name: string;
  readonly family: RFamily;
  /** What a row is and what the group is, for the table and figure. */
  readonly label: string;
  readonly group: string;
  /** Its plural, for the table. */
  readonly groups: string;
  /** Model the log of the response (then standardised), as the paper does with a price. */
  readonly logResponse: boolean;
  /** R package and object, for the README and the results file. */
  readonly source: string;
}

export const DATASETS: readonly RealDataset[] = [
  { name: 'chem97', family: 'gaussian', label: 'A-level chemistry score', group: 'school', groups: 'schools', logResponse: false, source: 'mlmRev::Chem97' },
  { name: 'psid', family: 'gaussian', label: 'log wage', group: 'worker', groups: 'workers', logResponse: true, source: 'AER::PSID7682' },
  { name: 'grouseticks', family: 'poisson', label: 'ticks on a chick', group: 'brood', groups: 'broods', logResponse: false, source: 'lme4::grouseticks' },
  { name: 'epil', family: 'poisson', label: 'seizures in two weeks', group: 'patient', groups: 'patients', logResponse: false, source: 'MASS::epil' },
  { name: 'verbagg', family: 'bernoulli', label: 'verbally aggressive reaction', group: 'respondent', groups: 'respondents', logResponse: false, source: 'lme4::VerbAgg' },
  { name: 'guimmun', family: 'bernoulli', label: 'child fully immunised', group: 'community', groups: 'communities', logResponse: false, source: 'mlmRev::guImmun' },
];
