// Every backbone × debias setting: forward/backward, gradients, and no information from missing modalities.
import { describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../src/engine/index.js';
import { assignPatterns, buildPatternDictionary, createModel, makeBatch } from '../src/models/index.js';
import type { BackboneName, Batch, DebiasMode, ModelConfig } from '../src/models/types.js';
import { range, tinyConfig, tinyModalities, tinySplit, rng } from './models-fixtures.js';

const BACKBONES: BackboneName[] = ['early', 'late', 'transformer', 'm3care', 'muse'];
const MODES: DebiasMode[] = ['none', 'deconfound', 'dual', 'full'];
const K = tinyModalities.length;
const split = tinySplit(48, 7);
const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
const pid = assignPatterns(split.mask, K, dict);
const rows = range(48);

/** The same batch without the sparse form and the layout: the plain dense path. */
function dense(b: Batch): Batch {
  return { values: b.values, mask: b.mask, patternIdx: b.patternIdx, labels: b.labels, rows: b.rows };
}

/** The split with every missing modality's values replaced by noise (never seen by a correct model). */
function withNoiseWhereMissing(): typeof split {
  const r = rng(99);
  const values: Record<string, Float32Array> = {};
  tinyModalities.forEach((m, k) => {
    const w = m.shape.reduce((a, b) => a * b, 1);
    const a = split.values[m.name].slice();
    for (let i = 0; i < 48; i++) if (!split.mask[i * K + k]) for (let j = 0; j < w; j++) a[i * w + j] = r() * 20 - 10;
    values[m.name] = a;
  });
  return { ...split, values };
}

function build(backbone: BackboneName, debias: DebiasMode, extra: Partial<ModelConfig> = {}) {
  manualSeed(11);
  return createModel(tinyModalities, dict, { ...tinyConfig, backbone, debias, lambdaSwap: 0.5, ...extra });
}

describe.each(BACKBONES)('backbone %s', (backbone) => {
  it.each(MODES)('debias %s: finite loss and a gradient for every parameter', (debias) => {
    const model = build(backbone, debias);
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const out = model.forward(batch);
      expect(out.p.shape).toEqual([48]);
      const { total, parts } = model.loss(out, batch, { epoch: 1 });
      expect(Number.isFinite(total.item())).toBe(true);
      for (const v of Object.values(parts)) expect(Number.isFinite(v)).toBe(true);
      total.backward();
      for (const [name, p] of model.namedParameters()) {
        const g = p.grad;
        expect(g, `${name} has no gradient`).not.toBeNull();
        expect(g!.isfinite().all().item(), `${name} has a non-finite gradient`).toBe(1);
        expect(g!.abs().sum().item(), `${name} has an all-zero gradient`).toBeGreaterThan(0);
      }
    });
    model.dispose();
  });

  it('ignores the values of missing modalities (sparse/packed and dense paths)', () => {
    const model = build(backbone, 'full').eval();
    const noisy = withNoiseWhereMissing();
    tidy(() => {
      const a = makeBatch(split, rows, tinyModalities, pid);
      const b = makeBatch(noisy, rows, tinyModalities, pid);
      const pa = model.forward(a).p;
      expect(model.forward(b).p.allclose(pa, 1e-5, 1e-6)).toBe(true);
      // The dense path sees the noise in its inputs and must mask it out itself.
      expect(model.forward(dense(b)).p.allclose(pa, 1e-4, 1e-5)).toBe(true);
      // And the noise really reaches the dense inputs (the check above is not vacuous).
      expect(a.values.codes.equal(b.values.codes)).toBe(false);
    });
    model.dispose();
  });
});

describe('fast paths', () => {
  it('the packed transformer and the compacted encoders equal the dense computation', () => {
    for (const seriesEncoder of ['gru', 'tcn'] as const) {
      const model = build('transformer', 'full', { seriesEncoder }).eval();
      tidy(() => {
        const batch = makeBatch(split, rows, tinyModalities, pid);
        const fast = model.forward(batch);
        const slow = model.forward(dense(batch));
        expect(fast.p.allclose(slow.p, 1e-4, 1e-6)).toBe(true);
        expect(fast.logitsAll!.allclose(slow.logitsAll!, 1e-4, 1e-5)).toBe(true);
      });
      model.dispose();
    }
  });

  it('runs the TCN encoder, CLUB, NWGM and EMA weights together with gradients everywhere', () => {
    const model = build('transformer', 'full', { seriesEncoder: 'tcn', decorrelation: 'club', adjustment: 'nwgm', weightEma: 0.5 });
    const ema = new Float32Array(48).fill(Number.NaN);
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const l = model.loss(model.forward(batch), batch, { epoch: 3, emaWeights: ema });
      l.total.backward();
      for (const [name, p] of model.namedParameters()) expect(p.grad?.abs().sum().item() ?? 0, name).toBeGreaterThan(0);
    });
    expect(ema.every((v) => Number.isFinite(v) && v > 0 && v < 1)).toBe(true);
    model.dispose();
  });

  it.each([['series (dense encoder)', 2], ['codes (sparse encoder)', 1]])('handles a batch in which %s is missing for every patient', (_, k) => {
    const model = build('transformer', 'full');
    const only = range(48).filter((i) => !split.mask[i * K + (k as number)]);
    tidy(() => {
      const batch = makeBatch(split, only, tinyModalities, pid);
      const l = model.loss(model.forward(batch), batch, { epoch: 0 });
      expect(Number.isFinite(l.total.item())).toBe(true);
      l.total.backward();
    });
    model.dispose();
  });
});

describe('createModel', () => {
  it('rejects a dictionary that does not match the modalities', () => {
    expect(() => createModel(tinyModalities, { masks: ['101'], prior: [1] }, tinyConfig)).toThrow(/does not match 5 modalities/);
  });
  it('keeps defaults for options given as undefined', () => {
    const m = createModel(tinyModalities, dict, { ...tinyConfig, gceQ: undefined });
    expect(m.config.gceQ).toBe(0.7);
    m.dispose();
  });
});
