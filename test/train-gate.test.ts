// The dual branch's gate on simulated data (6,000 patients): it turns on where a confounder offers a shortcut and
// stays off where there is none (METHOD.md v2; src/models/debias/gate.ts). The decision is made on training +
// validation, cross-fitted.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import { manualSeed } from '../src/engine/index.js';
import { simulate } from '../src/data/simulate.js';
import { assignPatterns, buildPatternDictionary, defaultModelConfig } from '../src/models/index.js';
import { DEBIAS_PARTS, type PreparedPart } from '../src/train/debias/index.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { trainModel } from '../src/train/trainer.js';

const root = mkdtempSync(join(tmpdir(), 'cdmm-gate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function gate(
  scenario: 'none' | 'confounding' | 'missingness', model: Partial<typeof defaultModelConfig> = {},
): Promise<PreparedPart['record'] & { deconfounder: PreparedPart['record'] }> {
  const dir = join(root, scenario);
  if (!existsSync(dir)) await simulate({ out: dir, n: 6000, seed: 5, scenario });
  const ds = await prepareDataset(join(dir, 'spec.yaml'), { quiet: true, cache: false });
  const K = ds.modalities.length;
  const dict = buildPatternDictionary(ds.splits.train.mask, K);
  const cfg = { ...defaultModelConfig, backbone: 'early' as const, debias: 'full' as const, ...model };
  const opts = { ...defaultTrainOptions, batchSize: 128, lr: 1e-3, patience: 6 };
  manualSeed(0); // as trainModel does: the bias network's initial weights come from the seed
  const before: PreparedPart[] = [];
  for (const part of DEBIAS_PARTS) {
    before.push(part.prepare({
      ds, cfg, opts, dict, before, quiet: true,
      trainPat: assignPatterns(ds.splits.train.mask, K, dict), valPat: assignPatterns(ds.splits.val.mask, K, dict),
    }));
  }
  return { ...before.find((p) => p.name === 'dual')!.record, deconfounder: before.find((p) => p.name === 'deconfound')!.record } as never;
}

describe('the dual-branch gate', () => {
  it('is on for a confounder that tracks the label and off without one', async () => {
    const conf = await gate('confounding');
    const none = await gate('none');
    expect(conf.on).toBe(true);
    expect(none.on).toBe(false);
    expect(Number(conf.excess)).toBeGreaterThan(Number(none.excess));
    // Both scenarios test at random (MCAR): the deconfounder finds nothing to adjust and stays out of the model.
    expect(conf.deconfounder.on).toBe(false);
    expect(none.deconfounder.on).toBe(false);
    expect(Number(none.deconfounder.pattern_auroc_lower)).toBeLessThan(0.5125);
  }, 180_000);

  it('reads an early-fusion bias network for every backbone (by default), its own with gateBackbone same', async () => {
    const early = await gate('confounding');
    const late = await gate('confounding', { backbone: 'late' });
    const own = await gate('confounding', { backbone: 'late', gateBackbone: 'same' });
    expect(early.gate_backbone).toBe('early');
    expect(late.gate_backbone).toBe('early');
    expect(own.gate_backbone).toBe('late');
    // The late model's gate reads the very network the early model's gate reads (its start depends on the seed
    // alone, though late's own bias network was trained before it): the same test, to float round-off.
    expect(late.on).toBe(early.on);
    expect(Number(late.excess)).toBeCloseTo(Number(early.excess), 5);
    expect(Number(late.bias_auroc)).toBeCloseTo(Number(early.bias_auroc), 5);
    expect(Number(own.excess)).not.toBeCloseTo(Number(late.excess), 4);
  }, 240_000);

  it("the deconfounder's gate is on where testing follows severity (MNAR)", async () => {
    const miss = await gate('missingness');
    expect(miss.deconfounder.on).toBe(true);
    expect(Number(miss.deconfounder.pattern_auroc_lower)).toBeGreaterThan(0.6);
  }, 180_000);
});

describe('a debiased run whose gates both stay off', () => {
  it('trains the plain model: the same computation as --debias none, and the run says so', async () => {
    await gate('none'); // the no-bias simulation (both gates off there, above)
    const ds = await prepareDataset(join(root, 'none', 'spec.yaml'), { quiet: true, cache: false });
    const opts = { ...defaultTrainOptions, epochs: 2, batchSize: 256, lr: 1e-3 };
    const plain = trainModel(ds, { ...defaultModelConfig, backbone: 'early', debias: 'none' }, opts, { quiet: true });
    const full = trainModel(ds, { ...defaultModelConfig, backbone: 'early', debias: 'full' }, opts, { quiet: true });
    expect(full.modelConfig.debias).toBe('none');
    // Same process, same seed: the same numbers (before, full built an extra causal layer and trained apart).
    for (const [a, b] of full.history.map((h, i) => [h, plain.history[i]] as const)) {
      expect(a.train_loss).toBeCloseTo(b.train_loss, 9);
      expect(a.val_loss_w).toBeCloseTo(b.val_loss_w!, 9);
    }
    expect(full.notes.join('\n')).toMatch(/dual branch off/);
  }, 180_000);
});
