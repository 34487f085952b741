// Makes docs/demo.png: the demo page after a fit with its default controls (120 simulated
// Poisson groups, MLP 32-16, 40 epochs). Run with `node scripts/run-ts.mjs web/tools/screenshot.ts`.
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb } from './build';
import { launchChromium } from './chromium';
import { serveStatic } from './server';

const site = await serveStatic(await buildWeb(mkdtempSync(join(tmpdir(), 'ngmm-site-'))));
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.goto(site.url);
  await page.click('#fit');
  await page.waitForSelector('#status:is([data-state="done"], [data-state="error"])', { timeout: 120_000 });
  if ((await page.getAttribute('#status', 'data-state')) !== 'done') throw new Error(`the fit failed: ${await page.textContent('#status')}`);
  mkdirSync('docs', { recursive: true });
  await page.screenshot({ path: 'docs/demo.png', fullPage: true });
  console.log(`docs/demo.png: ${await page.textContent('#status')}`);
} finally {
  await browser.close();
  await site.close();
}
