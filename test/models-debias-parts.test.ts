// The v2 debiasing parts on their own: do(M), the balancing weights, the shortcut test, weighted AUROC, the
// pattern-blind causal path and the input counterfactual.
import { describe, expect, it } from 'vitest';
import { manualSeed, tidy } from '../src/engine/index.js';
import { auroc, weightedAuroc } from '../src/eval/metrics.js';
import { interveneMasks, interventionRate } from '../src/models/debias/intervention.js';
import { combineWeights, groupLabelWeights, normaliseWeights, quantileEdges, scoreBins } from '../src/models/debias/weights.js';
import { additiveRates, patternTest } from '../src/models/debias/pattern-test.js';
import { binormalCutBound, countedAuroc, normalCdf, normalQuantile, shortcutTest, sortedCountedAuroc } from '../src/models/debias/gate.js';
import { assignPatterns, buildPatternDictionary, createModel, makeBatch } from '../src/models/index.js';
import { normal } from '../src/data/rng.js';
import { range, rng, tinyConfig, tinyModalities, tinySplit } from './models-fixtures.js';

const K = tinyModalities.length;

describe('do(M)', () => {
  it('only hides modalities, never reveals one, leaves its input untouched and keeps ≥ 1 observed', () => {
    const s = tinySplit(300, 4);
    const before = Uint8Array.from(s.mask);
    const rows = range(300);
    const out = interveneMasks(s.mask, K, rows, 1, rng(9));
    expect(s.mask).toEqual(before);
    let hidden = 0;
    for (let i = 0; i < 300; i++) {
      let kept = 0;
      for (let k = 0; k < K; k++) {
        expect(out[i * K + k]).toBeLessThanOrEqual(s.mask[i * K + k]);
        kept += out[i * K + k];
        hidden += s.mask[i * K + k] - out[i * K + k];
      }
      expect(kept).toBeGreaterThan(0);
    }
    expect(hidden).toBeGreaterThan(100); // rate 1 with 60% observation hides a lot
    expect(interveneMasks(s.mask, K, rows, 0, rng(9))).toEqual(s.mask);
    expect(interveneMasks(s.mask, K, rows, 0.5, rng(3))).toEqual(interveneMasks(s.mask, K, rows, 0.5, rng(3)));
  });

  it("'auto' keeps small cohorts closer to their own data", () => {
    expect(interventionRate({ intervention: 'auto' }, 500)).toBeCloseTo(0.2, 10);
    expect(interventionRate({ intervention: 'auto' }, 14000)).toBeCloseTo(0.875, 10);
    expect(interventionRate({ intervention: 0.3 }, 14000)).toBe(0.3);
    expect(() => interventionRate({ intervention: 2 }, 10)).toThrow(/intervention/);
  });
});

describe('balancing weights', () => {
  it('pattern–label weights (power 1) make the group independent of the label', () => {
    const r = rng(5);
    const n = 4000;
    const g = Int32Array.from({ length: n }, () => Math.floor(r() * 3));
    const y = Float32Array.from(g, (gi) => (r() < [0.1, 0.3, 0.6][gi] ? 1 : 0));
    const w = groupLabelWeights(g, y, 3, 1, 1000);
    const rate = [0, 1, 2].map((gi) => {
      let pos = 0, all = 0;
      for (let i = 0; i < n; i++) if (g[i] === gi) { all += w[i]; pos += w[i] * y[i]; }
      return pos / all;
    });
    expect(Math.max(...rate) - Math.min(...rate)).toBeLessThan(1e-6);
    const mean = w.reduce((a, b) => a + b, 0) / n;
    expect(mean).toBeCloseTo(1, 5);
    // Power 0.5 moves only part of the way; the cap bounds every weight.
    const half = groupLabelWeights(g, y, 3, 0.5, 2);
    expect(Math.max(...half)).toBeLessThanOrEqual(2 + 1e-6);
  });

  it('normalising caps and keeps mean 1; combining multiplies', () => {
    const w = normaliseWeights(Float32Array.from([1, 1, 1, 100]), 2);
    expect(Math.max(...w)).toBeLessThanOrEqual(2 + 1e-6);
    expect(w.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(1, 4);
    const c = combineWeights([Float32Array.from([1, 2]), Float32Array.from([2, 1])], 10);
    expect(c[0]).toBeCloseTo(c[1], 6);
  });

  it('bias-bin balancing makes the score bins independent of the label', () => {
    const r = rng(8);
    const n = 2000;
    const y = Float32Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
    const s = Float32Array.from(y, (yi) => ((yi ? 0.2 : 0) + 0.2 + r()) / 1.5); // tracks y; both labels in every bin
    const bins = scoreBins(s, quantileEdges(s, 5));
    const w = groupLabelWeights(bins, y, 5, 1, 1000);
    const rate = [0, 1, 2, 3, 4].map((b) => {
      let pos = 0, all = 0;
      for (let i = 0; i < n; i++) if (bins[i] === b) { all += w[i]; pos += w[i] * y[i]; }
      return pos / all;
    });
    expect(Math.max(...rate) - Math.min(...rate)).toBeLessThan(1e-6);
    expect(weightedAuroc(y, s, w)).toBeLessThan(auroc(y, s) - 0.05);
  });
});

describe('the shortcut test', () => {
  it('the binormal bound matches Φ(Φ⁻¹(A)/√2) and its pieces invert each other', () => {
    expect(normalCdf(normalQuantile(0.8))).toBeCloseTo(0.8, 7);
    expect(binormalCutBound(0.5)).toBeCloseTo(0.5, 7);
    expect(binormalCutBound(0.9)).toBeLessThan(0.9);
    // Simulated binormal score: the best single cut's AUROC is close to the bound.
    const r = rng(2), z = normal(r);
    const n = 20000;
    const y = Float32Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
    const s = Float32Array.from(y, (yi) => 1.2 * yi + z());
    const t = shortcutTest({ y, s }, { y, s }, { margin: 0.0125, bootstrap: 0, seed: 0 });
    expect(Math.abs(t.cut_auroc - t.bound)).toBeLessThan(0.01);
  });

  it('a resample as multiplicities gives the AUROC of the resample written out (ties and copies counted half)', () => {
    const r = rng(13);
    const n = 500;
    const y = Float32Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
    const s = Float32Array.from(y, (yi) => Math.round((0.3 * yi + 0.7 * r()) * 20) / 20); // many ties
    const cut = Float32Array.from(s, (v) => (v >= 0.5 ? 1 : 0));
    const count = new Float64Array(n);
    const idx = Array.from({ length: n }, () => Math.floor(r() * n));
    for (const i of idx) count[i]++;
    const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => s[i] - s[j]);
    expect(sortedCountedAuroc(y, s, order, count)).toBeCloseTo(auroc(idx.map((i) => y[i]), idx.map((i) => s[i])), 12);
    expect(countedAuroc(y, cut, count)).toBeCloseTo(auroc(idx.map((i) => y[i]), idx.map((i) => cut[i])), 12);
  });

  it('finds a discrete shortcut and not a continuous severity', () => {
    const r = rng(11), z = normal(r);
    const make = (n: number, discrete: boolean) => {
      const y = Float32Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
      // discrete: a binary site that tracks y (80/20) plus a little noise; continuous: severity + noise
      const s = Float32Array.from(y, (yi) => (discrete ? ((r() < (yi ? 0.8 : 0.2)) ? 1 : 0) + 0.05 * z() : 1.2 * yi + z()));
      return { y, s };
    };
    const dTrain = make(4000, true), dVal = make(2000, true);
    const cTrain = make(4000, false), cVal = make(2000, false);
    const on = shortcutTest(dTrain, dVal, { margin: 0.0125, bootstrap: 100, seed: 1 });
    const off = shortcutTest(cTrain, cVal, { margin: 0.0125, bootstrap: 100, seed: 1 });
    expect(on.shortcut).toBe(true);
    expect(on.excess).toBeGreaterThan(0.05);
    expect(off.shortcut).toBe(false);
  });

  it('with patterns, a score that is discrete only through the pattern is no shortcut; one discrete within patterns is', () => {
    const r = rng(12), z = normal(r);
    // The pattern (two groups) tracks y; within a pattern the score is a continuous severity, or also a binary site.
    const make = (n: number, site: boolean) => {
      const y = Float32Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0));
      const groups = Int32Array.from(y, (yi) => (r() < (yi ? 0.8 : 0.2) ? 1 : 0));
      // the pattern alone: two levels and a faint severity; with a site: the site dominates, the pattern adds a step
      const s = Float32Array.from(y, (yi, i) => (site ? 0.3 * groups[i] + ((r() < (yi ? 0.8 : 0.2)) ? 3 : 0) : 3 * groups[i] + 0.1 * yi) + 0.3 * z());
      return { y, s, groups };
    };
    const onlyPattern = shortcutTest(make(4000, false), make(2000, false), { margin: 0.0125, bootstrap: 50, seed: 2 });
    const blind = shortcutTest({ ...make(4000, false), groups: undefined }, { ...make(2000, false), groups: undefined }, { margin: 0.0125, bootstrap: 50, seed: 2 });
    const site = shortcutTest(make(4000, true), make(2000, true), { margin: 0.0125, bootstrap: 50, seed: 2 });
    expect(blind.shortcut).toBe(true); // without the patterns, the two-valued pattern looks like a shortcut
    expect(onlyPattern.shortcut).toBe(false);
    expect(onlyPattern.within).toBeLessThan(-0.0125);
    expect(site.shortcut).toBe(true);
    expect(site.within).toBeGreaterThan(0.0125);
  });
});

describe("the deconfounder's pattern test", () => {
  // Patterns 0..5 drawn independently of the label (MCAR), or with the label shifting which pattern a patient has.
  const draw = (n: number, seed: number, tie: number) => {
    const r = rng(seed);
    const y = new Float32Array(n), pattern = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = r() < 0.2 ? 1 : 0;
      pattern[i] = r() < tie ? (y[i] ? 5 : 0) : Math.floor(r() * 6);
    }
    return { y, pattern };
  };
  const o = { margin: 0.0125, bootstrap: 200, seed: 0 };

  it('finds no association where the pattern is independent of the label, at any size', () => {
    for (const [n, seed] of [[600, 1], [6000, 2], [60000, 3]]) {
      const t = patternTest(draw(n, seed, 0), draw(Math.round(n / 7), seed + 10, 0), 6, o);
      expect(t.associated).toBe(false);
      expect(Math.abs(t.auroc - 0.5)).toBeLessThan(0.05);
      expect(t.auroc_lower).toBeLessThanOrEqual(t.auroc);
    }
  });

  it('finds it where the label moves the pattern, and is deterministic for a seed', () => {
    const t = patternTest(draw(6000, 4, 0.3), draw(900, 5, 0.3), 6, o);
    expect(t.associated).toBe(true);
    expect(t.auroc_lower).toBeGreaterThan(0.6);
    expect(patternTest(draw(6000, 4, 0.3), draw(900, 5, 0.3), 6, o)).toEqual(t);
  });

  // 5 modalities, each observed with a probability its own, higher for the positives (sicker patients tested more):
  // up to 32 patterns, most with few patients on a small validation split.
  const modalities = (n: number, seed: number, lift: number) => {
    const r = rng(seed);
    const masks = Array.from({ length: 32 }, (_, p) => p.toString(2).padStart(5, '0'));
    const y = new Float32Array(n), pattern = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = r() < 0.1 ? 1 : 0;
      let p = 0;
      for (let k = 0; k < 5; k++) p = p * 2 + (r() < 0.5 + (y[i] ? lift : 0) ? 1 : 0);
      pattern[i] = p;
    }
    return { set: { y, pattern }, masks };
  };

  it("with the patterns' masks, borrows across patterns that share modalities: finds a per-modality effect a rate per pattern misses", () => {
    // (a new user's 1,519 + 217 patients over 17 patterns: patients with labs died at 14% against 6% without, and the
    // rate-per-pattern test said nothing: 0.526, lower bound 0.488)
    let found = 0, foundPlain = 0;
    for (let seed = 0; seed < 6; seed++) {
      const tr = modalities(1500, 100 + seed, 0.12), va = modalities(220, 200 + seed, 0.12);
      const withMasks = patternTest(tr.set, va.set, 32, { ...o, masks: tr.masks });
      const plain = patternTest(tr.set, va.set, 32, o);
      expect(withMasks.auroc).toBeGreaterThan(plain.auroc - 0.005);
      found += withMasks.associated ? 1 : 0;
      foundPlain += plain.associated ? 1 : 0;
    }
    expect(found).toBeGreaterThan(foundPlain);
    expect(found).toBeGreaterThanOrEqual(5);
    // and still finds nothing where the modalities a patient has say nothing about the label
    for (let seed = 0; seed < 6; seed++) {
      const tr = modalities(1500, 300 + seed, 0), va = modalities(220, 400 + seed, 0);
      expect(patternTest(tr.set, va.set, 32, { ...o, masks: tr.masks }).associated, `null seed ${seed}`).toBe(false);
    }
  });

  it('the additive fit recovers per-modality log-odds from pattern counts', () => {
    const masks = ['00', '01', '10', '11'];
    // P(y | mask) = σ(−2 + 1·m0 + 0.5·m1), 10,000 patients per pattern
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const n = Float64Array.from(masks, () => 10000);
    const k = Float64Array.from(masks, (m) => 10000 * sig(-2 + Number(m[0]) + 0.5 * Number(m[1])));
    const fit = additiveRates(n, k, masks);
    masks.forEach((m, p) => expect(fit[p]).toBeCloseTo(sig(-2 + Number(m[0]) + 0.5 * Number(m[1])), 3));
  });
});

describe('weighted AUROC', () => {
  it('equals AUROC with unit weights and counts a weight-2 patient twice', () => {
    const y = [0, 1, 0, 1, 1, 0, 0];
    const p = [0.1, 0.7, 0.4, 0.3, 0.9, 0.3, 0.8];
    expect(weightedAuroc(y, p, y.map(() => 1))).toBeCloseTo(auroc(y, p), 12);
    const w = [1, 1, 1, 2, 1, 1, 1];
    expect(weightedAuroc(y, p, w)).toBeCloseTo(auroc([...y, 1], [...p, 0.3]), 12);
  });
});

describe('the causal path is blind to the pattern', () => {
  it('early fusion under deconfounding reads no mask column; the plain model does', () => {
    manualSeed(1);
    const full = createModel(tinyModalities, { masks: ['11111', '10101'], prior: [0.5, 0.5] }, { ...tinyConfig, backbone: 'early', debias: 'full' });
    const none = createModel(tinyModalities, { masks: ['11111', '10101'], prior: [0.5, 0.5] }, { ...tinyConfig, backbone: 'early', debias: 'none' });
    const width = (m: typeof full) => m.stateDict().get('backbone.fc1.weight')!.shape[1];
    expect(width(none) - width(full)).toBe(K);
    const t = createModel(tinyModalities, { masks: ['11111'], prior: [1] }, { ...tinyConfig, backbone: 'transformer', debias: 'full' });
    expect([...t.stateDict().keys()].some((k) => k.includes('type_embedding'))).toBe(false);
    [full, none, t].forEach((m) => m.dispose());
  });

  it('a counterfactual recomputes c from the masked input: hiding a modality changes it, keeping all does not', () => {
    const s = tinySplit(60, 7, tinyModalities, 1); // everyone observes everything
    const dict = { masks: ['11111', '11100'], prior: [0.5, 0.5] };
    const pid = assignPatterns(s.mask, K, dict);
    manualSeed(3);
    const model = createModel(tinyModalities, dict, { ...tinyConfig, backbone: 'early', debias: 'deconfound' }).eval();
    tidy(() => {
      const batch = makeBatch(s, range(60), tinyModalities, pid);
      const out = model.forward(batch);
      const same = model.counterfactual(batch, 0).toFloat32Array();
      const fact = out.logitsAll!.select(1, 0).sigmoid().toFloat32Array();
      for (let i = 0; i < 60; i++) expect(same[i]).toBeCloseTo(fact[i], 5);
      // Pattern 1 hides two modalities: c changes, so this is not h(c_factual, e_1).
      const cf = model.counterfactual(batch, 1).toFloat32Array();
      const fixedC = out.logitsAll!.select(1, 1).sigmoid().toFloat32Array();
      const diff = cf.reduce((a, v, i) => a + Math.abs(v - fixedC[i]), 0) / 60;
      expect(diff).toBeGreaterThan(1e-4);
    });
    model.dispose();
  });
});

describe('the lr backbone is a logistic regression', () => {
  it('its logit is linear in the inputs: f(a) + f(b) − f(0) = f(a + b) on a tabular-only model', () => {
    const mods = [{ name: 'static', type: 'tabular' as const, shape: [6], features: [] }];
    manualSeed(5);
    const m = createModel(mods, { masks: ['1'], prior: [1] }, { ...tinyConfig, backbone: 'lr', debias: 'none' }).eval();
    const r = rng(4);
    const a = Float32Array.from({ length: 6 }, () => r() - 0.5), b = Float32Array.from({ length: 6 }, () => r() - 0.5);
    const sum = Float32Array.from(a, (v, i) => v + b[i]);
    const logit = (x: Float32Array) => tidy(() => m.forward(makeBatch({ values: { static: x }, mask: Uint8Array.from([1]) }, [0], mods, Int32Array.from([0]))).logitFactual.item());
    expect(logit(a) + logit(b) - logit(new Float32Array(6))).toBeCloseTo(logit(sum), 4);
    m.dispose();
  });
});

describe('no zero-filled slots in the causal path', () => {
  it("a missing modality enters as the running mean of the observed embeddings, and eval reads the kept mean", () => {
    const s = tinySplit(80, 12);
    const dict = buildPatternDictionary(s.mask, K, { minCount: 2 });
    const pid = assignPatterns(s.mask, K, dict);
    manualSeed(4);
    const model = createModel(tinyModalities, dict, { ...tinyConfig, backbone: 'early', debias: 'deconfound' });
    expect(model.missingFill).not.toBeNull();
    tidy(() => {
      const batch = makeBatch(s, range(80), tinyModalities, pid);
      model.train();
      model.forward(batch); // the first batch counts fully: the kept mean is this batch's observed mean
      model.eval();
      const k = 4; // image embedding modality
      const enc = model.encoders.list[k].forward(batch.values.image).toFloat32Array();
      const d = 16;
      const mean = new Float64Array(d);
      let n = 0;
      for (let i = 0; i < 80; i++) if (s.mask[i * K + k]) { n++; for (let j = 0; j < d; j++) mean[j] += enc[i * d + j]; }
      const kept = model.missingFill!.select(0, k).toFloat32Array();
      for (let j = 0; j < d; j++) expect(kept[j]).toBeCloseTo(mean[j] / n, 4);
      // In eval a patient's prediction does not depend on the rest of the batch.
      const all = model.forward(batch).p.toFloat32Array();
      const one = model.forward(makeBatch(s, [7], tinyModalities, pid)).p.toFloat32Array();
      expect(one[0]).toBeCloseTo(all[7], 5);
    });
    // The plain model has no fill: it reads the mask.
    const plain = createModel(tinyModalities, dict, { ...tinyConfig, backbone: 'early', debias: 'none' });
    expect(plain.missingFill).toBeNull();
    model.dispose();
    plain.dispose();
  });
});
