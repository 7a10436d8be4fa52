// Build properties on small simulated data: split disjointness, determinism, no leakage, finite arrays,
// the cache, and transformPatients reproducing the training arrays.
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { simulate } from '../src/data/simulate.js';
import { loadSpec } from '../src/data/spec.js';
import { transformPatients } from '../src/data/transform.js';
import type { PreparedDataset, SplitArrays } from '../src/data/types.js';
import { smallDataset, tempDir } from './fixtures/data/helpers.js';

let dir: string;
let ds: PreparedDataset;

beforeAll(async () => {
  dir = join(tempDir(), 'sim');
  await simulate({ out: dir, n: 1500, seed: 3 });
  ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
}, 60_000);

const splits = (d: PreparedDataset) => Object.entries(d.splits) as [string, SplitArrays][];

describe('prepared dataset', () => {
  it('has the contract shapes, a mask with at least one modality per row, and finite values', () => {
    const K = ds.modalities.length;
    expect(ds.modalities.map((m) => m.type)).toEqual(['tabular', 'timeseries', 'codes', 'text', 'embedding']);
    for (const [, s] of splits(ds)) {
      const n = s.ids.length;
      expect(s.labels.length).toBe(n);
      expect(s.mask.length).toBe(n * K);
      expect(s.trueRisk?.length).toBe(n);
      for (let i = 0; i < n; i++) expect(s.mask.subarray(i * K, (i + 1) * K).some((b) => b === 1)).toBe(true);
      ds.modalities.forEach((m, k) => {
        const D = m.shape.reduce((a, b) => a * b, 1);
        const v = s.values[m.name];
        expect(v.length).toBe(n * D);
        for (let j = 0; j < v.length; j++) if (!Number.isFinite(v[j])) throw new Error(`${m.name} not finite`);
        // zeros where the modality is missing
        for (let i = 0; i < n; i++) if (!s.mask[i * K + k]) expect(v.subarray(i * D, (i + 1) * D).every((x) => x === 0)).toBe(true);
      });
    }
    const ts = ds.modalities[1];
    expect(ts.shape).toEqual([4, 3 * ts.variables!]);
  });

  it('splits are disjoint by patient and cover the cohort', () => {
    const seen = new Set<string>();
    let total = 0;
    for (const [, s] of splits(ds)) {
      for (const id of s.ids) {
        expect(seen.has(id)).toBe(false);
        seen.add(id);
      }
      total += s.ids.length;
    }
    expect(total).toBe(ds.cohort.included);
    expect(Object.keys(ds.splits).sort()).toEqual(['shift', 'test', 'train', 'val']);
  });

  it('the same spec and seed give identical arrays; another seed re-splits a random split', async () => {
    const again = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    for (const [name, s] of splits(ds)) {
      const t = again.splits[name as 'train'];
      expect(t.ids).toEqual(s.ids);
      expect(Buffer.from(t.mask.buffer, t.mask.byteOffset, t.mask.byteLength).equals(Buffer.from(s.mask.buffer, s.mask.byteOffset, s.mask.byteLength))).toBe(true);
      for (const m of ds.modalities) expect(t.values[m.name]).toEqual(s.values[m.name]);
    }
    // A random split follows the seed.
    const rdir = join(tempDir(), 'r');
    cpSync(dir, rdir, { recursive: true });
    const sp = join(rdir, 'spec.yaml');
    writeFileSync(sp, readFileSync(sp, 'utf8').replace(/split:\n  method: column\n  column: split\n/, 'split: { method: random, seed: 5 }\n'));
    const a = await prepareDataset(sp, { quiet: true, cache: false });
    const b = await prepareDataset(sp, { quiet: true, cache: false, seed: 6 });
    expect(b.splits.test.ids).not.toEqual(a.splits.test.ids);
    // stratified: label rates of the splits are close
    const rate = (s: SplitArrays) => s.labels.reduce((x, y) => x + y, 0) / s.labels.length;
    expect(Math.abs(rate(a.splits.train) - rate(a.splits.test))).toBeLessThan(0.01);
  }, 60_000);

  it('events after the index time change no input (leakage)', async () => {
    const ldir = join(tempDir(), 'leak');
    cpSync(dir, ldir, { recursive: true });
    const patients = readFileSync(join(ldir, 'patients.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    // For every patient: labs, codes and notes 1 day after the index that scream the outcome, and a new variable.
    const labs: string[] = [], dx: string[] = [], notes: string[] = [];
    for (const p of patients) {
      const [id, idx, , , , , y] = p;
      const after = Number(idx) + 1;
      labs.push(`${id},${after},lactate,${Number(y) * 100}`, `${id},${after},new_marker,${y}`);
      dx.push(`${id},${after},${y === '1' ? 'died' : 'discharged'}`);
      notes.push(`${id},${after},"outcome ${y === '1' ? 'death' : 'survival'}"`);
    }
    appendFileSync(join(ldir, 'labs.csv'), labs.join('\n') + '\n');
    appendFileSync(join(ldir, 'diagnoses.csv'), dx.join('\n') + '\n');
    appendFileSync(join(ldir, 'notes.csv'), notes.join('\n') + '\n');
    const leaky = await prepareDataset(join(ldir, 'spec.yaml'), { quiet: true, cache: false });
    expect(leaky.modalities).toEqual(ds.modalities);
    for (const [name, s] of splits(ds)) {
      const t = leaky.splits[name as 'train'];
      expect(t.ids).toEqual(s.ids);
      expect(t.mask).toEqual(s.mask);
      for (const m of ds.modalities) expect(t.values[m.name]).toEqual(s.values[m.name]);
    }
  }, 60_000);

  it('an event exactly at the index time is used, one a day later is not', async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const tables = (d: string) => ({ patients: join(d, 'patients.csv'), diagnoses: join(d, 'diagnoses.csv') });
    const base = await transformPatients(spec, dir, ds.state, { tables: tables(dir) });
    const K = ds.modalities.length;
    const k = 2; // diagnoses
    const D = ds.modalities[k].shape[0];
    const i = base.ids.findIndex((_, r) => base.mask[r * K + k] === 0); // a patient without diagnoses
    const id = base.ids[i];
    const idx = readFileSync(join(dir, 'patients.csv'), 'utf8').split('\n').find((l) => l.startsWith(id + ','))!.split(',')[1];
    const bdir = join(tempDir(), 'edge');
    cpSync(dir, bdir, { recursive: true });
    appendFileSync(join(bdir, 'diagnoses.csv'), `${id},${Number(idx) + 1},rare_after\n`);
    const after = await transformPatients(spec, bdir, ds.state, { tables: tables(bdir) });
    expect(after.mask[i * K + k]).toBe(0);
    appendFileSync(join(bdir, 'diagnoses.csv'), `${id},${idx},rare_at_index\n`);
    const at = await transformPatients(spec, bdir, ds.state, { tables: tables(bdir) });
    expect(at.mask[i * K + k]).toBe(1);
    expect(at.values.diagnoses[i * D + D - 1]).toBe(1); // an unseen code counts as '<other>'
  }, 60_000);

  it('a JSON record without any data is named by its place in the request (SQL path)', async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const records = [
      { id: 'a', patients: { index_day: 1500, age: 60, sex: 'F', bmi: 27, site: 'A' } },
      { id: 'b', patients: { index_day: 1500 } },
    ];
    await expect(transformPatients(spec, dir, ds.state, { records })).rejects.toThrow(/^records\[1\]: patient "b" has no observed modality/);
  }, 60_000);

  it("another hospital's spec: its columns matched by name, a different feature definition refused", async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const text = readFileSync(join(dir, 'spec.yaml'), 'utf8');
    const variant = (name: string, from: string, to: string) => {
      expect(text).toContain(from);
      writeFileSync(join(dir, name), text.replace(from, to));
      return join(dir, name);
    };
    const same = await transformPatients(spec, dir, ds.state, { specPath: join(dir, 'spec.yaml') });
    // The same columns in another order: the same arrays (they were matched by position before).
    const swapped = await transformPatients(spec, dir, ds.state, { specPath: variant('swapped.yaml', 'numeric: [age, bmi]\n    categorical: [sex, site]', 'numeric: [bmi, age]\n    categorical: [site, sex]') });
    expect(swapped.values.demographics).toEqual(same.values.demographics);
    // A column fewer, or another window: refused, naming the field (an internal error, or silently other features, before).
    await expect(transformPatients(spec, dir, ds.state, { specPath: variant('fewer.yaml', 'categorical: [sex, site]', 'categorical: [sex]') }))
      .rejects.toThrow(/fewer\.yaml: modalities\.demographics\.categorical: \["sex"\] here, \["sex","site"\] in the run's spec: the run's preprocessing is applied as fitted/);
    await expect(transformPatients(spec, dir, ds.state, { specPath: variant('window.yaml', 'window: { start: -365, end: 0 }', 'window: { start: -30, end: 0 }') }))
      .rejects.toThrow(/modalities\.labs\.window: .*"start":-30.* here, .*"start":-365.* in the run's spec/);
  }, 60_000);

  it("a new file's text column stays text: a column of only \"F\" is the category F, not a boolean", async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const fdir = join(tempDir(), 'only-f');
    cpSync(dir, fdir, { recursive: true });
    const [head, ...rows] = readFileSync(join(dir, 'patients.csv'), 'utf8').trim().split('\n');
    const sex = head.split(',').indexOf('sex');
    writeFileSync(join(fdir, 'patients.csv'), [head, ...rows.filter((r) => r.split(',')[sex] === 'F')].join('\n') + '\n');
    const t = await transformPatients(spec, fdir, ds.state, { tables: { patients: join(fdir, 'patients.csv') } });
    const m = ds.modalities.find((x) => x.name === 'demographics')!;
    const D = m.shape[0];
    const [f, other] = [m.features!.indexOf('sex=F'), m.features!.indexOf('sex=<other>')];
    expect(t.ids.length).toBeGreaterThan(10);
    for (let i = 0; i < t.ids.length; i++) {
      expect(t.values.demographics[i * D + f]).toBe(1);
      expect(t.values.demographics[i * D + other]).toBe(0);
    }
  }, 60_000);

  it('transformPatients reproduces the training arrays from the spec, the tables and JSON records', async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const viaSpec = await transformPatients(spec, dir, ds.state, { specPath: join(dir, 'spec.yaml') });
    const test = ds.splits.test;
    const at = new Map(viaSpec.ids.map((id, i) => [id, i]));
    const K = ds.modalities.length;
    for (const m of ds.modalities) {
      const D = m.shape.reduce((a, b) => a * b, 1);
      test.ids.forEach((id, i) => {
        const j = at.get(id)!;
        expect(viaSpec.labels![j]).toBe(test.labels[i]);
        expect(Array.from(viaSpec.mask.subarray(j * K, (j + 1) * K))).toEqual(Array.from(test.mask.subarray(i * K, (i + 1) * K)));
        expect(viaSpec.values[m.name].subarray(j * D, (j + 1) * D)).toEqual(test.values[m.name].subarray(i * D, (i + 1) * D));
      });
    }
    // JSON records for three test patients, built from the CSV rows: the same arrays.
    const ids = test.ids.slice(0, 3);
    const table = (f: string) => {
      const [head, ...rows] = readFileSync(join(dir, f), 'utf8').trim().split('\n');
      const cols = head.split(',');
      return rows.map((r) => {
        const cells = r.match(/("[^"]*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, '').replace(/^"|"$/g, ''));
        return Object.fromEntries(cols.map((c, k) => [c, c === 'id' || c === 'code' || c === 'text' || c === 'variable' || c === 'sex' || c === 'site' || c === 'split' ? cells[k] : Number(cells[k])]));
      });
    };
    const tabs = Object.fromEntries(['patients', 'labs', 'diagnoses', 'notes', 'imaging'].map((t) => [t, table(`${t}.csv`)]));
    const records = ids.map((id) => ({ id, ...Object.fromEntries(Object.entries(tabs).map(([t, rows]) => [t, rows.filter((r) => r.id === id)])) }));
    const viaRecords = await transformPatients(spec, dir, ds.state, { records });
    expect(viaRecords.ids).toEqual(ids);
    expect(viaRecords.labels).toBeUndefined();
    ids.forEach((id, r) => {
      const i = test.ids.indexOf(id);
      for (const m of ds.modalities) {
        const D = m.shape.reduce((a, b) => a * b, 1);
        const got = Array.from(viaRecords.values[m.name].subarray(r * D, (r + 1) * D));
        const want = Array.from(test.values[m.name].subarray(i * D, (i + 1) * D));
        got.forEach((g, d) => expect(g).toBeCloseTo(want[d], 4));
      }
    });
  }, 60_000);

  it('new patients from table files keep to the cohort filters (left out and counted); JSON records are scored as given', async () => {
    const fdir = smallDataset();
    const specFile = join(fdir, 'spec.yaml');
    writeFileSync(specFile, readFileSync(specFile, 'utf8').replace('cohort: { table: patients, index_time: index_day }', 'cohort: { table: patients, index_time: index_day, filters: ["age >= 50"] }'));
    const fds = await prepareDataset(specFile, { quiet: true, cache: false });
    expect(fds.cohort.included).toBe(31); // ages 41..80: 50..80 kept
    const spec = loadSpec(specFile);
    const viaTables = await transformPatients(spec, fdir, fds.state, { tables: { patients: join(fdir, 'patients.csv'), labs: join(fdir, 'labs.csv') } });
    expect(viaTables.ids.length).toBe(31);
    expect(viaTables.exclusions).toEqual({ 'filter: age >= 50': 9 });
    const young = { id: '1', index_time: 100, patients: [{ id: 1, age: 41, sex: 'F', y: 0, index_day: 100 }], labs: [] };
    expect((await transformPatients(spec, fdir, fds.state, { records: [young] })).ids).toEqual(['1']);
  });

  it('unseen categories go to <other> and bad record values are reported by path', async () => {
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const r = await transformPatients(spec, dir, ds.state, { records: [{ id: 'new', patients: { index_day: 10, age: 50, bmi: 25, sex: 'X', site: 'A' } }] });
    const demo = ds.modalities[0];
    expect(r.values.demographics[demo.features.indexOf('sex=<other>')]).toBe(1);
    await expect(transformPatients(spec, dir, ds.state, { records: [{ id: 'a', labs: [{ day: 1, variable: 'crp', value: 2 }, { day: 2, variable: 'crp', value: 'lots' }] }] })).rejects.toThrow(
      /records\[0\]\.labs\[1\]\.value: expected number/,
    );
    await expect(transformPatients(spec, dir, ds.state, { records: [{ id: 'a', notes: [{ day: 1, text: 'bad\u0000text' }] }] })).rejects.toThrow(
      /records\[0\]\.notes\[0\]\.text: text must not contain NUL characters/,
    );
  });

  it('the cache returns the same arrays and is keyed by the files', async () => {
    const cdir = join(tempDir(), 'cache');
    cpSync(dir, cdir, { recursive: true });
    const sp = join(cdir, 'spec.yaml');
    const a = await prepareDataset(sp, { quiet: true });
    const t0 = Date.now();
    const b = await prepareDataset(sp, { quiet: true });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(b.splits.train.values.labs).toEqual(a.splits.train.values.labs);
    expect(b.splits.shift!.trueRisk).toEqual(a.splits.shift!.trueRisk);
    expect(b.state).toEqual(a.state);
    // changing a file's content (size) invalidates the entry
    const id = a.splits.train.ids[0];
    const idx = readFileSync(join(cdir, 'patients.csv'), 'utf8').split('\n').find((l) => l.startsWith(id + ','))!.split(',')[1];
    appendFileSync(join(cdir, 'labs.csv'), `${id},${Number(idx) - 1},crp,999\n`);
    const c = await prepareDataset(sp, { quiet: true });
    expect(c.splits.train.values.labs).not.toEqual(a.splits.train.values.labs);
  }, 60_000);
});
