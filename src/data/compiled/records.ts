// How the compiled transform sees one patient record: the rows of each spec table, with the id column filled from
// the record id and the cohort row (always there, as loadRecords makes one) holding `index_time`; each cell read
// with its training column type; row times and the index time as days, exactly as the SQL path computes them
// (src/data/cohort.ts for the index, src/data/modalities/common.ts windowedRows for the rows).
import type { PatientRecord } from '../records.js';
import { own } from '../records.js';
import { tableId, tableTime, type Spec } from '../spec.js';
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

/** One spec table as the records hold it. */
export class TableView {
  readonly id: string;
  readonly time: string | undefined;
  readonly isCohort: boolean;
  private readonly timeClass: ColumnClass | undefined;

  constructor(
    readonly name: string,
    private readonly types: Map<string, string>,
    spec: Spec,
    /** The cohort table's index column that `index_time` fills (cohort table only). */
    private readonly indexColumn: string | undefined,
  ) {
    const t = spec.tables[name];
    this.id = tableId(t)!;
    this.time = tableTime(t);
    this.timeClass = this.time === undefined ? undefined : this.classOf(this.time, TIME_CLASSES, 'a time');
    this.isCohort = name === spec.cohort.table;
  }

  /** The class of a column the modalities read, checked to be one of `allowed` (else Unsupported). */
  classOf(column: string, allowed: ColumnClass[], what: string): ColumnClass {
    const type = this.types.get(column);
    if (type === undefined) throw new Unsupported(`tables.${this.name}: no column '${column}' in the fitted column types`);
    const cls = columnClass(type);
    if (!allowed.includes(cls)) throw new Unsupported(`tables.${this.name}.${column}: column type ${type} as ${what}`);
    return cls;
  }

  /** The record's rows of this table; the cohort table always has one (loadRecords adds an empty one). */
  rows(rec: PatientRecord): Row[] {
    const raw = own(rec, this.name);
    const rows = raw === undefined ? [] : Array.isArray(raw) ? (raw as Row[]) : [raw as Row];
    return this.isCohort && rows.length === 0 ? [EMPTY_ROW] : rows;
  }

  /** A cell as written into the table: the id column holds the record id, the index column `index_time`. */
  cell(rec: PatientRecord, row: Row, column: string): unknown {
    if (column === this.id) return rec.id;
    if (column === this.indexColumn && rec.index_time !== undefined) return rec.index_time;
    return own(row, column);
  }

  number(rec: PatientRecord, row: Row, column: string, cls: ColumnClass): number {
    const v = readNumber(this.cell(rec, row, column), cls);
    return v === UNREADABLE ? NaN : v;
  }

  text(rec: PatientRecord, row: Row, column: string, cls: ColumnClass): string | null {
    const v = readText(this.cell(rec, row, column), cls);
    return v === UNREADABLE ? null : v;
  }

  /** A row's time in days (numbers as they are, timestamps as days since 1970); NaN = none. */
  days(rec: PatientRecord, row: Row): number {
    const cls = this.timeClass!;
    const v = this.cell(rec, row, this.time!);
    if (cls === 'date' || cls === 'timestamp') {
      const ms = readTime(v, cls);
      return ms === UNREADABLE ? NaN : ms / MS_PER_DAY;
    }
    const x = readNumber(v, cls);
    return x === UNREADABLE ? NaN : x;
  }

  get timeIsClock(): boolean {
    return this.timeClass === 'date' || this.timeClass === 'timestamp';
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
  return (rec, rows) => {
    const v = cohort.cell(rec, rows[0], col);
    if (!clock) {
      const x = readNumber(v, cls);
      if (x === UNREADABLE || Number.isNaN(x)) return { path: ['index_time'], message: `index time '${col}' is missing` };
      return off !== 0 ? x + off : x;
    }
    const t = readInstant(v, cls);
    if (typeof t !== 'object') return { path: ['index_time'], message: `index time '${col}' is missing` };
    return (off !== 0 ? shiftedEpochMs(t, offsetUs) : readTime(v, cls) as number) / MS_PER_DAY;
  };
}

export { NUMBER_CLASSES, TEXT_CLASSES };
