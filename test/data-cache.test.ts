// The dataset cache in the spec's folder: used when it is a folder of its own; a `.cdmm-cache` that is a link (a
// spec folder is untrusted) is neither written through nor read from.
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
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
