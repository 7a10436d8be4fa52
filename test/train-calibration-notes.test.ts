import { describe, expect, it } from 'vitest';
import { calibrationNotes, NEAR_CHANCE_AUROC, tooGoodNotes, weakModelNotes } from '../src/train/run.js';
import type { PreparedDataset } from '../src/data/types.js';

// Only the validation labels are read: 200 patients, 60 positive (enough of each class for no small-split note).
const ds = { splits: { val: { labels: Float32Array.from({ length: 200 }, (_, i) => (i < 60 ? 1 : 0)) } } } as unknown as PreparedDataset;
const platt = { method: 'platt', a: 1.1, b: -0.2 } as const;

describe('train notes on calibration', () => {
  it('says when the calibration map made the validation ECE worse, and only then', () => {
    const worse = calibrationNotes(ds, platt, { ece: 0.031, ece_raw: 0.012 });
    expect(worse).toHaveLength(1);
    expect(worse[0]).toMatch(/calibration \(platt\) raised the validation ECE from 0\.012 \(uncalibrated\) to 0\.031/);
    expect(worse[0]).toMatch(/--calibration none/);
    expect(calibrationNotes(ds, platt, { ece: 0.010, ece_raw: 0.030 })).toEqual([]);
    // within the binning's noise: no note
    expect(calibrationNotes(ds, platt, { ece: 0.0135, ece_raw: 0.012 })).toEqual([]);
    // no calibration, or an older metrics record without ece_raw: nothing to compare
    expect(calibrationNotes(ds, { method: 'none' }, { ece: 0.05, ece_raw: 0.01 })).toEqual([]);
    expect(calibrationNotes(ds, platt, { ece: 0.05 })).toEqual([]);
  });

  it('still warns about a small validation split, beside the ECE note', () => {
    const small = { splits: { val: { labels: Float32Array.from({ length: 80 }, (_, i) => (i < 10 ? 1 : 0)) } } } as unknown as PreparedDataset;
    const n = calibrationNotes(small, platt, { ece: 0.08, ece_raw: 0.02 });
    expect(n).toHaveLength(2);
    expect(n[0]).toMatch(/fitted on 80 validation patients, 10 of them positive/);
  });
});

describe('train notes on a model near chance', () => {
  it('names the dual branch when its weights were on and its bias network ranked well, else says it plainly', () => {
    const dualOn = { dual: { on: true, bias_auroc: 0.759 } };
    expect(weakModelNotes(0.546, dualOn)[0]).toMatch(/validation AUROC is 0\.546, near chance, while the dual branch's bias network reached 0\.759: its weights may have removed real signal/);
    expect(weakModelNotes(0.546, { dual: { on: false, bias_auroc: 0.759 } })[0]).toMatch(/validation AUROC is 0\.546, near chance: it ranks patients little better than a coin/);
    // well under 0.5 is an inverted ranking, not a coin
    expect(weakModelNotes(0.27, { dual: { on: false } })[0]).toMatch(/validation AUROC is 0\.270, below chance \(the ranking is inverted/);
    expect(weakModelNotes(0.546, undefined)).toHaveLength(1);
    // above the threshold, or no AUROC (one class on validation): nothing
    expect(weakModelNotes(0.83, dualOn)).toEqual([]);
    expect(weakModelNotes(null, dualOn)).toEqual([]);
    expect(weakModelNotes(NEAR_CHANCE_AUROC, dualOn)).toHaveLength(1);
  });
});

describe('train notes on a model too good to be true', () => {
  it('points at leakage from an AUROC of 0.99 up, and at chance on a small validation split', () => {
    expect(tooGoodNotes(ds, 0.995)[0]).toMatch(/validation AUROC is 0\.995: that good is rare in clinical data; check that no feature is known only after the prediction time/);
    expect(tooGoodNotes(ds, 0.995)[0]).not.toMatch(/chance/);
    const small = { splits: { val: { labels: Float32Array.from({ length: 23 }, (_, i) => (i < 3 ? 1 : 0)) } } } as unknown as PreparedDataset;
    expect(tooGoodNotes(small, 1)[0]).toMatch(/with 3 validation patients of the smaller class it may also be chance/);
    expect(tooGoodNotes(ds, 0.93)).toEqual([]);
    expect(tooGoodNotes(ds, null)).toEqual([]);
  });
});
