// The shared contract of the fitted parts, as scikit-learn's estimator checks: every modality builder and every
// training-time debiasing part passes the same checks. A new builder or part is covered by being registered.
//   builders: fit learns from the training patients only; fit and apply never change their inputs; apply is
//   deterministic, row-wise and works from a state that went through JSON (the run folder); outputs have the
//   declared shape, are finite, zero where the modality is missing, and `present` never adds a patient.
//   parts: prepare is deterministic for a seed, leaves the dataset unchanged, and its weights are positive,
//   finite, mean 1 and capped; its record is small JSON.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCohort } from '../src/data/cohort.js';
import { Db } from '../src/data/db.js';
import type { Ctx, Raw } from '../src/data/modalities/common.js';
import { builderFor } from '../src/data/modalities/index.js';
import { simulate } from '../src/data/simulate.js';
import { modalitySchema, parseSpec, type Spec } from '../src/data/spec.js';
import { registerTables } from '../src/data/tables.js';
import { manualSeed } from '../src/engine/index.js';
import { assignPatterns, buildPatternDictionary, defaultModelConfig } from '../src/models/index.js';
import { DEBIAS_PARTS, type PreparedPart } from '../src/train/debias/index.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { syntheticDataset } from './train-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'cdmm-conformance-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The simulator's spec covers every modality type; two more modalities cover the other time-series settings
// (a variable list, aggregate last, the shared scan of one table) and codes without a count threshold.
const EXTRA = `  labs_last:
    type: timeseries
    table: labs
    variable: variable
    value: value
    variables: [lactate, troponin]
    window: { start: -180, end: 0 }
    bins: 2
    aggregate: last
  diagnoses_all:
    type: codes
    table: diagnoses
    code: code
    window: { start: -365, end: 0 }
    min_count: 1
`;

interface Extracted { spec: Spec; ids: string[]; raws: Record<string, Raw> }

async function extractAll(dir: string): Promise<Extracted> {
  const file = join(dir, 'spec.yaml');
  const spec = parseSpec(readFileSync(file, 'utf8'), file);
  const db = await Db.open(file);
  try {
    await registerTables(db, spec, dir, true);
    await db.lockDown();
    const cohort = await buildCohort(db, spec, { withLabels: true });
    const ctx: Ctx = { db, spec, specFile: file, n: cohort.ids.length, idxKind: cohort.idxKind, shared: new Map() };
    const raws: Record<string, Raw> = {};
    for (const [name, m] of Object.entries(spec.modalities)) raws[name] = await builderFor(m).extract(ctx, name);
    return { spec, ids: cohort.ids, raws };
  } finally {
    db.close();
  }
}

let full: Extracted;
let altered: Extracted; // the same cohort; every row of a non-training patient changed or dropped
let train: Int32Array;

beforeAll(async () => {
  const a = join(root, 'a');
  await simulate({ out: a, n: 600, seed: 11 });
  writeFileSync(join(a, 'spec.yaml'), readFileSync(join(a, 'spec.yaml'), 'utf8').replace('\nsplit:', `\n${EXTRA}split:`));
  full = await extractAll(a);
  // Training patients: the simulator's train split, by cohort order.
  const split = new Map(readFileSync(join(a, 'patients.csv'), 'utf8').trim().split('\n').slice(1).map((l) => [l.split(',')[0], l.split(',')[8]]));
  train = Int32Array.from(full.ids.flatMap((id, i) => (split.get(id) === 'train' ? [i] : [])));
  const isTrain = new Set(Array.from(train, (i) => full.ids[i]));
  // The altered copy: the patients table keeps its rows (the same cohort) with other values for non-training
  // patients; the other tables lose every non-training patient's rows or have their values changed.
  const b = join(root, 'b');
  await simulate({ out: b, n: 600, seed: 11 });
  writeFileSync(join(b, 'spec.yaml'), readFileSync(join(a, 'spec.yaml'), 'utf8'));
  const rewrite = (f: string, edit: (cells: string[], header: string[]) => string[] | null) => {
    const [head, ...rows] = readFileSync(join(b, f), 'utf8').trim().split('\n');
    const header = head.split(',');
    const out = rows.map((r) => (isTrain.has(r.split(',')[0]) ? r : edit(r.split(','), header)?.join(','))).filter((r): r is string => r !== undefined);
    writeFileSync(join(b, f), [head, ...out].join('\n') + '\n');
  };
  rewrite('patients.csv', (c, h) => {
    c[h.indexOf('age')] = '99';
    c[h.indexOf('bmi')] = '55.5';
    c[h.indexOf('site')] = 'Z';
    return c;
  });
  rewrite('labs.csv', (c) => (Number(c[0].slice(1)) % 2 ? null : [c[0], c[1], c[2] === 'crp' ? 'ferritin' : c[2], String(Number(c[3]) * 10 + 7)]));
  rewrite('diagnoses.csv', (c) => [c[0], c[1], 'unseen_code']);
  rewrite('notes.csv', (c) => (Number(c[0].slice(1)) % 2 ? null : [c[0], c[1], '"zzz unseen words only"']));
  rewrite('imaging.csv', (c) => [c[0], ...c.slice(1).map((v) => String(Number(v) * 3 + 1))]);
  altered = await extractAll(b);
  expect(altered.ids).toEqual(full.ids);
}, 120_000);

const MODALITIES = ['demographics', 'labs', 'labs_last', 'diagnoses', 'diagnoses_all', 'notes', 'imaging'];

describe.each(MODALITIES)('modality builder conformance: %s', (name) => {
  const builder = () => builderFor(full.spec.modalities[name]);

  it('the list above covers every modality type the spec schema knows (a new type needs a modality here)', () => {
    const known = modalitySchema.options.map((o) => o.shape.type.value as string).sort();
    expect([...new Set(MODALITIES.map((m) => full.spec.modalities[m].type))].sort()).toEqual(known);
    expect(full.raws[name].present.length).toBe(full.ids.length);
  });

  it('fit and apply never change their inputs; apply is deterministic and works from the JSON state', () => {
    const raw = full.raws[name];
    const before = structuredClone(raw);
    const state = builder().fit(raw, train, name);
    expect(raw).toEqual(before);
    const stateBefore = structuredClone(state);
    const a = builder().apply(raw, state, name);
    const b = builder().apply(raw, state, name);
    expect(raw).toEqual(before);
    expect(state).toEqual(stateBefore);
    expect(b.values).toEqual(a.values);
    expect(b.present).toEqual(a.present);
    const viaJson = builder().apply(raw, JSON.parse(JSON.stringify(state)), name);
    expect(viaJson.values).toEqual(a.values);
    expect(viaJson.info).toEqual(a.info);
  });

  it('outputs have the declared shape, are finite, and are zero where the modality is missing', () => {
    const raw = full.raws[name];
    const out = builder().apply(raw, builder().fit(raw, train, name), name);
    const N = full.ids.length;
    const D = out.info.shape.reduce((x, y) => x * y, 1);
    expect(out.info.name).toBe(name);
    expect(out.info.type).toBe(full.spec.modalities[name].type);
    expect(out.values.length).toBe(N * D);
    expect(out.info.features.length).toBe(out.info.shape[out.info.shape.length - 1]);
    expect(out.values.every(Number.isFinite)).toBe(true);
    let observed = 0;
    for (let i = 0; i < N; i++) {
      expect(out.present[i] <= raw.present[i]).toBe(true); // present never adds a patient
      observed += out.present[i];
      if (!out.present[i]) expect(out.values.subarray(i * D, (i + 1) * D).every((v) => v === 0)).toBe(true);
    }
    expect(observed).toBeGreaterThan(0);
    expect(observed).toBeLessThanOrEqual(N);
  });

  it('fit learns from the training patients only, and apply is row-wise', () => {
    const st = builder().fit(full.raws[name], train, name);
    const stAltered = builder().fit(altered.raws[name], train, name);
    expect(JSON.parse(JSON.stringify(stAltered))).toEqual(JSON.parse(JSON.stringify(st)));
    // Other patients' rows do not move a training patient's output.
    const a = builder().apply(full.raws[name], st, name);
    const b = builder().apply(altered.raws[name], st, name);
    const D = a.info.shape.reduce((x, y) => x * y, 1);
    for (const i of train) {
      expect(b.present[i]).toBe(a.present[i]);
      expect(b.values.subarray(i * D, (i + 1) * D)).toEqual(a.values.subarray(i * D, (i + 1) * D));
    }
    // …and the altered patients' outputs did change somewhere (the check above could not pass by ignoring data).
    let changed = false;
    for (let i = 0; i < full.ids.length && !changed; i++)
      if (a.present[i] !== b.present[i] || a.values.subarray(i * D, (i + 1) * D).some((v, j) => v !== b.values[i * D + j])) changed = true;
    expect(changed).toBe(true);
  });
});

describe.each(DEBIAS_PARTS.map((p) => [p.name, p] as const))('debiasing part conformance: %s', (_name, part) => {
  const ds = syntheticDataset({ n: 1500, seed: 3 });
  const K = ds.modalities.length;
  const dict = buildPatternDictionary(ds.splits.train.mask, K);
  const cfg = { ...defaultModelConfig, backbone: 'early' as const, debias: 'full' as const, dim: 16, branchDim: 8, biasSteps: 20, gate: 'on' as const };
  const opts = { ...defaultTrainOptions, batchSize: 64, lr: 1e-3, patience: 6, seed: 0 };
  const prepare = () => {
    manualSeed(0);
    const before: PreparedPart[] = [];
    for (const p of DEBIAS_PARTS) {
      const ctx = { ds, cfg, opts, dict, before, quiet: true, trainPat: assignPatterns(ds.splits.train.mask, K, dict), valPat: assignPatterns(ds.splits.val.mask, K, dict) };
      if (p === part) return p.prepare(ctx);
      if (p.applies(cfg)) before.push(p.prepare(ctx));
    }
    throw new Error('unreachable');
  };

  it('applies to full and to none of --debias none', () => {
    expect(part.applies(cfg)).toBe(true);
    expect(part.applies({ ...cfg, debias: 'none' })).toBe(false);
  });

  it('is deterministic for a seed and leaves the dataset unchanged', () => {
    const snapshot = structuredClone(ds.splits);
    const a = prepare();
    expect(ds.splits).toEqual(snapshot);
    const b = prepare();
    expect(b.trainWeights).toEqual(a.trainWeights);
    expect(b.valWeights).toEqual(a.valWeights);
    expect(b.record).toEqual(a.record);
  }, 60_000);

  it('weights are positive, finite, mean 1 and capped; the record is small JSON', () => {
    const p = prepare();
    const cap = cfg.weightCap ?? 20;
    for (const [w, n] of [[p.trainWeights, ds.splits.train.ids.length], [p.valWeights, ds.splits.val.ids.length]] as const) {
      if (!w) continue;
      expect(w.length).toBe(n);
      expect(w.every((v) => Number.isFinite(v) && v > 0 && v <= cap + 1e-6)).toBe(true);
      expect(w.reduce((s, v) => s + v, 0) / w.length).toBeCloseTo(1, 3);
    }
    expect(p.trainWeights !== undefined).toBe(p.valWeights !== undefined);
    expect(p.name).toBe(part.name);
    const json = JSON.stringify(p.record);
    expect(json.length).toBeLessThan(4096);
    for (const v of Object.values(p.record)) expect(['number', 'string', 'boolean'].includes(typeof v) || v === null).toBe(true);
    expect(p.notes.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
  }, 60_000);
});
