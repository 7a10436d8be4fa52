// The spec features a real clinical database needs (docs/SPEC.md), each on a tiny fixture whose expected
// values are worked out by hand in the comments: tables keyed by another id through a link, lookup columns,
// offsets in minutes and an index time as a duration, row times from several columns, labels from text and
// yes/no values, value maps, `id: _row`, row filters, and that spec text reaches SQL only as quoted names and
// escaped values.
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { loadSpec, parseSpec } from '../src/data/spec.js';
import { transformPatients } from '../src/data/transform.js';
import type { PreparedDataset } from '../src/data/types.js';
import { writeFixture } from './fixtures/data/helpers.js';

/** id → { present, values } of one modality, over every split. */
function byId(ds: PreparedDataset, modality: string): Map<string, { present: boolean; values: number[] }> {
  const k = ds.modalities.findIndex((m) => m.name === modality);
  const D = ds.modalities[k].shape.reduce((a, b) => a * b, 1);
  const K = ds.modalities.length;
  const out = new Map<string, { present: boolean; values: number[] }>();
  for (const s of Object.values(ds.splits))
    s.ids.forEach((id, i) => out.set(id, { present: s.mask[i * K + k] === 1, values: Array.from(s.values[modality].subarray(i * D, (i + 1) * D)) }));
  return out;
}

/** The codes of one patient's multi-hot vector, by feature name. */
function codesOf(ds: PreparedDataset, modality: string, id: string): string[] {
  const feats = ds.modalities.find((m) => m.name === modality)!.features;
  const v = byId(ds, modality).get(id)!;
  return feats.filter((_, j) => v.values[j] === 1);
}

function labelsById(ds: PreparedDataset): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of Object.values(ds.splits)) s.ids.forEach((id, i) => (out[id] = s.labels[i]));
  return out;
}

const build = (dir: string, spec = 'spec.yaml') => prepareDataset(join(dir, spec), { quiet: true, cache: false });

// ---------------------------------------------------------------------------------------------------------
// MIMIC-like: admissions (cohort, hadm_id) of subjects; labs and diagnoses keyed by subject_id.
// Index = admittime + 24 h; windows end at the index.
//   subject 1: adm 101 (Jan 1 → Jan 5), adm 102 (Feb 1 → Feb 10, died)
//   subject 2: adm 103 (Jan 10 00:00 → 12:00: ends before its index, left out), adm 104 (Mar 1 → Mar 8)
//   subject 3: adm 105 (Jan 1 → Jan 3, died)
const ADMISSIONS = `hadm_id,subject_id,admittime,dischtime,died,split
101,1,2150-01-01 00:00:00,2150-01-05 00:00:00,0,train
102,1,2150-02-01 00:00:00,2150-02-10 00:00:00,1,train
103,2,2150-01-10 00:00:00,2150-01-10 12:00:00,0,val
104,2,2150-03-01 00:00:00,2150-03-08 00:00:00,0,val
105,3,2150-01-01 00:00:00,2150-01-03 00:00:00,1,test
`;
// Labs have no hadm_id. Windows [-1, 0] days before each admission's index:
//   A at Jan 1 12:00 → adm 101 only;  B at Feb 1 06:00 → adm 102;  C at Feb 2 00:00:01 → 1 s after 102's index: nobody;
//   A at Mar 1 12:00 → adm 104;  B at Jan 2 00:00:00 → exactly 105's index (the end is inclusive): adm 105.
const LABS = `subject_id,charttime,itemid,valuenum
1,2150-01-01 12:00:00,A,1
1,2150-02-01 06:00:00,B,2
1,2150-02-02 00:00:01,C,3
2,2150-03-01 12:00:00,A,4
3,2150-01-02 00:00:00,B,5
`;
// Diagnoses carry no time: each row takes its admission's dischtime through the lookup, so only admissions
// discharged by the index count: I10 (adm 101, Jan 5) → seen by 102 (index Feb 2), not by 101 (index Jan 2);
// E11 (adm 102, Feb 10) → nobody; J18 (adm 103, Jan 10 12:00) → seen by 104; N17 (adm 105, Jan 3) → nobody.
const DIAGNOSES = `subject_id,hadm_id,icd_code
1,101,I10
1,102,E11
2,103,J18
3,105,N17
`;
const PATIENTS = `subject_id,gender,anchor_age
1,F,60
2,M,70
3,F,80
`;
const mimicSpec = (split = 'column') => `name: mimic-like
tables:
  admissions: { file: admissions.csv, id: hadm_id }
  patients: { file: patients.csv, id: subject_id, link: { table: admissions, column: subject_id } }
  labs: { file: labs.csv, id: subject_id, time: charttime, link: { table: admissions, column: subject_id } }
  diagnoses:
    file: diagnoses.csv
    id: subject_id
    link: { table: admissions, column: subject_id }
    lookup: { table: admissions, on: hadm_id, columns: [dischtime] }
    time: dischtime
cohort: { table: admissions, patient: subject_id, index_time: admittime, index_offset: 24 h, end_time: dischtime }
label: { column: died }
modalities:
  demo: { type: tabular, table: patients, numeric: [anchor_age], categorical: [gender] }
  labs: { type: codes, table: labs, code: itemid, window: { start: -1, end: 0 }, min_count: 1 }
  history: { type: codes, table: diagnoses, code: icd_code, min_count: 1 }
split: { method: ${split}, column: split }
`;
const mimic = (files: Record<string, string> = {}) =>
  writeFixture({ 'admissions.csv': ADMISSIONS, 'labs.csv': LABS, 'diagnoses.csv': DIAGNOSES, 'patients.csv': PATIENTS, 'spec.yaml': mimicSpec(), ...files });

describe('an index offset written as a bare number', () => {
  it('is days: when it leaves out most stays, the warning says how to write hours', async () => {
    // 90 stays, 60 of them over within 2 days: index_offset 2 (days, not the 2 hours meant) leaves out two thirds
    const rows = ['id,admit,disch,died,age'];
    for (let i = 0; i < 90; i++) rows.push(`${i},2150-01-01 00:00:00,${i < 60 ? '2150-01-02 00:00:00' : '2150-02-01 00:00:00'},${i % 3 === 0 ? 1 : 0},${40 + (i % 40)}`);
    const spec = (off: string) => `name: offset
tables:
  adm: { file: adm.csv, id: id }
cohort: { table: adm, index_time: admit, index_offset: ${off}, end_time: disch }
label: { column: died }
modalities:
  demo: { type: tabular, table: adm, numeric: [age] }
split: { method: random, seed: 0 }
`;
    const dir = writeFixture({ 'adm.csv': rows.join('\n') + '\n', 'spec.yaml': spec('2') });
    const err = await build(dir).then((ds) => ds.cohort.warnings ?? [], (e: Error) => [e.message]);
    expect(err.join('\n')).toMatch(/cohort\.end_time: \d+ of \d+ stays end at or before the prediction time \(the index \+ cohort\.index_offset 2 days\), so they are left out; a bare number there is days: for hours write it as "2 h"/);
    const ok = await build(writeFixture({ 'adm.csv': rows.join('\n') + '\n', 'spec.yaml': spec('2 h') }));
    expect((ok.cohort.warnings ?? []).some((w) => w.includes('a bare number there is days'))).toBe(false);
  });
});

describe('numeric times in minutes in one table and days in another', () => {
  it('notes the table without a time_unit, and says nothing once both say their unit', async () => {
    const stays = ['id,los,died,age'];
    const vitals = ['id,offset,hr'];
    for (let i = 0; i < 60; i++) {
      stays.push(`${i},${3000 + i},${i % 3 === 0 ? 1 : 0},${40 + i}`);
      vitals.push(`${i},${-30 - i},${80 + (i % 20)}`, `${i},${600 + i},${90 + (i % 10)}`);
    }
    const spec = (unit: string) => `name: units
tables:
  stays: { file: stays.csv, id: id, time_unit: minutes }
  vitals: { file: vitals.csv, id: id, time: offset${unit} }
cohort: { table: stays, index_time: 0, index_offset: 1440 min }
label: { column: died }
modalities:
  demo: { type: tabular, table: stays, numeric: [age] }
  vitals: { type: timeseries, table: vitals, columns: [hr], window: { start: -2, end: 0 }, bins: 1 }
split: { method: random, seed: 0 }
`;
    const files = { 'stays.csv': stays.join('\n') + '\n', 'vitals.csv': vitals.join('\n') + '\n' };
    const bare = await build(writeFixture({ ...files, 'spec.yaml': spec('') }));
    expect(bare.cohort.warnings?.join('\n')).toMatch(/tables\.vitals: its numeric times are read as days \(it has no time_unit\), those of tables\.stays as minutes; if vitals's times are minutes too, add time_unit: minutes to it/);
    for (const unit of [', time_unit: minutes', ', time_unit: days']) {
      const ok = await build(writeFixture({ ...files, 'spec.yaml': spec(unit) }));
      expect((ok.cohort.warnings ?? []).some((w) => w.includes('time_unit'))).toBe(false);
    }
  });
});

describe('tables keyed by another id (link) and lookup columns', () => {
  it('matches subject-keyed lab rows to each admission by subject and time window', async () => {
    const dir = mimic();
    const ds = await build(dir);
    // each linked table's distinct subjects, all of them cohort subjects (counted once, however many admissions)
    const link = 'admissions.subject_id';
    expect(ds.cohort.table_ids).toEqual({ patients: { ids: 3, in_cohort: 3, link }, labs: { ids: 3, in_cohort: 3, link }, diagnoses: { ids: 3, in_cohort: 3, link } });
    // the README documents the same counts in `cdmm inspect --json`
    const { runCli } = await import('./helpers/cli.js');
    const r = await runCli('inspect', join(dir, 'spec.yaml'), '--json', '--no-cache');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).table_ids).toEqual(ds.cohort.table_ids);
    expect(ds.cohort.exclusions).toEqual({ 'stay ended at or before the index time': 1 });
    const labs = byId(ds, 'labs');
    expect([...labs.keys()].sort()).toEqual(['101', '102', '104', '105']);
    // Vocabulary from the training admissions (101, 102): A and B; C never falls in any window.
    expect(ds.modalities.find((m) => m.name === 'labs')!.features).toEqual(['A', 'B', '<other>']);
    expect(codesOf(ds, 'labs', '101')).toEqual(['A']);
    expect(codesOf(ds, 'labs', '102')).toEqual(['B']);
    expect(codesOf(ds, 'labs', '104')).toEqual(['A']);
    expect(codesOf(ds, 'labs', '105')).toEqual(['B']);
  });

  it('gives diagnoses the dischtime of their admission, so only earlier admissions count', async () => {
    const ds = await build(mimic());
    const h = byId(ds, 'history');
    expect(h.get('101')!.present).toBe(false);
    expect(h.get('105')!.present).toBe(false);
    expect(h.get('102')!.present).toBe(true);
    expect(h.get('104')!.present).toBe(true);
    // Training vocabulary: I10 (from 102); J18 (104, validation) is outside it and lands in <other>.
    expect(codesOf(ds, 'history', '102')).toEqual(['I10']);
    expect(codesOf(ds, 'history', '104')).toEqual(['<other>']);
  });

  it('gives every admission its subject\'s row of a subject-keyed tabular table', async () => {
    const ds = await build(mimic());
    const d = byId(ds, 'demo');
    // anchor_age standardised with the training rows 101 and 102 (both subject 1, age 60): std 1 when degenerate.
    expect(d.get('101')!.values).toEqual(d.get('102')!.values);
    expect(d.get('104')!.values[0]).toBeCloseTo(70 - 60, 6);
    expect(d.get('105')!.values[0]).toBeCloseTo(80 - 60, 6);
  });

  it('keeps a link in JSON records: each record is one patient', async () => {
    const dir = mimic();
    const ds = await build(dir);
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const rec = (id: string, hours: number) => ({
      id, index_time: '2160-01-01 00:00:00',
      admissions: { admittime: '2160-01-01 00:00:00', dischtime: '2160-01-09 00:00:00' },
      patients: { gender: 'M', anchor_age: 50 },
      labs: [{ charttime: `2160-01-0${1 + Math.floor(hours / 24)} ${String(hours % 24).padStart(2, '0')}:00:00`, itemid: 'B', valuenum: 1 }],
    });
    const out = await transformPatients(spec, dir, ds.state, { records: [rec('r1', 12), rec('r2', 25)] });
    const K = 3;
    expect(out.ids).toEqual(['r1', 'r2']);
    expect([out.mask[1], out.mask[K + 1]]).toEqual([1, 0]); // a lab 12 h after admission is seen, one at 25 h is not
    // Records without any row of a tabular table: that modality is missing (no table at all is not an error).
    const bare = (id: string) => ({ ...rec(id, 12), patients: undefined });
    const out2 = await transformPatients(spec, dir, ds.state, { records: [bare('r3'), bare('r4')] });
    expect(Array.from(out2.mask)).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('a link column that is not in the link table is an error naming the field', async () => {
    const dir = mimic({ 'spec.yaml': mimicSpec().replace('link: { table: admissions, column: subject_id } }\n  labs', 'link: { table: admissions, column: subj } }\n  labs') });
    await expect(build(dir)).rejects.toThrow(/tables\.patients\.link\.column: column 'subj' not found in table 'admissions'/);
  });

  it('keeps a patient\'s admissions in one split: a column split that divides one is an error naming the patient', async () => {
    const dir = mimic({ 'admissions.csv': ADMISSIONS.replace('102,1,2150-02-01 00:00:00,2150-02-10 00:00:00,1,train', '102,1,2150-02-01 00:00:00,2150-02-10 00:00:00,1,test') });
    await expect(build(dir)).rejects.toThrow(/patient "1" has rows in 'train' \(id 101\) and in 'test' \(id 102\)/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// eICU-like: times are minutes from each stay's unit admission; the index is 1440 min.
// Stays (id, status): 1 Expired, 2 Alive (age "> 89"), 3 blank status, 4 Alive, 5 "Unknown", 6 age 17,
// 7 second unit visit, 8 unit discharge at exactly 1440 (ends at the index), 9 discharge at 1441, 10 Expired ("> 89").
const PATIENT = `patientunitstayid,uniquepid,unitvisitnumber,age,unitdischargeoffset,hospitaldischargestatus,died01,diedyn
1,p1,1,70,3000,Expired,1,yes
2,p2,1,> 89,3000,Alive,0,no
3,p3,1,55,3000,,,
4,p4,1,60,3000,Alive,0,no
5,p5,1,65,3000,Unknown,,
6,p6,1,17,3000,Alive,0,no
7,p7,2,50,3000,Alive,0,no
8,p8,1,80,1440,Expired,1,yes
9,p9,1,45,1441,Alive,0,no
10,p10,1,> 89,5000,Expired,1,yes
`;
// Blood pressure, window [-1, 0] days before the index = minutes [0, 1440]:
//   1 at 1440 → in; 2 at 1441 → out (1 min after the index); 4 at -10 → before the window; 9 at 0 → in; 10 at 700 → in.
const VITALS = `patientunitstayid,observationoffset,sbp
1,1440,120
2,1441,130
4,-10,110
9,0,100
10,700,90
`;
// Medications are known at the later of start and order: 1 (start 100, ordered 1500) → out; 2 (1000, 200) → in;
// 4 (start 1441) → out; 9 (start 50, no order time) → in; 10 (1440, 1440) → in.
const MEDS = `patientunitstayid,drugstartoffset,drugorderoffset,drug
1,100,1500,A
2,1000,200,B
4,1441,10,C
9,50,,D
10,1440,1440,E
`;
const eicuSpec = (o: { offset?: string; label?: string; filters?: string } = {}) => `name: eicu-like
tables:
  patient: { file: patient.csv, id: patientunitstayid, time_unit: minutes, values: { age: { "> 89": 90 } } }
  vitals: { file: vitals.csv, id: patientunitstayid, time: observationoffset, time_unit: minutes }
  meds: { file: meds.csv, id: patientunitstayid, time: [drugstartoffset, drugorderoffset], time_unit: minutes }
cohort:
  table: patient
  index_time: 0
  index_offset: ${o.offset ?? '1440 min'}
  end_time: unitdischargeoffset
  filters: ${o.filters ?? '["unitvisitnumber = 1", "age >= 18"]'}
label: ${o.label ?? '{ column: hospitaldischargestatus, positive: Expired, negative: Alive }'}
modalities:
  demo: { type: tabular, table: patient, numeric: [age] }
  bp: { type: timeseries, table: vitals, columns: [sbp], window: { start: -1, end: 0 }, bins: 1 }
  meds: { type: codes, table: meds, code: drug, min_count: 1 }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 }, seed: 0 }
`;
const eicu = (spec?: string) => writeFixture({ 'patient.csv': PATIENT, 'vitals.csv': VITALS, 'meds.csv': MEDS, 'spec.yaml': spec ?? eicuSpec() });

describe('offsets in minutes, the index as a duration, and row times from several columns', () => {
  it('an event at 1440 min enters a 24-h model, one at 1441 min never does', async () => {
    const ds = await build(eicu());
    const bp = byId(ds, 'bp');
    expect(Object.fromEntries([...bp].map(([id, v]) => [id, v.present]))).toEqual({ '1': true, '2': false, '4': false, '9': true, '10': true });
  });

  it('a row is known at the latest of its time columns', async () => {
    const ds = await build(eicu());
    const meds = byId(ds, 'meds');
    expect(Object.fromEntries([...meds].map(([id, v]) => [id, v.present]))).toEqual({ '1': false, '2': true, '4': false, '9': true, '10': true });
  });

  it('"1440 min", "24 h" and 1 (day) are the same index offset', async () => {
    const a = await build(eicu());
    for (const offset of ['24 h', '1', '"1 day"', '24 hrs', '1440 mins']) {
      const b = await build(eicu(eicuSpec({ offset })));
      expect(b.splits.test.ids).toEqual(a.splits.test.ids);
      expect(Array.from(b.splits.train.values.bp)).toEqual(Array.from(a.splits.train.values.bp));
    }
    expect(() => parseSpec(eicuSpec({ offset: '24 parsecs' }), 'spec.yaml')).toThrow(/cohort\.index_offset: expected a number of days or a duration such as "24 h"/);
  });

  it('a window and a horizon take the same durations as index_offset', () => {
    const days = parseSpec(eicuSpec(), 'spec.yaml');
    const units = parseSpec(eicuSpec().replace('window: { start: -1, end: 0 }', 'window: { start: -24 h, end: "0 min" }'), 'spec.yaml');
    expect(units.modalities.bp).toEqual(days.modalities.bp);
    const ev = (h: string) => parseSpec(eicuSpec({ label: `{ event: died, time: dtime, horizon: ${h} }` }), 'spec.yaml').label;
    expect(ev('30 days')).toEqual(ev('30'));
    expect(ev('48 h')).toEqual(ev('2'));
    expect(() => ev('-2 h')).toThrow(/label\.horizon: horizon must be > 0/);
    expect(() => parseSpec(eicuSpec().replace('start: -1', 'start: -1 fortnight'), 'spec.yaml')).toThrow(/modalities\.bp\.window\.start: expected a number of days or a duration/);
  });

  it('leaves out stays that end by the index time and counts every exclusion', async () => {
    const ds = await build(eicu());
    expect(labelsById(ds)).toEqual({ '1': 1, '2': 0, '4': 0, '9': 0, '10': 1 });
    expect(ds.cohort.exclusions).toEqual({
      'filter: unitvisitnumber = 1': 1, // stay 7
      'filter: age >= 18': 1, // stay 6
      'stay ended at or before the index time': 1, // stay 8 (1440), not stay 9 (1441)
      'label missing': 1, // stay 3
      'label neither positive nor negative': 1, // stay 5 ("Unknown")
    });
  });
});

describe('labels from values', () => {
  it('positive without negative: every other non-blank value is negative', async () => {
    const ds = await build(eicu(eicuSpec({ label: '{ column: hospitaldischargestatus, positive: expired }' })));
    // "Unknown" (stay 5) is now a negative; blank (3) is still excluded; matching ignores case.
    expect(labelsById(ds)).toEqual({ '1': 1, '2': 0, '4': 0, '5': 0, '9': 0, '10': 1 });
    expect(ds.cohort.exclusions['label missing']).toBe(1);
    // Said, since "Unknown" may mean "not known" rather than "alive"; listing label.negative excludes it.
    expect(ds.cohort.warnings?.join('\n')).toMatch(/label: without label\.negative every value but \["expired"\] counts as 0, here "Alive" \(\d+ rows of patient\.csv\), "Unknown" \(1 row of patient\.csv\); list the negative values in label\.negative/);
    const listed = await build(eicu(eicuSpec({ label: '{ column: hospitaldischargestatus, positive: expired, negative: alive }' })));
    expect(listed.cohort.warnings?.join('\n') ?? '').not.toMatch(/label\.negative/);
  });

  it('0/1 and yes/no columns: blanks are excluded and counted', async () => {
    for (const column of ['died01', 'diedyn']) {
      const ds = await build(eicu(eicuSpec({ label: `{ column: ${column} }` })));
      expect(labelsById(ds)).toEqual({ '1': 1, '2': 0, '4': 0, '9': 0, '10': 1 });
      expect(ds.cohort.exclusions['label missing']).toBe(2); // stays 3 and 5
    }
  });

  it('a positive value that never occurs is an error listing the values there', async () => {
    await expect(build(eicu(eicuSpec({ label: '{ column: hospitaldischargestatus, positive: Dead }' })))).rejects.toThrow(
      /label\.positive: none of \["Dead"\] occurs in column 'hospitaldischargestatus' of patient\.csv \(values there: "Alive", "Expired", "Unknown"\)/,
    );
  });

  it('a text label without positive is an error that says how to name it', async () => {
    await expect(build(eicu(eicuSpec({ label: '{ column: hospitaldischargestatus }' })))).rejects.toThrow(/is not binary \(0\/1, true\/false, yes\/no, y\/n\).*label\.positive: "Expired"/);
  });
});

describe('value maps, row filters and id: _row', () => {
  it('maps "> 89" to 90 so that numeric filters and features see a number', async () => {
    const ds = await build(eicu(eicuSpec({ filters: '["age >= 90"]' })));
    // Only stays 2 and 10 are "> 89" (8 also has 80 and ends at the index).
    expect(Object.keys(labelsById(ds)).sort()).toEqual(['10', '2']);
  });

  it('keeps the rows a `where` names and numbers rows with id: _row', async () => {
    const dir = writeFixture({
      'stays.csv': 'age,y\n50,0\n61,1\n72,0\n83,1\n94,0\n',
      'scores.csv': 'stay,version,pred\n1,IV,0.5\n1,IVa,0.1\n2,IV,0.5\n2,IVa,0.8\n3,IVa,-1\n4,IVa,0.7\n5,IV,0.2\n',
      'spec.yaml': `name: rows
tables:
  stays: { file: stays.csv, id: _row }
  scores: { file: scores.csv, id: stay, where: { version: IVa } }
cohort: { table: stays }
label: { column: y }
reference: { table: scores, column: pred, missing: [-1] }
modalities:
  demo: { type: tabular, table: stays, numeric: [age] }
split: { method: random, fractions: { train: 0.4, val: 0.2, test: 0.4 }, seed: 0 }
`,
    });
    const ds = await build(dir);
    const ref: Record<string, number> = {};
    const age: Record<string, number> = {};
    const st = (ds.state as { modalities: { state: { numeric: { mean: number; std: number }[] } }[] }).modalities[0].state.numeric[0];
    for (const s of Object.values(ds.splits))
      s.ids.forEach((id, i) => {
        ref[id] = s.reference![i];
        age[id] = s.values.demo[i * 2] * st.std + st.mean;
      });
    // Rows 1..5 in file order; the IVa row of each stay (stay 3's -1 is missing; stay 5 has no IVa row).
    expect(Object.keys(ref).sort()).toEqual(['1', '2', '3', '4', '5']);
    expect(ref['1']).toBeCloseTo(0.1, 6);
    expect(ref['2']).toBeCloseTo(0.8, 6);
    expect(ref['4']).toBeCloseTo(0.7, 6);
    expect(Number.isNaN(ref['3']) && Number.isNaN(ref['5'])).toBe(true);
    for (const [id, a] of Object.entries({ '1': 50, '2': 61, '3': 72, '4': 83, '5': 94 })) expect(age[id]).toBeCloseTo(a, 4);
    // a list with one value that occurs nowhere (a mistyped item id, or one a demo subset lacks) is named in a warning
    const typo = readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('where: { version: IVa }', 'where: { version: [IVa, IVb] }');
    writeFileSync(join(dir, 'spec.yaml'), typo);
    const { modalityWarnings } = await import('../src/data/summary.js');
    expect(modalityWarnings(await build(dir))).toContain('tables.scores.where.version: "IVb" occurs nowhere in scores.csv (the other values of the list do): a typo, or an item this file does not have');
  });
});

describe('columns: loading only some columns of a wide table', () => {
  it('loads the listed columns and those the table options name, and nothing else', async () => {
    const dir = eicu(eicuSpec().replace('meds: { file: meds.csv, id: patientunitstayid,', 'meds: { file: meds.csv, columns: [drug], id: patientunitstayid,'));
    const ds = await build(dir);
    const types = (ds.state as { tableTypes: Record<string, Record<string, string>> }).tableTypes.meds;
    expect(Object.keys(types).sort()).toEqual(['__time', 'drug', 'drugorderoffset', 'drugstartoffset', 'patientunitstayid']);
    expect(Object.fromEntries([...byId(ds, 'meds')].map(([id, v]) => [id, v.present]))).toEqual({ '1': false, '2': true, '4': false, '9': true, '10': true });
  });

  it('a listed column that is not in the file is an error naming the field', async () => {
    const dir = eicu(eicuSpec().replace('meds: { file: meds.csv, id: patientunitstayid,', 'meds: { file: meds.csv, columns: [drug, dose], id: patientunitstayid,'));
    await expect(build(dir)).rejects.toThrow(/tables\.meds\.columns: column 'dose' not found in .*meds\.csv/);
  });
});

describe('spec text reaches SQL only as checked names and escaped values', () => {
  const base = `name: inj
tables:
  p: { file: p.csv, id: id, WHERE }
cohort: { table: p }
label: LABEL
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0 }
`;
  const csv = "id,name,age,y\n1,O'Brien,50,1\n2,Smith,60,0\n3,\"Ro\"\"e\",70,0\n4,O'Brien,80,1\n5,Lee,55,0\n6,Kim,65,1\n7,Wu,75,0\n8,Ng,45,1\n";
  const run = (where: string, label = '{ column: y }') => build(writeFixture({ 'p.csv': csv, 'spec.yaml': base.replace('WHERE', where).replace('LABEL', label) }));

  it('a value with quotes is matched as a value', async () => {
    const ds = await run(`where: { name: ["O'Brien", 'Ro"e'] }`);
    expect(Object.keys(labelsById(ds)).sort()).toEqual(['1', '3', '4']);
  });

  it('a column name written as SQL is an unknown column, never executed', async () => {
    await expect(run(`where: { 'name" = name OR "1': x }`)).rejects.toThrow(/tables\.p\.where\.name" = name OR "1: column 'name" = name OR "1' not found/);
    await expect(run('values: { "age; DROP TABLE t_p; --": { "1": 2 } }')).rejects.toThrow(/column 'age; DROP TABLE t_p; --' not found/);
    await expect(run('link: { table: p, column: x }')).rejects.toThrow(/link/);
  });

  it('a label value written as SQL matches nothing and is reported', async () => {
    await expect(run('where: { name: [Lee] }', `{ column: name, positive: "x' OR '1'='1" }`)).rejects.toThrow(/label\.positive: none of \["x' OR '1'='1"\] occurs/);
  });
});

describe('the bundled MIMIC-IV demo readmission task (label.from: end_time)', () => {
  it('labels each admission by a later admission within 30 days of its discharge, as SQL over the file does', async () => {
    const ds = await prepareDataset('datasets/mimic-iv-demo/readmission-30d.yaml', { quiet: true, cache: false });
    const n = Object.values(ds.splits).reduce((a, s) => a + s.ids.length, 0);
    const pos = Object.values(ds.splits).reduce((a, s) => a + s.labels.reduce((b, y) => b + y, 0), 0);
    // a later admittime in (dischtime, dischtime + 30 days], admissions alive and in hospital at 24 h: 231, 52
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    const r = await con.runAndReadAll(`WITH a AS (SELECT * FROM read_csv('datasets/mimic-iv-demo/hosp/admissions.csv.gz'))
      SELECT count(*) AS n, sum(pos) AS pos FROM (SELECT x.hadm_id, max(CASE WHEN y.admittime > x.dischtime AND y.admittime <= x.dischtime + INTERVAL 30 DAY THEN 1 ELSE 0 END) AS pos
      FROM a x LEFT JOIN a y ON y.subject_id = x.subject_id WHERE x.hospital_expire_flag = 0 AND x.dischtime > x.admittime + INTERVAL 24 HOUR GROUP BY x.hadm_id)`);
    const [sqlN, sqlPos] = r.getRows()[0].map(Number);
    con.closeSync();
    expect([n, pos]).toEqual([sqlN, sqlPos]);
    expect([n, pos]).toEqual([231, 52]);
  }, 60_000);
});
