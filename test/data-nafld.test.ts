// The bundled NAFLD and PBC datasets give the published figures (cached builds are fine).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { summarize } from '../src/data/summary.js';

describe('bundled datasets', () => {
  it('NAFLD: about 10,700 patients, 6.8% positive, blood pressure ~38%, FIB-4 ~11%', async () => {
    const s = summarize(await prepareDataset('datasets/nafld/nafld.yaml', { quiet: true }));
    expect(s.patients).toBeGreaterThan(10_500);
    expect(s.patients).toBeLessThan(10_900);
    expect(s.label_rate).toBeGreaterThan(0.063);
    expect(s.label_rate).toBeLessThan(0.073);
    expect(s.modalities.blood_pressure.available).toBeGreaterThan(0.36);
    expect(s.modalities.blood_pressure.available).toBeLessThan(0.40);
    expect(s.modalities.fib4.available).toBeGreaterThan(0.095);
    expect(s.modalities.fib4.available).toBeLessThan(0.125);
    expect(Object.keys(s.modalities)).toEqual(['demographics', 'lipids', 'blood_pressure', 'fib4', 'smoking', 'history']);
    expect(s.splits.train + s.splits.val + s.splits.test).toBe(s.patients);
    expect(s.patterns.reduce((a, p) => a + p.count, 0)).toBe(s.patients);
  }, 60_000);

  it('NAFLD shift split: blood-pressure availability is tied to the label in train only', async () => {
    const ds = await prepareDataset('datasets/nafld/nafld-shift-bp.yaml', { quiet: true });
    const k = ds.modalities.findIndex((m) => m.name === 'blood_pressure');
    const K = ds.modalities.length;
    const gap = (split: 'train' | 'test') => {
      const s = ds.splits[split];
      let nObs = 0, yObs = 0, nMis = 0, yMis = 0;
      for (let i = 0; i < s.ids.length; i++) if (s.mask[i * K + k]) { nObs++; yObs += s.labels[i]; } else { nMis++; yMis += s.labels[i]; }
      return yObs / nObs - yMis / nMis;
    };
    expect(gap('train')).toBeGreaterThan(2 * gap('test'));
    expect(ds.splits.test.ids.length).toBeGreaterThan(2000); // test keeps the natural distribution
  }, 60_000);

  it('PBC: 312 patients with a 5-year outcome; the lab block is missing for the non-trial patients', async () => {
    const s = summarize(await prepareDataset('datasets/pbc/pbc.yaml', { quiet: true }));
    expect(s.patients).toBe(312);
    expect(s.modalities.labs.available).toBeCloseTo(244 / 312, 3);
    expect(s.patterns.map((p) => p.mask).sort()).toEqual(['100', '111']);
  }, 60_000);

  it('cdmm inspect --json prints the documented form', () => {
    const out = execFileSync('npx', ['tsx', 'test/fixtures/data/cli.ts', 'inspect', 'datasets/pbc/pbc.yaml', '--json'], { encoding: 'utf8' });
    const j = JSON.parse(out);
    expect(j.patients).toBe(312);
    expect(Object.keys(j.splits)).toEqual(['train', 'val', 'test']);
    expect(j.modalities.labs).toEqual({ type: 'tabular', available: expect.any(Number), dim: 10 });
    expect(j.patterns[0]).toEqual({ mask: '111', count: 244, label_rate: expect.any(Number) });
    expect(typeof j.label_rate).toBe('number');
    // positives per split, and a warning when validation has few of a class (PBC: 312 patients)
    expect(Object.keys(j.split_positives)).toEqual(['train', 'val', 'test']);
    expect(j.split_positives.val).toBeLessThan(j.splits.val);
    expect(j.split_positives.val).toBe(23); // PBC's validation split: 23 of 62 died, enough of each class for no warning
    expect(j.warnings.some((w: string) => w.startsWith('the validation split has'))).toBe(false);
  }, 60_000);
});
