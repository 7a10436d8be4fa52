// Simulator properties: the missingness strength controls the pattern–label association; the true risk gives
// a high oracle AUROC; the shift environment changes the missingness mechanism and the confounder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { simulate } from '../src/data/simulate.js';
import type { PreparedDataset, SplitArrays } from '../src/data/types.js';
import { auroc, tempDir } from './fixtures/data/helpers.js';

async function build(opts: Parameters<typeof simulate>[0] extends infer O ? Omit<O & object, 'out'> : never): Promise<PreparedDataset> {
  const out = join(tempDir(), 'sim');
  await simulate({ out, n: 2000, ...opts });
  return prepareDataset(join(out, 'spec.yaml'), { quiet: true, cache: false });
}

/** Mean over modalities (those that can be missing) of |P(Y | observed) − P(Y | missing)|. */
function patternAssociation(s: SplitArrays, K: number): number {
  let total = 0, count = 0;
  for (let k = 0; k < K; k++) {
    let nObs = 0, yObs = 0, nMis = 0, yMis = 0;
    for (let i = 0; i < s.ids.length; i++) {
      if (s.mask[i * K + k]) { nObs++; yObs += s.labels[i]; } else { nMis++; yMis += s.labels[i]; }
    }
    if (nObs && nMis) { total += Math.abs(yObs / nObs - yMis / nMis); count++; }
  }
  return total / count;
}

/** Signed version for one modality: P(Y | observed) − P(Y | missing). */
function obsGap(s: SplitArrays, K: number, k: number): number {
  let nObs = 0, yObs = 0, nMis = 0, yMis = 0;
  for (let i = 0; i < s.ids.length; i++) {
    if (s.mask[i * K + k]) { nObs++; yObs += s.labels[i]; } else { nMis++; yMis += s.labels[i]; }
  }
  return yObs / nObs - yMis / nMis;
}

describe('simulator', () => {
  it('higher MNAR strength gives a stronger pattern–label association; MCAR gives almost none', async () => {
    const weak = await build({ seed: 1, missingness: 'mnar', missingnessStrength: 0.5 });
    const strong = await build({ seed: 1, missingness: 'mnar', missingnessStrength: 3 });
    const mcar = await build({ seed: 1, missingness: 'mcar', missingnessStrength: 3 });
    const K = weak.modalities.length;
    const a = (d: PreparedDataset) => patternAssociation(d.splits.train, K);
    expect(a(strong)).toBeGreaterThan(a(weak) + 0.05);
    expect(a(mcar)).toBeLessThan(a(weak));
    expect(a(mcar)).toBeLessThan(0.05);
  }, 60_000);

  it('the true risk P(Y | U) gives a high oracle AUROC, and the shift environment reverses the missingness', async () => {
    const d = await build({ seed: 2 });
    const test = d.splits.test;
    const oracle = auroc(test.labels, test.trueRisk!);
    expect(oracle).toBeGreaterThan(0.75);
    const shift = d.splits.shift!;
    expect(auroc(shift.labels, shift.trueRisk!)).toBeGreaterThan(0.75);
    // Mean true risk tracks the label rate (the label is drawn from it).
    const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(Math.abs(mean(d.splits.train.trueRisk!) - mean(d.splits.train.labels))).toBeLessThan(0.03);
    // MNAR: in training, sicker patients have labs more often; in the shift environment, less often.
    const K = d.modalities.length;
    expect(obsGap(d.splits.train, K, 1)).toBeGreaterThan(0.05);
    expect(obsGap(shift, K, 1)).toBeLessThan(-0.05);
  }, 60_000);

  it('the confounder tracks the label in training but not in the shift environment', async () => {
    const d = await build({ seed: 4, confounding: 2 });
    const demo = d.modalities[0];
    const D = demo.shape[0];
    const siteA = demo.features.indexOf('site=A');
    const gap = (s: SplitArrays) => {
      let n1 = 0, a1 = 0, n0 = 0, a0 = 0;
      for (let i = 0; i < s.ids.length; i++) {
        const a = s.values.demographics[i * D + siteA];
        if (s.labels[i]) { n1++; a1 += a; } else { n0++; a0 += a; }
      }
      return a1 / n1 - a0 / n0;
    };
    expect(gap(d.splits.train)).toBeGreaterThan(0.4);
    expect(Math.abs(gap(d.splits.shift!))).toBeLessThan(0.15);
  }, 60_000);

  it('is deterministic for a seed', async () => {
    const a = join(tempDir(), 'a'), b = join(tempDir(), 'b');
    await simulate({ out: a, n: 300, seed: 9 });
    await simulate({ out: b, n: 300, seed: 9 });
    const { readFileSync } = await import('node:fs');
    for (const f of ['patients.csv', 'labs.csv', 'notes.csv', 'spec.yaml']) expect(readFileSync(join(a, f), 'utf8')).toBe(readFileSync(join(b, f), 'utf8'));
  });
});
