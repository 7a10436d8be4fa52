// A folder of CSV files as one table (PhysioNet's challenges ship one file per patient, the id in its name):
// `file: set-a/` with `format: csv`, and `file_column` naming the column that holds each row's file name.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { tempDir } from './fixtures/data/helpers.js';

/** 40 stays: outcomes.csv, and each stay's events both in its own file set-a/<id>.txt and in one events.csv. */
function layout(): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'set-a'));
  const outcomes = ['RecordID,died'];
  const all = ['RecordID,Time,Parameter,Value'];
  for (let i = 1; i <= 40; i++) {
    const id = 132538 + i;
    outcomes.push(`${id},${i % 4 === 0 ? 1 : 0}`);
    const rows = [`00:07,HR,${60 + i}`, `03:30,Lactate,${(i / 10).toFixed(1)}`, `23:59,HR,${70 + (i % 7)}`, `24:01,Lactate,99`];
    // one file without Lactate's column order: columns are matched by name
    writeFileSync(join(dir, 'set-a', `${id}.txt`), i === 5 ? 'Parameter,Value,Time\n' + rows.map((r) => r.split(',')).map(([t, p, v]) => `${p},${v},${t}`).join('\n') + '\n' : 'Time,Parameter,Value\n' + rows.join('\n') + '\n');
    all.push(...rows.map((r) => `${id},${r}`));
  }
  writeFileSync(join(dir, 'outcomes.csv'), outcomes.join('\n') + '\n');
  writeFileSync(join(dir, 'events.csv'), all.join('\n') + '\n');
  const spec = (events: string) => `name: folder
tables:
  outcomes: { file: outcomes.csv, id: RecordID }
  events: { ${events}, id: RecordID, time: Time, time_unit: hours }
cohort: { table: outcomes, index_time: 0, index_offset: 24 h }
label: { column: died }
modalities:
  vitals: { type: timeseries, table: events, variable: Parameter, value: Value, variables: [HR, Lactate], window: { start: -24 h }, bins: 2 }
split: { method: random, seed: 0 }
`;
  writeFileSync(join(dir, 'folder.yaml'), spec('file: set-a/, format: csv, file_column: RecordID'));
  writeFileSync(join(dir, 'one.yaml'), spec('file: events.csv'));
  return dir;
}

describe('a folder of CSV files, one per patient', () => {
  it('builds the same arrays as the same rows in one file, the id taken from each file name', async () => {
    const dir = layout();
    const folder = await prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false });
    const one = await prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false });
    expect(folder.splits.train.ids.length + folder.splits.val.ids.length + folder.splits.test.ids.length).toBe(40);
    for (const s of ['train', 'val', 'test'] as const) {
      expect(folder.splits[s].ids).toEqual(one.splits[s].ids);
      expect(Array.from(folder.splits[s].values.vitals)).toEqual(Array.from(one.splits[s].values.vitals));
    }
    // the row after the prediction time (24:01, Lactate 99) is in neither
    const st = (folder.state as { modalities: { state: { variables: { name: string; mean: number }[] } }[] }).modalities[0].state;
    expect(st.variables.find((v) => v.name === 'Lactate')!.mean).toBeLessThan(4.1);
  });

  it("names the file and its line in a cell's error, and refuses an empty file by name", async () => {
    const dir = layout();
    writeFileSync(join(dir, 'set-a', '132545.txt'), 'Time,Parameter,Value\n00:07,HR,61\n03:30,HR,inf\n');
    await expect(prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false })).rejects.toThrow(/line 3 of \S*set-a\/132545\.txt, column 'Value': non-finite value inf/);
    writeFileSync(join(dir, 'set-a', '132545.txt'), 'Time,Parameter,Value\n00:07,HR,61\n99:99:99,HR,1\n');
    // one odd time among elapsed ones is named, not the first elapsed value
    await expect(prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false })).rejects.toThrow(/line 3 of \S*set-a\/132545\.txt, column 'Time': time "99:99:99" is not an elapsed time, as \d+ of the column's \d+ values are/);
    writeFileSync(join(dir, 'set-a', '132545.txt'), '');
    await expect(prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false })).rejects.toThrow(/tables\.events\.file: \S*set-a\/132545\.txt: the file is empty/);
  });

  it('names the row of a file that DuckDB read as one column (it had dropped that file silently)', async () => {
    const dir = layout();
    writeFileSync(join(dir, 'set-a', '132545.txt'), 'Time,Parameter,Value\n00:07,HR,61\n03:30,HR,62,9\n04:00,HR,63\n');
    await expect(prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false })).rejects.toThrow(/set-a\/132545\.txt: line 3 has 4 fields but the header has 3/);
  });

  it('reads elapsed times all under 24:00 (which DuckDB types TIME) as the same durations', async () => {
    const dir = layout();
    // every file's times under 24:00: the column is TIME, not text
    for (let i = 1; i <= 40; i++) writeFileSync(join(dir, 'set-a', `${132538 + i}.txt`), `Time,Parameter,Value\n00:07,HR,${60 + i}\n03:30,Lactate,${(i / 10).toFixed(1)}\n23:59,HR,${70 + (i % 7)}\n`);
    const all = ['RecordID,Time,Parameter,Value'];
    for (let i = 1; i <= 40; i++) all.push(`${132538 + i},00:07,HR,${60 + i}`, `${132538 + i},03:30,Lactate,${(i / 10).toFixed(1)}`, `${132538 + i},23:59,HR,${70 + (i % 7)}`, `${132538 + i},24:01,Lactate,99`);
    writeFileSync(join(dir, 'events.csv'), all.join('\n') + '\n');
    const folder = await prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false });
    const one = await prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false });
    expect(Array.from(folder.splits.test.values.vitals)).toEqual(Array.from(one.splits.test.values.vitals));
  });

  it('needs format: csv for a folder of CSV files, and says so', async () => {
    const dir = layout();
    writeFileSync(join(dir, 'bad.yaml'), `name: folder
tables:
  outcomes: { file: outcomes.csv, id: RecordID }
  events: { file: set-a/, file_column: RecordID, id: RecordID, time: Time, time_unit: hours }
cohort: { table: outcomes, index_time: 0, index_offset: 24 h }
label: { column: died }
modalities:
  vitals: { type: timeseries, table: events, variable: Parameter, value: Value, variables: [HR], window: { start: -24 h }, bins: 1 }
split: { method: random, seed: 0 }
`);
    await expect(prepareDataset(join(dir, 'bad.yaml'), { quiet: true, cache: false })).rejects.toThrow(/is a folder with no \.parquet file below it .*a folder of CSV files needs format: csv/);
  });
});

describe('file_column', () => {
  it('works with a columns list, on Parquet shards too, and refuses a name the files already use', async () => {
    const dir = layout();
    const one = await prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false });
    const text = readFileSync(join(dir, 'folder.yaml'), 'utf8');
    writeFileSync(join(dir, 'cols.yaml'), text.replace('file_column: RecordID', 'file_column: RecordID, columns: [Time, Parameter, Value]'));
    const cols = await prepareDataset(join(dir, 'cols.yaml'), { quiet: true, cache: false });
    expect(Array.from(cols.splits.train.values.vitals)).toEqual(Array.from(one.splits.train.values.vitals));
    // the same rows as Parquet files named by the stay
    mkdirSync(join(dir, 'pq'));
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    for (const id of one.splits.train.ids.concat(one.splits.val.ids, one.splits.test.ids))
      await con.run(`COPY (SELECT Time, Parameter, Value FROM read_csv('${join(dir, 'events.csv')}', types={'Time': 'VARCHAR'}) WHERE RecordID = ${Number(id)}) TO '${join(dir, 'pq', `${id}.parquet`)}' (FORMAT parquet)`);
    con.closeSync();
    writeFileSync(join(dir, 'pq.yaml'), text.replace('file: set-a/, format: csv, file_column: RecordID', 'file: pq/, file_column: RecordID'));
    const pq = await prepareDataset(join(dir, 'pq.yaml'), { quiet: true, cache: false });
    expect(pq.splits.test.ids).toEqual(one.splits.test.ids);
    expect(Array.from(pq.splits.test.values.vitals)).toEqual(Array.from(one.splits.test.values.vitals));
    // the files have a RecordID column of their own: which one would the id be?
    for (const f of ['132539.txt', '132540.txt']) writeFileSync(join(dir, 'set-a', f), 'recordid,Time,Parameter,Value\n1,00:07,HR,61\n');
    await expect(prepareDataset(join(dir, 'folder.yaml'), { quiet: true, cache: false })).rejects.toThrow(/tables\.events\.file_column: the files already have a column 'recordid'/);
  });
});

describe('elapsed times in JSON records', () => {
  it('"07:10" in a numeric time column is read as in a file: hours and minutes in the table time unit', () => {
    const validate = makeRecordValidator({ events: { RecordID: 'VARCHAR', Time: 'DOUBLE', Value: 'DOUBLE' } }, { events: 'RecordID' }, { maxRecords: 10, elapsedTimes: { events: { columns: ['Time'], unitsPerDay: 24 } } });
    const sent = [{ id: 'a', events: [{ Time: '07:10', Value: 1 }, { Time: '-1:30:00', Value: 2 }, { Time: 3.5, Value: 3 }] }];
    const r = validate(sent);
    expect(r.ok).toBe(true);
    const rows = (r as unknown as { records: { events: { Time: number }[] }[] }).records[0].events.map((e) => e.Time);
    expect(rows[0]).toBeCloseTo(7 + 10 / 60, 12);
    expect(rows[1]).toBeCloseTo(-1.5, 12);
    expect(rows[2]).toBe(3.5);
    // the request is not changed in place
    expect(sent[0].events[0].Time).toBe('07:10');
    // minutes past 59 are not an elapsed time: still refused
    expect(validate([{ id: 'a', events: [{ Time: '07:70', Value: 1 }] }]).ok).toBe(false);
    // a column that is not the table's time keeps refusing text
    expect(validate([{ id: 'a', events: [{ Time: 1, Value: '07:10' }] }]).ok).toBe(false);
  });
});

describe("new patients' files", () => {
  it('a column blank in every row (stays not yet ended) takes its training type, not VARCHAR', async () => {
    const { Db } = await import('../src/data/db.js');
    const dir = tempDir();
    writeFileSync(join(dir, 'adm.csv'), 'id,admit,discharge,n\na,2024-03-01 10:00:00+01:00,,\nb,2024-03-02 10:00:00+01:00,,\n');
    const db = await Db.open(join(dir, 'spec.yaml'));
    try {
      db.trainedTypes = new Map([['adm', { id: 'VARCHAR', admit: 'TIMESTAMP WITH TIME ZONE', discharge: 'TIMESTAMP WITH TIME ZONE', n: 'BIGINT' }]]);
      await db.loadFile('adm', { file: 'adm.csv', id: 'id' }, dir);
      const types = Object.fromEntries((await db.rows(`SELECT column_name AS c, column_type AS t FROM (DESCRIBE t_adm)`)).map((r) => [r.c, r.t]));
      expect(types).toMatchObject({ discharge: 'TIMESTAMP WITH TIME ZONE', n: 'BIGINT' });
    } finally {
      db.close();
    }
  });
});
