// The HTTP server and run folders as an attacker meets them (docs/SECURITY.md): no way past the token, no SQL or
// file access from a run folder, no prototype keys, field paths for every wrong type, and overload answered
// before the body is read. Each case asserts the exact outcome.
import { connect } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer } from '../src/serve/server.js';
import { makeRecordValidator } from '../src/serve/validate.js';
import { Admission, defaultAdmission } from '../src/serve/admission.js';
import { JobAbandonedError, PredictQueue } from '../src/serve/queue.js';
import type { PatientRecord } from '../src/data/transform.js';
import type { PatientPrediction } from '../src/serve/predictor.js';
import { runCli } from './helpers/cli.js';
import { copyRunFolder, editManifest } from './helpers/run-folder.js';
import { records, trainTinyRun, vocab } from './serve-fixtures.js';

let root: string;
let runDir: string;
let predictor: Predictor;
let v: ReturnType<typeof vocab>;
const TOKEN = 's3cret-token';

const json = { 'content-type': 'application/json' };
const post = (a: FastifyInstance, body: unknown, headers: Record<string, string> = {}, url = '/v1/predict') =>
  a.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: { ...json, ...headers } });

/** One raw HTTP/1.1 exchange (what inject would normalise away): the status code of the answer. */
function rawStatus(port: number, requestLine: string, headers: Record<string, string>, body = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) {
        s.destroy();
        resolve(Number(m[1]));
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(0));
    const head = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers };
    const lines = Object.entries(head).filter(([, x]) => x !== '').map(([k, x]) => `${k}: ${x}`);
    s.write(`${requestLine}\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-security-serve-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  runDir = (await trainTinyRun(root)).run;
  predictor = await Predictor.load(runDir);
  v = vocab(predictor.modalities);
});
afterAll(() => {
  predictor?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('token: every route but GET /healthz needs it, however the path is written', () => {
  let app: FastifyInstance;
  let port: number;
  let rec: string;
  beforeAll(async () => {
    app = buildServer(predictor, { token: TOKEN });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
    rec = JSON.stringify(records(1, 2, v)[0]);
  });
  afterAll(async () => {
    await app?.close();
  });

  const variants = [
    '/v1/predict', '/%761/predict', '/%76%31/%70redict', '/v1/%70redict', '/v1%2Fpredict', '//v1/predict', '/v1//predict',
    '/v1/./predict', '/./v1/predict', '/x/../v1/predict', '/v1/predict/', '/V1/predict', '/v1/PREDICT', '/v1/predict?x=1',
    '/v1/predict#x', '/v1/predict;x', '/v1/predict%00', '/v1/predict%20', '/%2e/v1/predict', '/v1/model', '/v1', '/v1/',
    '/nope', '/healthz/../v1/predict', '/healthz%2F..%2Fv1%2Fpredict', '/%68ealthz/../v1/predict', '*',
  ];
  it.each(variants)('POST %s without a token → 401 over a real socket, no prediction', async (path) => {
    expect(await rawStatus(port, `POST ${path} HTTP/1.1`, json, rec)).toBe(401);
  });

  it.each(['http://127.0.0.1/v1/predict', 'http://evil.example/v1/predict', 'HTTP://127.0.0.1/%761/predict', 'http://127.0.0.1//v1/predict'])(
    'absolute-form target POST %s without a token → 401',
    async (target) => {
      expect(await rawStatus(port, `POST ${target} HTTP/1.1`, json, rec)).toBe(401);
    },
  );

  it('every method on every route answers 401 without a token (unknown routes too: no route list leaks)', async () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const)
      for (const url of ['/v1/predict', '/v1/model', '/v1/nope', '/admin', '/'])
        expect((await app.inject({ method, url, payload: method === 'GET' || method === 'HEAD' ? undefined : rec, headers: json })).statusCode, `${method} ${url}`).toBe(401);
  });

  it('wrong, empty, longer, shorter, unprefixed, doubled or lower-case-scheme tokens → 401; the right one → 200', async () => {
    for (const authorization of ['Bearer wrong', 'Bearer ', 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN} ${TOKEN}`, `Bearer ${TOKEN.toUpperCase()}`])
      expect((await post(app, rec, { authorization })).statusCode, authorization).toBe(401);
    const ok = await post(app, rec, { authorization: `Bearer ${TOKEN}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().predictions).toHaveLength(1);
    expect((await post(app, rec, { authorization: `bearer ${TOKEN}` })).statusCode).toBe(200); // the scheme is case-insensitive (RFC 7235)
  });

  it('a 401 says nothing about the route and asks for a Bearer token', async () => {
    const r = await post(app, rec, {}, '/v1/secret-route');
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer');
    expect(r.body).not.toContain('secret-route');
  });

  it('GET and HEAD /healthz stay open; nothing else under it is', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'HEAD', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/healthz', payload: rec, headers: json })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/healthz/x' })).statusCode).toBe(401);
  });

  it('an empty token is refused at start (it would look like protection and be none)', async () => {
    expect(() => buildServer(predictor, { token: '' })).toThrow(/token is empty/);
    expect(() => buildServer(predictor, { token: '  ' })).toThrow(/token is empty/);
    const r = await runCli('serve', runDir, '--token', '', '--port', '0');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^cdmm: error: --token: the token is empty/);
  });

  it('a port in use is a one-line error and exit 2, like any other bad option', async () => {
    const net = await import('node:net');
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await runCli('serve', runDir, '--port', String(port), '--token', TOKEN, '--quiet');
      expect(r.code).toBe(2);
      expect(r.err.trim().split('\n').at(-1)).toBe(`cdmm: error: --port ${port}: already in use on 127.0.0.1; choose another --port or stop what listens there`);
    } finally {
      busy.close();
    }
    for (const bad of ['0x50', '1e3', '', '80.0'])
      expect((await runCli('serve', runDir, '--port', bad, '--token', TOKEN, '--quiet')).err, bad).toMatch(/--port .*expected an integer from 0 to 65535/);
  });
});

describe('prototype keys in records', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = buildServer(predictor);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  const base = () => ({ id: 'a', index_time: 1000, patients: { age: 50 } as Record<string, unknown> });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'])('a table named %s → 400 unknown table', async (key) => {
    const r = await post(app, { ...base(), [key]: [{ x: 1 }] });
    expect(r.statusCode).toBe(400);
    expect(r.json().issues[0]).toMatchObject({ path: key, message: expect.stringContaining(`unknown table '${key}'`) });
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'propertyIsEnumerable'])('a column named %s → 400 unknown column (was a 500)', async (key) => {
    const rec = base();
    rec.patients[key] = 1;
    const r = await post(app, rec);
    expect(r.statusCode).toBe(400);
    expect(r.json().issues[0]).toMatchObject({ path: `patients.${key}`, message: expect.stringContaining(`unknown column '${key}'`) });
    const inList = await post(app, { records: [{ ...base(), labs: [{ day: 990, variable: v.labVariables[0], value: 1, [key]: 'x' }] }] });
    expect(inList.statusCode).toBe(400);
    expect(inList.json().issues[0].path).toBe(`records[0].labs[0].${key}`);
  });

  it('a real column named toString or constructor is optional like any other, and checked when given', async () => {
    const dir = copyRunFolder(runDir, join(root, 'proto-columns'));
    editManifest(dir, (m) => Object.assign(m.state.tableTypes.patients, { toString: 'DOUBLE', constructor: 'VARCHAR' }));
    const p = await Predictor.load(dir);
    const a = buildServer(p);
    try {
      expect((await post(a, base())).statusCode).toBe(200); // not "expected number": the absent column is absent
      expect((await post(a, { ...base(), patients: { age: 50, toString: 5, constructor: 'x' } })).statusCode).toBe(200);
      const bad = await post(a, { ...base(), patients: { age: 50, toString: 'five' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().issues).toEqual([{ path: 'patients.toString', message: 'expected number' }]);
    } finally {
      await a.close();
      p.dispose();
    }
  });

  it('__proto__ and constructor.prototype in a body → 400, and nothing is polluted', async () => {
    for (const body of ['{"id":"a","index_time":1000,"__proto__":{"polluted":1},"patients":{"age":1}}', '{"id":"a","index_time":1000,"patients":{"age":1,"__proto__":{"x":1}}}', '{"id":"a","constructor":{"prototype":{"polluted":1}}}']) {
      const r = await post(app, body);
      expect(r.statusCode, body).toBe(400);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a key repeated in one object of a body → 400 naming it (JSON.parse would score the last one silently)', async () => {
    const single = await post(app, '{"id":"A","index_time":1000,"patients":{"age":80},"id":"B"}');
    expect(single.statusCode).toBe(400);
    expect(single.json()).toEqual({ error: 'invalid input', issues: [{ path: 'id', message: "the key 'id' appears twice in one object (which one is meant?)" }] });
    const nested = await post(app, '{"records":[{"id":"a","index_time":1000,"patients":{"age":1}},{"id":"b","index_time":1000,"patients":{"age":1,"\\u0061ge":2}}]}');
    expect(nested.statusCode).toBe(400);
    expect(nested.json().issues[0].path).toBe('records[1].patients.age');
    // equal keys in different objects are no repetition
    const fine = await post(app, '{"records":[{"id":"a","index_time":1000,"patients":{"age":1}},{"id":"b","index_time":1000,"patients":{"age":1}}]}');
    expect(fine.statusCode, fine.body).not.toBe(400);
  });

  it('the validator itself reads own keys only: __proto__ as a key (JSON.parse makes it an own key) is an unknown table/column', () => {
    const recs = JSON.parse('[{"id":"a","index_time":1000,"__proto__":[{"x":1}],"patients":{"age":1}}]');
    const r = predictor.validate(recs);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]).toMatchObject({ path: 'records[0].__proto__', message: expect.stringContaining("unknown table '__proto__'") });
    const cols = JSON.parse('[{"id":"a","index_time":1000,"patients":{"age":1,"__proto__":{"x":1}}}]');
    const c = predictor.validate(cols);
    expect(c.ok).toBe(false);
  });

  it('cdmm predict with a JSON file whose record has a column `constructor` → exit 2, one line naming file and field, no output', async () => {
    const input = join(root, 'proto.json');
    const out = join(root, 'proto-out.json');
    writeFileSync(input, JSON.stringify([{ ...base(), patients: { age: 50, constructor: 1 } }]));
    const r = await runCli('predict', runDir, '--input', input, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^cdmm: error: .*proto\.json: records\[0\]\.patients\.constructor: unknown column 'constructor'/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });

  it('cdmm predict with a table → file mapping naming `constructor` or `toString` → exit 2, not a spec table', async () => {
    for (const key of ['constructor', 'toString']) {
      const input = join(root, `map-${key}.yaml`);
      writeFileSync(input, `${key}: patients.csv\n`);
      const r = await runCli('predict', runDir, '--input', input, '--out', join(root, 'map-out.json'));
      expect(r.code, key).toBe(2);
      expect(r.err).toContain(`${key}: not a table of spec`);
    }
    expect(existsSync(join(root, 'map-out.json'))).toBe(false);
  });
});

describe('field paths for wrong types', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = buildServer(predictor);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  const lab = (value: unknown) => ({ id: 'a', index_time: 1000, labs: [{ day: 990, variable: 'crp', value: 1 }, { day: 991, variable: 'crp', value: 2 }, { day: 992, variable: 'crp', value }] });

  it('names from the request are echoed with control and bidi characters escaped', async () => {
    const r = await post(app, { id: 'a', index_time: 1000, 'lab\u001b[2Jz\u202e': [] });
    expect(r.statusCode).toBe(400);
    const body = r.body;
    expect(body).not.toMatch(/[\u001b\u202e]/);
    expect(r.json().issues[0].path).toBe('lab\\u001b[2Jz\\u202e');
  });

  it.each([[[]], [{}], [[1]], [{ x: 1 }]])('a cell holding %j names the cell (was: the table, "Invalid input")', async (value) => {
    const one = await post(app, lab(value));
    expect(one.statusCode).toBe(400);
    expect(one.json().issues).toEqual([{ path: 'labs[2].value', message: expect.stringMatching(/^expected number/) }]);
    const list = await post(app, { records: [lab(1), lab(value)] });
    expect(list.json().issues[0].path).toBe('records[1].labs[2].value');
    const bare = await post(app, [lab(1), lab(value)]);
    expect(bare.json().issues[0].path).toBe('[1].labs[2].value');
    const row = await post(app, { id: 'a', index_time: 1000, patients: { age: value } });
    expect(row.json().issues[0].path).toBe('patients.age');
  });

  it('dates DuckDB would refuse are caught with their path: 2021-02-29, 2020-04-31, 25:00, 12:60', () => {
    const check = makeRecordValidator({ visits: { id: 'VARCHAR', at: 'TIMESTAMP', on: 'DATE' } }, { visits: 'id' }, { maxRecords: 10 });
    const first = (at: unknown, on: unknown = null) => {
      // (the other row's time in UTC: a zoneless one beside a zoned row would be refused as a mix of clocks)
      const r = check([{ id: 'a', visits: [{ at: '2020-01-01T00:00:00Z', on: '2020-01-01' }, { at, on }] }]);
      return r.ok ? null : r.issues[0];
    };
    expect(first('2021-02-29')).toEqual({ path: 'records[0].visits[1].at', message: 'expected a valid calendar date' });
    expect(first('2020-02-29 23:59:59')).toBeNull(); // a leap day
    expect(first('1900-02-29')).toMatchObject({ message: 'expected a valid calendar date' });
    expect(first('2000-02-29')).toBeNull();
    expect(first(null, '2020-04-31')).toEqual({ path: 'records[0].visits[1].on', message: 'expected a valid calendar date' });
    expect(first('2020-01-01 25:00')).toEqual({ path: 'records[0].visits[1].at', message: 'expected a valid time of day' });
    expect(first('2020-01-01 12:60:00')).toMatchObject({ message: 'expected a valid time of day' });
    expect(first('2020-01-01 24:00:00')).toBeNull(); // DuckDB reads it as the next midnight
    // A UTC offset no zone has (+99:99 would move the time by four days): refused; real ones pass.
    for (const z of ['+99:99', '+99:00', '+9999', '-19', '+18:30']) expect(first(`2150-08-15T19:00:00${z}`), z).toMatchObject({ message: expect.stringMatching(/^expected a UTC offset from -18:00 to \+18:00/) });
    for (const z of ['+05:30', '-0800', 'Z', '+14', '-18:00']) expect(first(`2150-08-15T19:00:00${z}`), z).toBeNull();
  });

  it('a value of a type the validator does not check, which DuckDB cannot read, → 400 naming the cell (was: path "records")', async () => {
    const dir = copyRunFolder(runDir, join(root, 'uuid-run'));
    editManifest(dir, (m) => (m.state.tableTypes.patients.split = 'UUID')); // a column the model does not use
    const p = await Predictor.load(dir);
    const a = buildServer(p);
    try {
      const rec = { ...records(1, 6, v)[0], patients: { age: 50, split: 'not-a-uuid' } };
      const r = await post(a, rec);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toEqual({ error: 'invalid input', issues: [{ path: 'patients.split', message: 'cannot be read as UUID' }] });
      const list = await post(a, { records: [records(1, 7, v, 'q')[0], rec] });
      expect(list.json().issues).toEqual([{ path: 'records[1].patients.split', message: 'cannot be read as UUID' }]);
      const ok = await post(a, { ...rec, patients: { age: 50, split: '123e4567-e89b-12d3-a456-426614174000' } });
      expect(ok.statusCode).toBe(200);
    } finally {
      await a.close();
      p.dispose();
    }
  });

  it('a text cell holding an object, an id holding an object, a table holding a number', async () => {
    expect((await post(app, { id: 'a', index_time: 1000, patients: { sex: { a: 1 } } })).json().issues[0].path).toBe('patients.sex');
    expect((await post(app, { id: { a: 1 }, patients: { age: 1 } })).json().issues[0].path).toBe('id');
    expect((await post(app, { id: 'a', index_time: 1000, labs: 5 })).json().issues[0].path).toBe('labs');
  });
});

describe('run folders are untrusted input: cdmm predict and serve check the whole manifest before any SQL', () => {
  let n = 0;
  /** A copy of the run with manifest.json edited and SHA256SUMS recomputed, as someone who knows the format would. */
  const evil = (edit: (m: Record<string, any>) => void) => {
    const dir = copyRunFolder(runDir, join(root, `evil-${n++}`));
    editManifest(dir, edit);
    return dir;
  };
  const input = () => {
    const p = join(root, 'one.json');
    writeFileSync(p, JSON.stringify(records(2, 4, v)));
    return p;
  };
  /** cdmm predict on the run: exit code, stderr, and whether it wrote --out or the injected file. */
  const predictOn = async (dir: string) => {
    const out = join(root, `out-${n}.json`);
    const pwned = join(root, 'pwned.csv');
    const r = await runCli('predict', dir, '--input', input(), '--out', out);
    const wrote = existsSync(out);
    rmSync(out, { force: true });
    const injected = existsSync(pwned);
    rmSync(pwned, { force: true });
    return { ...r, wrote, injected };
  };
  const pwnedSql = () => `COPY (SELECT 1) TO '${join(root, 'pwned.csv')}'`;

  it.each([
    (): string => `DOUBLE); ${pwnedSql()}; CREATE TABLE z (a DOUBLE`,
    (): string => `DOUBLE; ${pwnedSql()}`,
    (): string => "VARCHAR DEFAULT (read_text('/etc/passwd'))",
    (): string => 'STRUCT(a INTEGER)',
    (): string => 'double',
    (): string => '',
  ])('a tableTypes value %# that is not a DuckDB column type → exit 2 naming manifest.json and the field, no SQL run, no output', async (type) => {
    const dir = evil((m) => (m.state.tableTypes.patients.age = type()));
    const r = await predictOn(dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^cdmm: error: ${join(dir, 'manifest.json').replace(/[/.]/g, '\\$&')}: damaged manifest: state\\.tableTypes\\.patients\\.age: unsupported column type`));
    expect(r.injected).toBe(false);
    expect(r.wrote).toBe(false);
    await expect(Predictor.load(dir)).rejects.toThrow(/state\.tableTypes\.patients\.age: unsupported column type/); // what cdmm serve loads
  });

  it('a column name made of SQL is only ever a quoted identifier: the run loads, predicts, and runs nothing', async () => {
    const name = `x" DOUBLE); ${pwnedSql()}; --`;
    const dir = evil((m) => (m.state.tableTypes.patients[name] = 'DOUBLE'));
    const p = await Predictor.load(dir);
    try {
      const [pred] = await p.predictRecords([{ ...records(1, 5, v)[0], patients: { age: 50, [name]: 1 } }]);
      expect(pred.p_do).toBeGreaterThan(0);
    } finally {
      p.dispose();
    }
    expect(existsSync(join(root, 'pwned.csv'))).toBe(false);
  });

  it.each([
    ['a table name with a NUL', (m: any) => (m.state.tableTypes['pa\u0000tients'] = { id: 'VARCHAR' }), /state\.tableTypes.*control characters/],
    ['a column name with a newline', (m: any) => (m.state.tableTypes.patients['a\nb'] = 'DOUBLE'), /state\.tableTypes\.patients.*control characters/],
    ['a spec table without column types', (m: any) => delete m.state.tableTypes.labs, /state\.tableTypes\.labs: missing/],
    ['a window end that is SQL', (m: any) => (m.spec.modalities.labs.window.end = '0) OR (1=1'), /spec\.modalities\.labs\.window\.end: expected a number of days or a duration/],
    ['a spec field the data layer does not know', (m: any) => (m.spec.cohort.sql = 'DROP TABLE x'), /spec\.cohort: Unrecognized key/],
    ['a model width of 10^9 (allocation before any weight check)', (m: any) => (m.config.model.dim = 1e9), /config\.model\.dim: Number must be less than or equal to 8192/],
    ['a fitted std of 0', (m: any) => (m.state.modalities[0].state.numeric[0].std = 0), /state\.modalities\[0\]\.state\.numeric\[0\]\.std: must be > 1e-12/],
    ['a fitted std of 1e-300 (a feature infinite: "internal check failed")', (m: any) => (m.state.modalities[0].state.numeric[0].std = 1e-300), /state\.modalities\[0\]\.state\.numeric\[0\]\.std: must be > 1e-12/],
    ['a fitted mean that is a string', (m: any) => (m.state.modalities[0].state.numeric[0].mean = '1; DROP'), /state\.modalities\[0\]\.state\.numeric\[0\]\.mean: Expected number/],
    ['a fitted mean of null (NaN written as JSON)', (m: any) => (m.state.modalities[0].state.numeric[0].mean = null), /numeric\[0\]\.mean: Expected number, received null/],
    ['a fitted mean beyond float32 (1e300: every record would fail as "non-finite")', (m: any) => (m.state.modalities[0].state.numeric[0].mean = 1e300), /state\.modalities\[0\]\.state\.numeric\[0\]\.mean: beyond the float32 range/],
    ['no typical values in a cdmm-model/3 manifest (serving would read spec_path instead)', (m: any) => delete m.typical, /typical: missing/],
    ['one typical value too few', (m: any) => m.typical.labs.pop(), /typical\.labs: \d+ values for \d+ features/],
    ['a typical value for no modality', (m: any) => (m.typical.nope = [1]), /typical\.nope: not a modality/],
    ['a typical value beyond float32 (1e308: Infinity in the model, NaN risks)', (m: any) => (m.typical.labs[0] = 1e308), /typical\.labs\[0\]: beyond the float32 range/],
    ['one prior too many', (m: any) => m.patterns.prior.push(0), /patterns: do not match/],
    ['a mask of the wrong length', (m: any) => (m.patterns.masks[0] += '1'), /patterns: do not match/],
    ['priors that do not sum to 1', (m: any) => (m.patterns.prior[0] += 0.5), /patterns\.prior: sums to/],
    ['a feature name too few', (m: any) => m.modalities[0].features.pop(), /modalities\[0\]\.features: \d+ names for \d+ features/],
    ['a vocabulary entry the model was not built for', (m: any) => m.state.modalities[2].state.vocabulary.push('zzz'), /modalities\[2\]: shape .* do not match the fitted state of 'diagnoses'/],
    ['an idf of the wrong length', (m: any) => m.state.modalities[3].state.idf.pop(), /state\.modalities\[3\]\.state\.idf: has \d+ values for width/],
    ['embedding columns other than the spec says', (m: any) => (m.state.modalities[4].state.columns[0] = 'emb_99'), /modalities\[4\]: shape .* do not match/],
    ['tabular columns other than the spec says', (m: any) => (m.state.modalities[0].state.numeric[0].column = 'weight'), /state\.modalities\[0\]\.state\.numeric: columns/],
    ['bins other than the spec says', (m: any) => (m.state.modalities[1].state.edges[1] = -300), /state\.modalities\[1\]\.state\.edges: differ from the spec's bins/],
    ['a weights file outside the run folder', (m: any) => (m.weights.file = '../model.safetensors'), /weights\.file: must be a plain file name/],
    ['a modality the spec does not have', (m: any) => (m.modalities[0].name = 'other'), /modalities: .* differ from the spec's/],
    ['an unknown format', (m: any) => (m.format = 'cdmm-model/9'), /format "cdmm-model\/9" is not supported/],
    ['no calibration in a cdmm-model/3 manifest', (m: any) => delete m.calibration, /calibration: missing/],
    ['a Platt slope that reverses the ranking', (m: any) => (m.calibration = { method: 'platt', a: -2, b: 0 }), /calibration\.a: Number must be greater than 0\.01/],
    ['a Platt intercept of 10^9', (m: any) => (m.calibration = { method: 'platt', a: 1, b: 1e9 }), /calibration\.b: Number must be less than or equal to 1000/],
    ['a Platt slope of null (NaN written as JSON)', (m: any) => (m.calibration = { method: 'platt', a: null, b: 0 }), /calibration\.a: Expected number, received null/],
    ['an isotonic map that decreases', (m: any) => (m.calibration = { method: 'isotonic', x: [0.1, 0.5, 0.9], y: [0.1, 0.6, 0.3] }), /calibration\.y\[2\]: y must not decrease/],
    ['an isotonic map of 10^4 points', (m: any) => (m.calibration = { method: 'isotonic', x: Array.from({ length: 10000 }, (_, i) => i / 1e4), y: Array.from({ length: 10000 }, () => 0.5) }), /calibration\.x: Array must contain at most 1000/],
    ['an unknown calibration method', (m: any) => (m.calibration = { method: 'spline', knots: [] }), /calibration\.method: Invalid discriminator value/],
    ['another major cdmm version', (m: any) => (m.cdmm_version = '99.0.0'), /cdmm_version: written with cdmm 99\.0\.0.*different major version/],
  ])('%s → exit 2 naming manifest.json and the field, no output', async (_what, edit, message) => {
    const dir = evil(edit);
    const r = await predictOn(dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(join(dir, 'manifest.json'));
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.wrote).toBe(false);
  });

  it('one changed digit of the calibration slope a without a new checksum → exit 2, "changed or damaged" naming manifest.json', async () => {
    // A Platt map as training writes it (whatever this tiny run fitted), checksummed; then one digit of a changed.
    const dir = evil((m) => (m.calibration = { method: 'platt', a: 1.2345678, b: -0.5 }));
    expect((await predictOn(dir)).code).toBe(0);
    const path = join(dir, 'manifest.json');
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/"a": -?\d+\.\d/);
    writeFileSync(path, text.replace(/("a": -?\d+\.)(\d)/, (_, a: string, d: string) => `${a}${(Number(d) + 1) % 10}`));
    const r = await predictOn(dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${path}: changed or damaged since it was written`);
    expect(r.wrote).toBe(false);
    await expect(Predictor.load(dir)).rejects.toThrow(/manifest\.json: changed or damaged/);
  });

  it('one changed digit of a fitted mean without a new checksum → exit 2, "changed or damaged" naming manifest.json', async () => {
    const dir = copyRunFolder(runDir, join(root, 'digit'));
    const path = join(dir, 'manifest.json');
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace(/("mean": -?\d+\.)(\d)/, (_, a: string, d: string) => `${a}${(Number(d) + 1) % 10}`));
    const r = await predictOn(dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${path}: changed or damaged since it was written`);
    expect(r.wrote).toBe(false);
    await expect(Predictor.load(dir)).rejects.toThrow(/manifest\.json: changed or damaged/);
  });

  it.each([
    () => `1=1); ${pwnedSql()}; --`,
    () => "length(read_text('/etc/hostname')) > 0",
    () => 'age > 0; DROP TABLE t_patients',
  ])("SQL in the manifest spec's cohort filters (%#) is refused by the spec's own filter grammar, naming the field", async (filter) => {
    const dir = evil((m) => (m.spec.cohort.filters = [filter()]));
    const r = await predictOn(dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/manifest\.json: damaged manifest: spec\.cohort\.filters\[0\]: /);
    expect(r.injected).toBe(false);
    expect(r.wrote).toBe(false);
  });

  it('a filter the grammar accepts is kept, and predict applies no cohort filter to new patients', async () => {
    const dir = evil((m) => (m.spec.cohort.filters = ['age > 1000']));
    const r = await predictOn(dir);
    expect(r.code).toBe(0);
    expect(r.wrote).toBe(true);
  });

  it('SHA256SUMS itself is checked: a malformed line, a missing entry, a removed file', async () => {
    const dir = copyRunFolder(runDir, join(root, 'sums'));
    const sums = join(dir, 'SHA256SUMS');
    const text = readFileSync(sums, 'utf8');
    writeFileSync(sums, text + 'not a checksum line\n');
    expect((await predictOn(dir)).err).toMatch(/SHA256SUMS: line \d+: expected "<sha256>  <file name>"/);
    writeFileSync(sums, text.split('\n').filter((l) => !l.endsWith('manifest.json')).join('\n'));
    expect((await predictOn(dir)).err).toMatch(/manifest\.json: not listed in .*SHA256SUMS/);
    rmSync(sums);
    expect((await predictOn(dir)).err).toMatch(/SHA256SUMS: not found/);
  });

  it("spec_path is not echoed to HTTP clients: /v1/model says only that rebuilding the typical values failed", async () => {
    const secret = join(root, 'secret.yaml');
    writeFileSync(secret, 'key: [unclosed SECRET-CONTENT-42\n');
    // Only old runs rebuild typical values from spec_path, and of old runs only plain ones still load.
    const dir = copyRunFolder((await trainTinyRun(root, { debias: 'none' })).run, join(root, 'old-plain'));
    editManifest(dir, (m) => {
      m.format = 'cdmm-model/1';
      delete m.calibration;
      delete m.typical;
      m.spec_path = secret;
    });
    const p = await Predictor.load(dir);
    try {
      expect(p.typical.source).toBe('unavailable');
      expect(JSON.stringify(p.summary())).not.toContain('SECRET-CONTENT');
      expect((p.summary().typical_values as { note: string }).note).toMatch(/rebuilding the training data failed/);
    } finally {
      p.dispose();
    }
  });

  it("an old run's spec_path is read only when it names a .yaml file, and nothing is written beside it", async () => {
    const { readdirSync, mkdirSync, cpSync } = await import('node:fs');
    const dir = copyRunFolder((await trainTinyRun(root, { debias: 'none' })).run, join(root, 'old-plain-2'));
    const m0 = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    // Another folder with a valid spec and data: the rebuild must not leave a cache there.
    const other = join(root, 'someone-elses');
    mkdirSync(other, { recursive: true });
    cpSync(dirname(m0.spec_path), other, { recursive: true, filter: (f) => !f.includes('.cdmm-cache') });
    for (const [path, expected] of [[join(root, 'notes.txt'), /is not a \.yaml spec file/], [join(other, basename(m0.spec_path)), null]] as const) {
      if (path.endsWith('.txt')) writeFileSync(path, 'name: x\n');
      editManifest(dir, (m) => {
        m.format = 'cdmm-model/1';
        delete m.calibration;
        delete m.typical;
        m.spec_path = path;
      });
      const p = await Predictor.load(dir);
      try {
        if (expected) expect(p.typical.note).toMatch(expected);
        else expect(p.typical.source).toBe('training-data');
      } finally {
        p.dispose();
      }
    }
    expect(readdirSync(other).some((f) => f.includes('cdmm-cache'))).toBe(false);
  });
});

describe('overload: refused before the body is read, small requests keep flowing', () => {
  /** Opens a request whose body is announced but not (yet) sent; resolves with the status once one arrives. */
  function partial(port: number, contentLength: number, sent = '') {
    const s = connect(port, '127.0.0.1');
    const status = new Promise<number>((resolve) => {
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
        if (m) resolve(Number(m[1]));
      });
      s.on('close', () => resolve(0));
      s.on('error', () => resolve(0));
    });
    s.write(`POST /v1/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${contentLength}\r\n\r\n${sent}`);
    return { status, socket: s };
  }
  const health = async (url: string) => (await fetch(`${url}/healthz`)).json() as Promise<{ admitted_records: number; pending_records: number }>;

  it('a large request over capacity → 503 with Retry-After at once, its body never sent; a 1-record request meanwhile → 200', async () => {
    const app = buildServer(predictor, { maxPendingRecords: 200 });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    try {
      // 100 kB announced, nothing sent: counted as 196 records, admitted because the server is idle.
      const first = partial(port, 100_000, '{"records": [');
      await expect.poll(async () => (await health(url)).admitted_records, { timeout: 10_000 }).toBe(196);
      // 200 kB more would not fit: refused from its headers alone.
      const second = partial(port, 200_000);
      expect(await second.status).toBe(503);
      second.socket.destroy();
      const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ records: records(100, 8, v) }), headers: json });
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await r.json()).toEqual({ error: 'the server is busy; retry later' });
      // A small request still gets in, and is answered while the first one still holds its share.
      const small = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify(records(1, 9, v)[0]), headers: json });
      expect(small.status).toBe(200);
      expect(((await small.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
      // The first client goes away: its share is released.
      first.socket.destroy();
      await expect.poll(async () => (await health(url)).admitted_records, { timeout: 10_000 }).toBe(0);
      expect((await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify({ records: records(100, 8, v) }), headers: json })).status).toBe(200);
      expect((await health(url)).admitted_records).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('a chunked body (no Content-Length) counts as the most records a request may hold', async () => {
    // 196 held + 1000 for the chunked body > 1100 − 256 kept for small requests.
    const app = buildServer(predictor, { maxPendingRecords: 1100 });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    try {
      const first = partial(port, 100_000, '{'); // 196 records held
      await expect.poll(async () => (await health(url)).admitted_records, { timeout: 10_000 }).toBe(196);
      const chunked = await rawStatus(port, 'POST /v1/predict HTTP/1.1', { ...json, 'transfer-encoding': 'chunked', 'content-length': '' }, '');
      expect(chunked).toBe(503);
      first.socket.destroy();
    } finally {
      await app.close();
    }
  });

  it('413 over the body limit from the Content-Length alone, 415 for a non-JSON body, 400 for malformed JSON', async () => {
    const app = buildServer(predictor, { bodyLimit: 4096 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    try {
      const big = partial(port, 1_000_000);
      expect(await big.status).toBe(413);
      big.socket.destroy();
      expect((await post(app, 'x', { 'content-type': 'text/plain' })).statusCode).toBe(415);
      expect((await post(app, 'id=1', { 'content-type': 'application/x-www-form-urlencoded' })).statusCode).toBe(415);
      expect((await post(app, '{"id":')).statusCode).toBe(400);
      expect((await post(app, JSON.stringify({ id: 'x', notes: [{ day: 1, text: 'a'.repeat(5000) }] }))).statusCode).toBe(413);
      // a compressed body is refused, not read as if it were plain (a proxy would read it otherwise)
      const gz = await post(app, '{"id":"x"}', { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      expect([gz.statusCode, gz.json().error]).toEqual([415, expect.stringMatching(/Content-Encoding "gzip" is not supported/)]);
      // ... and so is a transfer coding other than chunked, over a real socket
      const net = await import('node:net');
      const raw = await new Promise<string>((done) => {
        const sock = net.connect(port, '127.0.0.1', () => sock.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\na\r\n{"id":"x"}\r\n0\r\n\r\n'));
        let got = '';
        sock.on('data', (d) => { got += d; if (got.includes('\r\n\r\n')) { sock.destroy(); done(got); } });
        sock.on('error', () => done(got));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 415/);
      // Beside "records", any other key is named, not ignored.
      const extra = await post(app, JSON.stringify({ records: [{ id: 'x' }], threshold: 0.5 }));
      expect([extra.statusCode, extra.json().issues?.[0]]).toEqual([400, { path: '"threshold"', message: expect.stringMatching(/unknown field beside "records"/) }]);
    } finally {
      await app.close();
    }
  });
});

describe('connections that send headers and trickle their bodies', () => {
  it('take their own address\'s share: another address is still served, and the share comes back when they drop', async () => {
    const net = await import('node:net');
    const app = buildServer(predictor, { token: TOKEN });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const socks: import('node:net').Socket[] = [];
    try {
      // 40 requests claiming 64 KiB each (128 records): 5,120 records claimed, more than the whole capacity.
      for (let i = 0; i < 40; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => {});
        s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n[`);
        socks.push(s);
      }
      await new Promise((r) => setTimeout(r, 300));
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { admitted_records: number };
      expect(health.admitted_records).toBeLessThanOrEqual(2048 + 128);
      // another address (the whole of 127/8 is loopback on Linux), with a request too large for the reserve kept for
      // small ones: without the share the trickling claims would have filled the capacity and it would get 503
      const other = await new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ records: records(40, 3, v) });
        expect(Buffer.byteLength(body)).toBeGreaterThan(16 * 512);
        const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () =>
          s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0)));
        s.on('error', reject);
      });
      expect(other).toBe(200);
    } finally {
      for (const s of socks) s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const after = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { admitted_records: number };
      await app.close();
      expect(after.admitted_records).toBe(0);
    }
  }, 30_000);
});

describe('connections per address', () => {
  it('one address holds at most maxConnectionsPerAddress open connections; another address is still served', async () => {
    const net = await import('node:net');
    const app = buildServer(predictor, { token: TOKEN, maxConnectionsPerAddress: 20 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const socks: import('node:net').Socket[] = [];
    const closedEarly = (s: import('node:net').Socket) => new Promise<boolean>((resolve) => {
      s.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 500);
    });
    try {
      // idle connections that send half a request line: the 21st is closed at once, the 20 before it stay open
      for (let i = 0; i < 21; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        s.write('GET /heal');
        socks.push(s);
      }
      const closed = await Promise.all(socks.map(closedEarly));
      expect(closed.slice(0, 20).every((c) => !c)).toBe(true);
      expect(closed[20]).toBe(true);
      const other = await new Promise<number>((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0)));
        s.on('error', reject);
      });
      expect(other).toBe(200);
      // the share comes back when they close
      for (const s of socks) s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      for (const s of socks) s.destroy();
      await app.close();
    }
  }, 30_000);
});

describe('a body that does not arrive in time', () => {
  it('has its connection closed at the body timeout, to the second, and its share released', async () => {
    const net = await import('node:net');
    const app = buildServer(predictor, { token: TOKEN, bodyTimeoutMs: 600 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    try {
      const t0 = performance.now();
      const closed = new Promise<number>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () =>
          s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`));
        s.on('error', () => {});
        s.on('close', () => resolve(performance.now() - t0));
        // a byte now and then: the timeout is on the whole body, not on silence
        const drip = setInterval(() => s.writable && s.write(' '), 100);
        s.on('close', () => clearInterval(drip));
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { admitted_records: number }).admitted_records).toBe(196);
      const ms = await closed;
      expect(ms).toBeGreaterThan(500);
      expect(ms).toBeLessThan(3000);
      expect(((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { admitted_records: number }).admitted_records).toBe(0);
      // a body that arrives in time is answered as usual
      const ok = await fetch(`http://127.0.0.1:${port}/v1/predict`, { method: 'POST', body: JSON.stringify(records(1, 3, v)[0]), headers: { ...json, authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
    } finally {
      await app.close();
    }
  }, 30_000);
});

describe('admission and queue rules', () => {
  const recs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}` }) as PatientRecord);

  it('counts a body as Content-Length / 512 records (at least 1, at most the per-request limit; no length → the limit)', () => {
    const a = new Admission(defaultAdmission(4096, 1000), () => null);
    expect([a.estimate(10), a.estimate(512), a.estimate(513), a.estimate(44_610), a.estimate(10_000_000), a.estimate(undefined), a.estimate(NaN)]).toEqual([1, 1, 2, 88, 1000, 1000, 1000]);
  });

  it('an idle server admits anything; then the total, the reserve for small requests and the measured rate bound large ones', () => {
    let rate: number | null = null;
    const a = new Admission({ ...defaultAdmission(1000, 1000), maxWaitMs: 1000 }, () => rate);
    const big = a.admit(1000)!; // idle: admitted though over every bound but the total
    expect(a.records).toBe(1000);
    expect(a.admit(1)).toBeNull(); // the total is full
    big.resize(600); // parsed: 600 records after all
    expect(a.admit(200)).toBeNull(); // 800 > 1000 − 250 kept for small requests
    const s1 = a.admit(16)!; // small: may use the reserve
    expect(a.admit(100)!.records).toBe(100); // 716 ≤ 750
    rate = 500; // the worker scores 500 records/s: large ones only while ≤ 1 s of work is admitted
    expect(a.admit(20)).toBeNull();
    expect(a.admit(10)).not.toBeNull();
    expect(a.drainSeconds()).toBeCloseTo(726 / 500, 10);
    big.release();
    big.release(); // idempotent
    s1.release();
    expect(a.records).toBe(110);
  });

  it('one client holds at most its share of bodies still arriving: many trickling connections do not take the whole server', async () => {
    const a = new Admission(defaultAdmission(4096, 1000), () => null); // share: 4096 / 2 = 2048
    const first = a.admit(1000, 'attacker')!; // its first request: admitted whatever its size
    const second = a.admit(1000, 'attacker')!;
    expect(a.admit(16, 'attacker')!.records).toBe(16); // 2016 ≤ 2048
    expect(a.admit(40, 'attacker')).toBeNull(); // 2056 > 2048
    expect(a.heldBy('attacker')).toBe(2016);
    const other = a.admit(1, 'clinic'); // another client is not held back by it
    expect(other).not.toBeNull();
    first.bodyArrived(); // its body arrived: 1000 records of work, no longer a claim of a slow sender
    expect(a.heldBy('attacker')).toBe(1016);
    first.resize(10); // parsed: 10 records after all
    expect(a.heldBy('attacker')).toBe(1016);
    expect(a.records).toBe(10 + 1000 + 16 + 1);
    expect(a.admit(40, 'attacker')).not.toBeNull();
    first.release();
    second.release();
    other!.release();
    expect(a.heldBy('clinic')).toBe(0);
    expect(a.heldBy('attacker')).toBe(56);
    expect(a.records).toBe(56);
    // with a per-request limit above the capacity the share is still half of it
    const b = new Admission(defaultAdmission(4096, 100_000), () => null);
    expect(b.admit(2048, 'x')).not.toBeNull();
    expect(b.admit(20, 'x')).toBeNull();
    expect(b.admit(20, 'y')).not.toBeNull();
    // small requests of a client with a body in flight: up to 64 pending, then refused
    for (let i = 0; i < 63; i++) expect(b.admit(1, 'x'), `small ${i}`).not.toBeNull();
    expect(b.admit(1, 'x')).toBeNull();
    expect(b.admit(1, 'z')).not.toBeNull();
    const { requestTimeoutMs } = await import('../src/serve/server.js');
    expect([requestTimeoutMs(1 << 20), requestTimeoutMs(100e6)]).toEqual([11_000, 106_000]);
  });

  it('bodies still arriving from several addresses together leave the small-request reserve free', () => {
    const a = new Admission(defaultAdmission(4096, 1000), () => null); // reserve 256: pending bodies ≤ 3840 in all
    const t1 = a.admit(1000, 'a1')!;
    for (const c of ['a2', 'a3']) expect(a.admit(1000, c)).not.toBeNull();
    expect(a.admit(800, 'a4')).not.toBeNull(); // 3800 pending
    expect(a.admit(100, 'a5')).toBeNull(); // large: 3900 > 3840
    expect(a.admit(16, 'a4')).not.toBeNull(); // 3816
    expect(a.admit(16, 'a4')).not.toBeNull(); // 3832
    expect(a.admit(16, 'a4')).toBeNull(); // 3848 > 3840, and a4 has a small request pending already
    expect(a.admit(16, 'a5')).not.toBeNull(); // 3848: past the cap, a5's first small request
    expect(a.admit(1, 'clinic')).not.toBeNull(); // a client with no small request pending still gets one in
    expect(a.admit(1, 'clinic')).toBeNull(); // … but only one past the cap
    t1.bodyArrived(); // a body arrived: its records are work now, the pending cap has room again
    expect(a.admit(1, 'clinic')).not.toBeNull();
  });

  it('a small job goes before large ones that came first; no two small-only batches in a row while large ones wait', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = async (groups: PatientRecord[][]) => {
      batches.push(groups.map((g) => `${g[0].id.replace(/\d+$/, '')}×${g.length}`));
      if (batches.length === 1) await gate;
      return groups.map((g) => g.map((r) => ({ id: r.id }) as PatientPrediction));
    };
    const q = new PredictQueue(run, { maxPendingRecords: 10_000, maxBatchRecords: 150 });
    const done = [q.submit(recs(100, 'first'))];
    await new Promise((r) => setImmediate(r)); // the worker has taken the first job and is scoring it
    done.push(q.submit(recs(100, 'largeA')), q.submit(recs(100, 'largeB')), q.submit(recs(1, 'small1')), q.submit(recs(2, 'small2')));
    release();
    await Promise.all(done);
    // Arriving together at an idle queue: the small one still goes first.
    const late = [q.submit(recs(100, 'largeC')), q.submit(recs(1, 'small3'))];
    await Promise.all(late);
    expect(batches).toEqual([['first×100'], ['small×1', 'small×2'], ['largeA×100'], ['largeB×100'], ['small×1'], ['largeC×100']]);
  });

  it('a job whose client has gone is dropped before it runs (JobAbandonedError), and its records leave the count', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new PredictQueue(async (groups) => {
      seen.push(...groups.flat().map((r) => r.id));
      await gate;
      return groups.map((g) => g.map((r) => ({ id: r.id }) as PatientPrediction));
    }, { maxPendingRecords: 100, maxBatchRecords: 10 });
    const running = q.submit(recs(10, 'a'));
    const gone = new AbortController();
    const waiting = q.submit(recs(5, 'b'), gone.signal);
    expect(q.pending).toBe(15);
    gone.abort();
    await expect(waiting).rejects.toBeInstanceOf(JobAbandonedError);
    expect(q.pending).toBe(10);
    release();
    await running;
    await q.idle();
    expect(seen.some((id) => id.startsWith('b'))).toBe(false);
    const already = new AbortController();
    already.abort();
    await expect(q.submit(recs(1, 'c'), already.signal)).rejects.toBeInstanceOf(JobAbandonedError);
  });
});
