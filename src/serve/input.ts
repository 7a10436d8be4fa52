// Where new patients come from for `cdmm predict --input`: a folder of table files (named as in the spec, or
// `<table>.csv|.csv.gz|.parquet`), a YAML/JSON mapping of table name → file, a dataset spec with the same
// tables (external validation), or JSON patient records (.json array / {"records": [...]}, or .jsonl).
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { asTablePath, folderKind, resolveTableFiles, type PathPolicy } from '../data/paths.js';
import { formatPath, tableFormat, type Spec } from '../data/spec.js';
import { CdmmError } from '../util/errors.js';
import { readInputJsonText } from '../util/files.js';
import { repeatedKeyIssue } from '../util/json-keys.js';
import { parseYamlText } from '../util/yaml.js';
import { keyBesideRecords } from './types.js';

export type PatientInput =
  | { kind: 'tables'; tables: Record<string, string> }
  | { kind: 'spec'; specPath: string }
  | { kind: 'records'; records: unknown[]; /** 1-based line of each record in a .jsonl file. */ lines?: number[] };

const TABLE_EXTENSIONS = ['.csv', '.csv.gz', '.parquet'];

/** `policy.allowOutside`: a mapping's files may lie outside the mapping's folder (--allow-outside). */
export function readPatientInput(path: string, spec: Spec, policy: PathPolicy = {}): PatientInput {
  if (!existsSync(path)) throw new CdmmError(`${path}: input not found`);
  if (statSync(path).isDirectory()) return { kind: 'tables', tables: tablesInFolder(path, spec) };
  const name = basename(path).toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return readJsonLines(path);
  if (name.endsWith('.json')) return fromParsed(path, parseText(path, (t) => parseJsonOnce(t, `${path}: `)), spec, policy);
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return fromParsed(path, parseText(path, (t) => parseYamlText(t, path)), spec, policy);
  throw new CdmmError(
    `${path}: expected a folder of table files, a YAML/JSON mapping of table name → file, a dataset spec, or JSON patient records (.json/.jsonl); ` +
      `a single table file cannot say which spec table it is`,
  );
}

/** JSON whose objects repeat no key (JSON.parse would keep the last silently: a record with two ids). */
function parseJsonOnce(text: string, where: string): unknown {
  const v = JSON.parse(text);
  noRepeatedKey(text, where);
  return v;
}

function noRepeatedKey(text: string, where: string): void {
  const issue = repeatedKeyIssue(text, formatPath);
  if (issue) throw new CdmmError(`${where}${issue.path}: ${issue.message}`);
}

function parseText(path: string, parse: (t: string) => unknown): unknown {
  try {
    return parse(readInputJsonText(path));
  } catch (e) {
    if (e instanceof CdmmError) throw e;
    throw new CdmmError(`${path}: cannot parse: ${(e as Error).message}`);
  }
}

function readJsonLines(path: string): PatientInput {
  const records: unknown[] = [];
  const lines: number[] = [];
  readInputJsonText(path).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new CdmmError(`${path}: line ${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
    noRepeatedKey(line, `${path}: line ${i + 1}: `);
    records.push(rec);
    lines.push(i + 1);
  });
  if (!records.length) throw new CdmmError(`${path}: no records (empty file)`);
  return { kind: 'records', records, lines };
}

function fromParsed(path: string, doc: unknown, spec: Spec, policy: PathPolicy): PatientInput {
  if (Array.isArray(doc)) return { kind: 'records', records: doc };
  if (doc === null || typeof doc !== 'object') throw new CdmmError(`${path}: expected a list of patient records or a mapping of table name → file`);
  const obj = doc as Record<string, unknown>;
  if (Object.hasOwn(obj, 'records') && Array.isArray(obj.records)) {
    const other = keyBesideRecords(obj);
    if (other !== undefined) throw new CdmmError(`${path}: ${other}: unknown field beside "records" (the file is { "records": [...] } and nothing else)`);
    return { kind: 'records', records: obj.records };
  }
  // Own keys only: a key such as `constructor` is not a spec table because Object.prototype has one.
  const isTable = (k: string) => Object.hasOwn(spec.tables, k);
  // One patient record, as `cdmm serve` accepts it: has an id or index time, or rows rather than file paths.
  const has = (k: string) => Object.hasOwn(obj, k);
  const isRecord = (!isTable('id') && has('id')) || (!isTable('index_time') && has('index_time')) ||
    Object.entries(obj).some(([k, v]) => isTable(k) && v !== null && typeof v === 'object');
  const tablesField = has('tables') && obj.tables !== null && typeof obj.tables === 'object' ? obj.tables : undefined;
  if (isRecord && !(tablesField && has('modalities'))) return { kind: 'records', records: [obj] };
  // A dataset spec names its tables with objects ({ file, id, ... }) and has modalities.
  if (tablesField && has('modalities')) return { kind: 'spec', specPath: resolve(path) };
  const map = (tablesField ?? obj) as Record<string, unknown>;
  const tables: Record<string, string> = {};
  for (const [table, file] of Object.entries(map)) {
    if (!isTable(table)) throw new CdmmError(`${path}: ${table}: not a table of spec '${spec.name}' (tables: ${Object.keys(spec.tables).join(', ')})`);
    if (typeof file !== 'string' || !file) throw new CdmmError(`${path}: ${table}: expected a file path`);
    // a folder of Parquet shards when the table is Parquet (or the path ends in '/'), as in a spec
    tables[table] = asTablePath(resolveTableFiles(dirname(path), file, `${path}: ${table}`, folderKind({ ...spec.tables[table], file }), policy, 'mapping').path);
  }
  if (!Object.keys(tables).length) throw new CdmmError(`${path}: the mapping names no table (tables of spec '${spec.name}': ${Object.keys(spec.tables).join(', ')})`);
  return { kind: 'tables', tables };
}

/** Finds each spec table in a folder: first by the spec's own file name, then as `<table>.<ext>`. */
function tablesInFolder(dir: string, spec: Spec): Record<string, string> {
  const tables: Record<string, string> = {};
  for (const [table, t] of Object.entries(spec.tables)) {
    // Names inside `dir` only: a run's spec is untrusted, and its `file: ../` made `basename` give '..', the folder above.
    const own = basename(t.file);
    const named = own !== '' && own !== '.' && own !== '..' ? [own] : [];
    // A table of format meds or parquet is read as Parquet whatever its file is called: a CSV of its name is said so.
    const parquetOnly = t.format === 'meds' || t.format === 'parquet';
    const candidates = [...named, ...TABLE_EXTENSIONS.filter((e) => !parquetOnly || e === '.parquet').map((e) => table + e)].filter((c) => dirname(resolve(dir, c)) === resolve(dir));
    // a table read from a folder (Parquet shards, or CSV files) is found as a folder of that name
    const folderOk = folderKind(t) !== false;
    const present = candidates.map((c) => join(dir, c)).filter((p) => existsSync(p));
    const hit = present.find((p) => statSync(p).isFile() || (folderOk && statSync(p).isDirectory()));
    if (hit) {
      tables[table] = asTablePath(hit);
      continue;
    }
    const csvNamed = parquetOnly ? TABLE_EXTENSIONS.filter((e) => e !== '.parquet').map((e) => join(dir, table + e)).find((p) => existsSync(p)) : undefined;
    if (csvNamed)
      throw new CdmmError(`${csvNamed}: table ${table} of spec '${spec.name}' is read as Parquet (format: ${t.format}), not CSV: give it as ${[...new Set([table + '.parquet', ...named])].join(' or ')} (a Parquet file, or a folder of Parquet shards)`);
    // Named like the table but no file (a folder, a FIFO): said, rather than read as "table not given".
    if (present.length)
      throw new CdmmError(`${present[0]}: not a file (${statSync(present[0]).isDirectory() ? 'a folder' : 'a FIFO, socket or device'}); table ${table} of spec '${spec.name}' is read from a file of that name${folderOk ? ' or a folder of its files' : ''}`);
  }
  if (!Object.keys(tables).length) {
    const expected = Object.entries(spec.tables).map(([table, t]) => `${table}: ${basename(t.file)} or ${table}${TABLE_EXTENSIONS[0]}`);
    throw new CdmmError(`${dir}: no table file of spec '${spec.name}' found (expected ${expected.join('; ')})`);
  }
  return tables;
}

/** The output format from the --out extension. */
export function outputFormat(path: string): 'json' | 'csv' {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.csv') return 'csv';
  throw new CdmmError(`${path}: --out must end in .json or .csv`);
}
