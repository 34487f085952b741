// Atomic writes: the complete text or nothing, no temporary file left on failure, an existing
// file untouched by a failed write and keeping its permissions when replaced; output paths
// refused before any work when they cannot be written.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkWritable, writeAtomic } from '../../ngmm/cli/io';

const dir = mkdtempSync(join(tmpdir(), 'ngmm-io-'));

describe('writeAtomic', () => {
  it('writes every part, replaces an earlier file and keeps its mode', () => {
    const p = join(dir, 'a.csv');
    writeFileSync(p, 'old\n');
    chmodSync(p, 0o640);
    writeAtomic(p, ['a,b\n', '1,2\n', 'é\n']);
    expect(readFileSync(p, 'utf8')).toBe('a,b\n1,2\né\n');
    expect(statSync(p).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('leaves nothing behind when the text cannot be produced', () => {
    const p = join(dir, 'b.json');
    writeFileSync(p, 'good model\n');
    function* failing(): Generator<string> {
      yield 'half of a';
      throw new Error('the model could not be serialised');
    }
    expect(() => writeAtomic(p, failing())).toThrow(/cannot write '.*b\.json'.*nothing was written/);
    expect(readFileSync(p, 'utf8')).toBe('good model\n');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('removes its temporary file when the final rename fails', () => {
    // A non-empty directory cannot be replaced by a file: rename(2) fails after the write.
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    expect(() => writeAtomic(target, ['data'])).toThrow(/cannot write '.*taken'/);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(readFileSync(join(target, 'inside'), 'utf8')).toBe('x');
  });
});

describe('checkWritable', () => {
  it('refuses a missing directory, a directory, and an input of the command', () => {
    expect(() => checkWritable(join(dir, 'no', 'such', 'm.json'))).toThrow(/cannot write '.*m\.json': the directory .*no such file or directory/);
    expect(() => checkWritable(dir)).toThrow(/it is a directory/);
    const input = join(dir, 'data.csv');
    writeFileSync(input, 'y\n1\n');
    expect(() => checkWritable(input, [input])).toThrow(/it is an input of this command/);
    expect(() => checkWritable(join(dir, 'new.json'), [input])).not.toThrow();
    expect(existsSync(join(dir, 'new.json'))).toBe(false);
  });
});
