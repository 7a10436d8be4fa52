// The dataset cache in the spec's folder: used when it is a folder of its own; a `.cdmm-cache` that is a link (a
// spec folder is untrusted) is neither written through nor read from.
import { mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { forgetCacheSecret } from '../src/data/cache.js';
import { smallDataset } from './fixtures/data/helpers.js';

let saved: string | undefined;
beforeEach(() => { saved = process.env.CDMM_CACHE_DIR; delete process.env.CDMM_CACHE_DIR; });
afterEach(() => { if (saved === undefined) delete process.env.CDMM_CACHE_DIR; else process.env.CDMM_CACHE_DIR = saved; });

describe('the spec folder cache', () => {
  it('is written in .cdmm-cache when that is a folder (or absent)', async () => {
    const dir = smallDataset();
    await prepareDataset(join(dir, 'spec.yaml'), { quiet: true });
    expect(readdirSync(join(dir, '.cdmm-cache')).filter((f) => f.endsWith('.bin'))).toHaveLength(1);
  });

  it("keys entries with this user's secret: a planted entry (another user's, an archive's) is never read", async () => {
    const savedXdg = process.env.XDG_CACHE_HOME;
    try {
      const userA = mkdtempSync(join(tmpdir(), 'cdmm-xdg-a-'));
      process.env.XDG_CACHE_HOME = userA;
      forgetCacheSecret();
      const dir = smallDataset();
      await prepareDataset(join(dir, 'spec.yaml'), { quiet: true });
      expect(statSync(join(userA, 'cdmm', 'cache-secret')).mode & 0o777).toBe(0o600);
      // Another user (another secret) computes another key and builds from the files.
      const [json] = readdirSync(join(dir, '.cdmm-cache')).filter((f) => f.endsWith('.json'));
      process.env.XDG_CACHE_HOME = mkdtempSync(join(tmpdir(), 'cdmm-xdg-b-'));
      forgetCacheSecret();
      expect((await prepareDataset(join(dir, 'spec.yaml'), { quiet: true })).name).toBe('small');
      expect(readdirSync(join(dir, '.cdmm-cache')).filter((f) => f.endsWith('.json'))).toHaveLength(2);
      // The user's own entry edited in place (its key visible as the file name): the MAC no longer matches, so it
      // is rebuilt from the files, in the JSON (the name) as in the arrays (the labels).
      process.env.XDG_CACHE_HOME = userA;
      forgetCacheSecret();
      const clean = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true });
      const path = join(dir, '.cdmm-cache', json);
      writeFileSync(path, readFileSync(path, 'utf8').replace('"name":"small"', '"name":"POISONED"'));
      expect((await prepareDataset(join(dir, 'spec.yaml'), { quiet: true })).name).toBe('small');
      const bin = path.replace(/\.json$/, '.bin');
      const bytes = readFileSync(bin);
      const labels = (JSON.parse(readFileSync(path, 'utf8')).splits.train.labels as { offset: number; length: number });
      for (let i = 0; i < labels.length; i++) {
        const at = labels.offset + 4 * i;
        bytes.writeFloatLE(1 - bytes.readFloatLE(at), at);
      }
      writeFileSync(bin, bytes);
      const again = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true });
      expect(Array.from(again.splits.train.labels)).toEqual(Array.from(clean.splits.train.labels));
      // and an entry without its MAC (written by an older cdmm) is rebuilt too
      for (const f of readdirSync(join(dir, '.cdmm-cache')).filter((x) => x.endsWith('.mac'))) writeFileSync(join(dir, '.cdmm-cache', f), '00');
      expect((await prepareDataset(join(dir, 'spec.yaml'), { quiet: true })).name).toBe('small');
    } finally {
      if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = savedXdg;
      forgetCacheSecret();
    }
  });

  it('is not used when .cdmm-cache is a link or a file: nothing is written where it points, and the build says so', async () => {
    const dir = smallDataset();
    const victim = mkdtempSync(join(tmpdir(), 'cdmm-victim-'));
    symlinkSync(victim, join(dir, '.cdmm-cache'));
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => { writes.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      const ds = await prepareDataset(join(dir, 'spec.yaml'));
      expect(ds.splits.train.ids.length).toBeGreaterThan(0);
    } finally {
      process.stderr.write = orig;
    }
    expect(readdirSync(victim)).toEqual([]);
    expect(writes.join('')).toMatch(/cdmm: warning: .*\.cdmm-cache is a link, not a folder of its own: the dataset cache is not used/);
    const other = smallDataset();
    writeFileSync(join(other, '.cdmm-cache'), 'mine');
    await prepareDataset(join(other, 'spec.yaml'), { quiet: true });
    expect(readFileSync(join(other, '.cdmm-cache'), 'utf8')).toBe('mine');
  });
});
