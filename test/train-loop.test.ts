import { describe, expect, it } from 'vitest';
import { auprc, auroc } from '../src/eval/metrics.js';
import { assignPatterns } from '../src/models/patterns.js';
import { defaultTrainOptions, resolvePosWeight, type TrainOptions } from '../src/train/options.js';
import { predictSplit } from '../src/run/predict.js';
import { modelConfigFor } from '../src/train/run.js';
import { cutPoints, PatientSampler } from '../src/train/sampler.js';
import { trainModel } from '../src/train/trainer.js';
import { CdmmError } from '../src/util/errors.js';
import { syntheticDataset } from './train-fixtures.js';

const small = { dim: 16, branchDim: 8 };
const opts = (o: Partial<TrainOptions> = {}): TrainOptions => ({ ...defaultTrainOptions, epochs: 4, batchSize: 128, bootstrap: 0, ...o });

describe('sampler', () => {
  it('visits every training patient once per epoch, in a seeded order that changes between epochs', () => {
    const s = new PatientSampler(1000, 256, 7);
    const e1 = s.nextEpoch();
    const e2 = s.nextEpoch();
    for (const e of [e1, e2]) {
      const all = e.flatMap((b) => Array.from(b)).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }
    expect(Array.from(e1[0])).not.toEqual(Array.from(e2[0]));
    const again = new PatientSampler(1000, 256, 7);
    expect(Array.from(again.nextEpoch()[0])).toEqual(Array.from(e1[0]));
    expect(Array.from(new PatientSampler(1000, 256, 8).nextEpoch()[0])).not.toEqual(Array.from(e1[0]));
  });
  it('folds a tiny last batch into the one before it', () => {
    expect(cutPoints(1000, 256)).toEqual([0, 256, 512, 768, 1000]);
    expect(cutPoints(1030, 256)).toEqual([0, 256, 512, 768, 1030]);
    expect(cutPoints(100, 256)).toEqual([0, 100]);
  });
});

describe('positive weight', () => {
  it('auto is negatives over positives of the training labels', () => {
    expect(resolvePosWeight('auto', Float32Array.from([1, 0, 0, 0, 1, 0]))).toBe(2);
    expect(resolvePosWeight('none', Float32Array.from([1, 0]))).toBe(1);
    expect(resolvePosWeight(3.5, Float32Array.from([1, 0]))).toBe(3.5);
    expect(() => resolvePosWeight('auto', Float32Array.from([0, 0]))).toThrow(CdmmError);
  });
});

describe('trainModel', () => {
  const ds = syntheticDataset({ n: 2000, seed: 1, signal: 1.5 });

  it('learns the signal: validation AUROC well above chance, training fit better than the untrained model', () => {
    const cfg = modelConfigFor({ backbone: 'early', debias: 'full', model: small, train: opts() });
    const train = ds.splits.train;
    const trainAuroc = (r: ReturnType<typeof trainModel>) =>
      auroc(train.labels, predictSplit(r.model, train, ds.modalities, assignPatterns(train.mask, 3, r.dict), 1024).p);
    const untrained = trainModel(ds, cfg, opts({ epochs: 1, lr: 1e-9, patience: 0 }), { quiet: true });
    const before = trainAuroc(untrained);
    untrained.model.dispose();
    // ema 0: these 88 steps are shorter than the weight average's horizon
    const r = trainModel(ds, cfg, opts({ epochs: 8, lr: 3e-3, posWeight: 'auto', ema: 0 }), { quiet: true });
    expect(Math.max(...r.history.map((h) => h.val_auroc!))).toBeGreaterThan(0.68);
    expect(trainAuroc(r)).toBeGreaterThan(before + 0.03);
    expect(r.history[r.history.length - 1].train_loss).toBeLessThan(0.95 * r.history[0].train_loss);
    expect(r.posWeight).toBeGreaterThan(1);
    r.model.dispose();
  });

  it('a run too short for the weight average lowers its decay, says so, and still learns', () => {
    const cfg = modelConfigFor({ backbone: 'early', debias: 'none', model: small, train: opts() });
    const r = trainModel(ds, cfg, opts({ epochs: 8, lr: 3e-3, posWeight: 'auto', ema: 0.99 }), { quiet: true });
    const steps = 8 * (cutPoints(ds.splits.train.ids.length, 128).length - 1);
    expect(r.resolved.ema).toBeCloseTo(1 - 3 / steps, 6); // the start's share at the end: 0.99^steps would be ≈ 0.4
    expect(r.notes.join('\n')).toMatch(/weight average \(--ema 0\.99\) lowered to 0\.9\d\d: \d+ training steps are too few/);
    expect(Math.max(...r.history.map((h) => h.val_auroc!))).toBeGreaterThan(0.68);
    r.model.dispose();
    const long = trainModel(ds, cfg, opts({ epochs: 2, batchSize: 4, ema: 0.99, patience: 0 }), { quiet: true });
    expect(long.resolved.ema).toBe(0.99); // 700 steps: the asked decay
    expect(long.notes.join('\n')).not.toMatch(/weight average/);
    long.model.dispose();
  }, 120_000);

  it('same seed gives bit-identical history and weights; another seed does not', () => {
    const cfg = modelConfigFor({ backbone: 'late', debias: 'full', model: small, train: opts() });
    const a = trainModel(ds, cfg, opts({ seed: 3, epochs: 2 }), { quiet: true });
    const b = trainModel(ds, cfg, opts({ seed: 3, epochs: 2 }), { quiet: true });
    const c = trainModel(ds, cfg, opts({ seed: 4, epochs: 2 }), { quiet: true });
    const strip = (h: typeof a.history) => h.map(({ seconds: _s, ...rest }) => rest);
    expect(strip(a.history)).toEqual(strip(b.history));
    const sa = a.model.stateDict();
    const sb = b.model.stateDict();
    const sc = c.model.stateDict();
    expect([...sa.keys()]).toEqual([...sb.keys()]);
    let differs = false;
    for (const [k, t] of sa) {
      expect(Buffer.from((t.toArray() as Float32Array).buffer).equals(Buffer.from((sb.get(k)!.toArray() as Float32Array).buffer)), k).toBe(true);
      if (t.dtype === 'float32' && !t.equal(sc.get(k)!)) differs = true;
    }
    expect(differs).toBe(true);
    for (const r of [a, b, c]) r.model.dispose();
  });

  it("early stopping restores the best epoch's weights", () => {
    // A high constant rate on a small training set overfits: the validation log-loss bottoms out early, then rises.
    const tiny = syntheticDataset({ n: 900, seed: 5 });
    const cfg = modelConfigFor({ backbone: 'early', debias: 'none', model: { ...small, dropout: 0 }, train: opts() });
    const r = trainModel(tiny, cfg, opts({ epochs: 30, patience: 3, lr: 0.03, schedule: 'none', batchSize: 32, weightDecay: 0 }), { quiet: true });
    const losses = r.history.map((h) => h.val_loss_w!);
    const bestIdx = losses.indexOf(Math.min(...losses));
    const vals = r.history.map((h) => h.val_auprc!);
    expect(r.bestEpoch).toBe(bestIdx + 1);
    expect(r.history.length).toBeGreaterThan(r.bestEpoch); // it trained past the best epoch
    expect(r.history.length - r.bestEpoch).toBeLessThanOrEqual(3); // and stopped after `patience` epochs
    const val = tiny.splits.val;
    const p = predictSplit(r.model, val, tiny.modalities, assignPatterns(val.mask, 3, r.dict), 512).p;
    expect(auprc(val.labels, p)).toBe(vals[bestIdx]);
    expect(auprc(val.labels, p)).not.toBe(vals[vals.length - 1]);
    expect(auroc(val.labels, p)).toBe(r.history[bestIdx].val_auroc);
    r.model.dispose();
  });

  it('refuses a validation split with one class', () => {
    const bad = syntheticDataset({ n: 400, seed: 2 });
    bad.splits.val.labels.fill(0);
    const cfg = modelConfigFor({ backbone: 'early', debias: 'none', model: small, train: opts() });
    expect(() => trainModel(bad, cfg, opts(), { quiet: true })).toThrow(/validation split has a single class/);
  });
});
