import { describe, expect, it } from 'vitest';
import { auprc, auroc, brier, computeMetricSet, ece } from '../src/eval/metrics.js';
import { delongCovariance, delongTest, twoSidedP } from '../src/eval/delong.js';
import { calibrationBins, prCurve, rocCurve } from '../src/eval/curves.js';
import { perPatternMetrics } from '../src/eval/patterns.js';
import { mulberry32 } from '../src/eval/rng.js';
import { CdmmError } from '../src/util/errors.js';

// --- independent brute-force references -------------------------------------------------------------

/** Mann–Whitney over all positive–negative pairs, ties ½. */
function bruteAuroc(y: number[], p: number[]): number {
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < y.length; i++)
    for (let j = 0; j < y.length; j++)
      if (y[i] === 1 && y[j] === 0) {
        pairs++;
        s += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
      }
  return s / pairs;
}

/** AP = mean over positives of the precision at that positive's own score (all patients scoring ≥ it). */
function bruteAp(y: number[], p: number[]): number {
  let s = 0;
  let P = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 1) continue;
    P++;
    let tp = 0;
    let all = 0;
    for (let j = 0; j < y.length; j++)
      if (p[j] >= p[i]) {
        all++;
        tp += y[j];
      }
    s += tp / all;
  }
  return s / P;
}

/** Scores with ties (rounded) from a noisy logistic model, so tests exercise tie handling. */
function simulate(n: number, seed: number, decimals = 2): { y: number[]; p: number[]; q: number[] } {
  const r = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const y: number[] = [];
  const p: number[] = [];
  const q: number[] = [];
  const f = 10 ** decimals;
  for (let i = 0; i < n; i++) {
    const x = gauss();
    const risk = 1 / (1 + Math.exp(-(1.5 * x - 1)));
    y.push(r() < risk ? 1 : 0);
    p.push(Math.round(f / (1 + Math.exp(-(1.5 * x - 1 + 0.8 * gauss())))) / f);
    q.push(Math.round(f / (1 + Math.exp(-(1.5 * x - 1 + 1.6 * gauss())))) / f);
  }
  return { y, p, q };
}

describe('auroc', () => {
  it('matches scikit-learn documentation example and a hand count', () => {
    // sklearn roc_auc_score doc example: 0.75; 3 of 4 pairs ranked correctly.
    expect(auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
    // ties between a positive and a negative count one half: pairs (1 vs 0.5: 1), (0.5 vs 0.5: ½) → 0.75
    expect(auroc([1, 1, 0], [0.9, 0.5, 0.5])).toBeCloseTo(0.75, 12);
    expect(auroc([1, 0], [0.3, 0.3])).toBe(0.5);
  });
  it('equals the Mann–Whitney pair count on random data with ties, for every array type', () => {
    for (const seed of [1, 2, 3]) {
      const { y, p } = simulate(400, seed, 1); // one decimal → heavy ties
      const ref = bruteAuroc(y, p);
      expect(auroc(y, p)).toBeCloseTo(ref, 12);
      expect(auroc(Float64Array.from(y), Float64Array.from(p))).toBeCloseTo(ref, 12);
      expect(auroc(Float32Array.from(y), Float32Array.from(p))).toBeCloseTo(bruteAuroc(y, Array.from(Float32Array.from(p))), 12);
    }
  });
  it('is NaN with one class and rejects bad input', () => {
    expect(auroc([1, 1, 1], [0.1, 0.2, 0.3])).toBeNaN();
    expect(auroc([0], [0.4])).toBeNaN(); // n = 1
    expect(() => auroc([0, 1], [0.2])).toThrow(CdmmError);
    expect(() => auroc([0, 2], [0.2, 0.3])).toThrow(/label 1 is 2/);
    expect(() => auroc([0, 1], [0.2, NaN])).toThrow(/prediction 1/);
  });
});

describe('auprc (average precision)', () => {
  it('matches scikit-learn documentation example', () => {
    // sklearn average_precision_score doc example: 0.8333…
    expect(auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(5 / 6, 12);
  });
  it('handles ties by entering tied scores together (no interpolation)', () => {
    // all tied: one threshold, recall 0→1 at precision = prevalence
    expect(auprc([1, 0, 0, 1], [0.5, 0.5, 0.5, 0.5])).toBeCloseTo(0.5, 12);
    // the tie order must not matter
    expect(auprc([1, 0, 1], [0.7, 0.7, 0.2])).toBeCloseTo(auprc([0, 1, 1], [0.7, 0.7, 0.2]), 12);
    expect(auprc([1, 0, 1], [0.7, 0.7, 0.2])).toBeCloseTo(0.5 * 0.5 + 0.5 * (2 / 3), 12);
  });
  it('equals the brute-force definition on random data', () => {
    for (const seed of [4, 5, 6]) {
      const { y, p } = simulate(500, seed, 1);
      expect(auprc(y, p)).toBeCloseTo(bruteAp(y, p), 12);
    }
  });
  it('edge cases: no positive → NaN, no negative → 1', () => {
    expect(auprc([0, 0], [0.2, 0.3])).toBeNaN();
    expect(auprc([1], [0.3])).toBe(1);
  });
});

describe('brier and ece', () => {
  it('brier by hand', () => {
    // (0.9−1)² + (0.2−0)² + (0.6−0)² = 0.01 + 0.04 + 0.36 = 0.41 → /3
    expect(brier([1, 0, 0], [0.9, 0.2, 0.6])).toBeCloseTo(0.41 / 3, 12);
  });
  it('ece by hand, equal-width bins, p = 1 in the last bin', () => {
    // bins of width 0.5: bin0 = {0.1 (y0), 0.3 (y1)}: |0.2 − 0.5| = 0.3, weight 2/5
    // bin1 = {0.6 (y1), 0.8 (y1), 1.0 (y0)}: |0.8 − 2/3| = 0.1333…, weight 3/5
    const y = [0, 1, 1, 1, 0];
    const p = [0.1, 0.3, 0.6, 0.8, 1.0];
    expect(ece(y, p, 2)).toBeCloseTo((2 / 5) * 0.3 + (3 / 5) * Math.abs(0.8 - 2 / 3), 12);
    // one bin: |mean p − mean y|
    expect(ece(y, p, 1)).toBeCloseTo(Math.abs(2.8 / 5 - 3 / 5), 12);
    // perfectly calibrated within bins → 0
    expect(ece([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])).toBeCloseTo(0, 12);
    expect(() => ece(y, p, 0)).toThrow(CdmmError);
  });
});

describe('computeMetricSet', () => {
  it('gives the point estimates of the single metrics and intervals around them', () => {
    const { y, p } = simulate(1500, 7);
    const m = computeMetricSet(y, p, { bootstrap: 300, seed: 1 });
    expect(m.n).toBe(1500);
    expect(m.prevalence).toBeCloseTo(y.reduce((a, b) => a + b, 0) / 1500, 12);
    expect(m.auroc).toBeCloseTo(auroc(y, p), 12);
    expect(m.auprc).toBeCloseTo(auprc(y, p), 12);
    expect(m.brier).toBeCloseTo(brier(y, p), 12);
    expect(m.ece).toBeCloseTo(ece(y, p), 12);
    for (const k of ['auroc', 'auprc', 'brier', 'ece'] as const) {
      const [lo, hi] = m[`${k}_ci`];
      expect(lo).not.toBeNull();
      expect(lo!).toBeLessThan(hi!);
      expect(lo!).toBeLessThanOrEqual(m[k]! + 1e-9);
      expect(hi!).toBeGreaterThanOrEqual(m[k]! - 1e-9);
    }
  });
  it("ECE's interval holds its estimate for a well-calibrated model on a small split (resampled ECE runs high)", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = mulberry32(seed);
      const p = Array.from({ length: 400 }, () => 0.05 + 0.9 * r());
      const y = p.map((q) => (r() < q ? 1 : 0));
      const m = computeMetricSet(y, p, { bootstrap: 400, seed });
      const [lo, hi] = m.ece_ci;
      expect(lo!).toBeGreaterThanOrEqual(0);
      expect(lo!).toBeLessThanOrEqual(m.ece);
      expect(hi!).toBeGreaterThanOrEqual(m.ece);
      // the interval is still a sampling interval: wider than nothing, narrower than the metric's range
      expect(hi! - lo!).toBeGreaterThan(0.005);
      expect(hi! - lo!).toBeLessThan(0.2);
    }
  });
  it('AUROC interval width agrees with the DeLong standard error (an independent variance estimate)', () => {
    const { y, p } = simulate(3000, 8);
    const m = computeMetricSet(y, p, { bootstrap: 1000, seed: 3 });
    const se = Math.sqrt(delongCovariance(y, p, p).cov[0][0]);
    const width = m.auroc_ci[1]! - m.auroc_ci[0]!;
    expect(width / (2 * 1.96 * se)).toBeGreaterThan(0.85);
    expect(width / (2 * 1.96 * se)).toBeLessThan(1.15);
  });
  it('is reproducible for a seed and changes with it', () => {
    const { y, p } = simulate(500, 9);
    const a = computeMetricSet(y, p, { bootstrap: 200, seed: 11 });
    expect(computeMetricSet(y, p, { bootstrap: 200, seed: 11 })).toEqual(a);
    expect(computeMetricSet(y, p, { bootstrap: 200, seed: 12 }).auroc_ci).not.toEqual(a.auroc_ci);
  });
  it('one class: AUROC and its interval are null (JSON-safe), Brier still defined; n = 1 works', () => {
    const m = computeMetricSet([0, 0, 0], [0.1, 0.2, 0.3], { bootstrap: 50 });
    expect(m.auroc).toBeNull();
    expect(m.auroc_ci).toEqual([null, null]);
    expect(m.auprc).toBeNull();
    expect(m.brier).toBeCloseTo((0.01 + 0.04 + 0.09) / 3, 12);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
    const one = computeMetricSet([1], [0.8], { bootstrap: 20 });
    expect(one.auroc).toBeNull();
    expect(one.brier).toBeCloseTo(0.04, 12);
    expect(one.brier_ci[0]).toBeCloseTo(0.04, 12);
    expect(computeMetricSet([1, 0], [0.8, 0.1], { bootstrap: 0 }).auroc_ci).toEqual([null, null]);
  });
  it('bootstrap of n = 20000 with 1000 resamples is fast', () => {
    const { y, p } = simulate(20000, 10, 4);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const m = computeMetricSet(Float32Array.from(y), Float32Array.from(p), { bootstrap: 1000, seed: 0 });
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    console.log(`computeMetricSet n=20000 bootstrap=1000: ${(performance.now() - t0).toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU`);
    expect(m.auroc_ci[0]).not.toBeNull();
    // CPU time, not wall time: the test machine's cores are shared, and waiting for a core is not our cost.
    expect(cpuMs).toBeLessThan(2000);
  });
});

describe('delongTest', () => {
  /** Brute force: structural components from all pairs, sample covariances with k − 1. */
  function bruteDelongVar(y: number[], p1: number[], p2: number[]): number {
    const psi = (a: number, b: number) => (a > b ? 1 : a === b ? 0.5 : 0);
    const P = y.flatMap((v, i) => (v === 1 ? [i] : []));
    const N = y.flatMap((v, i) => (v === 0 ? [i] : []));
    const comp = (p: number[]) => ({
      v10: P.map((i) => N.reduce((s, j) => s + psi(p[i], p[j]), 0) / N.length),
      v01: N.map((j) => P.reduce((s, i) => s + psi(p[i], p[j]), 0) / P.length),
    });
    const a = comp(p1);
    const b = comp(p2);
    const cov = (u: number[], v: number[]) => {
      const mu = u.reduce((s, x) => s + x, 0) / u.length;
      const mv = v.reduce((s, x) => s + x, 0) / v.length;
      return u.reduce((s, x, k) => s + (x - mu) * (v[k] - mv), 0) / (u.length - 1);
    };
    const d10 = a.v10.map((x, k) => x - b.v10[k]);
    const d01 = a.v01.map((x, k) => x - b.v01[k]);
    return cov(d10, d10) / P.length + cov(d01, d01) / N.length;
  }

  it('variance equals the brute-force structural-component computation, with ties', () => {
    for (const seed of [12, 13]) {
      const { y, p, q } = simulate(300, seed, 1);
      const r = delongTest(y, p, q);
      expect(r.auc1).toBeCloseTo(bruteAuroc(y, p), 12);
      expect(r.auc2).toBeCloseTo(bruteAuroc(y, q), 12);
      expect(r.se ** 2).toBeCloseTo(bruteDelongVar(y, p, q), 12);
      expect(r.z).toBeCloseTo(r.diff / r.se, 12);
    }
  });
  it('p-value: normal tail values and a real difference detected', () => {
    expect(twoSidedP(1.959963985)).toBeCloseTo(0.05, 6);
    expect(twoSidedP(0)).toBeCloseTo(1, 6);
    const { y, p, q } = simulate(4000, 14, 4);
    const r = delongTest(y, p, q);
    expect(r.diff).toBeGreaterThan(0); // p has less noise than q
    expect(r.p).toBeLessThan(0.01);
    const same = delongTest(y, p, p);
    expect(same.se).toBe(0);
    expect(same.p).toBe(1);
    expect(() => delongTest([1, 0, 0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3])).toThrow(CdmmError);
  });
});

describe('curves', () => {
  it('ROC trapezoid area equals AUROC (before downsampling) and goes (0,0)→(1,1)', () => {
    const { y, p } = simulate(150, 15, 1);
    const roc = rocCurve(y, p, 10_000);
    let area = 0;
    for (let i = 1; i < roc.length; i++) area += ((roc[i].fpr - roc[i - 1].fpr) * (roc[i].tpr + roc[i - 1].tpr)) / 2;
    expect(area).toBeCloseTo(auroc(y, p), 12);
    expect(roc[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(roc[roc.length - 1]).toMatchObject({ fpr: 1, tpr: 1 });
  });
  it('PR step sum equals AP and curves are downsampled to ≤ 200 points keeping the ends', () => {
    const { y, p } = simulate(5000, 16, 5);
    const pr = prCurve(y, p, 100_000);
    let ap = 0;
    for (let i = 1; i < pr.length; i++) ap += (pr[i].recall - pr[i - 1].recall) * pr[i].precision;
    expect(ap).toBeCloseTo(auprc(y, p), 12);
    const small = rocCurve(y, p);
    expect(small.length).toBeLessThanOrEqual(200);
    expect(small.length).toBeGreaterThan(100);
    expect(small[small.length - 1]).toMatchObject({ fpr: 1, tpr: 1 });
    expect(prCurve(y, p).length).toBeLessThanOrEqual(200);
    expect(rocCurve([1, 1], [0.2, 0.4])).toEqual([]);
  });
  it('calibration bins by hand', () => {
    const bins = calibrationBins([0, 1, 1, 1, 0], [0.1, 0.3, 0.6, 0.8, 1.0], 2);
    expect(bins).toHaveLength(2);
    expect(bins[0]).toMatchObject({ lo: 0, hi: 0.5, count: 2, observed: 0.5 });
    expect(bins[0].mean_p).toBeCloseTo(0.2, 12);
    expect(bins[1].count).toBe(3);
    expect(bins[1].observed).toBeCloseTo(2 / 3, 12);
  });
});

describe('perPatternMetrics', () => {
  it('splits by mask, largest first, null AUROC for one-class patterns', () => {
    const y = [1, 0, 1, 0, 1, 1];
    const p = [0.9, 0.2, 0.4, 0.6, 0.7, 0.5];
    const masks = ['11', '11', '11', '11', '10', '10'];
    const r = perPatternMetrics(y, p, masks);
    expect(r.map((x) => x.mask)).toEqual(['11', '10']);
    expect(r[0]).toMatchObject({ n: 4, prevalence: 0.5 });
    expect(r[0].auroc).toBeCloseTo(bruteAuroc([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6]), 12);
    expect(r[0].mean_p).toBeCloseTo(2.1 / 4, 12);
    expect(r[1]).toMatchObject({ n: 2, prevalence: 1, auroc: null, auprc: null });
    expect(r[1].brier).toBeCloseTo((0.09 + 0.25) / 2, 12);
    expect(() => perPatternMetrics(y, p, ['11'])).toThrow(CdmmError);
  });
});
