// Family lookup by name and link, with the canonical (or, where it is not offered, the
// conventional) link as default. Names come from users (CLI flags, model files): the tables are
// Maps, so 'toString', 'constructor' or '__proto__' are unknown names, not Object.prototype's.
import { bernoulli, binomial } from './binomial';
import type { Family, FamilyName, LinkName } from './family';
import { gammaLog } from './gamma';
import { gaussianIdentity, gaussianLog } from './gaussian';
import { negbinomialLog } from './negbinomial';
import { poissonLog, poissonSqrt } from './poisson';

const table = new Map<FamilyName, Map<LinkName, Family>>([
  ['gaussian', new Map([['identity', gaussianIdentity], ['log', gaussianLog]])],
  ['bernoulli', new Map(Object.entries(bernoulli) as [LinkName, Family][])],
  ['binomial', new Map(Object.entries(binomial) as [LinkName, Family][])],
  ['poisson', new Map([['log', poissonLog], ['sqrt', poissonSqrt]])],
  ['negbinomial', new Map([['log', negbinomialLog]])],
  ['gamma', new Map([['log', gammaLog]])],
]);

// The default link. Gamma's canonical link is the inverse (R's Gamma() default), which we do
// not offer; log is glmmTMB users' usual choice for Gamma and the only one here.
const canonical = new Map<FamilyName, LinkName>([
  ['gaussian', 'identity'],
  ['bernoulli', 'logit'],
  ['binomial', 'logit'],
  ['poisson', 'log'],
  ['negbinomial', 'log'],
  ['gamma', 'log'],
]);

/** Other spellings users bring from R: glmmTMB's `nbinom2`, R's `Gamma`. */
const aliases = new Map<string, FamilyName>([['nbinom2', 'negbinomial'], ['Gamma', 'gamma']]);

/** Every family with every link, as `name/link`. */
export function allFamilies(): [string, Family][] {
  return [...table].flatMap(([name, links]) => [...links].map(([link, f]) => [`${name}/${link}`, f] as [string, Family]));
}

/** The family's canonical name for a name or alias, or null when there is none. */
export function familyName(name: string): FamilyName | null {
  if (table.has(name as FamilyName)) return name as FamilyName;
  return aliases.get(name) ?? null;
}

export function family(name: FamilyName, link?: LinkName): Family {
  const key = familyName(String(name));
  const links = key === null ? undefined : table.get(key);
  if (key === null || !links) throw new Error(`unknown family '${String(name)}' (have: ${[...table.keys()].join(', ')})`);
  const l = link ?? canonical.get(key)!;
  const f = links.get(String(l) as LinkName);
  if (!f) throw new Error(`family '${key}' has no '${String(l)}' link (have: ${[...links.keys()].join(', ')})`);
  return f;
}

export * from './family';
export { bernoulli, binomial } from './binomial';
export { gammaLog } from './gamma';
export { gaussianIdentity, gaussianLog } from './gaussian';
export { negbinomialLog } from './negbinomial';
export { poissonLog, poissonSqrt } from './poisson';
