// Which files a spec may name, and checks of a table file before DuckDB reads it. A spec is trusted to name its
// data, not to read other files: a table file must lie in the spec's folder (or below it, symbolic links
// resolved) and look like a data file, unless the user passes --allow-outside (docs/SECURITY.md).
import { createReadStream, existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CdmmError } from '../util/errors.js';
import { tableFormat, type TableSpec } from './spec.js';

export interface PathPolicy {
  /** Read table files outside the spec's folder (the --allow-outside flag). */
  allowOutside?: boolean;
}

/** CSV-like text file names (optionally gzip/zstd-compressed). */
const CSV_FILE = /\.(csv|tsv|txt|psv)(\.(gz|zst))?$/i;
/** File names a table may have: CSV-like text or Parquet. */
export const DATA_FILE = new RegExp(`${CSV_FILE.source}|\\.parquet$`, 'i');

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
};

/**
 * Resolves a spec's table file against the spec's folder and checks it: inside the folder (unless allowed),
 * present, a regular file, with a data file name. `where` names the spec field in errors.
 */
/** Characters DuckDB's file reader expands as a glob pattern. */
const GLOB_CHARS = /[*?[{]/;

/** The refusal of a path outside the spec's (or mapping's) folder `dir`. */
const outsideError = (where: string, file: string, dir: string, what: string) =>
  new CdmmError(`${where}: ${JSON.stringify(file)} is outside the ${what}'s folder ${dir}; a ${what} may only name files in its own folder or below it (pass --allow-outside to read files elsewhere)`);

/** A path that exists must lie in `dir`, links resolved, unless allowed. */
function requireInsideReal(dir: string, path: string, where: string, file: string, policy: PathPolicy, what: string): void {
  if (!policy.allowOutside && !inside(realpathSync(dir), realpathSync(path))) throw outsideError(where, file, dir, what);
}

export function resolveTableFile(specDir: string, file: string, where: string, policy: PathPolicy = {}, what = 'spec'): string {
  const dir = resolve(specDir);
  const path = resolve(dir, file);
  if (!policy.allowOutside && !inside(dir, path)) throw outsideError(where, file, dir, what);
  // DuckDB expands glob patterns in the paths it reads: 'd*/x.csv' would also read d1/x.csv, a link to another
  // folder included, past the checks below (which see one literal path). Such a path is refused, always.
  if (GLOB_CHARS.test(path))
    throw new CdmmError(`${where}: ${JSON.stringify(path)} contains a glob character (* ? [ {): DuckDB would read it as a pattern of several files; rename the file or folder (to read several Parquet files as one table, name their folder with a trailing '/')`);
  if (!existsSync(path)) throw new CdmmError(`${where}: file not found: ${path}`);
  // A link inside the folder that points elsewhere leaves it too.
  requireInsideReal(dir, path, where, file, policy, what);
  if (!statSync(path).isFile()) throw new CdmmError(`${where}: ${path} is not a file`);
  if (!DATA_FILE.test(path))
    throw new CdmmError(`${where}: ${JSON.stringify(file)} is not a table file name: expected .csv, .tsv, .txt or .psv (optionally .gz or .zst) or .parquet`);
  // With --allow-outside a link may leave the folder: what it points at must have a data file name too, or a shipped
  // link named passwd.csv would have /etc/passwd parsed and its first line echoed as column names.
  const real = realpathSync(path);
  if (!inside(realpathSync(dir), real) && !DATA_FILE.test(real))
    throw new CdmmError(`${where}: ${JSON.stringify(file)} is a link to a file outside the ${what}'s folder whose name is not a table file name (expected .csv, .tsv, .txt or .psv, optionally .gz or .zst, or .parquet); link or copy the data file itself`);
  return path;
}

/** Most files one table folder may hold (a MEDS export has tens to hundreds of shards; PhysioNet's 2019 challenge 40,336 patient files). */
export const MAX_TABLE_FILES = 100_000;

/** The files of a folder table: Parquet shards, or CSV files (one per patient, as PhysioNet's challenges ship them). */
export type FolderKind = 'parquet' | 'csv';
const FOLDER_FILE: Record<FolderKind, RegExp> = { parquet: /\.parquet$/i, csv: CSV_FILE };
const FOLDER_WORDS: Record<FolderKind, string> = { parquet: '.parquet', csv: 'CSV (.csv, .tsv, .txt or .psv, optionally .gz or .zst)' };

/**
 * What a folder named as a table's file holds: Parquet shards (a trailing '/' or format parquet|meds), CSV files
 * (format csv with a trailing '/'), or nothing (false: a CSV table's file must be a file).
 */
export function folderKind(t: TableSpec): FolderKind | false {
  if (tableFormat(t) !== 'csv') return 'parquet';
  return /[\\/]$/.test(t.file) ? 'csv' : false;
}

/**
 * A table's files: the one file `file` names, or, when it names a folder of the `folder` kind (folderKind), every
 * such file below it in path order, each checked like a single file (a link out of the spec's folder is refused).
 * Other files, and sub-folders named like data files, are passed over.
 */
export function resolveTableFiles(specDir: string, file: string, where: string, folder: FolderKind | false, policy: PathPolicy = {}, what = 'spec'): { path: string; files: string[] } {
  const folderOk = folder !== false;
  const path = resolve(specDir, file);
  // (a folder named like a CSV file is just not a file)
  if (!existsSync(path) || !statSync(path).isDirectory() || (!folderOk && CSV_FILE.test(path)))
    return { path, files: [resolveTableFile(specDir, file, where, policy, what)] };
  if (folder === false)
    throw new CdmmError(`${where}: ${path} is a folder: to read every .parquet file below it as one table, write the folder with a trailing '/' (${JSON.stringify(file.replace(/\/*$/, '/'))}) and no format: csv, or set format: parquet (or meds); for a folder of CSV files (one per patient), write the trailing '/' and keep format: csv`);
  const kind: FolderKind = folder;
  const dir = resolve(specDir);
  if (!policy.allowOutside && !inside(dir, path)) throw outsideError(where, file, dir, what);
  requireInsideReal(dir, path, where, file, policy, what);
  const files: string[] = [];
  // Walked by hand, links not followed into folders (Node's recursive readdir follows them: a link to the folder
  // itself read every shard twice, one to / walked the disk). Hidden and _-prefixed entries (.cdmm-cache,
  // _temporary/, _SUCCESS) are passed over, as pyarrow and Spark do.
  const walk = (folder: string) => {
    for (const n of readdirSync(folder).sort()) {
      if (n.startsWith('.') || n.startsWith('_')) continue;
      const full = join(folder, n);
      const st = lstatSync(full);
      if (st.isSymbolicLink() && statSync(full, { throwIfNoEntry: false })?.isDirectory())
        throw new CdmmError(`${where}: ${full} is a link to a folder: shard folders are read without following links to folders (link the shard files, or copy them)`);
      if (st.isDirectory()) walk(full); // Spark's table.parquet/ folders too: their part files are read on their own
      else if (FOLDER_FILE[kind].test(n)) {
        files.push(resolveTableFile(specDir, full, where, policy, what));
        if (files.length > MAX_TABLE_FILES) throw new CdmmError(`${where}: ${path} holds more than ${MAX_TABLE_FILES.toLocaleString('en-US')} ${FOLDER_WORDS[kind]} files; expected one table's files`);
      }
    }
  };
  walk(path);
  if (!files.length)
    throw new CdmmError(kind === 'parquet'
      ? `${where}: ${path} is a folder with no .parquet file below it (a folder is read as the Parquet shards of one table; a folder of CSV files needs format: csv)`
      : `${where}: ${path} is a folder with no ${FOLDER_WORDS.csv} file below it (format: csv with a folder reads its CSV files as one table)`);
  return { path, files };
}

/** A table path as a spec names it: a folder keeps a trailing '/', which makes it a folder of Parquet shards (tableFormat). */
export function asTablePath(path: string): string {
  return statSync(path).isDirectory() ? join(path, '/') : path;
}

/** A gzip file must decompress to its end: DuckDB reads a truncated one as complete (the rows up to the cut). */
export async function checkGzipComplete(path: string, where: string): Promise<void> {
  if (!/\.gz$/i.test(path)) return;
  try {
    await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) void chunk;
    });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'it ends before the end of its compressed data (truncated or still being copied?)' : (e as Error).message;
    throw new CdmmError(`${where}: ${path} is a damaged gzip file: ${why}`);
  }
}

function textLines(path: string): AsyncIterable<string> {
  const raw = createReadStream(path);
  const stream: Readable = /\.gz$/i.test(path) ? raw.pipe(createGunzip()) : raw;
  return createInterface({ input: stream, crlfDelay: Infinity });
}

/**
 * The first CSV record whose number of fields differs from the header's, with its 1-based line; quoted fields
 * (with doubled quotes and line breaks inside) count as one field.
 */
export async function findRaggedRow(path: string, delim: string): Promise<{ line: number; fields: number; header: number } | undefined> {
  let header = -1;
  let fields = 1;
  let inQuotes = false;
  let start = 1;
  let lineNo = 0;
  for await (const line of textLines(path)) {
    lineNo++;
    if (!inQuotes) { fields = 1; start = lineNo; if (line === '') continue; }
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '"') inQuotes = !inQuotes;
      else if (c === delim && !inQuotes) fields++;
    }
    if (inQuotes) continue;
    if (header < 0) header = fields;
    else if (fields !== header) return { line: start, fields, header };
  }
  return undefined;
}

/**
 * The file lines where CSV records start, for records numbered as the loaded table's __line (the header is 1, the
 * first data record 2): a quoted field holding line breaks makes a record span several lines, and every later
 * record then starts further down the file than its number. A quote opens a field only at its start (a `12"`
 * inside a field is text), `""` inside one is a quote; blank lines between records are skipped, as by the reader.
 * One pass over the file: used when an error is reported, not when loading. Records not found are left out.
 */
export async function recordStartLines(path: string, records: readonly number[], delim?: string): Promise<Map<number, number>> {
  const wanted = new Set(records);
  const last = Math.max(0, ...records);
  const out = new Map<number, number>();
  const isDelim = (c: string | undefined) => (delim ? c === delim : c === ',' || c === ';' || c === '\t' || c === '|');
  let inQuotes = false;
  let record = 0;
  let lineNo = 0;
  for await (const line of textLines(path)) {
    lineNo++;
    if (!inQuotes) {
      if (line === '') continue;
      record++;
      if (wanted.has(record)) out.set(record, lineNo);
      if (record >= last) break;
    }
    for (let i = 0; i < line.length; i++) {
      if (line[i] !== '"') continue;
      if (inQuotes) {
        if (line[i + 1] === '"') i++;
        else inQuotes = false;
      } else if (i === 0 || isDelim(line[i - 1])) inQuotes = true;
    }
  }
  return out;
}

/**
 * The first quote inside a quoted field that is not doubled ("a "b" c" for "a ""b"" c"): after it the field goes on
 * where the reader expects the delimiter or the line's end, which DuckDB's sniffer reports only as "no dialect" or
 * by reading the header as one column. Its 1-based line and the line's start; quoted fields may span lines.
 */
export async function findStrayQuote(path: string, delim: string): Promise<{ line: number; text: string } | undefined> {
  let inQuotes = false;
  let lineNo = 0;
  for await (const line of textLines(path)) {
    lineNo++;
    for (let i = 0; i < line.length; i++) {
      if (line[i] !== '"') continue;
      if (inQuotes) {
        if (line[i + 1] === '"') { i++; continue; }
        inQuotes = false;
        const next = line[i + 1];
        if (next !== undefined && next !== delim && next !== '\r') return { line: lineNo, text: line.length > 100 ? `${line.slice(0, 100)}…` : line };
      } else if (i === 0 || line[i - 1] === delim) inQuotes = true;
    }
  }
  return undefined;
}

/** Of `candidates`, the one the file's first line holds most often outside quotes (the first candidate if none). */
export async function headerDelimiter(path: string, candidates: string[]): Promise<string> {
  let first = '';
  try {
    for await (const line of textLines(path)) { first = line; break; }
  } catch {
    return candidates[0];
  }
  const outside = first.replace(/"[^"]*"/g, '');
  let best = candidates[0], most = 0;
  for (const d of candidates) {
    const n = outside.split(d).length - 1;
    if (n > most) { best = d; most = n; }
  }
  return best;
}

/** Files recordStartLines can read: plain or gzipped text (a .zst one is not decompressed here). */
export const lineScannable = (path: string) => /\.(csv|tsv|txt)(\.gz)?$/i.test(path);

/** The 1-based line of the first bytes that are not UTF-8 (decoded as U+FFFD), if any. */
export async function findNonUtf8Line(path: string): Promise<number | undefined> {
  let n = 0;
  for await (const line of textLines(path)) {
    n++;
    if (line.includes('\uFFFD')) return n;
  }
  return undefined;
}

/** The 1-based line of the first line longer than `limit` bytes. */
export async function findLongLine(path: string, limit: number): Promise<{ line: number; bytes: number } | undefined> {
  let n = 0;
  for await (const line of textLines(path)) {
    n++;
    const bytes = Buffer.byteLength(line);
    if (bytes > limit) return { line: n, bytes };
  }
  return undefined;
}
