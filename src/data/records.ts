// PatientRecord: one new patient as JSON, `{ "id": "...", "index_time"?: number | timestamp, "<table>": rows }`,
// with rows of each spec table as an array of objects (one-row tables may be a single object). Records are
// loaded into DuckDB tables with the training column types, so prediction runs the same SQL as training.
import { z } from 'zod';
import { CdmmError } from '../util/errors.js';
import { Db, kindOf, lit, q, tbl } from './db.js';
import { BOOLEAN_TEXT, booleanTextValue, columnClass } from './compiled/cells.js';
import { formatPath, mentionedNames, type Spec } from './spec.js';
import { finishTables, shapeRows } from './tables.js';

// NUL cannot travel through SQL text; nothing clinical needs it.
const text = z.string().refine((v) => !v.includes('\u0000'), { message: 'text must not contain NUL characters' });
const cell = z.union([z.number(), text, z.boolean(), z.null()]);
const row = z.record(cell);

/** Generic shape of a patient record (any spec). */
export const patientRecordSchema = z
  .object({
    id: z.union([z.string().min(1), z.number()]).transform(String),
    index_time: z.union([z.number().finite(), z.string().min(1)]).optional(),
  })
  .catchall(z.union([z.array(row), row]));

export type PatientRecord = { id: string; index_time?: number | string } & Record<string, unknown>;

/** The text a record may hold in a number column: blank, or a decimal number. */
const NUMBER_TEXT = /^\s*$|^\s*[-+]?(\d+(?:\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;
/** In a BOOLEAN column also the yes/no words its table file held. */
const NUMBER_OR_YES_NO_TEXT = new RegExp(`${NUMBER_TEXT.source}|${BOOLEAN_TEXT.source}`, 'i');
/** The text a record may hold in a number column of DuckDB type `type` (the schema's and the validator's rule). */
export const numberTextFor = (type: string): RegExp => (columnClass(type) === 'boolean' ? NUMBER_OR_YES_NO_TEXT : NUMBER_TEXT);

/** A schema that also checks each table's columns against the training column types, for precise error paths
 * such as `records[0].labs[2].value: expected number`. */
export function patientRecordSchemaFor(tableTypes: Record<string, Record<string, string>>, numberMessages: Record<string, Record<string, string>> = {}) {
  const tables: Record<string, z.ZodTypeAny> = {};
  for (const [name, cols] of Object.entries(tableTypes)) {
    const shape: Record<string, z.ZodTypeAny> = {};
    for (const [c, type] of Object.entries(cols)) {
      const k = kindOf(type);
      const message = Object.hasOwn(numberMessages, name) && Object.hasOwn(numberMessages[name], c) ? numberMessages[name][c] : 'expected number';
      shape[c] =
        k === 'number'
          ? z.union([z.number().finite(), z.boolean(), z.null(), z.string().regex(numberTextFor(type), message)]).optional()
          : k === 'time'
            ? z.union([text, z.number(), z.null()]).optional()
            : cell.optional();
    }
    const r = z.object(shape).passthrough();
    tables[name] = z.union([z.array(r), r]).optional();
  }
  return z
    .object({
      id: z.union([z.string().min(1), z.number()]).transform(String),
      index_time: z.union([z.number().finite(), z.string().min(1)]).optional(),
      ...tables,
    })
    .passthrough();
}

/**
 * The column types JSON records are read with (both record paths and the validator): the training types, except
 * that a whole-number column used only as a numeric value — a tabular modality's numeric columns, a time series'
 * value or wide columns, an embedding's columns — reads as DOUBLE. A heart rate of 72.5 where training held only
 * whole numbers is then 72.5, as it would be in a new table file, instead of a 400 for the whole request (or a
 * silent 72). Every other column keeps its type and refuses fractions, since rounding there moves a time across
 * the prediction time, an id onto another patient or a code onto another code. Conservative: a column whose name
 * occurs anywhere else in the spec (an id, a time, a filter, a variable or code column, a category) keeps its type.
 */
export function recordTableTypes(spec: Spec, tableTypes: Record<string, Record<string, string>>): Record<string, Record<string, string>> {
  const values = new Map<string, Set<string>>();
  const add = (table: string, cols: readonly string[] | undefined) => {
    for (const c of cols ?? []) (values.get(table) ?? values.set(table, new Set()).get(table)!).add(c);
  };
  // (a table's `columns` only picks the columns to load: naming a value column there is no other use of it)
  const rest: unknown[] = [Object.values(spec.tables).map(({ columns: _loaded, ...t }) => t), spec.cohort, spec.label];
  for (const m of Object.values(spec.modalities)) {
    const { numeric, value, columns, ...other } = m as Record<string, unknown> & { table: string; numeric?: string[]; value?: string; columns?: string[] };
    if (m.type === 'tabular') add(m.table, numeric);
    if (m.type === 'timeseries') add(m.table, [...(value ? [value] : []), ...(columns ?? [])]);
    if (m.type === 'embedding') add(m.table, columns ?? Object.keys(Object.hasOwn(tableTypes, m.table) ? tableTypes[m.table] : {}).filter((c) => m.column_prefix !== undefined && c.startsWith(m.column_prefix)));
    rest.push(other, m.type === 'tabular' ? { value, columns } : m.type === 'timeseries' || m.type === 'embedding' ? { numeric } : { numeric, value, columns });
  }
  const elsewhere = mentionedNames(rest, spec.tables);
  const out: Record<string, Record<string, string>> = {};
  for (const [t, cols] of Object.entries(tableTypes)) {
    const only = values.get(t);
    out[t] = Object.fromEntries(Object.entries(cols).map(([c, type]) =>
      [c, only?.has(c) && columnClass(type) === 'integer' && !elsewhere.has(c) ? 'DOUBLE' : type]));
  }
  return out;
}

/** Whose records may share lookup rows (both record paths): the patient column's value as sent, else `fallback`. */
export const patientKey = (value: unknown, fallback: string): string =>
  value === undefined || value === null || value === '' ? fallback : `patient ${String(value)}`;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A copy with null-prototype objects, so that a key such as `constructor` reads as the caller's own or as absent. */
function ownObject(v: Record<string, unknown>): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, v);
}

/**
 * Records as null-prototype objects down to their rows (cells are left as they are). zod and plain lookups read
 * `obj[key]`, which for a record or row without a `constructor`, `toString` or `hasOwnProperty` key would
 * otherwise find Object.prototype's function: a column of that name would look given, a table of that name known.
 * Only three levels deep, so a deeply nested body costs nothing here.
 */
export function ownRecords(input: unknown): unknown {
  if (!Array.isArray(input)) return input;
  return input.map((rec) => {
    if (!isPlainObject(rec)) return rec;
    const out = ownObject(rec);
    for (const k of Object.keys(out)) {
      const v = out[k];
      if (Array.isArray(v)) out[k] = v.map((row) => (isPlainObject(row) ? ownObject(row) : row));
      else if (isPlainObject(v)) out[k] = ownObject(v);
    }
    return out;
  });
}

/** Own property or undefined: never one inherited from Object.prototype. */
export const own = (o: unknown, key: string): unknown => (o !== null && typeof o === 'object' && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined);

/** Validates records; errors name the path, e.g. `records[0].labs[2].value: expected number`. */
export function parseRecords(input: unknown, tableTypes: Record<string, Record<string, string>>): PatientRecord[] {
  const r = z.array(patientRecordSchemaFor(tableTypes)).safeParse(ownRecords(input));
  if (!r.success) {
    const lines = r.error.issues.slice(0, 8).map((i) => `${formatPath(['records', ...i.path])}: ${i.message}`);
    throw new CdmmError(lines.join('\n'));
  }
  const seen = new Set<string>();
  for (const [k, rec] of r.data.entries()) {
    if (seen.has(rec.id)) throw new CdmmError(`records[${k}].id: duplicate id ${JSON.stringify(rec.id)}`);
    seen.add(rec.id);
  }
  return r.data as PatientRecord[];
}

const ZONED = /\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)\s*$/i;

/** The SQL value of one cell for a column of `type`; `cast` is CAST, or TRY_CAST to find the unreadable ones. */
export function sqlValue(v: unknown, type: string, cast: 'CAST' | 'TRY_CAST' = 'CAST'): string {
  if (v === null || v === undefined || v === '') return 'NULL';
  const k = kindOf(type);
  if (k === 'number') {
    if (typeof v === 'boolean') return v ? '1' : '0';
    if (columnClass(type) === 'boolean' && typeof v === 'string' && BOOLEAN_TEXT.test(v)) return String(booleanTextValue(v));
    return `${cast}(${lit(String(v))} AS DOUBLE)`;
  }
  if (k === 'time') {
    if (typeof v === 'number') return `to_timestamp(${v})::TIMESTAMP`;
    // A time with a zone ("…Z", "…+02:00") for a column without one: the instant in UTC, as DuckDB reads
    // zoned times in table files (the session is in UTC), not the wall-clock digits with the zone dropped.
    if (ZONED.test(String(v)) && !/WITH TIME ZONE|TIMESTAMPTZ/i.test(type))
      return `${cast}(timezone('UTC', ${cast}(${lit(String(v))} AS TIMESTAMPTZ)) AS ${type})`;
    return `${cast}(${lit(String(v))} AS ${type})`;
  }
  return lit(String(v));
}

/**
 * The cells of (already schema-checked) records that DuckDB cannot read as their column's type, e.g.
 * "2021-02-30" for a DATE: what made loading them fail, as paths under the record list (`[0, 'labs', 2, 'day']`).
 * Runs each cell through the same expression as loadRecords with TRY_CAST, in a database of its own.
 */
export async function unreadableValues(spec: Spec, tableTypes: Record<string, Record<string, string>>, records: PatientRecord[], max = 20): Promise<{ path: (string | number)[]; type: string }[]> {
  const cells: { path: (string | number)[]; type: string; sql: string }[] = [];
  const consider = (path: (string | number)[], v: unknown, type: string) => {
    if (v === null || v === undefined || v === '' || kindOf(type) === 'text') return;
    cells.push({ path, type, sql: `TRY_CAST(${sqlValue(v, type, 'TRY_CAST')} AS ${type}) IS NULL` });
  };
  const idx = spec.cohort.index_time;
  records.forEach((rec, i) => {
    if (typeof idx === 'string' && rec.index_time !== undefined) {
      const t = own(own(tableTypes, spec.cohort.table), idx);
      if (typeof t === 'string') consider([i, 'index_time'], rec.index_time, t);
    }
    for (const name of Object.keys(spec.tables)) {
      const raw = own(rec, name);
      const types = own(tableTypes, name) as Record<string, string> | undefined;
      if (raw === undefined || !types) continue;
      const rows = Array.isArray(raw) ? raw : [raw];
      rows.forEach((row, r) => {
        for (const [c, v] of Object.entries(row as Record<string, unknown>)) {
          const t = own(types, c);
          if (typeof t === 'string') consider(Array.isArray(raw) ? [i, name, r, c] : [i, name, c], v, t);
        }
      });
    }
  });
  const out: { path: (string | number)[]; type: string }[] = [];
  if (!cells.length) return out;
  const db = await Db.open('records');
  try {
    for (let s = 0; s < cells.length && out.length < max; s += 500) {
      const chunk = cells.slice(s, s + 500);
      const bad = await db.columns(`SELECT k FROM (VALUES ${chunk.map((c, j) => `(${j}, ${c.sql})`).join(', ')}) t(k, bad) WHERE bad ORDER BY k`);
      for (const k of bad.k as number[]) if (out.length < max) out.push({ path: chunk[k].path, type: chunk[k].type });
    }
  } finally {
    db.close();
  }
  return out;
}

/**
 * Creates one DuckDB table per spec table from the records (training column types), adding the id column to
 * each row, and a cohort row (id, index time) for a patient who has none.
 */
export async function loadRecords(db: Db, spec: Spec, tableTypes: Record<string, Record<string, string>>, records: PatientRecord[]): Promise<void> {
  const ct = spec.cohort.table;
  // A record is one patient: the columns that link other tables to it (tables.X.link) hold its id too.
  const linkCols: Record<string, string[]> = {};
  for (const t of Object.values(spec.tables)) if (t.link) (linkCols[t.link.table] ??= []).push(t.link.column);
  for (const [name, t] of Object.entries(spec.tables)) {
    if (!Object.hasOwn(tableTypes, name)) throw new CdmmError(`fitted state has no column types for table '${name}': was it fitted with another spec?`);
    const id = t.id ?? (t.format === 'meds' ? 'subject_id' : undefined)!;
    // Record ids are strings: every table's id column is text here, so the joins stay exact.
    const links = linkCols[name] ?? [];
    const types = new Map(Object.entries(tableTypes[name]));
    types.set(id, 'VARCHAR');
    for (const c of links) types.set(c, 'VARCHAR');
    const cols = [...types.keys()];
    await db.run(`CREATE TABLE ${tbl(name)} (${cols.map((c) => `${q(c)} ${types.get(c)}`).join(', ')})`);
    const values: string[] = [];
    for (const rec of records) {
      const raw = own(rec, name);
      let rows = raw === undefined ? [] : Array.isArray(raw) ? (raw as Record<string, unknown>[]) : [raw as Record<string, unknown>];
      if (name === ct && rows.length === 0) rows = [{}];
      for (const r0 of rows) {
        // A Map of the row's own keys: a column named `constructor` is the row's value or missing, never a function.
        const r = new Map(Object.entries(r0));
        r.set(id, rec.id);
        for (const c of links) r.set(c, rec.id);
        if (name === ct && typeof spec.cohort.index_time === 'string' && rec.index_time !== undefined) r.set(spec.cohort.index_time, rec.index_time);
        values.push(`(${cols.map((c) => sqlValue(r.get(c), types.get(c)!)).join(', ')})`);
      }
    }
    for (let i = 0; i < values.length; i += 1000)
      await db.run(`INSERT INTO ${tbl(name)} VALUES ${values.slice(i, i + 1000).join(', ')}`);
    await shapeRows(db, name, { ...t, id }, `records.${name}`);
    await db.describe(name, { ...t, id }, `records.${name}`, false, false);
  }
  // Each record's patient as sent (the link columns above hold the record's id): lookups match within it.
  const patientOf = new Map<string, string>();
  const pc = spec.cohort.patient;
  for (const rec of records) {
    const raw = own(rec, ct);
    const row = (Array.isArray(raw) ? raw[0] : raw) as Record<string, unknown> | undefined;
    const v = pc && row ? own(row, pc) : undefined;
    if (!patientOf.has(rec.id)) patientOf.set(rec.id, patientKey(v, `record ${rec.id}`));
  }
  await finishTables(db, spec, patientOf);
}
