// The HTTP server and run folders as an attacker meets them (docs/SECURITY.md): no way past the token, no SQL or
// file access from a run folder, no prototype keys, field paths for every wrong type, and overload answered
// before the body is read. Each case asserts the exact outcome.
import { connect } from 'node:net';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer } from '../src/serve/server.js';
import { runCli } from './helpers/cli.js';
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
    const head = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers };
    s.write(`${requestLine}\r\n${Object.entries(head).map(([k, x]) => `${k}: ${x}`).join('\r\n')}\r\n\r\n${body}`);
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

  it('__proto__ and constructor.prototype in a body → 400, and nothing is polluted', async () => {
    for (const body of ['{"id":"a","index_time":1000,"__proto__":{"polluted":1},"patients":{"age":1}}', '{"id":"a","index_time":1000,"patients":{"age":1,"__proto__":{"x":1}}}', '{"id":"a","constructor":{"prototype":{"polluted":1}}}']) {
      const r = await post(app, body);
      expect(r.statusCode, body).toBe(400);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
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

  it('a text cell holding an object, an id holding an object, a table holding a number', async () => {
    expect((await post(app, { id: 'a', index_time: 1000, patients: { sex: { a: 1 } } })).json().issues[0].path).toBe('patients.sex');
    expect((await post(app, { id: { a: 1 }, patients: { age: 1 } })).json().issues[0].path).toBe('id');
    expect((await post(app, { id: 'a', index_time: 1000, labs: 5 })).json().issues[0].path).toBe('labs');
  });
});
