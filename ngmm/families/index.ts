// Family lookup by name and link, with the canonical link as default.
import { bernoulli, binomial } from './binomial';
import type { Family, FamilyName, LinkName } from './family';
import { gaussianIdentity, gaussianLog } from './gaussian';
import { poissonLog, poissonSqrt } from './poisson';

const table: Record<FamilyName, Partial<Record<LinkName, Family>>> = {
  gaussian: { identity: gaussianIdentity, log: gaussianLog },
  bernoulli: { ...bernoulli },
  binomial: { ...binomial },
  poisson: { log: poissonLog, sqrt: poissonSqrt },
};

const canonical: Record<FamilyName, LinkName> = {
  gaussian: 'identity',
  bernoulli: 'logit',
  binomial: 'logit',
  poisson: 'log',
};

/** Every family with every link, as `name/link`. */
export function allFamilies(): [string, Family][] {
  return Object.entries(table).flatMap(([name, links]) =>
    Object.entries(links).map(([link, f]) => [`${name}/${link}`, f!] as [string, Family]));
}

export function family(name: FamilyName, link?: LinkName): Family {
  const links = table[name];
  if (!links) throw new Error(`unknown family '${name}' (have: ${Object.keys(table).join(', ')})`);
  const l = link ?? canonical[name];
  const f = links[l];
  if (!f) throw new Error(`family '${name}' has no '${l}' link (have: ${Object.keys(links).join(', ')})`);
  return f;
}

export * from './family';
export { bernoulli, binomial } from './binomial';
export { gaussianIdentity, gaussianLog } from './gaussian';
export { poissonLog, poissonSqrt } from './poisson';
