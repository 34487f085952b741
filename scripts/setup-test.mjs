// The set-up `npm test` needs beyond `npm install`, done by `npm test` itself: the browser
// tests drive Debian's Chromium at /usr/bin/chromium (web/tools/chromium.ts), which npm cannot
// install. When it is missing and this is Debian (apt-get) run as root — a fresh machine or CI
// container — it is installed as .ci/run used to (apt-get update, then apt-get install -y
// chromium); otherwise the run stops here with the command to type, rather than with three
// browser tests failing later for a reason they cannot name.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
const INSTALL = 'apt-get update && apt-get install -y chromium';

/**
 * What the step does, with the host passed in (so a test can play every case): returns the
 * commands it ran, or throws an Error whose message says what to do.
 */
export function setup({ exists = existsSync, uid = process.getuid?.() ?? -1, platform = process.platform, run = runInherit, log = console.log } = {}) {
  if (exists(CHROMIUM)) return [];
  const apt = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => exists(p));
  if (platform !== 'linux' || !apt) {
    throw new Error(`setup-test: the browser tests need Chromium at ${CHROMIUM} (Debian's 'chromium' package), and this machine has no apt-get to install it; install Chromium there by hand, then run npm test again`);
  }
  if (uid !== 0) {
    throw new Error(`setup-test: the browser tests need Debian's Chromium at ${CHROMIUM}, which is missing, and installing it needs root; run\n  sudo sh -c '${INSTALL}'\nthen npm test again (as root, npm test installs it itself)`);
  }
  log(`setup-test: ${CHROMIUM} is missing; installing Debian's chromium (${INSTALL})`);
  const ran = [];
  for (const args of [['update'], ['install', '-y', 'chromium']]) {
    ran.push([apt, ...args]);
    try {
      run(apt, args);
    } catch (e) {
      throw new Error(`setup-test: '${['apt-get', ...args].join(' ')}' failed (${e.message.split('\n')[0]}); the browser tests need Chromium at ${CHROMIUM}`);
    }
  }
  if (!exists(CHROMIUM)) throw new Error(`setup-test: apt-get installed chromium but ${CHROMIUM} is still missing`);
  return ran;
}

function runInherit(cmd, args) {
  execFileSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    setup();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
