// Splits by patient when a patient has several rows (cohort.patient), whole groups to each split
// (split.method group), a shift environment chosen by value through a linked table (split.shift), on a
// fixture whose groups are worked out by hand.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { connectedUnits, groupSplit, stratifiedSplit, stratifiedUnitSplit } from '../src/data/split.js';
import type { PreparedDataset } from '../src/data/types.js';
import { writeFixture } from './fixtures/data/helpers.js';

// 32 stays, two per patient (stays 2k-1 and 2k belong to patient p k). Stay i is at hospital ((i-1) % 8) + 1, so a
// patient's two stays are at hospitals (1,2), (3,4), (5,6) or (7,8): through its patients each pair of hospitals is
// one unit. Stay 32 is moved to hospital 1: patient p16 then has stay 31 in the West (hospital 7) and 32 outside.
// Hospitals 7 and 8 are in the West.
function fixture(split: string, patient = 'patient: uniquepid') {
  const stays = ['stay,uniquepid,hospitalid,y'];
  for (let i = 1; i <= 32; i++) stays.push(`${i},p${Math.ceil(i / 2)},${i === 32 ? 1 : ((i - 1) % 8) + 1},${i % 3 === 0 ? 1 : 0}`);
  const hospitals = ['hospitalid,region', '1,Midwest', '2,Midwest', '3,South', '4,South', '5,Northeast', '6,Northeast', '7,West', '8,West'];
  const spec = `name: groups
tables:
  stays: { file: stays.csv, id: stay }
  hospital: { file: hospital.csv, id: hospitalid, link: { table: stays, column: hospitalid } }
cohort: { table: stays, ${patient} }
label: { column: y }
modalities:
  site: { type: tabular, table: stays, categorical: [hospitalid] }
split: ${split}
`;
  return writeFixture({ 'stays.csv': stays.join('\n') + '\n', 'hospital.csv': hospitals.join('\n') + '\n', 'spec.yaml': spec });
}

const build = (dir: string, seed?: number) => prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false, seed });
const hospitalOf = (id: number) => (id === 32 ? 1 : ((id - 1) % 8) + 1);
const patientOf = (id: number) => Math.ceil(id / 2);
const ids = (ds: PreparedDataset, s: 'train' | 'val' | 'test' | 'shift') => (ds.splits[s]?.ids ?? []).map(Number).sort((a, b) => a - b);
const hospitals = (ds: PreparedDataset, s: 'train' | 'val' | 'test' | 'shift') => [...new Set(ids(ds, s).map(hospitalOf))].sort();

function expectPatientDisjoint(ds: PreparedDataset) {
  const side = new Map<number, string>();
  for (const [name, s] of Object.entries(ds.splits))
    for (const id of s.ids) {
      const p = patientOf(Number(id));
      expect(side.get(p) ?? name).toBe(name);
      side.set(p, name);
    }
}

describe('group split (whole hospitals to train/val/test)', () => {
  it('keeps hospitals whole and joins hospitals that share a patient', async () => {
    const dir = fixture('{ method: group, column: hospitalid, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0 }');
    for (const seed of [0, 1, 2]) {
      const ds = await build(dir, seed);
      // Hospital pairs {1,2}, {3,4}, {5,6}, {7,8} through their patients; patient p16 (stays 31 at 7, 32 at 1) joins
      // {1,2} and {7,8}: three units of 16, 8 and 8 stays, one per split.
      const parts = (['train', 'val', 'test'] as const).map((s) => hospitals(ds, s));
      expect([...parts].sort()).toEqual([[1, 2, 7, 8], [3, 4], [5, 6]]);
      const units = [[1, 2, 7, 8], [3, 4], [5, 6]];
      for (const h of parts) for (const u of units) expect(u.every((x) => h.includes(x)) || u.every((x) => !h.includes(x))).toBe(true);
      expect(parts.flat().sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(parts.every((h) => h.length > 0)).toBe(true);
      expectPatientDisjoint(ds);
    }
  });

  it('takes a shift environment by value through a linked table, leaving out other stays of its patients', async () => {
    const dir = fixture('{ method: group, column: hospitalid, fractions: { train: 0.34, val: 0.33, test: 0.33 }, seed: 0, shift: { table: hospital, column: region, values: [West] } }');
    const ds = await build(dir);
    // West = hospitals 7, 8: stays 7, 8, 15, 16, 23, 24, 31 (32 was moved to hospital 1).
    expect(ids(ds, 'shift')).toEqual([7, 8, 15, 16, 23, 24, 31]);
    // Stay 32 (hospital 1) belongs to patient p16, who is in the shift environment through stay 31.
    expect(ds.cohort.exclusions).toEqual({ 'patient also in the shift environment': 1 });
    // The three remaining units, one per split.
    const parts = (['train', 'val', 'test'] as const).map((s) => hospitals(ds, s)).sort();
    expect(parts).toEqual([[1, 2], [3, 4], [5, 6]]);
    expectPatientDisjoint(ds);
  });

  it('says when there are too few groups for three splits', async () => {
    const dir = fixture('{ method: group, column: hospitalid, seed: 0, shift: { table: hospital, column: region, values: [West, South] } }');
    await expect(build(dir)).rejects.toThrow(/only 2 groups \(after joining groups that share a patient\): too few to give '(val|test)' a whole group/);
  });

  it('a shift value that occurs nowhere is an error listing the values there', async () => {
    const dir = fixture('{ method: group, column: hospitalid, shift: { table: hospital, column: region, values: [Wset] } }');
    await expect(build(dir)).rejects.toThrow(/split\.shift\.values: none of \["Wset"\] occurs in column 'region' of hospital\.csv \(values there: "Midwest", "Northeast", "South", "West"\)/);
  });
});

describe("a shift environment chosen by a column of the cohort table itself", () => {
  it('puts the stays with those values in shift (table given or left out), and names a value that occurs nowhere', async () => {
    for (const table of ['', 'table: stays, ']) {
      const dir = fixture(`{ method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0, shift: { ${table}column: hospitalid, values: [7, 8] } }`);
      const ds = await build(dir);
      expect(hospitals(ds, 'shift')).toEqual([7, 8]);
      for (const s of ['train', 'val', 'test'] as const) expect(hospitals(ds, s).some((h) => h >= 7)).toBe(false);
      expectPatientDisjoint(ds);
    }
    const bad = fixture('{ method: random, seed: 0, shift: { column: hospitalid, values: [9] } }');
    await expect(build(bad)).rejects.toThrow(/split\.shift\.values: none of \[9\] occurs in column 'hospitalid' of stays\.csv/);
  });
});

describe('random split by patient', () => {
  it('never puts one patient\'s stays on both sides, where a split by stay does', async () => {
    const byPatient = fixture('{ method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0 }');
    const byStay = fixture('{ method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 0 }', 'index_time: 0');
    let crossed = 0;
    for (const seed of [0, 1, 2, 3]) {
      expectPatientDisjoint(await build(byPatient, seed));
      const ds = await build(byStay, seed);
      const side = new Map<number, string>();
      for (const [name, s] of Object.entries(ds.splits))
        for (const id of s.ids) {
          const p = patientOf(Number(id));
          if (side.has(p) && side.get(p) !== name) crossed++;
          side.set(p, name);
        }
    }
    expect(crossed).toBeGreaterThan(0);
  });

  it('with one row per patient it is exactly the stratified split by row', () => {
    const labels = Float32Array.from({ length: 50 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const eligible = Uint8Array.from({ length: 50 }, (_, i) => (i === 7 ? 0 : 1));
    const units = connectedUnits(eligible, [Array.from({ length: 50 }, (_, i) => `p${i}`)]);
    for (const seed of [0, 5]) {
      const a = stratifiedUnitSplit(labels, units, { train: 0.6, val: 0.2, test: 0.2 }, seed);
      const b = stratifiedSplit(labels, eligible, { train: 0.6, val: 0.2, test: 0.2 }, seed);
      expect([Array.from(a.train), Array.from(a.val), Array.from(a.test)]).toEqual([Array.from(b.train), Array.from(b.val), Array.from(b.test)]);
    }
  });

  it('units join rows through any shared key, transitively', () => {
    // rows 0-1 share group g1; rows 1-2 share patient q; row 3 alone; row 4 not eligible.
    const u = connectedUnits(Uint8Array.from([1, 1, 1, 1, 0]), [['g1', 'g1', 'g2', 'g3', 'g1'], ['a', 'q', 'q', 'b', 'q']]);
    expect(Array.from(u)).toEqual([0, 0, 0, 1, -1]);
    const s = groupSplit(connectedUnits(Uint8Array.from([1, 1, 1]), [['a', 'b', 'c']]), { train: 0.34, val: 0.33, test: 0.33 }, 0, 'here');
    expect([s.train.length, s.val.length, s.test.length]).toEqual([1, 1, 1]);
  });
});

describe('cohort rows sharing a linked patient without cohort.patient', () => {
  it('are warned of, with the fix; not with cohort.patient, nor for a link to a table of few, large groups', async () => {
    // stays 2k-1 and 2k share patient p k, who is the key of a linked patients table
    const stays = ['stay,uniquepid,y'];
    for (let i = 1; i <= 32; i++) stays.push(`${i},p${Math.ceil(i / 2)},${i % 3 === 0 ? 1 : 0}`);
    const people = ['uniquepid,age', ...Array.from({ length: 16 }, (_, k) => `p${k + 1},${50 + k}`)];
    const spec = (patient: string) => `name: shared
tables:
  stays: { file: stays.csv, id: stay }
  people: { file: people.csv, id: uniquepid, link: { table: stays, column: uniquepid } }
cohort: { table: stays${patient} }
label: { column: y }
modalities:
  demo: { type: tabular, table: people, numeric: [age] }
split: { method: random, seed: 0 }
`;
    const files = { 'stays.csv': stays.join('\n') + '\n', 'people.csv': people.join('\n') + '\n' };
    const without = await build(writeFixture({ ...files, 'spec.yaml': spec('') }));
    expect(without.cohort.warnings?.join('\n')).toMatch(/the 32 included rows share 16 distinct stays\.uniquepid values \(the link of tables\.people\) and cohort\.patient is not set.*set cohort\.patient: uniquepid/);
    const withPatient = await build(writeFixture({ ...files, 'spec.yaml': spec(', patient: uniquepid') }));
    expect(withPatient.cohort.warnings?.join('\n') ?? '').not.toMatch(/cohort\.patient is not set/);
    // the hospital fixture: 32 stays linked to 8 hospitals (4 a value) is still a few a value, so it is warned of
    // with the hedge; 32 stays over 2 hospitals (16 a value) is not
    const twoHospitals = fixture('{ method: random, seed: 0 }', 'id: stay');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const csv = readFileSync(join(twoHospitals, 'stays.csv'), 'utf8').split('\n').map((l, k) => (k === 0 || !l ? l : l.replace(/,(\d+),(\d)$/, (_, h, y) => `,${Number(h) % 2 + 1},${y}`))).join('\n');
    writeFileSync(join(twoHospitals, 'stays.csv'), csv);
    const ds = await build(twoHospitals);
    expect(ds.cohort.warnings?.join('\n') ?? '').not.toMatch(/cohort\.patient is not set/);
  });
});
