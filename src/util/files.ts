// Reading files that come from untrusted folders (run folders, benchmark folders): only regular files, and only up to
// a size, checked on the open descriptor, so that a link to /dev/zero, a FIFO or a huge file gives an error instead of
// filling memory or hanging.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { CdmmError } from './errors.js';

/** JSON files of a run or benchmark folder (predictions.json is the largest: one row per test patient). */
export const MAX_JSON_BYTES = 512 << 20;
/**
 * The smaller cap of the JSON files that do not grow with the cohort, by name, each far above what cdmm writes (a
 * manifest with a 5,000-code vocabulary is 2 MB): an edited 500 MB manifest took 3.2 GB to parse.
 */
const JSON_CAPS: Record<string, number> = { 'manifest.json': 64 << 20, 'metrics.json': 16 << 20, 'insights.json': 16 << 20, 'history.json': 16 << 20, 'benchmark.json': 64 << 20 };
export const jsonCap = (file: string): number => JSON_CAPS[basename(file)] ?? MAX_JSON_BYTES;
/**
 * Most values a JSON file of a run or benchmark folder may hold, counted by its commas (an overcount: commas in
 * strings count too). V8 aborts the whole process, with a native stack trace, on an array of about 134 M items
 * (a 270 MB file of zeros), and 100 M short strings took about 3 GB; predictions.json of a million test patients
 * has about 6 M values.
 */
export const MAX_JSON_VALUES = 40_000_000;
/**
 * Most objects and arrays, counted by their opening brackets (an overcount too). Each empty object took about 88
 * bytes to parse (5 M of them 440 MB), so a 300 MB file of `{},{},…` would need 9 GB; cdmm writes columns, not a
 * row object per patient, and its largest files hold a few thousand.
 */
export const MAX_JSON_CONTAINERS = 2_000_000;

/** Refuses JSON text with more values or containers than cdmm writes, before JSON.parse is given it. */
export function checkJsonValues(bytes: Uint8Array, path: string, maxContainers = MAX_JSON_CONTAINERS): void {
  if (bytes.length <= Math.min(maxContainers, MAX_JSON_VALUES)) return; // fewer bytes than either limit: fewer commas and brackets too
  let commas = 0;
  let containers = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 44) commas++;
    else if (b === 123 || b === 91) containers++; // { [
  }
  const damaged = 'far more than cdmm writes (damaged or edited?)';
  if (commas > MAX_JSON_VALUES) throw new CdmmError(`${path}: holds more than ${MAX_JSON_VALUES.toLocaleString('en-US')} values, ${damaged}`);
  if (containers > maxContainers) throw new CdmmError(`${path}: holds more than ${maxContainers.toLocaleString('en-US')} objects and arrays, ${damaged}`);
}

/** An untrusted folder's JSON file (its size capped by name, its values counted), as text for JSON.parse. */
export function readJsonText(path: string): string {
  const bytes = readBounded(path, jsonCap(path));
  checkJsonValues(bytes, path);
  return bytes.toString('utf8');
}

/**
 * A user's own JSON input (predict --input): patient records, an object each, so more containers may come than in
 * cdmm's files (20 M: a million patients of 20 objects each, about 1.8 GB parsed); its size capped whatever its name
 * (a records file called history.json is not a run's history).
 */
export const MAX_INPUT_CONTAINERS = 20_000_000;
export function readInputJsonText(path: string): string {
  const bytes = readBounded(path, MAX_JSON_BYTES);
  checkJsonValues(bytes, path, MAX_INPUT_CONTAINERS);
  return bytes.toString('utf8');
}
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
