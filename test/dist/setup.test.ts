// The set-up step `npm test` runs first (scripts/setup-test.mjs), with the host played by fakes:
// which files exist, the user id, the platform, and whether apt-get succeeds. (Run in a child
// Node process: the script is plain JavaScript, run by npm before anything is built.)
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Host {
  files: string[];
  uid: number;
  platform?: string;
  /** apt-get arguments that fail, joined by spaces. */
  fails?: string[];
  /** Files that appear after `apt-get install`. */
  installs?: string[];
}

function play(host: Host): { ran: string[][] | null; error: string | null; log: string[] } {
  const script = pathToFileURL(resolve('scripts/setup-test.mjs')).href;
  const code = `
    import { setup } from ${JSON.stringify(script)};
    const h = ${JSON.stringify(host)};
    const files = new Set(h.files), log = [];
    const run = (cmd, args) => {
      if ((h.fails ?? []).includes(args.join(' '))) throw new Error('exit status 100');
      if (args[0] === 'install') for (const f of h.installs ?? []) files.add(f);
    };
    let out;
    try {
      out = { ran: setup({ exists: (p) => files.has(p), uid: h.uid, platform: h.platform ?? 'linux', run, log: (m) => log.push(m) }), error: null, log };
    } catch (e) {
      out = { ran: null, error: e.message, log };
    }
    console.log(JSON.stringify(out));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
}

describe('npm test set-up (Chromium for the browser tests)', () => {
  it('does nothing when /usr/bin/chromium is there', () => {
    expect(play({ files: ['/usr/bin/chromium', '/usr/bin/apt-get'], uid: 0 })).toEqual({ ran: [], error: null, log: [] });
    expect(play({ files: ['/usr/bin/chromium'], uid: 1000, platform: 'darwin' }).ran).toEqual([]);
  });

  it('as root on Debian: apt-get update, then apt-get install -y chromium, as .ci/run did', () => {
    const r = play({ files: ['/usr/bin/apt-get'], uid: 0, installs: ['/usr/bin/chromium'] });
    expect(r.error).toBeNull();
    expect(r.ran).toEqual([['/usr/bin/apt-get', 'update'], ['/usr/bin/apt-get', 'install', '-y', 'chromium']]);
    expect(r.log).toEqual(["setup-test: /usr/bin/chromium is missing; installing Debian's chromium (apt-get update && apt-get install -y chromium)"]);
  });

  it('not root: stops with the command to run', () => {
    const r = play({ files: ['/usr/bin/apt-get'], uid: 1000 });
    expect(r.error).toMatch(/^setup-test: the browser tests need Debian's Chromium at \/usr\/bin\/chromium, which is missing, and installing it needs root; run\n {2}sudo sh -c 'apt-get update && apt-get install -y chromium'\nthen npm test again/);
  });

  it('no apt-get, or not Linux: says to install Chromium by hand', () => {
    for (const host of [{ files: [], uid: 0 }, { files: ['/usr/bin/apt-get'], uid: 0, platform: 'darwin' }]) {
      expect(play(host).error).toMatch(/^setup-test: the browser tests need Chromium at \/usr\/bin\/chromium \(Debian's 'chromium' package\), and this machine has no apt-get to install it/);
    }
  });

  it('a failing apt-get, or a package that does not provide the path, is named', () => {
    expect(play({ files: ['/bin/apt-get'], uid: 0, fails: ['update'] }).error).toMatch(/^setup-test: 'apt-get update' failed \(exit status 100\)/);
    expect(play({ files: ['/usr/bin/apt-get'], uid: 0, fails: ['install -y chromium'] }).error).toMatch(/^setup-test: 'apt-get install -y chromium' failed/);
    expect(play({ files: ['/usr/bin/apt-get'], uid: 0 }).error).toMatch(/apt-get installed chromium but \/usr\/bin\/chromium is still missing/);
  });
});
