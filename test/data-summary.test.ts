// What `cdmm inspect` warns about: the missingness-bias warning needs a pattern with enough patients.
import { describe, expect, it } from 'vitest';
import { summarize } from '../src/data/summary.js';
import { syntheticDataset } from './train-fixtures.js';

describe('inspect warnings', () => {
  it('flags a pattern whose label rate departs from the overall one, but not a single patient', () => {
    const ds = syntheticDataset({ n: 3000, seed: 2 }); // labs observed MNAR: the labs pattern tracks the label
    const flagged = summarize(ds).warnings.filter((w) => w.includes('informative missingness'));
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.every((w) => Number(/\((\d+) patients\)/.exec(w)![1]) >= 20)).toBe(true);
    // A rare outcome (about 2.5%) and one positive patient alone in a pattern of its own (only the codes modality):
    // a 100% rate, 6 binomial standard errors away, and still not flagged.
    let k = 0;
    for (const s of Object.values(ds.splits)) s.labels.forEach((y, j) => { if (y === 1 && k++ % 10) s.labels[j] = 0; });
    const t = ds.splits.train;
    const K = ds.modalities.length;
    const i = t.labels.findIndex((y) => y === 1);
    t.mask.set([0, 0, 1], i * K);
    const rows = summarize(ds);
    expect(rows.patterns.find((p) => p.mask === '001')?.count).toBe(1);
    expect(rows.warnings.some((w) => w.startsWith('pattern 001 '))).toBe(false);
  });

  it('warns when the validation split has fewer than 20 patients of a class', () => {
    const ds = syntheticDataset({ n: 3000, seed: 2 });
    expect(summarize(ds).warnings.some((w) => w.startsWith('the validation split has'))).toBe(false);
    const v = ds.splits.val;
    let kept = 0;
    v.labels.forEach((y, i) => { if (y === 1 && kept++ >= 5) v.labels[i] = 0; });
    const s = summarize(ds);
    expect(s.split_positives.val).toBe(5);
    expect(s.warnings).toContainEqual(expect.stringMatching(/^the validation split has 5 patients with the outcome and \d+ without: early stopping, the gates' tests and the calibration rest on the smaller class/));
    // none at all: train would stop, and inspect says so (it used to say only "expect noisy choices")
    v.labels.fill(0);
    expect(summarize(ds).warnings).toContainEqual(expect.stringMatching(/^the validation split has no patient with the outcome \(\d+ patients\): train will stop/));
  });

  it('says when min_count leaves a codes modality with an empty vocabulary', async () => {
    const { smallDataset } = await import('./fixtures/data/helpers.js');
    const { prepareDataset } = await import('../src/data/build.js');
    const { join } = await import('node:path');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const dir = smallDataset();
    const spec = join(dir, 'spec.yaml');
    const base = readFileSync(spec, 'utf8');
    const withCodes = (minCount: number) => base.replace('split:', `  hist: { type: codes, table: labs, code: test, window: { end: 0 }, min_count: ${minCount} }\nsplit:`);
    writeFileSync(spec, withCodes(1000));
    const empty = summarize(await prepareDataset(spec, { quiet: true, cache: false })).warnings;
    expect(empty).toContainEqual(expect.stringMatching(/^modality 'hist': no code is held by min_count or more training patients, so its vocabulary is empty .*lower min_count, or check that the training patients have codes in the window$/));
    writeFileSync(spec, withCodes(1));
    expect(summarize(await prepareDataset(spec, { quiet: true, cache: false })).warnings.some((w) => w.includes('vocabulary is empty'))).toBe(false);
  });

  it('names categories and codes that differ only in case or spaces, from a real build', async () => {
    const { smallDataset } = await import('./fixtures/data/helpers.js');
    const { prepareDataset } = await import('../src/data/build.js');
    const { modalityWarnings } = await import('../src/data/summary.js');
    const { join } = await import('node:path');
    const rows = ['id,age,sex,y,index_day'];
    const sexes = ['F', 'M', 'MALE', 'Male', 'f', 'female ', 'm'];
    for (let i = 1; i <= 40; i++) rows.push(`${i},${40 + i},${sexes[i % sexes.length]},${i % 4 === 0 ? 1 : 0},100`);
    const ds = await prepareDataset(join(smallDataset({ patients: rows.join('\n') + '\n' }), 'spec.yaml'), { quiet: true, cache: false });
    const w = modalityWarnings(ds).filter((x) => x.includes('differ only in case'));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^modality 'demo': column 'sex' has categories that differ only in case or spaces \("F" \/ "f"; "M" \/ "m"; "MALE" \/ "Male"\): each is a feature of its own/);
    expect(summarize(ds).warnings).toContain(w[0]);
    const clean = await prepareDataset(join(smallDataset(), 'spec.yaml'), { quiet: true, cache: false });
    expect(modalityWarnings(clean).some((x) => x.includes('differ only in case'))).toBe(false);
  });
});
