// Drives the demo page in Chromium the way a person would: fills the controls with the
// shared case, presses Fit, waits for the worker's result, reads the numbers and the chart
// from the DOM and takes a screenshot; then starts a long fit and cancels it; then drops a CSV
// (through the file input) and fits it with a formula, and with a formula naming no column; then
// fits one case in a fitting worker on 1 and on 2 worker threads.
import { copyFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { simulate } from '../../ngmm/simulate';
import { buildWeb } from '../../web/tools/build';
import { launchChromium } from '../../web/tools/chromium';
import { serveStatic } from '../../web/tools/server';
import type { CaseNumbers } from './compare';

export interface Case {
  family: string;
  dataSeed: number;
  groups: number;
  perGroup: number;
  spec: { hidden: number[]; activation: string };
  options: { epochs: number; batchSize: number; lr: number; validation: number; ensemble: number };
  seed: number;
}

export interface PageAnswers {
  numbers: CaseNumbers;
  status: string;
  /** Points drawn on the training-loss line, and scatter points drawn. */
  lossPoints: number;
  scatterPoints: number;
  effectIntervals: number;
  /** Panels of the worker's plotModel SVG, and its ensemble bands. */
  plotPanels: number;
  plotBands: number;
  errors: string[];
  cancelStatus: string;
  cancelState: string;
  screenshot: string;
  csv: { expectedHeldOut: number; heldOut: number; plotPanels: number; status: string; state: string; badStatus: string; badState: string };
  /** One fit in a fitting worker on 1 and on 2 threads (worker threads started by that worker). */
  threads: { isolated: boolean; threads: number[]; one: string; two: string; warnings: string[] };
}

/** A CSV of simulated Bernoulli data with a text column (one-hot coded by the formula). */
function schoolsCsv(): { text: string; rows: number; heldOut: number } {
  const d = simulate('bernoulli', 3, { groups: 30, perGroup: 12 });
  const lines = ['school,x1,x2,kind,y'];
  for (const s of [d.train, d.observed, d.fresh]) {
    for (let i = 0; i < s.y.length; i++) lines.push(`${s.group[i]},${s.X[i * 5]},${s.X[i * 5 + 1]},${i % 3 ? 'a' : 'b'},${s.y[i]}`);
  }
  // The page holds out the last 20 % of groups whole and the last 20 % of each other group's rows.
  return { text: lines.join('\n'), rows: lines.length - 1, heldOut: 6 * 12 + 24 * 2 };
}

export async function runPage(c: Case, outdir: string): Promise<PageAnswers> {
  const dir = await buildWeb(resolve(outdir, 'site'));
  // The several-terms part of the case runs on the page's own thread from the package bundle.
  copyFileSync(resolve('dist/ngmm.js'), resolve(dir, 'ngmm.js'));
  // (as .js: the static server gives .js files their JavaScript type, which a module import needs)
  copyFileSync(resolve('test/runtimes/fixtures/case.mjs'), resolve(dir, 'case.js'));
  const site = await serveStatic(dir);
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(site.url);
    const fill = async (fields: Record<string, string | number>) => {
      for (const [id, v] of Object.entries(fields)) {
        const tag = await page.locator(`#${id}`).evaluate((n) => n.tagName);
        if (tag === 'SELECT') await page.selectOption(`#${id}`, String(v));
        else await page.fill(`#${id}`, String(v));
      }
    };
    await fill({
      family: c.family, source: 'simulated', groups: c.groups, 'per-group': c.perGroup, 'data-seed': c.dataSeed,
      hidden: c.spec.hidden.join(','), activation: c.spec.activation, epochs: c.options.epochs, lr: c.options.lr,
      batch: c.options.batchSize, validation: c.options.validation, ensemble: c.options.ensemble, seed: c.seed,
    });
    await page.click('#fit');
    await page.waitForSelector('#status:is([data-state="done"], [data-state="error"])', { timeout: 60_000 });
    const status = (await page.textContent('#status')) ?? '';
    const json = (await page.textContent('#result-json')) ?? '';
    const numbers = json ? (JSON.parse(json) as CaseNumbers) : ({} as CaseNumbers);
    const terms = (await page.evaluate(`(async () => {
      const lib = await import('/ngmm.js');
      await lib.init();
      const c = await import('/case.js');
      return c.termsNumbers(lib);
    })()`)) as { linear: number[]; neural: number[] };
    numbers.terms = terms.linear;
    numbers.termsNeural = terms.neural;
    const lossPoints = await page.locator('#loss-chart circle.train').count();
    const scatterPoints = await page.locator('#pred-chart circle.point').count();
    const effectIntervals = await page.locator('#effects-chart line.interval').count();
    // The worker's plotModel drawing (the same SVG as `ngmm plot`): its panels.
    const plotPanels = await page.locator('#plot-svg svg .panel').count();
    const plotBands = await page.locator('#plot-svg svg path.band').count();
    const screenshot = resolve(outdir, 'demo.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    // A long fit, cancelled once the first epoch is drawn: the worker stops and reports it. Each
    // member stops early within a second here, so the fit is made long by its members (64).
    await fill({ epochs: 500, validation: 0, ensemble: 64 });
    await page.click('#fit');
    await page.waitForSelector('#loss-chart circle.train', { timeout: 30_000 });
    await page.click('#cancel');
    await page.waitForSelector('#status:is([data-state="cancelled"], [data-state="done"], [data-state="error"])', { timeout: 30_000 });
    const cancelStatus = (await page.textContent('#status')) ?? '';
    const cancelState = (await page.getAttribute('#status', 'data-state')) ?? '';
    const csv = schoolsCsv();
    await page.setInputFiles('#file', { name: 'schools.csv', mimeType: 'text/csv', buffer: Buffer.from(csv.text) });
    await fill({ family: 'bernoulli', formula: 'y ~ x1 + x2 + kind + (1 | school)', epochs: 3, validation: 0.2, ensemble: 2 });
    const finished = '#status:is([data-state="done"], [data-state="error"])';
    await page.click('#fit');
    await page.waitForSelector(finished, { timeout: 30_000 });
    const csvStatus = (await page.textContent('#status')) ?? '';
    const csvState = (await page.getAttribute('#status', 'data-state')) ?? '';
    const heldOut = await page.locator('#pred-chart circle.point').count();
    const csvPlotPanels = await page.locator('#plot-svg svg .panel').count();
    await fill({ formula: 'y ~ x1 + nope + (1 | school)' });
    await page.click('#fit');
    await page.waitForSelector('#status[data-state="error"]', { timeout: 30_000 });
    const badStatus = (await page.textContent('#status')) ?? '', badState = (await page.getAttribute('#status', 'data-state')) ?? '';
    // Threads (issue 16): the page is cross-origin isolated, so a fitting worker's kernel memory
    // is shared and it starts a worker thread (/threads.js) for a fit with threads: 2. The same fit
    // on 1 and on 2 threads, each in a fresh fitting worker: 48 training rows in each of 48
    // groups, 20 % held out, so a batch of 16 groups has ~614 rows, two pieces.
    const threads = (await page.evaluate(`(async () => {
      const lib = await import('/ngmm.js');
      const sim = lib.simulate('poisson', 7, { groups: 60, perGroup: 60 });
      const data = { X: Array.from(sim.train.X), xNames: sim.xNames, y: Array.from(sim.train.y), group: Array.from(sim.train.group) };
      const warnings = [];
      const run = async (threads) => {
        const w = new Worker('/worker.js', { type: 'module' });
        try {
          const r = await lib.fitInWorker(w, { data, spec: { family: 'poisson', hidden: [16, 8] }, options: { epochs: 3, ensemble: 2, threads }, seed: 1 }, { onWarning: (m) => warnings.push(m) });
          return r.model;
        } finally {
          w.terminate();
        }
      };
      const one = await run(1), two = await run(2);
      const numbers = (m) => JSON.stringify({ params: m.params, members: (m.members ?? []).map((x) => x.params), logLik: m.fit.logLik });
      return { isolated: self.crossOriginIsolated, threads: [one.fit.threads, two.fit.threads], one: numbers(one), two: numbers(two), warnings };
    })()`)) as PageAnswers['threads'];
    return {
      numbers, status, lossPoints, scatterPoints, effectIntervals, plotPanels, plotBands, errors, screenshot, cancelStatus, cancelState,
      csv: {
        expectedHeldOut: csv.heldOut, heldOut, plotPanels: csvPlotPanels, status: csvStatus, state: csvState,
        badStatus, badState,
      },
      threads,
    };
  } finally {
    await browser.close();
    await site.close();
  }
}
