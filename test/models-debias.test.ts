// The deconfounding module and the loss wiring, checked against hand computations on the model's own outputs.
import { describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../src/engine/index.js';
import { assignPatterns, buildPatternDictionary, createModel, makeBatch } from '../src/models/index.js';
import type { ModelConfig, PatternDictionary } from '../src/models/types.js';
import { range, tinyConfig, tinyModalities, tinySplit } from './models-fixtures.js';

const K = tinyModalities.length;
const split = tinySplit(40, 3);
const dict = buildPatternDictionary(split.mask, K, { minCount: 2 });
const pid = assignPatterns(split.mask, K, dict);
const rows = range(40);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function build(extra: Partial<ModelConfig> = {}, d: PatternDictionary = dict) {
  manualSeed(21);
  return createModel(tinyModalities, d, { ...tinyConfig, backbone: 'transformer', debias: 'full', ...extra });
}

describe('back-door adjustment', () => {
  it('p_do is Σ_m π_m σ(h(c, e_m)) and the factual logit is the own pattern column', () => {
    expect(dict.masks.length).toBeGreaterThan(2);
    const model = build().eval();
    tidy(() => {
      const out = model.forward(makeBatch(split, rows, tinyModalities, pid));
      const P = dict.masks.length;
      const all = out.logitsAll!.toFloat32Array();
      const p = out.p.toFloat32Array();
      const fact = out.logitFactual.toFloat32Array();
      for (let i = 0; i < 40; i++) {
        let byHand = 0;
        for (let m = 0; m < P; m++) byHand += dict.prior[m] * sigmoid(all[i * P + m]);
        expect(p[i]).toBeCloseTo(byHand, 5);
        expect(fact[i]).toBe(all[i * P + pid[i]]);
      }
    });
    model.dispose();
  });

  it('the exact and NWGM adjustments agree when the dictionary has one pattern', () => {
    const one: PatternDictionary = { masks: ['11111'], prior: [1] };
    const onePid = new Int32Array(40);
    const exact = build({}, one).eval();
    const nwgm = build({ adjustment: 'nwgm' }, one).eval();
    nwgm.loadStateDict(exact.stateDict(), false);
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, onePid);
      expect(nwgm.forward(batch).p.allclose(exact.forward(batch).p, 1e-5, 1e-6)).toBe(true);
    });
    exact.dispose();
    nwgm.dispose();
  });

  it('NWGM differs from the exact sum with several patterns but stays a probability', () => {
    const model = build({ adjustment: 'nwgm' }).eval();
    tidy(() => {
      const p = model.forward(makeBatch(split, rows, tinyModalities, pid)).p.toFloat32Array();
      expect(p.every((v) => v > 0 && v < 1)).toBe(true);
    });
    model.dispose();
  });

  it('patternEffects are σ(h(c, e_m)); a counterfactual is the model on the input masked to m (c recomputed)', () => {
    const model = build().eval();
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const out = model.forward(batch);
      const eff = model.patternEffects(batch);
      expect(eff.allclose(out.logitsAll!.sigmoid(), 1e-6, 1e-7)).toBe(true);
      const m = 1;
      // By hand: each patient's observed set ∩ pattern m (its own set when that is empty), read with e_m.
      const bits = dict.masks[m];
      const masked = new Uint8Array(split.mask.length);
      for (let i = 0; i < 40; i++) {
        let kept = 0;
        for (let k = 0; k < K; k++) kept += split.mask[i * K + k] & (bits[k] === '1' ? 1 : 0);
        for (let k = 0; k < K; k++) masked[i * K + k] = kept ? split.mask[i * K + k] & (bits[k] === '1' ? 1 : 0) : split.mask[i * K + k];
      }
      const cfBatch = makeBatch(split, rows, tinyModalities, pid, { mask: masked, patternIdx: new Int32Array(40).fill(m) });
      const byHand = model.forward(cfBatch).logitsAll!.select(1, m).sigmoid();
      expect(model.counterfactual(batch, m).allclose(byHand, 1e-5, 1e-6)).toBe(true);
      expect(model.counterfactual(batch, m).allclose(eff.select(1, m), 1e-6, 1e-7)).toBe(false); // not the factual c
      expect(() => model.counterfactual(batch, dict.masks.length)).toThrow(/outside the dictionary/);
    });
    model.dispose();
    const plain = build({ debias: 'dual' });
    tidy(() => { expect(() => plain.patternEffects(makeBatch(split, rows, tinyModalities, pid))).toThrow(/deconfounding/); });
    plain.dispose();
  });
});

describe('total loss', () => {
  const weights = { lambdaFact: 0.5, lambdaGce: 1, lambdaDec: 0.1, lambdaSwap: 0.3 };
  it('is the weighted sum of its parts', () => {
    const model = build(weights);
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const { total, parts } = model.loss(model.forward(batch), batch, { epoch: 5 });
      const sum = parts.bce_do + 0.5 * parts.fact + parts.gce + 0.1 * parts.dec + 0.3 * parts.swap;
      expect(parts.swap).toBeGreaterThan(0);
      expect(total.item()).toBeCloseTo(sum, 5);
    });
    model.dispose();
  });

  it('uses w = 1 and no swap during warm-up, bias weights in (0, 1) after', () => {
    const model = build({ ...weights, warmupEpochs: 2 });
    tidy(() => {
      const batch = makeBatch(split, rows, tinyModalities, pid);
      const out = model.forward(batch);
      const warm = model.loss(out, batch, { epoch: 1 }).parts;
      expect(warm.w_mean).toBe(1);
      expect(warm.swap).toBe(0);
      const after = model.loss(out, batch, { epoch: 2 }).parts;
      expect(after.w_mean).toBeGreaterThan(0);
      expect(after.w_mean).toBeLessThan(1);
      expect(after.bce_do).toBeLessThan(warm.bce_do); // each patient's term is scaled by a w < 1
    });
    model.dispose();
  });

  it('smooths the weights per patient with an EMA across calls', () => {
    const model = build({ weightEma: 0.5 });
    const ema = new Float32Array(40).fill(Number.NaN);
    const sub = range(20);
    tidy(() => {
      const batch = makeBatch(split, sub, tinyModalities, pid);
      const out = model.forward(batch);
      const first = model.loss(out, batch, { epoch: 3, emaWeights: ema }).parts.w_mean;
      const seen = Array.from(ema.subarray(0, 20));
      expect(seen.every(Number.isFinite)).toBe(true);
      expect(Array.from(ema.subarray(20)).every(Number.isNaN)).toBe(true);
      expect(first).toBeCloseTo(seen.reduce((a, b) => a + b, 0) / 20, 5);
      // A second call with w' gives 0.5·w + 0.5·w'; with the same outputs w' = w, so nothing moves.
      model.loss(out, batch, { epoch: 3, emaWeights: ema });
      for (let i = 0; i < 20; i++) expect(ema[i]).toBeCloseTo(seen[i], 6);
    });
    model.dispose();
  });

  it('weights positive patients by posWeight and leaves an all-negative batch unchanged', () => {
    const model = build();
    const negatives = range(40).filter((i) => split.labels[i] === 0);
    const positives = range(40).filter((i) => split.labels[i] === 1);
    tidy(() => {
      const neg = makeBatch(split, negatives, tinyModalities, pid);
      const outN = model.forward(neg);
      expect(model.loss(outN, neg, { epoch: 0, posWeight: 4 }).total.item())
        .toBeCloseTo(model.loss(outN, neg, { epoch: 0 }).total.item(), 5);
      const pos = makeBatch(split, positives, tinyModalities, pid);
      const outP = model.forward(pos);
      const one = model.loss(outP, pos, { epoch: 0 }).parts;
      const four = model.loss(outP, pos, { epoch: 0, posWeight: 4 }).parts;
      expect(four.bce_do).toBeCloseTo(4 * one.bce_do, 4);
      expect(four.fact).toBeCloseTo(4 * one.fact, 4);
    });
    model.dispose();
  });
});
