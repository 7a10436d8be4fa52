// PatientRecord: one new patient as JSON, `{ "id": "...", "index_time"?: number | timestamp, "<table>": rows }`,
// with rows of each spec table as an array of objects (one-row tables may be a single object). Records are
// loaded into DuckDB tables with the training column types, so prediction runs the same SQL as training.
import { z } from 'zod';
import { CdmmError } from '../util/errors.js';
import { kindOf, lit, q, tbl, type Db } from './db.js';
import { formatPath, type Spec } from './spec.js';
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

/** A schema that also checks each table's columns against the training column types, for precise error paths
 * such as `records[0].labs[2].value: expected number`. */
export function patientRecordSchemaFor(tableTypes: Record<string, Record<string, string>>) {
  const tables: Record<string, z.ZodTypeAny> = {};
  for (const [name, cols] of Object.entries(tableTypes)) {
    const shape: Record<string, z.ZodTypeAny> = {};
    for (const [c, type] of Object.entries(cols)) {
      const k = kindOf(type);
      shape[c] =
        k === 'number'
          ? z.union([z.number().finite(), z.boolean(), z.null(), z.string().regex(/^\s*$|^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/, 'expected number')]).optional()
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

/** Validates records; errors name the path, e.g. `records[0].labs[2].value: expected number`. */
export function parseRecords(input: unknown, tableTypes: Record<string, Record<string, string>>): PatientRecord[] {
  const r = z.array(patientRecordSchemaFor(tableTypes)).safeParse(input);
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

function sqlValue(v: unknown, type: string): string {
  if (v === null || v === undefined || v === '') return 'NULL';
  const k = kindOf(type);
  if (k === 'number') return typeof v === 'boolean' ? (v ? '1' : '0') : `CAST(${lit(String(v))} AS DOUBLE)`;
  if (k === 'time') {
    if (typeof v === 'number') return `to_timestamp(${v})::TIMESTAMP`;
    // A time with a zone ("…Z", "…+02:00") for a column without one: the instant in UTC, as DuckDB reads
    // zoned times in table files (the session is in UTC), not the wall-clock digits with the zone dropped.
    if (ZONED.test(String(v)) && !/WITH TIME ZONE|TIMESTAMPTZ/i.test(type))
      return `CAST(timezone('UTC', CAST(${lit(String(v))} AS TIMESTAMPTZ)) AS ${type})`;
    return `CAST(${lit(String(v))} AS ${type})`;
  }
  return lit(String(v));
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
    if (!tableTypes[name]) throw new CdmmError(`fitted state has no column types for table '${name}': was it fitted with another spec?`);
    const id = t.id ?? (t.format === 'meds' ? 'subject_id' : undefined)!;
    // Record ids are strings: every table's id column is text here, so the joins stay exact.
    const links = linkCols[name] ?? [];
    const types: Record<string, string> = { ...tableTypes[name], [id]: 'VARCHAR' };
    for (const c of links) types[c] = 'VARCHAR';
    const cols = Object.keys(types);
    await db.run(`CREATE TABLE ${tbl(name)} (${cols.map((c) => `${q(c)} ${types[c]}`).join(', ')})`);
    const values: string[] = [];
    for (const rec of records) {
      const raw = rec[name];
      let rows = raw === undefined ? [] : Array.isArray(raw) ? (raw as Record<string, unknown>[]) : [raw as Record<string, unknown>];
      if (name === ct && rows.length === 0) rows = [{}];
      for (const r0 of rows) {
        const r: Record<string, unknown> = { ...r0, [id]: rec.id };
        for (const c of links) r[c] = rec.id;
        if (name === ct && typeof spec.cohort.index_time === 'string' && rec.index_time !== undefined) r[spec.cohort.index_time] = rec.index_time;
        values.push(`(${cols.map((c) => sqlValue(r[c], types[c])).join(', ')})`);
      }
    }
    for (let i = 0; i < values.length; i += 1000)
      await db.run(`INSERT INTO ${tbl(name)} VALUES ${values.slice(i, i + 1000).join(', ')}`);
    await shapeRows(db, name, { ...t, id }, `records.${name}`);
    await db.describe(name, { ...t, id }, `records.${name}`, false, false);
  }
  await finishTables(db, spec);
}
