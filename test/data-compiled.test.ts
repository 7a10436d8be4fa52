// Parity of the two request paths: the compiled transform (src/data/compiled, no SQL) against the SQL path
// (src/data/transform.ts via DuckDB, the oracle) on the same JSON records, and against the training arrays
// themselves for the same patients, on NAFLD, the simulator, a cohort with timestamps (clock times, zones, an
// index offset, MEDS-style prefixes, wide and long series, untimed codes, linked tables), the eICU task
// (minute offsets, the latest of two row times, value maps) and the MIMIC-IV task (links, lookups, row filters).
// Tolerance: masks equal exactly; every feature within 1e-6 (absolute; features are standardised, O(1)), which
// allows the last float32 bit of a mean summed in another row order. In practice the arrays are equal bit for bit.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset, type DataState } from '../src/data/build.js';
import { compileRecordTransform, tryCompileRecordTransform } from '../src/data/compiled/index.js';
import { Db, kindOf, q, tbl } from '../src/data/db.js';
import { registerTables } from '../src/data/tables.js';
import { mulberry32 } from '../src/data/rng.js';
import { simulate } from '../src/data/simulate.js';
import { loadSpec, tableId, type Spec } from '../src/data/spec.js';
import { transformPatients, type PatientRecord } from '../src/data/transform.js';
import type { PreparedDataset, SplitArrays } from '../src/data/types.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { records, vocab } from './serve-fixtures.js';
import { writeFixture } from './fixtures/data/helpers.js';
import { writePhysionet2019 } from './fixtures/data/physionet.js';

const TOLERANCE = 1e-6;
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-compiled-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The patients' rows of every spec table, as JSON records (time columns as DuckDB writes them: text). */
async function recordsFromTables(specPath: string, ids: string[]): Promise<PatientRecord[]> {
  const spec = loadSpec(specPath);
  const db = await Db.open('records');
  try {
    await registerTables(db, spec, dirname(resolve(specPath)), true);
    const byId = new Map(ids.map((id) => [id, { id } as PatientRecord]));
    const list = ids.map((id) => `'${id.replace(/'/g, "''")}'`).join(', ');
    for (const name of Object.keys(spec.tables)) {
      const t = db.table(name);
      // As a client sends them: the table's own columns (not the derived row time), values already mapped.
      const cols = [...t.columns.entries()].filter(([c]) => !c.startsWith('__')).map(([c, type]) => (kindOf(type) === 'time' ? `CAST(x.${q(c)} AS VARCHAR) AS ${q(c)}` : `x.${q(c)}`));
      const link = spec.tables[name].link;
      // A linked table (keyed by another id): each record gets the rows of its link value, e.g. its person's.
      const x = cols.join(', ');
      const keyed = link
        ? await db.rows(`SELECT CAST(l.${q(tableId(spec.tables[link.table])!)} AS VARCHAR) AS k, ${x} FROM ${tbl(name)} x JOIN ${tbl(link.table)} l ON CAST(l.${q(link.column)} AS VARCHAR) = CAST(x.${q(t.id)} AS VARCHAR) WHERE CAST(l.${q(tableId(spec.tables[link.table])!)} AS VARCHAR) IN (${list}) ORDER BY ${t.hasLine ? 'x.__line' : '1'}`)
        : await db.rows(`SELECT CAST(x.${q(t.id)} AS VARCHAR) AS k, ${x} FROM ${tbl(name)} x WHERE CAST(x.${q(t.id)} AS VARCHAR) IN (${list}) ORDER BY ${t.hasLine ? 'x.__line' : '1'}`);
      for (const row of keyed) {
        const rec = byId.get(String(row.k))!;
        for (const c of ['k', t.id]) delete row[c];
        ((rec[name] ??= []) as unknown[]).push(row);
      }
    }
    return ids.map((id) => byId.get(id)!);
  } finally {
    db.close();
  }
}

interface Diff {
  compared: number;
  exact: number;
  maxAbs: number;
  where: string;
}

/** Compares the rows of `ids` in two sets of arrays (masks exactly, values within the tolerance). */
function compare(ds: Pick<PreparedDataset, 'modalities'>, a: { ids: string[]; mask: Uint8Array; values: Record<string, Float32Array> }, b: typeof a, ids: string[]): Diff {
  const K = ds.modalities.length;
  const rowA = new Map(a.ids.map((id, i) => [id, i]));
  const rowB = new Map(b.ids.map((id, i) => [id, i]));
  const d: Diff = { compared: 0, exact: 0, maxAbs: 0, where: '' };
  for (const id of ids) {
    const i = rowA.get(id)!, j = rowB.get(id)!;
    expect(i, `${id} in the first`).toBeDefined();
    expect(j, `${id} in the second`).toBeDefined();
    expect(Array.from(a.mask.subarray(i * K, (i + 1) * K)), `mask of ${id}`).toEqual(Array.from(b.mask.subarray(j * K, (j + 1) * K)));
    for (const m of ds.modalities) {
      const D = m.shape.reduce((x, y) => x * y, 1);
      const va = a.values[m.name].subarray(i * D, (i + 1) * D), vb = b.values[m.name].subarray(j * D, (j + 1) * D);
      for (let k = 0; k < D; k++) {
        d.compared++;
        if (Object.is(va[k], vb[k]) || va[k] === vb[k]) d.exact++;
        const diff = Math.abs(va[k] - vb[k]);
        if (!(diff <= d.maxAbs)) {
          d.maxAbs = diff;
          d.where = `${id} ${m.name}[${k}]: ${va[k]} vs ${vb[k]}`;
        }
      }
    }
  }
  return d;
}

/** All training arrays (every split) as one set. */
function allSplits(ds: PreparedDataset): SplitArrays {
  const parts = Object.values(ds.splits) as SplitArrays[];
  const K = ds.modalities.length;
  const values: Record<string, Float32Array> = {};
  for (const m of ds.modalities) {
    const D = m.shape.reduce((x, y) => x * y, 1);
    const v = new Float32Array(parts.reduce((n, p) => n + p.ids.length, 0) * D);
    let off = 0;
    for (const p of parts) {
      v.set(p.values[m.name], off);
      off += p.values[m.name].length;
    }
    values[m.name] = v;
  }
  const mask = new Uint8Array(values[ds.modalities[0].name].length / ds.modalities[0].shape.reduce((x, y) => x * y, 1) * K);
  let off = 0;
  for (const p of parts) {
    mask.set(p.mask, off);
    off += p.mask.length;
  }
  return { ids: parts.flatMap((p) => p.ids), labels: new Float32Array(0), mask, values };
}

/** Both oracles on `n` patients of a spec (drawn from every split); returns the two comparisons. */
async function parity(specPath: string, n: number, seed = 1) {
  const ds = await prepareDataset(specPath, { quiet: true });
  const spec = loadSpec(specPath);
  const state = ds.state as DataState;
  const all = allSplits(ds);
  const rand = mulberry32(seed);
  const ids = [...all.ids].sort(() => rand() - 0.5).slice(0, n);
  const records = await recordsFromTables(specPath, ids);
  const compiled = compileRecordTransform(spec, state, ds.modalities).transform(records);
  expect(compiled.problems).toEqual([]);
  const sql = await transformPatients(spec, dirname(resolve(specPath)), state, { records });
  // Every modality is observed for some of the patients compared.
  ds.modalities.forEach((m, k) => expect(ids.filter((_, i) => compiled.mask[i * ds.modalities.length + k]).length, m.name).toBeGreaterThan(0));
  return { ds, spec, state, records, ids, compiled, vsSql: compare(ds, compiled, sql, ids), vsTraining: compare(ds, compiled, all, ids) };
}

function expectParity(d: Diff, label: string) {
  if (process.env.CDMM_PARITY_LOG) console.log(label, JSON.stringify(d));
  expect(d.compared, label).toBeGreaterThan(1000);
  expect(d.maxAbs, `${label}: largest difference at ${d.where}`).toBeLessThanOrEqual(TOLERANCE);
}

describe('compiled transform = SQL path = training arrays', () => {
  it('MEDS with static rows (null time) read by an untimed codes modality, beside windowed labs and codes', async () => {
    const dir = join(root, 'meds-static');
    mkdirSync(dir, { recursive: true });
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const con = await (await DuckDBInstance.create(':memory:')).connect();
    await con.run(`COPY (
      WITH p AS (SELECT i, TIMESTAMP '2020-01-01' + to_days(CAST(i % 50 AS INTEGER)) AS t0 FROM range(400) r(i))
      SELECT i AS subject_id, NULL::TIMESTAMP AS time, CASE WHEN i % 3 = 0 THEN 'GENDER//F' ELSE 'GENDER//M' END AS code, NULL::DOUBLE AS numeric_value FROM p
      UNION ALL SELECT i, NULL, 'RACE//' || (i % 4)::VARCHAR, NULL FROM p WHERE i % 5 <> 0
      UNION ALL SELECT i, t0 - INTERVAL 2 DAY, 'LAB//hr', 60.0 + i % 37 FROM p WHERE i % 2 = 0
      UNION ALL SELECT i, t0 + INTERVAL 1 DAY, 'GENDER//X', NULL FROM p
      UNION ALL SELECT i, t0 - INTERVAL 9 DAY, 'DX//' || (i % 6)::VARCHAR, NULL FROM p WHERE i % 3 <> 1
    ) TO '${join(dir, 'events.parquet')}' (FORMAT parquet)`);
    const cohort = ['subject_id,prediction_time,boolean_value'];
    for (let i = 0; i < 400; i++) cohort.push(`${i},${new Date(Date.UTC(2020, 0, 1 + (i % 50))).toISOString().slice(0, 19).replace('T', ' ')},${i % 3 === 0 || i % 7 === 0}`);
    writeFileSync(join(dir, 'cohort.csv'), cohort.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: meds-static
tables:
  events: { file: events.parquet, format: meds }
  cohort: { file: cohort.csv, id: subject_id }
cohort: { table: cohort, index_time: prediction_time }
label: { column: boolean_value }
modalities:
  sex: { type: codes, table: events, prefix: "GENDER//", untimed: true, min_count: 1 }
  race: { type: codes, table: events, prefix: "RACE//", untimed: true, min_count: 1 }
  vitals: { type: timeseries, table: events, prefix: "LAB//", window: { start: -30 }, bins: 2 }
  dx: { type: codes, table: events, prefix: "DX//", window: { start: -365 }, min_count: 1 }
split: { method: random, seed: 3 }
`);
    const r = await parity(join(dir, 'spec.yaml'), 300);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
    // the static codes are the null-time rows only: GENDER//X, timed (and after the index), is never one of them
    const sex = r.ds.modalities.find((m) => m.name === 'sex')!;
    expect(sex.features).toEqual(['F', 'M', '<other>']);
    const race = r.ds.modalities.findIndex((m) => m.name === 'race');
    r.ids.forEach((id, i) => expect(r.compiled.mask[i * r.ds.modalities.length + race], id).toBe(Number(id) % 5 === 0 ? 0 : 1));
    // no warning that the null-time rows go unused: they are the static modalities' data
    expect((r.ds.cohort.warnings ?? []).some((w) => w.includes('no time (blank)'))).toBe(false);
  }, 60_000);

  it('NAFLD (600 patients, 5 time series and codes)', async () => {
    const r = await parity('datasets/nafld/nafld.yaml', 600);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
    expect(r.vsSql.exact).toBe(r.vsSql.compared);
  }, 120_000);

  it('the simulator (tabular with categories, mean-aggregated labs, codes, notes, embeddings)', async () => {
    const dir = join(root, 'sim');
    await simulate({ out: dir, n: 700, seed: 11 });
    const r = await parity(join(dir, 'spec.yaml'), 500);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');

    // New patients as a client sends them: unseen codes and categories, numbers as text, odd but valid cells.
    const validate = makeRecordValidator(r.state.tableTypes, Object.fromEntries(Object.keys(r.spec.tables).map((t) => [t, 'id'])), { maxRecords: 5000, indexTime: { table: 'patients', column: 'index_day' } });
    const rand = mulberry32(4);
    const sent = records(300, 9, vocab(r.ds.modalities)).flatMap((rec, i) => [rec, oddCells(rand, rec, `odd${i}`)]);
    const checked = sent.map((rec) => validate([rec])).filter((x) => x.ok).map((x) => (x.ok ? x.records[0] : null!));
    expect(checked.length).toBeGreaterThan(450);
    const t = compileRecordTransform(r.spec, r.state, r.ds.modalities).transform(checked);
    const bad = new Set(t.problems.map((p) => p.record));
    const good = checked.filter((_, i) => !bad.has(i));
    const sql = await transformPatients(r.spec, join(root, 'sim'), r.state, { records: good });
    expectParity(compare(r.ds, t, sql, good.map((x) => x.id)), 'client records vs SQL');
    // A record the compiled transform refuses is refused by the SQL path too.
    for (const i of [...bad].slice(0, 3)) await expect(transformPatients(r.spec, join(root, 'sim'), r.state, { records: [checked[i]] })).rejects.toThrow(/no observed modality/);
  }, 120_000);

  it('timestamps: clock times (and dates), an index offset, prefixes, wide and long series, untimed counts, linked tables', async () => {
    const specPath = writeClockCohort(join(root, 'clock'), 400);
    const r = await parity(specPath, 300);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
    expect(r.state.tableTypes.events.at).toBe('TIMESTAMP');
    expect(r.state.tableTypes.visits.on).toBe('DATE');
    // The same patients with their times written in another zone (the same instants) give the same arrays.
    const shifted = r.records.map((rec) => ({ ...rec, events: (rec.events as Record<string, unknown>[] | undefined)?.map((e) => ({ ...e, at: inZone(String(e.at), 5.5) })) }));
    const again = compileRecordTransform(r.spec, r.state, r.ds.modalities).transform(shifted as PatientRecord[]);
    expectParity(compare(r.ds, again, r.compiled, r.ids), 'zoned times');
  }, 120_000);

  it('an index time some of whose values carry a zone (a TIMESTAMP WITH TIME ZONE column) is compiled too (it took the SQL path: 20–40× slower)', async () => {
    const specPath = writeClockCohort(join(root, 'clock-zoned'), 400, { zonedAdmit: true });
    const r = await parity(specPath, 300);
    expect(r.state.tableTypes.admissions.admit).toBe('TIMESTAMP WITH TIME ZONE');
    expect(tryCompileRecordTransform(r.spec, r.state, r.ds.modalities)).not.toHaveProperty('unsupported');
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
  }, 120_000);

  it('a values map on a column read as numbers matches by value (999 -> missing), on both paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-nummap-'));
    const p = ['id,bmi,score,y'];
    for (let i = 0; i < 120; i++) p.push(`${i},${i % 10 === 0 ? 999 : 20 + (i % 7)},${i % 9 === 0 ? 998 : i % 5},${i % 3 === 0 ? 1 : 0}`);
    writeFileSync(join(dir, 'p.csv'), p.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: nummap
tables:
  p: { file: p.csv, id: id, values: { bmi: { "999": null }, score: { "998": 2.5 } } }
cohort: { table: p, index_time: 0 }
label: { column: y }
modalities:
  demo: { type: tabular, table: p, numeric: [bmi, score] }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 } }
`);
    const spec = join(dir, 'spec.yaml');
    const ds = await prepareDataset(spec, { quiet: true, cache: false });
    const st = (ds.state as { modalities: { state: { numeric: { column: string; mean: number }[] } }[] }).modalities[0].state;
    // Before, '999.0' never equalled the key "999": the sentinel entered the mean (about 118 instead of 23).
    expect(st.numeric[0].mean).toBeLessThan(30);
    expect(st.numeric[1].mean).toBeLessThan(3);
    const r = await parity(spec, 100);
    for (const d of [r.vsSql, r.vsTraining]) {
      expect(d.compared).toBeGreaterThan(300); // 100 patients × 4 features
      expect(d.exact).toBe(d.compared);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a fraction in a whole-number value column (72.5 bpm where training held 72) is read as it is, on both paths; times, codes and filters still refuse one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-widen-'));
    const p = ['id,day0,hr,stage,y'];
    const v = ['id,day,item,val'];
    for (let i = 0; i < 150; i++) {
      p.push(`${i},${100 + (i % 5)},${60 + (i % 40)},${i % 3},${i % 3 === 0 ? 1 : 0}`);
      for (let k = 0; k < 3; k++) v.push(`${i},${95 + k},${k % 2 ? 220045 : 220050},${70 + ((i * 7 + k) % 50)}`);
    }
    writeFileSync(join(dir, 'p.csv'), p.join('\n') + '\n');
    writeFileSync(join(dir, 'v.csv'), v.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: widen
tables:
  p: { file: p.csv, id: id }
  v: { file: v.csv, id: id, time: day }
cohort: { table: p, index_time: day0, filters: ["stage < 3"] }
label: { column: y }
modalities:
  demo: { type: tabular, table: p, numeric: [hr], categorical: [stage] }
  vitals: { type: timeseries, table: v, variable: item, value: val, window: { start: -10, end: 0 }, bins: 2 }
split: { method: random, fractions: { train: 0.6, val: 0.2, test: 0.2 } }
`);
    const specPath = join(dir, 'spec.yaml');
    const ds = await prepareDataset(specPath, { quiet: true, cache: false });
    const spec = loadSpec(specPath);
    const state = ds.state as DataState;
    for (const [t, c] of [['p', 'hr'], ['p', 'day0'], ['p', 'stage'], ['v', 'val'], ['v', 'item'], ['v', 'day']]) expect(state.tableTypes[t][c], `${t}.${c}`).toBe('BIGINT');
    const { recordTableTypes } = await import('../src/data/records.js');
    const types = recordTableTypes(spec, state.tableTypes);
    // Only the value columns widen: the index time, the filtered category, the variable codes and the row time keep theirs.
    expect([types.p.hr, types.v.val]).toEqual(['DOUBLE', 'DOUBLE']);
    expect([types.p.day0, types.p.stage, types.p.id, types.v.item, types.v.day, types.v.id, types.p.y]).toEqual(Array(7).fill('BIGINT'));
    // `tables.p.columns` only picks what to load: hr still widens (eICU-style specs list their columns)
    const listed = recordTableTypes({ ...spec, tables: { ...spec.tables, p: { ...spec.tables.p, columns: ['id', 'day0', 'hr', 'stage', 'y'] } } }, state.tableTypes);
    expect([listed.p.hr, listed.p.day0]).toEqual(['DOUBLE', 'BIGINT']);
    // an embedding given by column_prefix widens its columns too
    const emb = recordTableTypes({ tables: { q: { file: 'q.csv', id: 'id' } }, cohort: { table: 'q', index_time: 0 }, label: { column: 'y' }, modalities: { img: { type: 'embedding', table: 'q', column_prefix: 'e' } } } as unknown as Spec, { q: { id: 'BIGINT', e0: 'BIGINT', e1: 'INTEGER', y: 'BIGINT' } });
    expect(emb.q).toEqual({ id: 'BIGINT', e0: 'DOUBLE', e1: 'DOUBLE', y: 'BIGINT' });
    const rec = (hr: number, val: number): PatientRecord => ({ id: 'n1', p: { day0: 100, hr, stage: 1 }, v: [{ day: 99, item: 220045, val }, { day: 99, item: 220050, val: 80 }] }) as PatientRecord;
    const wide = { ...state, tableTypes: types };
    const validate = makeRecordValidator(types, { p: 'id', v: 'id' }, { maxRecords: 5, indexTime: { table: 'p', column: 'day0' } });
    expect(validate([rec(72.5, 81.5)]).ok).toBe(true);
    const out = (hr: number, val: number) => compileRecordTransform(spec, wide, ds.modalities).transform([rec(hr, val)]);
    const sql = await transformPatients(spec, dir, state, { records: [rec(72.5, 81.5)] });
    const compiled = out(72.5, 81.5);
    expect(compiled.problems).toEqual([]);
    for (const m of ds.modalities) expect(Array.from(compiled.values[m.name]), m.name).toEqual(Array.from(sql.values[m.name]));
    // 72.5 lies half way between what 72 and 73 give (standardised linearly), not on either.
    const hr0 = (x: number) => out(x, 81.5).values.demo[0];
    expect(hr0(72.5)).toBeCloseTo((hr0(72) + hr0(73)) / 2, 5);
    const val0 = (x: number) => out(72, x).values.vitals;
    expect(Array.from(val0(81.5))).not.toEqual(Array.from(val0(81)));
    expect(Array.from(val0(81.5))).not.toEqual(Array.from(val0(82)));
    // A fraction where rounding would move a time, a code or a filtered category is still refused.
    for (const [bad, path] of [
      [{ id: 'n1', p: { day0: 100.4, hr: 70, stage: 1 } }, 'records[0].p.day0'],
      [{ id: 'n1', p: { day0: 100, hr: 70, stage: 1 }, v: [{ day: 99.6, item: 220045, val: 80 }] }, 'records[0].v[0].day'],
      [{ id: 'n1', p: { day0: 100, hr: 70, stage: 1 }, v: [{ day: 99, item: 220045.5, val: 80 }] }, 'records[0].v[0].item'],
      [{ id: 'n1', p: { day0: 100, hr: 70, stage: 2.5 } }, 'records[0].p.stage'],
    ] as const) {
      const r = validate([bad]);
      expect(r.ok, path).toBe(false);
      if (!r.ok) expect(r.issues[0]).toEqual({ path, message: expect.stringContaining('expected a whole number') });
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it("PhysioNet 2019's layout (a folder with file_column, first_row, an hourly event-log label): compiled, and the earliest row kept from records sent in any order", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-pn19-'));
    const spec = writePhysionet2019(dir, 120, (i) => 30 + (i % 3), (i, h) => `${h % 4 === 0 ? 'NaN' : 70 + (i % 17) + h}|${94 + (h % 5)}|${40 + (i % 45)}|${i % 2}|${h}|${i % 4 === 0 && h >= 20 ? 1 : 0}`, 'pn19');
    const r = await parity(spec, 60);
    expect(tryCompileRecordTransform(r.spec, r.state, r.ds.modalities)).not.toHaveProperty('unsupported');
    expect(r.vsSql.exact).toBe(r.vsSql.compared);
    expect(r.vsTraining.maxAbs).toBeLessThanOrEqual(TOLERANCE);
    // later rows of the per-patient table, with other values, sent before the first one: both paths keep the earliest
    const rand = mulberry32(4);
    const shuffled = r.records.map((rec) => {
      const first = (rec.stays as Record<string, unknown>[])[0];
      const later = [5, 9, 2].map((h) => ({ ...first, Age: 99, ICULOS: h + 1 }));
      return { ...rec, stays: [...later, first].sort(() => rand() - 0.5) };
    });
    const compiled = compileRecordTransform(r.spec, r.state, r.ds.modalities).transform(shuffled);
    expect(compiled.problems).toEqual([]);
    const sql = await transformPatients(r.spec, dir, r.state, { records: shuffled });
    const vsSql = compare(r.ds, compiled, sql, r.ids);
    expect(vsSql.exact).toBe(vsSql.compared);
    expect(compare(r.ds, compiled, allSplits(r.ds), r.ids).maxAbs).toBeLessThanOrEqual(TOLERANCE);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a first_row table whose earliest row comes after the prediction time gives no values, on both paths', async () => {
    // stays 1–100: a first vital at 60 min (before the 24 h index) and one at 3,000; 101–200: only the 3,000 one,
    // whose value is the outcome (a tester's leak: test AUROC 0.94 from it)
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-firstrow-late-'));
    const stays = ['stay,age,died'], vitals = ['stay,offset,sbp'];
    for (let i = 1; i <= 200; i++) {
      const died = i % 5 === 0 ? 1 : 0;
      stays.push(`${i},${50 + (i % 30)},${died}`);
      if (i <= 100) vitals.push(`${i},60,${110 + (i % 20)}`);
      vitals.push(`${i},3000,${died ? 200 : 100}`);
    }
    writeFileSync(join(dir, 'stays.csv'), stays.join('\n') + '\n');
    writeFileSync(join(dir, 'vitals.csv'), vitals.join('\n') + '\n');
    writeFileSync(join(dir, 'spec.yaml'), `name: late
tables:
  stays: { file: stays.csv, id: stay, time_unit: minutes }
  vit1: { file: vitals.csv, id: stay, time: offset, time_unit: minutes, first_row: true }
cohort: { table: stays, index_time: 0, index_offset: 1440 min }
label: { column: died }
modalities:
  demo: { type: tabular, table: stays, numeric: [age] }
  firstbp: { type: tabular, table: vit1, numeric: [sbp] }
split: { method: random, seed: 0 }
`);
    const r = await parity(join(dir, 'spec.yaml'), 80);
    expect(r.vsSql.exact).toBe(r.vsSql.compared);
    expect(r.vsTraining.maxAbs).toBeLessThanOrEqual(TOLERANCE);
    expect(r.ds.cohort.warnings?.join('\n')).toMatch(/modalities\.firstbp: for 100 patients the earliest row of tables\.vit1 \(first_row\) comes after the prediction time: its values are not used/);
    // none of the late stays has the modality; every early one has it
    const k = r.ds.modalities.findIndex((m) => m.name === 'firstbp');
    r.ids.forEach((id, i) => expect([id, r.compiled.mask[i * r.ds.modalities.length + k]]).toEqual([id, Number(id) <= 100 ? 1 : 0]));
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  const eicu = 'datasets/eicu-demo/mortality-24h.yaml';
  it('codes split from one cell and truncated (eICU\'s "401.9, I10"), on both paths', async () => {
    const rand = mulberry32(3);
    const pool = ['401.9', 'I10', '428.0', '428.1', 'E11.9', 'é12.3', '584.9'];
    const pts = ['id,age,y'];
    const dx = ['id,day,icd'];
    for (let i = 1; i <= 300; i++) {
      pts.push(`${i},${40 + (i % 40)},${i % 5 === 0 ? 1 : 0}`);
      for (let r = 0; r < 1 + (i % 3); r++) {
        const k = 1 + Math.floor(rand() * 3);
        const cell = Array.from({ length: k }, () => pool[Math.floor(rand() * pool.length)]).join(rand() < 0.5 ? ', ' : ',');
        dx.push(`${i},${-Math.floor(rand() * 20)},"${rand() < 0.1 ? cell + ', ,' : cell}"`);
      }
    }
    const dir = writeFixture({
      'p.csv': pts.join('\n') + '\n',
      'dx.csv': dx.join('\n') + '\n',
      'spec.yaml': `name: icd
tables:
  p: { file: p.csv, id: id }
  dx: { file: dx.csv, id: id, time: day }
cohort: { table: p }
label: { column: y }
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
  dx: { type: codes, table: dx, code: icd, split: ",", truncate: 3, window: { start: -30 }, min_count: 1, encoding: counts }
split: { method: random, seed: 0 }
`,
    });
    const r = await parity(join(dir, 'spec.yaml'), 200);
    expect(r.ds.modalities[1].features).toEqual(['401', '428', '584', 'E11', 'I10', 'é12', '<other>']);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
    expect(r.vsSql.exact).toBe(r.vsSql.compared);
  });

  it('codes folded to one whatever their case and spaces (fold_case), split or not, on both paths', async () => {
    const rand = mulberry32(5);
    const pool = ['IVF (ml/hr)', 'ivf (ml/hr)', ' Ivf (ML/hr) ', 'Heparin', 'heparin ', 'é-drip', 'É-drip', '  '];
    const pts = ['id,age,y'];
    const dx = ['id,day,drug,drugs'];
    for (let i = 1; i <= 300; i++) {
      pts.push(`${i},${40 + (i % 40)},${i % 4 === 0 ? 1 : 0}`);
      for (let r = 0; r < 1 + (i % 3); r++) {
        const pick = () => pool[Math.floor(rand() * pool.length)];
        dx.push(`${i},${-Math.floor(rand() * 20)},"${pick()}","${pick()};${pick()}"`);
      }
    }
    const dir = writeFixture({
      'p.csv': pts.join('\n') + '\n',
      'dx.csv': dx.join('\n') + '\n',
      'spec.yaml': `name: fold
tables:
  p: { file: p.csv, id: id }
  dx: { file: dx.csv, id: id, time: day }
cohort: { table: p }
label: { column: y }
modalities:
  demo: { type: tabular, table: p, numeric: [age] }
  one: { type: codes, table: dx, code: drug, fold_case: true, window: { start: -30 }, min_count: 1, encoding: counts }
  split: { type: codes, table: dx, code: drugs, split: ";", fold_case: true, window: { start: -30 }, min_count: 1 }
split: { method: random, seed: 0 }
`,
    });
    const r = await parity(join(dir, 'spec.yaml'), 200);
    // one code per drug; non-ASCII letters as they are (both paths fold ASCII only); a blank cell is no code
    expect(r.ds.modalities[1].features).toEqual(['HEPARIN', 'IVF (ML/HR)', 'É-DRIP', 'é-DRIP', '<other>']);
    expect(r.ds.modalities[2].features).toEqual(r.ds.modalities[1].features);
    expect(r.vsSql.exact).toBe(r.vsSql.compared);
    expectParity(r.vsTraining, 'vs training');
  });

  it('the eICU task (minute offsets, the latest of two times, value maps, row filters)', async () => {
    const ds = await prepareDataset(eicu, { quiet: true });
    const compiled = tryCompileRecordTransform(loadSpec(eicu), ds.state as DataState, ds.modalities);
    expect('unsupported' in compiled ? compiled.unsupported : 'compiled').toBe('compiled');
    const r = await parity(eicu, 300);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
  }, 300_000);

  it('the MIMIC-IV task (tables linked by subject, lookups, row filters, item ids as variables, dates)', async () => {
    const mimic = 'datasets/mimic-iv-demo/mortality-24h.yaml';
    const ds = await prepareDataset(mimic, { quiet: true });
    const compiled = tryCompileRecordTransform(loadSpec(mimic), ds.state as DataState, ds.modalities);
    expect('unsupported' in compiled ? compiled.unsupported : 'compiled').toBe('compiled');
    expect('crossRecord' in compiled && compiled.crossRecord).toBe(true);
    const r = await parity(mimic, 100);
    expectParity(r.vsSql, 'vs SQL');
    expectParity(r.vsTraining, 'vs training');
    // Lookup columns left out: filled from the lookup table's rows of the request (pharmacy → prescriptions'
    // entertime; admissions → diagnoses' dischtime, which only the record's own admission can give).
    const sent = r.records.map((rec) => ({
      ...rec,
      prescriptions: (rec.prescriptions as Record<string, unknown>[] | undefined)?.map(({ entertime: _, ...row }) => row),
      diagnoses_icd: (rec.diagnoses_icd as Record<string, unknown>[] | undefined)?.map(({ dischtime: _, ...row }) => row),
    })) as PatientRecord[];
    const t = compileRecordTransform(r.spec, r.state, r.ds.modalities).transform(sent);
    const good = sent.filter((_, i) => !t.problems.some((p) => p.record === i));
    const sql = await transformPatients(r.spec, dirname(resolve(mimic)), r.state, { records: good });
    expectParity(compare(r.ds, t, sql, good.map((x) => x.id)), 'lookups vs SQL');
    const k = r.ds.modalities.findIndex((m) => m.name === 'medications');
    expect(good.filter((_, i) => t.mask[i * r.ds.modalities.length + k]).length).toBeGreaterThan(0);
    // Lookup rows are matched among the records of one patient (cohort.patient: subject_id): another admission
    // of the patient may time this one's rows, another patient's rows never do (an attacker's pass: a second
    // patient's pharmacy row with the same pharmacy_id timed the first's prescriptions and turned them on).
    const withRx = good.find((g) => ((g.prescriptions as unknown[] | undefined)?.length ?? 0) > 0)!;
    expect(withRx).toBeDefined();
    const adm = (withRx.admissions as Record<string, unknown>[])[0];
    const rx = (withRx.prescriptions as Record<string, unknown>[]).map((row, j) => ({ ...row, pharmacy_id: 900_000 + j }));
    // Entered in the pharmacy system two days after admission, after the prediction time (admission + 24 h).
    const later = new Date(Date.parse(String(adm.admittime).replace(' ', 'T') + 'Z') + 2 * 86_400_000).toISOString().slice(0, 19).replace('T', ' ');
    const pharmacy = rx.map((row) => ({ pharmacy_id: row.pharmacy_id, entertime: later }));
    const a = { ...withRx, prescriptions: rx } as PatientRecord;
    const sameRows = (sid: unknown) => ({ id: 'other', admissions: [{ ...adm, subject_id: sid, hadm_id: undefined }], pharmacy }) as unknown as PatientRecord;
    const tr = compileRecordTransform(r.spec, r.state, r.ds.modalities);
    const K = r.ds.modalities.length;
    const alone = tr.transform([a]);
    const otherPatient = tr.transform([a, sameRows(Number(adm.subject_id) + 1)]);
    const samePatient = tr.transform([a, sameRows(adm.subject_id)]);
    expect(alone.mask[k]).toBe(1); // known at its start time
    expect(Array.from(otherPatient.mask.subarray(0, K))).toEqual(Array.from(alone.mask));
    for (const m of tr.modalities) expect([m.name, Array.from(otherPatient.values[m.name].subarray(0, m.width))]).toEqual([m.name, Array.from(alone.values[m.name])]);
    expect(samePatient.mask[k]).toBe(0); // entered after the prediction time: not yet known
  }, 300_000);
});

describe('rows at the same time, and the per-bin aggregates', () => {
  // 12:30 and 13:17 are no float32 number of days: a float64 time compared with its float32 copy had made the
  // first or the last row win, and the two paths chose differently (found by a new user on MIMIC-IV's omr).
  const files = (order: 'larger first' | 'smaller first' | 'larger only' | 'smaller only', aggregate = 'last') => {
    const adm = ['id,idx,age,y'];
    const labs = ['id,day,test,value'];
    for (let i = 1; i <= 40; i++) {
      adm.push(`${i},2020-01-10 ${i % 3 ? (i % 3 === 1 ? '12:30:00' : '13:17:00') : '12:00:00'},${40 + i},${i % 4 === 0 ? 1 : 0}`);
      const big = `${i},2020-01-09,w,${100 + i}`, small = `${i},2020-01-09,w,${50 + i}`;
      // Alternating per patient, so that neither "the first row" nor "the last row" gives the larger value.
      const first = order === 'larger first' ? i % 2 === 0 : i % 2 === 1;
      labs.push(...(order === 'larger only' ? [big] : order === 'smaller only' ? [small] : first ? [big, small] : [small, big]), `${i},2019-12-20,w,${i}`);
    }
    return writeFixture({
      'adm.csv': adm.join('\n') + '\n',
      'labs.csv': labs.join('\n') + '\n',
      'spec.yaml': `name: ties
tables:
  adm: { file: adm.csv, id: id }
  labs: { file: labs.csv, id: id, time: day }
cohort: { table: adm, index_time: idx }
label: { column: y }
modalities:
  demo: { type: tabular, table: adm, numeric: [age] }
  labs: { type: timeseries, table: labs, variable: test, value: value, window: { start: -30, end: 0 }, bins: 2, aggregate: ${aggregate} }
split: { method: random, seed: 1 }
`,
    });
  };
  /** Both orders of the two rows give, on both paths, the arrays of the file holding only `alone`'s row. */
  async function sameAs(alone: 'larger only' | 'smaller only', aggregate: string) {
    const [a, b, only] = await Promise.all((['larger first', 'smaller first', alone] as const).map(async (o) => {
      const dir = files(o, aggregate);
      return { dir, ds: await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false }) };
    }));
    const ids = allSplits(only.ds).ids;
    for (const x of [a, b]) {
      // The file path: the same arrays as with that row alone (fitted statistics included).
      expect(x.ds.state).toEqual(only.ds.state);
      const d = compare(only.ds, allSplits(x.ds), allSplits(only.ds), ids);
      expect(d.maxAbs, d.where).toBe(0);
      // The request path, the rows in the file's order.
      const spec = loadSpec(join(x.dir, 'spec.yaml'));
      const records = await recordsFromTables(join(x.dir, 'spec.yaml'), ids);
      const compiled = compileRecordTransform(spec, only.ds.state as DataState, only.ds.modalities).transform(records);
      const c = compare(only.ds, compiled, allSplits(only.ds), ids);
      expect(c.maxAbs, c.where).toBe(0);
    }
  }

  it('give the larger value whatever the row order, on both paths (aggregate: last)', async () => {
    await sameAs('larger only', 'last');
  });

  it('CellAggregate: last takes the latest row, max and min the extremes whatever their times, mean the average', async () => {
    const { CellAggregate } = await import('../src/data/modalities/timeseries.js');
    const rows: [number, number][] = [[1, 5], [3, 2], [2, 9]]; // (time, value): the latest row is not an extreme
    const got = (['last', 'max', 'min', 'mean'] as const).map((how) => {
      const a = new CellAggregate(1, how);
      for (const [t, v] of rows) a.add(0, t, v);
      const { value, tlast } = a.finish();
      return [how, value[0], tlast[0]];
    });
    expect(got).toEqual([['last', 2, 3], ['max', 9, 3], ['min', 2, 3], ['mean', expect.closeTo(16 / 3, 5), 3]]);
  });

  it('max and min take the largest and the smallest value of a bin, on both paths', async () => {
    await sameAs('larger only', 'max');
    await sameAs('smaller only', 'min');
  });
});

describe('what the compiled transform declines or refuses', () => {
  it('declines (with the reason) a spec field it does not know, so that the SQL path serves the run', async () => {
    const ds = await prepareDataset('datasets/nafld/nafld.yaml', { quiet: true });
    const spec = loadSpec('datasets/nafld/nafld.yaml');
    const withField = { ...spec, tables: { ...spec.tables, labs: { ...spec.tables.labs, value_map: { x: 1 } } } } as unknown as Spec;
    expect(tryCompileRecordTransform(withField, ds.state as DataState)).toEqual({ unsupported: 'tables.labs: value_map (not known to the compiled transform)' });
    const state = ds.state as DataState;
    const decimal = { ...state, tableTypes: { ...state.tableTypes, subjects: { ...state.tableTypes.subjects, age: 'DECIMAL(5,1)' } } };
    expect(tryCompileRecordTransform(spec, decimal)).toMatchObject({ unsupported: expect.stringContaining('DECIMAL(5,1)') });
  });

  it('names the record and table of a patient it cannot transform; the others are transformed', async () => {
    const ds = await prepareDataset('datasets/nafld/nafld.yaml', { quiet: true });
    const t = compileRecordTransform(loadSpec('datasets/nafld/nafld.yaml'), ds.state as DataState, ds.modalities);
    const r = t.transform([
      { id: 'a', subjects: [{ age: 50 }, { age: 51 }] },
      { id: 'b', labs: [{ days: 10, test: 'sbp', value: 120 }] }, // after the index: nothing observed
      { id: 'c', subjects: { age: 1e300 } },
      { id: 'd', subjects: { age: 50 } },
      { id: 'e' },
    ] as PatientRecord[]);
    expect(r.problems).toEqual([
      { record: 0, path: ['subjects'], message: '2 rows, but the cohort table (cohort.table) needs one row per patient' },
      { record: 1, path: [], message: 'patient "b" has no observed modality (its rows (labs: 1) were all unused: outside the modality windows, variables or codes the model does not read, or values missing)' },
      { record: 2, path: [], message: "modality 'demographics' has a non-finite feature (a value too large for float32 once standardised)" },
      { record: 4, path: [], message: 'patient "e" has no observed modality (no data in any modality\'s tables)' },
    ]);
    expect(Array.from(r.mask.subarray(3 * 6, 4 * 6))).toEqual([1, 0, 0, 0, 0, 0]);
    expect(Array.from(r.mask.subarray(0, 3 * 6)).every((x) => x === 0)).toBe(true);
  });

  it('is pure: the same records give the same arrays, and the records are not changed', async () => {
    const ds = await prepareDataset('datasets/nafld/nafld.yaml', { quiet: true });
    const t = compileRecordTransform(loadSpec('datasets/nafld/nafld.yaml'), ds.state as DataState, ds.modalities);
    const recs = await recordsFromTables('datasets/nafld/nafld.yaml', ds.splits.test.ids.slice(0, 40));
    const before = JSON.stringify(recs);
    const a = t.transform(recs), b = t.transform(recs);
    expect(JSON.stringify(recs)).toBe(before);
    expect(b).toEqual(a);
  });
});

/** A copy of a record with cells written another valid way: numbers as text, booleans, rounding into integer days, blanks. */
function oddCells(rand: () => number, rec: Record<string, unknown>, id: string): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(rec)) as Record<string, unknown>;
  copy.id = id;
  const odd = (v: unknown, key: string): unknown => {
    const r = rand();
    if (typeof v === 'number') return r < 0.3 ? ` ${v} ` : r < 0.4 && key === 'day' ? `${v}.0` : r < 0.45 ? '' : r < 0.5 ? null : v;
    if (typeof v === 'string') return r < 0.1 ? '' : r < 0.2 ? v.toUpperCase() : r < 0.25 ? ` ${v}` : v;
    return v;
  };
  for (const [k, v] of Object.entries(copy)) {
    if (k === 'id') continue;
    if (k === 'index_time') {
      if (rand() < 0.3) {
        delete copy.index_time;
        (copy.patients as Record<string, unknown>).index_day = rand() < 0.5 ? '1000' : '1000.0'; // (a fraction is refused: the column held whole days)
      }
      continue;
    }
    const rows = Array.isArray(v) ? v : [v];
    for (const row of rows as Record<string, unknown>[]) for (const c of Object.keys(row)) row[c] = odd(row[c], c);
  }
  if (rand() < 0.2) copy.labs = [...((copy.labs as unknown[]) ?? []), { day: 999, variable: 'lactate', value: true }];
  return copy;
}

/** Writes a cohort whose times are timestamps (admissions with a time of day, events with zones) and its spec. */
function writeClockCohort(dir: string, n: number, o: { zonedAdmit?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const rand = mulberry32(5);
  const pad = (x: number, w = 2) => String(x).padStart(w, '0');
  const stamp = (ms: number, zoned: boolean) => {
    const d = new Date(ms);
    const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    return zoned ? `${base}.${pad(d.getUTCMilliseconds(), 3)}Z` : base;
  };
  const adm: string[] = ['id,person,admit,age,ward,outcome,out_at'];
  const people: string[] = ['person,sex,smoker'];
  const allergies: string[] = ['person,noted,allergy'];
  for (let p = 0; p < Math.ceil(n / 2); p++) {
    people.push(`${p},${rand() < 0.5 ? 'F' : 'M'},${rand() < 0.3 ? 1 : 0}`);
    for (let e = 0, E = Math.floor(rand() * 3); e < E; e++) allergies.push(`${p},${stamp(Date.UTC(2018, 6, 1) + Math.floor(rand() * 900) * 86400e3, false)},${['penicillin', 'latex', 'nuts'][Math.floor(rand() * 3)]}`);
  }
  const ev: string[] = ['id,at,code,value'];
  const vit: string[] = ['id,at,hr,sbp'];
  const hist: string[] = ['id,code'];
  const visits: string[] = ['id,on,reason'];
  for (let i = 0; i < n; i++) {
    const admit = Date.UTC(2019, 0, 1) + Math.floor(rand() * 600) * 86400e3 + Math.floor(rand() * 86400e3);
    const died = rand() < 0.3;
    adm.push(`${i},${Math.floor(rand() * Math.ceil(n / 2))},${stamp(admit, o.zonedAdmit === true && i % 3 === 0)},${Math.round(40 + rand() * 50)},${1 + Math.floor(rand() * 4)},${died ? 1 : 0},${stamp(admit + (died ? 5 : 40) * 86400e3, false)}`);
    for (let e = 0, E = Math.floor(rand() * 8); e < E; e++) {
      const at = admit + Math.floor((rand() * 3 - 2) * 86400e3);
      const kind = rand();
      ev.push(`${i},${stamp(at, false)},${kind < 0.4 ? 'LAB//lactate' : kind < 0.7 ? 'LAB//crp' : kind < 0.9 ? 'DX//sepsis' : 'DX//aki'},${(rand() * 5 + (died ? 1 : 0)).toFixed(3)}`);
    }
    for (let e = 0, E = Math.floor(rand() * 5); e < E; e++) {
      const at = admit + Math.floor((rand() * 1.5 - 0.5) * 86400e3);
      vit.push(`${i},${stamp(at, false)},${rand() < 0.1 ? '' : Math.round(60 + rand() * 60)},${Math.round(90 + rand() * 50)}`);
    }
    if (rand() < 0.6) for (let e = 0, E = 1 + Math.floor(rand() * 3); e < E; e++) hist.push(`${i},${['htn', 'ckd', 'copd', 'dm'][Math.floor(rand() * 4)]}`);
    for (let e = 0, E = Math.floor(rand() * 4); e < E; e++) visits.push(`${i},${stamp(admit - Math.floor(rand() * 400 - 20) * 86400e3, false).slice(0, 10)},${['fall', 'rash', 'cough'][Math.floor(rand() * 3)]}`);
  }
  for (const [f, lines] of [['admissions.csv', adm], ['events.csv', ev], ['vitals.csv', vit], ['history.csv', hist], ['visits.csv', visits], ['people.csv', people], ['allergies.csv', allergies]] as const) writeFileSync(join(dir, f), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'spec.yaml'), `name: clock
tables:
  admissions: { file: admissions.csv, id: id }
  events: { file: events.csv, id: id, time: at }
  vitals: { file: vitals.csv, id: id, time: at }
  history: { file: history.csv, id: id }
  visits: { file: visits.csv, id: id, time: "on" }
  people: { file: people.csv, id: person, link: { table: admissions, column: person } }
  allergies: { file: allergies.csv, id: person, time: noted, link: { table: admissions, column: person } }
cohort: { table: admissions, index_time: admit, index_offset: 0.5 }
label: { event: outcome, time: out_at, horizon: 30 }
modalities:
  demographics: { type: tabular, table: admissions, numeric: [age], categorical: [ward] }
  labs: { type: timeseries, table: events, prefix: "LAB//", variable: code, value: value, window: { start: -2.5, end: 0 }, bins: 3, aggregate: last }
  vitals: { type: timeseries, table: vitals, columns: [hr, sbp], window: { start: -1, end: 0 }, edges: [-1, -0.25, -0.05, 0], aggregate: mean }
  diagnoses: { type: codes, table: events, prefix: "DX//", code: code, window: { start: -3, end: 0 }, min_count: 2, encoding: counts }
  history: { type: codes, table: history, code: code, untimed: true, min_count: 1 }
  visits: { type: codes, table: visits, code: reason, window: { start: -365, end: 0 }, min_count: 1 }
  person: { type: tabular, table: people, numeric: [smoker], categorical: [sex] }
  allergies: { type: codes, table: allergies, code: allergy, window: { start: -720, end: 0 }, min_count: 1 }
split: { method: random, seed: 2 }
`);
  return join(dir, 'spec.yaml');
}

/** The same instant written with a zone `hours` ahead of UTC, e.g. "2020-01-01 10:30:00.000+05:30". */
function inZone(text: string, hours: number): string {
  const ms = Date.parse(text.replace(' ', 'T').replace(/Z?$/, 'Z')) + hours * 3600e3;
  const d = new Date(ms);
  const pad = (x: number, w = 2) => String(x).padStart(w, '0');
  const h = Math.floor(hours), m = Math.round((hours - h) * 60);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}+${pad(h)}:${pad(m)}`;
}

describe('lookups in a request of several patients', () => {
  it("match a patient's own records only, on the compiled and the SQL path alike (a reviewer's pass: another patient's admission timed this one's diagnoses on the SQL path)", async () => {
    const adm = ['hadm_id,subject_id,admittime,dischtime,died,age'];
    const dx = ['subject_id,hadm_id,icd_code'];
    for (let i = 0; i < 80; i++) {
      const s = 1 + Math.floor(i / 2);
      const first = i % 2 === 0;
      adm.push(`${1000 + i},${s},2150-0${first ? 1 : 3}-01 00:00:00,2150-0${first ? 1 : 3}-05 00:00:00,${i % 3 === 0 ? 1 : 0},${40 + (i % 30)}`);
      dx.push(`${s},${1000 + i},${['I10', 'E11', 'J18'][i % 3]}`);
    }
    const dir = writeFixture({
      'admissions.csv': adm.join('\n') + '\n',
      'diagnoses.csv': dx.join('\n') + '\n',
      'spec.yaml': `name: lookup-patients
tables:
  admissions: { file: admissions.csv, id: hadm_id }
  diagnoses:
    file: diagnoses.csv
    id: subject_id
    link: { table: admissions, column: subject_id }
    lookup: { table: admissions, on: hadm_id, columns: [dischtime] }
    time: dischtime
cohort: { table: admissions, patient: subject_id, index_time: admittime, index_offset: 24 h, end_time: dischtime }
label: { column: died }
modalities:
  demo: { type: tabular, table: admissions, numeric: [age] }
  history: { type: codes, table: diagnoses, code: icd_code, min_count: 1 }
split: { method: random, seed: 0 }
`,
    });
    const specPath = join(dir, 'spec.yaml');
    const ds = await prepareDataset(specPath, { quiet: true, cache: false });
    const spec = loadSpec(specPath);
    const tr = compileRecordTransform(spec, ds.state as DataState, ds.modalities);
    const h = ds.modalities.findIndex((m) => m.name === 'history');
    const K = ds.modalities.length;
    // A (subject 500): a diagnosis of admission 7777, which A does not send; B (subject 600) owns 7777, discharged
    // before A's index; C is A's own earlier admission 7778 (subject 500), discharged before A's index too.
    const A = { id: '5000', admissions: [{ hadm_id: 5000, subject_id: 500, admittime: '2150-06-01 00:00:00', dischtime: '2150-06-09 00:00:00', age: 50 }], diagnoses: [{ subject_id: 500, hadm_id: 7777, icd_code: 'I10' }, { subject_id: 500, hadm_id: 7778, icd_code: 'E11' }] } as unknown as PatientRecord;
    const B = { id: '7777', admissions: [{ hadm_id: 7777, subject_id: 600, admittime: '2150-05-01 00:00:00', dischtime: '2150-05-03 00:00:00', age: 60 }] } as unknown as PatientRecord;
    const C = { id: '7778', admissions: [{ hadm_id: 7778, subject_id: 500, admittime: '2150-04-01 00:00:00', dischtime: '2150-04-03 00:00:00', age: 50 }] } as unknown as PatientRecord;
    const history = (r: { ids: string[]; mask: Uint8Array; values: Record<string, Float32Array> }) => {
      const i = r.ids.indexOf('5000');
      const w = tr.modalities[h].width;
      return { observed: r.mask[i * K + h], codes: Array.from(r.values.history.subarray(i * w, (i + 1) * w)) };
    };
    const compiled = (recs: PatientRecord[]) => history({ ...tr.transform(recs), ids: recs.map((r) => r.id) });
    const sql = async (recs: PatientRecord[]) => history(await transformPatients(spec, dir, ds.state as DataState, { records: recs }));
    const alone = compiled([A]);
    expect(alone.observed).toBe(0);
    for (const recs of [[A, B], [B, A]]) {
      expect(compiled(recs)).toEqual(alone);
      expect(await sql(recs)).toEqual(alone);
    }
    // the patient's own earlier admission does give its discharge time: E11 counts, on both paths
    const withC = compiled([A, C]);
    expect(withC.observed).toBe(1);
    expect(await sql([A, C])).toEqual(withC);
    expect(compiled([A, B, C])).toEqual(withC);
    expect(await sql([A, B, C])).toEqual(withC);
  }, 120_000);
});
