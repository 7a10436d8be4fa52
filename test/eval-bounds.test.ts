// The benchmark's references (src/eval/bounds.ts): the oracle AUROC of the true risk and the in-distribution
// ceiling, a logistic regression cross-validated inside the shift environment.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { simulate } from '../src/data/simulate.js';
import type { SplitArrays } from '../src/data/types.js';
import { computeBounds, crossValidatedCeiling, fitLogistic, flattenFeatures, stratifiedFolds } from '../src/eval/bounds.js';
import { auroc, tempDir } from './fixtures/data/helpers.js';

describe('logistic regression (L-BFGS)', () => {
  it('reaches the optimum: the penalised gradient is ~0, and a larger penalty shrinks the weights', () => {
    // y depends on x0 (strongly) and x1 (weakly); x2 is noise. Deterministic pseudo-random data.
    const N = 400, D = 3;
    let a = 12345;
    const r = () => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648);
    const Z = new Float64Array(N * D), y = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < D; j++) Z[i * D + j] = r() * 2 - 1;
      y[i] = r() < 1 / (1 + Math.exp(-(3 * Z[i * D] + 1 * Z[i * D + 1] - 0.5))) ? 1 : 0;
    }
    const l2 = 0.01;
    const m = fitLogistic(Z, y, N, D, l2);
    // Gradient of mean log-loss + λ/2‖w‖² at the fit (tolerance 1e-5).
    const g = new Float64Array(D + 1);
    for (let i = 0; i < N; i++) {
      let s = m.b;
      for (let j = 0; j < D; j++) s += Z[i * D + j] * m.w[j];
      const e = 1 / (1 + Math.exp(-s)) - y[i];
      for (let j = 0; j < D; j++) g[j] += e * Z[i * D + j] / N;
      g[D] += e / N;
    }
    for (let j = 0; j < D; j++) g[j] += l2 * m.w[j];
    for (const x of g) expect(Math.abs(x)).toBeLessThan(1e-5);
    expect(m.w[0]).toBeGreaterThan(m.w[1]);
    expect(m.w[1]).toBeGreaterThan(Math.abs(m.w[2]));
    const strong = fitLogistic(Z, y, N, D, 1);
    expect(Math.abs(strong.w[0])).toBeLessThan(Math.abs(m.w[0]) / 2);
  });

  it('stratified folds: every fold gets its share of each class, reproducibly', () => {
    const y = Float64Array.from({ length: 103 }, (_, i) => (i % 5 === 0 ? 1 : 0)); // 21 positives
    const f = stratifiedFolds(y, 5, 0);
    expect(Array.from(f)).toEqual(Array.from(stratifiedFolds(y, 5, 0)));
    for (let k = 0; k < 5; k++) {
      const pos = y.filter((v, i) => v === 1 && f[i] === k).length;
      const all = Array.from(f).filter((x) => x === k).length;
      expect(pos === 4 || pos === 5).toBe(true);
      expect(all === 20 || all === 21).toBe(true);
    }
  });
});

describe('benchmark bounds on simulated data', () => {
  it('the ceiling inside the shift split lies between chance and the oracle; flattening leaves the split unchanged', async () => {
    const out = join(tempDir(), 'sim');
    await simulate({ out, n: 3000, seed: 3 });
    const ds = await prepareDataset(join(out, 'spec.yaml'), { quiet: true, cache: false });
    const shift = ds.splits.shift!;
    const before = JSON.stringify(Object.values(shift.values).map((v) => Array.from(v.subarray(0, 50))));
    const { X, N, D } = flattenFeatures(shift, ds.modalities);
    const K = ds.modalities.length;
    expect(N).toBe(shift.ids.length);
    expect(D).toBe(ds.modalities.reduce((a, m) => a + m.shape.reduce((x, y) => x * y, 1), 0) + K);
    for (let i = 0; i < 20; i++) for (let k = 0; k < K; k++) expect(X[i * D + D - K + k]).toBe(shift.mask[i * K + k]);
    expect(JSON.stringify(Object.values(shift.values).map((v) => Array.from(v.subarray(0, 50))))).toBe(before);

    const b = computeBounds(ds, null);
    expect(b.oracle!.test).toBeCloseTo(auroc(ds.splits.test.labels, ds.splits.test.trueRisk!), 12);
    expect(b.oracle!.shift).toBeCloseTo(auroc(shift.labels, shift.trueRisk!), 12);
    expect(b.ceiling_folds).toHaveLength(5);
    expect(b.ceiling_shift).toBeCloseTo(b.ceiling_folds.reduce((a, x) => a + x, 0) / 5, 12);
    // The features carry U (through labs, notes, imaging, age) but noisily: above chance, below the true risk.
    expect(b.ceiling_shift!).toBeGreaterThan(0.6);
    expect(b.ceiling_shift!).toBeLessThan(b.oracle!.shift!);
    // Seeded: the same folds give the same ceiling.
    expect(crossValidatedCeiling(shift, ds.modalities)).toEqual(b.ceiling_folds);
  }, 60_000);

  it('is no upper bound where a child of Y is a feature: with the confounder flipped at shift, the ceiling passes the oracle', async () => {
    // In `confounding`, C depends on Y (and the opposite way at shift); a model trained inside the shift split
    // reads Y through C, which P(Y | U) does not use. The oracle is the causal risk, not a bound on AUROC.
    const out = join(tempDir(), 'conf');
    await simulate({ out, n: 3000, seed: 1, scenario: 'confounding' });
    const ds = await prepareDataset(join(out, 'spec.yaml'), { quiet: true, cache: false });
    const b = computeBounds(ds, null);
    expect(b.ceiling_shift!).toBeGreaterThan(b.oracle!.shift! + 0.03);
  }, 60_000);

  it('null where there is nothing to compute: no true risk, no shift split, or too few positives', () => {
    const s: SplitArrays = { ids: ['a', 'b', 'c'], labels: Float32Array.from([0, 1, 0]), mask: Uint8Array.from([1, 1, 1]), values: { t: Float32Array.from([1, 2, 3]) } };
    const ds = { name: 'x', modalities: [{ name: 't', type: 'tabular' as const, shape: [1], features: ['t'] }], splits: { train: s, val: s, test: s }, state: {}, cohort: { candidates: 3, included: 3, exclusions: {} } };
    const b = computeBounds(ds, 7);
    expect(b).toMatchObject({ oracle: null, ceiling_shift: null, ceiling_folds: [], split_seed: 7 });
    expect(computeBounds({ ...ds, splits: { ...ds.splits, shift: s } }, 7).ceiling_shift).toBeNull(); // 1 positive < 5 folds
    expect(b.shift_n).toBeUndefined();
    expect(computeBounds({ ...ds, splits: { ...ds.splits, shift: s } }, 7)).toMatchObject({ shift_n: 3, shift_positives: 1 });
  });

  it('the benchmark table counts the shift split and warns when a class is too small for its AUROCs', async () => {
    const { formatBounds } = await import('../src/train/benchmark.js');
    const base = { oracle: null, ceiling_shift: 0.7, ceiling_folds: [0.7], ceiling_model: 'lr', split_seed: 0 };
    expect(formatBounds({ ...base, shift_n: 2000, shift_positives: 300 })).toMatch(/shift split: 2000 patients, 300 positive$/);
    expect(formatBounds({ ...base, shift_n: 800, shift_positives: 27 })).toMatch(/shift split: 800 patients, 27 positive — warning: fewer than 50 of a class/);
    expect(formatBounds({ ...base, shift_n: 800, shift_positives: 780 })).toMatch(/warning: fewer than 50 of a class/);
    expect(formatBounds(base)).not.toMatch(/shift split/); // a benchmark.json from before these fields
  });
});
