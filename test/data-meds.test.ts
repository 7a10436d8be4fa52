// MEDS event tables (Parquet: subject_id, time, code, numeric_value, text_value) as a source, modalities by code
// prefix, timestamps for index and event times (differences in days), and an embedding table.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset, type DataState } from '../src/data/build.js';
import { loadSpec } from '../src/data/spec.js';
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
    expect(pred.notes).toEqual([expect.stringMatching(/^vitals: 1 value far outside training \(e\.g\. hr 6000 is \d+ training standard deviations/)]);
  });
});
