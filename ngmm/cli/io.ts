// Files and streams for the command line (the library itself never touches the file system).
// Inputs are read in chunks; outputs are written atomically, so a reader (or a crash, or a
// full disk) never sees half a model: the text goes to `<out>.tmp-<pid>` in the same directory,
// is flushed to disk, and is renamed over `<out>` only when complete (rename within one file
// system replaces the name in one step, POSIX rename(2)); on any failure the temporary file is
// removed and `<out>`, if it existed, is untouched.
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync, accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readCsvTable, type CsvTable, type ReadCsvOptions } from '../csv';
import { Model } from '../model';

function code(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    ENOSPC: 'no space left on the device',
    EROFS: 'read-only file system',
    EEXIST: 'a file of that name exists',
    EMFILE: 'too many open files',
  };
  return err.code ? (words[err.code] ? `${words[err.code]} (${err.code})` : err.code) : err.message;
}

// The file in 1 MiB chunks, decoded incrementally: the CSV reader never sees the whole text.
function* chunks(path: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
    if (statSync(path).isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
  } catch (e) {
    throw new Error(`cannot read '${path}': ${code(e)}`);
  }
  const buf = Buffer.alloc(1 << 20);
  const dec = new TextDecoder('utf-8');
  try {
    for (;;) {
      let k: number;
      try {
        k = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw new Error(`cannot read '${path}': ${code(e)}`);
      }
      if (k === 0) break;
      yield dec.decode(buf.subarray(0, k), { stream: true });
    }
    const tail = dec.decode();
    if (tail) yield tail;
  } finally {
    closeSync(fd);
  }
}

/**
 * A data file, keeping only the columns `select` names (the formula's, from frameColumns: it
 * checks them against the header before any row is read, and reads group ids as text).
 */
export function readTable(path: string, select?: ReadCsvOptions['select']): CsvTable {
  return readCsvTable(chunks(path), { source: path, ...(select ? { select } : {}) });
}

/** Model files larger than this are refused before they are read (a fitted model is far smaller). */
const MAX_MODEL_BYTES = 256 << 20;

export function readModel(path: string): Model {
  let text: string;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error('directory'), { code: 'EISDIR' });
    if (st.size > MAX_MODEL_BYTES) throw new Error(`${st.size} bytes, more than the ${MAX_MODEL_BYTES}-byte limit for a model file`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read '${path}': ${code(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not a valid ngmm model file: ${(e as Error).message}`);
  }
  try {
    return Model.load(json);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Refuses an output path that cannot be written, before any work is done: its directory must
 * exist and be writable, it must not be a directory, and it must not be one of `inputs`.
 */
export function checkWritable(path: string, inputs: readonly string[] = []): void {
  const full = resolve(path);
  for (const i of inputs) {
    if (resolve(i) === full) throw new Error(`cannot write '${path}': it is an input of this command; choose another -o`);
  }
  try {
    if (statSync(path).isDirectory()) throw new Error(`cannot write '${path}': it is a directory`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (!(e as NodeJS.ErrnoException).code) throw e;
      throw new Error(`cannot write '${path}': ${code(e)}`);
    }
  }
  const dir = dirname(full);
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new Error(`cannot write '${path}': the directory '${dirname(path)}': ${code(e)}`);
  }
}

/** Writes `parts` (concatenated) to `path` atomically; see the file comment. */
export function writeAtomic(path: string, parts: Iterable<string>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', 0o666);
    // A replaced file keeps its permissions.
    try {
      fchmodSync(fd, statSync(path).mode & 0o7777);
    } catch {
      // No earlier file: the umask's default stands.
    }
    for (const part of parts) {
      const buf = Buffer.from(part, 'utf8');
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // Already failing: the first error is the one to report.
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // Never created, or already renamed.
    }
    throw new Error(`cannot write '${path}': ${code(e)}; nothing was written`);
  }
}

/**
 * Standard output that ends the process quietly when the reader goes away (`ngmm predict … |
 * head`: EPIPE), as command-line tools do on SIGPIPE, instead of an error with a stack trace.
 */
let guarded = false;
export function guardStdout(): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    process.stderr.write(`ngmm: cannot write to standard output: ${code(e)}\n`);
    process.exit(1);
  });
}

/** Writes text in pieces of about a megabyte (a closed pipe stops the process early). */
export function writeStdout(parts: Iterable<string>): void {
  let buf = '';
  for (const p of parts) {
    buf += p;
    if (buf.length >= 1 << 20) {
      process.stdout.write(buf);
      buf = '';
    }
  }
  if (buf) process.stdout.write(buf);
}
