// PhysioNet 2019's layout: one pipe-separated file of hourly rows per patient, its per-patient columns (Age, Gender)
// repeated on every row and the outcome a 0/1 flag per hour (SepsisLabel). `first_row` makes the per-patient table
// from the same files, and the label reads the hourly flags as an event log (positive: a 1 within the horizon).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { parseSpec } from '../src/data/spec.js';
import { tempDir } from './fixtures/data/helpers.js';
import { writePhysionet2019 } from './fixtures/data/physionet.js';

/**
 * 60 patients p000001… with hourly rows from ICULOS 1, Age 40 + i, Gender i % 2, HR 70 + i + hour (NaN every third
 * hour). Index 6 h, horizon 24 h (to hour 30). SepsisLabel 1: for i % 5 = 0 from hour 20 (positive); for i % 5 = 1
 * from hour 3, before the index (left out). The others have none: i % 5 = 2 are followed to hour 29, short of the
 * horizon (censored), i % 5 = 3 to hour 30, its end (negative: followed through it), i % 5 = 4 to hour 31 (negative).
 */
function physionet2019(): string {
  return writePhysionet2019(tempDir(), 60, (i) => (i % 5 === 2 ? 29 : i % 5 === 3 ? 30 : 31), (i, h) => {
    const sepsis = (i % 5 === 0 && h >= 20) || (i % 5 === 1 && h >= 3) ? 1 : 0;
    return `${h % 3 === 0 ? 'NaN' : 70 + i + h}|${95 + (h % 4)}|${40 + i}|${i % 2}|${h}|${sepsis}`;
  });
}

describe('tables.NAME.first_row', () => {
  it('makes a one-row-per-patient table of hourly files: cohort, tabular features and an hourly label', async () => {
    const ds = await prepareDataset(physionet2019(), { quiet: true, cache: false });
    const y = new Map<string, number>();
    const age = new Map<string, number>();
    const demo = ds.modalities.findIndex((m) => m.name === 'demo');
    const st = (ds.state as { modalities: { state: { numeric: { column: string; mean: number; std: number }[] } }[] }).modalities[demo].state;
    for (const s of Object.values(ds.splits))
      s.ids.forEach((id, r) => {
        y.set(id, s.labels[r]);
        age.set(id, s.values.demo[r * ds.modalities[demo].shape[0]] * st.numeric[0].std + st.numeric[0].mean);
      });
    for (let i = 1; i <= 60; i++) {
      const id = `p${String(i).padStart(6, '0')}`;
      // sepsis from hour 20: positive; from hour 3 (before the 6 h index): out; followed to hour 30 only: censored
      expect([id, y.get(id)]).toEqual([id, i % 5 === 0 ? 1 : i % 5 === 1 || i % 5 === 2 ? undefined : 0]);
      if (y.has(id)) expect(age.get(id)).toBeCloseTo(40 + i, 3);
    }
    expect(ds.cohort.exclusions).toEqual({ 'outcome time before index': 12, 'censored before horizon': 12 });
    expect(ds.cohort.warnings ?? []).toEqual([]);
  });

  it('warns when a column read as a per-patient value varies within an id', async () => {
    const spec = physionet2019();
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('numeric: [Age, Gender]', 'numeric: [Age, Gender, HR]'));
    const ds = await prepareDataset(spec, { quiet: true, cache: false });
    expect(ds.cohort.warnings?.join('\n')).toMatch(/tables\.stays\.first_row: 'HR' \(in 60 of 60 ids\) takes several values within an id; the first row's value is used/);
  });

  it('shows the warnings gathered before a build fails (they often explain the error)', async () => {
    const spec = physionet2019();
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('numeric: [Age, Gender]', 'numeric: [Age, Gender, HR]').replace('event_values: [1]', 'event_values: [7]'));
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true));
    try {
      await expect(prepareDataset(spec, { quiet: false, cache: false })).rejects.toThrow(/event_values/);
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toMatch(/warning: tables\.stays\.first_row: 'HR' \(in 60 of 60 ids\) takes several values within an id/);
  });

  it('keeps the earliest row by time, whatever the file order', async () => {
    const spec = physionet2019();
    const dir = join(spec, '..', 'training');
    const f = join(dir, 'p000003.psv');
    const [head, ...rows] = readFileSync(f, 'utf8').trim().split('\n');
    writeFileSync(f, [head, ...rows.reverse()].join('\n') + '\n');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('numeric: [Age, Gender]', 'numeric: [Age, Gender, O2Sat]'));
    const ds = await prepareDataset(spec, { quiet: true, cache: false });
    const demo = ds.modalities.findIndex((m) => m.name === 'demo');
    const st = (ds.state as { modalities: { state: { numeric: { column: string; mean: number; std: number }[] } }[] }).modalities[demo].state;
    const k = st.numeric.findIndex((c) => c.column === 'O2Sat');
    let seen = 0;
    for (const s of Object.values(ds.splits)) {
      const r = s.ids.indexOf('p000003');
      if (r >= 0) seen++;
      // hour 1's O2Sat (95 + 1 % 4 = 96), not the last row's
      if (r >= 0) expect(s.values.demo[r * ds.modalities[demo].shape[0] + k] * st.numeric[k].std + st.numeric[k].mean).toBeCloseTo(96, 3);
    }
    expect(seen).toBe(1);
  });

  it('counts a value missing from some rows as varying, never warns of the time it orders by, and says when file order is used', async () => {
    // 40 ids of two rows, written latest first: lac only on the earlier row of even ids (lost if the wrong row were
    // kept, and NULL on the other row: count DISTINCT alone skips NULL), age constant, t the cohort's index time.
    const dir = tempDir();
    const rows = ['id,t,tt,age,lac,y'];
    for (let i = 1; i <= 40; i++) {
      rows.push(`${i},2,10:00,${40 + i},,${i % 2}`);
      rows.push(`${i},1,2:00,${40 + i},${i % 2 === 0 ? 3 : ''},${i % 2}`);
    }
    rows.push(",1,2:00,99,,0", ",2,2:00,98,,1"); // rows without an id: no patient's, left out (not collapsed into one)
    writeFileSync(join(dir, 't.csv'), rows.join('\n') + '\n');
    const spec = (time: string) => `name: x
tables:
  t: { file: t.csv, id: id, time: ${time}, first_row: true }
cohort: { table: t, index_time: ${time} }
label: { column: y }
modalities:
  m: { type: tabular, table: t, numeric: [age, lac] }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'a.yaml'), spec('t'));
    const ds = await prepareDataset(join(dir, 'a.yaml'), { quiet: true, cache: false });
    const w = ds.cohort.warnings?.join('\n') ?? '';
    expect(w).toMatch(/tables\.t\.first_row: 'lac' \(in 20 of 40 ids\) takes several values within an id/);
    expect(w).not.toMatch(/'t' \(in/);
    expect(w).not.toMatch(/not its earliest/);
    const n = Object.values(ds.splits).reduce((a, sp) => a + sp.ids.length, 0);
    expect([n, ds.cohort.exclusions?.['no id']]).toEqual([40, 2]);
    // by elapsed times written as text ("10:00" sorts before "2:00"): file order, said so
    // (index at day 1, after every row's hours; lac left out: in file order every kept row lacks it, and a column
    // no training patient has is an error)
    writeFileSync(join(dir, 'b.yaml'), spec('tt').replace('index_time: tt', 'index_time: 1').replace('numeric: [age, lac]', 'numeric: [age]'));
    const db = await prepareDataset(join(dir, 'b.yaml'), { quiet: true, cache: false });
    expect(db.cohort.warnings?.join('\n')).toMatch(/tables\.t\.first_row: each id's first row is its first in the file, not its earliest: the time column 'tt' holds (TIME|VARCHAR) values/);
    // with lac, file order keeps only rows without it: nothing to learn from, said
    writeFileSync(join(dir, 'c.yaml'), spec('tt').replace('index_time: tt', 'index_time: 1'));
    await expect(prepareDataset(join(dir, 'c.yaml'), { quiet: true, cache: false })).rejects.toThrow(/c\.yaml: modalities\.m: numeric 'lac' has no value in any training patient \(an empty column\?\)/);
  });

  it('says so when hourly times are read as days while the spec writes its durations in hours (time_unit forgotten)', async () => {
    const spec = physionet2019();
    writeFileSync(spec, readFileSync(spec, 'utf8').replaceAll(', time_unit: hours', ''));
    const said = await prepareDataset(spec, { quiet: true, cache: false }).then((ds) => ds.cohort.warnings?.join('\n') ?? '', (e: Error) => e.message);
    expect(said).toMatch(/tables\.hours, tables\.stays: their numeric times are read as days \(no time_unit\), while the spec's durations are parts of a day \(cohort\.index_offset 6 h, modalities\.vitals\.window\.start -6 h\); if they count hours or minutes, add time_unit: hours/);
    // a bare fraction of days (5 × 365.25) is days, not hours: no note either
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('horizon: 24 h', 'horizon: 1826.25').replace('index_offset: 6 h', 'index_offset: 1').replace('start: -6 h', 'start: -2'));
    const bare = await prepareDataset(spec, { quiet: true, cache: false }).then((ds) => ds.cohort.warnings?.join('\n') ?? '', (e: Error) => e.message);
    expect(bare).not.toMatch(/parts of a day/);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('horizon: 1826.25', 'horizon: 24 h').replace('index_offset: 1', 'index_offset: 6 h').replace('start: -2', 'start: -6 h'));
    // the same spec in whole days: no note
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('index_offset: 6 h', 'index_offset: 1').replace('start: -6 h', 'start: -2').replace('horizon: 24 h', 'horizon: 2'));
    const quiet = await prepareDataset(spec, { quiet: true, cache: false }).then((ds) => ds.cohort.warnings?.join('\n') ?? '', (e: Error) => e.message);
    expect(quiet).not.toMatch(/read as days/);
  });

  it('orders text times by tables.NAME.time_format (not file order)', async () => {
    // 40 ids, three rows each written latest first, "%d/%m/%Y %H:%M" times; the earliest row holds w = 100
    const dir = tempDir();
    const rows = ['id;zeit;w;y'];
    for (let i = 1; i <= 40; i++) for (const [d, w] of [[12, 70], [3, 80], [1, 100]]) rows.push(`${i};${String(d).padStart(2, '0')}/02/2021 08:00;${w};${i % 2}`);
    writeFileSync(join(dir, 't.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 's.yaml'), `name: x
tables:
  t: { file: t.csv, id: id, delimiter: ";", time: zeit, time_format: "%d/%m/%Y %H:%M", first_row: true }
cohort: { table: t, index_time: zeit }
label: { column: y }
modalities:
  m: { type: tabular, table: t, numeric: [w] }
split: { method: random, seed: 0 }
`);
    const ds = await prepareDataset(join(dir, 's.yaml'), { quiet: true, cache: false });
    const st = (ds.state as { modalities: { state: { numeric: { mean: number }[] } }[] }).modalities[0].state;
    expect(st.numeric[0].mean).toBeCloseTo(100, 6);
    expect(ds.cohort.warnings?.join('\n') ?? '').not.toMatch(/not its earliest/);
    // a value off the layout is an error naming it (it would sort last and be dropped unseen)
    writeFileSync(join(dir, 't.csv'), rows.join('\n').replace('01/02/2021 08:00', '2021-02-01 08:00') + '\n');
    await expect(prepareDataset(join(dir, 's.yaml'), { quiet: true, cache: false })).rejects.toThrow(/t\.csv: line \d+, column 'zeit': time "2021-02-01 08:00" does not match time_format "%d\/%m\/%Y %H:%M" \(s\.yaml: tables\.t\.first_row\)/);
  });

  it('needs an id column', () => {
    expect(() => parseSpec('name: x\ntables:\n  t: { file: t.csv, id: _row, first_row: true }\ncohort: { table: t, index_time: 0 }\nlabel: { column: y }\nmodalities:\n  m: { type: tabular, table: t, numeric: [a] }\n', 'x.yaml')).toThrow(/tables\.t\.first_row: first_row keeps one row per id/);
  });
});
