// Labels from another table than the cohort's: keyed by the cohort id or reached through its link (OMOP's death
// table by person_id for a cohort of visits), a missing row as "label missing" or as negative (absent: negative),
// and an outcome date without a time of day on the index's own day.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { tempDir } from './fixtures/data/helpers.js';

/**
 * 60 persons, two visits each (visit ids 1000 + 2p and 1001 + 2p, ten days apart, index 24 h after the start).
 * Persons p % 3 = 0 die: on the second visit's index day in the evening (p % 2 = 0) or 40 days after the first
 * visit (p % 2 = 1). The other persons have no death row (alive).
 */
function omopLike(labelExtra = '', reference = '', persons = 60): string {
  const dir = tempDir();
  const visits = ['visit_occurrence_id,person_id,visit_start_datetime,age,score'];
  const day = (d: number, time = '08:00:00') => `${new Date(Date.UTC(2021, 0, 1 + d)).toISOString().slice(0, 10)} ${time}`;
  const deaths = ['person_id,death_date,death_type_concept_id'];
  for (let p = 0; p < persons; p++) {
    visits.push(`${1000 + 2 * p},${p},${day(p)},${40 + p},${p % 3 === 0 ? 0.9 : 0.1}`);
    visits.push(`${1001 + 2 * p},${p},${day(p + 10)},${40 + p},${p % 3 === 0 ? 0.8 : 0.2}`);
    if (p % 3 === 0) deaths.push(`${p},${day(p % 2 === 0 ? p + 11 : p + 41).slice(0, 10)},32817`);
  }
  writeFileSync(join(dir, 'visits.csv'), visits.join('\n') + '\n');
  writeFileSync(join(dir, 'death.csv'), deaths.join('\n') + '\n');
  writeFileSync(join(dir, 'spec.yaml'), `name: omop-like
tables:
  visits: { file: visits.csv, id: visit_occurrence_id }
  death: { file: death.csv, id: person_id, link: { table: visits, column: person_id } }
cohort: { table: visits, index_time: visit_start_datetime, index_offset: 24 h, patient: person_id }
label: { table: death, event: death_type_concept_id, event_values: [32817], time: death_date, horizon: 29 days${labelExtra} }
${reference}modalities:
  demo: { type: tabular, table: visits, numeric: [age] }
split: { method: random, seed: 0 }
`);
  return join(dir, 'spec.yaml');
}

async function labels(spec: string): Promise<Map<number, number>> {
  const ds = await prepareDataset(spec, { quiet: true, cache: false });
  const out = new Map<number, number>();
  for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => out.set(Number(id), s.labels[r]));
  return out;
}

describe('a label table reached through its link', () => {
  it("gives each visit its person's outcome: the day-of death positive, the later one negative, no row missing", async () => {
    const y = await labels(omopLike());
    for (let p = 0; p < 60; p++) {
      const first = y.get(1000 + 2 * p), second = y.get(1001 + 2 * p);
      if (p % 3 !== 0) {
        // no death row: "label missing", left out
        expect([first, second]).toEqual([undefined, undefined]);
      } else if (p % 2 === 0) {
        // died on the second visit's index day (a date: its time of day unknown): positive there; day 11 after the first
        expect([first, second]).toEqual([1, 1]);
      } else {
        // died 40 days after the first visit: beyond the 29-day horizon of the first, 30 days after the second's start
        expect([first, second]).toEqual([0, 0]);
      }
    }
  });

  it('absent: negative makes the visits without a death row negative', async () => {
    const y = await labels(omopLike(', absent: negative'));
    expect(y.size).toBe(120);
    for (let p = 0; p < 60; p++) expect([y.get(1000 + 2 * p), y.get(1001 + 2 * p)]).toEqual(p % 6 === 0 ? [1, 1] : [0, 0]);
  });

  it('absent: negative needs a label table of its own', async () => {
    const spec = omopLike(', absent: negative');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('label: { table: death, event: death_type_concept_id, event_values: [32817], time: death_date, horizon: 29 days', 'label: { column: score, positive: [0.9]'));
    await expect(prepareDataset(spec, { quiet: true, cache: false })).rejects.toThrow(/label\.absent: negative needs label\.table, another table than the cohort's/);
  });

  it('a reference score without missing values is read as given', async () => {
    // Was: a CASE without a WHEN (an SQL syntax error) when reference.missing was left out.
    const ds = await prepareDataset(omopLike(', absent: negative', 'reference: { table: visits, column: score, name: toy score }\n'), { quiet: true, cache: false });
    const { ids, reference } = ds.splits.train;
    ids.forEach((id, r) => expect(reference![r]).toBeCloseTo(Math.floor((Number(id) - 1000) / 2) % 3 === 0 ? (Number(id) % 2 ? 0.8 : 0.9) : (Number(id) % 2 ? 0.2 : 0.1), 6));
  });
});

describe('an id listed as a category', () => {
  it('is warned of: about one category per training patient', async () => {
    const spec = omopLike(', absent: negative');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('numeric: [age] }', 'numeric: [age], categorical: [visit_occurrence_id] }'));
    const ds = await prepareDataset(spec, { quiet: true, cache: false });
    expect(ds.cohort.warnings?.join('\n')).toMatch(/modalities\.demo\.categorical: column 'visit_occurrence_id' takes \d+ distinct values over \d+ training patients, about one each: an id\?/);
    // a person id in a cohort of visits (two a person): one value per training person, not per visit
    const persons = omopLike(', absent: negative', '', 150);
    writeFileSync(persons, readFileSync(persons, 'utf8').replace('numeric: [age] }', 'numeric: [age], categorical: [person_id] }'));
    const byPerson = await prepareDataset(persons, { quiet: true, cache: false });
    expect(byPerson.cohort.warnings?.join('\n')).toMatch(/modalities\.demo\.categorical: column 'person_id' takes \d+ distinct values over \d+ training patients, about one each: an id\?/);
    // a real category (two values) is not
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('categorical: [visit_occurrence_id]', 'categorical: [score]'));
    const ok = await prepareDataset(spec, { quiet: true, cache: false });
    expect(ok.cohort.warnings?.join('\n') ?? '').not.toMatch(/an id\?/);
  });
});

describe('elapsed times written as hours and minutes (PhysioNet 2012: "00:07", "47:59")', () => {
  it('are durations in the table time unit: a row at 23:59 is used at a 24 h prediction time, one at 24:01 is not', async () => {
    const dir = tempDir();
    const stays = ['RecordID,died'];
    const events = ['RecordID,Time,Parameter,Value'];
    for (let i = 1; i <= 40; i++) {
      stays.push(`${i},${i % 4 === 0 ? 1 : 0}`);
      events.push(`${i},00:07,HR,${60 + i}`, `${i},23:59,Lactate,${i / 10}`, `${i},24:01,Lactate,99`, `${i},47:59,HR,999`);
    }
    writeFileSync(join(dir, 'stays.csv'), stays.join('\n') + '\n');
    writeFileSync(join(dir, 'events.csv'), events.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: elapsed
tables:
  stays: { file: stays.csv, id: RecordID }
  events: { file: events.csv, id: RecordID, time: Time, time_unit: hours }
cohort: { table: stays, index_time: 0, index_offset: 24 h }
label: { column: died }
modalities:
  vitals: { type: timeseries, table: events, variable: Parameter, value: Value, variables: [HR, Lactate], window: { start: -24 h }, bins: 1 }
split: { method: random, seed: 0 }
`);
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const st = (ds.state as { modalities: { state: { variables: { name: string; mean: number }[] } }[] }).modalities[0].state;
    const mean = Object.fromEntries(st.variables.map((v) => [v.name, v.mean]));
    // the training means hold the rows before 24:00 only (HR 60 + i, lactate i / 10), never 99 or 999
    expect(mean.HR).toBeGreaterThan(60);
    expect(mean.HR).toBeLessThan(101);
    expect(mean.Lactate).toBeLessThan(4.1);
  });
});

/**
 * A label table with several rows per patient, read two ways. 90 patients (index day 100), each with rows drawn from
 * a fixed pattern by p % 9; `expected` says what each pattern must give (undefined: left out) for both readings.
 */
describe('a label table with several rows per patient (an event log)', () => {
  // [rows (day, code)], survival reading (rows are events or follow-up times), events reading (absent: negative)
  const patterns: [[number, string][], number | undefined, number | undefined][] = [
    [[[90, 'htn'], [110, 'sepsis'], [150, 'htn']], 1, 1], // an event 10 days after the index
    [[[90, 'htn'], [140, 'htn']], 0, 0], // followed past the 30-day horizon without the event
    [[[90, 'htn'], [120, 'htn']], undefined, undefined], // last seen on day 20, within the horizon: censored
    [[[80, 'sepsis'], [110, 'sepsis']], undefined, undefined], // an event before the index: left out either way
    [[[50, 'htn'], [60, 'htn']], undefined, undefined], // every row before the index: not followed at all
    [[], undefined, 0], // no row: label missing; negative with absent: negative
    [[[100, 'sepsis']], 1, 1], // the event at the index time itself
    [[[131, 'sepsis'], [95, 'htn']], 0, 0], // the event a day past the horizon
    [[[115, 'htn'], [125, 'sepsis'], [125, 'htn']], 1, 1], // duplicated days, the event inside the horizon
  ];
  function eventLog(absent: string): string {
    const dir = tempDir();
    const pats = ['pid,index_day,age'];
    const rows = ['pid,day,code'];
    for (let p = 0; p < 90; p++) {
      pats.push(`${p},100,${30 + (p % 50)}`);
      for (const [d, c] of patterns[p % 9][0]) rows.push(`${p},${d},${c}`);
    }
    writeFileSync(join(dir, 'pats.csv'), pats.join('\n') + '\n');
    writeFileSync(join(dir, 'events.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: event-log
tables:
  pats: { file: pats.csv, id: pid }
  events: { file: events.csv, id: pid, time: day }
cohort: { table: pats, index_time: index_day }
label: { table: events, event: code, event_values: [sepsis], time: day, horizon: 30${absent} }
modalities:
  demo: { type: tabular, table: pats, numeric: [age] }
split: { method: random, seed: 0 }
`);
    return join(dir, 'spec.yaml');
  }

  it('reads rows as events or follow-up times: positive within the horizon, negative when followed past it', async () => {
    const ds = await prepareDataset(eventLog(''), { quiet: true, cache: false });
    const y = new Map<number, number>();
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => y.set(Number(id), s.labels[r]));
    for (let p = 0; p < 90; p++) expect([p, y.get(p)]).toEqual([p, patterns[p % 9][1]]);
    expect(ds.cohort.exclusions).toEqual({ 'censored before horizon': 10, 'outcome time before index': 10, 'no row after the index': 10, 'label missing': 10 });
  });

  it('with absent: negative a patient with no row there is negative; rows are read as without it', async () => {
    const ds = await prepareDataset(eventLog(', absent: negative'), { quiet: true, cache: false });
    const y = new Map<number, number>();
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => y.set(Number(id), s.labels[r]));
    for (let p = 0; p < 90; p++) expect([p, y.get(p)]).toEqual([p, patterns[p % 9][2]]);
    expect(ds.cohort.exclusions).toEqual({ 'censored before horizon': 10, 'outcome time before index': 10, 'no row after the index': 10 });
  });

  it("is not a feature table for its event column: an event at the index time would be both input and outcome", async () => {
    const spec = eventLog(', absent: negative');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('modalities:\n', 'modalities:\n  codes: { type: codes, table: events, code: code, window: { start: -365 }, min_count: 1 }\n'));
    await expect(prepareDataset(spec, { quiet: true, cache: false })).rejects.toThrow(/modalities\.codes\.code.*'code' is the outcome event \(label\.event\) of table 'events', known only after the prediction time/);
  });

  it('the column form still needs one row per patient', async () => {
    const spec = eventLog('');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace(/label: .*\n/, 'label: { table: events, column: code, positive: [sepsis] }\n'));
    await expect(prepareDataset(spec, { quiet: true, cache: false })).rejects.toThrow(/duplicate id 0 appears 3 times .* but label\.table needs one row per patient/);
  });
});

describe('a label that leaves one class', () => {
  /** 60 patients, a split column; positives only where `where` says (their label time in minutes, read as days). */
  function oneClass(o: { positives: (p: number) => boolean; extra?: string; horizon?: string }): string {
    const dir = tempDir();
    const pats = ['pid,part,y,dischargeoffset,age'];
    for (let p = 0; p < 60; p++) pats.push(`${p},${['train', 'train', 'train', 'val', 'test'][p % 5]},${o.positives(p) ? 1 : 0},${o.positives(p) ? 600 : 5000},${30 + p}`);
    const labs = ['pid,offset,var,val'];
    for (let p = 0; p < 60; p++) labs.push(`${p},-30,hr,${70 + p}`);
    writeFileSync(join(dir, 'pats.csv'), pats.join('\n') + '\n');
    writeFileSync(join(dir, 'labs.csv'), labs.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: one-class
tables:
  pats: { file: pats.csv, id: pid${o.extra ?? ''} }
  labs: { file: labs.csv, id: pid, time: offset, time_unit: minutes }
cohort: { table: pats, index_time: 0 }
label: ${o.horizon ? `{ event: y, time: dischargeoffset, horizon: ${o.horizon} }` : '{ column: y }'}
modalities:
  demo: { type: tabular, table: pats, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: var, value: val, window: { start: -1 }, bins: 1 }
split: { method: column, column: part }
`);
    return join(dir, 'spec.yaml');
  }

  it('in the training split is an error, with the time-unit note that explains it', async () => {
    // one positive, in a test-split row: the cohort has both classes, the training split one
    await expect(prepareDataset(oneClass({ positives: (p) => p === 4 }), { quiet: true, cache: false })).rejects.toThrow(
      /split: all 36 patients of the training split have label 0 \(1 of the 60 included patients have the outcome\): a model cannot learn from one class/,
    );
    // a label time on the cohort table without time_unit, beside a table in minutes: the note names it
    await expect(prepareDataset(oneClass({ positives: (p) => p === 4, horizon: '"2 days"' }), { quiet: true, cache: false })).rejects.toThrow(
      /tables\.pats: its numeric times are read as days \(it has no time_unit\), those of tables\.labs as minutes/,
    );
  });

  it('in the whole cohort says what was left out, and that a bare horizon is days', async () => {
    // every event time (600 or 5000, read as days) is past a 48-day horizon: all 0
    await expect(prepareDataset(oneClass({ positives: (p) => p % 3 === 0, horizon: '48' }), { quiet: true, cache: false })).rejects.toThrow(
      /label: only one class among the 60 included patients \(all 0\); a binary outcome needs both; label\.horizon is 48 days \(a bare number is days\): if hours were meant, write "48 h"/,
    );
    // the same horizon written with its unit is not "a bare number" (it is 2 days once parsed from "48 h", too)
    for (const horizon of ['"48 days"', '"1152 h"']) {
      const e = await prepareDataset(oneClass({ positives: (p) => p % 3 === 0, horizon }), { quiet: true, cache: false }).catch((x: Error) => x);
      expect((e as Error).message).toMatch(/only one class among the 60 included patients/);
      expect((e as Error).message).not.toMatch(/bare number/);
    }
    // with minutes, 600 min is within 48 h and 5000 min beyond it: both classes
    const ok = await prepareDataset(oneClass({ positives: (p) => p % 3 === 0, horizon: '48 h', extra: ', time_unit: minutes' }), { quiet: true, cache: false });
    expect(ok.cohort.included).toBe(60);
  });
});

describe('a window over a table timed by dates', () => {
  it('ending at the prediction time is warned of (a row of that day may be recorded after it); ending at -1 is not', async () => {
    const dir = tempDir();
    const pats = ['pid,admit,y'];
    const omr = ['pid,chartdate,value'];
    for (let p = 0; p < 60; p++) {
      pats.push(`${p},2150-01-${String(10 + (p % 10)).padStart(2, '0')} 14:00:00,${p % 3 === 0 ? 1 : 0}`);
      omr.push(`${p},2150-01-${String(10 + (p % 10)).padStart(2, '0')},${70 + p}`, `${p},2150-01-0${1 + (p % 8)},${60 + p}`);
    }
    writeFileSync(join(dir, 'pats.csv'), pats.join('\n') + '\n');
    writeFileSync(join(dir, 'omr.csv'), omr.join('\n') + '\n');
    const spec = (end: number) => `name: dates
tables:
  pats: { file: pats.csv, id: pid }
  omr: { file: omr.csv, id: pid, time: chartdate }
cohort: { table: pats, index_time: admit }
label: { column: y }
modalities:
  omr: { type: timeseries, table: omr, columns: [value], window: { start: -30, end: ${end} }, bins: 1 }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'spec.yaml'), spec(0));
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.warnings?.join('\n')).toMatch(/modalities\.omr\.window\.end: 0 days, over omr\.chartdate, a date without a time of day: a row dated the prediction day counts/);
    writeFileSync(join(dir, 'spec.yaml'), spec(-1));
    const ok = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    expect((ok.cohort.warnings ?? []).join('\n')).not.toMatch(/window\.end/);
  });
});

describe('a label as a threshold on a number', () => {
  it("label.above: positive above it, 0 at or below, blank left out; the column is the outcome (not a feature)", async () => {
    const dir = tempDir();
    const rows = ['stay,los,age'];
    for (let p = 0; p < 60; p++) rows.push(`${p},${p % 10 === 9 ? '' : (p % 7) * 0.75},${40 + p}`);
    writeFileSync(join(dir, 'stays.csv'), rows.join('\n') + '\n');
    const spec = (label: string, extra = '') => `name: los
tables:
  stays: { file: stays.csv, id: stay }
cohort: { table: stays, index_time: 0 }
label: ${label}
modalities:
  demo: { type: tabular, table: stays, numeric: [age${extra}] }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'spec.yaml'), spec('{ column: los, above: 3 }'));
    const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
    const y = new Map<number, number>();
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => y.set(Number(id), s.labels[r]));
    for (let p = 0; p < 60; p++) expect([p, y.get(p)]).toEqual([p, p % 10 === 9 ? undefined : (p % 7) * 0.75 > 3 ? 1 : 0]);
    expect(ds.cohort.exclusions).toEqual({ 'label missing': 6 });
    writeFileSync(join(dir, 'spec.yaml'), spec('{ column: los, above: 3 }', ', los'));
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/'los' is the label column \(label\.column\) of table 'stays', known only after the prediction time/);
    writeFileSync(join(dir, 'spec.yaml'), spec('{ column: los, above: 3, positive: [1] }'));
    await expect(prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false })).rejects.toThrow(/give either label\.above/);
  });
});

describe('a horizon that starts at the end of the stay (label.from: end_time: a 30-day readmission)', () => {
  /**
   * 90 patients, admissions 1–2 each, stays of 3–7 days: i % 3 = 0 readmitted 10 days after discharge (the first
   * stay positive), 1 after 60 days (negative: past the horizon), 2 never (negative: no later admission).
   */
  function readmissions(label: string): string {
    const dir = tempDir();
    const day = (d: number) => new Date(Date.UTC(2150, 0, 1) + d * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    const rows = ['subject_id,hadm_id,admittime,dischtime,age'];
    for (let i = 1; i <= 90; i++) {
      const los = 3 + (i % 5), start = i * 7;
      rows.push(`${i},${i * 10 + 1},${day(start)},${day(start + los)},${40 + (i % 40)}`);
      if (i % 3 !== 2) {
        const again = start + los + (i % 3 === 0 ? 10 : 60);
        rows.push(`${i},${i * 10 + 2},${day(again)},${day(again + 4)},${40 + (i % 40)}`);
      }
    }
    writeFileSync(join(dir, 'adm.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: readmission
tables:
  adm: { file: adm.csv, id: hadm_id }
  readmits: { file: adm.csv, id: subject_id, link: { table: adm, column: subject_id } }
cohort: { table: adm, patient: subject_id, index_time: admittime, index_offset: 1, end_time: dischtime }
label: ${label}
modalities:
  demo: { type: tabular, table: adm, numeric: [age] }
split: { method: random, seed: 0 }
`);
    return join(dir, 'spec.yaml');
  }
  const nonzero = (ex: Record<string, number> | undefined) => Object.fromEntries(Object.entries(ex ?? {}).filter(([, v]) => v > 0));
  const labelsOf = (ds: Awaited<ReturnType<typeof prepareDataset>>) => {
    const y = new Map<string, number>();
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, r) => y.set(String(id), s.labels[r]));
    return y;
  };

  it('passes over a date-only admission on the discharge day (a same-day stay is not its own readmission)', async () => {
    // admission dates only, discharge that evening: every stay one day; i % 3 = 0 readmitted 10 days later
    const spec = readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, from: end_time, absent: negative }');
    const adm = join(spec, '..', 'adm.csv');
    writeFileSync(adm, readFileSync(adm, 'utf8').split('\n').map((l, k) => {
      if (k === 0 || !l) return l;
      const [sid, hid, at, , age] = l.split(',');
      const d = at.slice(0, 10);
      return [sid, hid, d, `${d} 18:00:00`, age].join(',');
    }).join('\n'));
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('index_offset: 1, ', ''));
    const y = labelsOf(await prepareDataset(spec, { quiet: true, cache: false }));
    for (let i = 1; i <= 90; i++) expect([i, y.get(String(i * 10 + 1))]).toEqual([i, i % 3 === 0 ? 1 : 0]);
  });

  it('counts admissions after discharge within the horizon; the stay itself and earlier ones are passed over', async () => {
    const ds = await prepareDataset(readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, from: end_time, absent: negative }'), { quiet: true, cache: false });
    const y = labelsOf(ds);
    expect(nonzero(ds.cohort.exclusions)).toEqual({});
    expect(y.size).toBe(150);
    for (let i = 1; i <= 90; i++) {
      expect([i, y.get(String(i * 10 + 1))]).toEqual([i, i % 3 === 0 ? 1 : 0]);
      if (i % 3 !== 2) expect([i, y.get(String(i * 10 + 2))]).toEqual([i, 0]); // the last admission: none after it
    }
  });

  it('without absent: negative, a stay with nothing after it is censored; from the index, the stay\'s own admission is the outcome', async () => {
    const censored = await prepareDataset(readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, from: end_time }'), { quiet: true, cache: false });
    // no later row: 30 single-stay patients and 60 last stays censored; the 60-day readmissions followed past 30 days
    expect(nonzero(censored.cohort.exclusions)).toEqual({ 'censored before horizon': 90 });
    expect([...labelsOf(censored).values()].filter((v) => v === 1).length).toBe(30);
    // from the index (the default) the stay's own admittime is a row before the index: every stay is left out
    await expect(prepareDataset(readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, absent: negative }'), { quiet: true, cache: false })).rejects.toThrow(/outcome time before index: 150/);
    // a stay without an end time has no horizon to count from: label missing, not negative
    const noEnd = readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, from: end_time, absent: negative }');
    const adm = join(noEnd, '..', 'adm.csv');
    const lines = readFileSync(adm, 'utf8').split('\n');
    lines[1] = lines[1].replace(/,[^,]+,(\d+)$/, ',,$1'); // the first stay's dischtime emptied
    writeFileSync(adm, lines.join('\n'));
    const missing = await prepareDataset(noEnd, { quiet: true, cache: false });
    expect(nonzero(missing.cohort.exclusions)).toEqual({ 'label missing': 1 });
    // from: end_time needs an end time
    const spec = readmissions('{ table: readmits, event: hadm_id, event_values: any, time: admittime, horizon: 30 days, from: end_time }');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace(', end_time: dischtime', ''));
    await expect(prepareDataset(spec, { quiet: true, cache: false })).rejects.toThrow(/label\.from: end_time needs cohort\.end_time/);
  });
});

describe('an event-log label over a table of other events too (a full diagnosis list)', () => {
  it('counts the patients its other rows leave out, naming the filter that makes it a list of outcomes', async () => {
    // 100 patients: 10 SEPSIS at +5, 40 only HTN at -50, 30 only FRACTURE at +10, 20 no rows
    const dir = tempDir();
    const pats = ['pid,age,y0'];
    const dx = ['pid,day,code'];
    for (let i = 1; i <= 100; i++) {
      pats.push(`${i},${40 + (i % 30)},0`);
      if (i <= 10) dx.push(`${i},5,SEPSIS`);
      else if (i <= 50) dx.push(`${i},-50,HTN`);
      else if (i <= 80) dx.push(`${i},10,FRACTURE`);
    }
    writeFileSync(join(dir, 'patients.csv'), pats.join('\n') + '\n');
    writeFileSync(join(dir, 'diagnoses.csv'), dx.join('\n') + '\n');
    const spec = (where: string) => `name: dx
tables:
  patients: { file: patients.csv, id: pid }
  diagnoses: { file: diagnoses.csv, id: pid, time: day${where} }
cohort: { table: patients, index_time: 0 }
label: { table: diagnoses, event: code, event_values: [SEPSIS], time: day, horizon: 30, absent: negative }
modalities:
  demo: { type: tabular, table: patients, numeric: [age] }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'a.yaml'), spec(''));
    const ds = await prepareDataset(join(dir, 'a.yaml'), { quiet: true, cache: false });
    expect(ds.cohort.exclusions).toMatchObject({ 'no row after the index': 40, 'censored before horizon': 30 });
    expect(ds.cohort.warnings?.join('\n')).toMatch(/label: 70 patients left out have rows in diagnoses but none with an event value \(code: \["SEPSIS"\]\).*tables\.diagnoses\.where: \{ code: \["SEPSIS"\] \}: a patient without one is then negative/);
    writeFileSync(join(dir, 'b.yaml'), spec(', where: { code: [SEPSIS] }'));
    const kept = await prepareDataset(join(dir, 'b.yaml'), { quiet: true, cache: false });
    expect(kept.cohort.included).toBe(100);
    expect(kept.cohort.warnings?.join('\n') ?? '').not.toMatch(/left out have rows/);
  });
});

describe('tables.NAME.split: a cell holding several values (eICU icd9code "038.9, A41.9")', () => {
  it('reads one row per value, so where and the label match single codes; an empty cell stays a row', async () => {
    // 60 stays: i % 4 = 0 sepsis coded with another code in one cell, at +2 days; i % 4 = 1 only hypertension
    const dir = tempDir();
    const pats = ['stay,age'], dx = ['stay,offset,icd9code'];
    for (let i = 1; i <= 60; i++) {
      pats.push(`${i},${40 + (i % 30)}`);
      if (i % 4 === 0) dx.push(`${i},2,"038.9, A41.9"`);
      else if (i % 4 === 1) dx.push(`${i},2,"401.9,I10"`);
      else if (i % 4 === 2) dx.push(`${i},2,`);
    }
    writeFileSync(join(dir, 'p.csv'), pats.join('\n') + '\n');
    writeFileSync(join(dir, 'dx.csv'), dx.join('\n') + '\n');
    const spec = (split: string) => `name: s
tables:
  p: { file: p.csv, id: stay }
  sepsis: { file: dx.csv, id: stay, time: offset${split}, where: { icd9code: [A41.9] } }
cohort: { table: p, index_time: 0 }
label: { table: sepsis, event: icd9code, event_values: [A41.9], time: offset, horizon: 7, absent: negative }
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'a.yaml'), spec(', split: { column: icd9code, by: "," }'));
    const ds = await prepareDataset(join(dir, 'a.yaml'), { quiet: true, cache: false });
    const pos = Object.values(ds.splits).reduce((a, s) => a + s.labels.reduce((b, y) => b + y, 0), 0);
    expect([ds.cohort.included, pos]).toEqual([60, 15]);
    // without split no cell is "A41.9": the where filter matches nothing and says so
    writeFileSync(join(dir, 'b.yaml'), spec(''));
    await expect(prepareDataset(join(dir, 'b.yaml'), { quiet: true, cache: false })).rejects.toThrow(/tables\.sepsis\.where\.icd9code: none of \["A41\.9"\] occurs/);
  });
});

describe('label.censored: negative (in-unit mortality: a discharge alive ends the risk)', () => {
  it('makes a patient followed for less than the horizon without the event negative instead of excluded', async () => {
    // 60 stays, minutes: i % 3 = 0 died at 5,000 min; 1 discharged alive at 3,000 (within the 7-day horizon from
    // the 1,440 min index); 2 discharged alive at 20,000 (past it)
    const dir = tempDir();
    const rows = ['stay,age,offset,status'];
    for (let i = 1; i <= 60; i++) rows.push(`${i},${40 + (i % 30)},${[5000, 3000, 20000][i % 3]},${i % 3 === 0 ? 'Expired' : 'Alive'}`);
    writeFileSync(join(dir, 'stays.csv'), rows.join('\n') + '\n');
    const spec = (extra: string) => `name: icu
tables:
  stays: { file: stays.csv, id: stay, time_unit: minutes }
cohort: { table: stays, index_time: 0, index_offset: 1440 min }
label: { event: status, event_values: [Expired], time: offset, horizon: 7 days${extra} }
modalities:
  demo: { type: tabular, table: stays, numeric: [age] }
split: { method: random, seed: 0 }
`;
    writeFileSync(join(dir, 'a.yaml'), spec(''));
    const excluded = await prepareDataset(join(dir, 'a.yaml'), { quiet: true, cache: false });
    expect([excluded.cohort.included, excluded.cohort.exclusions?.['censored before horizon']]).toEqual([40, 20]);
    writeFileSync(join(dir, 'b.yaml'), spec(', censored: negative'));
    const kept = await prepareDataset(join(dir, 'b.yaml'), { quiet: true, cache: false });
    const pos = Object.values(kept.splits).reduce((a, s) => a + s.labels.reduce((b, y) => b + y, 0), 0);
    expect([kept.cohort.included, pos]).toEqual([60, 20]);
  });
});
