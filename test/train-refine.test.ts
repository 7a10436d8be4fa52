// The dual branch's refinement (--bias-refine): the second bias network is trained with the within-label
// correlation penalty against the partner's logits, so it ends up less correlated with them than the first one, and a
// run records what it did. Real training on the synthetic MNAR set of the tests (no figure: docs/RESULTS.md has those).
import { describe, expect, it } from 'vitest';
import { manualSeed } from '../src/engine/index.js';
import { assignPatterns, buildPatternDictionary, defaultModelConfig } from '../src/models/index.js';
import { fitBiasNetwork, fitPartnerNetwork } from '../src/train/debias/bias-network.js';
import { dualPart } from '../src/train/debias/dual.js';
import { DEBIAS_PARTS } from '../src/train/debias/index.js';
import { groupLabelWeights, quantileEdges, scoreBins } from '../src/models/debias/weights.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { syntheticDataset } from './train-fixtures.js';

const ds = syntheticDataset({ n: 1500, seed: 5 });
const K = ds.modalities.length;
const dict = buildPatternDictionary(ds.splits.train.mask, K);
const cfg = { ...defaultModelConfig, backbone: 'early' as const, debias: 'dual' as const, dim: 16, branchDim: 8, biasSteps: 120, gate: 'on' as const };
const opts = { ...defaultTrainOptions, batchSize: 64, lr: 1e-3, patience: 6, seed: 0 };
const ctx = { ds, cfg, opts, dict, before: [], quiet: true, trainPat: assignPatterns(ds.splits.train.mask, K, dict), valPat: assignPatterns(ds.splits.val.mask, K, dict) };
const logit = (p: number) => Math.log(Math.max(1e-7, p) / Math.max(1e-7, 1 - p));

/** Mean over the two labels of |Pearson r| of a and b among the training patients with that label. */
function withinLabelCorr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const y = ds.splits.train.labels;
  let total = 0;
  for (const cls of [0, 1]) {
    const idx = Array.from(y.keys()).filter((i) => (y[i] >= 0.5 ? 1 : 0) === cls);
    const ma = idx.reduce((s, i) => s + a[i], 0) / idx.length, mb = idx.reduce((s, i) => s + b[i], 0) / idx.length;
    let ab = 0, aa = 0, bb = 0;
    for (const i of idx) { ab += (a[i] - ma) * (b[i] - mb); aa += (a[i] - ma) ** 2; bb += (b[i] - mb) ** 2; }
    total += Math.abs(ab / Math.sqrt(aa * bb));
  }
  return total / 2;
}

describe('bias network refinement', () => {
  it('the penalty keeps the second bias network off the partner within each label; the labels still rank', () => {
    manualSeed(0);
    const first = fitBiasNetwork(ctx);
    // As the dual part does: the partner learns from the first bias network's 5-bin balancing weights.
    const w = groupLabelWeights(scoreBins(first.train, quantileEdges(first.train, 5)), ds.splits.train.labels, 5, 1, 20);
    const partner = fitPartnerNetwork(ctx, w);
    const refined = fitBiasNetwork(ctx, { against: { logits: partner, lambda: 0.3 } });
    const before = withinLabelCorr(Array.from(first.train, logit), partner);
    const after = withinLabelCorr(Array.from(refined.train, logit), partner);
    expect(before).toBeGreaterThan(0.15); // two networks fitted to the same labels agree within each label too
    expect(after).toBeLessThan(before / 3);
    // Not a collapse: the refined network still tells the classes apart (AUROC well above chance).
    const y = ds.splits.train.labels;
    let conc = 0, pairs = 0;
    const pos = Array.from(y.keys()).filter((i) => y[i] >= 0.5), neg = Array.from(y.keys()).filter((i) => y[i] < 0.5);
    for (const i of pos) for (const j of neg) { pairs++; conc += refined.train[i] > refined.train[j] ? 1 : refined.train[i] === refined.train[j] ? 0.5 : 0; }
    expect(conc / pairs).toBeGreaterThan(0.6);
  }, 120_000);

  it('the dual part records the refinement and its weights differ from the unrefined ones', () => {
    const on = dualPart.prepare(ctx);
    const off = dualPart.prepare({ ...ctx, cfg: { ...cfg, biasRefine: 0 } });
    expect(on.record.bias_refine).toBe(0.3);
    expect(typeof on.record.refined_auroc).toBe('number');
    expect(off.record.bias_refine).toBe(0);
    expect(off.record.refined_auroc).toBeUndefined();
    expect(Array.from(on.trainWeights!)).not.toEqual(Array.from(off.trainWeights!));
    expect(on.record.refined).toBe(true);
    // Deterministic for a seed, the refinement included.
    const again = dualPart.prepare(ctx);
    expect(again.trainWeights).toEqual(on.trainWeights);
    expect(again.valWeights).toEqual(on.valWeights);
    // With the deconfounder acting (this MNAR set), the refinement stays out: the weights are the unrefined ones.
    const full = { ...ctx, cfg: { ...cfg, debias: 'full' as const, patternGate: 'on' as const } };
    const dec = DEBIAS_PARTS.find((p) => p.name === 'deconfound')!.prepare(full);
    const withDec = dualPart.prepare({ ...full, before: [dec] });
    const withDecOff = dualPart.prepare({ ...full, cfg: { ...full.cfg, biasRefine: 0 }, before: [dec] });
    expect(withDec.record.refined).toBe(false);
    expect(withDec.trainWeights).toEqual(withDecOff.trainWeights);
  }, 120_000);
});
