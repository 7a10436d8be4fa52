// Reading files that come from untrusted folders (run folders, benchmark folders): only regular files, and only up to
// a size, checked on the open descriptor, so that a link to /dev/zero, a FIFO or a huge file gives an error instead of
// filling memory or hanging.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CdmmError } from './errors.js';

/** JSON files of a run or benchmark folder (predictions.json is the largest: one row per test patient). */
export const MAX_JSON_BYTES = 512 << 20;
/** Model weights: far above the largest model cdmm builds (the default model is 4 MB), and below the 2 GiB that
 * hashing and Buffers take in one piece. */
export const MAX_WEIGHTS_BYTES = 1024 ** 3;

export function readBounded(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CdmmError(`${path}: cannot be read (${code === 'ENOENT' ? 'not found' : code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CdmmError(`${path}: not a regular file`);
    if (st.size > maxBytes) throw new CdmmError(`${path}: ${st.size} bytes is more than such a file may hold (${maxBytes})`);
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      // At most 1 GiB a call: readSync refuses lengths of 2 GiB and more.
      const n = readSync(fd, buf, off, Math.min(st.size - off, 1 << 30), off);
      if (n === 0) break;
      off += n;
    }
    return off === st.size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

export const readBoundedText = (path: string, maxBytes = MAX_JSON_BYTES): string => readBounded(path, maxBytes).toString('utf8');
