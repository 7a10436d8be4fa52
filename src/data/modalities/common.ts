// What every modality builder shares: the build context, the windowed SQL over a long table, and a fast
// reader of numeric result columns.
import { CdmmError } from '../../util/errors.js';
import { kindOf, lit, q, relDaysExpr, sqlNum, tbl, type ColumnKind, type Db } from '../db.js';
import type { DuckDBDataChunk, DuckDBMaterializedResult } from '@duckdb/node-api';
import type { Spec, Window } from '../spec.js';
import type { ModalityInfo } from '../types.js';

/** The DuckDB table of included patients: pid (0..n-1, array order), key (the id), idx (index time). */
export const COHORT = '__cohort';

/**
 * __cohort.idx as DOUBLE days: numbers in days (divided by `unitsPerDay` when the table's time_unit is another,
 * e.g. 1440 for minutes), timestamps as days since 1970 (the same for event times).
 */
export const COHORT_IDX = (kind: ColumnKind, sql: string, unitsPerDay = 1) =>
  kind === 'time' ? `(epoch_ms(CAST(${sql} AS TIMESTAMP)) / 86400000.0)` : unitsPerDay === 1 ? `CAST(${sql} AS DOUBLE)` : `(CAST(${sql} AS DOUBLE) / ${unitsPerDay})`;

export interface Ctx {
  db: Db;
  spec: Spec;
  specFile: string;
  /** Number of patients in __cohort. */
  n: number;
  idxKind: ColumnKind;
  /**
   * Work shared by the modalities of one build, by key (e.g. one scan of a long table for every time-series
   * modality that reads it). Without it each modality does its own.
   */
  shared?: Map<string, Promise<unknown>>;
  /** Table rows per query over a long table, beyond which it is read in patient ranges (default 2.5 M). */
  rowsPerBatch?: number;
  /**
   * When a long table's rows are aggregated a block of patients at a time: from `fromBytes` of cells (default
   * 4 MB), in blocks of about `blockBytes` of cells (default 256 KB).
   */
  grouping?: { fromBytes: number; blockBytes: number };
}

/** Per-patient raw data pulled by SQL, before any fitting. `present[i]` = 1 when patient i has the modality. */
export interface Raw {
  present: Uint8Array;
}

export interface Applied {
  info: ModalityInfo;
  /**
   * Who has the modality under the fitted state: `raw.present`, or fewer (a time-series patient whose only
   * variables are unknown to the state has no observation). A new array or the raw's own, never changed.
   */
  present: Uint8Array;
  /** n × prod(shape), zeros where the modality is missing. */
  values: Float32Array;
}

/** One modality type: SQL extraction, fitting on training patients, and the transform. */
export interface ModalityBuilder<R extends Raw = Raw, S = unknown> {
  extract(ctx: Ctx, name: string): Promise<R>;
  /** Fits preprocessing state on the training patients `train` only. */
  fit(raw: R, train: Int32Array, name: string): S;
  apply(raw: R, state: S, name: string): Applied;
}

/** `a = b`, comparing as text when the two columns' types differ (ids written 7 and "7" never match silently). */
export function sameKey(a: string, aType: string, b: string, bType: string): string {
  return aType === bType ? `${a} = ${b}` : `CAST(${a} AS VARCHAR) = CAST(${b} AS VARCHAR)`;
}

/** JOIN condition between a table's id column and the cohort key, casting when the types differ. */
export function joinOnCohort(ctx: Ctx, table: string, alias = 'x'): string {
  const t = ctx.db.table(table);
  const c = ctx.db.table(COHORT);
  return sameKey(`${alias}.${q(t.id)}`, t.columns.get(t.id)!, 'c.key', c.columns.get('key')!);
}

/**
 * The join of a table's rows (alias `alias`) to the cohort rows (alias c, with pid, key, idx): on the cohort key,
 * or, for a table keyed by another id (tables.NAME.link, e.g. labevents by subject_id for a cohort of admissions),
 * through the link table's column. A row then reaches every cohort row of its patient, each with its own index
 * time, and the window decides which of them may see it.
 */
export function cohortJoin(ctx: Ctx, table: string, alias = 'x'): string {
  const t = ctx.db.table(table);
  if (!t.link) return `JOIN ${COHORT} c ON ${joinOnCohort(ctx, table, alias)}`;
  const l = ctx.db.table(t.link.table);
  return `JOIN (${linkedCohort(ctx, table)}) c ON ${sameKey(`${alias}.${q(t.id)}`, t.columns.get(t.id)!, 'c.__lk', l.columns.get(t.link.column)!)}`;
}

/** The column of a link table that holds the cohort key: cohort.id when the link goes through the cohort table. */
export function linkKeyColumn(db: Db, spec: Spec, linkTable: string): string {
  return linkTable === spec.cohort.table ? spec.cohort.id ?? db.table(linkTable).id : db.table(linkTable).id;
}

/** For a linked table: each cohort row with its link value (pid, key, idx, __lk), the keys the table's ids should be. */
export function linkedCohort(ctx: Ctx, table: string): string {
  const db = ctx.db;
  const link = db.table(table).link!;
  const l = db.table(link.table);
  const lKey = linkKeyColumn(db, ctx.spec, link.table);
  return `SELECT c0.pid, c0.key, c0.idx, l.${q(link.column)} AS __lk FROM ${COHORT} c0 JOIN ${tbl(link.table)} l ON ${sameKey(`l.${q(lKey)}`, l.columns.get(lKey)!, 'c0.key', db.table(COHORT).columns.get('key')!)}`;
}

/**
 * SELECT of (__pid, __rel, x.*) for the rows of a long table inside `window` (days relative to each patient's
 * index time): the one place where "nothing after the prediction time" is enforced.
 */
export function windowedRows(ctx: Ctx, table: string, window: Window, field: string, extraWhere: string[] = [], untimed = false): string {
  const t = ctx.db.table(table);
  if (untimed && !t.time) {
    // An untimed table (e.g. a problem list known at admission): every row counts as at the index time.
    const w = extraWhere.length ? `WHERE ${extraWhere.join(' AND ')}` : '';
    return `SELECT c.pid AS __pid, 0.0 AS __rel, x.* FROM ${tbl(table)} x ${cohortJoin(ctx, table)} ${w}`;
  }
  if (!t.time) throw new CdmmError(`${ctx.specFile}: tables.${table}.time: needed by ${field}`);
  if (untimed) {
    // A table with times: the rows without one (static data, as MEDS stores sex or birth with a null time) are
    // read as known at the index time; timed rows belong to windows.
    return `SELECT c.pid AS __pid, 0.0 AS __rel, x.* FROM ${tbl(table)} x ${cohortJoin(ctx, table)} WHERE ${[`x.${q(t.time)} IS NULL`, ...extraWhere].join(' AND ')}`;
  }
  const timeKind = kindOf(t.columns.get(t.time)!);
  relDaysExpr(`x.${q(t.time)}`, timeKind, 'c.idx', ctx.idxKind, `tables.${table}.time`, ctx.specFile); // checks the clocks match
  const rel = `(${COHORT_IDX(timeKind, `x.${q(t.time)}`, t.unitsPerDay)} - c.idx)`;
  const where = [`x.${q(t.time)} IS NOT NULL`, `${rel} <= ${sqlNum(window.end, `${ctx.specFile}: ${field}.window.end`)}`];
  if (window.start !== null) where.push(`${rel} >= ${sqlNum(window.start, `${ctx.specFile}: ${field}.window.start`)}`);
  where.push(...extraWhere);
  return `SELECT c.pid AS __pid, ${rel} AS __rel, x.* FROM ${tbl(table)} x ${cohortJoin(ctx, table)} WHERE ${where.join(' AND ')}`;
}

/** Prefix filter and stripped code expression for MEDS-style code prefixes. */
export function prefixed(column: string, prefix: string | undefined, alias = ''): { where: string[]; expr: string } {
  const col = `CAST(${alias}${q(column)} AS VARCHAR)`;
  if (!prefix) return { where: [], expr: col };
  return { where: [`starts_with(${col}, ${lit(prefix)})`], expr: `substr(${col}, length(${lit(prefix)}) + 1)` };
}

/**
 * Runs a query whose columns are all numeric and hands its result to `onChunk` one chunk (2,048 rows) at a time
 * as Float64Arrays (NULL → NaN), reading the result vectors directly: a caller that aggregates as it goes never
 * holds the rows on the JavaScript side, only DuckDB's result does.
 */
export async function numericChunks(db: Db, sql: string, onChunk: (cols: Float64Array[], rows: number) => void): Promise<{ rows: number; columns: number }> {
  // A materialized result hands out its chunks synchronously: no async hop per chunk (a streamed result was
  // measured about twice as slow here, its query running with less parallelism).
  return readNumericChunks(await db.result(sql), onChunk);
}

/** Hands a materialized all-numeric result to `onChunk` chunk by chunk (see numericChunks). */
export function readNumericChunks(res: DuckDBMaterializedResult, onChunk: (cols: Float64Array[], rows: number) => void): { rows: number; columns: number } {
  const nCols = res.columnCount;
  const buf = Array.from({ length: nCols }, () => new Float64Array(2048));
  let total = 0;
  for (let k = 0, n = res.chunkCount; k < n; k++) {
    const ch = res.getChunk(k);
    const rows = ch.rowCount;
    if (rows === 0) continue;
    if (rows > buf[0].length) for (let c = 0; c < nCols; c++) buf[c] = new Float64Array(rows);
    for (let c = 0; c < nCols; c++) {
      buf[c].set(chunkColumn(ch, c, rows).subarray(0, rows));
    }
    onChunk(rows === buf[0].length ? buf : buf.map((b) => b.subarray(0, rows)), rows);
    total += rows;
  }
  return { rows: total, columns: nCols };
}

/** A column of a chunk as numbers: the vector's own typed array where it has no NULLs, else converted (NULL → NaN). */
function chunkColumn(ch: DuckDBDataChunk, c: number, rows: number): Float64Array | Int32Array | Float32Array {
  const vec = ch.getColumnVector(c);
  // items/validity: the vector's typed-array view and NULL mask in @duckdb/node-api
  const items = (vec as unknown as { items?: unknown }).items;
  const validity = (vec as unknown as { validity?: { data?: unknown } }).validity;
  if ((items instanceof Float64Array || items instanceof Int32Array || items instanceof Float32Array) && validity && validity.data === null) return items;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = vec.getItem(i) as number | bigint | null;
    out[i] = v === null ? NaN : Number(v);
  }
  return out;
}

/**
 * The order that groups rows by blocks of a non-negative integer key (block = floor(key / 2^shift)), keeping
 * their order within a block: a counting sort. An aggregate that scatters rows into per-key cells and follows
 * this order touches one block's cells at a time instead of the whole array for each row: with a 10-M-row long
 * table in scan order, cache misses took three quarters of the time-series build (0.74 s against 0.18 s for the
 * same rows in this order).
 */
export function blockOrder(key: Float64Array, rows: number, shift: number, into?: Int32Array): Int32Array {
  const div = 2 ** shift;
  let blocks = 0;
  for (let i = 0; i < rows; i++) {
    const b = Math.floor(key[i] / div);
    if (!(b >= 0 && b < 2 ** 31)) throw new Error(`blockOrder: key ${key[i]} is not a non-negative integer`);
    if (b >= blocks) blocks = b + 1;
  }
  const at = new Float64Array(blocks + 1); // rows per block, then each block's next position
  for (let i = 0; i < rows; i++) at[Math.floor(key[i] / div) + 1]++;
  for (let b = 1; b <= blocks; b++) at[b] += at[b - 1];
  const order = into && into.length >= rows ? into.subarray(0, rows) : new Int32Array(rows);
  for (let i = 0; i < rows; i++) order[at[Math.floor(key[i] / div)]++] = i;
  return order;
}

/**
 * A materialized all-numeric result as whole columns, Float64Arrays (NULL → NaN); into `into`'s arrays where they
 * are large enough (a caller reading several results reuses them: fresh ones cost page faults and collections).
 */
export function readNumericColumns(res: DuckDBMaterializedResult, into: Float64Array[] = []): Float64Array[] {
  const rowCount = Number(res.rowCount);
  const out = Array.from({ length: res.columnCount }, (_, c) => (into[c] && into[c].length >= rowCount ? into[c] : new Float64Array(rowCount)));
  let off = 0;
  for (let k = 0, n = res.chunkCount; k < n; k++) {
    const ch = res.getChunk(k);
    const rows = ch.rowCount;
    for (let c = 0; c < out.length; c++) out[c].set(chunkColumn(ch, c, rows).subarray(0, rows), off);
    off += rows;
  }
  return out.map((c) => (c.length === off ? c : c.subarray(0, off)));
}

/** Runs a query whose columns are all numeric and returns them whole, as Float64Arrays (NULL → NaN). */
export async function numericColumns(db: Db, sql: string): Promise<Float64Array[]> {
  return readNumericColumns(await db.result(sql));
}

/** Largest dense n × width array a modality may produce (1.6 GB of float32). */
export const MAX_DENSE_CELLS = 400_000_000;

/** Refuses a dense output that would not fit in memory, naming the spec fields that make it smaller. */
export function requireDenseFits(n: number, width: number, name: string, what: string, fix: string): void {
  if (n * width > MAX_DENSE_CELLS)
    throw new CdmmError(`modalities.${name}: ${n.toLocaleString('en-US')} patients × ${width.toLocaleString('en-US')} ${what} is too large for the model's dense input (at most ${MAX_DENSE_CELLS.toLocaleString('en-US')} values); ${fix}`);
}

/** Mean and standard deviation over the finite values of `x` at the rows in `idx` (std 1 when degenerate). */
export function meanStd(values: (i: number) => number, idx: Iterable<number>): { mean: number; std: number } {
  let n = 0, s = 0, s2 = 0;
  for (const i of idx) {
    const v = values(i);
    if (Number.isFinite(v)) { n++; s += v; s2 += v * v; }
  }
  if (n === 0) return { mean: 0, std: 1 };
  const mean = s / n;
  const variance = Math.max(0, s2 / n - mean * mean);
  const std = Math.sqrt(variance);
  return { mean, std: std > 1e-12 ? std : 1 };
}

/** Present flags for patients that have at least one row in a (pid) result column. */
export function presentFromPids(n: number, pids: Float64Array): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < pids.length; i++) p[pids[i]] = 1;
  return p;
}
