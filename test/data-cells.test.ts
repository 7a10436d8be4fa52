// The cell readers of the compiled transform against DuckDB itself: every value of a grid of JSON cells (numbers
// around each type's edges, numeric text, booleans, dates and timestamps with every combination of time, fraction,
// zone and blanks the validator's grammar allows) is written into a column of each supported type the way the SQL
// path writes it (records.ts sqlValue) and read back the way the builders read it. Every cell the validator
// passes must be one DuckDB reads, and the readers must give DuckDB's value for it, bit for bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/data/db.js';
import { sqlValue } from '../src/data/records.js';
import { columnClass, doubleText, readNumber, readText, readTime, UNREADABLE } from '../src/data/compiled/cells.js';
import { makeRecordValidator } from '../src/serve/validate.js';

const blanks = ['', ' ', '\t', '\n', '\u00a0'];
const dates = ['2020-02-29', '1969-12-31', '0001-01-01', '9999-12-31', '2021-02-29'];
const times = ['', ' 08:05', 'T08:05', ' 08:05:09', 'T08:05:09.5', ' 08:05:09.1234567', ' 00:00:00.0000009', ' 24:00', ' 24:00:00', ' 24:00:00.000', ' 24:00:00.5', ' 23:59:59.999999', ' 25:00', ' 12:60'];
const zones = ['', 'Z', '+02', '+0230', '+02:30', '-05', '-0530', '-05:30', '+14'];
const timeCells: unknown[] = [0, 1.5, -1.5, 1.0000005, -1.0000015, 1577836800.1234565, 2.5e-6, -86400.0000005, 253402300799, -62135596800, 1e11 + 0.3, -1e-7, null, '', 'yesterday'];
for (const lead of blanks) for (const d of dates) for (const t of times) for (const z of zones) for (const trail of blanks) if (lead === '' || trail === '') timeCells.push(lead + d + t + z + trail);

const numberCells: unknown[] = [
  0, -0, 1, 2.5, -2.5, 3.5, 0.5, -0.5, 1.5, 1e-7, 123.456, 127, 127.4, 127.5, 127.6, -127.5, -128, 255.5, 2 ** 53 + 2, 1e15 + 0.5,
  9.2e18, -9.2e18, 3.4028234663852886e38, 3.4028235e38, 3.5e38, 1e39, 1e300, 5e-324, 1e-46, 0.1, 1 / 3, 0.1 + 0.2, 1e16, 1e15,
  123456789.125, -1e-7, 1e21, 2 ** 63, 4294967295.5, 1e-4, 1e-5, -1e-5, 2.5e-5, 1e-6, 0.000123, 1.5e15, 9.99e15, 1.2345e16,
  123456789012345678, true, false, null, '', '3', ' 3 ', '\t3', '3\n', '\u00a03', '3\u00a0', '+.5', '1.', '1e5', '1E+5', '-0', '00012',
  '1e-400', '4.5e-324', '1_000', '0x10', '  ', 'abc', '1e400', '2.5', '-2.5',
];
const textCells: unknown[] = ['a', ' a ', '', 'é', '\ud800x', 'x\udc00', '🦀', "'; DROP TABLE t; --", 'null', 3, 3.5, -0, 1e21, 1e-7, true, false, null];

const TYPES: Record<string, unknown[]> = {
  DOUBLE: numberCells, FLOAT: numberCells, REAL: numberCells, TINYINT: numberCells, SMALLINT: numberCells, INTEGER: numberCells,
  BIGINT: numberCells, HUGEINT: numberCells, UTINYINT: numberCells, USMALLINT: numberCells, UINTEGER: numberCells, UBIGINT: numberCells,
  // a yes/no column: numbers 0/1 only, booleans, and the words its file held
  BOOLEAN: [...numberCells, 'yes', 'No', ' t ', 'F', 'TRUE', 'false', 'y', 'N', 'maybe', 'tru', 'yes!'], VARCHAR: [...textCells, ...numberCells], TIMESTAMP: timeCells, DATE: timeCells, 'TIMESTAMP WITH TIME ZONE': timeCells,
};

let db: Db;
beforeAll(async () => {
  db = await Db.open('cells');
});
afterAll(() => db?.close());

/** What DuckDB makes of each cell written into a column of `type` and read back with `read` (null = NULL, 'ERR' = refused). */
async function duck(type: string, cells: unknown[], read: (c: string) => string): Promise<unknown[]> {
  // TRY_CAST of loadRecords' own expression is what a failed INSERT means (records.ts unreadableValues does the same).
  const rows = cells.map((v, k) => `(${k}, ${v === null || v === undefined || v === '' ? 'TRUE' : 'FALSE'}, TRY_CAST(${sqlValue(v, type, 'TRY_CAST')} AS ${type}))`);
  const got = await db.rows(`SELECT k, blank, c IS NULL AS missing, ${read('c')} AS v FROM (VALUES ${rows.join(', ')}) t(k, blank, c) ORDER BY k`);
  return got.map((r) => (r.missing ? (r.blank ? null : 'ERR') : r.v));
}

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : String(v));

describe('cell readers = DuckDB', () => {
  it.each(Object.keys(TYPES))('%s: what the validator passes, DuckDB reads, to the same value', async (type) => {
    const cls = columnClass(type);
    expect(cls).not.toBe('duck');
    const validate = makeRecordValidator({ t: { id: 'VARCHAR', c: type } }, { t: 'id' }, { maxRecords: 10 });
    const accepted = (v: unknown) => validate([{ id: 'a', t: [{ c: v }] }]).ok;
    const cells = TYPES[type];
    const isTime = cls === 'date' || cls === 'timestamp';
    const read = isTime ? (c: string) => `epoch_ms(CAST(${c} AS TIMESTAMP))` : cls === 'varchar' ? (c: string) => c : (c: string) => `CAST(${c} AS DOUBLE)`;
    const want = await duck(type, cells, read);
    const mismatches: string[] = [];
    cells.forEach((v, k) => {
      const ours = isTime ? readTime(v, cls) : cls === 'varchar' ? readText(v, cls) : readNumber(v, cls);
      const got = ours === UNREADABLE ? 'ERR' : typeof ours === 'number' && Number.isNaN(ours) ? null : ours;
      const ok = accepted(v);
      // A cell the validator passes must be one DuckDB reads, to the same value; one it refuses must not matter.
      if (ok && (want[k] === 'ERR' || !Object.is(got, want[k]) && got !== want[k])) mismatches.push(`${show(v)}: DuckDB ${show(want[k])}, ours ${show(got)}`);
    });
    expect(mismatches).toEqual([]);
    // (integer columns refuse fractions since a fractional time was rounded across the prediction time: fewer pass)
    expect(cells.filter(accepted).length).toBeGreaterThan(isTime ? 500 : cls === 'boolean' ? 12 : cls === 'integer' ? 10 : 20);
    if (cls === 'integer') for (const v of [1.5, '2.5', -0.25]) expect(accepted(v), String(v)).toBe(false);
  });

  it.each(['BIGINT', 'BOOLEAN', 'DOUBLE'])('CAST(%s AS VARCHAR) (categories and codes held in number columns)', async (type) => {
    const cls = columnClass(type);
    const validate = makeRecordValidator({ t: { id: 'VARCHAR', c: type } }, { t: 'id' }, { maxRecords: 10 });
    const cells = numberCells.filter((v) => validate([{ id: 'a', t: [{ c: v }] }]).ok);
    const want = await duck(type, cells, (c) => `CAST(${c} AS VARCHAR)`);
    const got = cells.map((v) => readText(v, cls));
    expect(got.map(show)).toEqual(want.map(show));
  });

  it('the TRY_CAST oracle is the INSERT the SQL path runs (a sample through a real table)', async () => {
    const sample: [string, unknown][] = [
      ['TIMESTAMP', '2020-02-29 08:05:09.1234567-05:30'], ['TIMESTAMP', '2020-02-29 08:05 '], ['DATE', '2020-02-29 24:00:00Z'],
      ['TIMESTAMP', -1.0000015], ['INTEGER', 2.5], ['INTEGER', '-2.5'], ['FLOAT', 1e39], ['UTINYINT', 255.5], ['VARCHAR', '\ud800x'], ['BOOLEAN', 0.5],
    ];
    for (const [type, v] of sample) {
      const read = type === 'TIMESTAMP' || type === 'DATE' ? 'epoch_ms(CAST(c AS TIMESTAMP))' : type === 'VARCHAR' ? 'c' : 'CAST(c AS DOUBLE)';
      await db.run(`CREATE OR REPLACE TABLE t (c ${type})`);
      let inserted: unknown;
      try {
        await db.run(`INSERT INTO t VALUES (${sqlValue(v, type)})`);
        inserted = (await db.rows(`SELECT ${read} AS v FROM t`))[0].v;
      } catch {
        inserted = 'ERR';
      }
      expect(show((await duck(type, [v], (c) => read.replace(/\bc\b/, c)))[0]), `${type} ${show(v)}`).toBe(show(inserted));
    }
  });

  it('doubleText writes DOUBLE as DuckDB does', () => {
    expect([3, 0, 1e21, 1e-7, 0.1, 1e16, 1e15, 123.456, 1e-4, 1e-5, 5e-324].map(doubleText)).toEqual([
      '3.0', '0.0', '1e+21', '1e-07', '0.1', '1e+16', '1000000000000000.0', '123.456', '0.0001', '1e-05', '5e-324',
    ]);
  });
});
