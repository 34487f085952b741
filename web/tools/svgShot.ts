// Opens an SVG figure in Chromium and saves a PNG screenshot beside it (the real-data figure's
// check that it opens and reads in a browser): node scripts/run-ts.mjs web/tools/svgShot.ts FIG.svg [OUT.png]
import { readFileSync } from 'node:fs';
import { launchChromium } from './chromium';

const [svgPath, out0] = process.argv.slice(2);
if (!svgPath) {
  process.stderr.write('svgShot: name the SVG file\n');
  process.exit(2);
}
const out = out0 ?? svgPath.replace(/\.svg$/, '.png');
const text = readFileSync(svgPath, 'utf8');
const w = Number(/width="(\d+(?:\.\d+)?)"/.exec(text)?.[1] ?? 1200), h = Number(/height="(\d+(?:\.\d+)?)"/.exec(text)?.[1] ?? 900);
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: Math.ceil(w), height: Math.ceil(h) });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // As an <img>: the browser parses the file as an SVG image, and a file that does not parse
  // leaves the image broken (naturalWidth 0), which is reported.
  await page.setContent(`<html><body style="margin:0;background:#fff"><img id="fig" src="data:image/svg+xml;base64,${Buffer.from(text).toString('base64')}"></body></html>`);
  await page.waitForFunction(() => (document.getElementById('fig') as HTMLImageElement).complete, undefined, { timeout: 30_000 });
  const natural = await page.evaluate(() => (document.getElementById('fig') as HTMLImageElement).naturalWidth);
  if (natural === 0 || errors.length) throw new Error(`svgShot: ${svgPath} did not render: ${errors.join('; ') || 'the image is broken (not a valid SVG?)'}`);
  await page.screenshot({ path: out, clip: { x: 0, y: 0, width: Math.ceil(w), height: Math.ceil(h) }, timeout: 120_000 });
  console.log(`svgShot: ${out} (${w}×${h})`);
} finally {
  await browser.close();
}
