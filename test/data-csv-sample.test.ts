// CSV types from DuckDB's sample made safe (src/data/csv-sample.ts) must give the table whole-file typing gives:
// the same column types and the same values, row for row, on files built to trip a sampled read. The oracle is
// DuckDB's own read with sample_size=-1 in an instance of its own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { narrowSampled, sampledTypes, sampling, typesOption } from '../src/data/csv-sample.js';
import { Db } from '../src/data/db.js';
import type { TableSpec } from '../src/data/spec.js';
import { tempDir } from './fixtures/data/helpers.js';

/** Rows past DuckDB's type sample (20,480 rows). */
const PAST = 25_000;
const body = (header: string, row: (k: number) => string, tail: string[] = [], n = PAST) =>
  [header, ...Array.from({ length: n }, (_, k) => row(k)), ...tail].join('\n') + '\n';

const CASES: { name: string; csv: string; t?: Partial<TableSpec>; oracleOptions?: string }[] = [
  { name: 'integers', csv: body('id,v', (k) => `${k},${k % 9}`) },
  { name: 'a decimal past the sample', csv: body('id,v', (k) => `${k},${k % 9}`, [`${PAST},12.5`]) },
  { name: 'integers written as 12.0 everywhere', csv: body('id,v', (k) => `${k},${k % 9}.0`) },
  { name: 'inf past the sample', csv: body('id,v', (k) => `${k},${k % 9}`, [`${PAST},inf`]) },
  { name: 'an id beyond 2^53 past the sample', csv: body('id,v', (k) => `${k},${k % 9}`, ['9007199254740993,1']) },
  { name: 'text past the sample', csv: body('id,v', (k) => `${k},${k % 9}`, [`${PAST},high`]) },
  { name: 'dates', csv: body('id,d', (k) => `${k},2020-01-0${1 + (k % 9)}`) },
  { name: 'a time of day past the sample', csv: body('id,d', (k) => `${k},2020-01-0${1 + (k % 9)}`, [`${PAST},2020-01-03 10:30:00`]) },
  { name: 'timestamps with zones', csv: body('id,t', (k) => `${k},2020-01-01T0${k % 9}:00:00+02:00`, [`${PAST},2020-01-01 10:00:00+05:00`]) },
  { name: 'a column empty in the sample', csv: body('id,v,w', (k) => `${k},,x`, [`${PAST},7,y`, `${PAST + 1},8,z`]) },
  { name: 'a text column empty in the sample', csv: body('id,v', (k) => `${k},`, [`${PAST},P123`, `${PAST + 1},7`]) },
  { name: 'dates in a local format, empty in the sample', csv: body('id,d', (k) => `${k},`, [`${PAST},03/01/2020`, `${PAST + 1},04/01/2020`]) },
  { name: 'sparse integers, empty in the sample', csv: body('id,v', (k) => `${k},`, [`${PAST},169`, `${PAST + 1},-8`, `${PAST + 2},0`]) },
  { name: 'sparse decimals, empty in the sample', csv: body('id,v', (k) => `${k},`, [`${PAST},2.93`, `${PAST + 1},7`, `${PAST + 2},.5`, `${PAST + 3},5.`]) },
  ...['+7', '007', '1e5', ' 7', 'inf', '0x10', '99999999999999999999'].map((odd) => ({ name: `a sparse column with ${JSON.stringify(odd)}`, csv: body('id,v', (k) => `${k},`, [`${PAST},${odd}`, `${PAST + 1},8`]) })),
  { name: 'a sparse column of doses like "1-2"', csv: body('id,v', (k) => `${k},`, [`${PAST},1-2`, `${PAST + 1},8`]) },
  { name: 'sparse times of day', csv: body('id,v', (k) => `${k},`, [`${PAST},10:30`, `${PAST + 1},08:15:00`]) },
  { name: 'a dozen integer columns (one rewrite of the table)', csv: body('id,' + Array.from({ length: 12 }, (_, j) => `c${j}`).join(','), (k) => `${k},${Array.from({ length: 12 }, (_, j) => (k * (j + 1)) % 11).join(',')}`, [`${PAST},${Array.from({ length: 12 }, (_, j) => (j === 5 ? '12.5' : j)).join(',')}`]) },
  { name: 'an empty column', csv: body('id,v', (k) => `${k},`) },
  { name: 'booleans, then another word', csv: body('id,b', (k) => `${k},${k % 2 ? 'true' : 'false'}`, [`${PAST},maybe`]) },
  { name: 'sex as F only in the sample', csv: body('id,sex', (k) => `${k},F`, [`${PAST},M`]) },
  { name: 'text', csv: body('id,code,v', (k) => `${k},"A, ${k % 13}",${(k % 100) / 10}`) },
  { name: 'markers, decimal commas and semicolons', csv: body('id;v;w', (k) => `${k};${k % 9},5;${k % 4 ? k % 4 : 'NA'}`, [`${PAST};NA;3`]), t: { delimiter: ';', decimal: ',', na_values: ['NA'] }, oracleOptions: `, delim=';', decimal_separator=',', nullstr=['', 'NA']` },
];

async function oracle(path: string, options = ''): Promise<{ types: string[]; rows: string }> {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  try {
    await con.run(`SET TimeZone = 'UTC'`);
    await con.run(`CREATE TABLE o AS SELECT row_number() OVER () + 1 AS __line, * FROM read_csv('${path}', header=true, sample_size=-1${options})`);
    return await table(async (sql) => (await con.runAndReadAll(sql)).getRowsJS(), 'o');
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

/** A table's column types and rows (exact: BIGINT as bigint), through `rows` (a query → its rows). */
async function table(rowsOf: (sql: string) => Promise<unknown[][]>, name: string): Promise<{ types: string[]; rows: string }> {
  const types = (await rowsOf(`SELECT column_name || ' ' || column_type FROM (DESCRIBE ${name})`)).map((r) => String(r[0]));
  const rows = await rowsOf(`SELECT * FROM ${name} ORDER BY __line`);
  return { types, rows: JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) };
}

describe('CSV types from the sample, made safe', () => {
  // The files here are small: read them the way a large one is.
  beforeAll(() => { sampling.minBytes = 0; });
  afterAll(() => { sampling.minBytes = 1 << 20; });
  for (const c of CASES) {
    it(`gives the whole-file read's table: ${c.name}`, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'x.csv'), c.csv);
      const want = await oracle(join(dir, 'x.csv'), c.oracleOptions);
      const db = await Db.open('spec.yaml');
      try {
        await db.registerFile('x', { file: 'x.csv', id: 'id', ...c.t } as TableSpec, dir);
        const got = await table(async (sql) => (await db.reader(sql)).getRowsJS(), 't_x');
        expect(got.types).toEqual(want.types);
        expect(got.rows).toEqual(want.rows);
      } finally {
        db.close();
      }
    });
  }

  it('a gzipped file and a column subset read the same way', async () => {
    const dir = tempDir();
    const csv = body('id,v,d,note', (k) => `${k},${k % 9},2020-02-0${1 + (k % 9)},n${k % 5}`, [`${PAST},12.5,2020-02-01 08:00,n1`]);
    writeFileSync(join(dir, 'x.csv.gz'), gzipSync(csv));
    const want = await oracle(join(dir, 'x.csv.gz'));
    const db = await Db.open('spec.yaml');
    try {
      await db.registerFile('x', { file: 'x.csv.gz', id: 'id' } as TableSpec, dir);
      expect(await describeOf(db, 't_x')).toEqual(want.types);
      await db.registerFile('y', { file: 'x.csv.gz', id: 'id', columns: ['v'] } as TableSpec, dir);
      expect(await describeOf(db, 't_y')).toEqual(['__line BIGINT', 'v DOUBLE', 'id BIGINT']);
    } finally {
      db.close();
    }
  });

  it('takes the one-read path where the sample vouches for the file, and refuses it where it cannot', async () => {
    // Without this, a path that always fell back to whole-file typing would pass the parity cases above.
    const dir = tempDir();
    const inst = await DuckDBInstance.create(':memory:');
    const con = await inst.connect();
    const attempt = async (csv: string) => {
      const path = join(dir, `f${Math.random().toString(36).slice(2)}.csv`);
      writeFileSync(path, csv);
      const s = await sampledTypes(con, path, '', []);
      if (!s) return 'no sample types';
      await con.run(`CREATE OR REPLACE TABLE t AS SELECT row_number() OVER () + 1 AS __line, * FROM read_csv('${path}', header=true, ${typesOption(s)})`);
      return (await narrowSampled(con, 't', s)) ? (await con.runAndReadAll(`SELECT string_agg(column_type, ' ') FROM (DESCRIBE t)`)).getRowsJS()[0][0] : 'whole file needed';
    };
    try {
      expect(await attempt(body('id,v,d', (k) => `${k},${k % 9},2020-01-0${1 + (k % 9)}`))).toBe('BIGINT BIGINT BIGINT DATE');
      expect(await attempt(body('id,v', (k) => `${k},${k % 9}`, [`${PAST},12.5`]))).toBe('BIGINT BIGINT DOUBLE');
      expect(await attempt(body('id,v', (k) => `${k},${k % 9}`, ['9007199254740993,1']))).toBe('whole file needed');
      expect(await attempt(body('id,v', (k) => `${k},`, [`${PAST},7`]))).toBe('BIGINT BIGINT BIGINT');
      expect(await attempt(body('id,v', (k) => `${k},`, [`${PAST},7.5`]))).toBe('BIGINT BIGINT DOUBLE');
      expect(await attempt(body('id,v', (k) => `${k},`, [`${PAST},1e5`]))).toBe('whole file needed');
      expect(await attempt(body('id,v', (k) => `${k},`, [`${PAST},P123`, `${PAST + 1},7`]))).toBe('BIGINT BIGINT VARCHAR');
    } finally {
      con.closeSync();
      inst.closeSync();
    }
  });
});

async function describeOf(db: Db, name: string): Promise<string[]> {
  return (await db.rows(`SELECT column_name || ' ' || column_type AS d FROM (DESCRIBE ${name})`)).map((r) => String(r.d));
}
