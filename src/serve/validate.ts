// Validation of JSON patient records against the fitted spec, before anything reaches DuckDB or the model:
// the data layer's PatientRecord schema (column types of training), plus what the schema lets through but the
// SQL would choke on or silently ignore: unknown tables and columns, numbers out of their column type's range,
// time strings that are not timestamps. Every issue carries a field path such as `records[0].labs[2].value`.
import { z } from 'zod';
import { ownRecords, patientRecordSchemaFor, type PatientRecord } from '../data/transform.js';
import { own } from '../data/records.js';
import { kindOf } from '../data/db.js';
import { formatPath } from '../data/spec.js';

export interface InputIssue {
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; records: PatientRecord[] } | { ok: false; issues: InputIssue[] };

/** The largest magnitude each DuckDB numeric type holds (a value beyond fails the insert). */
const INTEGER_LIMITS: [RegExp, number][] = [
  [/^TINYINT/, 127],
  [/^SMALLINT/, 32767],
  [/^INTEGER/, 2147483647],
  [/^(BIGINT|HUGEINT)/, 9.2e18],
  [/^UTINYINT/, 255],
  [/^USMALLINT/, 65535],
  [/^UINTEGER/, 4294967295],
  [/^UBIGINT/, 1.8e19],
];
/** Timestamps: ISO-like dates with an optional time; epoch seconds within years 0001–9999. */
const TIME_TEXT = /^\s*\d{4}-\d{2}-\d{2}(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?\s*$/;
const EPOCH_LIMIT = 253402300799;
const MAX_ISSUES = 20;

function numberProblem(v: unknown, duckType: string): string | null {
  const t = duckType.toUpperCase();
  let x: number;
  if (typeof v === 'number') x = v;
  else if (typeof v === 'string' && v.trim() !== '') x = Number(v);
  // Blank text is not read as missing by the data layer (only '' is): say so here rather than fail in SQL.
  else if (typeof v === 'string' && v !== '') return 'expected a number, null or ""';
  else return null;
  if (!Number.isFinite(x)) return 'expected a finite number';
  const lim = INTEGER_LIMITS.find(([re]) => re.test(t));
  if (lim && Math.abs(x) > lim[1]) return `number out of range for this column (${t}, at most ±${lim[1]})`;
  if (/^U/.test(t) && x < 0) return `expected a number ≥ 0 for this column (${t})`;
  if (/^DECIMAL\((\d+),\s*(\d+)\)/.test(t)) {
    const [, p, s] = /^DECIMAL\((\d+),\s*(\d+)\)/.exec(t)!;
    if (Math.abs(x) >= 10 ** (Number(p) - Number(s))) return `number out of range for this column (${t})`;
  }
  return null;
}

const daysIn = (y: number, m: number) => [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

function timeProblem(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= EPOCH_LIMIT ? null : 'expected a timestamp (epoch seconds within years 1–9999)';
  if (typeof v === 'string') {
    const m = TIME_TEXT.exec(v);
    if (!m) return 'expected a timestamp such as "2020-01-31" or "2020-01-31 08:00:00"';
    const [y, mo, d] = v.trim().slice(0, 10).split('-').map(Number);
    // The calendar as DuckDB reads it: 2021-02-29 and 2020-04-31 fail the insert, so they are errors here.
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return 'expected a valid calendar date';
    const [hh, mm, ss] = [m[1], m[2], m[3]].map((x) => (x === undefined ? 0 : Number(x)));
    if (hh > 24 || mm > 59 || ss > 59 || (hh === 24 && (mm > 0 || ss > 0))) return 'expected a valid time of day';
    return null;
  }
  return null;
}

/**
 * A validator for one run: `tableTypes` are the DuckDB column types of each spec table at training time;
 * `idColumns` the id column of each table (filled from the record id, so it may be left out of rows).
 */
export function makeRecordValidator(
  tableTypes: Record<string, Record<string, string>>,
  idColumns: Record<string, string>,
  opts: { maxRecords: number; /** The cohort table's index time column, when the spec has one (else a constant). */ indexTime?: { table: string; column: string } },
) {
  const schema = z.array(patientRecordSchemaFor(tableTypes));
  // Maps, not objects: names come from the request, and `tableTypes['constructor']` would be a function.
  const tables = new Map(Object.entries(tableTypes).map(([t, cols]) => [t, new Map(Object.entries(cols))]));
  const ids = new Map(Object.entries(idColumns));
  const tableList = [...tables.keys()].join(', ');
  const indexType = opts.indexTime ? (tables.get(opts.indexTime.table)?.get(opts.indexTime.column) ?? 'DOUBLE') : 'DOUBLE';

  /** Checks what the zod schema lets through, on the records as sent (own keys only, `__proto__` included). */
  function extraIssues(records: Record<string, unknown>[], prefix: (string | number)[]): InputIssue[] {
    const issues: InputIssue[] = [];
    const add = (path: (string | number)[], message: string) => issues.length < MAX_ISSUES && issues.push({ path: formatPath([...prefix, ...path]), message });
    const seen = new Map<string, number>();
    records.forEach((rec, i) => {
      const id = String(rec.id);
      // NUL cannot travel through the data layer's SQL text (it ends the statement).
      if (id.includes('\u0000')) add([i, 'id'], 'id must not contain NUL characters');
      if (typeof rec.index_time === 'string' && rec.index_time.includes('\u0000')) add([i, 'index_time'], 'must not contain NUL characters');
      if (seen.has(id)) add([i, 'id'], `duplicate id ${JSON.stringify(id)} (also records[${seen.get(id)}])`);
      else seen.set(id, i);
      if (opts.indexTime && rec.index_time === undefined && !hasIndexTime(own(rec, opts.indexTime.table), opts.indexTime.column))
        add([i, 'index_time'], `required: the patient's index (prediction) time, as index_time or ${opts.indexTime.table}.${opts.indexTime.column}`);
      if (opts.indexTime && rec.index_time !== undefined) {
        // index_time fills the index column: it must fit that column's type.
        const kind = kindOf(indexType);
        const problem = kind === 'time' ? timeProblem(rec.index_time) : kind === 'number' ? numberProblem(rec.index_time, indexType) : null;
        if (problem) add([i, 'index_time'], problem);
      }
      for (const [key, val] of Object.entries(rec)) {
        if (key === 'id' || key === 'index_time') continue;
        const types = tables.get(key);
        if (!types) {
          add([i, key], `unknown table '${key}' (tables: ${tableList})`);
          continue;
        }
        const rows = Array.isArray(val) ? val : [val];
        rows.forEach((row, r) => {
          const at: (string | number)[] = Array.isArray(val) ? [i, key, r] : [i, key];
          for (const [col, cell] of Object.entries(row as Record<string, unknown>)) {
            const type = types.get(col);
            if (!type) {
              if (col !== ids.get(key)) add([...at, col], `unknown column '${col}' of table '${key}' (columns: ${[...types.keys()].join(', ')})`);
              continue;
            }
            if (typeof cell === 'string' && cell.includes('\u0000')) {
              add([...at, col], 'text must not contain NUL characters');
              continue;
            }
            const kind = kindOf(type);
            const problem = kind === 'number' ? numberProblem(cell, type) : kind === 'time' ? timeProblem(cell) : null;
            if (problem) add([...at, col], problem);
          }
        });
      }
    });
    return issues;
  }

  /** Validates a list of records; `prefix` is the path of the list in the request (default `records`). */
  return function validate(input: unknown, prefix: (string | number)[] = ['records']): ValidationResult {
    if (Array.isArray(input) && input.length === 0) return { ok: false, issues: [{ path: formatPath(prefix), message: 'expected at least one record' }] };
    if (Array.isArray(input) && input.length > opts.maxRecords)
      return { ok: false, issues: [{ path: formatPath(prefix), message: `too many records (${input.length}); at most ${opts.maxRecords} per request` }] };
    const sent = ownRecords(input);
    const r = schema.safeParse(sent);
    if (!r.success) {
      const issues = r.error.issues.flatMap(matchingBranch).slice(0, MAX_ISSUES).map((i) => ({ path: formatPath([...prefix, ...i.path]), message: issueText(i) }));
      return { ok: false, issues };
    }
    // zod drops a `__proto__` key silently: the checks below read the records as sent.
    const issues = extraIssues(sent as Record<string, unknown>[], prefix);
    if (issues.length) return { ok: false, issues };
    return { ok: true, records: r.data as unknown as PatientRecord[] };
  };
}

export type RecordValidator = ReturnType<typeof makeRecordValidator>;

function hasIndexTime(rows: unknown, column: string): boolean {
  const list = Array.isArray(rows) ? rows : rows ? [rows] : [];
  return list.some((r) => {
    const v = own(r, column);
    return v !== undefined && v !== null && v !== '';
  });
}

/**
 * A table given as a list of rows or as one row is a union: when a cell inside is wrong, zod reports the union at
 * the table ("labs: Invalid input"). The branch whose issues all lie deeper is the shape that was sent: its issues
 * name the cell (`labs[0].value`).
 */
function matchingBranch(i: z.ZodIssue): z.ZodIssue[] {
  if (i.code !== 'invalid_union') return [i];
  const deeper = i.unionErrors.find((e) => e.issues.length > 0 && e.issues.every((x) => x.path.length > i.path.length));
  return deeper ? deeper.issues.flatMap(matchingBranch) : [i];
}

function issueText(i: z.ZodIssue): string {
  if (i.code === 'invalid_type') return i.received === 'undefined' ? `expected ${i.expected} (missing)` : `expected ${i.expected}, got ${i.received}`;
  if (i.code === 'invalid_union') {
    // A union's own message ("Invalid input") says nothing: use the most specific branch's message.
    const inner = i.unionErrors.flatMap((e) => e.issues).find((x) => x.message !== 'Required' && x.code !== 'invalid_type');
    if (inner) return inner.message;
    const types = [...new Set(i.unionErrors.flatMap((e) => e.issues).filter((x) => x.code === 'invalid_type').map((x) => (x as z.ZodInvalidTypeIssue).expected))];
    return types.length ? `expected ${types.join(' or ')}` : i.message;
  }
  return i.message;
}
