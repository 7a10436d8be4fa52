import { describe, expect, it } from 'vitest';
import { meanStd, overSeeds, signedMeanStd } from '../src/eval/format.js';
import { formatReferenceTable, type ReferenceSummary } from '../src/eval/reference.js';

const ref: ReferenceSummary = {
  name: 'APACHE', auroc_mean: 0.86, auroc_std: 0, auprc_mean: 0.4, auprc_std: 0, ece_mean: null, ece_std: null,
  covered_mean: 90, coverage_mean: 0.9, model_auroc_mean: 0.8, model_auroc_std: 0, model_auprc_mean: 0.3, model_auprc_std: 0,
  delta_auroc_mean: -0.06, delta_auroc_std: 0,
};

describe('mean ± std formatting (benchmark and reference tables)', () => {
  it('shows a spread only when there were seeds to spread over', () => {
    expect(meanStd(0.8123, 0.0101, 3)).toBe('0.812 ± 0.010');
    expect(meanStd(0.8123, 0, 1)).toBe('0.812');
    expect(signedMeanStd(0.07, 0.03, 2)).toBe('+0.070 ± 0.030');
    expect(signedMeanStd(-0.01, 0, 1)).toBe('-0.010');
    expect(meanStd(null, null, 3)).toBe('n/a');
    expect(meanStd(NaN, 0.1, 3)).toBe('n/a');
    expect(overSeeds([4])).toBe('one seed (4), so no spread is shown');
    expect(overSeeds([0, 1])).toBe('mean ± std over seeds [0, 1]');
  });

  it('the reference table of a one-seed benchmark prints no "± 0.000"', () => {
    const one = formatReferenceTable([{ backbone: 'lr', debias: 'none', seeds: 1, test: { reference: ref } }])!;
    expect(one).toMatch(/APACHE \(reference\)\s+0\.860\s+0\.400\s+n\/a/);
    expect(one).toMatch(/lr \+ none\s+0\.800\s+0\.300\s+-0\.060/);
    expect(one).not.toContain('±');
    const three = formatReferenceTable([{ backbone: 'lr', debias: 'none', seeds: 3, test: { reference: ref } }])!;
    expect(three).toMatch(/APACHE \(reference\)\s+0\.860 ± 0\.000/);
  });
});
