// How the compiled transform sees one patient record: the rows of each spec table, with the id column filled from
// the record id and the cohort row (always there, as loadRecords makes one) holding `index_time`; each cell read
// with its training column type; row times and the index time as days, exactly as the SQL path computes them
// (src/data/cohort.ts for the index, src/data/modalities/common.ts windowedRows for the rows).
import type { PatientRecord } from '../records.js';
import { own } from '../records.js';
import { tableId, timeColumns, timeUnitsPerDay, type Spec } from '../spec.js';
import { columnClass, readInstant, readNumber, readText, readTime, shiftedEpochMs, UNREADABLE, type ColumnClass } from './cells.js';

export type Row = Record<string, unknown>;

/** Why a record cannot be transformed: a field path under the record and a message. */
export interface Problem {
  path: (string | number)[];
  message: string;
}

export const isProblem = (x: unknown): x is Problem => typeof x === 'object' && x !== null && 'message' in x;

const NUMBER_CLASSES: ColumnClass[] = ['double', 'float', 'integer', 'boolean'];
const TEXT_CLASSES: ColumnClass[] = ['varchar', 'integer', 'boolean', 'double'];
const TIME_CLASSES: ColumnClass[] = [...NUMBER_CLASSES, 'date', 'timestamp'];

/** A column the compiled transform cannot read like DuckDB: the run is then served through the SQL path. */
export class Unsupported extends Error {}

const MS_PER_DAY = 86_400_000;

/** DuckDB's trim(): spaces only. */
const duckTrim = (s: string) => s.replace(/^ +| +$/g, '');
/** DuckDB's lower(): each code point on its own (JavaScript's toLowerCase on a whole string is context-sensitive). */
const duckLower = (s: string) => Array.from(s, (c) => (c.toLowerCase().length === c.length ? c.toLowerCase() : c)).join('');
const TRUTHY = ['1', 'true', 't', 'yes', 'y'];
const FALSY = ['0', 'false', 'f', 'no', 'n'];

type Scalar = string | number | boolean;

/** One spec table as the records hold it, with its table options (time unit, row times, where, values, link). */
export class TableView {
  readonly id: string;
  readonly isCohort: boolean;
  /** The row time: one column, or the latest of several (tables.NAME.time: [a, b]); none for an untimed table. */
  private readonly times: { column: string; cls: ColumnClass }[];
  private readonly clock: boolean;
  private readonly unitsPerDay: number;
  private readonly where: ((rec: PatientRecord, row: Row) => boolean)[] = [];
  /** tables.NAME.values: per column, trimmed text → replacement (null = missing). */
  private readonly valueMaps = new Map<string, Map<string, string | null>>();
  /** The keys of a map that read as numbers, by value: a number column matches them so (shapeRows). */
  private readonly numberMaps = new Map<string, Map<number, string | null>>();
  /** tables.NAME.first_row: the table keeps each record's earliest row. */
  private readonly firstRow: boolean;
  /** tables.NAME.link: rows belong to the patient only when the link table has its row. */
  readonly link: TableView | undefined;
  /**
   * tables.NAME.lookup: empty cells of `columns` filled from the row of `table` with the same `on` value, among
   * the rows of every record transformed together (as the SQL path joins the tables of one request).
   */
  readonly lookup: { from: TableView; on: string; columns: Set<string>; key: (rec: PatientRecord, row: Row, view: TableView) => string | null } | undefined;
  /** During one transform call: each of this table's rows → its lookup row (set by lookupIndex, cleared after). */
  matches: Map<Row, { rec: PatientRecord; row: Row }> | null = null;

  constructor(
    readonly name: string,
    readonly types: Map<string, string>,
    private readonly spec: Spec,
    /** The cohort table's index column that `index_time` fills (cohort table only). */
    private readonly indexColumn: string | undefined,
    table: (name: string) => TableView,
  ) {
    const t = spec.tables[name];
    this.id = tableId(t)!;
    this.isCohort = name === spec.cohort.table;
    if (t.id === '_row') throw new Unsupported(`tables.${name}.id: _row`);
    if (t.lookup && this.isCohort) throw new Unsupported(`tables.${name}.lookup on the cohort table`);
    this.lookup = t.lookup ? this.compileLookup(t.lookup, table) : undefined;
    if (this.isCohort && t.where) throw new Unsupported(`tables.${name}.where on the cohort table`);
    this.unitsPerDay = timeUnitsPerDay(t);
    for (const [column, map] of Object.entries(t.values ?? {})) {
      if (column === indexColumn) throw new Unsupported(`tables.${name}.values.${column}: the index time`);
      this.valueMaps.set(column, new Map(Object.entries(map).map(([from, to]) => [from.trim(), to === null ? null : String(to)])));
      const byNumber = new Map<number, string | null>();
      for (const [from, to] of Object.entries(map)) {
        const k = from.trim();
        // textNumber: with decimal ',' a '.' makes the key no number
        const x = t.decimal === ',' ? (k.includes('.') ? NaN : readNumber(k.replace(',', '.'), 'double')) : readNumber(k, 'double');
        if (typeof x === 'number' && Number.isFinite(x) && !byNumber.has(x)) byNumber.set(x, to === null ? null : String(to));
      }
      this.numberMaps.set(column, byNumber);
    }
    this.times = timeColumns(t).map((column) => ({ column, cls: this.classOf(column, TIME_CLASSES, 'a time') }));
    const clocks = new Set(this.times.map((x) => x.cls === 'date' || x.cls === 'timestamp'));
    if (clocks.size > 1) throw new Unsupported(`tables.${name}.time: numbers and timestamps`);
    this.clock = clocks.has(true);
    for (const [column, values] of Object.entries(t.where ?? {})) this.where.push(this.whereTest(column, values as Scalar[]));
    this.link = t.link ? table(t.link.table) : undefined;
    this.firstRow = t.first_row === true;
    // SQL keeps the first row before a lookup fills the time; here the lookup's time would order them: declined.
    if (this.firstRow && t.lookup) throw new Unsupported(`tables.${name}.first_row with a lookup`);
    // keepFirstRows orders by the time column's own values: the same order as days() for numbers and clock times
    if (this.firstRow && this.times.length === 1 && !(['double', 'float', 'integer', 'date', 'timestamp'] as ColumnClass[]).includes(this.times[0].cls))
      throw new Unsupported(`tables.${name}.first_row by a time column of type ${types.get(this.times[0].column)}`);
  }

  private compileLookup(lk: { table: string; on: string; columns: string[] }, table: (name: string) => TableView) {
    const from = table(lk.table);
    const mine = this.types.get(lk.on), theirs = from.types.get(lk.on);
    if (mine === undefined || theirs === undefined) throw new Unsupported(`tables.${this.name}.lookup.on: ${lk.on}`);
    for (const c of lk.columns) {
      if (this.types.get(c) !== from.types.get(c)) throw new Unsupported(`tables.${this.name}.lookup.columns: ${c} has another type in '${lk.table}'`);
      if (this.valueMaps.has(c) || (this.spec.tables[this.name].where ?? {})[c] !== undefined) throw new Unsupported(`tables.${this.name}.lookup.columns: ${c} is mapped or filtered`);
    }
    // x.on = l.on for the same type (numbers as numbers), else both as text (addLookup in tables.ts).
    const cls = columnClass(mine);
    const same = mine === theirs && NUMBER_CLASSES.includes(cls);
    if (!same && (!TEXT_CLASSES.includes(cls) || !TEXT_CLASSES.includes(columnClass(theirs)))) throw new Unsupported(`tables.${this.name}.lookup.on: column types ${mine}, ${theirs}`);
    const key = (rec: PatientRecord, row: Row, view: TableView): string | null => {
      if (same) {
        const x = view.number(rec, row, lk.on, cls);
        return Number.isNaN(x) ? null : String(x);
      }
      return view.text(rec, row, lk.on, columnClass(view.types.get(lk.on)!));
    };
    return { from, on: lk.on, columns: new Set(lk.columns), key };
  }

  /** tables.NAME.where as tables.ts valueMatch writes it: booleans, numbers, or trimmed lower-case text. */
  private whereTest(column: string, values: Scalar[]): (rec: PatientRecord, row: Row) => boolean {
    const type = this.types.get(column);
    if (type === undefined || this.valueMaps.has(column)) throw new Unsupported(`tables.${this.name}.where.${column}`);
    const cls = columnClass(type);
    if (type === 'BOOLEAN') {
      const want = new Set<number>(values.map((v) => {
        const s = String(v).trim().toLowerCase();
        if (TRUTHY.includes(s)) return 1;
        if (FALSY.includes(s)) return 0;
        throw new Unsupported(`tables.${this.name}.where.${column}: ${JSON.stringify(v)}`);
      }));
      return (rec, row) => want.has(this.number(rec, row, column, cls));
    }
    if (NUMBER_CLASSES.includes(cls) && values.every((v) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))))) {
      const want = new Set(values.map(Number));
      return (rec, row) => want.has(this.number(rec, row, column, cls));
    }
    if (!TEXT_CLASSES.includes(cls)) throw new Unsupported(`tables.${this.name}.where.${column}: column type ${type}`);
    const want = new Set(values.map((v) => String(v).trim().toLowerCase()));
    return (rec, row) => {
      const text = this.text(rec, row, column, cls);
      return text !== null && want.has(duckLower(duckTrim(text)));
    };
  }

  /** The class of a column the modalities read, checked to be one of `allowed` (else Unsupported). */
  classOf(column: string, allowed: ColumnClass[], what: string): ColumnClass {
    const type = this.types.get(column);
    if (type === undefined) throw new Unsupported(`tables.${this.name}: no column '${column}' in the fitted column types`);
    const cls = columnClass(type);
    if (!allowed.includes(cls)) throw new Unsupported(`tables.${this.name}.${column}: column type ${type} as ${what}`);
    // A mapped column read as text has the type the request's values give it (VARCHAR or DOUBLE): not compiled.
    if (this.valueMaps.has(column) && what !== 'a number') throw new Unsupported(`tables.${this.name}.values.${column}: read as ${what}`);
    return cls;
  }

  /** The record's own rows of this table, before any option; the cohort table always has one (loadRecords). */
  private given(rec: PatientRecord): Row[] {
    const raw = own(rec, this.name);
    const rows = raw === undefined ? [] : Array.isArray(raw) ? (raw as Row[]) : [raw as Row];
    return this.isCohort && rows.length === 0 ? [EMPTY_ROW] : rows;
  }

  /** The rows the table holds once loaded: the record's, kept by `where`, then by first_row (shapeRows). */
  kept(rec: PatientRecord): Row[] {
    const rows = this.given(rec);
    const kept = this.where.length ? rows.filter((row) => this.where.every((w) => w(rec, row))) : rows;
    return this.firstRow && kept.length > 1 ? [this.earliest(rec, kept)] : kept;
  }

  /** tables.NAME.first_row as keepFirstRows orders: by the one time column, a row without one last, then as sent. */
  private earliest(rec: PatientRecord, rows: Row[]): Row {
    if (this.times.length !== 1) return rows[0];
    let best = rows[0], bestT = this.days(rec, best);
    for (const row of rows.slice(1)) {
      const t = this.days(rec, row);
      if (!Number.isNaN(t) && (Number.isNaN(bestT) || t < bestT)) { best = row; bestT = t; }
    }
    return best;
  }

  /** The rows the builders' SQL sees: the kept ones, and for a linked table only when its link row is there. */
  rows(rec: PatientRecord): Row[] {
    if (this.link && this.link.kept(rec).length !== 1) return [];
    return this.kept(rec);
  }

  /**
   * A cell as the builders read it: the id column holds the record id, the index column `index_time`, an empty
   * lookup column the lookup row's value.
   */
  cell(rec: PatientRecord, row: Row, column: string): unknown {
    if (column === this.id) return rec.id;
    if (column === this.indexColumn && rec.index_time !== undefined) return rec.index_time;
    const v = own(row, column);
    if (this.lookup && this.lookup.columns.has(column) && (v === undefined || v === null || v === '')) {
      const m = this.matches?.get(row);
      return m ? this.lookup.from.cell(m.rec, m.row, column) : v;
    }
    return v;
  }

  /**
   * The lookup rows of this table's rows among the rows of the records of the same patient (`patientOf`: the
   * cohort's patient column, else each record on its own): an earlier admission of the patient, sent as another
   * record, gives its discharge time to the patient's diagnoses, as the SQL path does over the files; another
   * patient's rows never match, whatever their `on` value, so a record's answer depends on no other patient's
   * record. Also the problem of an `on` value that several lookup rows of a patient share, for each of its records.
   */
  lookupIndex(records: PatientRecord[], patientOf: (rec: PatientRecord, i: number) => string): Map<number, Problem> {
    const problems = new Map<number, Problem>();
    const lk = this.lookup!;
    const groups = new Map<string, number[]>();
    records.forEach((rec, i) => {
      const p = patientOf(rec, i);
      (groups.get(p) ?? groups.set(p, []).get(p)!).push(i);
    });
    this.matches = new Map();
    for (const members of groups.values()) {
      const index = new Map<string, { rec: PatientRecord; row: Row; i: number }[]>();
      for (const i of members)
        for (const row of lk.from.kept(records[i])) {
          const k = lk.key(records[i], row, lk.from);
          if (k !== null) (index.get(k) ?? index.set(k, []).get(k)!).push({ rec: records[i], row, i });
        }
      for (const [k, hits] of index)
        if (hits.length > 1)
          for (const h of hits) problems.set(h.i, { path: [lk.from.name], message: `${lk.on} ${k} appears ${hits.length} times, but tables.${this.name}.lookup needs one row per ${lk.on} in table '${lk.from.name}'` });
      for (const i of members)
        for (const row of this.kept(records[i])) {
          const k = lk.key(records[i], row, this);
          const hit = k === null ? undefined : index.get(k);
          if (hit?.length === 1) this.matches!.set(row, hit[0]);
        }
    }
    return problems;
  }

  number(rec: PatientRecord, row: Row, column: string, cls: ColumnClass): number {
    const map = this.valueMaps.get(column);
    if (map) return this.mapped(rec, row, column, cls, map);
    const v = readNumber(this.cell(rec, row, column), cls);
    return v === UNREADABLE ? NaN : v;
  }

  /**
   * A value-mapped cell read as a number (shapeRows): its text, trimmed, replaced when the map has it, then read
   * as a DOUBLE (NaN: missing, or not a number, which the SQL path refuses when a modality reads it as one).
   */
  private mapped(rec: PatientRecord, row: Row, column: string, cls: ColumnClass, map: Map<string, string | null>): number {
    if (cls === 'double' || cls === 'float' || cls === 'integer') {
      // A number column: matched by value (shapeRows), and what no key matches is the number itself.
      const x = readNumber(this.cell(rec, row, column), cls);
      if (x === UNREADABLE || Number.isNaN(x)) return NaN;
      const byNumber = this.numberMaps.get(column)!;
      if (!byNumber.has(x)) return x;
      const to = byNumber.get(x)!;
      if (to === null || duckTrim(to) === '') return NaN;
      const y = readNumber(duckTrim(to), 'double');
      return y === UNREADABLE ? NaN : y;
    }
    const text = readText(this.cell(rec, row, column), cls);
    if (text === null || text === UNREADABLE) return NaN;
    const to = map.get(duckTrim(text));
    const v = to === undefined ? text : to;
    if (v === null || duckTrim(v) === '') return NaN;
    const x = readNumber(duckTrim(v), 'double');
    return x === UNREADABLE ? NaN : x;
  }

  text(rec: PatientRecord, row: Row, column: string, cls: ColumnClass): string | null {
    const v = readText(this.cell(rec, row, column), cls);
    return v === UNREADABLE ? null : v;
  }

  get hasTime(): boolean {
    return this.times.length > 0;
  }

  /** tables.NAME.first_row: the table keeps each record's earliest row. */
  get keepsFirstRow(): boolean {
    return this.firstRow;
  }

  /**
   * A row's time in days as windowedRows computes it: numbers in the table's time unit divided into days,
   * timestamps as days since 1970; with several time columns the latest given one. NaN = none.
   */
  days(rec: PatientRecord, row: Row): number {
    let best = NaN;
    for (const { column, cls } of this.times) {
      const v = this.cell(rec, row, column);
      const x = this.clock ? readTime(v, cls) : readNumber(v, cls);
      if (x !== UNREADABLE && !Number.isNaN(x) && !(x <= best)) best = x;
    }
    if (this.clock) return best / MS_PER_DAY;
    return this.unitsPerDay === 1 ? best : best / this.unitsPerDay;
  }

  /** The problem of a record whose link row is not unique (finishTables: requireUniqueIds on the link table). */
  linkProblem(rec: PatientRecord): Problem | null {
    const n = this.link ? this.link.kept(rec).length : 0;
    return n > 1 ? { path: [this.link!.name], message: `${n} rows, but tables.${this.name}.link needs one row per patient in table '${this.link!.name}'` } : null;
  }

  /** Numeric index times in the cohort table's time unit. */
  get indexUnitsPerDay(): number {
    return this.unitsPerDay;
  }
}

const EMPTY_ROW: Row = Object.freeze(Object.create(null)) as Row;

/** The patient's index time in days, as __cohort.idx holds it (src/data/cohort.ts). */
export type IndexReader = (rec: PatientRecord, cohortRows: Row[]) => number | Problem;

export function indexReader(spec: Spec, cohort: TableView, idxKind: string): IndexReader {
  const col = spec.cohort.index_time;
  const off = spec.cohort.index_offset ?? 0;
  if (typeof col !== 'string') {
    if (idxKind !== 'number') throw new Unsupported('cohort.index_time: a constant, but fitted as a timestamp');
    const idx = off !== 0 ? col + off : col;
    return () => idx;
  }
  const cls = cohort.classOf(col, TIME_CLASSES, 'the index time');
  const clock = cls === 'date' || cls === 'timestamp';
  if ((clock ? 'time' : 'number') !== idxKind) throw new Unsupported(`cohort.index_time: '${col}' is ${clock ? 'a timestamp' : 'a number'}, fitted otherwise`);
  // round(o · 86400e6) in DuckDB rounds half away from zero.
  const offsetUs = Math.sign(off * 86400e6) * Math.round(Math.abs(off * 86400e6));
  const units = cohort.indexUnitsPerDay;
  return (rec, rows) => {
    const v = cohort.cell(rec, rows[0], col);
    if (!clock) {
      const raw = readNumber(v, cls);
      if (raw === UNREADABLE || Number.isNaN(raw)) return { path: ['index_time'], message: `index time '${col}' is missing` };
      const x = units === 1 ? raw : raw / units;
      return off !== 0 ? x + off : x;
    }
    const t = readInstant(v, cls);
    if (typeof t !== 'object') return { path: ['index_time'], message: `index time '${col}' is missing` };
    return (off !== 0 ? shiftedEpochMs(t, offsetUs) : readTime(v, cls) as number) / MS_PER_DAY;
  };
}

export { NUMBER_CLASSES, TEXT_CLASSES };
