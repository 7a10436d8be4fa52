// MEDS event tables (Parquet: subject_id, time, code, numeric_value, text_value) as a source, modalities by code
// prefix, timestamps for index and event times (differences in days), and an embedding table.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset, type DataState } from '../src/data/build.js';
import { loadSpec, parseSpec } from '../src/data/spec.js';
import { recordNotes } from '../src/serve/notes.js';
import type { PatientPrediction } from '../src/serve/types.js';
import type { PreparedDataset } from '../src/data/types.js';
import { tempDir } from './fixtures/data/helpers.js';

let ds: PreparedDataset;
let specFile = '';
const N = 60;

beforeAll(async () => {
  const dir = tempDir();
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  // Patient i: prediction time 2020-01-01 + i days. Heart rate 2 days before (value 60 + i) and 1 day after
  // (value 999, must be ignored); a diagnosis 10 days before; a note 1 day before; a diagnosis after the index.
  await con.run(`COPY (
    WITH p AS (SELECT i, TIMESTAMP '2020-01-01' + to_days(CAST(i AS INTEGER)) AS t0 FROM range(${N}) r(i))
    SELECT i AS subject_id, t0 - INTERVAL 2 DAY AS time, 'LAB//hr' AS code, 60.0 + i AS numeric_value, NULL::VARCHAR AS text_value FROM p
    UNION ALL SELECT i, t0 + INTERVAL 1 DAY, 'LAB//hr', 999.0, NULL FROM p
    UNION ALL SELECT i, t0 - INTERVAL 10 DAY, CASE WHEN i % 2 = 0 THEN 'DX//I10' ELSE 'DX//E11' END, NULL, NULL FROM p
    UNION ALL SELECT i, t0 + INTERVAL 3 DAY, 'DX//DEATH', NULL, NULL FROM p WHERE i % 3 = 0
    UNION ALL SELECT i, t0 - INTERVAL 1 DAY, 'NOTE//progress', NULL, CASE WHEN i % 3 = 0 THEN 'short of breath' ELSE 'well today' END FROM p WHERE i % 4 <> 1
  ) TO '${join(dir, 'events.parquet')}' (FORMAT parquet)`);
  const cohort = ['subject_id,prediction_time,boolean_value'];
  const emb = ['subject_id,e_0,e_1'];
  for (let i = 0; i < N; i++) {
    const t = new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 19).replace('T', ' ');
    cohort.push(`${i},${t},${i % 3 === 0 ? 'true' : 'false'}`);
    if (i % 2) emb.push(`${i},${i / 10},${-i / 10}`);
  }
  writeFileSync(join(dir, 'cohort.csv'), cohort.join('\n') + '\n');
  writeFileSync(join(dir, 'emb.csv'), emb.join('\n') + '\n');
  writeFileSync(
    join(dir, 'spec.yaml'),
    `name: meds-mini
tables:
  events: { file: events.parquet, format: meds }
  cohort: { file: cohort.csv, id: subject_id }
  emb: { file: emb.csv, id: subject_id }
cohort: { table: cohort, index_time: prediction_time }
label: { column: boolean_value }
modalities:
  vitals: { type: timeseries, table: events, prefix: "LAB//", window: { start: -30, end: 0 }, bins: 3 }
  diagnoses: { type: codes, table: events, prefix: "DX//", window: { start: -365 }, min_count: 1 }
  notes: { type: text, table: events, prefix: "NOTE//", window: { start: -30 }, width: 16 }
  image: { type: embedding, table: emb, column_prefix: e_ }
split: { method: random, seed: 2, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`,
  );
  specFile = join(dir, 'spec.yaml');
  ds = await prepareDataset(specFile, { quiet: true, cache: false });
}, 60_000);

describe('MEDS source with timestamps', () => {
  it('selects modalities by code prefix and ignores events after the prediction time', () => {
    const [vitals, dx, notes, image] = ds.modalities;
    expect(vitals.features.slice(0, 1)).toEqual(['hr']);
    expect(dx.features).toEqual(['E11', 'I10', '<other>']); // DX//DEATH happens after the index: never seen
    expect(notes.shape).toEqual([16]);
    expect(image.shape).toEqual([2]);
    const all = Object.values(ds.splits);
    expect(all.reduce((a, s) => a + s.ids.length, 0)).toBe(N);
    const K = 4;
    for (const s of all)
      s.ids.forEach((id, r) => {
        const i = Number(id);
        expect(s.mask[r * K + 0]).toBe(1);
        expect(s.mask[r * K + 2]).toBe(i % 4 === 1 ? 0 : 1);
        expect(s.mask[r * K + 3]).toBe(i % 2);
        // hr at day -2 lies in the last of 3 bins of 10 days; its days-since channel is log1p(2)/log1p(30).
        const v = s.values.vitals;
        const C = 3;
        expect(v[r * 9 + 2 * C + 1]).toBe(1); // observed flag in bin 2
        expect(v[r * 9 + 0 * C + 1]).toBe(0);
        expect(v[r * 9 + 2 * C + 2]).toBeCloseTo(Math.log1p(2) / Math.log1p(30), 5);
      });
  });

  it('standardises with training statistics only: the 999 after the index never enters them', () => {
    const st = ds.state as { modalities: { name: string; state: { variables: { mean: number; std: number }[] } }[] };
    const hr = st.modalities[0].state.variables[0];
    const trainIds = ds.splits.train.ids.map(Number);
    const mean = trainIds.reduce((a, i) => a + 60 + i, 0) / trainIds.length;
    expect(hr.mean).toBeCloseTo(mean, 4);
    expect(hr.mean).toBeLessThan(200);
  });
});

describe('notes on a MEDS record', () => {
  it('read the shared event table by prefix: nothing said of modalities given no rows, a far value named', () => {
    const notes = recordNotes(loadSpec(specFile), ds.state as DataState);
    const rec = { id: 'x', index_time: '2020-03-01 00:00:00', events: [{ time: '2020-02-28 00:00:00', code: 'LAB//hr', numeric_value: 6000 }] };
    const mod = (observed: boolean) => ({ observed, counterfactual: null, contribution: null });
    const pred = { id: 'x', p_do: 0.5, p_factual: 0.5, mask: '1000', pattern: '1000', modalities_used: ['vitals'],
      modalities: { vitals: mod(true), diagnoses: mod(false), notes: mod(false), image: mod(false) } } as unknown as PatientPrediction;
    notes([rec], [pred]);
    // Before: "diagnoses/notes: rows were given in 'events' but none could be used" (the LAB row), and no word on 6000.
    expect(pred.notes).toEqual([expect.stringMatching(/^vitals: 1 value far outside training among the rows given \(e\.g\. hr 6000 is \d+ training standard deviations/)]);
  });
});

describe('a folder of Parquet shards as one table (MEDS data/train/*.parquet)', () => {
  // The same events as one file and as shards in nested folders (with a column one shard lacks, a non-Parquet
  // file and a Spark-style folder named *.parquet beside them): the same dataset.
  let dir = '';
  const spec = (events: string, extra = '') => `name: shards
tables:
  events: { file: ${JSON.stringify(events)}${extra} }
  cohort: { file: cohort.csv, id: subject_id }
cohort: { table: cohort, index_time: prediction_time }
label: { column: boolean_value }
modalities:
  vitals: { type: timeseries, table: events, prefix: "LAB//", window: { start: -30, end: 0 }, bins: 3 }
  diagnoses: { type: codes, table: events, prefix: "DX//", window: { start: -365 }, min_count: 1 }
split: { method: random, seed: 2, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
  beforeAll(async () => {
    dir = tempDir();
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const events = `WITH p AS (SELECT i, TIMESTAMP '2020-01-01' + to_days(CAST(i AS INTEGER)) AS t0 FROM range(${N}) r(i))
      SELECT i AS subject_id, t0 - INTERVAL 2 DAY AS time, 'LAB//hr' AS code, 60.0 + i AS numeric_value FROM p
      UNION ALL SELECT i, t0 - INTERVAL 10 DAY, CASE WHEN i % 2 = 0 THEN 'DX//I10' ELSE 'DX//E11' END, NULL FROM p`;
    await con.run(`CREATE TABLE ev AS ${events}`);
    await con.run(`COPY (SELECT * FROM ev ORDER BY subject_id, code) TO '${join(dir, 'events.parquet')}' (FORMAT parquet)`);
    const { mkdirSync } = await import('node:fs');
    for (const d of ['data/train', 'data/held_out', 'data/spark.parquet']) mkdirSync(join(dir, d), { recursive: true });
    await con.run(`COPY (SELECT * FROM ev WHERE subject_id < 20 ORDER BY subject_id, code) TO '${join(dir, 'data/train/0.parquet')}' (FORMAT parquet)`);
    await con.run(`COPY (SELECT * FROM ev WHERE subject_id >= 20 AND subject_id < 40 ORDER BY subject_id, code) TO '${join(dir, 'data/train/1.parquet')}' (FORMAT parquet)`);
    // this shard has no numeric_value column at all (no lab rows): NULL there, as union by name gives it
    await con.run(`COPY (SELECT subject_id, time, code FROM ev WHERE subject_id >= 40 AND code LIKE 'DX//%' ORDER BY subject_id, code) TO '${join(dir, 'data/held_out/0.parquet')}' (FORMAT parquet)`);
    await con.run(`COPY (SELECT * FROM ev WHERE subject_id >= 40 AND code LIKE 'LAB//%' ORDER BY subject_id, code) TO '${join(dir, 'data/spark.parquet/part-0.parquet')}' (FORMAT parquet)`);
    writeFileSync(join(dir, 'data/README.md'), 'not a shard\n');
    const cohort = ['subject_id,prediction_time,boolean_value'];
    for (let i = 0; i < N; i++) cohort.push(`${i},${new Date(Date.UTC(2020, 0, 1 + i)).toISOString().slice(0, 19).replace('T', ' ')},${i % 3 === 0}`);
    writeFileSync(join(dir, 'cohort.csv'), cohort.join('\n') + '\n');
  }, 60_000);

  it('reads every .parquet file below the folder, in path order, and gives the one-file dataset', async () => {
    writeFileSync(join(dir, 'one.yaml'), spec('events.parquet', ', format: meds'));
    writeFileSync(join(dir, 'shards.yaml'), spec('data/', ', format: meds'));
    // the trailing slash alone makes it Parquet (a plain Parquet table: its columns named in the modalities)
    writeFileSync(join(dir, 'slash.yaml'), spec('data/', ', id: subject_id, time: time')
      .replace('prefix: "LAB//",', 'prefix: "LAB//", variable: code, value: numeric_value,').replace('prefix: "DX//",', 'prefix: "DX//", code: code,'));
    const one = await prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false });
    for (const f of ['shards.yaml', 'slash.yaml']) {
      const sh = await prepareDataset(join(dir, f), { quiet: true, cache: false });
      for (const split of ['train', 'val', 'test'] as const) {
        expect(sh.splits[split].ids).toEqual(one.splits[split].ids);
        expect(Array.from(sh.splits[split].mask)).toEqual(Array.from(one.splits[split].mask));
        for (const m of ['vitals', 'diagnoses']) expect(Array.from(sh.splits[split].values[m])).toEqual(Array.from(one.splits[split].values[m]));
      }
    }
  }, 60_000);

  it("the cache key follows each shard (rewriting one leaves the folder's own size and time as they were)", async () => {
    const { cacheKey } = await import('../src/data/cache.js');
    const { resolveTableFiles } = await import('../src/data/paths.js');
    const text = spec('data/', ', format: meds');
    // the table files as the build finds them (the folder's shards listed anew each build)
    const key = () => cacheKey(text, { events: resolveTableFiles(dir, 'data/', 'events', 'parquet').files, cohort: [join(dir, 'cohort.csv')] }, 0, Buffer.from('k'));
    const before = key();
    const shard = join(dir, 'data/train/1.parquet');
    const { readFileSync, statSync, utimesSync } = await import('node:fs');
    const dirTime = statSync(join(dir, 'data/train')).mtime;
    const old = statSync(shard).mtime;
    utimesSync(shard, old, new Date(old.getTime() + 5000));
    writeFileSync(shard, readFileSync(shard));
    utimesSync(join(dir, 'data/train'), dirTime, dirTime);
    expect(key()).not.toBe(before);
  });

  it('train on the shards, then predict from a folder of new shards: by a mapping and by a folder of the spec layout', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const { mkdirSync, cpSync } = await import('node:fs');
    const run = join(dir, 'run');
    const t = await runCli('train', join(dir, 'shards.yaml'), '--out', run, '--epochs', '1', '--dim', '8', '--branch-dim', '4', '--bootstrap', '0', '--quiet');
    expect(t.err).not.toMatch(/error/i); // notes only (one pattern: nothing for the deconfounder to adjust)
    expect(t.code).toBe(0);
    // new patients = the training patients' files again, in a folder of their own
    const fresh = join(dir, 'fresh');
    mkdirSync(fresh, { recursive: true });
    cpSync(join(dir, 'data'), join(fresh, 'data'), { recursive: true });
    cpSync(join(dir, 'cohort.csv'), join(fresh, 'cohort.csv'));
    writeFileSync(join(fresh, 'map.json'), JSON.stringify({ events: 'data/', cohort: 'cohort.csv' }));
    const byMap = await runCli('predict', run, '--input', join(fresh, 'map.json'), '--out', '-');
    expect(byMap.code).toBe(0);
    const byFolder = await runCli('predict', run, '--input', fresh, '--out', '-');
    expect(byFolder.code).toBe(0);
    const a = JSON.parse(byMap.out).predictions, b = JSON.parse(byFolder.out).predictions;
    expect(a).toHaveLength(N);
    expect(b.map((p: { p_do: number }) => p.p_do)).toEqual(a.map((p: { p_do: number }) => p.p_do));
    // the run's own test patients get the run's own predictions
    const own = JSON.parse((await import('node:fs')).readFileSync(join(run, 'predictions.json'), 'utf8')).test;
    const got = new Map(a.map((p: { id: string; p_do: number }) => [p.id, p.p_do]));
    own.ids.forEach((id: string, i: number) => expect(got.get(id)).toBeCloseTo(own.p[i], 5));
    // The MEDS table as a CSV of its name: said to be read as Parquet (DuckDB said "No magic bytes found").
    const asCsv = join(dir, 'as-csv');
    mkdirSync(asCsv, { recursive: true });
    cpSync(join(dir, 'cohort.csv'), join(asCsv, 'cohort.csv'));
    writeFileSync(join(asCsv, 'events.csv'), 'subject_id,time,code,numeric_value\n1,2020-01-01,LAB//hr,1\n');
    const csv = await runCli('predict', run, '--input', asCsv, '--out', '-');
    expect(csv.code).toBe(2);
    expect(csv.err).toMatch(/events\.csv: table events of spec 'shards' is read as Parquet \(format: meds\), not CSV: give it as events\.parquet or data \(a Parquet file, or a folder of Parquet shards\)/);
  }, 120_000);

  it('a folder without the slash or a format, an empty folder, and a link out of the spec folder are refused', async () => {
    writeFileSync(join(dir, 'noslash.yaml'), spec('data', ', id: subject_id, time: time'));
    await expect(prepareDataset(join(dir, 'noslash.yaml'), { quiet: true, cache: false })).rejects.toThrow(/tables\.events\.file: .*data is a folder: to read every \.parquet file below it as one table, write the folder with a trailing '\/' \("data\/"\) and no format: csv, or set format: parquet/);
    const { mkdirSync, symlinkSync } = await import('node:fs');
    mkdirSync(join(dir, 'empty'), { recursive: true });
    writeFileSync(join(dir, 'empty.yaml'), spec('empty/', ', id: subject_id, time: time'));
    await expect(prepareDataset(join(dir, 'empty.yaml'), { quiet: true, cache: false })).rejects.toThrow(/empty is a folder with no \.parquet file below it/);
    const away = tempDir();
    writeFileSync(join(away, 'secret.parquet'), 'PAR1');
    mkdirSync(join(dir, 'linked'), { recursive: true });
    symlinkSync(join(away, 'secret.parquet'), join(dir, 'linked', 'x.parquet'));
    writeFileSync(join(dir, 'linked.yaml'), spec('linked/', ', id: subject_id, time: time'));
    await expect(prepareDataset(join(dir, 'linked.yaml'), { quiet: true, cache: false })).rejects.toThrow(/is outside the spec's folder/);
  }, 60_000);

  it('passes over hidden and _-prefixed entries, reads code=X folders as plain folders, and refuses a linked folder', async () => {
    const { mkdirSync, symlinkSync, cpSync, rmSync } = await import('node:fs');
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const d2 = join(dir, 'tricky');
    cpSync(join(dir, 'data'), join(d2, 'code=LAB//x'), { recursive: true }); // a hive-style name: not a column
    for (const junk of ['.cdmm-cache', '_temporary']) {
      mkdirSync(join(d2, junk), { recursive: true });
      await con.run(`COPY (SELECT 999 AS subject_id, TIMESTAMP '2020-01-01' AS time, 'LAB//hr' AS code, 1.0 AS numeric_value) TO '${join(d2, junk, 'stray.parquet')}' (FORMAT parquet)`);
    }
    writeFileSync(join(dir, 'tricky.yaml'), spec('tricky/', ', format: meds, columns: [subject_id, time, code, numeric_value]'));
    const one = await prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false });
    const got = await prepareDataset(join(dir, 'tricky.yaml'), { quiet: true, cache: false });
    for (const split of ['train', 'val', 'test'] as const)
      for (const m of ['vitals', 'diagnoses']) expect(Array.from(got.splits[split].values[m])).toEqual(Array.from(one.splits[split].values[m]));
    // a link to a folder (here the folder itself: every shard twice) is refused, not followed
    symlinkSync(d2, join(d2, 'again'));
    await expect(prepareDataset(join(dir, 'tricky.yaml'), { quiet: true, cache: false })).rejects.toThrow(/again is a link to a folder: shard folders are read without following links to folders/);
    rmSync(join(d2, 'again'));
  }, 60_000);

  it("names a shard's file and row in errors (a duplicate id in a one-row-per-patient table)", async () => {
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'people'), { recursive: true });
    await con.run(`COPY (SELECT range AS subject_id, 50 + range AS age FROM range(30)) TO '${join(dir, 'people/a.parquet')}' (FORMAT parquet)`);
    await con.run(`COPY (SELECT 30 + range AS subject_id, 50 + range AS age FROM range(29) UNION ALL SELECT 7, 99) TO '${join(dir, 'people/b.parquet')}' (FORMAT parquet)`);
    writeFileSync(join(dir, 'people.yaml'), spec('data/', ', format: meds')
      .replace('  cohort: { file: cohort.csv, id: subject_id }', '  cohort: { file: cohort.csv, id: subject_id }\n  people: { file: people/, id: subject_id }')
      .replace('modalities:', 'modalities:\n  demo: { type: tabular, table: people, numeric: [age] }'));
    await expect(prepareDataset(join(dir, 'people.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      new RegExp(`duplicate id 7 appears 2 times \\(row 8 of ${join(dir, 'people/a.parquet').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, row 30 of .*people/b\\.parquet\\)`),
    );
  }, 60_000);
});

describe('text times with a UTC offset (a Parquet VARCHAR column, as many exports write them)', () => {
  it('are the instant they name: a lab 3 hours after the prediction time in UTC is not used, one 1 hour before is', async () => {
    const dir = tempDir();
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    // Patient i's prediction time: 2023-01-02 00:00 (UTC). Lab A at 22:00-05:00 on Jan 1 = 03:00 UTC Jan 2 (after):
    // as wall time it would be 22:00 Jan 1 (before). Lab B at 08:00+09:00 on Jan 2 = 23:00 UTC Jan 1 (before):
    // as wall time 08:00 Jan 2 (after). Even patients have only A, odd ones only B.
    await con.run(`COPY (SELECT range AS id, CASE WHEN range % 2 = 0 THEN '2023-01-01T22:00:00-05:00' ELSE '2023-01-02T08:00:00+09:00' END AS charttime,
      'lactate' AS item, 1.0 + range AS value FROM range(40)) TO '${join(dir, 'labs.parquet')}' (FORMAT parquet)`);
    const p = ['id,admit,y'];
    const p2 = ['id,admit,y,age'];
    for (let i = 0; i < 40; i++) p2.push(`${i},2023-01-02 00:00:00,${i % 4 === 0 ? 1 : 0},${50 + i}`);
    p.splice(0, p.length, ...p2);
    writeFileSync(join(dir, 'p.csv'), p.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: tz
tables:
  patients: { file: p.csv, id: id }
  labs: { file: labs.parquet, id: id, time: charttime }
cohort: { table: patients, index_time: admit }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: item, value: value, window: { start: -2, end: 0 }, bins: 1, variables: [lactate] }
split: { method: random, seed: 0 }
`);
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => expect([id, s.mask[r * 2 + 1]]).toEqual([id, Number(id) % 2]));
    expect((ds.cohort.warnings ?? []).some((w) => w.includes('time_unit'))).toBe(false);
    // time_unit on a timestamp column does nothing: said, and the dataset is the same
    writeFileSync(join(dir, 'spec.yaml'), readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('time: charttime }', 'time: charttime, time_unit: hours }'));
    const hours = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(hours.cohort.warnings?.join('\n')).toMatch(/tables\.labs\.time_unit is not used: column 'charttime' holds timestamps \(TIMESTAMP\)/);
    expect(Array.from(hours.splits.train.mask)).toEqual(Array.from(ds.splits.train.mask));
  }, 60_000);
});

describe('a MEDS label table with several prediction times per subject', () => {
  it('is a cohort keyed by row, the events linked to it: each prediction time sees its own past, a subject stays in one split', async () => {
    const dir = tempDir();
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const n = 40;
    // Subject i: hr 60 + i two days before its first prediction time, hr 200 + i twenty days after it (ten days
    // before the second, 30 days later); sex as a static row (null time).
    await con.run(`COPY (
      WITH p AS (SELECT i, TIMESTAMP '2020-01-01' + to_days(CAST(i AS INTEGER)) AS t0 FROM range(${n}) r(i))
      SELECT i AS subject_id, t0 - INTERVAL 2 DAY AS time, 'LAB//hr' AS code, 60.0 + i AS numeric_value, NULL::VARCHAR AS text_value FROM p
      UNION ALL SELECT i, t0 + INTERVAL 20 DAY, 'LAB//hr', 200.0 + i, NULL FROM p
      UNION ALL SELECT i, NULL, CASE WHEN i % 2 = 0 THEN 'GENDER//F' ELSE 'GENDER//M' END, NULL, NULL FROM p
    ) TO '${join(dir, 'events.parquet')}' (FORMAT parquet)`);
    await con.run(`COPY (
      WITH p AS (SELECT i, TIMESTAMP '2020-01-01' + to_days(CAST(i AS INTEGER)) AS t0 FROM range(${n}) r(i))
      SELECT subject_id, prediction_time, boolean_value FROM (
        SELECT i AS subject_id, t0 AS prediction_time, i % 3 = 0 AS boolean_value, 2 * i AS k FROM p
        UNION ALL SELECT i, t0 + INTERVAL 30 DAY, i % 2 = 0, 2 * i + 1 FROM p) ORDER BY k
    ) TO '${join(dir, 'labels.parquet')}' (FORMAT parquet)`);
    const spec = (labels: string) => `name: meds-multi
tables:
  events: { file: events.parquet, format: meds${labels.includes('_row') ? ', link: { table: labels, column: subject_id }' : ''} }
  labels: ${labels}
cohort: { table: labels, index_time: prediction_time${labels.includes('_row') ? ', patient: subject_id' : ''} }
label: { column: boolean_value }
modalities:
  vitals: { type: timeseries, table: events, prefix: "LAB//", window: { start: -60, end: 0 }, bins: 1, aggregate: mean }
  sex: { type: codes, table: events, prefix: "GENDER//", untimed: true }
split: { method: random, seed: 1, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    writeFileSync(join(dir, 'one.yaml'), spec('{ file: labels.parquet, id: subject_id }'));
    await expect(prepareDataset(join(dir, 'one.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /duplicate id 0 appears 2 times \(rows 1, 2\) \(39 other ids repeat too\).*key the table by row \(tables\.labels\.id: _row\), give each table keyed by subject_id `link: \{ table: labels, column: subject_id \}` and set cohort\.patient: subject_id/,
    );
    writeFileSync(join(dir, 'spec.yaml'), spec('{ file: labels.parquet, id: _row }'));
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const rows = new Map<number, { split: string; hr: number; female: number }>();
    const [vitals, sex] = ds.modalities;
    const f = sex.features.indexOf('F');
    for (const [name, s] of Object.entries(ds.splits))
      s.ids.forEach((id, r) => {
        const st = (ds.state as DataState).modalities.find((m) => m.name === 'vitals')!.state as { variables: { mean: number; std: number }[] };
        const hr = s.values.vitals[r * 3] * st.variables[0].std + st.variables[0].mean;
        rows.set(Number(id), { split: name, hr, female: s.values.sex[r * sex.shape[0] + f] });
      });
    expect(vitals.features[0]).toBe('hr');
    expect(rows.size).toBe(2 * n);
    for (let i = 0; i < n; i++) {
      const first = rows.get(2 * i + 1)!, second = rows.get(2 * i + 2)!; // _row numbers the label rows from 1
      expect(first.hr).toBeCloseTo(60 + i, 3); // the later hr is after the first prediction time: never used there
      expect(second.hr).toBeCloseTo((60 + i + 200 + i) / 2, 3);
      expect(second.split).toBe(first.split);
      expect([first.female, second.female]).toEqual(i % 2 === 0 ? [1, 1] : [0, 0]);
    }
  }, 60_000);
});

describe('notes on a record whose long table several time-series modalities share', () => {
  it("name only the rows no modality reads, once; a modality whose variables the record lacks is not 'given rows' (a new user's PhysioNet layout)", () => {
    const spec = parseSpec(`name: shared
tables:
  stays: { file: stays.csv, id: id }
  events: { file: events.csv, id: id, time: minutes, time_unit: minutes }
cohort: { table: stays, index_time: 0 }
label: { column: died }
modalities:
  vitals: { type: timeseries, table: events, variable: parameter, value: value, variables: [HR, Temp], window: { start: -1 }, bins: 1 }
  lactate: { type: timeseries, table: events, variable: parameter, value: value, variables: [Lactate], window: { start: -1 }, bins: 1 }
`, 'spec.yaml');
    const ts = (names: string[]) => ({ type: 'timeseries', state: { edges: [-1, 0], variables: names.map((name) => ({ name, mean: 50, std: 10 })) } });
    const state = { modalities: [{ name: 'vitals', ...ts(['HR', 'Temp']) }, { name: 'lactate', ...ts(['Lactate']) }] } as unknown as DataState;
    const notes = recordNotes(spec, state);
    const rec = { id: 'x', events: [{ minutes: -30, parameter: 'HR', value: 55 }, { minutes: -20, parameter: 'Temp', value: 45 }, { minutes: -10, parameter: 'Pulse', value: 50 }] };
    const mod = (observed: boolean) => ({ observed, counterfactual: null, contribution: null });
    const pred = { id: 'x', p_do: 0.5, p_factual: 0.5, mask: '10', pattern: '10', modalities_used: ['vitals'], modalities: { vitals: mod(true), lactate: mod(false) } } as unknown as PatientPrediction;
    notes([rec as never], [pred]);
    // Before: vitals named Pulse, lactate named HR, Temp and Pulse as "not among the model's", and lactate said its rows were unusable.
    expect(pred.notes).toEqual([`vitals: 1 row of 'events' name variables that are not among the model's (e.g. "Pulse"): not used`]);
  });
});
