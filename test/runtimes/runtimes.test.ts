// The runtime matrix: the built bundle fits and predicts the same small case (fixtures/
// case.mjs) in Node (in this process), Deno, Bun, workerd and Chromium (the demo page, fitting
// in its Web Worker), and every runtime's numbers agree with Node's to 1e−12 relative.
// workerd agrees bit for bit (same V8 fdlibm port; Adam's β^t is a running product, not
// Math.pow, on which they differ). The others do not: the JavaScript around the (deterministic)
// WASM kernels calls the host's Math.exp, log, sin, log1p and expm1, which differ in the last
// bit for a few percent of arguments between Node 20's V8, Deno's, and Chromium's and Bun's
// (glibc's values); the fit carries those differences to about 2e−13 (README: Runtimes).
// Bit-identical results everywhere would need the library's own exp, log, sin in JavaScript.
// The runtimes are launched together: the whole file takes a few seconds of wall time.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeDifference, type CaseNumbers } from './compare';
import { runBun, runDeno, runWorkerd, type WorkerdAnswers } from './launch';
import { runPage, type PageAnswers } from './page';

const TOLERANCE = 1e-12;
// The several-terms models (Laplace, nested quadrature) evaluate every observation's exp and log
// in JavaScript (ngmm/marginal/laplace.ts and the nested mode search), not in the WASM kernels,
// so each objective evaluation — not only the glue around the kernels — carries the hosts'
// last-bit differences: the GLMMs agree to 1e−11 (measured ≤ 2e−12). The NGMMs start Adam at the
// converged GLMM, where the linear part's gradients are below L-BFGS's tolerance (≈ 1e−7) while
// their rounding is ≈ 1e−13 absolute: Adam's first step normalises each gradient by its own size,
// so that rounding becomes ≈ 1e−6 relative in the step (measured 6.9e−7 after three epochs),
// bounded here by 1e−5. The one-factor case computes its objective in the kernels and keeps 1e−12.
const TERMS_TOLERANCE = 1e-11;
const TERMS_NEURAL_TOLERANCE = 1e-5;

let node: CaseNumbers;
const pending: Record<string, Promise<CaseNumbers>> = {};
let workerd: Promise<WorkerdAnswers>;
let chromium: Promise<PageAnswers>;

beforeAll(async () => {
  // Start the other runtimes first, so they run while Node computes the reference.
  pending.deno = runDeno();
  pending.bun = runBun();
  workerd = runWorkerd();
  pending.workerd = workerd.then((w) => w.numbers);
  const { runCase, CASE } = await import(pathToFileURL(resolve('test/runtimes/fixtures/case.mjs')).href);
  chromium = runPage(CASE, mkdtempSync(join(tmpdir(), 'ngmm-page-')));
  pending.chromium = chromium.then((c) => c.numbers);
  for (const p of Object.values(pending)) p.catch(() => {}); // reported by each test, not here
  const lib = await import(pathToFileURL(resolve('dist/ngmm.js')).href);
  lib.initSync();
  node = runCase(lib);
});

describe('the same fit in every runtime', () => {
  it('Node (the reference) fits the case with the SIMD kernels', () => {
    expect(node.backend).toBe('wasm-simd');
    expect(node.loss).toHaveLength(8); // two ensemble members × four epochs
    expect(node.observed).toHaveLength(64);
    expect(node.fresh).toHaveLength(80);
    expect(node.ranefMean).toHaveLength(32);
    // Two models × (logLik, 4 predictions, their levels' modes, 4 predictions after a JSON round
    // trip, which must equal the fitted model's), as GLMM and as NGMM.
    for (const t of [node.terms, node.termsNeural]) {
      expect(t).toHaveLength(2 * 9 + 11 + 18);
      for (const [at, m] of [[0, 11], [20, 18]]) expect(t.slice(at + 5 + m, at + 9 + m)).toEqual(t.slice(at + 1, at + 5));
    }
    for (const v of [...node.loss, ...node.observed, ...node.fresh, ...node.ranefSd]) expect(v).toBeGreaterThan(0);
  });

  it.each(['deno', 'bun', 'workerd', 'chromium'])('%s agrees with Node to 1e-12 relative (several-term GLMMs 1e-11, NGMMs 1e-5)', async (name) => {
    const got = await pending[name];
    expect(got.backend).toBe('wasm-simd');
    const d = maxRelativeDifference({ ...node, terms: [], termsNeural: [] }, { ...got, terms: [], termsNeural: [] });
    expect(d.rel, `${name} vs Node, worst at ${d.where}`).toBeLessThanOrEqual(TOLERANCE);
    const t = maxRelativeDifference({ ...node, termsNeural: [] }, { ...got, termsNeural: [] });
    expect(t.rel, `${name} vs Node, several-term GLMMs, worst at ${t.where}`).toBeLessThanOrEqual(TERMS_TOLERANCE);
    const nn = maxRelativeDifference(node, got);
    expect(nn.rel, `${name} vs Node, several-term NGMMs, worst at ${nn.where}`).toBeLessThanOrEqual(TERMS_NEURAL_TOLERANCE);
    // workerd runs V8's own Math like Node: there the numbers are the same bits.
    if (name === 'workerd') expect(nn.rel, `workerd vs Node, worst at ${nn.where}`).toBe(0);
  });

  it('Chromium: the demo page fits in its worker, draws the live loss, predictions, effects and plotModel\'s panels, and cancels', async () => {
    const page = await chromium;
    expect(page.errors).toEqual([]);
    expect(page.status).toMatch(/^Done in .* on wasm-simd: ran 4 epochs of Adam.*a deep ensemble of 2 networks/);
    // The chart shows the last member's epochs.
    expect(page.lossPoints).toBe(4);
    // Partial dependence on x1…x5, the caterpillar, observed against predicted; a band per covariate.
    expect(page.plotPanels).toBe(7);
    expect(page.plotBands).toBe(5);
    expect(page.scatterPoints).toBe(node.observed.length + node.fresh.length);
    expect(page.effectIntervals).toBe(node.ranefMean.length);
    expect(page.cancelState, page.cancelStatus).toBe('cancelled');
    // The cancel lands in the first member's epochs or, when that one stopped early first, in a later member's.
    expect(page.cancelStatus).toMatch(/^Cancelled .*(aborted at epoch \d+|aborted while training member \d+ of 64)/);
  });

  it('Chromium: a CSV dropped on the page fits with a formula; a formula naming no column says so', async () => {
    const { csv } = await chromium;
    expect(csv.state, csv.status).toBe('done');
    expect(csv.status).toMatch(/ran 3 epochs/);
    expect(csv.heldOut).toBe(csv.expectedHeldOut);
    // x1, x2 (kind is a factor), the caterpillar, observed against predicted.
    expect(csv.plotPanels).toBe(4);
    expect(csv.badState).toBe('error');
    expect(csv.badStatus).toMatch(/no column 'nope' in schools\.csv/);
  });

  it('Chromium: a fitting worker trains on 2 worker threads on its shared memory, with the same bits as on 1', async () => {
    const { threads } = await chromium;
    expect(threads.isolated).toBe(true);
    expect(threads.warnings).toEqual([]);
    expect(threads.threads).toEqual([1, 2]);
    expect(threads.two).toBe(threads.one);
    expect(JSON.parse(threads.one).logLik).toBeLessThan(0);
  });

  it('workerd refuses to compile from bytes, and the error says to pass a precompiled module', async () => {
    const { fromBytes } = await workerd;
    expect(fromBytes.status).toBe(500);
    expect(fromBytes.text).toMatch(/disallowed by embedder/);
    expect(fromBytes.text).toMatch(/initSync\(\{ module \}\)/);
  });
});
