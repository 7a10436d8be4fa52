// npx tsx scripts/csv-typing-parity.ts [FOLDER] — every CSV(.gz) under FOLDER (default ../shared/data) read by
// cdmm's loader (types from DuckDB's sample made safe, src/data/csv-sample.ts) and by DuckDB's whole-file read
// (sample_size=-1): prints each file whose column types or rows differ, and a summary line.
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Db } from '../src/data/db.js';

const root = resolve(process.argv[2] ?? '../shared/data');
const files: string[] = [];
const walk = (d: string) => {
  for (const e of readdirSync(d).sort()) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.csv(\.gz)?$/i.test(e)) files.push(p);
  }
};
walk(root);
const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
await con.run(`SET TimeZone = 'UTC'`);
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
let differ = 0;
for (const f of files) {
  await con.run(`CREATE OR REPLACE TABLE o AS SELECT row_number() OVER () + 1 AS __line, * FROM read_csv(${lit(f)}, header=true, sample_size=-1)`);
  const want = (await con.runAndReadAll(`SELECT column_name || ' ' || column_type FROM (DESCRIBE o)`)).getRowsJS().map(String).join(', ');
  const wantRows = String((await con.runAndReadAll(`SELECT hash(list(o ORDER BY __line)) FROM o`)).getRowsJS()[0][0]);
  const db = await Db.open('parity');
  try {
    await db.loadFile('x', { file: basename(f), id: 'x' } as never, dirname(f), { allowOutside: true } as never);
    const got = (await db.reader(`SELECT column_name || ' ' || column_type FROM (DESCRIBE t_x)`)).getRowsJS().map(String).join(', ');
    const gotRows = String((await db.reader(`SELECT hash(list(t ORDER BY __line)) FROM t_x t`)).getRowsJS()[0][0]);
    if (got !== want || gotRows !== wantRows) {
      differ++;
      console.log(`differs: ${f}\n  whole-file: ${want}\n  cdmm:       ${got}${got === want ? ' (the rows differ)' : ''}`);
    }
  } finally {
    db.close();
  }
}
console.log(`${files.length} CSV files under ${root}: ${differ} differ from DuckDB's whole-file read`);
process.exit(differ ? 1 : 0);
