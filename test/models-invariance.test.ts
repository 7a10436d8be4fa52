// Pattern invariance of the causal features (lambdaPattern), the mask fed to the spurious branch (spuriousMask) and
// modality dropout in training (modalityDropout + makeBatch's mask override).
import { describe, expect, it } from 'vitest';
import { Adam, eye, manualSeed, noGrad, tensor, tidy } from '../src/engine/index.js';
import { mulberry32 } from '../src/data/rng.js';
import { assignPatterns, buildPatternDictionary, createModel, defaultModelConfig, makeBatch, modalityDropout } from '../src/models/index.js';
import { conditionalHsic } from '../src/models/losses.js';
import type { ModelConfig } from '../src/models/types.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { trainModel } from '../src/train/trainer.js';
import { range, tinyConfig, tinyModalities, tinySplit } from './models-fixtures.js';
import { syntheticDataset } from './train-fixtures.js';

const K = tinyModalities.length;

describe('conditional HSIC between features and a category', () => {
  it('is near zero for features independent of the category and clearly positive for features that encode it', () => {
    const n = 120;
    const r = mulberry32(3);
    const y = Float32Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
    const cat = Int32Array.from({ length: n }, () => Math.floor(r() * 4));
    tidy(() => {
      const g = eye(4).indexSelect(0, tensor(BigInt64Array.from(cat, (c) => BigInt(c)), [n]));
      const noise = tensor(Float32Array.from({ length: n * 3 }, () => r()), [n, 3]);
      const encoded = g.mul(3).add(noise.narrow(1, 0, 1)); // (n, 4): the category plus a little noise
      const indep = conditionalHsic(noise, g, y)!.item();
      const dep = conditionalHsic(encoded, g, y)!.item();
      expect(dep).toBeGreaterThan(10 * Math.max(indep, 1e-4));
      expect(indep).toBeGreaterThanOrEqual(-1e-6);
    });
  });

  it('ignores a class with fewer than two patients', () => {
    tidy(() => {
      const x = tensor(Float32Array.from([0, 1, 2, 3]), [4, 1]);
      const g = eye(2).indexSelect(0, tensor(BigInt64Array.from([0n, 1n, 0n, 1n]), [4]));
      expect(conditionalHsic(x, g, Float32Array.from([1, 1, 1, 1]))).not.toBeNull();
      expect(conditionalHsic(x.narrow(0, 0, 1), g.narrow(0, 0, 1), Float32Array.from([1]))).toBeNull();
    });
  });
});

describe('lambdaPattern', () => {
  const split = tinySplit(200, 5, tinyModalities, 0.5);
  const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
  const pid = assignPatterns(split.mask, K, dict);
  const rows = range(200);

  function trainAndMeasure(extra: Partial<ModelConfig>): { pat: number; lastPart: number } {
    manualSeed(4);
    const model = createModel(tinyModalities, dict, { ...tinyConfig, backbone: 'early', debias: 'full', ...extra });
    const opt = new Adam(model.parameters(), { lr: 3e-3 });
    let lastPart = NaN;
    for (let step = 0; step < 60; step++) {
      tidy(() => {
        const batch = makeBatch(split, rows, tinyModalities, pid);
        const l = model.loss(model.forward(batch), batch, { epoch: 0 });
        opt.zeroGrad();
        l.total.backward();
        opt.step();
        lastPart = l.parts.pat;
      });
    }
    model.eval();
    const pat = tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const out = noGrad(() => model.forward(batch));
      const g = eye(dict.masks.length).indexSelect(0, batch.patternIdx);
      return conditionalHsic(out.zc!, g, split.labels)!.item();
    });
    opt.dispose();
    model.dispose();
    return { pat, lastPart };
  }

  it('lowers the within-class dependence between c and the pattern during training', () => {
    const off = trainAndMeasure({});
    const on = trainAndMeasure({ lambdaPattern: 5 });
    expect(off.lastPart).toBe(0); // not computed when off
    expect(on.lastPart).not.toBe(0); // computed (near 0 at the end: the estimator can dip just below it)
    expect(on.pat).toBeLessThan(0.5 * off.pat);
  });

  it('returns c in deconfound mode when the penalty needs it, and is ignored without c', () => {
    manualSeed(1);
    const m = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'deconfound', lambdaPattern: 1 });
    const plain = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'none', lambdaPattern: 1 });
    tidy(() => {
      const batch = makeBatch(split, range(50), tinyModalities, pid);
      const out = m.forward(batch);
      expect(out.zc).not.toBeNull();
      expect(out.zs).toBeNull();
      expect(m.loss(out, batch, { epoch: 0 }).parts.pat).toBeGreaterThan(0);
      expect(plain.loss(plain.forward(batch), batch, { epoch: 0 }).parts.pat).toBe(0);
    });
    expect(() => createModel(tinyModalities, dict, { ...tinyConfig, lambdaPattern: -1 })).toThrow(/lambdaPattern/);
    m.dispose();
    plain.dispose();
  });
});

describe('spuriousMask', () => {
  const split = tinySplit(60, 2);
  const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
  const pid = assignPatterns(split.mask, K, dict);
  it('adds a mask → s layer and makes s depend on the mask', () => {
    manualSeed(2);
    const m = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'full', spuriousMask: true }).eval();
    expect([...m.stateDict().keys()].some((k) => k.startsWith('head.spurious_mask.'))).toBe(true);
    manualSeed(2);
    const off = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'full' });
    expect([...off.stateDict().keys()].some((k) => k.startsWith('head.spurious_mask.'))).toBe(false);
    tidy(() => {
      const batch = makeBatch(split, range(60), tinyModalities, pid);
      const a = m.head.forward(m.fuse(batch), batch.patternIdx, batch.mask);
      const b = m.head.forward(m.fuse(batch), batch.patternIdx, batch.mask.mul(0));
      expect(a.zs!.allclose(b.zs!, 1e-6, 1e-7)).toBe(false);
      expect(a.zc!.allclose(b.zc!, 1e-6, 1e-7)).toBe(true);
      expect(() => m.head.forward(m.fuse(batch), batch.patternIdx)).toThrow(/mask/);
    });
    m.dispose();
    off.dispose();
  });
});

describe('modality dropout', () => {
  const split = tinySplit(400, 9, tinyModalities, 0.7);
  const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
  const pid = assignPatterns(split.mask, K, dict);
  const rows = range(400);

  it('hides only observed modalities, never the last one, at about rate p, and re-assigns the patterns', () => {
    const { mask, patternIdx } = modalityDropout(split.mask, K, rows, 0.5, dict, mulberry32(1));
    let observed = 0, hidden = 0;
    for (let i = 0; i < 400; i++) {
      let kept = 0;
      for (let k = 0; k < K; k++) {
        const own = split.mask[i * K + k], now = mask[i * K + k];
        expect(now <= own).toBe(true);
        observed += own;
        if (own && !now) hidden++;
        kept += now;
      }
      expect(kept).toBeGreaterThanOrEqual(1);
    }
    expect(hidden / observed).toBeGreaterThan(0.3);
    expect(hidden / observed).toBeLessThan(0.55);
    expect(Array.from(patternIdx)).toEqual(Array.from(assignPatterns(mask, K, dict)));
    // p close to 1: every patient still keeps exactly one modality.
    const most = modalityDropout(split.mask, K, rows, 0.999, dict, mulberry32(2)).mask;
    for (let i = 0; i < 400; i++) expect(most.subarray(i * K, (i + 1) * K).reduce((a, b) => a + b, 0)).toBe(1);
    // p = 0 leaves the mask as it is.
    const none = modalityDropout(split.mask, K, rows, 0, dict, mulberry32(3));
    expect(Array.from(none.mask)).toEqual(Array.from(split.mask));
    expect(Array.from(none.patternIdx)).toEqual(Array.from(pid));
    expect(() => modalityDropout(split.mask, K, rows, 1, dict, mulberry32(3))).toThrow(/\[0, 1\)/);
  });

  it('makeBatch with the override: new mask and patterns, zero values and empty bags for hidden modalities', () => {
    const sub = range(64);
    const ov = modalityDropout(split.mask, K, sub, 0.5, dict, mulberry32(7));
    tidy(() => {
      const batch = makeBatch(split, sub, tinyModalities, pid, ov);
      expect(Array.from(batch.mask.toFloat32Array())).toEqual(Array.from(ov.mask));
      expect(Array.from(batch.patternIdx.toArray() as BigInt64Array, Number)).toEqual(Array.from(ov.patternIdx));
      expect(Array.from(batch.rows!.toArray() as BigInt64Array, Number)).toEqual(sub); // EMA rows untouched
      tinyModalities.forEach((m, k) => {
        const w = m.shape.reduce((a, b) => a * b, 1);
        const v = batch.values[m.name].toFloat32Array();
        const offsets = batch.sparse?.[m.name] ? Array.from(batch.sparse[m.name].offsets.toArray() as BigInt64Array, Number) : null;
        const nnz = batch.sparse?.[m.name]?.indices.size(0);
        for (let i = 0; i < 64; i++) {
          if (ov.mask[i * K + k]) continue;
          expect(v.subarray(i * w, (i + 1) * w).every((x) => x === 0)).toBe(true);
          if (offsets) expect((i + 1 < 64 ? offsets[i + 1] : nnz!) - offsets[i]).toBe(0);
        }
      });
      // The batch without the override keeps the split's own mask and values.
      const plain = makeBatch(split, sub, tinyModalities, pid);
      expect(Array.from(plain.mask.toFloat32Array())).toEqual(Array.from(split.mask.subarray(0, 64 * K)));
    });
    const bad = { mask: Uint8Array.from(ov.mask), patternIdx: ov.patternIdx };
    const missing = Array.from(split.mask.subarray(0, K)).findIndex((x) => x === 0);
    if (missing >= 0) {
      bad.mask[missing] = 1;
      expect(() => makeBatch(split, sub, tinyModalities, pid, bad)).toThrow(/does not have/);
    }
    const empty = { mask: Uint8Array.from(ov.mask), patternIdx: ov.patternIdx };
    empty.mask.fill(0, 0, K);
    expect(() => makeBatch(split, sub, tinyModalities, pid, empty)).toThrow(/every modality/);
  });

  it('trains with --modality-dropout and rejects p outside [0, 1)', () => {
    const ds = syntheticDataset();
    const opts = { ...defaultTrainOptions, epochs: 2, batchSize: 128, bootstrap: 0 };
    const cfg = { ...defaultModelConfig, dim: 16, branchDim: 8 };
    const r = trainModel(ds, cfg, { ...opts, modalityDropout: 0.3 }, { quiet: true });
    expect(r.history.length).toBeGreaterThan(0);
    expect(r.history.every((h) => Number.isFinite(h.train_loss))).toBe(true);
    r.model.dispose();
    expect(() => trainModel(ds, cfg, { ...opts, modalityDropout: 1 }, { quiet: true })).toThrow(/modality-dropout/);
  });
});

describe('weightNorm', () => {
  const split = tinySplit(60, 4);
  const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
  const pid = assignPatterns(split.mask, K, dict);
  it('divides the weighted causal loss by the batch mean of w and reports the raw w_mean', () => {
    manualSeed(6);
    const off = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'full', warmupEpochs: 1 });
    manualSeed(6);
    const on = createModel(tinyModalities, dict, { ...tinyConfig, debias: 'full', warmupEpochs: 1, weightNorm: true });
    tidy(() => {
      const batch = makeBatch(split, range(60), tinyModalities, pid);
      const out = off.forward(batch);
      const a = off.loss(out, batch, { epoch: 1 }).parts;
      const b = on.loss(out, batch, { epoch: 1 }).parts;
      expect(b.w_mean).toBeCloseTo(a.w_mean, 6);
      expect(a.w_mean).toBeLessThan(1);
      expect(b.bce_do).toBeCloseTo(a.bce_do / a.w_mean, 4);
      expect(on.loss(out, batch, { epoch: 0 }).parts.bce_do).toBeCloseTo(off.loss(out, batch, { epoch: 0 }).parts.bce_do, 6); // warm-up: w = 1
    });
    off.dispose();
    on.dispose();
  });
});
