// The HTTP API on a tiny trained run: endpoints, validation with field paths, body limit, token, overload,
// logs without patient data, concurrent requests equal to sequential ones, and flat engine memory.
import { loadTypical } from '../src/serve/typical.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memory } from '../src/engine/index.js';
import { PREDICTION_TOLERANCE, Predictor } from '../src/serve/predictor.js';
import { expectSamePredictions } from './helpers/predictions.js';
import { buildServer } from '../src/serve/server.js';
import { copyRunFolder, editManifest } from './helpers/run-folder.js';
import { records, trainTinyRun, vocab } from './serve-fixtures.js';
import { InputError } from '../src/serve/types.js';

let root: string;
let predictor: Predictor;
let app: FastifyInstance;
let v: ReturnType<typeof vocab>;

const post = (a: FastifyInstance, body: unknown, headers: Record<string, string> = {}) =>
  a.inject({ method: 'POST', url: '/v1/predict', payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-serve-api-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  const { run } = await trainTinyRun(root);
  predictor = await Predictor.load(run);
  v = vocab(predictor.modalities);
  app = buildServer(predictor);
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  predictor?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('endpoints', () => {
  it('GET /healthz and GET /v1/model describe the run', async () => {
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    expect(h.statusCode).toBe(200);
    expect(h.json()).toMatchObject({ status: 'ok' });
    const m = (await app.inject({ method: 'GET', url: '/v1/model' })).json();
    expect(m.dataset).toBe('simulated');
    expect(m.modalities.map((x: { name: string }) => x.name)).toEqual(['demographics', 'labs', 'diagnoses', 'notes', 'imaging']);
    expect(m.modalities[0].input).toMatchObject({ type: 'tabular', table: 'patients', numeric: ['age', 'bmi'] });
    expect(m.input.tables.labs.columns).toMatchObject({ value: 'DOUBLE' });
    expect(m.patterns.masks.length).toBe(m.patterns.prior.length);
    expect(m.metrics.test.auroc).toBeGreaterThan(0);
    expect(m.config).toMatchObject({ backbone: 'early', debias: 'full' });
    expect(m.versions.libtorch).toMatch(/\d/);
    expect(m.typical_values.source).toBe('manifest');
    expect(m.transform).toEqual({ path: 'compiled' });
    expect(m.scoring).toBe('batched');
  });

  it('a run the compiled transform declines is served through the SQL path, with the same answers', async () => {
    // DECIMAL is a type only DuckDB reads: the compiler declines, and says why.
    const dir = copyRunFolder(predictor.runDir, join(root, 'decimal-run'));
    editManifest(dir, (m) => (m.state.tableTypes.patients.age = 'DECIMAL(18,6)'));
    const viaSql = await Predictor.load(dir);
    try {
      expect(viaSql.summary().transform).toEqual({ path: 'sql', reason: expect.stringContaining('tables.patients.age: column type DECIMAL(18,6)') });
      const recs = records(12, 17, v); // ages with one decimal: the same numbers as DECIMAL(18,6)
      expectSamePredictions(await viaSql.predictRecords(recs), await predictor.predictRecords(recs));
      const none = await viaSql.predictRecords([{ id: 'nobody', index_time: 1000 }]).catch((e: Error) => e);
      expect(String(none)).toContain('no observed modality');
    } finally {
      viaSql.dispose();
    }
  });

  it("typical values stored at training equal the training split's observed means rebuilt from the data", async () => {
    const rebuilt = await loadTypical({ ...predictor.manifest, typical: undefined }, predictor.modalities);
    expect(rebuilt.source).toBe('training-data');
    for (const mod of predictor.modalities) {
      const a = Array.from(predictor.typical.values![mod.name]), b = Array.from(rebuilt.values![mod.name]);
      expect(a.length).toBe(b.length);
      a.forEach((x, i) => expect(x).toBeCloseTo(b[i], 5));
    }
  });

  it('POST /v1/predict answers one record or a list, the same as the Predictor', async () => {
    const recs = records(32, 7, v);
    const direct = await predictor.predictRecords(recs);
    const one = await post(app, recs[3]);
    expect(one.statusCode).toBe(200);
    // Scored alone or in a batch: the same within the README's tolerance (float32 kernels sum per batch size).
    expectSamePredictions(one.json().predictions, [direct[3]]);
    const many = await post(app, { records: recs });
    expect(many.statusCode).toBe(200);
    expectSamePredictions(many.json().predictions, direct);
    const bare = await post(app, recs); // a bare array reads like { records: [...] }
    expect(bare.statusCode).toBe(200);
    expectSamePredictions(bare.json().predictions, direct);
    const p = direct[0];
    expect(p.p_do).toBeGreaterThan(0);
    expect(p.p_do).toBeLessThan(1);
    expect(Object.keys(p.modalities)).toEqual(predictor.modalities.map((m) => m.name));
  });
});

describe('request by request', () => {
  it('a run whose transform matches rows across records (lookups) is transformed one request at a time, with the same answers', async () => {
    const groups = [records(3, 41, v, 'a'), [{ id: 'nobody', index_time: 1000 }], records(5, 42, v, 'b')].map((g) => {
      const r = predictor.validate(g);
      if (!r.ok) throw new Error('invalid fixture');
      return r.records;
    });
    const together = await predictor.predictRecordGroups(groups);
    // The switch a lookup sets (RecordTransform.crossRecord), turned on for this run.
    const compiled = (predictor as unknown as { compiled: { crossRecord: boolean } }).compiled;
    compiled.crossRecord = true;
    try {
      const apart = await predictor.predictRecordGroups(groups);
      expect(apart[1]).toBeInstanceOf(Error);
      expect(String(apart[1])).toContain('no observed modality');
      expectSamePredictions(apart[0], together[0]);
      expectSamePredictions(apart[2], together[2]);
      expect((apart[2] as { id: string }[]).map((p) => p.id)).toEqual(groups[2].map((r) => r.id));
    } finally {
      compiled.crossRecord = false;
    }
  });
});

describe("one request's failure", () => {
  it("stays its own: a patient the model cannot score fails only its request, and the others batched with it neither fail nor see its id", async () => {
    const good = records(6, 51, v, 'g');
    const groups = [good.slice(0, 3), records(1, 52, v, 'ATTACKER'), good.slice(3)].map((g) => {
      const r = predictor.validate(g);
      if (!r.ok) throw new Error(`invalid fixture: ${JSON.stringify(r.issues)}`);
      return r.records;
    });
    const alone = await predictor.predictRecordGroups([groups[0], groups[2]]);
    // The scorer refuses a patient as it does one whose risk overflowed (a feature of 3e38 that standardises to a
    // finite number: the server's batch of 20-record requests beside it all got that patient's 400).
    const scorer = (predictor as unknown as { scorer: { score: (ids: string[], ...rest: unknown[]) => unknown } }).scorer;
    const score = scorer.score;
    scorer.score = function (ids: string[], ...rest: unknown[]) {
      const bad = ids.find((id) => id.startsWith('ATTACKER'));
      if (bad) throw new InputError([{ path: 'records', message: `patient ${JSON.stringify(bad)}: the model's risk is not a number` }]);
      return score.call(this, ids, ...rest);
    };
    try {
      const out = await predictor.predictRecordGroups(groups);
      expect(out[1]).toBeInstanceOf(Error);
      expect(String(out[1])).toMatch(/patient "ATTACKER0": the model's risk is not a number/);
      expectSamePredictions(out[0], alone[0]);
      expectSamePredictions(out[2], alone[1]);
    } finally {
      scorer.score = score;
    }
  });
});

describe('unseen values', () => {
  it('unseen categories and codes are scored (as the "other" features): two different unseen values agree', async () => {
    const base = records(1, 31, v)[0];
    const withValues = (id: string, sex: string, code: string) => ({ ...base, id, patients: { ...(base.patients as object), sex }, diagnoses: [{ day: 990, code }] });
    const r = await post(app, { records: [withValues('u1', 'unknown-1', 'new_code_1'), withValues('u2', 'unknown-2', 'new_code_2'), withValues('k', 'F', v.codes[0])] });
    expect(r.statusCode).toBe(200);
    const [u1, u2, k] = r.json().predictions;
    expectSamePredictions(u1.p_do, u2.p_do);
    expect(u1.mask).toBe(k.mask);
    expect(Math.abs(u1.p_do - k.p_do)).toBeGreaterThan(PREDICTION_TOLERANCE);
  });
});

describe('validation', () => {
  it('400 with the field path, for lists and single records', async () => {
    const r = await post(app, { records: [{ id: 'a', index_time: 1000, patients: { age: 50 } }, { id: 'b', labs: [{ day: 1, variable: 'crp', value: 1 }, { day: 2, variable: 'crp', value: 'high' }] }] });
    expect(r.statusCode).toBe(400);
    // a record the schema refuses gets the other checks too: one answer names all its bad fields (here no index time)
    expect(r.json()).toEqual({ error: 'invalid input', issues: [{ path: 'records[1].labs[1].value', message: 'expected number' }, { path: 'records[1].index_time', message: "required: the patient's index (prediction) time, as index_time or patients.index_day" }] });
    const arr = await post(app, [{ id: 'a', index_time: 1000, patients: { age: 50 } }, { id: 'b', labs: [{ day: 2, variable: 'crp', value: 'high' }] }]);
    expect(arr.statusCode).toBe(400);
    expect(arr.json().issues).toEqual([{ path: '[1].labs[0].value', message: 'expected number' }, { path: '[1].index_time', message: "required: the patient's index (prediction) time, as index_time or patients.index_day" }]);
    const s = await post(app, { id: 'a', labs: [{ day: 'monday', variable: 'crp', value: 1 }] });
    expect(s.json()).toEqual({ error: 'invalid input', issues: [{ path: 'labs[0].day', message: 'expected number' }, { path: 'index_time', message: "required: the patient's index (prediction) time, as index_time or patients.index_day" }] });
    const u = await post(app, { id: 'a', index_time: 1000, vitals: [{ hr: 80 }] });
    expect(u.statusCode).toBe(400);
    expect(u.json().issues[0]).toMatchObject({ path: 'vitals', message: expect.stringContaining("unknown table 'vitals'") });
    const big = await post(app, { id: 'a', patients: { age: 50 }, index_time: 1e300 });
    expect(big.json().issues[0]).toMatchObject({ path: 'index_time', message: expect.stringContaining('out of range') });
    const noTime = await post(app, { id: 'a', labs: [{ day: 1, variable: 'crp', value: 1 }] });
    expect(noTime.json().issues[0]).toMatchObject({ path: 'index_time', message: expect.stringContaining('patients.index_day') });
    expect((await post(app, { id: 'a', patients: { index_day: 5, age: 50 } })).statusCode).toBe(200);
    const none = await post(app, { id: 'nobody', index_time: 1000 });
    expect(none.statusCode).toBe(400);
    expect(none.json().issues[0].message).toContain('no observed modality');
    for (const body of ['[]', '"x"', 'null', '{"records":[]}', '{"records":{}}']) {
      const b = await post(app, body);
      expect(b.statusCode, body).toBe(400);
      expect(b.json().error, body).toBe('invalid input');
    }
  });

  it('4xx without internals for malformed JSON, wrong content type and unknown routes', async () => {
    const bad = await post(app, '{"id": "a", "patients": {');
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toMatch(/at .*\.(js|ts):\d+/);
    const ct = await app.inject({ method: 'POST', url: '/v1/predict', payload: '{"id":"a"}', headers: { 'content-type': 'text/plain' } });
    expect(ct.statusCode).toBe(415);
    expect(ct.json().error).toContain('application/json');
    expect((await app.inject({ method: 'GET', url: '/v1/nope' })).statusCode).toBe(404);
  });

  it('413 above the body limit', async () => {
    const small = buildServer(predictor, { bodyLimit: 2000 });
    try {
      const r = await post(small, { records: records(20, 1, v) });
      expect(r.statusCode).toBe(413);
      expect(r.json()).toEqual({ error: 'request body too large' });
      expect((await post(small, records(1, 1, v)[0])).statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe('token', () => {
  it('401 without or with a wrong token, 200 with it; /healthz stays open', async () => {
    const guarded = buildServer(predictor, { token: 's3cret-token' });
    try {
      const rec = records(1, 2, v)[0];
      expect((await post(guarded, rec)).statusCode).toBe(401);
      expect((await post(guarded, rec, { authorization: 'Bearer wrong' })).statusCode).toBe(401);
      expect((await post(guarded, rec, { authorization: 'Bearer s3cret-token-longer' })).statusCode).toBe(401);
      expect((await post(guarded, rec, { authorization: 's3cret-token' })).statusCode).toBe(401);
      expect((await guarded.inject({ method: 'GET', url: '/v1/model' })).statusCode).toBe(401);
      const ok = await post(guarded, rec, { authorization: 'Bearer s3cret-token' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().predictions[0].id).toBe(rec.id);
      expect((await guarded.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('load', () => {
  it('50 parallel requests over HTTP are answered as sequential ones (within the tolerance)', async () => {
    const bodies = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? { records: records(4, 100 + i, v, `r${i}-`) } : records(1, 100 + i, v, `r${i}-`)[0]));
    const sequential: unknown[] = [];
    for (const b of bodies) sequential.push((await post(app, b)).json());
    const server = buildServer(predictor);
    try {
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      const parallel = await Promise.all(
        bodies.map(async (b) => {
          const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify(b), headers: { 'content-type': 'application/json' } });
          return { status: r.status, body: await r.json() };
        }),
      );
      expect(parallel.map((p) => p.status)).toEqual(bodies.map(() => 200));
      // Waiting requests are scored together in one model call: equal within the README's tolerance (float32
      // kernels sum per batch size), ids, masks, patterns and which counterfactuals are defined exactly.
      parallel.forEach((p, i) => expectSamePredictions(p.body, sequential[i]));
    } finally {
      await server.close();
    }
  });

  it('503 when the queue is full, never unbounded', async () => {
    const tight = buildServer(predictor, { maxPendingRecords: 3 });
    try {
      // Bodies under 512 bytes count as one record each until parsed (admission.ts).
      const res = await Promise.all(Array.from({ length: 12 }, (_, i) => post(tight, { id: `q${i}`, index_time: 1000, patients: { age: 50 + i } })));
      const codes = res.map((r) => r.statusCode);
      expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
      expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(3);
      expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
      expect(res.find((r) => r.statusCode === 503)!.headers['retry-after']).toBe('1');
    } finally {
      await tight.close();
    }
  });

  it('engine memory stays flat across many requests', async () => {
    const recs = records(8, 9, v);
    await post(app, { records: recs });
    const before = memory();
    for (let i = 0; i < 30; i++) expect((await post(app, i % 2 ? recs[i % 8] : { records: recs })).statusCode).toBe(200);
    expect(memory()).toEqual(before);
  });
});

describe('batch-dependent backbones', () => {
  it('scores M3Care patients one by one, so an answer does not depend on the rest of the request', async () => {
    // Plain M3Care imputes from the batch; under deconfounding its causal path is pattern-blind (every modality
    // present, missing ones filled from a kept mean), which leaves nothing batch-dependent.
    const { run } = await trainTinyRun(root, { backbone: 'm3care', epochs: 2, debias: 'none' });
    const m3 = await Predictor.load(run);
    try {
      expect(predictor.batchDependent).toBe(false);
      expect(m3.batchDependent).toBe(true);
      expect(m3.summary().scoring).toBe('per-patient');
      const recs = records(6, 21, v);
      const together = await m3.predictRecords(recs);
      // Exactly equal: one patient per model call either way, so the arithmetic is the same.
      for (const i of [0, 3]) expect((await m3.predictRecords([recs[i]]))[0]).toEqual(together[i]);
    } finally {
      m3.dispose();
    }
  });
});

describe('logs', () => {
  it('carry method, route, status, latency and record count, never patient data', async () => {
    let text = '';
    const stream = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
    const logged = buildServer(predictor, { logger: { stream } });
    try {
      const rec = { ...records(1, 3, v)[0], id: 'PATIENT-SECRET-77', notes: [{ day: 990, text: 'confidential zebra note' }] };
      expect((await post(logged, rec)).statusCode).toBe(200);
      expect((await post(logged, { records: [{ ...rec, labs: [{ day: 1, variable: 'crp', value: 'SECRETVALUE' }] }] })).statusCode).toBe(400);
      expect((await post(logged, '{"id":"PATIENT-SECRET-77", bad json')).statusCode).toBe(400);
    } finally {
      await logged.close();
    }
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    const access = lines.filter((l) => l.msg === 'request');
    expect(access.map((l) => [l.method, l.route, l.status, l.records])).toEqual([
      ['POST', '/v1/predict', 200, 1],
      ['POST', '/v1/predict', 400, 1],
      ['POST', '/v1/predict', 400, 0],
    ]);
    expect(access.every((l) => typeof l.ms === 'number')).toBe(true);
    expect(text).not.toMatch(/SECRET|zebra/);
  });
});

describe('notes on what of a record the model could not use', () => {
  it('name unseen categories and codes, unknown lab variables and rows that all fall outside the window; a clean record has none', async () => {
    const base = { id: 'n0', index_time: 1000, patients: { age: 60, bmi: 27, sex: 'F', site: 'A' } };
    const [clean] = await predictor.predictRecords([{ ...base, labs: [{ day: 990, variable: v.labVariables[0], value: 1 }], diagnoses: [{ day: 900, code: v.codes[0] }] }]);
    expect(clean.notes).toBeUndefined();
    const [odd] = await predictor.predictRecords([{
      ...base,
      id: 'n1',
      patients: { ...base.patients, site: 'Mars' },
      labs: [{ day: 990, variable: 'no_such_lab', value: 1 }, { day: 990, variable: v.labVariables[0], value: 1 }],
      diagnoses: [{ day: 900, code: 'ZZZ.never' }],
      notes: [{ day: 1500, text: 'after the index' }],
    }]);
    expect(odd.notes).toEqual([
      `labs: 1 row of 'labs' name variables that are not among the model's (e.g. "no_such_lab"): not used`,
      `notes: rows were given in 'notes' but none could be used (none in the window before the prediction time, or only values the model does not read): scored as missing`,
      `demographics: 'site' has a value not seen in training, scored as <other>`,
      "diagnoses: codes outside the model's vocabulary (unseen or rare in training), counted together as <other>",
    ]);
    expect(odd.modalities.labs.observed).toBe(true);
    // the HTTP answer carries them too
    const r = await app.inject({ method: 'POST', url: '/v1/predict', payload: { records: [{ ...base, id: 'n2', patients: { ...base.patients, sex: 'X' } }] } });
    expect(r.json().predictions[0].notes).toEqual([`demographics: 'sex' has a value not seen in training, scored as <other>`]);
  });

  it('a number far outside the training range (a unit slip, 1e30) is scored as given, with a note; a plausible one gets none', async () => {
    const base = { id: 'f0', index_time: 1000, patients: { age: 60, bmi: 27, sex: 'F', site: 'A' } };
    const [far] = await predictor.predictRecords([{ ...base, patients: { ...base.patients, age: 1e30 } }]);
    expect(far.notes).toEqual([expect.stringMatching(/^demographics\.age: 1e\+30 is 1\.\de\+29 training standard deviations from the training mean \d+(\.\d+)?: scored as given \(check the value and its unit\)$/)]);
    const [grams] = await predictor.predictRecords([{ ...base, id: 'f1', patients: { ...base.patients, bmi: 2700 } }]);
    expect(grams.notes?.[0]).toMatch(/^demographics\.bmi: 2700 is \d+ training standard deviations/);
    const [old] = await predictor.predictRecords([{ ...base, id: 'f2', patients: { ...base.patients, age: 95 } }]);
    expect(old.notes).toBeUndefined();
    // a lab value likewise (long form: per variable, one note per modality)
    const lab = v.labVariables[0];
    const [labFar] = await predictor.predictRecords([{ ...base, id: 'f3', labs: [{ day: 990, variable: lab, value: 3.3e38 }, { day: 995, variable: lab, value: 0.5 }] }]);
    expect(labFar.notes).toEqual([expect.stringMatching(new RegExp(`^labs: 1 value far outside training among the rows given \\(e\\.g\\. ${lab} 3\\.3e\\+38 is .* training standard deviations from its training mean .*\\): those in the window before the prediction time are scored as given, later ones are not used`))]);
    const [labOk] = await predictor.predictRecords([{ ...base, id: 'f4', labs: [{ day: 990, variable: lab, value: 0.5 }] }]);
    expect(labOk.notes).toBeUndefined();
  });
});
