// The serving parts that need no model: counterfactual stacking, typical values, the request queue, record
// validation against a fitted state, and reading prediction inputs.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpec } from '../src/data/spec.js';
import type { ModalityInfo } from '../src/data/types.js';
import { predictionsCsv } from '../src/serve/format.js';
import { readPatientInput } from '../src/serve/input.js';
import { PredictQueue, QueueFullError } from '../src/serve/queue.js';
import { observedMeans } from '../src/serve/typical.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { maskString, stackVariants } from '../src/serve/variants.js';
import type { PatientRecord } from '../src/data/transform.js';
import type { PatientPrediction } from '../src/serve/predictor.js';

const mods: ModalityInfo[] = [
  { name: 'a', type: 'tabular', shape: [2], features: ['x', 'y'] },
  { name: 'b', type: 'codes', shape: [3], features: ['c1', 'c2', 'c3'] },
];

describe('stackVariants', () => {
  // Patient 0 has both modalities, patient 1 only a.
  const mask = Uint8Array.from([1, 1, 1, 0]);
  const values = { a: Float32Array.from([1, 2, 3, 4]), b: Float32Array.from([1, 0, 1, 0, 0, 0]) };
  const typical = { a: Float32Array.from([0.5, -0.5]), b: Float32Array.from([0.2, 0.3, 0.4]) };

  it('keeps block 0 factual and flips one modality per block', () => {
    const s = stackVariants(2, mask, values, mods, typical);
    expect(s.mask.length).toBe(3 * 2 * 2);
    expect([0, 1, 2, 3, 4, 5].map((r) => maskString(s.mask, 2, r))).toEqual(['11', '10', '01', '10', '10', '11']);
    // Block 1 (flip a): patient 0 loses a (zeroed); patient 1 would lose its only modality: left factual, undefined.
    expect(Array.from(s.values.a.subarray(4, 6))).toEqual([0, 0]);
    expect(Array.from(s.values.a.subarray(6, 8))).toEqual([3, 4]);
    // Block 2 (flip b): patient 0 loses b, patient 1 gains b at typical values.
    expect(Array.from(s.values.b.subarray(12, 15))).toEqual([0, 0, 0]);
    expect(Array.from(s.values.b.subarray(15, 18)).map((x) => +x.toFixed(3))).toEqual([0.2, 0.3, 0.4]);
    expect(Array.from(s.defined)).toEqual([1, 0, 1, 1]);
    // The inputs are untouched.
    expect(Array.from(values.a)).toEqual([1, 2, 3, 4]);
  });

  it('leaves the "observed" flip undefined without typical values', () => {
    const s = stackVariants(2, mask, values, mods, null);
    expect(Array.from(s.defined)).toEqual([1, 0, 1, 0]);
    expect(maskString(s.mask, 2, 5)).toBe('10');
  });
});

describe('observedMeans', () => {
  it('averages each modality over the rows where it is observed only', () => {
    const m = observedMeans({ mask: Uint8Array.from([1, 1, 1, 0, 0, 1]), values: { a: Float32Array.from([1, 2, 3, 6, 0, 0]), b: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 1, 1]) } }, mods);
    expect(Array.from(m.a)).toEqual([2, 4]);
    expect(Array.from(m.b)).toEqual([0.5, 0.5, 0.5]);
  });
});

describe('PredictQueue', () => {
  const rec = (id: string): PatientRecord => ({ id });
  const fake = (id: string): PatientPrediction => ({ id, p_do: 0, p_factual: 0, mask: '1', pattern: '1', modalities_used: [], modalities: {} });

  /** A runner that records each call's ids and holds the first call until release(); 'bad' records fail their group. */
  const gatedRunner = () => {
    const calls: string[][][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = async (groups: PatientRecord[][]) => {
      calls.push(groups.map((g) => g.map((r) => r.id)));
      if (calls.length === 1) await gate;
      return groups.map((g) => (g.some((r) => r.id === 'bad') ? new Error('bad record') : g.map((r) => fake(r.id))));
    };
    return { calls, release: () => release(), run };
  };

  it('batches waiting requests, answers each its own records, and refuses beyond the bound', async () => {
    const { calls, release, run } = gatedRunner();
    const q = new PredictQueue(run, { maxPendingRecords: 6, maxBatchRecords: 4 });
    const first = q.submit([rec('a')]);
    await new Promise((r) => setImmediate(r)); // the worker has taken 'a' alone and waits at the gate
    const waiting = [q.submit([rec('b'), rec('c')]), q.submit([rec('bad')]), q.submit([rec('d')])];
    await expect(q.submit([rec('e'), rec('f')])).rejects.toBeInstanceOf(QueueFullError);
    expect(q.pending).toBe(5);
    release();
    expect((await first).map((p) => p.id)).toEqual(['a']);
    const [bc, bad, d] = await Promise.allSettled(waiting);
    expect(bc.status === 'fulfilled' && bc.value.map((p) => p.id)).toEqual(['b', 'c']);
    expect(bad.status === 'rejected' && (bad.reason as Error).message).toBe('bad record');
    expect(d.status === 'fulfilled' && d.value.map((p) => p.id)).toEqual(['d']);
    // The three that waited went through in one batch (4 records fit the batch budget).
    expect(calls).toEqual([[['a']], [['b', 'c'], ['bad'], ['d']]]);
    await q.idle();
    expect(q.pending).toBe(0);
  });

  it('runs a large job a slice at a time: a small job that arrives meanwhile is answered between slices', async () => {
    const { calls, release, run } = gatedRunner();
    const q = new PredictQueue(run, { maxPendingRecords: 100, maxBatchRecords: 50, sliceRecords: 3, smallRecords: 2 });
    const big = q.submit(Array.from({ length: 8 }, (_, i) => rec(`p${i}`)));
    await new Promise((r) => setImmediate(r)); // the first slice is being scored
    const small = q.submit([rec('s')]);
    expect(q.pending).toBe(9);
    release();
    expect((await big).map((p) => p.id)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']); // whole, in order
    expect((await small).map((p) => p.id)).toEqual(['s']);
    expect(calls).toEqual([[['p0', 'p1', 'p2']], [['s']], [['p3', 'p4', 'p5']], [['p6', 'p7']]]);
    expect(q.pending).toBe(0);
  });

  it('cuts slices by time: what the measured rate scores in sliceSeconds, never fewer than 32 records', async () => {
    // A call costing 30 ms whatever its size (the SQL path's fixed cost): sized by the rate of small slices alone,
    // slices would shrink to one record and a request of 200 take 200 calls.
    const sizes: number[] = [];
    const q = new PredictQueue(async (groups) => {
      sizes.push(groups.reduce((a, g) => a + g.length, 0));
      const t = performance.now();
      while (performance.now() - t < 30);
      return groups.map((g) => g.map((r) => fake(r.id)));
    }, { maxPendingRecords: 1000, maxBatchRecords: 512, sliceSeconds: 0.02 });
    const ids = (await q.submit(Array.from({ length: 200 }, (_, i) => rec(`p${i}`)))).map((p) => p.id);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => `p${i}`));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(sizes.slice(0, -1).every((n) => n >= 32)).toBe(true);
    expect(sizes.length).toBeLessThanOrEqual(7); // 200 / 32, rounded up
    // A fast scorer gets larger slices: its rate times sliceSeconds.
    const fast: number[] = [];
    const f = new PredictQueue(async (groups) => {
      fast.push(groups.reduce((a, g) => a + g.length, 0));
      const t = performance.now();
      while (performance.now() - t < 1);
      return groups.map((g) => g.map((r) => fake(r.id)));
    }, { maxPendingRecords: 1000, maxBatchRecords: 512, sliceSeconds: 0.05 });
    await f.submit(Array.from({ length: 400 }, (_, i) => rec(`p${i}`)));
    expect(fast[0]).toBe(32);
    expect(Math.max(...fast.slice(1))).toBeGreaterThan(100);
  });

  it('stops a sliced job whose client has gone, and frees its records', async () => {
    const ac = new AbortController();
    let slices = 0;
    const q = new PredictQueue(async (groups) => {
      if (++slices === 1) ac.abort(); // the client leaves while the first slice is scored
      return groups.map((g) => g.map((r) => fake(r.id)));
    }, { maxPendingRecords: 100, maxBatchRecords: 50, sliceRecords: 2 });
    await expect(q.submit(Array.from({ length: 6 }, (_, i) => rec(`p${i}`)), ac.signal)).rejects.toThrow(/closed the connection/);
    await q.idle();
    expect(slices).toBe(1);
    expect(q.pending).toBe(0);
  });
});

describe('record validation', () => {
  const types = {
    patients: { id: 'VARCHAR', index_day: 'BIGINT', age: 'DOUBLE', sex: 'VARCHAR', small: 'TINYINT' },
    labs: { id: 'VARCHAR', day: 'BIGINT', variable: 'VARCHAR', value: 'DOUBLE' },
    visits: { id: 'VARCHAR', at: 'TIMESTAMP' },
  };
  const validate = makeRecordValidator(types, { patients: 'id', labs: 'id', visits: 'id' }, { maxRecords: 3 });
  const issues = (input: unknown) => {
    const r = validate(input);
    return r.ok ? [] : r.issues;
  };

  it('accepts good records (numbers as numeric strings, one-row tables as objects) and converts ids to strings', () => {
    const r = validate([{ id: 7, patients: { age: '61.5', sex: 'F' }, labs: [{ day: -3, variable: 'crp', value: 2.5 }], visits: [{ at: '2020-01-31 08:00:00' }] }]);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.records[0].id).toBe('7');
  });

  it('names the field path of each problem', () => {
    expect(issues([{ id: 'a', labs: [{ day: 1, variable: 'x', value: 1 }, {}, { value: 'high' }] }])).toEqual([{ path: 'records[0].labs[2].value', message: 'expected number' }]);
    expect(issues([{ id: 'a', vitals: [] }])[0]).toMatchObject({ path: 'records[0].vitals', message: expect.stringContaining("unknown table 'vitals'") });
    expect(issues([{ id: 'a', labs: [{ valeu: 1 }] }])[0]).toMatchObject({ path: 'records[0].labs[0].valeu', message: expect.stringContaining('unknown column') });
    expect(issues([{ id: 'a', patients: { small: 1000 } }])[0]).toMatchObject({ path: 'records[0].patients.small', message: expect.stringContaining('out of range') });
    expect(issues([{ id: 'a', patients: { age: '1e400' } }])[0]).toMatchObject({ path: 'records[0].patients.age', message: 'expected a finite number' });
    // Finite in float64 but Infinity in the model's float32 tensors: named at its field, not as a feature of the record.
    expect(issues([{ id: 'a', patients: { age: 1e300 } }])[0]).toMatchObject({ path: 'records[0].patients.age', message: 'expected a number within ±3.4e38 (the float32 range the model computes in)' });
    expect(issues([{ id: 'a', visits: [{ at: 'yesterday' }] }])[0].path).toBe('records[0].visits[0].at');
    // times of one column with a zone other than UTC beside times without one (the zoneless would move by the offset)
    const mixed = [{ id: 'a', visits: [{ at: '2020-01-31T08:00:00-05:00' }, { at: '2020-01-31 09:00:00' }] }];
    expect(issues(mixed)[0]).toMatchObject({ path: 'records[0].visits[1].at', message: expect.stringMatching(/time "2020-01-31 09:00:00" has no zone, while row 0 of the same column has one \("2020-01-31T08:00:00-05:00"\)/) });
    expect(validate(mixed).ok).toBe(false);
    // UTC beside zoneless is one clock
    expect(issues([{ id: 'a', visits: [{ at: '2020-01-31T08:00:00Z' }, { at: '2020-01-31 09:00:00' }] }])).toEqual([]);
    expect(validate([{ id: 'a', visits: [{ at: '2020-01-31T08:00:00Z' }, { at: '2020-01-31 09:00:00' }] }]).ok).toBe(true);
    // What the SQL text could not carry: NUL characters and blank numbers.
    expect(issues([{ id: 'a', patients: { sex: 'F\u0000' } }])[0]).toMatchObject({ path: 'records[0].patients.sex', message: expect.stringContaining('NUL') });
    expect(issues([{ id: 'a\u0000' }])[0]).toMatchObject({ path: 'records[0].id' });
    expect(issues([{ id: 'a', labs: [{ value: '  ' }] }])[0]).toMatchObject({ path: 'records[0].labs[0].value' });
    expect(issues([{ id: 'a', labs: [{ value: '' }] }])).toEqual([]);
    expect(issues([{ id: 'a' }, { id: 'a' }])[0]).toMatchObject({ path: 'records[1].id', message: expect.stringContaining('duplicate id') });
    // an id of 1e400 (Infinity once parsed) would be answered as "Infinity"
    expect(issues([{ id: Infinity }])[0]).toMatchObject({ path: 'records[0].id', message: expect.stringContaining('expected a finite number or a string') });
    expect(issues([{ labs: [] }])[0]).toMatchObject({ path: 'records[0].id' });
    expect(issues([])[0].message).toContain('at least one');
    expect(issues([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }])[0].message).toContain('too many records');
    expect(issues('x')[0]).toMatchObject({ path: 'records', message: expect.stringContaining('expected array') });
  });
});

describe('readPatientInput', () => {
  let dir: string;
  const spec = loadSpec(join(import.meta.dirname, '..', 'datasets', 'nafld', 'nafld.yaml'));
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cdmm-serve-input-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds tables in a folder by the spec file name or <table>.csv', () => {
    const f = join(dir, 'folder');
    mkdirSync(f);
    writeFileSync(join(f, 'nafld1.csv.gz'), '');
    writeFileSync(join(f, 'labs.csv'), '');
    const r = readPatientInput(f, spec);
    expect(r).toEqual({ kind: 'tables', tables: { subjects: join(f, 'nafld1.csv.gz'), labs: join(f, 'labs.csv') } });
  });

  it('reads a mapping relative to its own folder and rejects unknown tables', () => {
    writeFileSync(join(dir, 's.csv'), '');
    writeFileSync(join(dir, 'map.yaml'), 'subjects: s.csv\n');
    expect(readPatientInput(join(dir, 'map.yaml'), spec)).toEqual({ kind: 'tables', tables: { subjects: join(dir, 's.csv') } });
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ vitals: 's.csv' }));
    expect(() => readPatientInput(join(dir, 'bad.json'), spec)).toThrow(/bad\.json: vitals: not a table of spec 'nafld'/);
  });

  it('reads JSON and JSONL records, naming the line of a broken one', () => {
    writeFileSync(join(dir, 'r.json'), JSON.stringify({ records: [{ id: 1 }] }));
    expect(readPatientInput(join(dir, 'r.json'), spec)).toEqual({ kind: 'records', records: [{ id: 1 }] });
    writeFileSync(join(dir, 'r.jsonl'), '{"id":1}\n\n{"id":2}\n');
    expect(readPatientInput(join(dir, 'r.jsonl'), spec)).toEqual({ kind: 'records', records: [{ id: 1 }, { id: 2 }], lines: [1, 3] });
    writeFileSync(join(dir, 'b.jsonl'), '{"id":1}\n{"id":\n');
    expect(() => readPatientInput(join(dir, 'b.jsonl'), spec)).toThrow(/b\.jsonl: line 2: invalid JSON/);
    expect(() => readPatientInput(join(dir, 'x.csv'), spec)).toThrow(/input not found/);
  });

  it('reads one patient record (as POST /v1/predict takes it) from a .json file', () => {
    const rec = { id: 'p1', index_time: 0, subjects: [{ age: 61 }], labs: [{ days: -1, test: 'sbp', value: 141 }] };
    writeFileSync(join(dir, 'one.json'), JSON.stringify(rec));
    expect(readPatientInput(join(dir, 'one.json'), spec)).toEqual({ kind: 'records', records: [rec] });
    writeFileSync(join(dir, 'rows.json'), JSON.stringify({ subjects: { age: 61 } }));
    expect(readPatientInput(join(dir, 'rows.json'), spec)).toEqual({ kind: 'records', records: [{ subjects: { age: 61 } }] });
  });
});

describe('predictionsCsv', () => {
  it('one row per patient, per-modality columns, quoting and no spreadsheet formulas from ids', () => {
    const pred = (id: string): PatientPrediction => ({
      id, p_do: 0.25, p_factual: 0.5, mask: '10', pattern: '10', modalities_used: ['a'],
      modalities: {
        a: { observed: true, counterfactual: null, contribution: null },
        b: { observed: false, counterfactual: { change: 'observed', mask: '11', pattern: '11', p_do: 0.125, p_factual: 0.5 }, contribution: null },
      },
    });
    const noted = { ...pred('n'), notes: ['a: codes not seen in training, counted as <other>', 'b: rows were given'] };
    const csv = predictionsCsv({ predictions: [pred('=HYPERLINK("x")'), pred('-12'), pred('a,b'), noted] }, mods).trim().split('\n');
    expect(csv[0]).toBe('id,p_do,p_factual,mask,pattern,modalities_used,a:observed,a:cf_p_do,a:cf_pattern,a:contribution,b:observed,b:cf_p_do,b:cf_pattern,b:contribution,notes');
    expect(csv[1]).toBe(`"'=HYPERLINK(""x"")",0.25,0.5,10,10,a,1,,,,0,0.125,11,,`);
    expect(csv[4].endsWith(',"a: codes not seen in training, counted as <other>; b: rows were given"')).toBe(true);
    expect(csv[2].startsWith('-12,')).toBe(true);
    expect(csv[3].startsWith('"a,b",')).toBe(true);
  });
});

describe('record notes on time-series values', () => {
  it('note a value far outside training in a mapped value column, behind a row filter, and in a wide table; quote names printable', async () => {
    const { parseSpec } = await import('../src/data/spec.js');
    const { recordNotes } = await import('../src/serve/notes.js');
    const spec = parseSpec(`name: n
tables:
  p: { file: p.csv, id: id }
  labs: { file: l.csv, id: id, time: t, where: { name: [crea, "\u202eevil"] }, values: { value: { "<5": 4 } } }
  vitals: { file: v.csv, id: id, time: t }
cohort: { table: p }
label: { column: y }
modalities:
  labs: { type: timeseries, table: labs, variable: name, value: value, window: { start: -10 }, bins: 1 }
  vitals: { type: timeseries, table: vitals, columns: [hr], window: { start: -10 }, bins: 1 }
`, 'n.yaml');
    const ts = (vars: string[]) => ({ edges: [-10, 0], variables: vars.map((name) => ({ name, mean: 1, std: 0.3 })) });
    const state = { modalities: [{ name: 'labs', type: 'timeseries', state: ts(['crea', '\u202eevil']) }, { name: 'vitals', type: 'timeseries', state: ts(['hr']) }] } as never;
    const notes = recordNotes(spec, state);
    const pred = () => ({ modalities: { labs: { observed: true }, vitals: { observed: true } } }) as unknown as PatientPrediction;
    const records = [
      { id: 'a', labs: [{ t: -1, name: 'crea', value: 120 }] }, // µmol/L on a mg/dL model
      { id: 'b', labs: [{ t: -1, name: 'crea', value: '<5' }, { t: -1, name: 'urea', value: 900 }] }, // mapped; filtered out
      { id: 'c', vitals: [{ t: -1, hr: 5000 }] },
      { id: 'd', labs: [{ t: -1, name: '\u202eevil', value: 99 }] },
    ] as unknown as PatientRecord[];
    const preds = records.map(pred);
    notes(records, preds);
    expect(preds[0].notes).toEqual([expect.stringMatching(/^labs: 1 value far outside training among the rows given \(e\.g\. crea 120 is 397 training standard deviations from its training mean 1\)/)]);
    expect(preds[1].notes).toBeUndefined();
    expect(preds[2].notes).toEqual([expect.stringMatching(/^vitals: 1 value far outside training among the rows given \(e\.g\. hr 5000 is/)]);
    expect(preds[3].notes?.[0]).toMatch(/^labs: 1 value far outside training among the rows given \(e\.g\. \\u202eevil 99/);
  });
});
