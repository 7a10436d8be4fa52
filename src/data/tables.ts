// What a spec says about a table beyond its file, applied once it is loaded: `id: _row` (row numbers as ids),
// `where` (rows kept by value), `values` (per-column value maps such as "> 89" → 90), then, once every table
// is there, `lookup` (columns of another table matched on a shared key), the row time of several time
// columns, and the checks of `time` and `link`. Every spec name reaches SQL quoted after it is checked to be a
// column, every spec value as an escaped literal or a finite number.
import { CdmmError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { delimiterHint, duckdbReason, kindOf, lit, q, tbl, textNumber, type Db } from './db.js';
import type { PathPolicy } from './paths.js';
import { mentionedNames, ROW_TIME, tableFormat, writtenInSubDayUnit, type Spec, type TableSpec } from './spec.js';
import { isColumnType } from './state.js';

type Scalar = string | number | boolean;

/** The columns of a DuckDB table, name → type. */
async function columnTypes(db: Db, name: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of await db.rows(`DESCRIBE ${tbl(name)}`)) out.set(String(d.column_name), String(d.column_type));
  return out;
}

function needColumn(cols: Map<string, string>, column: string, where: string, label: string): string {
  const type = cols.get(column);
  if (type === undefined) {
    const names = [...cols.keys()].filter((c) => !c.startsWith('__'));
    const table = /tables\.([^.]+)\./.exec(where)?.[1] ?? 'NAME';
    throw new CdmmError(`${where}: column '${column}' not found in ${label}${delimiterHint(names, table)}; columns: ${names.join(', ')}`);
  }
  return type;
}

const TRUTHY = ['1', 'true', 't', 'yes', 'y'];
const FALSY = ['0', 'false', 'f', 'no', 'n'];

/**
 * SQL that is true when `colSql` (of DuckDB type `type`) holds one of `values`: booleans as booleans (yes/no,
 * 1/0, true/false), numbers as numbers, anything else as trimmed, case-insensitive text.
 */
export function valueMatch(colSql: string, type: string, values: Scalar[], where: string): string {
  const { expr, keys } = matchParts(colSql, type, values, where);
  return `${expr} IN (${[...new Set(keys)].join(', ')})`;
}

/** valueMatch as a key expression of the column and each value's key (SQL literals), compared with `=`. */
function matchParts(colSql: string, type: string, values: Scalar[], where: string): { expr: string; keys: string[] } {
  if (type === 'BOOLEAN') {
    const keys = values.map((v) => {
      const s = String(v).trim().toLowerCase();
      if (TRUTHY.includes(s)) return 'TRUE';
      if (FALSY.includes(s)) return 'FALSE';
      throw new CdmmError(`${where}: ${JSON.stringify(v)} cannot match a column of yes/no (true/false) values`);
    });
    return { expr: colSql, keys };
  }
  if (kindOf(type) === 'number' && values.every((v) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))))) {
    return { expr: `CAST(${colSql} AS DOUBLE)`, keys: values.map((v) => `${Number(v)}::DOUBLE`) };
  }
  return { expr: `lower(trim(CAST(${colSql} AS VARCHAR)))`, keys: values.map((v) => lit(String(v).trim().toLowerCase())) };
}

/** Which of `values` occur in the column: one join of the values with the column's distinct keys (linear in both). */
async function valuesPresent(db: Db, table: string, column: string, type: string, values: Scalar[], where: string): Promise<Set<number>> {
  const { expr, keys } = matchParts(q(column), type, values, where);
  const rows = await db.rows(`SELECT DISTINCT v.i AS i FROM (VALUES ${keys.map((k, i) => `(${i}, ${k})`).join(', ')}) v(i, k) JOIN (SELECT DISTINCT ${expr} AS k FROM ${tbl(table)}) d ON v.k = d.k`);
  return new Set(rows.map((r) => Number(r.i)));
}

/** The distinct values of a column, for messages (at most 6). */
export async function someValues(db: Db, table: string, column: string): Promise<string> {
  const seen = (await db.rows(`SELECT DISTINCT CAST(${q(column)} AS VARCHAR) AS v FROM ${tbl(table)} WHERE ${q(column)} IS NOT NULL ORDER BY 1 LIMIT 6`)).map((r) => JSON.stringify(r.v));
  return seen.join(', ') + (seen.length === 6 ? ', …' : '');
}

/** Whether a values map on a column of this DuckDB type matches by number (not BOOLEAN: true/false are text there). */
const numericMapColumn = (type: string): boolean => kindOf(type) === 'number' && !/^BOOL/i.test(type);

/**
 * Row-level options, right after the table is loaded and before its columns are described. `constant`: the
 * columns the spec reads from a first_row table as per-patient values, warned of when they vary within an id.
 */
export async function shapeRows(db: Db, name: string, t: TableSpec, label: string, constant: string[] = []): Promise<void> {
  const f = db.specFile;
  let cols = await columnTypes(db, name);
  const hasLine = cols.has('__line');
  // `_row`: 1, 2, … in file order (the CSV header is line 1). Records already carry it as their id.
  if (t.id === '_row' && !cols.has('_row')) {
    if (!hasLine) throw new CdmmError(`${f}: tables.${name}.id: _row needs the rows of a file`);
    const first = tableFormat(t) === 'csv' ? 1 : 0;
    await db.run(`ALTER TABLE ${tbl(name)} ADD COLUMN "_row" BIGINT`);
    await db.run(`UPDATE ${tbl(name)} SET "_row" = __line - ${first}`);
  }
  for (const [column, map] of Object.entries(t.values ?? {})) {
    const field = `${f}: tables.${name}.values.${column}`;
    const before = needColumn(cols, column, field, `${name} (${label})`);
    // A mapped number is written in the file's own decimal convention, so that the column reads one way.
    const text = (to: string | number) => (typeof to === 'number' && t.decimal === ',' ? String(to).replace('.', ',') : String(to));
    const c = q(column);
    // A column DuckDB read as numbers is matched by value ("999" is 999.0, which prints as '999.0'); text by its
    // trimmed text. (compiled/records.ts does the same for JSON records.)
    const numbers = numericMapColumn(before);
    const entries = Object.entries(map);
    if (!entries.length) continue;
    // The map as a table joined to the column (a CASE of 60,000 branches took 25 s and 5 GB); the first of two
    // entries with the same key wins, as the first branch of a CASE did.
    const key = (from: string) => (numbers ? textNumber(lit(from.trim()), t.decimal) : lit(from.trim()));
    await db.run(`CREATE OR REPLACE TEMP TABLE __vmap AS SELECT k, list(v ORDER BY i)[1] AS v FROM (VALUES ${entries.map(([from, to], i) => `(${i}, ${key(from)}, ${to === null ? 'NULL' : lit(text(to))}::VARCHAR)`).join(', ')}) m(i, k, v) WHERE k IS NOT NULL GROUP BY k`);
    const other = t.decimal === ',' && kindOf(before) === 'number' ? `replace(CAST(${c} AS VARCHAR), '.', ',')` : `CAST(${c} AS VARCHAR)`;
    try {
      await db.run(`ALTER TABLE ${tbl(name)} ADD COLUMN __vm VARCHAR`);
      await db.run(`ALTER TABLE ${tbl(name)} ADD COLUMN __vhit BOOLEAN`);
      await db.run(`UPDATE ${tbl(name)} SET __vm = m.v, __vhit = TRUE FROM __vmap m WHERE ${numbers ? c : `trim(CAST(${c} AS VARCHAR))`} = m.k`);
      await db.run(`ALTER TABLE ${tbl(name)} ALTER ${c} SET DATA TYPE VARCHAR USING CASE WHEN __vhit THEN __vm ELSE ${other} END`);
    } finally {
      await db.run(`ALTER TABLE ${tbl(name)} DROP COLUMN IF EXISTS __vm`);
      await db.run(`ALTER TABLE ${tbl(name)} DROP COLUMN IF EXISTS __vhit`);
      await db.run(`DROP TABLE IF EXISTS __vmap`);
    }
    // A column that holds only numbers once mapped (eICU age with "> 89" → 90) becomes numeric again.
    const bad = Number(await db.scalar(`SELECT count(*) FROM ${tbl(name)} WHERE ${c} IS NOT NULL AND trim(${c}) <> '' AND ${textNumber(`trim(${c})`, t.decimal)} IS NULL`));
    if (bad === 0) await db.run(`ALTER TABLE ${tbl(name)} ALTER ${c} SET DATA TYPE DOUBLE USING ${textNumber(`nullif(trim(${c}), '')`, t.decimal)}`);
  }
  cols = await columnTypes(db, name);
  if (t.split) {
    // One row per value of a multi-value cell; the other columns (and __line, for errors) repeated.
    const field = `${f}: tables.${name}.split.column`;
    const type = needColumn(cols, t.split.column, field, `${name} (${label})`);
    if (kindOf(type) !== 'text') throw new CdmmError(`${field}: column '${t.split.column}' holds ${type} values, not text: nothing to split`);
    const c = q(t.split.column);
    const parts = `list_filter(list_transform(string_split(${c}, ${lit(t.split.by)}), v -> trim(v)), v -> v <> '')`;
    await db.run(`CREATE OR REPLACE TABLE ${tbl(name)} AS SELECT * REPLACE (unnest(CASE WHEN ${c} IS NULL OR len(${parts}) = 0 THEN [NULL::VARCHAR] ELSE ${parts} END) AS ${c}) FROM ${tbl(name)} ORDER BY ${cols.has('__line') ? '__line' : 'rowid'}`);
  }
  const conds: string[] = [];
  for (const [column, values] of Object.entries(t.where ?? {})) {
    const field = `${f}: tables.${name}.where.${column}`;
    const type = needColumn(cols, column, field, `${name} (${label})`);
    const cond = valueMatch(q(column), type, values, field);
    if (hasLine) {
      // Each value's rows, in one scan: none at all is an error; a value of a list that occurs nowhere (a mistyped
      // item id) a warning, since a list written for a full database (MIMIC-IV) may name items a demo subset lacks.
      // (one join, not a count per value: a list of 8,000 values took 23 GB that way)
      const present = await valuesPresent(db, name, column, type, values, field);
      const absent = values.filter((_, i) => !present.has(i));
      if (present.size === 0)
        throw new CdmmError(`${field}: none of ${JSON.stringify(values)} occurs in ${label} (values there: ${await someValues(db, name, column)})`);
      if (absent.length)
        db.warnings.push(`${field.replace(/^[^:]*: /, '')}: ${absent.map((v) => JSON.stringify(v)).join(', ')} occur${absent.length === 1 ? 's' : ''} nowhere in ${label} (the other values of the list do): a typo, or an item this file does not have`);
    }
    conds.push(cond);
  }
  if (conds.length) await db.run(`DELETE FROM ${tbl(name)} WHERE NOT coalesce(${conds.map((c) => `(${c})`).join(' AND ')}, FALSE)`);
  if (t.first_row) await keepFirstRows(db, name, t, label, cols, constant);
}

/** tables.NAME.first_row: each id's earliest row by its time column, file order among ties (records: their order). */
async function keepFirstRows(db: Db, name: string, t: TableSpec, label: string, cols: Map<string, string>, constant: string[]): Promise<void> {
  const field = `${db.specFile}: tables.${name}.first_row`;
  const idName = t.id ?? (t.format === 'meds' ? 'subject_id' : '');
  needColumn(cols, idName, `${db.specFile}: tables.${name}.id`, `${name} (${label})`);
  const id = q(idName);
  // By time only where the column already holds numbers, dates or timestamps: text (elapsed "100:00", a
  // time_format) or TIME would sort otherwise than the times it becomes (and than the request paths sort them).
  const tt = typeof t.time === 'string' ? cols.get(t.time) : undefined;
  // Text read through tables.NAME.time_format orders by the times it gives (it used to keep file order: a tester's
  // "%d/%m/%Y" admissions kept a random row's weight and time).
  const formatted = tt !== undefined && kindOf(tt) === 'text' && t.time_format !== undefined;
  const ordered = tt !== undefined && (kindOf(tt) === 'number' || /^(DATE|TIMESTAMP)/i.test(tt) || formatted);
  // A value off the layout would sort last and be dropped with the other rows: the error requireTime gives, now.
  const fmt = formatted ? await db.requireTimeFormat(name, t.time as string, t.time_format!, `tables.${name}.first_row`, label, cols.has('__line')) : '';
  const time = !ordered ? '' : formatted ? `try_strptime(trim(${q(t.time as string)}), ${fmt}) NULLS LAST, ` : `${q(t.time as string)} NULLS LAST, `;
  const order = `${time}${cols.has('__line') ? '__line' : 'rowid'}`;
  const short = field.replace(/^[^:]*: /, '');
  if (t.time !== undefined && !ordered)
    db.warnings.push(`${short}: each id's first row is its first in the file, not its earliest: the time ${typeof t.time === 'string' ? `column '${t.time}' holds ${tt ?? 'no column'} values, not numbers, dates or timestamps` : 'is not one column'}, so rows are not ordered by it`);
  // The time column varies within an id by nature (first_row orders by it): not a per-patient value to warn of.
  const used = [...new Set(constant)].filter((c) => cols.has(c) && c !== t.id && c !== t.time);
  if (used.length) {
    // A NULL counts as a value of its own (count DISTINCT skips it): an id whose first row lacks a value its later
    // rows hold loses it too.
    const [v] = await db.rows(`SELECT count(*) AS ids, ${used.map((c, k) => `count(*) FILTER (WHERE n${k} > 1) AS v${k}`).join(', ')} FROM (SELECT ${used.map((c, k) => `count(DISTINCT ${q(c)}) + max(CASE WHEN ${q(c)} IS NULL THEN 1 ELSE 0 END) AS n${k}`).join(', ')} FROM ${tbl(name)} WHERE ${id} IS NOT NULL GROUP BY ${id})`);
    const varying = used.map((c, k) => ({ c, n: Number(v[`v${k}`]) })).filter((x) => x.n > 0);
    if (varying.length)
      db.warnings.push(`${short}: ${varying.slice(0, 5).map((x) => `'${x.c}' (in ${x.n} of ${Number(v.ids)} ids)`).join(', ')}${varying.length > 5 ? ', …' : ''} take${varying.length === 1 ? 's' : ''} several values within an id; the first row's value is used (first_row is meant for values constant per patient, such as age and sex)`);
  }
  // Rows without an id are not one patient's: they are left as they are (the build reports them as for any table).
  await db.run(`DELETE FROM ${tbl(name)} WHERE rowid IN (SELECT r FROM (SELECT rowid AS r, row_number() OVER (PARTITION BY ${id} ORDER BY ${order}) AS k FROM ${tbl(name)} WHERE ${id} IS NOT NULL) WHERE k > 1)`);
}

/** Loads one spec table: file, row-level options, columns (time checked later by finishTables). */
export async function registerTable(db: Db, name: string, t: TableSpec, specDir: string, policy: PathPolicy = {}): Promise<void> {
  await db.loadFile(name, t, specDir, policy);
  await shapeTable(db, name, t);
}

/** A loaded table's row options (`id: _row`, values, where, first_row) and its columns recorded. */
async function shapeTable(db: Db, name: string, t: TableSpec, constant: string[] = []): Promise<void> {
  await shapeRows(db, name, t, t.file, constant);
  await db.describe(name, t, t.file, true, false);
}

/** The times the cohort and an event label read from table `name` (index, end, label time), besides its own time. */
function clockColumns(spec: Spec, name: string): string[] {
  const cols: string[] = [];
  if (spec.cohort.table === name) {
    if (typeof spec.cohort.index_time === 'string') cols.push(spec.cohort.index_time);
    if (spec.cohort.end_time) cols.push(spec.cohort.end_time);
  }
  if ('event' in spec.label && (spec.label.table ?? spec.cohort.table) === name) cols.push(spec.label.time);
  return cols;
}

/** The columns a spec reads from table `name` as one value per patient: tabular features, cohort and label columns. */
function perPatientColumns(spec: Spec, name: string): string[] {
  const out: string[] = [];
  for (const m of Object.values(spec.modalities)) if (m.type === 'tabular' && m.table === name) out.push(...m.numeric, ...m.categorical);
  out.push(...clockColumns(spec, name));
  if ((spec.label.table ?? spec.cohort.table) === name) out.push('column' in spec.label ? spec.label.column : spec.label.event);
  return out;
}

/** Registers every table of the spec from its file, then the table-to-table options. */
export async function registerTables(db: Db, spec: Spec, specDir: string, quiet?: boolean, policy: PathPolicy = {}): Promise<void> {
  const entries = Object.entries(spec.tables);
  const bar = progress('tables', entries.length, { quiet });
  // The files are read together (db.loadFiles); their errors still come in spec order.
  await db.loadFiles(entries.map(([name, t]) => ({ name, t })), specDir, policy);
  for (const [k, [name, t]] of entries.entries()) {
    bar.update(k, { table: name });
    await shapeTable(db, name, t, perPatientColumns(spec, name));
  }
  bar.update(entries.length);
  bar.stop();
  await finishTables(db, spec);
  noteTimeUnits(db, spec);
}

/** The time-unit notes among a build's warnings (noteTimeUnits), for the errors a wrong unit explains. */
export const timeUnitNotes = (warnings: string[]): string[] => warnings.filter((w) => /numeric times are read as days/.test(w));

/** The spec's durations (index offset, horizon, windows) that are not whole days, as "field = N h". */
function subDayDurations(spec: Spec): string[] {
  const out: string[] = [];
  const add = (field: string, d: number | null | undefined) => {
    if (typeof d === 'number' && d !== 0 && !Number.isInteger(d) && writtenInSubDayUnit(spec, field)) out.push(`${field} ${+(d * 24).toFixed(2)} h`);
  };
  add('cohort.index_offset', spec.cohort.index_offset);
  if ('horizon' in spec.label) add('label.horizon', spec.label.horizon);
  for (const [name, m] of Object.entries(spec.modalities))
    if ('window' in m && m.window) {
      add(`modalities.${name}.window.start`, m.window.start);
      add(`modalities.${name}.window.end`, m.window.end);
    }
  return out;
}

/**
 * Numeric times of some tables in minutes (or hours) and of another in days because it says no time_unit: most
 * often a time_unit left off one table (eICU's vitals read as days kept 10.6% of the stays instead of 95.6%).
 */
function noteTimeUnits(db: Db, spec: Spec): void {
  // A table's own time, or the times the cohort and the label read from it (eICU's unitdischargeoffset as the
  // label time of a patient table with no time column: read as days, every stay was past a 48 h horizon).
  const numericTime = (name: string) => {
    const info = db.table(name);
    const col = info.columns.has(ROW_TIME) ? ROW_TIME : info.time;
    return [...(col ? [col] : []), ...clockColumns(spec, name)].some((c) => kindOf(info.columns.get(c) ?? '') === 'number');
  };
  const given = Object.keys(spec.tables).find((name) => (spec.tables[name].time_unit ?? 'days') !== 'days');
  if (!given) {
    // No table says its unit, but the spec's durations are parts of a day ("6 h", "30 min"): hourly counters such as
    // PhysioNet's ICULOS read as days then put the index, windows and horizon at the wrong rows (a missing
    // time_unit: hours built a one-class label, silently).
    const parts = subDayDurations(spec);
    if (!parts.length) return;
    const days = Object.keys(spec.tables).filter((name) => !spec.tables[name].time_unit && numericTime(name));
    if (days.length)
      db.warnings.push(
        `${days.map((n) => `tables.${n}`).join(', ')}: ${days.length === 1 ? 'its' : 'their'} numeric times are read as days (no time_unit), while the spec's durations are parts of a day (${parts.slice(0, 3).join(', ')}); ` +
          `if they count hours or minutes, add time_unit: hours (or minutes) to ${days.length === 1 ? 'it' : 'each'} (or time_unit: days to keep days without this note)`,
      );
    return;
  }
  const unit = spec.tables[given].time_unit!;
  for (const name of Object.keys(spec.tables)) {
    if (spec.tables[name].time_unit || !numericTime(name)) continue;
    db.warnings.push(
      `tables.${name}: its numeric times are read as days (it has no time_unit), those of tables.${given} as ${unit}; ` +
        `if ${name}'s times are ${unit} too, add time_unit: ${unit} to it (or time_unit: days to keep days without this note)`,
    );
  }
}

/** `lookup` columns, the derived row time, and the checks of time and link columns, for every table. */
/**
 * `recordPatients`: the tables hold JSON records (loadRecords: every row's id column is its record's id), with each
 * record's patient (cohort.patient as sent, else the record itself); a lookup then matches rows of the same patient
 * only, as the compiled transform does: another patient's record in the request never times or completes a row.
 */
/**
 * Columns of a type a run cannot hold (STRUCT, MAP, nested lists: Parquet exports have them) are left out where the
 * spec names them nowhere, and an error where it does, before any work: a run keeps every column's type, and such
 * a column made a finished training fail when its run was written.
 */
async function dropUnusedNestedColumns(db: Db, spec: Spec): Promise<void> {
  let used: Set<string> | undefined;
  for (const name of Object.keys(spec.tables)) {
    const info = db.table(name);
    for (const [c, type] of [...info.columns]) {
      if (isColumnType(type) || c.startsWith('__')) continue;
      used ??= mentionedNames([spec.tables, spec.cohort, spec.label, spec.modalities, spec.split ?? null, spec.reference ?? null, spec.true_risk ?? null], spec.tables);
      if (used.has(c)) throw new CdmmError(`${db.specFile}: tables.${name}: column '${c}' of ${info.label} has type ${type.slice(0, 80)}, which cdmm does not read (numbers, text, booleans, dates and times, or a list of one of them)`);
      await db.run(`ALTER TABLE ${tbl(name)} DROP COLUMN ${q(c)}`);
      info.columns.delete(c);
    }
  }
}

export async function finishTables(db: Db, spec: Spec, recordPatients?: Map<string, string>): Promise<void> {
  const f = db.specFile;
  // A table an untimed modality reads: its rows without a time are that modality's data, not rows left out.
  const staticRows = new Set(Object.values(spec.modalities).filter((m) => 'untimed' in m && m.untimed === true).map((m) => m.table));
  const byRecord = recordPatients !== undefined;
  if (byRecord && Object.values(spec.tables).some((t) => t.lookup)) {
    await db.run(`CREATE OR REPLACE TEMP TABLE __record_patient (rid VARCHAR, pat VARCHAR)`);
    const pairs = [...recordPatients].map(([r, p]) => `(${lit(r)}, ${lit(p)})`);
    for (let i = 0; i < pairs.length; i += 1000) await db.run(`INSERT INTO __record_patient VALUES ${pairs.slice(i, i + 1000).join(', ')}`);
  }
  await dropUnusedNestedColumns(db, spec);
  for (const [name, t] of Object.entries(spec.tables)) if (t.lookup) await addLookup(db, name, t, byRecord);
  for (const [name, t] of Object.entries(spec.tables)) {
    const info = db.table(name);
    if (Array.isArray(t.time) && t.time.length > 1) {
      const kinds = new Set<string>();
      for (const [i, c] of t.time.entries()) {
        await db.requireTime(name, c, `tables.${name}.time[${i}]`);
        kinds.add(kindOf(info.columns.get(c)!));
      }
      if (kinds.size > 1) throw new CdmmError(`${f}: tables.${name}.time: the columns ${t.time.join(', ')} must all be numbers or all timestamps`);
      const type = kinds.has('time') ? 'TIMESTAMP' : 'DOUBLE';
      // The row is known once all its times have passed: the latest of them (greatest() skips empty ones).
      if (!info.columns.has(ROW_TIME)) await db.run(`ALTER TABLE ${tbl(name)} ADD COLUMN ${q(ROW_TIME)} ${type}`);
      await db.run(`UPDATE ${tbl(name)} SET ${q(ROW_TIME)} = greatest(${t.time.map((c) => `CAST(${q(c)} AS ${type})`).join(', ')})`);
      info.columns.set(ROW_TIME, type);
      if (!staticRows.has(name)) await db.noteUntimedRows(name, ROW_TIME, `tables.${name}.time`);
    } else if (info.time) {
      await db.requireTime(name, info.time, `tables.${name}.time`);
      if (!staticRows.has(name)) await db.noteUntimedRows(name, info.time, `tables.${name}.time`);
    }
    if (t.link) {
      db.requireColumn(t.link.table, t.link.column, `tables.${name}.link.column`);
      await db.requireUniqueIds(t.link.table, `tables.${name}.link.table`);
    }
  }
}

/** Adds (or fills the empty cells of) `lookup.columns` from the lookup table, matched on `lookup.on`. */
async function addLookup(db: Db, name: string, t: TableSpec, byRecord = false): Promise<void> {
  const lk = t.lookup!;
  const field = `tables.${name}.lookup`;
  const me = db.table(name);
  const src = db.table(lk.table);
  const myOn = db.requireColumn(name, lk.on, `${field}.on`);
  const srcOn = db.requireColumn(lk.table, lk.on, `${field}.on`);
  for (const [i, c] of lk.columns.entries()) db.requireColumn(lk.table, c, `${field}.columns[${i}]`);
  // For records, each lookup row carries its record's patient (__lp) and each row of this table its own (__xp).
  const srcSql = byRecord
    ? `(SELECT s.*, rp.pat AS __lp FROM ${tbl(lk.table)} s LEFT JOIN __record_patient rp ON rp.rid = CAST(s.${q(src.id)} AS VARCHAR))`
    : tbl(lk.table);
  const dup = await db.rows(
    `SELECT CAST(${q(lk.on)} AS VARCHAR) AS v, count(*) AS n FROM ${srcSql} WHERE ${q(lk.on)} IS NOT NULL GROUP BY 1${byRecord ? ', __lp' : ''} HAVING count(*) > 1 ORDER BY 1 LIMIT 1`,
  );
  if (dup.length)
    throw new CdmmError(`${src.label}: ${lk.on} ${dup[0].v} appears ${dup[0].n} times, but ${db.specFile}: ${field} needs one row per ${lk.on} in table '${lk.table}'`);
  const on = myOn === srcOn ? `x.${q(lk.on)} = l.${q(lk.on)}` : `CAST(x.${q(lk.on)} AS VARCHAR) = CAST(l.${q(lk.on)} AS VARCHAR)`;
  const replace = lk.columns.filter((c) => me.columns.has(c));
  const add = lk.columns.filter((c) => !me.columns.has(c));
  // For records, x carries the patient column __xp, which the table does not keep.
  const star = byRecord ? 'x.* EXCLUDE (__xp)' : 'x.*';
  const sel = [
    replace.length ? `${star} REPLACE (${replace.map((c) => `coalesce(x.${q(c)}, CAST(l.${q(c)} AS ${me.columns.get(c)})) AS ${q(c)}`).join(', ')})` : star,
    ...add.map((c) => `l.${q(c)}`),
  ];
  const from = byRecord
    ? `(SELECT m.*, rp.pat AS __xp FROM ${tbl(name)} m LEFT JOIN __record_patient rp ON rp.rid = CAST(m.${q(me.id)} AS VARCHAR)) x LEFT JOIN ${srcSql} l ON ${on} AND l.__lp = x.__xp`
    : `${tbl(name)} x LEFT JOIN ${tbl(lk.table)} l ON ${on}`;
  await db.run(`CREATE OR REPLACE TABLE ${tbl(name)} AS SELECT ${sel.join(', ')} FROM ${from}${me.hasLine ? ' ORDER BY x.__line' : ''}`);
  for (const c of add) me.columns.set(c, src.columns.get(c)!);
}
