// Validation of JSON patient records against the fitted spec, in one pass before anything reaches the data layer
// or the model: the data layer's PatientRecord schema (column types of training), plus what that schema lets
// through but the data layer could not read or would silently ignore: unknown tables and columns, numbers out of
// their column type's range, times that are not timestamps, cells the column type cannot hold (read as
// src/data/compiled/cells.ts reads them, which is how DuckDB reads them). Every issue carries a field path such
// as `records[0].labs[2].value`. Valid records take a fast path that checks the same rules without zod; zod runs
// only to name the problems of invalid ones (test/serve-validate.test.ts checks the two agree).
import { z } from 'zod';
import { ownRecords, patientRecordSchemaFor, type PatientRecord } from '../data/transform.js';
import { numberTextFor, own } from '../data/records.js';
import { kindOf, MAX_TIME_DAYS } from '../data/db.js';
import { BOOLEAN_TEXT, columnClass, readNumber, readTime, roundHalfEven, UNREADABLE, UTC_ZONE, ZONED, type ColumnClass } from '../data/compiled/cells.js';
import { formatPath } from '../data/spec.js';
import type { InputIssue } from './types.js';

export type { InputIssue } from './types.js';

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
/** Timestamps: ISO-like dates with an optional time (numbers are refused: see timeProblem). */
const TIME_TEXT = /^\s*\d{4}-\d{2}-\d{2}(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(?:Z|[+-](\d{2})(?::?(\d{2}))?)?\s*$/;
/** Largest UTC offset accepted, in hours (real zones reach ±14; DuckDB would take +99:99 and move the time by days). */
const MAX_OFFSET_HOURS = 18;
const MAX_ISSUES = 20;
/**
 * Table rows the schema checks in one zod call on an invalid body (boundedSchemaIssues): the first call a few, each
 * next one twice as many up to ROWS_PER_PARSE, so that a body bad from its first row stops after a few cheap calls
 * (999 rows of object cells, ~11,000 union issues in one call, held the server for 2 s) and a long body bad at its
 * end takes few calls.
 */
const FIRST_ROWS = 4;
const ROWS_PER_PARSE = 1000;

/** Records plus the rows of their table arrays: how much a zod pass over the body has to check. */
function rowCount(records: unknown[]): number {
  let n = records.length;
  for (const r of records)
    if (r !== null && typeof r === 'object' && !Array.isArray(r)) for (const v of Object.values(r)) if (Array.isArray(v)) n += v.length;
  return n;
}

/** The largest float32: a value beyond it is Infinity in the model's tensors. */
const FLOAT32_MAX = 3.4028234663852886e38;

function numberProblem(v: unknown, duckType: string): string | null {
  const t = duckType.toUpperCase();
  if (t === 'BOOLEAN' && typeof v === 'string' && BOOLEAN_TEXT.test(v)) return null;
  let x: number;
  // true/false in a number column would be read as 1/0; only a column that held booleans in training means that.
  if (typeof v === 'boolean') return t === 'BOOLEAN' ? null : `expected a number (${t} column; true/false is accepted only in a column that held booleans in training: write 1 or 0)`;
  if (typeof v === 'number') x = v;
  else if (typeof v === 'string' && v.trim() !== '') x = Number(v);
  // Blank text is not read as missing by the data layer (only '' is): say so here rather than fail in SQL.
  else if (typeof v === 'string' && v !== '') return 'expected a number, null or ""';
  else return null;
  if (!Number.isFinite(x)) return 'expected a finite number';
  // DuckDB reads any non-zero number as true in a BOOLEAN column: a 2 or 0.5 there is a mistake to name.
  if (t === 'BOOLEAN' && x !== 0 && x !== 1) return `expected true/false or 1/0 (a yes/no column; got ${x})`;
  const lim = INTEGER_LIMITS.find(([re]) => re.test(t));
  if (lim && Math.abs(x) > lim[1]) return `number out of range for this column (${t}, at most ±${lim[1]})`;
  // The data layer writes the cell into the training column's type, which rounds: a time of 999.6 days would be read
  // as 1000, and a row after the prediction time would enter the window (or one before it leave it) without a word.
  if (lim && !Number.isInteger(x)) return `expected a whole number: this column held whole numbers in training (${t}), so ${x} would be read as ${roundHalfEven(x)}`;
  if (/^U/.test(t) && x < 0) return `expected a number ≥ 0 for this column (${t})`;
  if (/^DECIMAL\((\d+),\s*(\d+)\)/.test(t)) {
    const [, p, s] = /^DECIMAL\((\d+),\s*(\d+)\)/.exec(t)!;
    if (Math.abs(x) >= 10 ** (Number(p) - Number(s))) return `number out of range for this column (${t})`;
  }
  if (Math.abs(x) > FLOAT32_MAX) return 'expected a number within ±3.4e38 (the float32 range the model computes in)';
  return null;
}

/**
 * A time text without a zone ('naive'), with one other than UTC ('zoned'), or neither (not text, blank, UTC): a naive
 * time beside a zoned one is read as UTC and moves by the other's offset.
 */
function zoneClass(v: unknown): 'naive' | 'zoned' | null {
  if (typeof v !== 'string' || v.trim() === '') return null;
  if (!ZONED.test(v)) return 'naive';
  return UTC_ZONE.test(v) ? null : 'zoned';
}

/** A time given as a number beyond ±MAX_TIME_DAYS in its column's unit (src/data/db.ts: refused in files alike). */
function timeMagnitudeProblem(v: unknown, maxTime: number | undefined): string | null {
  if (maxTime === undefined) return null;
  const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(x) && Math.abs(x) > maxTime ? `a time beyond ±${Number(maxTime.toPrecision(3)).toExponential()} (1e9 days in this column's unit), where differences of days are not exact` : null;
}

/** What 'expected number' says for the number columns where plain text has an obvious other reading. */
function numberMessages(
  tableTypes: Record<string, Record<string, string>>,
  maps: Record<string, Record<string, Record<string, string | number | null>>>,
  naValues: Record<string, string[]>,
): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [t, cols] of Object.entries(tableTypes))
    for (const [c, type] of Object.entries(cols)) {
      if (kindOf(type) !== 'number') continue;
      const map = Object.hasOwn(maps, t) && Object.hasOwn(maps[t], c) ? Object.entries(maps[t][c]) : [];
      const shown = map.slice(0, 3).map(([from, to]) => `${JSON.stringify(from)} → ${JSON.stringify(to)}`).join(', ');
      const na = Object.hasOwn(naValues, t) ? naValues[t].filter((v) => v.trim() !== '') : [];
      // A marker the table file reads as missing ("pending") is null in a record.
      const missing = na.length ? `a missing value (tables.${t}.na_values: ${na.slice(0, 3).map((v) => JSON.stringify(v)).join(', ')}${na.length > 3 ? ', …' : ''}) counts as missing, as in the file, and so does null` : '';
      if (map.length) (out[t] ??= {})[c] = `expected number: records give the values after the spec's tables.${t}.values.${c} map (${shown}${map.length > 3 ? ', …' : ''}), so write the mapped value (a number with '.' as its decimal point: 1.6, not "1,6")${missing ? `; ${missing}` : ''}`;
      else if (type.toUpperCase() === 'BOOLEAN') (out[t] ??= {})[c] = 'expected number: this column held yes/no (true/false) values in training; write true/false, yes/no, t/f, y/n, 1/0 or null';
      else if (missing) (out[t] ??= {})[c] = `expected number: ${missing}`;
    }
  return out;
}

const daysIn = (y: number, m: number) => [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

function timeProblem(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  // A number in a column that held timestamps in training is refused, not read as epoch seconds: a day offset such
  // as 730 would become 1970-01-01 00:12:10, every event of the patient would fall outside its window, and the risk
  // would quietly be the demographics-only one.
  if (typeof v === 'number') return 'expected a timestamp such as "2020-01-31 08:00:00" (this column held timestamps in training; a number is not read as one)';
  if (typeof v === 'string') {
    const m = TIME_TEXT.exec(v);
    if (!m) return 'expected a timestamp such as "2020-01-31" or "2020-01-31 08:00:00"';
    const [y, mo, d] = v.trim().slice(0, 10).split('-').map(Number);
    // The calendar as DuckDB reads it: 2021-02-29 and 2020-04-31 fail the insert, so they are errors here.
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return 'expected a valid calendar date';
    const [hh, mm, ss] = [m[1], m[2], m[3]].map((x) => (x === undefined ? 0 : Number(x)));
    if (hh > 24 || mm > 59 || ss > 59 || (hh === 24 && (mm > 0 || ss > 0))) return 'expected a valid time of day';
    const [zh, zm] = [m[4], m[5]].map((x) => (x === undefined ? 0 : Number(x)));
    if (zh > MAX_OFFSET_HOURS || zm > 59 || (zh === MAX_OFFSET_HOURS && zm > 0)) return `expected a UTC offset from -${MAX_OFFSET_HOURS}:00 to +${MAX_OFFSET_HOURS}:00 (such as +02:00)`;
    return null;
  }
  return null;
}

/** Why a cell its kind accepts cannot be read as the column's type (null: it can, or only DuckDB can tell). */
function unreadable(v: unknown, cls: ColumnClass, type: string): string | null {
  if (cls === 'duck' || cls === 'varchar') return null;
  const r = cls === 'date' || cls === 'timestamp' ? readTime(v, cls) : readNumber(v, cls);
  return r === UNREADABLE ? `cannot be read as ${type}` : null;
}

const column = (type: string): Column => ({ type, kind: kindOf(type), cls: columnClass(type), numberText: numberTextFor(type) });

interface Column {
  type: string;
  kind: ReturnType<typeof kindOf>;
  cls: ColumnClass;
  /** The text the schema accepts in this column when it is a number column (records.ts numberTextFor). */
  numberText: RegExp;
  /** A number column holding times: the largest magnitude whose differences in days stay exact (timeMagnitudeProblem). */
  maxTime?: number;
}

/**
 * A validator for one run: `tableTypes` are the DuckDB column types of each spec table at training time;
 * `idColumns` the id column of each table (filled from the record id, so it may be left out of rows).
 */
/** A plain JSON object (a record or a row), not an array or a class instance. */
const isRow = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};

/** Hours, minutes and seconds of an elapsed time (the file reader's rule, db.ts convertTime). */
const ELAPSED = /^(-)?([0-9]{1,9}):([0-5][0-9])(?::([0-5][0-9]))?$/;

/**
 * The records with `f` applied to every cell of the tables in `per` (f gets the table's entry and the column):
 * copies where a cell changed, the rest as sent; anything that is not a list of records is returned as is.
 */
function mapCells<T>(input: unknown, per: Map<string, T>, f: (v: unknown, entry: T, column: string) => unknown): unknown {
  if (!Array.isArray(input)) return input;
  const mapRow = (row: unknown, entry: T): unknown => {
    if (!isRow(row)) return row;
    let copy: Record<string, unknown> | null = null;
    for (const [c, v] of Object.entries(row)) {
      const w = f(v, entry, c);
      if (w !== v) (copy ??= { ...row })[c] = w;
    }
    return copy ?? row;
  };
  return input.map((rec) => {
    if (!isRow(rec)) return rec;
    let copy: Record<string, unknown> | null = null;
    for (const [t, entry] of per) {
      if (!Object.hasOwn(rec, t)) continue;
      const v = rec[t];
      const mapped = Array.isArray(v) ? v.map((r) => mapRow(r, entry)) : mapRow(v, entry);
      if (Array.isArray(v) ? (mapped as unknown[]).some((r, i) => r !== v[i]) : mapped !== v) (copy ??= { ...rec })[t] = mapped;
    }
    return copy ?? rec;
  });
}

export function makeRecordValidator(
  tableTypes: Record<string, Record<string, string>>,
  idColumns: Record<string, string>,
  opts: {
    maxRecords: number;
    /** The cohort table's index time column, when the spec has one (else a constant). */
    indexTime?: { table: string; column: string };
    /** tables.NAME.values of the spec: a number column's text that is not a number is named with its map. */
    valueMaps?: Record<string, Record<string, Record<string, string | number | null>>>;
    /** Per table, the markers its file read as missing (tables.NAME.na_values), for the messages. */
    naValues?: Record<string, string[]>;
    /** tables.NAME.link: such a table's id column names the link value (the cohort row's column), not the record id. */
    links?: Record<string, { table: string; column: string }>;
    /** Per table, its numeric time columns and their units per day: an elapsed "07:10" there is read as in a file. */
    elapsedTimes?: Record<string, { columns: string[]; unitsPerDay: number }>;
    /** Per table, the columns the run reads as times; the zone check across a record looks at these only (default: every timestamp column). */
    usedTimes?: Record<string, string[]>;
  },
) {
  const schema = z.array(patientRecordSchemaFor(tableTypes, numberMessages(tableTypes, opts.valueMaps ?? {}, opts.naValues ?? {})));
  // Maps, not objects: names come from the request, and `tableTypes['constructor']` would be a function.
  // Each table's numeric time columns and their unit: bounded in magnitude (MAX_TIME_DAYS), and read from elapsed times.
  const elapsed = new Map(Object.entries(opts.elapsedTimes ?? {}).filter(([, e]) => e.columns.length > 0).map(([t, e]): [string, { columns: Set<string>; unitsPerDay: number }] => [t, { columns: new Set(e.columns), unitsPerDay: e.unitsPerDay }]));
  const tables = new Map(Object.entries(tableTypes).map(([t, cols]) => [t, new Map(Object.entries(cols).map(([c, type]): [string, Column] => {
    const times = elapsed.get(t);
    return [c, times?.columns.has(c) ? { ...column(type), maxTime: MAX_TIME_DAYS * times.unitsPerDay } : column(type)];
  }))]));
  // Each table's timestamp columns, once: the columns mixedZones reads (most tables have none).
  // (TIMESTAMP_NS, _MS and _S too, as Parquet files from pandas hold them: DuckDB reads those cells, not our readers)
  const timestampColumns = new Map([...tables].map(([t, cols]) => [t, [...cols].filter(([, c]) => c.kind === 'time' && /^TIMESTAMP/i.test(c.type)).map(([name]) => name)]));
  // The ones the run reads as times (index, end, label and row times), which the check across a record looks at:
  // an unused column's zones move nothing.
  const usedTimestamps = opts.usedTimes
    ? new Map([...timestampColumns].map(([t, cols]) => [t, cols.filter((c) => Object.hasOwn(opts.usedTimes!, t) && opts.usedTimes![t].includes(c))]))
    : timestampColumns;
  const ids = new Map(Object.entries(idColumns));
  const links = new Map(Object.entries(opts.links ?? {}));
  /** What a row of `table` must have in its id column: the record's id, or for a linked table its link value. */
  const expectedId = (rec: Record<string, unknown>, table: string, id: string): { value: string; name: string } | null => {
    const link = links.get(table);
    if (!link) return { value: id, name: "the record's id" };
    const v = own(rowList(own(rec, link.table))[0], link.column);
    return v === undefined || v === null || v === '' ? null : { value: String(v), name: `the record's ${link.table}.${link.column}` };
  };
  const tableList = [...tables.keys()].join(', ');
  const indexType = opts.indexTime ? (tables.get(opts.indexTime.table)?.get(opts.indexTime.column)?.type ?? 'DOUBLE') : 'DOUBLE';
  const indexColumn: Column = (opts.indexTime && tables.get(opts.indexTime.table)?.get(opts.indexTime.column)) || column(indexType);
  // The two index times are compared as instants: a zoned column (TIMESTAMP WITH TIME ZONE) as a timestamp, its
  // offsets applied (its class is DuckDB's own, which the comparison would otherwise pass over).
  const indexCls: ColumnClass = indexColumn.cls === 'duck' && /^TIMESTAMP/i.test(indexType) ? 'timestamp' : indexColumn.cls;

  /** The problem of one cell that the schema's type let through, or null. */
  function cellProblem(cell: unknown, c: Column): string | null {
    if (typeof cell === 'string' && cell.includes('\u0000')) return 'text must not contain NUL characters';
    const problem = c.kind === 'number' ? numberProblem(cell, c.type) ?? timeMagnitudeProblem(cell, c.maxTime) : c.kind === 'time' ? timeProblem(cell) : null;
    return problem ?? unreadable(cell, c.cls, c.type);
  }

  /** The index time given as index_time: it fills the index column, so it must fit that column's type. */
  function indexProblem(v: unknown): string | null {
    const k = indexColumn.kind;
    const problem = k === 'time' ? timeProblem(v) : k === 'number' ? numberProblem(v, indexType) ?? timeMagnitudeProblem(v, indexColumn.maxTime) : null;
    return problem ?? (k === 'time' || k === 'number' ? unreadable(v, indexColumn.cls, indexType) : null);
  }

  /** Checks what the zod schema lets through, on the records as sent (own keys only, `__proto__` included). */
  function extraIssues(records: Record<string, unknown>[], prefix: (string | number)[], only?: Set<number>): (InputIssue & { record: number })[] {
    const issues: (InputIssue & { record: number })[] = [];
    const add = (path: (string | number)[], message: string) =>
      issues.length < MAX_ISSUES && issues.push({ path: formatPath([...prefix, ...path]), message, record: typeof path[0] === 'number' ? path[0] : -1 });
    const seen = new Map<string, number>();
    records.forEach((rec, i) => {
      if (only && !only.has(i)) return;
      const id = String(rec.id);
      // NUL cannot travel through the data layer's SQL text (it ends the statement).
      if (id.includes('\u0000')) add([i, 'id'], 'id must not contain NUL characters');
      // 1e400 parses as Infinity: it would be answered as "Infinity" and collide with that text.
      if (typeof rec.id === 'number' && !Number.isFinite(rec.id)) add([i, 'id'], 'expected a finite number or a string (a number this large is not an id: send it as text)');
      if (typeof rec.index_time === 'string' && rec.index_time.includes('\u0000')) add([i, 'index_time'], 'must not contain NUL characters');
      if (seen.has(id)) add([i, 'id'], `duplicate id ${JSON.stringify(id)} (also records[${seen.get(id)}])`);
      else seen.set(id, i);
      if (opts.indexTime && rec.index_time === undefined && !hasIndexTime(own(rec, opts.indexTime.table), opts.indexTime.column))
        add([i, 'index_time'], `required: the patient's index (prediction) time, as index_time or ${opts.indexTime.table}.${opts.indexTime.column}`);
      // A constant index time (cohort.index_time: a number) is every patient's: a record's own would be ignored.
      if (!opts.indexTime && rec.index_time !== undefined)
        add([i, 'index_time'], "not used by this model: its spec's index time is a constant (cohort.index_time), the same for every patient, and its times are relative to it; leave index_time out");
      if (opts.indexTime && rec.index_time !== undefined) {
        const problem = indexProblem(rec.index_time);
        if (problem) add([i, 'index_time'], problem);
        else {
          // Both given: index_time would win silently; two different prediction times are a mistake to name.
          const other = conflictingIndex(rec.index_time, own(rec, opts.indexTime.table), opts.indexTime.column, indexCls);
          if (other !== undefined) add([i, 'index_time'], `differs from the record's ${opts.indexTime.table}.${opts.indexTime.column} (${JSON.stringify(other)}): give the index (prediction) time once`);
        }
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
            const c = types.get(col);
            if (!c) {
              if (col !== ids.get(key)) add([...at, col], `unknown column '${col}' of table '${key}' (columns: ${[...types.keys()].join(', ')})`);
              continue;
            }
            const want = col === ids.get(key) ? expectedId(rec, key, id) : null;
            const problem = cellProblem(cell, c) ?? (want ? idProblem(cell, want.value, c.cls, want.name) : null);
            if (problem) add([...at, col], problem);
          }
        });
        const mix = mixedZones(rows, timestampColumns.get(key)!);
        if (mix) add([i, key, ...(Array.isArray(val) ? [mix.naive] : []), mix.column], `time ${JSON.stringify(mix.naiveText)} has no zone, while row ${mix.zoned} of the same column has one (${JSON.stringify(mix.zonedText)}): a time without a zone is read as UTC, which moves it by the other's offset (across the prediction time too); give every time of the column with its zone, or none`);
      }
      const across = recordZoneMix(rec);
      if (across && !issues.some((x) => x.record === i))
        add([i, ...across.naive.path], `time ${JSON.stringify(across.naive.text)} has no zone, while ${formatPath(across.zoned.path)} of the same record has one (${JSON.stringify(across.zoned.text)}): a time without a zone is read as UTC, which moves it by the other's offset, across the prediction time too; give the record's times (index_time included) all with their zone, or none`);
    });
    return issues;
  }

  /**
   * Across one record (index_time and every table's timestamp columns): a time with a zone other than UTC beside one
   * without (a +02:00 index time with zoneless lab times read the labs as UTC, two hours off: they left the window).
   */
  function recordZoneMix(rec: Record<string, unknown>): { naive: { path: (string | number)[]; text: string }; zoned: { path: (string | number)[]; text: string } } | null {
    type At = { path: (string | number)[]; text: string };
    let naive: At | null = null;
    let zoned: At | null = null;
    const see = (v: unknown, path: (string | number)[]) => {
      const z = zoneClass(v);
      if (z === 'naive') naive ??= { path, text: v as string };
      else if (z === 'zoned') zoned ??= { path, text: v as string };
    };
    const index = own(rec, 'index_time');
    if (opts.indexTime && indexCls === 'timestamp') see(index, ['index_time']);
    for (const name of Object.keys(rec)) {
      if (name === 'id' || name === 'index_time') continue;
      const cols = usedTimestamps.get(name);
      if (!cols?.length) continue;
      const val = rec[name];
      const rows = Array.isArray(val) ? val : [val];
      rows.forEach((row, r) => {
        if (isRow(row)) for (const c of cols) see(row[c], [name, ...(Array.isArray(val) ? [r] : []), c]);
      });
      if (naive && zoned) break;
    }
    return naive && zoned ? { naive, zoned } : null;
  }

  /**
   * Within one table of a record, a timestamp column whose times mix a zone other than UTC with none: the zoneless
   * ones are read as UTC and move by the offset (what db.ts refuses in table files). The first of each, by row.
   */
  function mixedZones(rows: unknown[], columns: string[]): { column: string; naive: number; naiveText: string; zoned: number; zonedText: string } | null {
    for (const column of columns) {
      let naive = -1, zoned = -1, naiveText = '', zonedText = '';
      rows.forEach((row, r) => {
        const v = isRow(row) ? row[column] : undefined;
        const z = zoneClass(v);
        if (z === 'naive' && naive < 0) { naive = r; naiveText = v as string; }
        else if (z === 'zoned' && zoned < 0) { zoned = r; zonedText = v as string; }
      });
      if (naive >= 0 && zoned >= 0) return { column, naive, naiveText, zoned, zonedText };
    }
    return null;
  }

  /** A cell the schema accepts for its column kind (zod's types, without zod). */
  function schemaAccepts(cell: unknown, c: Column): boolean {
    const kind = c.kind;
    if (cell === undefined || cell === null) return true;
    switch (typeof cell) {
      case 'number':
        return kind === 'number' ? Number.isFinite(cell) : !Number.isNaN(cell);
      case 'boolean':
        return kind !== 'time';
      case 'string':
        return kind === 'number' ? c.numberText.test(cell) : !cell.includes('\u0000');
      default:
        return false;
    }
  }

  // A spec table named like a record field would shadow it in the schema: such runs always take the zod path.
  const fastPossible = !tables.has('id') && !tables.has('index_time');

  /**
   * The fast path: the records when every rule holds (the schema, then extraIssues), else null (the zod path then
   * names the problems). Reads own keys only, looks names up in Maps.
   */
  function fastRecords(input: unknown[]): PatientRecord[] | null {
    if (!fastPossible) return null;
    const out: PatientRecord[] = new Array(input.length);
    const seen = new Set<string>();
    for (let i = 0; i < input.length; i++) {
      const rec = input[i];
      if (!isRow(rec)) return null;
      const id = rec.id;
      if (typeof id === 'string' ? id.length === 0 || id.includes('\u0000') : typeof id !== 'number' || !Number.isFinite(id)) return null;
      const key = String(id);
      if (seen.has(key)) return null;
      seen.add(key);
      const it = rec.index_time;
      if (it !== undefined) {
        if (!opts.indexTime) return null;
        if (typeof it === 'string' ? it.length === 0 || it.includes('\u0000') : typeof it !== 'number' || !Number.isFinite(it)) return null;
        if (opts.indexTime && indexProblem(it)) return null;
        if (opts.indexTime && conflictingIndex(it, own(rec, opts.indexTime.table), opts.indexTime.column, indexCls) !== undefined) return null;
      }
      const copy = Object.create(null) as PatientRecord;
      for (const name of Object.keys(rec)) {
        const val = rec[name];
        copy[name] = val;
        if (name === 'id' || name === 'index_time') continue;
        const types = tables.get(name);
        if (!types) return null;
        const idColumn = ids.get(name);
        const many = Array.isArray(val);
        const n = many ? val.length : 1;
        for (let r = 0; r < n; r++) {
          const row: unknown = many ? val[r] : val;
          if (!isRow(row)) return null;
          for (const col of Object.keys(row)) {
            const c = types.get(col);
            if (!c) {
              if (col !== idColumn) return null;
              continue;
            }
            const cell = row[col];
            if (cell === undefined || cell === null || cell === '') continue;
            if (!schemaAccepts(cell, c) || cellProblem(cell, c)) return null;
            if (col === idColumn) {
              const want = expectedId(rec, name, key);
              if (want && idProblem(cell, want.value, c.cls, want.name)) return null;
            }
          }
        }
      }
      if (opts.indexTime && it === undefined && !hasIndexTime(own(rec, opts.indexTime.table), opts.indexTime.column)) return null;
      for (const name of Object.keys(rec)) {
        const cols = name === 'id' || name === 'index_time' ? undefined : timestampColumns.get(name);
        if (cols?.length && mixedZones(Array.isArray(rec[name]) ? (rec[name] as unknown[]) : [rec[name]], cols)) return null;
      }
      if (recordZoneMix(rec)) return null;
      copy.id = key;
      out[i] = copy;
    }
    return out;
  }

  /**
   * The schema's issues of a large body, record by record and its table rows a growing slice at a time (FIRST_ROWS, doubling to ROWS_PER_PARSE), stopping at
   * MAX_ISSUES: zod builds every issue of the whole body (with a union's branches, per bad row) before any is
   * read, which for 60,000 bad rows took seconds of the server's one thread. Null when the schema accepts all.
   * (Used as the answer only when it holds MAX_ISSUES: fewer, and viaSchema runs the whole pass with the checks zod
   * cannot make, on ids, time cells and index times.)
   */
  function boundedSchemaIssues(sent: Record<string, unknown>[], prefix: (string | number)[]): ValidationResult | null {
    const found: { path: string; message: string }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < sent.length && found.length < MAX_ISSUES; i++) {
      const rec = sent[i];
      if (!isRow(rec)) {
        const r = schema.safeParse([rec]);
        if (!r.success) for (const x of r.error.issues.flatMap(matchingBranch)) found.push({ path: formatPath([...prefix, i, ...x.path.slice(1)]), message: issueText(x) });
        continue;
      }
      const arrays = Object.keys(rec).filter((k) => tables.has(k) && Array.isArray(rec[k]));
      const longest = Math.max(1, ...arrays.map((k) => (rec[k] as unknown[]).length));
      for (let start = 0, size = FIRST_ROWS; start < longest && found.length < MAX_ISSUES; start += size, size = Math.min(2 * size, ROWS_PER_PARSE)) {
        const part = Object.assign(Object.create(null) as Record<string, unknown>, rec);
        for (const k of arrays) part[k] = (rec[k] as unknown[]).slice(start, start + size);
        const r = schema.safeParse([part]);
        if (r.success) continue;
        for (const x of r.error.issues.flatMap(matchingBranch)) {
          const path = [i, ...x.path.slice(1)];
          if (arrays.includes(String(path[1])) && typeof path[2] === 'number') path[2] += start;
          const text = formatPath([...prefix, ...path]);
          const message = issueText(x);
          const key = `${text}\u0000${message}`;
          if (seen.has(key)) continue; // a record's own fields, once for all its slices
          seen.add(key);
          found.push({ path: text, message });
        }
      }
    }
    return found.length ? { ok: false, issues: found.slice(0, MAX_ISSUES) } : null;
  }

  /** The schema path alone: zod, then extraIssues. */
  function viaSchema(input: unknown, prefix: (string | number)[]): ValidationResult {
    const sent = ownRecords(input);
    if (Array.isArray(sent) && rowCount(sent) > FIRST_ROWS) {
      // As many issues as an answer holds: that is the answer. Fewer: the whole pass below is as cheap (its zod call
      // builds no more issues) and adds the checks the schema cannot make (ids, index times, time cells).
      const bounded = boundedSchemaIssues(sent as Record<string, unknown>[], prefix);
      if (bounded && !bounded.ok && bounded.issues.length >= MAX_ISSUES) return bounded;
    }
    const r = schema.safeParse(sent);
    if (!r.success) {
      const typed = r.error.issues.flatMap(matchingBranch).map((i) => ({ path: formatPath([...prefix, ...i.path]), message: issueText(i), record: typeof i.path[0] === 'number' ? i.path[0] : -1 }));
      // The records the schema accepted get the checks it cannot make too, so that one answer names every bad record
      // (not the type errors first and, once fixed, the rest).
      const failed = new Set(typed.map((i) => i.record));
      const rest = Array.isArray(sent) && !failed.has(-1)
        ? extraIssues(sent as Record<string, unknown>[], prefix, new Set(sent.map((_, i) => i).filter((i) => !failed.has(i))))
        : [];
      // A record the schema refused gets them too where they can be made (its index time, time cells): one answer
      // then names every bad field of it. Those checks expect the schema's shapes, so a record they trip over keeps
      // the schema's issues alone; a field both name is named once.
      if (Array.isArray(sent) && !failed.has(-1)) {
        const named = new Set(typed.map((i) => i.path));
        for (const i of failed) {
          try {
            rest.push(...extraIssues(sent as Record<string, unknown>[], prefix, new Set([i])).filter((x) => !named.has(x.path)));
          } catch {
            /* a shape only the schema's message describes */
          }
        }
      }
      const all = [...typed, ...rest].map((x, n) => ({ ...x, n })).sort((a, b) => a.record - b.record || a.n - b.n);
      return { ok: false, issues: all.slice(0, MAX_ISSUES).map(({ path, message }) => ({ path, message })) };
    }
    // zod drops a `__proto__` key silently: the checks below read the records as sent.
    const issues = extraIssues(sent as Record<string, unknown>[], prefix).map(({ path, message }) => ({ path, message }));
    if (issues.length) return { ok: false, issues };
    return { ok: true, records: r.data as unknown as PatientRecord[] };
  }

  /** Validates a list of records; `prefix` is the path of the list in the request (default `records`). */
  // Per table, the markers its file read as missing (tables.NAME.na_values): a record's cell written so is
  // missing too (a -1 meaning "not measured" was scored as the number -1, unlike the same row in the file).
  const markers = new Map(Object.entries(opts.naValues ?? {}).map(([t, vs]): [string, Set<string>] => [t, new Set(vs.filter((v) => v.trim() !== ''))]).filter(([, m]) => m.size > 0));
  /** The records with every marker cell of those tables as null: copies where one changed, the rest as sent. */
  function withoutMarkers(input: unknown): unknown {
    if (!markers.size) return input;
    return mapCells(input, markers, (v, m) => ((typeof v === 'string' || typeof v === 'number') && m.has(String(v)) ? null : v));
  }
  // Elapsed times ("07:10", "47:59", "-1:30:00", as PhysioNet's files write them) in a numeric time column are read
  // as the file reader reads a column of them: hours, minutes and seconds, in the table's time unit.
  function withElapsedTimes(input: unknown): unknown {
    if (!elapsed.size) return input;
    return mapCells(input, elapsed, (v, e, c) => {
      if (typeof v !== 'string' || !e.columns.has(c)) return v;
      const m = ELAPSED.exec(v.trim());
      if (!m) return v;
      const seconds = (m[1] ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0));
      return (seconds / 86400) * e.unitsPerDay;
    });
  }

  function validate(sent: unknown, prefix: (string | number)[] = ['records']): ValidationResult {
    const input = withElapsedTimes(withoutMarkers(sent));
    const counted = countProblem(input, prefix);
    if (counted) return counted;
    const fast = Array.isArray(input) ? fastRecords(input) : null;
    return fast ? { ok: true, records: fast } : viaSchema(input, prefix);
  }
  function countProblem(input: unknown, prefix: (string | number)[]): ValidationResult | null {
    if (Array.isArray(input) && input.length === 0) return { ok: false, issues: [{ path: formatPath(prefix), message: 'expected at least one record' }] };
    if (Array.isArray(input) && input.length > opts.maxRecords)
      return { ok: false, issues: [{ path: formatPath(prefix), message: `too many records (${input.length}); at most ${opts.maxRecords} per request` }] };
    return null;
  }
  /** For tests: the schema path without the fast one (both must agree on every input). */
  validate.viaSchema = (input: unknown, prefix: (string | number)[] = ['records']) => countProblem(input, prefix) ?? viaSchema(input, prefix);
  return validate;
}

export type RecordValidator = ReturnType<typeof makeRecordValidator>;

/** A row's own id column must name the record's patient: the row would be counted as the record's anyway. */
function idProblem(cell: unknown, id: string, cls: ColumnClass, name = "the record's id"): string | null {
  if (cell === undefined || cell === null || cell === '' || String(cell) === id) return null;
  // A number id column: 1, "1" and "1.0" name the same patient.
  if (cls === 'integer' || cls === 'double' || cls === 'float') {
    const a = readNumber(cell, cls), b = readNumber(id, cls);
    if (a !== UNREADABLE && b !== UNREADABLE && a === b) return null;
  }
  return `differs from ${name} ${JSON.stringify(id)}: a record holds one patient's rows (leave the id column out, or give ${name})`;
}

/** A value of the index column in the cohort rows that reads as another instant or number than `given`. */
function conflictingIndex(given: unknown, rows: unknown, column: string, cls: ColumnClass): unknown {
  const list = rowList(rows);
  const read = (v: unknown) => (cls === 'date' || cls === 'timestamp' ? readTime(v, cls) : readNumber(v, cls));
  const a = read(given);
  if (a === UNREADABLE || Number.isNaN(a)) return undefined;
  for (const r of list) {
    const v = own(r, column);
    if (v === undefined || v === null || v === '') continue;
    const b = read(v);
    if (b !== UNREADABLE && !Number.isNaN(b) && b !== a) return v;
  }
  return undefined;
}

/** A table's rows as a record gives them: a list, one row, or none. */
const rowList = (rows: unknown): unknown[] => (Array.isArray(rows) ? rows : rows ? [rows] : []);

function hasIndexTime(rows: unknown, column: string): boolean {
  return rowList(rows).some((r) => {
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
