// npm run bench:serve [-- --run DIR] [--duration S] [--connections N] [--overload-connections N] [--fuzz N]
// Trains a tiny run on a simulated cohort (or loads --run), serves it on loopback, and measures POST /v1/predict
// with autocannon for 1-record and 32-record bodies (requests/s, p50/p99 latency); then overload: 48 connections
// sending 100-record bodies while one client sends 1-record requests (some large requests must succeed, the rest
// be refused fast, and the small ones keep flowing); then fires malformed and hostile bodies at it: every answer
// must be < 500 and the server must still answer /healthz. Last line: one JSON object with the figures.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { memory } from '../src/engine/index.js';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer } from '../src/serve/server.js';
import { fuzzBodies, records, trainTinyRun, vocab } from '../test/serve-fixtures.js';

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    'overload-connections': { type: 'string', default: '48' },
    fuzz: { type: 'string', default: '1000' },
  },
});

async function load(url: string, bodies: string[], label: string, connections = Number(args.connections)): Promise<CannonResult> {
  let next = 0;
  const r = await autocannon({
    url: `${url}/v1/predict`,
    connections,
    duration: Number(args.duration),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
  const codes = Object.entries(r.statusCodeStats).map(([c, s]) => `${c}:${s.count}`).join(' ');
  console.log(
    `${label.padEnd(12)} ${r.requests.average.toFixed(1).padStart(7)} req/s  p50 ${String(r.latency.p50).padStart(5)} ms  p99 ${String(r.latency.p99).padStart(5)} ms  ` +
      `(${r.requests.total} requests, status ${codes}, errors ${r.errors}, timeouts ${r.timeouts})`,
  );
  return r;
}

/** Sends 1-record requests one after another until `stop` resolves; each one's latency in ms and status. */
async function trickle(url: string, bodies: string[], stop: Promise<unknown>): Promise<{ ms: number[]; status: Record<string, number> }> {
  let done = false;
  void stop.then(() => (done = true));
  const ms: number[] = [];
  const status: Record<string, number> = {};
  for (let i = 0; !done; i++) {
    const t0 = performance.now();
    let code: string;
    try {
      const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: bodies[i % bodies.length], headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) });
      await r.arrayBuffer();
      code = String(r.status);
    } catch (e) {
      code = `error (${(e as Error).name})`;
    }
    ms.push(performance.now() - t0);
    status[code] = (status[code] ?? 0) + 1;
  }
  return { ms, status };
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN;
}

async function fuzz(url: string, valid: Record<string, unknown>[], n: number, bodyLimit: number): Promise<Record<string, number>> {
  const bodies = fuzzBodies(n, 2026, valid, bodyLimit);
  const counts: Record<string, number> = {};
  const byKind: Record<string, Record<string, number>> = {};
  let i = 0;
  const worker = async () => {
    while (i < bodies.length) {
      const b = bodies[i++];
      const headers: Record<string, string> = b.contentType === '' ? {} : { 'content-type': b.contentType ?? 'application/json' };
      let status: string;
      try {
        const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: b.body, headers });
        await r.arrayBuffer();
        status = String(r.status);
      } catch (e) {
        status = `network error (${(e as Error).message})`;
      }
      counts[status] = (counts[status] ?? 0) + 1;
      (byKind[b.kind] ??= {})[status] = (byKind[b.kind][status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  for (const [kind, c] of Object.entries(byKind)) console.log(`  ${kind.padEnd(22)} ${Object.entries(c).map(([s, k]) => `${s}:${k}`).join(' ')}`);
  return counts;
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'cdmm-bench-serve-'));
  process.env.CDMM_CACHE_DIR ??= join(root, 'cache');
  try {
    let runDir = args.run;
    if (!runDir) {
      const t0 = performance.now();
      runDir = (await trainTinyRun(root, { n: 1000 })).run;
      console.log(`trained a tiny run (simulated cohort, 1000 patients) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${runDir}`);
    }
    const predictor = await Predictor.load(runDir);
    const bodyLimit = 1024 * 1024;
    const app = buildServer(predictor, { bodyLimit });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const m = predictor.manifest;
    console.log(`serving ${m.dataset} (${m.config.backbone}, debias ${m.config.debias}, ${predictor.modalities.length} modalities) on ${url}; ${args.connections} connections, ${args.duration} s per run`);
    const v = vocab(predictor.modalities);
    const singles = records(200, 1, v).map((r) => JSON.stringify(r));
    const batches = Array.from({ length: 20 }, (_, i) => JSON.stringify({ records: records(32, 100 + i, v) }));
    await load(url, singles.slice(0, 20), 'warm-up');
    const mem0 = memory();
    const one = await load(url, singles, '1 record');
    const many = await load(url, batches, '32 records');
    console.log(`  32 records: ${(many.requests.average * 32).toFixed(0)} patients/s`);
    const mem1 = memory();
    console.log(`engine live tensors before/after the load runs: ${mem0.tensors}/${mem1.tensors} (${mem0.bytes}/${mem1.bytes} bytes)`);

    const big = Array.from({ length: 20 }, (_, i) => JSON.stringify({ records: records(100, 300 + i, v, `o${i}-`) }));
    const overConnections = Number(args['overload-connections']);
    console.log(`overload: ${overConnections} connections sending 100-record bodies, and one client sending 1-record requests meanwhile`);
    const flood = load(url, big, '100 records', overConnections);
    const small = await trickle(url, singles, flood);
    const over = await flood;
    const overloadSuccesses = over.statusCodeStats['200']?.count ?? 0;
    const overP99 = percentile(small.ms, 0.99);
    console.log(`  1 record meanwhile: ${small.ms.length} requests, p50 ${percentile(small.ms, 0.5).toFixed(0)} ms, p99 ${overP99.toFixed(0)} ms, status ${Object.entries(small.status).map(([c, k]) => `${c}:${k}`).join(' ')}`);

    console.log(`fuzz: ${args.fuzz} malformed bodies`);
    const counts = await fuzz(url, records(20, 5, v), Number(args.fuzz), bodyLimit);
    const fivexx = Object.entries(counts).filter(([s]) => !/^[1-4]\d\d$/.test(s)).reduce((a, [, c]) => a + c, 0);
    const alive = (await fetch(`${url}/healthz`).then((r) => r.status, () => 0)) === 200;
    console.log(`fuzz status counts: ${Object.entries(counts).map(([s, c]) => `${s}:${c}`).join(' ')}; 5xx or network errors: ${fivexx}; server alive: ${alive}`);
    await app.close();
    predictor.dispose();
    const smallOk = small.status['200'] ?? 0;
    const ok = fivexx === 0 && alive && one.non2xx === 0 && many.non2xx === 0 && mem0.tensors === mem1.tensors && overloadSuccesses > 0 && smallOk === small.ms.length;
    console.log(ok ? 'OK' : 'FAILED');
    const r1 = (x: number) => Math.round(x * 10) / 10;
    console.log(JSON.stringify({
      bench: 'serve',
      rps_1: r1(one.requests.average),
      p50_ms_1: one.latency.p50,
      p99_ms_1: one.latency.p99,
      patients_per_s_32: Math.round(many.requests.average * 32),
      overload_successes: overloadSuccesses,
      overload_p99_ms_1: Math.round(overP99),
      fuzz_5xx: fivexx,
    }));
    return ok ? 0 : 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

process.exit(await main());
