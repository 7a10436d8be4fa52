// Friction found by writing specs for unfamiliar multi-table data from the docs alone: an index time that is
// a timestamp plus an offset (MIMIC: admittime + 24 h), yes/no event flags, event values that never occur,
// tables keyed by another id than the cohort, and a split column mapping one value to two splits.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { loadSpec } from '../src/data/spec.js';
import { transformPatients } from '../src/data/transform.js';
import type { SplitArrays } from '../src/data/types.js';
import { writeFixture } from './fixtures/data/helpers.js';

const N = 40;
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
const H = 3600e3;

/**
 * Admissions with ISO admittimes; by default odd patients have a lab 12 h after admission, even ones only 30 h after
 * (`labTime`: patient i's lab time as written in the file, from its admission instant).
 */
function mimicLike(specExtra: { cohort?: string; cxrId?: string; labTime?: (i: number, at: number) => string } = {}): string {
  const labTime = specExtra.labTime ?? ((i: number, at: number) => iso(at + (i % 2 ? 12 : 30) * H));
  const adm = ['hadm_id,subject_id,admittime,died,age'];
  const labs = ['subject_id,charttime,itemid,valuenum'];
  const cxr = ['hadm_id,subject_id,e0,e1'];
  const t0 = Date.UTC(2150, 0, 1);
  for (let i = 1; i <= N; i++) {
    const at = t0 + i * 97 * H;
    adm.push(`${1000 + i},${i},${iso(at)},${i % 4 === 0 ? 1 : 0},${40 + i}`);
    labs.push(`${i},${labTime(i, at)},50912,${1 + (i % 5)}`);
    if (i % 2) cxr.push(`${1000 + i},${i},${i / 10},${-i / 10}`);
  }
  const spec = `name: mimic-like
tables:
  admissions: { file: admissions.csv, id: subject_id }
  labs: { file: labs.csv, id: subject_id, time: charttime }
  cxr: { file: cxr.csv, id: ${specExtra.cxrId ?? 'subject_id'} }
cohort: { table: admissions, index_time: admittime${specExtra.cohort ?? ''} }
label: { column: died }
modalities:
  demo: { type: tabular, table: admissions, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: itemid, value: valuenum, window: { start: -2, end: 0 }, bins: 2 }
  cxr: { type: embedding, table: cxr, column_prefix: e }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 }, seed: 1 }
`;
  return writeFixture({ 'admissions.csv': adm.join('\n') + '\n', 'labs.csv': labs.join('\n') + '\n', 'cxr.csv': cxr.join('\n') + '\n', 'spec.yaml': spec });
}

/** id → has modality k, over all splits. */
function presence(splits: Record<string, SplitArrays>, K: number, k: number): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const s of Object.values(splits)) s.ids.forEach((id, i) => out.set(id, s.mask[i * K + k] === 1));
  return out;
}

describe('cohort.index_offset (prediction time = a timestamp column + days)', () => {
  it('moves the index: a lab 12 h after admission is inside a window ending 24 h after it, one at 30 h is not', async () => {
    const dir = mimicLike({ cohort: ', index_offset: 1' });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const labs = presence(ds.splits, 3, 1);
    expect(labs.size).toBe(N);
    for (const [id, has] of labs) expect(has).toBe(Number(id) % 2 === 1);
    // the same run's state applied to JSON records: the record's index_time is the column's value (admittime)
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const rec = (id: string, hours: number) => ({
      id, index_time: '2160-01-01 00:00:00',
      admissions: { age: 60, admittime: '2160-01-01 00:00:00' },
      labs: [{ charttime: iso(Date.UTC(2160, 0, 1) + hours * H), itemid: 50912, valuenum: 3 }],
    });
    const out = await transformPatients(spec, dir, ds.state, { records: [rec('a', 12), rec('b', 30)] });
    expect(Array.from(out.mask)).toEqual([1, 1, 0, 1, 0, 0]);
    // times with a zone are instants: index 10:00+02:00 (08:00 UTC) + 1 day; a lab at 09:30 UTC the next day is
    // after the prediction time, one at 09:30+02:00 (07:30 UTC) before it
    const zoned = (id: string, t: string) => ({
      id, index_time: '2160-01-01T10:00:00+02:00', admissions: { age: 60 }, labs: [{ charttime: t, itemid: 50912, valuenum: 3 }],
    });
    const z = await transformPatients(spec, dir, ds.state, { records: [zoned('late', '2160-01-02T09:30:00Z'), zoned('early', '2160-01-02T09:30:00+02:00')] });
    const byId = Object.fromEntries(z.ids.map((id, i) => [id, z.mask[i * 3 + 1]]));
    expect(byId).toEqual({ late: 0, early: 1 });
  }, 60_000);

  it('without the offset the window ends at admission and no lab is inside it', async () => {
    const dir = mimicLike();
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    for (const has of presence(ds.splits, 3, 1).values()) expect(has).toBe(false);
  }, 60_000);
});

describe('a time column mixing zoned and naive values', () => {
  // DuckDB types such a column TIMESTAMPTZ and reads its naive values in the session's zone: that must be UTC on
  // every connection (the files are read on connections of their own), not the machine's zone.
  it('reads naive times as UTC whatever the machine time zone is', async () => {
    // one hour before admission: inside the window [-2 d, 0]; in New York's zone a naive time read as local
    // would land 4 h after admission, outside it
    const dir = mimicLike({ labTime: (i, at) => `${iso(at - H)}${i % 2 ? 'Z' : ''}` });
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const build = fileURLToPath(new URL('../src/data/build.ts', import.meta.url));
    const script = `const { prepareDataset } = await import(${JSON.stringify(build)});
const ds = await prepareDataset(${JSON.stringify(join(dir, 'spec.yaml'))}, { quiet: true, cache: false });
let has = 0, n = 0;
for (const s of Object.values(ds.splits)) for (let i = 0; i < s.ids.length; i++) { n++; has += s.mask[i * 3 + 1]; }
process.stdout.write(JSON.stringify({ has, n }));`;
    for (const tz of ['UTC', 'America/New_York']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
      expect({ tz, ...JSON.parse(out) }).toEqual({ tz, has: N, n: N });
    }
  }, 120_000);

  it('reads a column of dates beside times without any zone as before (a date\'s "-05" is its day, not an offset)', async () => {
    const dir = mimicLike({ labTime: (i, at) => (i % 2 ? iso(at - H) : iso(at - 2 * 24 * H).slice(0, 10)) });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.warnings?.join('\n') ?? '').not.toMatch(/has no zone/);
  });

  it('is an error when the zoned values have another offset than UTC (the naive ones would move by it)', async () => {
    const dir = mimicLike({ labTime: (i, at) => (i % 2 ? `${iso(at - H)}-05:00` : iso(at - H)) });
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /labs\.csv: line \d+, column 'charttime': time "[^"]+" has no zone, while line \d+ has one \("[^"]+-05:00"\): a time without a zone is read as UTC/,
    );
  });
});

describe('tables keyed by another id than the cohort', () => {
  it('is an error naming the table, both id columns and example ids', async () => {
    const dir = mimicLike({ cxrId: 'hadm_id' });
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /modalities\.cxr\.table: none of the 20 ids in cxr\.csv \(column 'hadm_id', e\.g\. "1001".*admissions\.csv column 'subject_id', e\.g\. "1"/,
    );
  }, 60_000);
});

describe('a filter on a column with missing values', () => {
  it('leaves those rows out (as SQL does) and says how many, and how to keep them', async () => {
    const { smallDataset } = await import('./fixtures/data/helpers.js');
    const rows = ['id,age,sex,y,index_day'];
    for (let i = 1; i <= 40; i++) rows.push(`${i},${i % 10 === 0 ? '' : i === 7 ? 12 : 40 + i},${i % 2 ? 'F' : 'M'},${i % 4 === 0 ? 1 : 0},100`);
    const dir = smallDataset({ patients: rows.join('\n') + '\n' });
    const specPath = join(dir, 'spec.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(specPath, readFileSync(specPath, 'utf8').replace('index_time: index_day }', 'index_time: index_day, filters: ["age >= 18"] }'));
    const ds = await prepareDataset(specPath, { quiet: true, cache: false });
    expect(ds.cohort.exclusions['filter: age >= 18']).toBe(5); // patient 7 (age 12) and the 4 blank ages
    expect(ds.cohort.warnings).toEqual([
      'cohort.filters[0] "age >= 18" left out 5 rows, 4 of them because age is missing there (the filter is neither true nor false for them); to keep them, write "(age >= 18) OR age IS NULL"',
    ]);
    writeFileSync(specPath, readFileSync(specPath, 'utf8').replace('"age >= 18"', '"(age >= 18) OR age IS NULL"'));
    const kept = await prepareDataset(specPath, { quiet: true, cache: false });
    expect(kept.cohort.exclusions['filter: (age >= 18) OR age IS NULL']).toBe(1);
    expect(kept.cohort.warnings).toBeUndefined();
  }, 60_000);
});

describe('wide embedding tables', () => {
  const wide = (cols: number, bad?: { col: number; value: string }) => {
    const dir = mimicLike();
    const head = ['hadm_id', 'subject_id', ...Array.from({ length: cols }, (_, j) => `e${j}`)];
    const rows = [head.join(',')];
    for (let i = 1; i <= N; i += 2) rows.push([1000 + i, i, ...Array.from({ length: cols }, (_, j) => (bad && i === 5 && j === bad.col ? bad.value : ((i * (j + 1)) % 7) / 7))].join(','));
    writeFileSync(join(dir, 'cxr.csv'), rows.join('\n') + '\n');
    return join(dir, 'spec.yaml');
  };
  it('a non-finite value among hundreds of columns names its column and line', async () => {
    await expect(prepareDataset(wide(600, { col: 417, value: 'inf' }), { quiet: true, cache: false })).rejects.toThrow(/cxr\.csv: line 4, column 'e417': non-finite value inf/);
    const ds = await prepareDataset(wide(600), { quiet: true, cache: false });
    expect(ds.modalities[2].shape).toEqual([600]);
  }, 60_000);
  it('more columns than an embedding may have is an error before any is checked', async () => {
    await expect(prepareDataset(wide(8193), { quiet: true, cache: false })).rejects.toThrow(/modalities\.cxr\.column_prefix: 8193 columns of table 'cxr' is more than an embedding may have \(8192\)/);
  }, 60_000);
});

describe('ids that match the cohort only after cleaning', () => {
  it('are counted in a warning with examples; exactly written ids give none', async () => {
    const clean = await prepareDataset(join(mimicLike(), 'spec.yaml'), { quiet: true, cache: false });
    expect(clean.cohort.warnings).toBeUndefined();
    const dir = mimicLike();
    // two of the embedding rows carry a trailing space in their id, one a leading zero
    const cxr = ['hadm_id,subject_id,e0,e1'];
    for (let i = 1; i <= N; i += 2) cxr.push(`${1000 + i},${i === 1 ? '1 ' : i === 3 ? '3 ' : i === 5 ? '05' : i},${i / 10},${-i / 10}`);
    writeFileSync(join(dir, 'cxr.csv'), cxr.join('\n') + '\n');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.warnings).toHaveLength(1);
    expect(ds.cohort.warnings![0]).toMatch(/^modalities\.cxr\.table: 3 ids of cxr\.csv match a cohort id only when spaces, case and leading zeros are ignored \(e\.g\. "05" for "5", "1 " for "1", "3 " for "3"\): their rows are not used/);
    // and those patients really are without the modality
    const cxrOf = presence(ds.splits, 3, 2);
    expect([cxrOf.get('1'), cxrOf.get('3'), cxrOf.get('5'), cxrOf.get('7')]).toEqual([false, false, false, true]);
    // inspect counts the ids of each table that are not cohort rows
    expect(ds.cohort.table_ids).toEqual({ labs: { ids: 40, in_cohort: 40 }, cxr: { ids: 20, in_cohort: 17 } });
    const { formatSummary, summarize } = await import('../src/data/summary.js');
    expect(formatSummary(summarize(ds), ['demo', 'labs', 'cxr'])).toContain('  table cxr: 3 of its 20 ids are not cohort rows (excluded, or not in the cohort table): their rows are not used');
  }, 60_000);

  it('in a table linked by another id too (ids "00001000" for 1000 were dropped without a word), and in the error when none match as written', async () => {
    const dir = mimicLike();
    const spec = readFileSync(join(dir, 'spec.yaml'), 'utf8')
      .replace('admissions: { file: admissions.csv, id: subject_id }', 'admissions: { file: admissions.csv, id: hadm_id }')
      .replace('labs: { file: labs.csv, id: subject_id, time: charttime }', 'labs: { file: labs.csv, id: subject_id, time: charttime, link: { table: admissions, column: subject_id } }')
      .replace('cxr: { file: cxr.csv, id: subject_id }', 'cxr: { file: cxr.csv, id: hadm_id }');
    writeFileSync(join(dir, 'spec.yaml'), spec);
    const labs = readFileSync(join(dir, 'labs.csv'), 'utf8').split('\n');
    const padded = (ids: (l: string) => boolean) => labs.map((l, k) => (k > 0 && l && ids(l) ? `000${l}` : l)).join('\n');
    writeFileSync(join(dir, 'labs.csv'), padded((l) => ['1,', '2,', '3,'].some((p) => l.startsWith(p))));
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.warnings).toHaveLength(1);
    expect(ds.cohort.warnings![0]).toMatch(/^modalities\.labs\.table: 3 ids of labs\.csv match a cohort id only when spaces, case and leading zeros are ignored \(e\.g\. "0001" for "1", "0002" for "2", "0003" for "3"\)/);
    expect(ds.cohort.table_ids?.labs).toEqual({ ids: 40, in_cohort: 37, link: 'admissions.subject_id' });
    // Every id padded: the error says so.
    writeFileSync(join(dir, 'labs.csv'), padded(() => true));
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/none of the 40 ids in labs\.csv .* \(tables\.labs\.link\); 40 ids of labs\.csv match a cohort id only when spaces, case and leading zeros are ignored/);
  }, 60_000);
});

function eventData(event: (i: number) => string, eventValues: string, extraSpec = ''): string {
  const rows = ['pid;arm;index_day;event;event_day;site'];
  for (let i = 0; i < N; i++) rows.push(`P-${i};${i % 3 ? 'x' : 'y'};10;${event(i)};${10 + (i % 2 ? 100 : 500)};${i % 5 ? 'A' : 'B'}`);
  const spec = `name: events
tables:
  patients: { file: patients.csv, id: pid, delimiter: ";" }
cohort: { table: patients, index_time: index_day }
label: { event: event, event_values: ${eventValues}, time: event_day, horizon: 365 }
modalities:
  base: { type: tabular, table: patients, categorical: [arm] }
${extraSpec}`;
  return writeFixture({ 'patients.csv': rows.join('\n') + '\n', 'spec.yaml': spec });
}

describe('event labels', () => {
  it('a yes/no event column (read as BOOLEAN) matches event_values ["yes"]', async () => {
    const dir = eventData((i) => (i % 2 ? 'yes' : 'no'), '["yes"]');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const all = Object.values(ds.splits).flatMap((s) => s.ids.map((id, k) => [id, s.labels[k]] as const));
    expect(all.length).toBe(N);
    for (const [id, y] of all) expect(y).toBe(Number(id.slice(2)) % 2);
  }, 60_000);

  it('event values that never occur are an error listing the values present', async () => {
    const dir = eventData((i) => (i % 2 ? 'dead' : 'alive'), '[1]');
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /label\.event_values: none of \[1\] occurs in column 'event' of patients\.csv \(values there: "alive", "dead"\)/,
    );
  }, 60_000);
});

describe('split by column', () => {
  it('one value listed for two splits is an error saying so', async () => {
    const dir = eventData((i) => (i % 2 ? 'yes' : 'no'), '["yes"]', 'split: { method: column, column: site, values: { train: [A], val: [A], test: [B] } }\n');
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /split\.column 'site': value "A" is listed for both 'train' and 'val'/,
    );
  }, 60_000);
});

describe('tables.NAME.time_format', () => {
  const euro = (fmt: string, bad = false) => {
    const p = ['id;admit;y;age'];
    const v = ['id;when;hr'];
    for (let i = 0; i < N; i++) {
      const d = String(1 + (i % 28)).padStart(2, '0');
      p.push(`E${i};${d}/03/2021 08:00;${i % 4 === 0 ? 1 : 0};${30 + i}`);
      // odd patients: a reading 2 h before admission (inside the 1-day window); even: 2 days before (outside)
      v.push(`E${i};${i % 2 ? `${d}/03/2021 06:00` : `${d}/02/2021 06:00`};${60 + i}`);
    }
    if (bad) v.push(`E1;2021-03-02 06:00;70`);
    const spec = `name: eu
tables:
  patients: { file: patients.csv, id: id, delimiter: ";"${fmt} }
  vitals: { file: vitals.csv, id: id, time: when, delimiter: ";"${fmt} }
cohort: { table: patients, index_time: admit }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
  vitals: { type: timeseries, table: vitals, columns: [hr], window: { start: -1 }, bins: 1 }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    return writeFixture({ 'patients.csv': p.join('\n') + '\n', 'vitals.csv': v.join('\n') + '\n', 'spec.yaml': spec });
  };
  const FMT = ', time_format: "%d/%m/%Y %H:%M"';

  it('reads day/month/year times with the given layout', async () => {
    const ds = await prepareDataset(join(euro(FMT), 'spec.yaml'), { quiet: true, cache: false });
    const vit = presence(ds.splits, 2, 1);
    expect(vit.size).toBe(N);
    for (const [id, has] of vit) expect(has).toBe(Number(id.slice(1)) % 2 === 1);
  }, 60_000);

  it('without it, the error says how to give the layout; a value off the layout is named with its line', async () => {
    await expect(prepareDataset(join(euro(''), 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /vitals\.csv: line 2, column 'when': time "01\/02\/2021 06:00" is neither a number of days nor a timestamp .*give tables\.vitals\.time_format/,
    );
    await expect(prepareDataset(join(euro(FMT, true), 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /vitals\.csv: line 42, column 'when': time "2021-03-02 06:00" does not match time_format "%d\/%m\/%Y %H:%M"/,
    );
    // a format DuckDB cannot parse is the spec's mistake (exit 2), not an internal error
    const { CdmmError } = await import('../src/util/errors.js');
    const bad = await prepareDataset(join(euro(', time_format: "%Q%%%"'), 'spec.yaml'), { quiet: true, cache: false }).catch((e) => e);
    expect(bad).toBeInstanceOf(CdmmError);
    expect(bad.message).toMatch(/spec\.yaml: tables\.vitals\.time_format: "%Q%%%" is not a strptime format \(.*%Q.*\); e\.g\. "%d\/%m\/%Y %H:%M"/);
  }, 60_000);
});

describe('tables.NAME.na_values', () => {
  const labsWith = (na: string) => {
    const p = ['id,y,age'];
    const l = ['id,day,itemid,valuenum'];
    for (let i = 0; i < N; i++) {
      p.push(`${i},${i % 4 === 0 ? 1 : 0},${30 + i}`);
      l.push(`${i},-1,50912,${i === 3 ? 'ERROR' : i === 5 ? '___' : 1 + (i % 7)}`);
    }
    const spec = `name: na
tables:
  patients: { file: patients.csv, id: id }
  labs: { file: labs.csv.gz, id: id, time: day${na} }
cohort: { table: patients, index_time: 0 }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: itemid, value: valuenum, window: { start: -2 }, bins: 1 }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    const dir = writeFixture({ 'patients.csv': p.join('\n') + '\n', 'spec.yaml': spec });
    writeFileSync(join(dir, 'labs.csv.gz'), gzipSync(l.join('\n') + '\n'));
    return dir;
  };

  it('junk markers are an error pointing at na_values; listed, they are missing values', async () => {
    await expect(prepareDataset(join(labsWith(''), 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /labs\.csv\.gz: line 5, column 'valuenum': non-numeric value "ERROR" in a column declared numeric \(spec\.yaml: modalities\.labs\.value; to read such markers as missing, list them in tables\.labs\.na_values, or give them a value in tables\.labs\.values\.valuenum\)/,
    );
    const ds = await prepareDataset(join(labsWith(', na_values: [ERROR, "___"]'), 'spec.yaml'), { quiet: true, cache: false });
    const labs = presence(ds.splits, 2, 1);
    expect(labs.size).toBe(N);
    // a row whose only value is missing is no observation
    for (const [id, has] of labs) expect(has).toBe(id !== '3' && id !== '5');
  }, 60_000);
});

describe('tables.NAME.decimal', () => {
  it('reads decimal commas in a semicolon-separated file', async () => {
    const p = ['pid;bmi;y'];
    for (let i = 0; i < N; i++) p.push(`P-${i};${i === 7 ? '' : `${20 + i},5`};${i % 4 === 0 ? 1 : 0}`);
    const spec = `name: dec
tables:
  patients: { file: patients.csv, id: pid, delimiter: ";", decimal: "," }
cohort: { table: patients, index_time: 0 }
label: { column: y }
modalities:
  base: { type: tabular, table: patients, numeric: [bmi] }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    const dir = writeFixture({ 'patients.csv': p.join('\n') + '\n', 'spec.yaml': spec });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const st = (ds.state as { modalities: { state: { numeric: { mean: number }[] } }[] }).modalities[0].state;
    const train = ds.splits.train.ids.filter((id) => id !== 'P-7');
    const mean = train.reduce((a, id) => a + 20 + Number(id.slice(2)) + 0.5, 0) / train.length;
    expect(st.numeric[0].mean).toBeCloseTo(mean, 6);
  }, 60_000);

  const withDecimal = (bmi: (i: number) => string, table: string) => {
    const p = ['pid;bmi;y'];
    for (let i = 0; i < N; i++) p.push(`P-${i};${bmi(i)};${i % 4 === 0 ? 1 : 0}`);
    const spec = `name: dec
tables:
  patients: { file: patients.csv, id: pid, delimiter: ";", decimal: ",", ${table} }
cohort: { table: patients, index_time: 0 }
label: { column: y }
modalities:
  base: { type: tabular, table: patients, numeric: [bmi] }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    return join(writeFixture({ 'patients.csv': p.join('\n') + '\n', 'spec.yaml': spec }), 'spec.yaml');
  };

  it('reads decimal commas with a values map on the same column, its mapped numbers too', async () => {
    // "NA" and "<5" make the column text; the map turns them into null and 2.5, the rest are decimal commas.
    const bmi = (i: number) => (i === 3 ? 'NA' : i === 9 ? '<5' : `${20 + i},5`);
    const ds = await prepareDataset(withDecimal(bmi, 'values: { bmi: { "NA": null, "<5": 2.5 } }'), { quiet: true, cache: false });
    const st = (ds.state as { modalities: { state: { numeric: { mean: number }[] } }[] }).modalities[0].state;
    const train = ds.splits.train.ids.filter((id) => id !== 'P-3');
    const mean = train.reduce((a, id) => a + (id === 'P-9' ? 2.5 : 20 + Number(id.slice(2)) + 0.5), 0) / train.length;
    expect(st.numeric[0].mean).toBeCloseTo(mean, 6);
  }, 60_000);

  it("names the line of a value written with '.' in a decimal-comma file (not the first comma value)", async () => {
    const bmi = (i: number) => (i === 5 ? '52.5' : i === 2 ? 'NA' : `${20 + i},5`);
    await expect(prepareDataset(withDecimal(bmi, 'values: { bmi: { "NA": null } }'), { quiet: true, cache: false })).rejects.toThrow(
      /patients\.csv: line 7, column 'bmi': non-numeric value "52\.5" .*the file's decimal separator is ',' \(tables\.patients\.decimal\), so '\.' is not read as a decimal point \(nor as a thousands separator\): write "52,5" for the decimal, or "525" for the whole number/,
    );
    // Without the map, the first non-number is named (line 4: NA), with both fixes offered.
    await expect(prepareDataset(withDecimal(bmi, 'na_values: []'), { quiet: true, cache: false })).rejects.toThrow(
      /line 4, column 'bmi': non-numeric value "NA" .*list them in tables\.patients\.na_values, or give them a value in tables\.patients\.values\.bmi/,
    );
  }, 60_000);
});

describe('codes from a table without times (untimed)', () => {
  const data = (untimed: string) => {
    const p = ['id,y,age'];
    const dx = ['id,icd_code'];
    for (let i = 0; i < N; i++) {
      p.push(`${i},${i % 4 === 0 ? 1 : 0},${30 + i}`);
      if (i % 2) dx.push(`${i},I10`, `${i},${i % 4 === 1 ? 'E119' : 'N179'}`);
    }
    const spec = `name: untimed
tables:
  patients: { file: patients.csv, id: id }
  dx: { file: dx.csv, id: id }
cohort: { table: patients, index_time: 0 }
label: { column: y }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
  history: { type: codes, table: dx, code: icd_code, min_count: 1${untimed} }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    return writeFixture({ 'patients.csv': p.join('\n') + '\n', 'dx.csv': dx.join('\n') + '\n', 'spec.yaml': spec });
  };

  it('without untimed the spec error says how to use it; with it every row counts', async () => {
    expect(() => loadSpec(join(data(''), 'spec.yaml'))).toThrow(
      /tables\.dx\.time: table 'dx' is used by codes modality 'history' and needs a time column \(or, when all its rows are known before the prediction time, set modalities\.history\.untimed: true\)/,
    );
    const dir = data(', untimed: true');
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    for (const [id, has] of presence(ds.splits, 2, 1)) expect(has).toBe(Number(id) % 2 === 1);
    // every row counts as known at the prediction time: said, since a stay's own later records would leak
    expect(ds.cohort.warnings?.join('\n')).toMatch(/modalities\.history\.untimed: table 'dx' has no time, so every one of its rows for a patient counts as known at the prediction time/);
    const spec = loadSpec(join(dir, 'spec.yaml'));
    const out = await transformPatients(spec, dir, ds.state, { records: [{ id: 'a', patients: { age: 50 }, dx: [{ icd_code: 'I10' }] }, { id: 'b', patients: { age: 50 } }] });
    expect(Array.from(out.mask)).toEqual([1, 1, 1, 0]);
  }, 60_000);

  it('untimed on a table that has a time column reads its rows without a time, and only those', async () => {
    const p = ['id,y,index_day'];
    const dx = ['id,day,c'];
    for (let i = 1; i <= 60; i++) {
      p.push(`${i},${i % 3 === 0 ? 1 : 0},100`);
      dx.push(`${i},,${i % 2 ? 'STATIC_A' : 'STATIC_B'}`, `${i},90,TIMED_BEFORE`, `${i},120,TIMED_AFTER`);
    }
    const dir = writeFixture({
      'p.csv': p.join('\n') + '\n',
      'dx.csv': dx.join('\n') + '\n',
      'spec.yaml': `name: x
tables:
  p: { file: p.csv, id: id }
  dx: { file: dx.csv, id: id, time: day }
cohort: { table: p, index_time: index_day }
label: { column: y }
modalities:
  static: { type: codes, table: dx, code: c, untimed: true, min_count: 1 }
  history: { type: codes, table: dx, code: c, window: { start: -30 }, min_count: 1 }
`,
    });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.modalities.map((m) => m.features)).toEqual([['STATIC_A', 'STATIC_B', '<other>'], ['TIMED_BEFORE', '<other>']]);
    expect((ds.cohort.warnings ?? []).some((w) => w.includes('no time (blank)'))).toBe(false);
  }, 60_000);
});

describe('event label with index_offset', () => {
  it('times the horizon from the shifted index: an event in the first 24 h is before the index', async () => {
    const adm = ['id,admittime,died,deathtime,age'];
    const t0 = Date.UTC(2150, 0, 1);
    for (let i = 0; i < N; i++) {
      const at = t0 + i * 50 * H;
      // i % 4 == 0: died 12 h after admission (before the prediction time); i % 4 == 1: died on day 5; else alive at day 30
      const dt = i % 4 === 0 ? at + 12 * H : i % 4 === 1 ? at + 5 * 24 * H : at + 30 * 24 * H;
      adm.push(`A${i},${iso(at)},${i % 4 < 2 ? 1 : 0},${iso(dt)},${40 + i}`);
    }
    const spec = `name: offset-label
tables:
  adm: { file: adm.csv, id: id }
cohort: { table: adm, index_time: admittime, index_offset: 1 }
label: { event: died, time: deathtime, horizon: 7 }
modalities:
  demo: { type: tabular, table: adm, numeric: [age] }
split: { method: random, fractions: { train: 0.5, val: 0.25, test: 0.25 } }
`;
    const dir = writeFixture({ 'adm.csv': adm.join('\n') + '\n', 'spec.yaml': spec });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.exclusions['outcome time before index']).toBe(N / 4);
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, k) => expect(s.labels[k]).toBe(Number(id.slice(1)) % 4 === 1 ? 1 : 0));
  }, 60_000);
});

describe('a label table keyed by another id', () => {
  it('is an error with examples of both ids, not "no patient left"', async () => {
    const p = ['id,age'];
    const o = ['mrn,y'];
    for (let i = 0; i < N; i++) p.push(`${i},${30 + i}`), o.push(`MRN${i},${i % 4 === 0 ? 1 : 0}`);
    const spec = `name: lab
tables:
  p: { file: p.csv, id: id }
  outcomes: { file: o.csv, id: mrn }
cohort: { table: p, index_time: 0 }
label: { column: y, table: outcomes }
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
`;
    const dir = writeFixture({ 'p.csv': p.join('\n') + '\n', 'o.csv': o.join('\n') + '\n', 'spec.yaml': spec });
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(
      /spec\.yaml: label\.table: none of the 40 ids in o\.csv \(column 'mrn', e\.g\. "MRN0", "MRN1", "MRN10"\) is an id of the cohort table p\.csv \(column 'id', e\.g\. "0", "1", "10"\)/,
    );
  }, 60_000);
});

describe('a one-row label table whose survivors have no time', () => {
  it('is warned of with the fix (a death time, blank for survivors, as label.time left most of a cohort out); a time for everyone gives no warning', async () => {
    const p = ['id,age'];
    const d = ['id,deathtime,last_seen'];
    const dl = ['id,died,t'];
    for (let i = 0; i < N; i++) {
      p.push(`${i},${30 + i}`);
      const dead = i % 4 === 0;
      d.push(`${i},${dead ? 100 + i : ''},${dead ? 100 + i : 900}`);
      dl.push(`${i},${dead ? 1 : 0},${dead ? 100 + i : 900}`);
    }
    const spec = (label: string) => `name: dod
tables:
  p: { file: p.csv, id: id }
  deaths: { file: d.csv, id: id }
  dl: { file: dl.csv, id: id }
cohort: { table: p, index_time: 0 }
label: ${label}
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
split: { method: random, seed: 1 }
`;
    const dir = writeFixture({ 'p.csv': p.join('\n') + '\n', 'd.csv': d.join('\n') + '\n', 'dl.csv': dl.join('\n') + '\n', 'spec.yaml': spec('{ table: deaths, event: deathtime, event_values: any, time: deathtime, horizon: 365 }') });
    // All left out but the deaths: a one-class cohort, whose error says what label.time must be.
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/label\.time must be the event's time or, without the event, the end of follow-up/);
    // Half the survivors without a row's values: they alone are "label missing", and the warning says why.
    const half = ['id,died,t', ...Array.from({ length: N }, (_, i) => (i % 4 === 0 ? `${i},1,${100 + i}` : i % 2 ? `${i},,` : `${i},0,900`))];
    writeFileSync(join(dir, 'half.csv'), half.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), spec('{ table: half, event: died, time: t, horizon: 365 }').replace('dl: { file: dl.csv, id: id }', 'dl: { file: dl.csv, id: id }\n  half: { file: half.csv, id: id }'));
    const some = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(some.cohort.exclusions['label missing']).toBe(20);
    expect(some.cohort.warnings?.find((w) => w.startsWith('label: 20 of 40 cohort rows are left out as "label missing"'))).toMatch(/20 of them have a row in half\.csv without a time \(label\.time: t\).*the death time where there is one and the last-seen time otherwise/);
    // The common layout: a 0/1 flag with the time blank for those without the event; said the same way.
    writeFileSync(join(dir, 'half.csv'), ['id,died,t', ...Array.from({ length: N }, (_, i) => (i % 4 === 0 ? `${i},1,${100 + i}` : i % 2 ? `${i},0,` : `${i},0,900`))].join('\n') + '\n');
    const flag = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(flag.cohort.warnings?.find((w) => w.startsWith('label: 20 of 40'))).toMatch(/20 of them have a row in half\.csv without a time/);
    // Patients without a row at all: the hint is absent: negative, not label.time.
    writeFileSync(join(dir, 'half.csv'), ['id,died,t', ...Array.from({ length: N }, (_, i) => (i % 4 === 0 ? `${i},1,${100 + i}` : i % 2 ? '' : `${i},0,900`)).filter(Boolean)].join('\n') + '\n');
    const rows = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(rows.cohort.warnings?.find((w) => w.startsWith('label: 20 of 40'))).toMatch(/20 of them have no row in half\.csv\. If half lists only the patients with the event .*label\.absent: negative/);
    writeFileSync(join(dir, 'spec.yaml'), spec('{ table: dl, event: died, time: t, horizon: 365 }'));
    const fine = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(fine.cohort.exclusions['label missing'] ?? 0).toBe(0);
    expect(fine.cohort.warnings?.some((w) => w.includes('label missing')) ?? false).toBe(false);
  }, 60_000);
});

describe("the label table's ids", () => {
  it('an outcome row whose id matches a cohort id only after cleaning is named (it silently left the patient without the outcome)', async () => {
    const patients = ['pid,age,index_day'];
    const events = ['pid,day,event'];
    for (let i = 1; i <= 60; i++) {
      const id = String(i).padStart(6, '0');
      patients.push(`${id},${40 + (i % 30)},100`);
      // every third patient dies within the horizon; a death registry writing ids without their leading zeros for half of them
      if (i % 3 === 0) events.push(`${i % 6 === 0 ? String(i) : id},${110},death`);
      events.push(`${id},${200},last_contact`);
    }
    const spec = `name: registry
tables:
  patients: { file: patients.csv, id: pid }
  events: { file: events.csv, id: pid }
cohort: { table: patients, index_time: index_day }
label: { table: events, event: event, event_values: [death], time: day, horizon: 30 }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 }, seed: 1 }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
`;
    const dir = writeFixture({ 'patients.csv': patients.join('\n') + '\n', 'events.csv': events.join('\n') + '\n', 'spec.yaml': spec });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const w = (ds.cohort.warnings ?? []).find((x) => x.startsWith('label.table:'));
    expect(w).toMatch(/^label\.table: 10 ids of events\.csv match a cohort id only when spaces, case and leading zeros are ignored \(e\.g\. "12" for "000012", /);
    expect(ds.cohort.table_ids?.events).toEqual({ ids: 70, in_cohort: 60 });
  }, 60_000);
});

describe('filters on a cohort time read with time_format', () => {
  it("compare times, not text, and every exclusion count is the rows it left out (a US-format end time gave -1688)", async () => {
    const adm = ['pid,admit,disch,age,y'];
    const us = (d: Date) => `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()} ${String(d.getUTCHours()).padStart(2, '0')}:00`;
    let late = 0, ended = 0;
    for (let i = 1; i <= 60; i++) {
      const a = Date.UTC(2020, 6 + (i % 12), 1 + (i % 27), 8);
      const d = a + ((i % 5 === 0 ? 10 : 72) * 3600e3); // every 5th stay ends 10 h after admission, before the 24 h index
      const keep = d >= Date.UTC(2021, 0, 1);
      if (keep) { late++; if (i % 5 === 0) ended++; }
      adm.push(`${i},${us(new Date(a))},${us(new Date(d))},${50 + i % 20},${i % 3 === 0 ? 1 : 0}`);
    }
    const spec = (filter: string) => `name: f
tables:
  adm: { file: adm.csv, id: pid, time_format: "%m/%d/%Y %H:%M" }
cohort: { table: adm, index_time: admit, index_offset: 24 h, end_time: disch, filters: [${JSON.stringify(filter)}] }
label: { column: y }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 }, seed: 1 }
modalities:
  demo: { type: tabular, table: adm, numeric: [age] }
`;
    const dir = writeFixture({ 'adm.csv': adm.join('\n') + '\n', 'spec.yaml': spec("disch >= '2021-01-01'"), 'spec2.yaml': spec('disch > admit') });
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.exclusions["filter: disch >= '2021-01-01'"]).toBe(60 - late);
    expect(ds.cohort.exclusions['stay ended at or before the index time']).toBe(ended);
    expect(ds.cohort.included).toBe(late - ended);
    // A filter comparing two of its times is no binder error (the end time was still text for the filters).
    const ds2 = await prepareDataset(join(dir, 'spec2.yaml'), { quiet: true, cache: false });
    expect(ds2.cohort.exclusions['filter: disch > admit']).toBe(0);
  }, 60_000);
});

describe('a header that names a column twice', () => {
  it('is an error naming both positions (DuckDB renamed the second y to y_1: the spec read the first silently); lab and lab_1 both in the header are fine', async () => {
    const rows = (head: string) => [head, ...Array.from({ length: 40 }, (_, i) => `${i + 1},${i % 2},${40 + i},${(i * 7) % 3 === 0 ? 1 : 0},${i}`)].join('\n') + '\n';
    const spec = `name: d
tables:
  p: { file: p.csv, id: pid }
cohort: { table: p, index_time: 0 }
label: { column: y }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 }, seed: 1 }
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
`;
    const bad = writeFixture({ 'p.csv': rows('pid,y,age,y,x'), 'spec.yaml': spec });
    await expect(prepareDataset(join(bad, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/tables\.p\.file: .*p\.csv: the header names column "y" twice \(columns 2 and 4\), so a spec cannot say which one it means/);
    // Also when tables.NAME.columns loads only some columns, and when the two differ in case only (DuckDB renames Y too).
    const subset = writeFixture({ 'p.csv': rows('pid,y,age,y,x'), 'spec.yaml': spec.replace('p: { file: p.csv, id: pid }', 'p: { file: p.csv, id: pid, columns: [pid, y, age] }') });
    await expect(prepareDataset(join(subset, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/the header names column "y" twice \(columns 2 and 4\)/);
    const cased = writeFixture({ 'p.csv': rows('pid,Y,age,y,x'), 'spec.yaml': spec });
    await expect(prepareDataset(join(cased, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/the header names column "y" twice \(columns 2 and 4, as "Y" and "y": names are compared without case\)/);
    const ok = writeFixture({ 'p.csv': rows('pid,y,age,age_1,x'), 'spec.yaml': spec });
    const ds = await prepareDataset(join(ok, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.included).toBe(40);
  }, 60_000);
});
