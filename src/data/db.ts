// One embedded DuckDB per build: registers the spec's tables, checks the columns the spec uses, and runs
// queries whose results come back as plain columns.
import { statSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection, type DuckDBMaterializedResult, type DuckDBResultReader } from '@duckdb/node-api';
import { CdmmError } from '../util/errors.js';
import { checkGzipComplete, findLongLine, findNonUtf8Line, findRaggedRow, findStrayQuote, folderKind, headerDelimiter, lineScannable, recordStartLines, resolveTableFiles, type PathPolicy } from './paths.js';
import { closest, tableFormat, tableId, tableTime, timeUnitsPerDay, type TableSpec } from './spec.js';

/**
 * The columns to load: all, or with tables.NAME.columns only those and the ones the table's own options name
 * (id, times, lookup key, where and values columns), which keeps a wide table's memory down.
 */
function loadedColumns(t: TableSpec, exclude?: string): string {
  if (!t.columns) return exclude ? `* EXCLUDE (${exclude})` : '*';
  const own = [t.id !== '_row' ? t.id : undefined, ...(Array.isArray(t.time) ? t.time : [t.time]), t.lookup?.on, ...Object.keys(t.where ?? {}), ...Object.keys(t.values ?? {})];
  // added later, not in this file: a lookup's columns from another table, the file column from the file's name
  const later = new Set([...(t.lookup?.columns ?? []), ...(t.file_column ? [t.file_column] : [])]);
  const cols = [...new Set([...t.columns, ...own].filter((c): c is string => typeof c === 'string' && !later.has(c)))];
  return [...cols.map(q), ...(t.file_column ? [FILE_STEM] : [])].join(', ');
}

/** The delimiters DuckDB's sniffer tries, in the order a ragged row is looked for with them. */
const CSV_DELIMITERS = [',', ';', '\t', '|'];

/** The first row of `files` (in turn) whose field count differs from its header's, with the delimiter that found it. */
async function raggedRowIn(files: string[], delims: string[], minHeader = 1): Promise<{ path: string; delim: string; line: number; fields: number; header: number } | undefined> {
  for (const path of files)
    for (const delim of delims) {
      const bad = await findRaggedRow(path, delim).catch(() => undefined);
      if (bad && bad.header >= minHeader) return { path, delim, ...bad };
    }
  return undefined;
}

/** What a ragged row is told as; `of`: the row's file is named after its line (a folder's). */
function raggedText(r: { path: string; delim: string; line: number; fields: number; header: number }, of = false): string {
  return `line ${r.line}${of ? ` of ${r.path}` : ''} has ${r.fields} fields but the header has ${r.header} (delimiter ${JSON.stringify(r.delim)}); every row needs one value per column (empty fields are missing values)`;
}

/** The first undoubled quote inside a quoted field of `files` (in turn), for the first delimiter that finds one. */
async function strayQuoteIn(files: string[], delims: string[]): Promise<{ path: string; line: number; text: string } | undefined> {
  for (const path of files) {
    if (!lineScannable(path)) continue;
    for (const delim of delims) {
      const bad = await findStrayQuote(path, delim).catch(() => undefined);
      if (bad) return { path, ...bad };
    }
  }
  return undefined;
}

function strayQuoteText(r: { path: string; line: number; text: string }, of = false): string {
  return `line ${r.line}${of ? ` of ${r.path}` : ''} has a quote inside a quoted field that is not doubled (${JSON.stringify(r.text)}): inside a quoted field a quote is written twice, "say ""hello""" for say "hello"`;
}

/** read_csv's options for a table's delimiter and encoding (empty where the spec leaves them to detection / UTF-8). */
function csvDialect(t: TableSpec): { delim: string; enc: string } {
  return {
    delim: t.delimiter ? `, delim=${lit(t.delimiter)}` : '',
    enc: t.encoding && t.encoding !== 'utf-8' ? `, encoding=${lit(t.encoding)}` : '',
  };
}

/** The gzip completeness checks of a table's files, 8 at a time (a folder's thousands at once ran out of file handles). */
async function gzipChecks(files: string[], where: string): Promise<void> {
  const gz = files.filter((f) => /\.gz$/i.test(f));
  for (let k = 0; k < gz.length; k += 8) await Promise.all(gz.slice(k, k + 8).map((f) => checkGzipComplete(f, where)));
}

/** The column holding tables.NAME.file_column until the load is checked (Db.nameFileColumn). */
const FILE_STEM = '__cdmm_stem';
/** tables.NAME.file_column as a select item: the file's name without folder and data extensions ('' without one). */
function fileStem(t: TableSpec, fileRef: string): string {
  return t.file_column ? `, regexp_replace(parse_filename(${fileRef}), '(\\.(csv|tsv|txt|psv|parquet))?(\\.(gz|zst))?$', '', 'i') AS ${FILE_STEM}` : '';
}

/** Quotes an SQL identifier. */
export const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
/** Quotes an SQL string literal. */
export const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** The DuckDB table holding spec table `name`. */
export const tbl = (name: string) => (name.startsWith('__') ? q(name) : q(`t_${name}`));
/** A float value the model cannot take: inf/nan, or beyond float32's ±3.4e38 (Infinity once in a tensor). */
/**
 * Times given as numbers are compared as DOUBLE differences from the index: beyond 1e9 days (2.7 million years) a
 * difference of days is no longer exact (at 2^60 a lab 100 days after the index read as at it, and entered the
 * window). Files (requireFiniteTime) and JSON records (src/serve/validate.ts) refuse such times alike.
 */
export const MAX_TIME_DAYS = 1e9;
const outOfRange = (col: string) => `(NOT isfinite(${col}) OR abs(${col}) > 3.4028234663852886e38)`;
/** A number written into SQL: only a finite JavaScript number, never text (a spec from a run folder is not re-validated). */
export const sqlNum = (x: unknown, field: string): string => {
  // (String, not JSON: 1.8e308 in a spec reads as Infinity, which JSON would show as null)
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new CdmmError(`${field}: expected a finite number, got ${typeof x === 'number' ? String(x) : JSON.stringify(x)}`);
  return String(x);
};

/** Longest piece of file content quoted in an error. */
const QUOTE_MAX = 100;
const clip = (s: string, n = QUOTE_MAX) => (s.length > n ? `${s.slice(0, n)}… (${s.length} characters)` : s);

/**
 * The useful part of a DuckDB error as one line: the reason and any line number, without DuckDB's option dump,
 * its list of possible fixes (options of read_csv, not of the spec), the echo of our SQL, or a long file line.
 */
export function duckdbReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const keep: string[] = [];
  for (const raw of msg.split('\n')) {
    const l = raw.trim();
    if (/^(Possible fixes|Possible Solution|The search space used was|LINE \d+:)/.test(l)) break;
    if (!l || /^\^+$/.test(l) || /^\S+ = /.test(l)) continue;
    const orig = /^Original Line:\s?(.*)$/.exec(l);
    keep.push(orig ? `original line: ${clip(orig[1], 60)}` : l);
  }
  return clip(keep.join('; ') || msg.split('\n')[0], 600);
}

export type ColumnKind = 'number' | 'time' | 'text' | 'other';

export interface TableInfo {
  name: string;
  /** Shown in errors: the file as written in the spec (or "records"). */
  label: string;
  id: string;
  time?: string;
  columns: Map<string, string>; // name → DuckDB type
  /** Whether the table has a __line column (the record number in its file, header = 1; Db.at() gives the file line) for error messages. */
  hasLine: boolean;
  /** strptime format of the table's time columns written as text (tables.NAME.time_format). */
  timeFormat?: string;
  /** Numeric times are in units of 1/unitsPerDay days (tables.NAME.time_unit; 1440 = minutes). */
  unitsPerDay: number;
  /** The table's id is `column` of `table`, a one-row-per-patient table keyed by the cohort id (tables.NAME.link). */
  link?: { table: string; column: string };
  /** The file's decimal separator when not '.' (tables.NAME.decimal): numbers left as text are read with it. */
  decimal?: ',';
}

/**
 * SQL: a text cell as a number (NULL when it is none), in its file's decimal convention. With decimal ',' "26,3"
 * is 26.3 and a '.' makes the text no number (in such files it may be a thousands separator: 1.234 = 1234).
 */
export function textNumber(x: string, decimal?: string): string {
  return decimal === ',' ? `TRY_CAST(CASE WHEN contains(${x}, '.') THEN NULL ELSE replace(${x}, ',', '.') END AS DOUBLE)` : `TRY_CAST(${x} AS DOUBLE)`;
}

export function kindOf(duckType: string): ColumnKind {
  const t = duckType.toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|REAL|DECIMAL|BOOLEAN)/.test(t)) return 'number';
  if (/^(DATE|TIMESTAMP|TIME)/.test(t)) return 'time';
  if (t === 'VARCHAR') return 'text';
  return 'other';
}

export class Db {
  readonly tables = new Map<string, TableInfo>();
  /** Problems found while shaping the tables that do not stop the build (the build's warnings print them). */
  readonly warnings: string[] = [];
  /** The CSV file each table was read from (for the file line of a record in messages). */
  private readonly csvFiles = new Map<string, { path: string; delim?: string }>();
  /** Tables read from Parquet: their __line is the row number (1 = first row; there is no header line). */
  private readonly parquetTables = new Set<string>();
  /** Tables read from a folder of Parquet shards: each file's first row in the table's __line numbering. */
  private readonly shards = new Map<string, { file: string; start: number; rows: number }[]>();
  /** Tables read from a folder of CSV files: each file's records in the table's __line numbering (start = __line − 1 of its first). */
  private readonly csvParts = new Map<string, { file: string; start: number; rows: number }[]>();
  /**
   * Per table, the columns that held text in training (new patients' and other hospitals' files): a CSV column
   * of them that DuckDB types otherwise from this file alone (only "F" in `sex` reads as BOOLEAN false) is read
   * again as text, so that its categories are the training ones.
   */
  textColumns?: Map<string, Set<string>>;
  /**
   * New patients' files: each table's column types in training. A column that is blank in every row of the new
   * file (a discharge time of patients still in hospital) takes its training type, not the VARCHAR DuckDB gives it.
   */
  trainedTypes?: Map<string, Record<string, string>>;
  private constructor(
    private readonly inst: DuckDBInstance,
    /** Private: every statement goes through prepared() (one statement per call). */
    private readonly con: DuckDBConnection,
    /** Spec file name for error messages. */
    readonly specFile: string,
  ) {}

  static async open(specFile: string, threads?: number): Promise<Db> {
    const inst = await DuckDBInstance.create(':memory:', threads ? { threads: String(threads) } : undefined);
    const con = await inst.connect();
    // Times with a zone in table files (TIMESTAMPTZ) become UTC instants whatever the machine's zone is, and a
    // naive time in such a column is read as UTC. GLOBAL: the files are read on connections of their own.
    try {
      await con.run(`SET GLOBAL TimeZone = 'UTC'`);
    } catch {
      /* DuckDB without ICU: zoned times are already UTC */
    }
    return new Db(inst, con, specFile);
  }

  close(): void {
    this.con.closeSync();
    this.inst.closeSync();
  }

  /**
   * Turns off everything that reaches outside the database (files, extensions, network) and locks the setting:
   * called once the spec's files are loaded, before any SQL that spec text shapes (filters, windows, values).
   */
  async lockDown(): Promise<void> {
    await this.con.run('SET enable_external_access = false');
    await this.con.run('SET lock_configuration = true');
  }

  /** One statement, prepared: DuckDB refuses to prepare text holding several ("Cannot prepare multiple statements"). */
  private async prepared(sql: string) {
    return this.con.prepare(sql);
  }

  async run(sql: string): Promise<void> {
    await (await this.prepared(sql)).run();
  }

  /** A materialized result (read chunk by chunk by numericColumns). */
  async result(sql: string): Promise<DuckDBMaterializedResult> {
    return (await this.prepared(sql)).run();
  }

  /**
   * Prepares a query and starts it: DuckDB computes it on its own threads while the caller goes on; the result
   * comes as `pending` (wrapped, so that awaiting this does not wait for it).
   */
  async started(sql: string): Promise<{ pending: Promise<DuckDBMaterializedResult> }> {
    const pending = (await this.prepared(sql)).run();
    pending.catch(() => undefined); // awaited by the caller; not unhandled if the caller fails first
    return { pending };
  }

  async reader(sql: string): Promise<DuckDBResultReader> {
    return (await this.prepared(sql)).runAndReadAll();
  }

  /** Runs a query and returns its columns by name (BIGINT → number, decimals → number). */
  async columns(sql: string): Promise<Record<string, unknown[]>> {
    const r = await this.reader(sql);
    const names = r.columnNames();
    const cols = r.getColumnsJS() as unknown[][];
    const out: Record<string, unknown[]> = {};
    // A result with no rows has no column vectors: every column is then empty.
    names.forEach((n, i) => (out[n] = (cols[i] ?? []).map((v) => (typeof v === 'bigint' ? Number(v) : v))));
    return out;
  }

  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const r = await this.reader(sql);
    return (r.getRowObjectsJS() as Record<string, unknown>[]).map((o) => {
      for (const k of Object.keys(o)) if (typeof o[k] === 'bigint') o[k] = Number(o[k]);
      return o;
    });
  }

  async scalar(sql: string): Promise<unknown> {
    const r = await this.rows(sql);
    const first = r[0];
    return first ? Object.values(first)[0] : undefined;
  }

  /** Loads one spec table from its file into a DuckDB table, with the file line of each row. */
  async registerFile(name: string, t: TableSpec, specDir: string, policy: PathPolicy = {}): Promise<TableInfo> {
    await this.loadFile(name, t, specDir, policy);
    return this.describe(name, t, t.file, true);
  }

  /** Creates the DuckDB table of spec table `name` from its file (no column checks yet). */
  async loadFile(name: string, t: TableSpec, specDir: string, policy: PathPolicy = {}): Promise<void> {
    await this.loadFiles([{ name, t }], specDir, policy);
  }

  /**
   * Creates the DuckDB tables of several spec tables from their files, the files read at the same time on
   * connections of their own (a gzipped CSV is decompressed on one thread: the other core reads the next file).
   * Errors come in the order of `items`, as if the files had been read one after another.
   */
  async loadFiles(items: { name: string; t: TableSpec }[], specDir: string, policy: PathPolicy = {}): Promise<void> {
    // Each item: its checks (a CdmmError as is), then the read (DuckDB's error, explained below). Two tables
    // read by the same statement (PhysioNet 2019's folder, declared once by the hour and once with first_row: 2,000
    // files took 21 s a read) are read once and copied; each is then shaped on its own.
    const firstRead = new Map<string, Promise<{ name: string; error: unknown }>>();
    const done = await Promise.allSettled(items.map(async ({ name, t }) => {
      const l = await this.loadStatement(name, t, specDir, policy);
      const key = l.sql.replace(`CREATE TABLE ${tbl(name)} AS `, '');
      const same = firstRead.get(key);
      if (same) {
        const first = await same;
        if (first.error instanceof CdmmError) throw first.error;
        if (first.error) return { l, error: first.error };
        const con = await this.inst.connect();
        try {
          await (await con.prepare(`CREATE TABLE ${tbl(name)} AS SELECT * FROM ${tbl(first.name)}`)).run();
        } finally {
          con.closeSync();
        }
        return { l, error: null };
      }
      let settle!: (v: { name: string; error: unknown }) => void;
      firstRead.set(key, new Promise((r) => (settle = r)));
      // The gzip completeness check decompresses the file in Node's thread pool while DuckDB reads it; its verdict
      // comes first (a truncated file can also make DuckDB fail, more obscurely).
      const gzip = gzipChecks(l.files, l.where).then(() => null, (e: unknown) => e);
      const con = await this.inst.connect();
      let error: unknown = null;
      try {
        await (await con.prepare(l.sql)).run();
      } catch (e) {
        error = e;
      } finally {
        con.closeSync();
      }
      const damaged = await gzip;
      settle({ name, error: damaged ?? error });
      if (damaged) throw damaged;
      return { l, error };
    }));
    for (const r of done) {
      if (r.status === 'rejected') throw r.reason;
      const { l, error: e } = r.value;
      if (e) {
        const missing = l.t.columns && /Referenced column "(.*?)" not found in FROM clause/.exec((e as Error).message);
        if (missing) throw new CdmmError(`${this.specFile}: tables.${l.name}.columns: column '${missing[1]}' not found in ${l.path}`);
        throw new CdmmError(`${l.where}: cannot read ${l.path}: ${await this.readProblem(l.files, l.fmt, e, l.name, l.t.delimiter)}`);
      }
      if (l.t.file_column) await this.nameFileColumn(l.name, l.t.file_column, l.where);
      if (l.fmt !== 'csv') this.parquetTables.add(l.name);
      if (l.fmt === 'csv') {
        const text = this.textColumns?.get(l.name);
        if (text?.size) {
          const typed = await this.rows(`SELECT column_name AS c, column_type AS t FROM (DESCRIBE ${tbl(l.name)})`);
          const again = typed.filter((d) => text.has(String(d.c)) && String(d.t) !== 'VARCHAR').map((d) => String(d.c));
          if (again.length) {
            await this.run(`DROP TABLE ${tbl(l.name)}`);
            await this.run((await this.loadStatement(l.name, l.t, specDir, policy, again)).sql);
            if (l.t.file_column) await this.nameFileColumn(l.name, l.t.file_column, l.where);
          }
        }
        if (l.folder) await this.recordParts(l.name);
        else this.csvFiles.set(l.name, { path: l.path, delim: l.t.delimiter });
        await this.noMixedZones(l.name, l.t, specDir, policy);
      }
      const trained = this.trainedTypes?.get(l.name);
      if (trained) await this.typeBlankColumns(l.name, trained);
      if (l.fmt === 'csv') {
        await this.checkCsvShape(l.name, l.t, l.files, l.where);
      }
    }
  }

  /**
   * A CSV column DuckDB typed TIMESTAMPTZ may hold times without a zone too, which it reads as UTC: a hospital's
   * local wall-clock rows beside zoned ones move by the offset, across the prediction time (a tester's lactate
   * drawn 30 min after admission entered the window, test AUROC 0.83 on data without signal). The column's text
   * is read again (zoned CSVs only) and such a mix is an error; zoneless beside UTC ("Z", +00:00) is the same clock.
   */
  private async noMixedZones(name: string, t: TableSpec, specDir: string, policy: PathPolicy): Promise<void> {
    const typed = await this.rows(`SELECT column_name AS c FROM (DESCRIBE ${tbl(name)}) WHERE column_type = 'TIMESTAMP WITH TIME ZONE'`);
    if (!typed.length) return;
    const cols = typed.map((r) => String(r.c));
    const text = [...new Set([...(this.textColumns?.get(name) ?? []), ...cols])];
    const source = (await this.loadStatement(name, t, specDir, policy, text)).sql.replace(/^CREATE TABLE \S+ AS /, '');
    // One read of the text for all zoned columns (one a column took 10 s against 5.7 s on 3 M rows).
    await this.zonesAgree(name, `(${source})`, cols, t.file, `tables.${name}`);
  }

  /** The same check on a text column of a table file (Parquet text), before it becomes times. */
  private async noMixedZonesIn(table: string, column: string, field: string): Promise<void> {
    const t = this.table(table);
    if (!t.hasLine) return; // JSON records: checked record by record by the validator (src/serve/validate.ts)
    await this.zonesAgree(table, tbl(table), [column], t.label, field);
  }

  /**
   * Throws for the first of `cols` (text, in `from`: a table or a parenthesised query with __line) holding both a time
   * without a zone and one with a zone other than UTC, naming both lines.
   */
  private async zonesAgree(table: string, from: string, cols: string[], label: string, field: string): Promise<void> {
    const parts = cols.map((c, k) => {
      const v = `trim(${q(c)})`;
      const given = `${q(c)} IS NOT NULL AND ${v} <> ''`;
      return `arg_min(${q(c)}, __line) FILTER (WHERE ${given} AND NOT ${zonedSql(v)}) AS n${k}, min(__line) FILTER (WHERE ${given} AND NOT ${zonedSql(v)}) AS nl${k},
        arg_min(${q(c)}, __line) FILTER (WHERE ${given} AND ${offsetSql(v)}) AS o${k}, min(__line) FILTER (WHERE ${given} AND ${offsetSql(v)}) AS ol${k}`;
    });
    const [r] = await this.rows(`SELECT ${parts.join(', ')} FROM ${from}`);
    for (const [k, c] of cols.entries())
      if (r && r[`nl${k}`] !== null && r[`ol${k}`] !== null)
        throw new CdmmError(
          `${label}: ${await this.at(table, r[`nl${k}`])}, column '${c}': time ${JSON.stringify(String(r[`n${k}`]))} has no zone, while ${await this.at(table, r[`ol${k}`])} has one (${JSON.stringify(String(r[`o${k}`]))}): ` +
            `a time without a zone is read as UTC, which moves it by the other rows' offset (across the prediction time too); write every time of the column with its zone, or none (${this.specFile}: ${field})`,
        );
  }

  /** The checks before reading a table file, and the statement that reads it. */
  private async loadStatement(name: string, t: TableSpec, specDir: string, policy: PathPolicy, asText: string[] = []) {
    const where = `${this.specFile}: tables.${name}.file`;
    const fmt = tableFormat(t);
    const { path, files } = resolveTableFiles(specDir, t.file, where, folderKind(t), policy);
    const folder = files.length !== 1 || files[0] !== path;
    const { delim, enc } = csvDialect(t);
    // na_values: markers such as "ERROR" or "NA" read as missing (besides empty fields).
    const na = t.na_values?.length ? `, nullstr=[${['', ...t.na_values].map(lit).join(', ')}]` : '';
    const dec = t.decimal ? `, decimal_separator=${lit(t.decimal)}` : '';
    if (fmt === 'csv') for (const f of files) if (statSync(f).size === 0) throw new CdmmError(`${where}: ${f}: the file is empty (expected a header line with the column names)`);
    // tables.NAME.file_column: each row's file name, without its folder and data extensions (a patient's own file)
    const named = folder || t.file_column ? `, filename='__cdmm_file'` : '';
    const stem = fileStem(t, '__cdmm_file');
    // a folder's rows keep their file until recordParts() has counted each file's rows
    const keepFile = folder ? ', __cdmm_file' : '';
    // sample_size=-1: type every column from the whole file. A sample (DuckDB's default, one read less) was tried
    // twice and refused: a value past the sample that parses loosely is converted without a word (12.5 in a column
    // sampled as BIGINT becomes 13, a time of day in a column sampled as DATE is dropped), and the quote character
    // is found from the sample alone. Widening the sample's types and narrowing them back after the read (the
    // second try, 2026-12-07) still differed from whole-file typing in 18 cases a reviewer built ("007" read as
    // 7, "1" in a BOOLEAN column read as true, a later quoted field keeping its quotes). With whole-file types a
    // numeric column holding text becomes VARCHAR and is reported below by line, instead of failing mid-read.
    // Several CSV files are one table: columns matched by name (one a file lacks is NULL there), typed from all of them.
    const csvFrom = folder ? `[${files.map(lit).join(', ')}]` : lit(path);
    const source = fmt === 'csv'
      ? `SELECT row_number() OVER () + 1 AS __line, ${loadedColumns(t, named ? '__cdmm_file' : undefined)}${keepFile} FROM (SELECT *${stem} FROM read_csv(${csvFrom}, header=true, sample_size=-1${folder ? ', union_by_name=true' : ''}${named}${delim}${na}${dec}${enc}${asText.length ? `, types={${asText.map((c) => `${lit(c)}: 'VARCHAR'`).join(', ')}}` : ''}))`
      : !folder
        ? `SELECT file_row_number + 1 AS __line, ${loadedColumns(t, `file_row_number${named ? ', __cdmm_file' : ''}`)} FROM (SELECT *${stem} FROM read_parquet(${lit(path)}, file_row_number=true, hive_partitioning=false${named}))`
        : await this.shardsSource(name, t, files);
    return { name, t, where, path, files, folder, fmt, sql: `CREATE TABLE ${tbl(name)} AS ${source}` };
  }

  /**
   * A folder of Parquet shards as one table: the files in path order, columns matched by name (a column one shard
   * lacks is NULL there), __line numbering the rows across the files (at() turns it back into a file and row).
   */
  private async shardsSource(name: string, t: TableSpec, files: string[]): Promise<string> {
    // (a connection of its own: the tables' files are read at the same time)
    const con = await this.inst.connect();
    const rowsOf = new Map<string, number>();
    try {
      const r = await con.runAndReadAll(`SELECT file_name AS f, num_rows AS n FROM parquet_file_metadata([${files.map(lit).join(', ')}])`);
      for (const [f, n] of r.getRows()) rowsOf.set(String(f), Number(n));
    } catch (e) {
      throw new CdmmError(`${this.specFile}: tables.${name}.file: cannot read the Parquet files' row counts: ${duckdbReason(e)}`);
    } finally {
      con.closeSync();
    }
    const starts: { file: string; start: number; rows: number }[] = [];
    let start = 0;
    for (const f of files) {
      const n = rowsOf.get(f) ?? 0;
      starts.push({ file: f, start, rows: n });
      start += n;
    }
    this.shards.set(name, starts);
    // One read_parquet over the list (DuckDB opens the files in turn; a UNION of one scan per shard held them all
    // open and ran out of file handles past ~1,000 shards). The file's name comes back under a name of ours, so a
    // data column called `filename` stays the data's; no hive partitioning (a folder code=X would overwrite `code`).
    const offsets = starts.map((s) => `(${lit(s.file)}, ${s.start})`).join(', ');
    const scan = `SELECT p.*, o.__cdmm_start${fileStem(t, 'p.__cdmm_file')} FROM read_parquet([${files.map(lit).join(', ')}], file_row_number=true, union_by_name=true, hive_partitioning=false, filename='__cdmm_file') p JOIN (VALUES ${offsets}) o(__cdmm_f, __cdmm_start) ON p.__cdmm_file = o.__cdmm_f`;
    return `SELECT file_row_number + __cdmm_start + 1 AS __line, ${loadedColumns(t, 'file_row_number, __cdmm_file, __cdmm_start')} FROM (${scan}) ORDER BY __line`;
  }

  /** DuckDB's reason a file could not be read; for an over-long line, the line DuckDB should have named. */
  private async readProblem(files: string[], fmt: string, e: unknown, name: string, delimiter?: string): Promise<string> {
    const reason = duckdbReason(e);
    // DuckDB's sniffer gives up on a row with more or fewer fields than the header past its sample (about line
    // 2,048) without naming it: the row is found here, for the first delimiter that splits the header.
    if (fmt === 'csv' && /not possible to automatically detect the CSV parsing dialect|Error when sniffing file/i.test(reason)) {
      const bad = await raggedRowIn(files, delimiter ? [delimiter] : CSV_DELIMITERS, 2);
      if (bad) return raggedText(bad, files.length > 1);
      // (the delimiter the header line uses most: scanning with another one reads quotes where none are)
      const stray = await strayQuoteIn(files, delimiter ? [delimiter] : [await headerDelimiter(files[0], CSV_DELIMITERS)]);
      if (stray) return strayQuoteText(stray, files.length > 1);
    }
    // (a folder's files are searched in turn; the first file with the problem is named)
    const of = (f: string) => (files.length > 1 ? ` of ${f}` : '');
    // DuckDB names the header as the line; the first line that does not decode is found here.
    if (fmt === 'csv' && /not utf-8 encoded/i.test(reason)) {
      for (const f of files) {
        const line = await findNonUtf8Line(f).catch(() => undefined);
        if (line) return `line ${line}${of(f)} is not UTF-8 text (a Windows or Latin-1 export?): set tables.${name}.encoding: latin-1 (or utf-16)`;
      }
      return `the file is not UTF-8 text (a Windows or Latin-1 export?): set tables.${name}.encoding: latin-1 (or utf-16)`;
    }
    const long = /Maximum line size of (\d+) bytes exceeded/.exec(reason);
    if (fmt === 'csv' && long) {
      for (const f of files) {
        const hit = await findLongLine(f, Number(long[1])).catch(() => undefined);
        if (hit) return `line ${hit.line}${of(f)} is ${hit.bytes} bytes long, more than the ${long[1]} bytes a CSV line may have (a field that is not closed by a quote, or a huge value?)`;
      }
    }
    return reason;
  }

  /** Columns blank in every row take their type in training (see trainedTypes). */
  private async typeBlankColumns(name: string, trained: Record<string, string>): Promise<void> {
    const typed = await this.rows(`SELECT column_name AS c, column_type AS t FROM (DESCRIBE ${tbl(name)})`);
    const differ = typed.map((d) => ({ c: String(d.c), t: String(d.t) })).filter((d) => Object.hasOwn(trained, d.c) && trained[d.c] !== d.t);
    if (!differ.length) return;
    const [counts] = await this.rows(`SELECT ${differ.map((d, k) => `count(${q(d.c)}) AS n${k}`).join(', ')} FROM ${tbl(name)}`);
    for (const [k, d] of differ.entries())
      // (a training type is DuckDB's own name of a type, from the run's state: only such names are written here)
      if (Number(counts[`n${k}`]) === 0 && /^[A-Z][A-Z0-9_ (),]*$/i.test(trained[d.c])) await this.run(`ALTER TABLE ${tbl(name)} ALTER ${q(d.c)} SET DATA TYPE ${trained[d.c]}`);
  }

  /**
   * A file of a folder that DuckDB could not split reads as one column named after its whole header line, which
   * union_by_name adds beside the others (its rows then have every real column missing): found by that name.
   */
  private async checkFolderShape(desc: string[], t: TableSpec, files: string[], where: string): Promise<void> {
    const delims = t.delimiter ? [t.delimiter] : CSV_DELIMITERS;
    const joined = desc.map((c) => ({ c, d: delims.find((d) => c.split(d).length > 2 && c.split(d).some((part) => desc.includes(part))) })).filter((x) => x.d);
    if (!joined.length) return;
    const bad = await raggedRowIn(files, [joined[0].d!]);
    if (bad) throw new CdmmError(`${where}: ${bad.path}: ${raggedText(bad)}`);
    throw new CdmmError(`${where}: a file of the folder was read as one column named ${JSON.stringify(joined[0].c.slice(0, 120))}: its rows do not split like the others' (another delimiter or quoting?)`);
  }

  /** Gives the file-name column its spec name: a name the files' own columns already use is refused (which would it be?). */
  private async nameFileColumn(name: string, column: string, where: string): Promise<void> {
    const cols = (await this.rows(`DESCRIBE ${tbl(name)}`)).map((d) => String(d.column_name));
    const clash = cols.find((c) => c !== FILE_STEM && c.toLowerCase() === column.toLowerCase());
    if (clash) throw new CdmmError(`${where.replace(/\.file$/, '.file_column')}: the files already have a column '${clash}': file_column names the new column that holds each row's file name, so give it a name of its own (or leave it out and use '${clash}')`);
    await this.run(`ALTER TABLE ${tbl(name)} RENAME ${FILE_STEM} TO ${q(column)}`);
  }

  /**
   * A folder's CSV table: where each file's records are in the __line numbering (files in path order, each file's
   * records in its order), then the file column dropped. Db.at() names the file and its line.
   */
  private async recordParts(name: string): Promise<void> {
    const parts = await this.rows(`SELECT __cdmm_file AS f, min(__line) AS a, count(*) AS n FROM ${tbl(name)} GROUP BY __cdmm_file ORDER BY a`);
    this.csvParts.set(name, parts.map((p) => ({ file: String(p.f), start: Number(p.a) - 1, rows: Number(p.n) })));
    await this.run(`ALTER TABLE ${tbl(name)} DROP COLUMN __cdmm_file`);
  }

  /**
   * An empty file reads as one column "column0"; a row with more or fewer fields than the header makes the
   * dialect detection give up and read every line as one column: both said plainly, with the line (of the first
   * such file of a folder).
   */
  private async checkCsvShape(name: string, t: TableSpec, files: string[], where: string): Promise<void> {
    const described = (await this.rows(`DESCRIBE ${tbl(name)}`)).filter((d) => d.column_name !== '__line' && d.column_name !== t.file_column);
    const desc = described.map((d) => String(d.column_name));
    await this.noRepeatedHeader(desc, t, files[0], where);
    await this.noQuotesKept(name, described.filter((d) => d.column_type === 'VARCHAR').map((d) => String(d.column_name)), t, files, where);
    if (files.length > 1) return this.checkFolderShape(desc, t, files, where);
    if (desc.length !== 1) return;
    const rows = Number(await this.scalar(`SELECT count(*) FROM ${tbl(name)}`));
    if (desc[0] === 'column0' && rows === 0) throw new CdmmError(`${where}: ${files[0]}: the file is empty (expected a header line with the column names)`);
    if (t.delimiter) return;
    const delim = CSV_DELIMITERS.find((d) => desc[0].includes(d));
    if (!delim) return;
    const bad = await raggedRowIn(files, [delim]);
    if (bad) throw new CdmmError(`${where}: ${bad.path}: ${raggedText(bad)}`);
    const stray = await strayQuoteIn(files, [delim]);
    if (stray) throw new CdmmError(`${where}: ${stray.path}: ${strayQuoteText(stray)}`);
  }

  /**
   * One undoubled quote inside a quoted field makes DuckDB's sniffer read the whole file without a quote character:
   * every quoted value then keeps its quotes ("hb" for hb: a lab variable never matched, silently). Where a text
   * value of the loaded table starts with a quote, the file is scanned for such a quote and it is an error naming its line.
   */
  private async noQuotesKept(name: string, text: string[], t: TableSpec, files: string[], where: string): Promise<void> {
    if (!text.length || !files.some(lineScannable)) return;
    const keptQuote = text.map((c) => `starts_with(${q(c)}, '"')`).join(' OR ');
    const parts = files.length > 1 ? this.csvParts.get(name) : undefined;
    let suspects: string[];
    if (parts) {
      // A folder: only the files holding such a value (by their line ranges), each sniffed on its own.
      await this.run(`CREATE OR REPLACE TEMP TABLE __parts (k INTEGER, a BIGINT, b BIGINT)`);
      for (let i = 0; i < parts.length; i += 1000)
        await this.run(`INSERT INTO __parts VALUES ${parts.slice(i, i + 1000).map((p, j) => `(${i + j}, ${p.start + 1}, ${p.start + p.rows})`).join(', ')}`);
      const hit = await this.rows(`SELECT DISTINCT p.k AS k FROM ${tbl(name)} x JOIN __parts p ON x.__line BETWEEN p.a AND p.b WHERE ${keptQuote} ORDER BY 1 LIMIT 100`);
      await this.run(`DROP TABLE __parts`);
      suspects = hit.map((r) => parts[Number(r.k)].file);
    } else {
      suspects = (await this.scalar(`SELECT bool_or(${keptQuote}) FROM ${tbl(name)}`)) === true ? files : [];
    }
    // Only where the reader dropped the quote character (a value may start with a doubled quote, or the file may
    // escape quotes with a backslash: those read right), and with the delimiter it read the file with.
    const { delim, enc } = csvDialect(t);
    for (const file of suspects.filter(lineScannable)) {
      const [dialect] = await this.rows(`SELECT Quote AS quote, Delimiter AS delim FROM sniff_csv(${lit(file)}, sample_size=-1${delim}${enc})`);
      if (!dialect || !['', '(empty)'].includes(String(dialect.quote))) continue;
      const stray = await strayQuoteIn([file], [t.delimiter ?? String(dialect.delim)]);
      if (stray) throw new CdmmError(`${where}: ${file}: ${strayQuoteText(stray)}`);
    }
  }



  /**
   * DuckDB renames a repeated header name (a second `y` becomes `y_1`), so a spec naming `y` silently reads the first
   * and `y_1` reads a column the file does not have. Where the loaded names look renamed so, the header line is read
   * as it is and a repeated name is an error naming both positions.
   */
  private async noRepeatedHeader(desc: string[], t: TableSpec, file: string, where: string): Promise<void> {
    // DuckDB compares names without case (Val, val: the second becomes val_1). With tables.NAME.columns only the
    // chosen columns are loaded, so a repeat among the others cannot show here: the header is read then too.
    const names = new Set(desc.map((c) => c.toLowerCase()));
    if (!t.columns && !desc.some((c) => { const m = /^(.+)_\d+$/.exec(c); return m !== null && names.has(m[1].toLowerCase()); })) return;
    const { delim, enc } = csvDialect(t);
    const [row] = await this.rows(`SELECT * FROM read_csv(${lit(file)}, header=false, all_varchar=true${delim}${enc}) LIMIT 1`);
    const header = Object.values(row ?? {}).map((v) => (v === null ? '' : String(v).trim()));
    const first = new Map<string, number>();
    for (const [k, n] of header.entries()) {
      const at = first.get(n.toLowerCase());
      if (at !== undefined && n !== '')
        throw new CdmmError(`${where}: ${file}: the header names column ${JSON.stringify(n.length > 80 ? `${n.slice(0, 80)}…` : n)} twice (columns ${at + 1} and ${k + 1}${header[at] !== n ? `, as ${JSON.stringify(header[at])} and ${JSON.stringify(n)}: names are compared without case` : ''}), so a spec cannot say which one it means; rename one of them in the file`);
      first.set(n.toLowerCase(), k);
    }
  }

  /**
   * Records the columns of a loaded table and checks that its id/time columns exist. `checkTime: false` leaves
   * the time column to be checked later (it may come from a lookup, or be derived from several columns).
   */
  async describe(name: string, t: TableSpec, label: string, hasLine: boolean, checkTime = true): Promise<TableInfo> {
    const desc = await this.rows(`DESCRIBE ${tbl(name)}`);
    const columns = new Map<string, string>();
    for (const d of desc) if (d.column_name !== '__line') columns.set(String(d.column_name), String(d.column_type));
    // A run keeps every column's name and type (state.tableTypes), and a run is refused with a control character or
    // an over-long name in it: said now, of the file, not after the training when the run is written.
    if (hasLine && !this.trainedTypes)
      for (const c of columns.keys())
        if (/[\u0000-\u001f\u007f]/.test(c) || c.length > 256 || c === '__proto__')
          throw new CdmmError(`${this.specFile}: tables.${name}: ${label} has a column named ${JSON.stringify(c.length > 80 ? c.slice(0, 80) + '…' : c)}, ${c.length > 256 ? 'longer than 256 characters' : c === '__proto__' ? 'a name a run cannot keep (JSON readers drop that key)' : 'with a control character (a tab or line break?) in its name'}: rename it in the file, or load only the columns the spec uses with tables.${name}.columns`);
    const id = tableId(t);
    if (!id) throw new CdmmError(`${this.specFile}: tables.${name}.id: expected the name of the patient id column`);
    const info: TableInfo = { name, label, id, time: tableTime(t), columns, hasLine, timeFormat: t.time_format, unitsPerDay: timeUnitsPerDay(t), link: t.link, ...(t.decimal === ',' ? { decimal: ',' as const } : {}) };
    this.tables.set(name, info);
    this.requireColumn(name, id, `tables.${name}.id`);
    if (info.time && checkTime) {
      await this.requireTime(name, info.time, `tables.${name}.time`);
      await this.noteUntimedRows(name, info.time, `tables.${name}.time`);
    }
    return info;
  }

  /**
   * Rows of a file table whose time is blank cannot fall in any window: counted in a warning, as the other rows
   * the build leaves out are (they were dropped without a word). `column` is the time column read (ROW_TIME for
   * several).
   */
  async noteUntimedRows(table: string, column: string, field: string): Promise<void> {
    const t = this.table(table);
    if (!t.hasLine) return;
    const n = Number(await this.scalar(`SELECT count(*) FROM ${tbl(table)} WHERE ${q(column)} IS NULL`));
    if (n > 0) this.warnings.push(`${field}: ${n} row${n === 1 ? '' : 's'} of ${t.label} ${n === 1 ? 'has' : 'have'} no time (blank) and ${n === 1 ? 'is' : 'are'} not used: a row counts only when its time falls in a modality's window (rows of static data, as MEDS stores them, are read by a codes or text modality with untimed: true)`);
  }

  /**
   * Checks that a time column holds numbers (days) or timestamps; text that parses entirely as one of them is
   * converted in place, anything else is an error naming the line.
   */
  async requireTime(table: string, column: string, field: string): Promise<void> {
    await this.convertTime(table, column, field);
    await this.requireFiniteTime(table, column, field);
    // time_unit scales numbers only: on timestamps it does nothing, which the user should know (once a table)
    const t = this.table(table);
    const type = t.columns.get(column) ?? '';
    const note = `${this.specFile}: tables.${table}.time_unit is not used`;
    if (field.startsWith(`tables.${table}.time`) && t.unitsPerDay !== 1 && /TIMESTAMP|DATE/i.test(type) && !this.warnings.some((w) => w.startsWith(note)))
      this.warnings.push(`${note}: column '${column}' holds timestamps (${type}), whose differences are exact; time_unit applies to times given as numbers`);
  }

  /**
   * "inf", "nan" (numbers) or "infinity" (timestamps) in a time column would put a row outside every window, or a
   * patient's index time nowhere, without a word: an input error naming the line.
   */
  private async requireFiniteTime(table: string, column: string, field: string): Promise<void> {
    const t = this.table(table);
    const type = t.columns.get(column)!;
    const number = kindOf(type) === 'number';
    if (!number && !/^(DATE|TIMESTAMP)/i.test(type)) return;
    // Numbers also within ±MAX_TIME_DAYS (in the table's unit).
    const limit = MAX_TIME_DAYS * t.unitsPerDay;
    const bad = await this.rows(
      `SELECT ${this.lineExpr(table)} AS line, CAST(${q(column)} AS VARCHAR) AS v, ${number ? `isfinite(CAST(${q(column)} AS DOUBLE))` : 'false'} AS fin FROM ${tbl(table)}
       WHERE ${number ? `NOT isfinite(CAST(${q(column)} AS DOUBLE)) OR abs(CAST(${q(column)} AS DOUBLE)) > ${limit}` : `NOT isfinite(${q(column)})`} ORDER BY ${t.hasLine ? '__line' : '1'} LIMIT 1`,
    );
    if (bad.length)
      throw new CdmmError(`${t.label}: ${await this.at(table, bad[0].line)}, column '${column}': time ${bad[0].v} ${bad[0].fin ? `lies beyond ±${Number(limit.toPrecision(3)).toExponential()} (1e9 days in the table's time unit), where differences of days are not exact` : 'is not a finite time'} (${this.specFile}: ${field})`);
  }

  private async convertTime(table: string, column: string, field: string): Promise<void> {
    const type = this.requireColumn(table, column, field);
    const t = this.table(table);
    const c = q(column);
    // A column of elapsed times all under 24:00 ("00:07", "23:59") is typed TIME by DuckDB: a time of day alone
    // cannot place an event, so it is the same duration as when some value passes 24:00 (text, below).
    if (/^TIME$/i.test(type) && !t.timeFormat) {
      await this.run(`ALTER TABLE ${tbl(table)} ALTER ${c} SET DATA TYPE DOUBLE USING epoch(${c}) / 86400.0 * ${t.unitsPerDay}`);
      t.columns.set(column, 'DOUBLE');
      return;
    }
    if (kindOf(type) !== 'text') return;
    if (t.timeFormat) {
      const fmt = await this.requireTimeFormat(table, column, t.timeFormat, field, t.label, t.hasLine);
      await this.run(`ALTER TABLE ${tbl(table)} ALTER ${c} SET DATA TYPE TIMESTAMP USING try_strptime(nullif(trim(${c}), ''), ${fmt})`);
      t.columns.set(column, 'TIMESTAMP');
      return;
    }
    // Elapsed times written as hours and minutes ("00:07", "47:59", "-1:30:00"; PhysioNet's challenge files):
    // when every value reads so, a duration in the table's time unit (hours may pass 24, so no strptime layout).
    const v = `trim(${c})`;
    const elapsed = `regexp_full_match(${v}, '-?[0-9]+:[0-5][0-9](:[0-5][0-9])?')`;
    const [counts] = await this.rows(`SELECT count(*) FILTER (WHERE ${elapsed}) AS hm, count(*) FILTER (WHERE ${c} IS NOT NULL AND ${v} <> '') AS given FROM ${tbl(table)}`);
    const hm = Number(counts.hm), given = Number(counts.given);
    // Mostly elapsed times: the value that is not one is the mistake (not the first elapsed value, which the
    // numbers-or-timestamps message below would name).
    if (hm > 0 && hm >= given / 2 && hm < given) {
      const [odd] = await this.rows(`SELECT ${this.lineExpr(table)} AS line, ${c} AS v FROM ${tbl(table)} WHERE ${c} IS NOT NULL AND ${v} <> '' AND NOT ${elapsed} ORDER BY ${t.hasLine ? '__line' : '1'} LIMIT 1`);
      throw new CdmmError(
        `${t.label}: ${await this.at(table, odd.line)}, column '${column}': time ${JSON.stringify(odd.v)} is not an elapsed time, as ${hm.toLocaleString('en-US')} of the column's ${given.toLocaleString('en-US')} values are ("47:59" or "-1:30:00": hours, then minutes and seconds under 60) (${this.specFile}: ${field})`,
      );
    }
    if (given > 0 && hm === given) {
      const part = (k: number) => `coalesce(TRY_CAST(nullif(split_part(ltrim(${v}, '-'), ':', ${k}), '') AS DOUBLE), 0)`;
      const seconds = `(CASE WHEN starts_with(${v}, '-') THEN -1 ELSE 1 END) * (${part(1)} * 3600 + ${part(2)} * 60 + ${part(3)})`;
      await this.run(`ALTER TABLE ${tbl(table)} ALTER ${c} SET DATA TYPE DOUBLE USING (CASE WHEN ${c} IS NULL OR ${v} = '' THEN NULL ELSE ${seconds} / 86400.0 * ${t.unitsPerDay} END)`);
      t.columns.set(column, 'DOUBLE');
      return;
    }
    // Text times are read through TIMESTAMPTZ: a time with an offset (…T22:00:00-05:00, as Parquet text columns
    // and JSON exports hold them) is that instant in UTC, as a zoned CSV column and a JSON record's time are; a
    // cast to TIMESTAMP would drop the offset and move the row across the prediction time. Naive text is UTC.
    const read = (target: string, x: string) => (target === 'TIMESTAMP' ? `timezone('UTC', TRY_CAST(${x} AS TIMESTAMPTZ))` : `TRY_CAST(${x} AS ${target})`);
    for (const target of ['DOUBLE', 'TIMESTAMP']) {
      const n = Number(await this.scalar(`SELECT count(*) FROM ${tbl(table)} WHERE ${c} IS NOT NULL AND trim(${c}) <> '' AND ${read(target, c)} IS NULL`));
      if (n === 0) {
        if (target === 'TIMESTAMP') await this.noMixedZonesIn(table, column, field);
        await this.run(`ALTER TABLE ${tbl(table)} ALTER ${c} SET DATA TYPE ${target} USING ${read(target, `nullif(trim(${c}), '')`)}`);
        t.columns.set(column, target);
        return;
      }
    }
    const bad = await this.rows(
      `SELECT ${this.lineExpr(table)} AS line, ${c} AS v FROM ${tbl(table)} WHERE ${c} IS NOT NULL AND TRY_CAST(${c} AS TIMESTAMPTZ) IS NULL AND TRY_CAST(${c} AS DOUBLE) IS NULL ORDER BY ${t.hasLine ? '__line' : '1'} LIMIT 1`,
    );
    throw new CdmmError(
      `${t.label}: ${await this.at(table, bad[0]?.line)}, column '${column}': time ${JSON.stringify(bad[0]?.v)} is neither a number of ${t.unitsPerDay === 1 ? 'days' : 'the table\'s time_unit'} nor a timestamp nor an elapsed time such as "47:59" (${this.specFile}: ${field}; ` +
        `for another layout give tables.${table}.time_format, e.g. "%d/%m/%Y %H:%M")`,
    );
  }

  /**
   * tables.NAME.time_format on a text column (also before the table is described: first_row orders by it): the
   * format must parse, and every non-empty value match it. Returns the format as SQL.
   */
  async requireTimeFormat(table: string, column: string, format: string, field: string, label: string, hasLine: boolean): Promise<string> {
    const fmt = lit(format);
    const c = q(column);
    // A format DuckDB cannot parse fails every statement that uses it: say so once, as the spec's mistake.
    try {
      await this.scalar(`SELECT try_strptime('2000-01-01', ${fmt})`);
    } catch (e) {
      throw new CdmmError(`${this.specFile}: tables.${table}.time_format: ${JSON.stringify(format)} is not a strptime format (${duckdbReason(e)}); e.g. "%d/%m/%Y %H:%M"`);
    }
    const bad = await this.rows(
      `SELECT ${hasLine ? '__line' : 'NULL'} AS line, ${c} AS v FROM ${tbl(table)} WHERE ${c} IS NOT NULL AND trim(${c}) <> '' AND try_strptime(trim(${c}), ${fmt}) IS NULL ORDER BY ${hasLine ? '__line' : '1'} LIMIT 1`,
    );
    if (bad.length)
      throw new CdmmError(
        `${label}: ${bad[0].line !== null ? `${await this.at(table, bad[0].line)}, ` : ''}column '${column}': time ${JSON.stringify(bad[0].v)} does not match time_format ${JSON.stringify(format)} (${this.specFile}: ${field})`,
      );
    return fmt;
  }

  table(name: string): TableInfo {
    const t = this.tables.get(name);
    if (!t) throw new CdmmError(`${this.specFile}: unknown table '${name}'`);
    return t;
  }

  /** Throws when `column` is not in the table, naming the spec field, the file and the columns there are. */
  requireColumn(table: string, column: string, field: string): string {
    const t = this.table(table);
    const type = t.columns.get(column);
    if (type === undefined) {
      const names = [...t.columns.keys()].filter((c) => !c.startsWith('__')); // not cdmm's own (__line, __time)
      const list = names.slice(0, 30).map((c) => clip(c, 40)).join(', ') + (names.length > 30 ? `, … (${names.length} columns)` : '');
      // Names are case-sensitive (DuckDB's quoted identifiers): a column that differs in case, or by a typo, is named first.
      const near = names.find((c) => c.toLowerCase() === column.toLowerCase()) ?? closest(column, names);
      const hint = delimiterHint(names, table) || (near ? ` (did you mean '${clip(near, 40)}'? names are case-sensitive)` : '');
      throw new CdmmError(`${this.specFile}: ${field}: column '${column}' not found in table '${table}' (${t.label})${hint}; columns: ${list}`);
    }
    // A Parquet list or struct read as one value would be its text ("[I0, E0]" one code): one value per row only.
    if (/\[\d*\]$|^(STRUCT|MAP|UNION)\b/i.test(type))
      throw new CdmmError(
        `${this.specFile}: ${field}: column '${column}' of ${t.label} holds ${type} values (a list or record per row); cdmm reads one value per row: ` +
          `write one row per item (for codes, a table of (id, time, code) rows), or the items as text with a separator and give codes.split`,
      );
    return type;
  }

  /**
   * Where a row is, for messages: "line 17" of a CSV file, "row 17" of a Parquet file, or "a row" (records, or no line known). `__line` counts
   * CSV records; a quoted field with line breaks makes later records start further down, so for a CSV file the
   * record is looked up in the file (error paths only: one pass over it).
   */
  async at(table: string, line: unknown): Promise<string> {
    if (line === null || line === undefined) return 'a row';
    const n = Number(line);
    if (!Number.isInteger(n)) return `line ${String(line)}`;
    if (this.parquetTables.has(table)) {
      const shard = this.shards.get(table)?.find((s) => n > s.start && n <= s.start + s.rows);
      return shard ? `row ${n - shard.start} of ${shard.file}` : `row ${n}`;
    }
    const parts = this.csvParts.get(table);
    if (parts) {
      const part = parts.find((s) => n > s.start && n <= s.start + s.rows);
      if (!part) return `line ${n}`;
      // the record's number in its own file (header = 1), then its line there
      const own = n - part.start + 1;
      const found = lineScannable(part.file) ? (await recordStartLines(part.file, [own]).catch(() => undefined))?.get(own) : own;
      return `line ${found ?? own} of ${part.file}`;
    }
    const [found] = await this.fileLines(table, [n]);
    return found === undefined ? `record ${n - 1} after the header` : `line ${found}`;
  }

  /** The file lines of several records (see at()); undefined for a record of a CSV file that was not found. */
  private async fileLines(table: string, records: number[]): Promise<(number | undefined)[]> {
    const f = this.csvFiles.get(table);
    if (!f || !lineScannable(f.path)) return records;
    const found = await recordStartLines(f.path, records, f.delim).catch(() => undefined);
    return records.map((r) => found?.get(r));
  }

  /** Where a row is, for messages: "line 17" or "row 3". */
  lineExpr(table: string): string {
    return this.table(table).hasLine ? '__line' : 'NULL';
  }

  /**
   * requireNumeric for many columns at once (an embedding's hundreds): the float columns' finiteness in one query;
   * a column with a problem, and every text column, then goes through requireNumeric for its message or conversion.
   */
  async requireNumericColumns(table: string, columns: string[], field: (i: number) => string): Promise<void> {
    const floats: number[] = [];
    for (const [i, c] of columns.entries()) {
      const type = this.requireColumn(table, c, field(i));
      if (kindOf(type) === 'number' && /^(FLOAT|DOUBLE|REAL)/i.test(type)) floats.push(i);
      else if (kindOf(type) !== 'number') await this.requireNumeric(table, c, field(i));
    }
    for (let s = 0; s < floats.length; s += 1000) {
      const part = floats.slice(s, s + 1000);
      const row = (await this.rows(`SELECT ${part.map((i, k) => `count(*) FILTER (WHERE ${outOfRange(q(columns[i]))}) AS b${k}`).join(', ')} FROM ${tbl(table)}`))[0];
      const k = part.findIndex((_, k) => Number(row[`b${k}`]) > 0);
      if (k >= 0) await this.requireNumeric(table, columns[part[k]], field(part[k]));
    }
  }

  /**
   * Checks that a column declared numeric holds numbers; a text column whose values all parse as numbers
   * is converted in place. Otherwise the error names file, line, column and the offending text.
   */
  async requireNumeric(table: string, column: string, field: string, long?: { variable: string; variables?: string[] }): Promise<void> {
    const type = this.requireColumn(table, column, field);
    const kind = kindOf(type);
    const t = this.table(table);
    if (kind === 'number') {
      if (!/^(FLOAT|DOUBLE|REAL)/i.test(type)) return;
      // "inf"/"nan" in a CSV parse as floats; they would poison standardisation, so they are input errors.
      const bad = await this.rows(
        `SELECT ${this.lineExpr(table)} AS line, CAST(${q(column)} AS VARCHAR) AS v, isfinite(${q(column)}) AS fin FROM ${tbl(table)} WHERE ${outOfRange(q(column))} ORDER BY ${t.hasLine ? '__line' : '1'} LIMIT 1`,
      );
      if (bad.length)
        throw new CdmmError(`${t.label}: ${await this.at(table, bad[0].line)}, column '${column}': ${bad[0].fin ? `value ${bad[0].v} beyond ±3.4e38, the float32 range the model computes in (a unit or export error?)` : `non-finite value ${bad[0].v}${/nan/i.test(String(bad[0].v)) ? `; if the file writes NaN for a missing value, give tables.${table}.na_values: [NaN]` : ''}`} (${this.specFile}: ${field})`);
      return;
    }
    if (kind === 'text') {
      const c = q(column);
      const bad = await this.rows(
        `SELECT ${this.lineExpr(table)} AS line, ${c} AS v${long ? `, CAST(${q(long.variable)} AS VARCHAR) AS var` : ''} FROM ${tbl(table)}
         WHERE ${c} IS NOT NULL AND trim(${c}) <> '' AND ${textNumber(`trim(${c})`, t.decimal)} IS NULL
         ORDER BY ${t.hasLine ? '__line' : '1'} LIMIT 1`,
      );
      if (bad.length === 0) {
        await this.run(`ALTER TABLE ${tbl(table)} ALTER ${c} SET DATA TYPE DOUBLE USING ${textNumber(`nullif(trim(${c}), '')`, t.decimal)}`);
        t.columns.set(column, 'DOUBLE');
        return this.requireNumeric(table, column, field); // the numbers' range, as for a column read as numbers
      }
      const where = await this.at(table, bad[0].line);
      const v = String(bad[0].v);
      const dot = t.decimal === ',' && /\./.test(v) && Number.isFinite(Number(v.trim()));
      const comma = t.decimal !== ',' && /^\s*[-+]?\d+,\d+\s*$/.test(v) && !/^\s*[-+]?\d{1,3},\d{3}\s*$/.test(v);
      const variable = long && bad[0].var !== null && bad[0].var !== undefined ? String(bad[0].var) : undefined;
      const unlisted = variable !== undefined && long?.variables && !long.variables.includes(variable);
      const hint = dot
        ? `; the file's decimal separator is ',' (tables.${table}.decimal), so '.' is not read as a decimal point (nor as a thousands separator): write ${JSON.stringify(v.trim().replace('.', ','))} for the decimal, or ${JSON.stringify(v.trim().replace('.', ''))} for the whole number`
        : comma
          ? `; a decimal comma? if the file writes decimals with ',', set tables.${table}.decimal: ","`
          : unlisted
            ? `; the row is ${long!.variable} ${JSON.stringify(variable)}, which the modality does not use: to read only its variables' rows, set tables.${table}.where: { ${long!.variable}: ${JSON.stringify(long!.variables)} }`
            : t.hasLine && /\.csv/i.test(t.label) ? `; to read such markers as missing, list them in tables.${table}.na_values, or give them a value in tables.${table}.values.${column}` : '';
      throw new CdmmError(`${t.label}: ${where}, column '${column}': non-numeric value ${JSON.stringify(bad[0].v)} in a column declared numeric (${this.specFile}: ${field}${hint})`);
    }
    throw new CdmmError(`${t.label}: column '${column}' has type ${type}, expected numbers (${this.specFile}: ${field})`);
  }

  /** Throws when a table meant to hold one row per patient repeats an id. */
  /** `hint`: what to do instead, appended to the error. */
  async requireUniqueIds(table: string, field: string, hint = ''): Promise<void> {
    const t = this.table(table);
    const dup = await this.rows(
      `SELECT CAST(${q(t.id)} AS VARCHAR) AS id, count(*) AS n, ${t.hasLine ? 'list(__line ORDER BY __line)' : 'NULL'} AS lines
       FROM ${tbl(table)} WHERE ${q(t.id)} IS NOT NULL GROUP BY ${q(t.id)} HAVING count(*) > 1 ORDER BY min(${t.hasLine ? '__line' : '1'}) LIMIT 1`,
    );
    if (dup.length) {
      const records = Array.isArray(dup[0].lines) ? (dup[0].lines as unknown[]).slice(0, 5).map(Number) : undefined;
      const found = records && (await this.fileLines(table, records));
      // A Parquet file has rows, not lines (its __line is the row number).
      const lines = !records ? ''
        : this.shards.has(table) || this.csvParts.has(table) ? ` (${(await Promise.all(records.map((r) => this.at(table, r)))).join(', ')})`
        : ` (${this.parquetTables.has(table) ? 'rows' : 'lines'} ${records.map((r, k) => found![k] ?? `record ${r - 1}`).join(', ')})`;
      // How many ids repeat, so that one fix is not followed by the next id's error (MEDS: a prediction time per row)
      const ids = Number(await this.scalar(`SELECT count(*) FROM (SELECT 1 FROM ${tbl(table)} WHERE ${q(t.id)} IS NOT NULL GROUP BY ${q(t.id)} HAVING count(*) > 1)`));
      throw new CdmmError(
        `${t.label}: duplicate id ${dup[0].id} appears ${dup[0].n} times${lines}${ids > 1 ? ` (${ids - 1} other id${ids === 2 ? '' : 's'} repeat too)` : ''}, but ${field} needs one row per patient${hint}`,
      );
    }
  }
}

/**
 * SQL: the text (trimmed) ends in a time of day with a zone, as records.ts' ZONED reads it (a bare date's "-05" is its
 * day, not an offset); offsetSql: that zone is not UTC.
 */
const zonedSql = (v: string) => `regexp_matches(${v}, '[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?\\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$')`;
const offsetSql = (v: string) => `(${zonedSql(v)} AND NOT regexp_matches(${v}, '(Z|z|[+-]00(:?00)?)$'))`;

/**
 * When a table read as one column whose name holds another separator (a `|` file read with `delimiter: ","`), the
 * delimiter is what is wrong, not the column name: said so, with the setting that reads it.
 */
export function delimiterHint(names: string[], table: string): string {
  if (names.length !== 1) return '';
  const sep = ['|', ';', '\t', ','].find((d) => names[0].includes(d));
  return sep ? ` (the header was read as one column: the file looks ${sep === '\t' ? 'tab' : `'${sep}'`}-separated; give tables.${table}.delimiter: ${JSON.stringify(sep)}, or leave delimiter out to detect it)` : '';
}

/**
 * SQL for "days from the index time to this row's time": numbers are days; two timestamps/dates differ in days.
 * `idxKind` is the kind of the cohort's index time.
 */
export function relDaysExpr(timeSql: string, timeKind: ColumnKind, idxSql: string, idxKind: ColumnKind, field: string, specFile: string): string {
  if (timeKind === 'number' && idxKind === 'number') return `(CAST(${timeSql} AS DOUBLE) - ${idxSql})`;
  if (timeKind === 'time' && idxKind === 'time')
    return `((epoch_ms(CAST(${timeSql} AS TIMESTAMP)) - epoch_ms(CAST(${idxSql} AS TIMESTAMP))) / 86400000.0)`;
  if (timeKind === 'text' || idxKind === 'text')
    throw new CdmmError(`${specFile}: ${field}: time column holds text that is neither numbers (days) nor timestamps`);
  throw new CdmmError(`${specFile}: ${field}: time column and the cohort's index time must both be numbers (days) or both timestamps`);
}
