// Hostile input over real HTTP: a few hundred malformed bodies must get 4xx (or 200 when valid after all), never
// a 5xx, and the server must stay alive. Then `cdmm serve` as a process: SIGTERM while a request is in flight
// finishes that request and exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Predictor } from '../src/serve/predictor.js';
import { buildServer } from '../src/serve/server.js';
import { fuzzBodies, records, trainTinyRun, vocab } from './serve-fixtures.js';

let root: string;
let run: string;
let predictor: Predictor;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cdmm-serve-fuzz-'));
  process.env.CDMM_CACHE_DIR = join(root, 'cache');
  ({ run } = await trainTinyRun(root));
  predictor = await Predictor.load(run);
});
afterAll(() => {
  predictor?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('fuzz', () => {
  it('answers 300 malformed bodies with no 5xx and stays alive', async () => {
    const bodyLimit = 64 * 1024;
    const app = buildServer(predictor, { bodyLimit });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const valid = records(10, 4, vocab(predictor.modalities));
      const bodies = fuzzBodies(300, 11, valid, bodyLimit);
      const counts: Record<string, number> = {};
      const fails: string[] = [];
      // A few at a time, as clients would.
      for (let i = 0; i < bodies.length; i += 6) {
        await Promise.all(
          bodies.slice(i, i + 6).map(async (b) => {
            const headers: Record<string, string> = b.contentType === '' ? {} : { 'content-type': b.contentType ?? 'application/json' };
            const r = await fetch(`${url}/v1/predict`, { method: 'POST', body: b.body, headers });
            const text = await r.text();
            counts[r.status] = (counts[r.status] ?? 0) + 1;
            if (r.status >= 500 || /\.ts:\d+|node_modules/.test(text)) fails.push(`${b.kind}: ${r.status} ${text.slice(0, 200)}`);
          }),
        );
      }
      expect(fails).toEqual([]);
      expect(counts[400]).toBeGreaterThan(100);
      expect(counts[413]).toBeGreaterThan(0);
      expect(counts[415]).toBeGreaterThan(0);
      const alive = await fetch(`${url}/healthz`);
      expect(alive.status).toBe(200);
      const ok = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify(valid[0]), headers: { 'content-type': 'application/json' } });
      expect(ok.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('cdmm serve process', () => {
  it('finishes the request in flight on SIGTERM and exits 0', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'cdmm.js'), 'serve', run, '--port', '0', '--quiet'], {
      env: { ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no address; stderr: ${err}`)), 60_000);
        child.stderr.on('data', () => {
          const m = /on (http:\/\/\S+)/.exec(err);
          if (m) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
      });
      const body = JSON.stringify({ records: records(64, 8, vocab(predictor.modalities)) });
      const inFlight = fetch(`${url}/v1/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await new Promise((r) => setTimeout(r, 30));
      child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { predictions: unknown[] }).predictions.length).toBe(64);
      expect(await exited).toBe(0);
      expect(err).toContain('SIGTERM: finishing requests in flight');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
