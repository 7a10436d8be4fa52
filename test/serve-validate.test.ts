// The record validator's fast path (no zod) against its schema path (zod + the extra checks), on valid records,
// every kind of malformed body the fuzz corpus makes, and thousands of single-cell mutations: both must accept
// the same inputs, and give the same records.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../src/data/rng.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { readNumber, UNREADABLE } from '../src/data/compiled/cells.js';
import { sqlValue } from '../src/data/records.js';
import { fuzzBodies, randomRecord } from './serve-fixtures.js';

// The simulator's column types (as a trained run records them), plus a few types the simulator does not use.
const tableTypes = {
  patients: { id: 'VARCHAR', index_day: 'BIGINT', age: 'DOUBLE', sex: 'VARCHAR', bmi: 'DOUBLE', site: 'VARCHAR', small: 'TINYINT', f: 'FLOAT', at: 'TIMESTAMP', on: 'DATE', u: 'UUID', constructor: 'DOUBLE' },
  labs: { id: 'VARCHAR', day: 'BIGINT', variable: 'VARCHAR', value: 'DOUBLE' },
  diagnoses: { id: 'VARCHAR', day: 'BIGINT', code: 'VARCHAR' },
  notes: { id: 'VARCHAR', day: 'BIGINT', text: 'VARCHAR' },
  imaging: Object.fromEntries([['id', 'VARCHAR'], ...Array.from({ length: 8 }, (_, j) => [`emb_${j}`, 'DOUBLE'])]),
};
const idColumns = Object.fromEntries(Object.keys(tableTypes).map((t) => [t, 'id']));
const validate = makeRecordValidator(tableTypes, idColumns, { maxRecords: 500, indexTime: { table: 'patients', column: 'index_day' } });
const v = { labVariables: ['lactate', 'crp'], codes: ['htn', 'ckd'] };

const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

function describeInput(x: unknown): string {
  try {
    return JSON.stringify(x).slice(0, 300);
  } catch {
    return '(too deep to print)';
  }
}

function agree(input: unknown): boolean {
  const fast = validate(input);
  const slow = validate.viaSchema(input);
  expect(fast.ok, describeInput(input)).toBe(slow.ok);
  if (fast.ok && slow.ok) expect(plain(fast.records)).toEqual(plain(slow.records));
  else expect(fast).toEqual(slow);
  return fast.ok;
}

/** Replaces one leaf or entry of a record with a value from an adversarial list. */
function mutate(rand: () => number, rec: Record<string, unknown>): unknown {
  const copy = plain(rec);
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, [...p, Array.isArray(x) ? Number(k) : k]);
  };
  walk(copy, []);
  const leaves = [null, true, false, 0, -0, 1.5, -1, 1e308, 5e-324, 127.6, 1e39, '', ' ', '3', ' 4 ', '1e400', '\u00a03', 'x', '\u0000',
    '2020-02-29', '2021-02-29', '2020-01-01 08:00', '2020-01-01 08:00 ', '2020-01-01 08:00:00\t', '2020-01-01 08:00:00+02:00', '2020-01-01Z',
    '123e4567-e89b-12d3-a456-426614174000', [], {}, [{}], { a: 1 }, [1]];
  const path = paths[1 + Math.floor(rand() * (paths.length - 1))];
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k];
  const last = path[path.length - 1];
  if (rand() < 0.15 && !Array.isArray(at)) {
    delete at[last];
    at[['zzz', 'constructor', 'toString', 'small', 'f', 'at', 'on', 'u', 'index_time', 'id'][Math.floor(rand() * 10)]] = leaves[Math.floor(rand() * leaves.length)];
  } else at[last] = leaves[Math.floor(rand() * leaves.length)];
  return copy;
}

describe('validator: fast path = schema path', () => {
  it('valid records pass both, with the same records (ids as text)', () => {
    const rand = mulberry32(1);
    const recs = Array.from({ length: 200 }, (_, i) => ({ ...randomRecord(rand, `p${i}`, v), ...(i % 3 === 0 ? { id: i } : {}) }));
    expect(agree(recs)).toBe(true);
    // The fast path answered (its records are null-prototype copies; zod's are plain objects).
    const r = validate(recs);
    expect(r.ok && Object.getPrototypeOf(r.records[0])).toBeNull();
    for (const r of recs.slice(0, 50)) expect(agree([r])).toBe(true);
  });

  it('agree on 4,000 single mutations of valid records', () => {
    const rand = mulberry32(2);
    let ok = 0;
    for (let i = 0; i < 4000; i++) {
      const base = randomRecord(rand, `m${i}`, v);
      if (rand() < 0.5) (base.patients as Record<string, unknown>).at = '2020-01-01 08:00:00';
      if (agree([mutate(rand, base)])) ok++;
    }
    // Both outcomes occur often enough for the comparison to mean something.
    expect(ok).toBeGreaterThan(400);
    expect(ok).toBeLessThan(3600);
  });

  it('a number in a timestamp column is refused, not read as epoch seconds', () => {
    const r = validate([{ id: 'a', index_time: 5, patients: { at: 730 } }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]).toEqual({ path: 'records[0].patients.at', message: expect.stringMatching(/expected a timestamp such as .*a number is not read as one/) });
    expect(validate([{ id: 'a', index_time: 5, patients: { at: '2020-01-31 08:00:00' } }]).ok).toBe(true);
    agree([{ id: 'a', index_time: 5, patients: { at: 730 } }]);
    // A timestamp index time likewise.
    const ts = makeRecordValidator({ adm: { id: 'VARCHAR', t0: 'TIMESTAMP' } }, { adm: 'id' }, { maxRecords: 5, indexTime: { table: 'adm', column: 't0' } });
    const bad = ts([{ id: 'a', index_time: 730 }]);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0].path).toBe('records[0].index_time');
    expect(ts([{ id: 'a', index_time: '2150-08-15T19:00:00' }]).ok).toBe(true);
  });

  it("a record's index_time and its cohort row's zoned index column must agree as instants (a new user's TIMESTAMPTZ column)", () => {
    const tz = makeRecordValidator({ adm: { id: 'VARCHAR', t0: 'TIMESTAMP WITH TIME ZONE' } }, { adm: 'id' }, { maxRecords: 5, indexTime: { table: 'adm', column: 't0' } });
    const five = tz([{ id: 'a', index_time: '2024-03-06 18:54:23', adm: { t0: '2024-03-01 10:00:00+01:00' } }]);
    expect(five.ok).toBe(false);
    if (!five.ok) expect(five.issues[0]).toEqual({ path: 'records[0].index_time', message: expect.stringMatching(/differs from the record's adm\.t0/) });
    // the same instant written in two zones agrees
    expect(tz([{ id: 'a', index_time: '2024-03-01T09:00:00Z', adm: { t0: '2024-03-01 10:00:00+01:00' } }]).ok).toBe(true);
  });

  it("a record's index_time is refused when the spec's index time is a constant (it would be ignored)", () => {
    const constant = makeRecordValidator(tableTypes, idColumns, { maxRecords: 5 });
    expect(constant([{ id: 'a', index_time: null }]).ok).toBe(false);
    for (const it of [0, 100, '2020-01-01']) {
      const r = constant([{ id: 'a', index_time: it, patients: { age: 50 } }]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues[0]).toEqual({ path: 'records[0].index_time', message: expect.stringMatching(/index time is a constant .* leave index_time out/) });
      expect(constant.viaSchema([{ id: 'a', index_time: it, patients: { age: 50 } }]).ok).toBe(false);
    }
    expect(constant([{ id: 'a', patients: { age: 50 } }]).ok).toBe(true);
  });

  it('an index_time that differs from the cohort row\'s index column is named (index_time would win silently)', () => {
    const r = validate([{ id: 'a', index_time: 5, patients: { index_day: 7 } }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toEqual([{ path: 'records[0].index_time', message: 'differs from the record\'s patients.index_day (7): give the index (prediction) time once' }]);
    agree([{ id: 'a', index_time: 5, patients: { index_day: 7 } }]);
    expect(validate([{ id: 'a', index_time: 5, patients: { index_day: '5' } }]).ok).toBe(true);
    const ts = makeRecordValidator({ adm: { id: 'VARCHAR', t0: 'TIMESTAMP' } }, { adm: 'id' }, { maxRecords: 5, indexTime: { table: 'adm', column: 't0' } });
    expect(ts([{ id: 'a', index_time: '2150-08-15T19:00:00', adm: { t0: '2150-08-15 19:00' } }]).ok).toBe(true); // the same instant
    expect(ts([{ id: 'a', index_time: '2150-08-15T19:00:00', adm: { t0: '2150-08-16 19:00' } }]).ok).toBe(false);
  });

  it("a row's id column that names another patient is refused (the row would count as the record's)", () => {
    const r = validate([{ id: 'a1', index_time: 5, labs: [{ day: 1, variable: 'crp', value: 3, id: 'zzz' }] }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues).toEqual([{ path: 'records[0].labs[0].id', message: expect.stringMatching(/^differs from the record's id "a1": a record holds one patient's rows/) }]);
    agree([{ id: 'a1', index_time: 5, labs: [{ day: 1, variable: 'crp', value: 3, id: 'zzz' }] }]);
    expect(validate([{ id: 'a1', index_time: 5, labs: [{ day: 1, variable: 'crp', value: 3, id: 'a1' }] }]).ok).toBe(true);
    expect(validate([{ id: 7, index_time: 5, labs: [{ day: 1, variable: 'crp', value: 3, id: 7 }] }]).ok).toBe(true);
    // A linked table's id column names the link value (the cohort row's column), not the record's id.
    const linked = makeRecordValidator(
      { adm: { hadm: 'VARCHAR', pid: 'VARCHAR' }, pat: { pid: 'VARCHAR', age: 'DOUBLE' } }, { adm: 'hadm', pat: 'pid' },
      { maxRecords: 5, links: { pat: { table: 'adm', column: 'pid' } } },
    );
    for (const v of [linked, linked.viaSchema]) {
      expect(v([{ id: 'h1', adm: { pid: '000123' }, pat: { pid: '000123', age: 50 } }]).ok).toBe(true);
      const bad = v([{ id: 'h1', adm: { pid: '000123' }, pat: { pid: '000999', age: 50 } }]);
      expect(bad.ok).toBe(false);
      if (!bad.ok) expect(bad.issues).toEqual([{ path: 'records[0].pat.pid', message: expect.stringMatching(/^differs from the record's adm\.pid "000123"/) }]);
      expect(v([{ id: 'h1', pat: { pid: '000999', age: 50 } }]).ok).toBe(true); // no link value given: nothing to compare
    }
    const numeric = makeRecordValidator({ labs: { id: 'BIGINT', day: 'BIGINT', value: 'DOUBLE' } }, { labs: 'id' }, { maxRecords: 5 });
    // One answer names every bad record, in record order: type errors (the schema's) and the checks after it.
    const mixed = validate([
      { id: 'r0', index_time: 5, labs: [{ day: 'x', variable: 'crp', value: 3 }] },
      { id: 'r1', index_time: 5, labz: [{ day: 1 }] },
      { id: 'r2', index_time: 5, labs: [{ day: 1, variable: 'crp', value: 'high' }] },
      { id: 'r3', index_time: 5, labs: [{ day: 1, variable: 'crp', value: 3, id: 'other' }] },
    ]);
    expect(mixed.ok).toBe(false);
    if (!mixed.ok) expect(mixed.issues.map((i) => i.path)).toEqual(['records[0].labs[0].day', 'records[1].labz', 'records[2].labs[0].value', 'records[3].labs[0].id']);
    expect(numeric([{ id: 1, labs: [{ day: 1, value: 3, id: '1.0' }] }]).ok).toBe(true);
    expect(numeric([{ id: 1, labs: [{ day: 1, value: 3, id: 2 }] }]).ok).toBe(false);
  });

  it("text in a number column is named with the spec's value map, or as a yes/no column", () => {
    const mapped = makeRecordValidator({ p: { id: 'VARCHAR', age: 'DOUBLE', died: 'BOOLEAN', bmi: 'DOUBLE' } }, { p: 'id' }, { maxRecords: 5, valueMaps: { p: { age: { '90+': 90 } } } });
    const r = mapped([{ id: 'a', p: { age: '90+', died: 'maybe', bmi: 'high' } }]);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.issues).toEqual([
        { path: 'records[0].p.age', message: `expected number: records give the values after the spec's tables.p.values.age map ("90+" → 90), so write the mapped value (a number with '.' as its decimal point: 1.6, not "1,6")` },
        { path: 'records[0].p.died', message: expect.stringMatching(/^expected number: this column held yes\/no \(true\/false\) values in training; write true\/false, yes\/no, t\/f, y\/n, 1\/0 or null$/) },
        { path: 'records[0].p.bmi', message: 'expected number' },
      ]);
    expect(mapped([{ id: 'a', p: { age: 90, died: false } }]).ok).toBe(true);
    // a yes/no column takes the words its table file held, on both paths, and both transforms read them as 1/0
    for (const w of ['no', ' F ', 'Yes', 't', 'TRUE', 'n']) {
      expect(mapped([{ id: 'a', p: { died: w } }]).ok, w).toBe(true);
      expect(mapped.viaSchema([{ id: 'a', p: { died: w } }]).ok, w).toBe(true);
    }
    expect(readNumber('f', 'boolean')).toBe(0);
    expect(readNumber(' Yes ', 'boolean')).toBe(1);
    expect(readNumber('yes', 'double')).toBe(UNREADABLE);
    expect(sqlValue('no', 'BOOLEAN')).toBe('0');
    expect(sqlValue('Y', 'BOOLEAN')).toBe('1');
    expect(sqlValue('yes', 'DOUBLE')).toBe("CAST('yes' AS DOUBLE)");
    // A marker the table file read as missing ("pending" in na_values) is missing in a record too; other text is
    // refused, and the message says what a missing value may be written as.
    const na = makeRecordValidator({ labs: { id: 'VARCHAR', value: 'DOUBLE', ref: 'DOUBLE' } }, { labs: 'id' }, { maxRecords: 5, valueMaps: { labs: { value: { '<0.5': 0.25 } } }, naValues: { labs: ['pending', 'NA'] } });
    const ok = na([{ id: 'a', labs: [{ value: 'pending', ref: 'NA' }] }]);
    expect(ok.ok && (ok.records[0].labs as Record<string, unknown>[])[0]).toEqual({ value: null, ref: null });
    const rn = na([{ id: 'a', labs: [{ value: 'later', ref: 'n/a' }] }]);
    expect(rn.ok).toBe(false);
    if (!rn.ok)
      expect(rn.issues).toEqual([
        { path: 'records[0].labs[0].value', message: `expected number: records give the values after the spec's tables.labs.values.value map ("<0.5" → 0.25), so write the mapped value (a number with '.' as its decimal point: 1.6, not "1,6"); a missing value (tables.labs.na_values: "pending", "NA") counts as missing, as in the file, and so does null` },
        { path: 'records[0].labs[0].ref', message: 'expected number: a missing value (tables.labs.na_values: "pending", "NA") counts as missing, as in the file, and so does null' },
      ]);
  });

  it('true/false is refused in a number column that did not hold booleans (it would be read as 1/0)', () => {
    for (const col of ['age', 'small', 'f']) {
      const r = validate([{ id: 'a', index_time: 5, patients: { [col]: true } }]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues[0]).toEqual({ path: `records[0].patients.${col}`, message: expect.stringMatching(/expected a number .*true\/false is accepted only in a column that held booleans.*write 1 or 0/) });
      agree([{ id: 'a', index_time: 5, patients: { [col]: false } }]);
    }
    const flags = makeRecordValidator({ p: { id: 'VARCHAR', smoker: 'BOOLEAN' } }, { p: 'id' }, { maxRecords: 5 });
    expect(flags([{ id: 'a', p: { smoker: true } }]).ok).toBe(true);
    expect(flags([{ id: 'a', p: { smoker: 1 } }]).ok).toBe(true);
    for (const bad of [2, 0.5, -1, '2']) {
      const r = flags([{ id: 'a', p: { smoker: bad } }]);
      expect(r.ok, String(bad)).toBe(false);
      if (!r.ok) expect(r.issues[0].message).toMatch(/^expected true\/false or 1\/0 \(a yes\/no column; got /);
      expect(flags.viaSchema([{ id: 'a', p: { smoker: bad } }]).ok).toBe(false);
    }
  });

  it('a fractional number in a column that held whole numbers is refused (rounded, a lab 0.4 days after the index entered the window)', () => {
    for (const [rec, path, rounded] of [
      [{ id: 'a', index_time: 999.6, labs: [{ day: 1000, variable: 'lactate', value: 1 }] }, 'records[0].index_time', 1000],
      [{ id: 'a', index_time: 1000, labs: [{ day: 1000.4, variable: 'lactate', value: 1 }] }, 'records[0].labs[0].day', 1000],
      [{ id: 'a', index_time: 1000, patients: { small: '2.5' } }, 'records[0].patients.small', 2],
    ] as const) {
      const r = validate([rec]);
      expect(r.ok, JSON.stringify(rec)).toBe(false);
      if (!r.ok) expect(r.issues[0]).toEqual({ path, message: expect.stringContaining(`expected a whole number: this column held whole numbers in training`) });
      if (!r.ok) expect(r.issues[0].message).toContain(`would be read as ${rounded}`);
      agree([rec]);
    }
    // Whole numbers, also written as text or with a zero fraction, still pass.
    expect(validate([{ id: 'a', index_time: 1000.0, labs: [{ day: '999', variable: 'lactate', value: 1.5 }] }]).ok).toBe(true);
  });

  it('a time given as a number beyond 1e9 days is refused (differences of days in DOUBLE are no longer exact there)', () => {
    const timed = makeRecordValidator(tableTypes, idColumns, { maxRecords: 5, indexTime: { table: 'patients', column: 'index_day' }, elapsedTimes: { patients: { columns: ['index_day'], unitsPerDay: 1 }, labs: { columns: ['day'], unitsPerDay: 24 } } });
    for (const [rec, path] of [
      [{ id: 'a', index_time: 2 ** 60 }, 'records[0].index_time'],
      [{ id: 'a', index_time: 1000, labs: [{ day: 2.5e10, variable: 'lactate', value: 1 }] }, 'records[0].labs[0].day'],
    ] as const) {
      const r = timed([rec]);
      expect(r.ok, path).toBe(false);
      if (!r.ok) expect(r.issues[0]).toEqual({ path, message: expect.stringContaining('where differences of days are not exact') });
    }
    // 2.4e10 hours is within 1e9 days
    expect(timed([{ id: 'a', index_time: 1000, labs: [{ day: 2.4e10, variable: 'lactate', value: 1 }] }]).ok).toBe(true);
  });

  it("a record whose index_time has a zone other than UTC while its rows' times have none (or the reverse) is refused; UTC beside zoneless is one clock", () => {
    const types = { p: { id: 'VARCHAR', admit: 'TIMESTAMP' }, labs: { id: 'VARCHAR', t: 'TIMESTAMP', v: 'DOUBLE' } };
    const zoned = makeRecordValidator(types, { p: 'id', labs: 'id' }, { maxRecords: 5, indexTime: { table: 'p', column: 'admit' } });
    const rec = (index: string, lab: string) => ({ id: 'a', index_time: index, labs: [{ t: '2020-01-01 08:00:00', v: 1 }, { t: lab, v: 2 }] });
    const bad = zoned([rec('2020-01-01 10:00:00+02:00', '2020-01-01 09:00:00')]);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]).toEqual({ path: 'records[0].labs[0].t', message: expect.stringMatching(/^time "2020-01-01 08:00:00" has no zone, while index_time of the same record has one \("2020-01-01 10:00:00\+02:00"\): a time without a zone is read as UTC/) });
    expect(zoned.viaSchema([rec('2020-01-01 10:00:00+02:00', '2020-01-01 09:00:00')]).ok).toBe(false);
    // the reverse: a zoneless index time beside zoned rows
    const rev = zoned([{ id: 'a', index_time: '2020-01-01 10:00:00', labs: [{ t: '2020-01-01 09:00:00-05:00', v: 1 }] }]);
    expect(rev.ok).toBe(false);
    if (!rev.ok) expect(rev.issues[0].path).toBe('records[0].index_time');
    // UTC ("Z") beside zoneless, and zoned throughout, pass
    expect(zoned([rec('2020-01-01 10:00:00Z', '2020-01-01 09:00:00')]).ok).toBe(true);
    expect(zoned([{ id: 'a', index_time: '2020-01-01 10:00:00+02:00', labs: [{ t: '2020-01-01 09:00:00+02:00', v: 1 }] }]).ok).toBe(true);
    // A Parquet TIMESTAMP_NS column is checked too (pandas writes them; DuckDB reads those cells)
    const ns = makeRecordValidator({ p: { id: 'VARCHAR', admit: 'TIMESTAMP' }, labs: { id: 'VARCHAR', t: 'TIMESTAMP_NS', v: 'DOUBLE' } }, { p: 'id', labs: 'id' }, { maxRecords: 5, indexTime: { table: 'p', column: 'admit' } });
    expect(ns([rec('2020-01-01 10:00:00+02:00', '2020-01-01 09:00:00')]).ok).toBe(false);
    // With the run's time columns named, a column it does not read as a time (a discharge time no field uses) is not looked at
    const wider = { p: { id: 'VARCHAR', admit: 'TIMESTAMP', disch: 'TIMESTAMP' }, labs: types.labs };
    const used = makeRecordValidator(wider, { p: 'id', labs: 'id' }, { maxRecords: 5, indexTime: { table: 'p', column: 'admit' }, usedTimes: { p: ['admit'], labs: ['t'] } });
    const withDisch = { id: 'a', index_time: '2020-01-01 10:00:00+02:00', p: { disch: '2020-01-05 10:00:00' }, labs: [{ t: '2020-01-01 09:00:00+02:00', v: 1 }] };
    expect(used([withDisch]).ok).toBe(true);
    expect(used.viaSchema([withDisch]).ok).toBe(true);
    expect(used([{ ...withDisch, labs: [{ t: '2020-01-01 09:00:00', v: 1 }] }]).ok).toBe(false);
  });

  it('agree on the fuzz corpus and on odd shapes', () => {
    const rand = mulberry32(3);
    const valid = Array.from({ length: 10 }, (_, i) => randomRecord(rand, `f${i}`, v));
    for (const b of fuzzBodies(400, 7, valid, 1 << 16)) {
      let body: unknown;
      try {
        body = JSON.parse(String(b.body));
      } catch {
        continue;
      }
      const list = Array.isArray(body) ? body : body && typeof body === 'object' && 'records' in body ? (body as { records: unknown }).records : [body];
      agree(list);
    }
    for (const odd of [[{ id: 'a', index_time: 5, patients: { age: 1 } }, { id: 'a', index_time: 5, patients: { age: 2 } }], [{ id: '', index_time: 1 }], [{ id: 'a' }],
      [{ id: 'a', patients: { index_day: '' } }], [{ id: 'a', patients: [{ index_day: 3 }, { age: 1 }] }], JSON.parse('[{"id":"a","index_time":1,"__proto__":{"x":1}}]'),
      [{ id: 'a', index_time: 1, patients: { u: 'not-a-uuid' } }], [{ id: 'a', index_time: '2020-01-01' }], [{ id: 'a', index_time: 1, labs: null }], 'x', null, [null], [[]]])
      agree(odd);
  });
});

describe('missing-value markers in records', () => {
  it("count as missing, as in the table's file (a PhysioNet -1 was scored as the number -1); the records sent are not changed", () => {
    const v2 = makeRecordValidator(tableTypes, idColumns, { maxRecords: 5, naValues: { labs: ['-1', 'NA', ''] } });
    const sent = [{ id: 'a', labs: [{ day: 1, variable: 'crp', value: -1 }, { day: 2, variable: 'crp', value: 'NA' }, { day: 3, variable: 'crp', value: 7 }] }, { id: 'b', patients: { age: -1 } }];
    const before = JSON.stringify(sent);
    const r = v2(sent);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const labs = r.records[0].labs as { value: unknown }[];
    expect(labs.map((x) => x.value)).toEqual([null, null, 7]);
    expect((r.records[1].patients as { age: unknown }).age).toBe(-1); // another table's -1 is a value
    expect(JSON.stringify(sent)).toBe(before);
    // without markers, -1 is a number
    const plain = validate([{ id: 'a', patients: { index_day: 1000 }, labs: [{ day: 1, variable: 'crp', value: -1 }] }]);
    expect(plain.ok && (plain.records[0].labs as { value: unknown }[])[0].value).toBe(-1);
  });
});
