// Shared by the serving tests and bench/serve.ts: a tiny trained run on a simulated cohort, JSON patient
// records in that cohort's layout, and malformed request bodies for fuzzing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset } from '../src/data/build.js';
import { mulberry32, normal } from '../src/data/rng.js';
import { simulate } from '../src/data/simulate.js';
import { loadSpec } from '../src/data/spec.js';
import type { ModalityInfo } from '../src/data/types.js';
import type { BackboneName, DebiasMode } from '../src/models/types.js';
import { defaultTrainOptions, type TrainOptions } from '../src/train/options.js';
import { trainRun } from '../src/train/run.js';

/** Simulates a small cohort in `root/sim` (once) and trains a tiny run into `root/run[-backbone][-debias]` (debias full unless told); returns both paths. */
export async function trainTinyRun(root: string, o: { n?: number; epochs?: number; lr?: number; backbone?: BackboneName; debias?: DebiasMode; train?: Partial<TrainOptions>; name?: string } = {}): Promise<{ spec: string; run: string }> {
  const spec = join(root, 'sim', 'spec.yaml');
  if (!existsSync(spec)) await simulate({ out: join(root, 'sim'), n: o.n ?? 600, seed: 3 });
  const ds = await prepareDataset(spec, { quiet: true });
  const run = join(root, o.name ?? (o.backbone && o.backbone !== 'early' ? `run-${o.backbone}` : 'run') + (o.debias && o.debias !== 'full' ? `-${o.debias}` : ''));
  await trainRun(
    ds,
    { specPath: spec, spec: loadSpec(spec), splitSeed: null },
    {
      backbone: o.backbone ?? 'early',
      debias: o.debias ?? 'full',
      model: { dim: 16, branchDim: 8, seriesHidden: 8, headHidden: 8 } as never,
      train: { ...defaultTrainOptions, epochs: o.epochs ?? 5, batchSize: 64, lr: o.lr ?? 1e-2, bootstrap: 20, seed: 1, ...o.train },
    },
    run,
    { quiet: true },
  );
  return { spec, run };
}

/** Vocabularies of the simulated spec's modalities, as the run saw them. */
export function vocab(modalities: ModalityInfo[]) {
  const by = (n: string) => modalities.find((m) => m.name === n)!;
  const labs = by('labs');
  return {
    labVariables: labs.features.slice(0, labs.variables ?? 0),
    codes: by('diagnoses').features.filter((f) => !f.startsWith('<')),
  };
}

/**
 * A random patient in the simulated layout; `drop` leaves modalities out so that masks vary. Index day 1000,
 * events before it (inside the spec's windows).
 */
export function randomRecord(rand: () => number, id: string, v: ReturnType<typeof vocab>): Record<string, unknown> {
  const randn = normal(rand);
  const rec: Record<string, unknown> = {
    id,
    index_time: 1000,
    patients: { age: Math.round(400 + 150 * randn()) / 10 + 20, bmi: 26 + 3 * randn(), sex: rand() < 0.5 ? 'F' : 'M', site: rand() < 0.5 ? 'A' : 'B' },
  };
  if (rand() < 0.7) rec.labs = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => ({ day: 1000 - Math.floor(rand() * 300), variable: v.labVariables[Math.floor(rand() * v.labVariables.length)], value: randn() }));
  if (rand() < 0.6) rec.diagnoses = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => ({ day: 1000 - Math.floor(rand() * 600), code: rand() < 0.9 ? v.codes[Math.floor(rand() * v.codes.length)] : 'never_seen_code' }));
  if (rand() < 0.5) rec.notes = [{ day: 990, text: rand() < 0.5 ? 'short of breath, febrile' : 'routine follow up' }];
  if (rand() < 0.5) rec.imaging = Object.fromEntries(Array.from({ length: 8 }, (_, j) => [`emb_${j}`, randn()]));
  return rec;
}

export function records(n: number, seed: number, v: ReturnType<typeof vocab>, prefix = 'p'): Record<string, unknown>[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => randomRecord(rand, `${prefix}${i}`, v));
}

export interface FuzzBody {
  kind: string;
  body: string | Buffer;
  contentType?: string;
}

function randomJson(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth <= 0 || r < 0.3) {
    const leaves = [null, true, false, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, '', 'x', '\u0000', '🦀'.repeat(3), '1e999', 'NaN', '2020-13-45', ' '.repeat(10)];
    return leaves[Math.floor(rand() * leaves.length)];
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(rand, depth - 1));
  const keys = ['id', 'index_time', 'records', 'patients', 'labs', 'diagnoses', 'notes', 'imaging', 'age', 'value', 'day', 'code', 'text', 'zzz', 'constructor'];
  return Object.fromEntries(Array.from({ length: Math.floor(rand() * 5) }, () => [keys[Math.floor(rand() * keys.length)], randomJson(rand, depth - 1)]));
}

/** Replaces one random leaf or entry of a valid record with a random JSON value. */
function mutate(rand: () => number, rec: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(rec));
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, Array.isArray(v) ? Number(k) : k]);
  };
  walk(copy, []);
  const path = paths[1 + Math.floor(rand() * (paths.length - 1))];
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k];
  at[path[path.length - 1]] = randomJson(rand, 3);
  return copy;
}

/** `n` malformed or hostile bodies of every kind the server must answer with a 4xx (or a 200 when valid after all). */
export function fuzzBodies(n: number, seed: number, valid: Record<string, unknown>[], bodyLimit: number): FuzzBody[] {
  const rand = mulberry32(seed);
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)];
  const makers: (() => FuzzBody)[] = [
    () => ({ kind: 'random json', body: JSON.stringify(randomJson(rand, 5)) }),
    () => ({ kind: 'mutated record', body: JSON.stringify(mutate(rand, pick(valid))) }),
    () => ({ kind: 'mutated records', body: JSON.stringify({ records: [pick(valid), mutate(rand, pick(valid))] }) }),
    () => ({ kind: 'huge numbers', body: JSON.stringify({ ...pick(valid), patients: { age: 1e308, bmi: -1e308 }, index_time: 1e300 }).replace('1e+308', '1e999') }),
    () => ({ kind: 'huge number strings', body: JSON.stringify({ ...pick(valid), labs: [{ day: '1e30', variable: 'x', value: '-1e999' }] }) }),
    () => {
      const d = 1000 + Math.floor(rand() * 20000);
      return { kind: 'deep nesting', body: rand() < 0.5 ? '['.repeat(d) + ']'.repeat(d) : `{"id":"a","labs":[${'{"x":'.repeat(d)}1${'}'.repeat(d)}]}` };
    },
    () => {
      const s = Buffer.from(JSON.stringify({ ...pick(valid), notes: [{ day: 990, text: 'XX' }] }));
      const i = s.indexOf('XX');
      s[i] = 0xff;
      s[i + 1] = 0xc3;
      return { kind: 'invalid utf-8', body: s };
    },
    () => {
      const s = JSON.stringify({ records: [pick(valid), pick(valid)] });
      return { kind: 'truncated json', body: s.slice(0, 1 + Math.floor(rand() * (s.length - 2))) };
    },
    () => ({ kind: 'wrong content-type', body: JSON.stringify(pick(valid)), contentType: pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) }),
    () => ({ kind: 'no content-type', body: JSON.stringify(pick(valid)), contentType: '' }),
    () => ({ kind: 'oversized', body: JSON.stringify({ records: [{ id: 'big', notes: [{ day: 1, text: 'a'.repeat(bodyLimit) }] }] }) }),
    () => ({ kind: 'empty', body: '' }),
    () => ({ kind: 'prototype pollution', body: '{"id":"a","__proto__":{"polluted":true},"patients":{"age":1}}' }),
    () => ({ kind: 'too many records', body: JSON.stringify({ records: Array.from({ length: 5000 }, (_, i) => ({ id: `r${i}`, patients: { age: 50 } })) }) }),
    () => ({ kind: 'nul and control chars', body: JSON.stringify({ id: pick(['a\u0000b', 'a', '\u0001']), index_time: 1000, patients: { sex: pick(['\u0000', '\u0001\'";--', 'F\u0000M']), site: 'A' }, diagnoses: [{ day: 999, code: "'); DROP TABLE x; --" }] }) }),
    () => ({ kind: 'lone surrogates', body: `{"id":"s\\ud800","index_time":1000,"patients":{"sex":"\\udfff","site":"A"},"notes":[{"day":990,"text":"\\ud83d x"}]}` }),
    () => ({ kind: 'long strings', body: JSON.stringify({ id: 'x'.repeat(100_000), index_time: 5, patients: { age: 40, sex: 'y'.repeat(200_000) } }) }),
    () => ({ kind: 'bad times', body: JSON.stringify({ ...pick(valid), index_time: pick(['yesterday', '2020-02-31', -1e20, '', 'NaN']) }) }),
    () => ({ kind: 'no modality', body: JSON.stringify({ id: 'empty-patient' }) }),
    () => ({ kind: 'wrong shapes', body: JSON.stringify(pick([[], [pick(valid)], { records: {} }, { records: 'x' }, 42, 'str', null, { records: [null] }])) }),
  ];
  return Array.from({ length: n }, (_, i) => makers[i % makers.length]());
}
