import { describe, expect, it } from 'vitest';
import { Adam, manualSeed, randn, tensor, tidy } from '../src/engine/index.js';
import { gce, hsic, withinLabelCorr2 } from '../src/models/losses.js';
import { ClubEstimator } from '../src/models/club.js';

/** Biased HSIC by the textbook formula trace(Kx H Ky H)/(n−1)², median-bandwidth RBF kernels, in float64. */
function hsicByHand(x: number[][], y: number[][]): number {
  const n = x.length;
  const kernel = (u: number[][]) => {
    const d2 = u.map((a) => u.map((b) => a.reduce((s, v, j) => s + (v - b[j]) ** 2, 0)));
    const sorted = d2.flat().sort((a, b) => a - b);
    const med = sorted[Math.floor((sorted.length - 1) / 2)]; // the lower middle value, as torch.median
    return d2.map((r) => r.map((v) => Math.exp(-v / (med + 1e-6))));
  };
  const mm = (a: number[][], b: number[][]) => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
  const h = x.map((_, i) => x.map((__, j) => (i === j ? 1 : 0) - 1 / n));
  const m = mm(mm(mm(kernel(x), h), kernel(y)), h);
  return m.reduce((s, r, i) => s + r[i], 0) / (n - 1) ** 2;
}

describe('gce', () => {
  it('is (1 − p_y^q)/q averaged over patients', () => {
    const logits = [2, -1, 0.3, -3];
    const y = [1, 0, 0, 1];
    const q = 0.7;
    const expected = logits.map((l, i) => {
      const p = 1 / (1 + Math.exp(-l));
      const py = y[i] ? p : 1 - p;
      return (1 - py ** q) / q;
    }).reduce((a, b) => a + b, 0) / 4;
    const got = tidy(() => gce(tensor(logits), tensor(y), q).item());
    expect(got).toBeCloseTo(expected, 5);
  });

  it('applies per-patient weights', () => {
    const w = [2, 1, 1, 0];
    const plain = tidy(() => gce(tensor([0.5, -0.5, 1, -1]), tensor([1, 1, 0, 0]), 0.7, tensor(w)).item());
    const byHand = [0.5, -0.5, 1, -1].map((l, i) => {
      const p = 1 / (1 + Math.exp(-l));
      const py = i < 2 ? p : 1 - p;
      return (w[i] * (1 - py ** 0.7)) / 0.7;
    }).reduce((a, b) => a + b, 0) / 4;
    expect(plain).toBeCloseTo(byHand, 5);
  });
});

describe('hsic', () => {
  it('matches the textbook formula on a tiny case', () => {
    const x = [[0.1, 1.2], [-0.7, 0.3], [1.5, -0.4], [0.2, 0.9], [-1.1, -1.3]];
    const y = [[0.5], [-0.2], [1.1], [0.4], [-0.9]];
    const got = tidy(() => hsic(tensor(x), tensor(y)).item());
    expect(got).toBeCloseTo(hsicByHand(x, y), 5);
  });

  it('is near zero for independent features and clearly positive for dependent ones', () => {
    manualSeed(3);
    const [indep, dep] = tidy(() => {
      const x = randn([256, 8]);
      const indepV = hsic(x, randn([256, 8])).item();
      const depV = hsic(x, x.mul(2).add(randn([256, 8]).mul(0.1))).item();
      return [indepV, depV];
    });
    expect(indep).toBeGreaterThanOrEqual(0);
    expect(indep).toBeLessThan(0.01);
    expect(dep).toBeGreaterThan(10 * indep);
  });

  it('passes gradients to both inputs', () => {
    tidy(() => {
      const x = randn([16, 3]).requiresGrad_();
      const y = randn([16, 2]).requiresGrad_();
      hsic(x, y).backward();
      expect(x.grad!.abs().sum().item()).toBeGreaterThan(0);
      expect(y.grad!.abs().sum().item()).toBeGreaterThan(0);
    });
  });
});

describe('CLUB bound', () => {
  it('once q is fitted, is larger for dependent than for independent features', () => {
    manualSeed(5);
    const fitted = (dependent: boolean): number => tidy(() => {
      const club = new ClubEstimator(4);
      const opt = new Adam(club.parameters(), { lr: 0.01 });
      const c = randn([512, 4]);
      const s = dependent ? c.mul(1.5).add(randn([512, 4]).mul(0.2)) : randn([512, 4]);
      for (let i = 0; i < 150; i++) tidy(() => { opt.zeroGrad(); club.fitLoss(c, s).backward(); opt.step(); });
      const b = club.bound(c, s).item();
      opt.dispose();
      return b;
    });
    const dep = fitted(true);
    const indep = fitted(false);
    expect(dep).toBeGreaterThan(5 * Math.max(indep, 0.1));
    expect(Math.abs(indep)).toBeLessThan(0.5); // the bound is ~0 in expectation when c and s are independent
  });
});

describe('withinLabelCorr2', () => {
  const pearson = (a: number[], b: number[]) => {
    const ma = a.reduce((s, v) => s + v, 0) / a.length, mb = b.reduce((s, v) => s + v, 0) / b.length;
    let ab = 0, aa = 0, bb = 0;
    a.forEach((v, i) => { ab += (v - ma) * (b[i] - mb); aa += (v - ma) ** 2; bb += (b[i] - mb) ** 2; });
    return ab / Math.sqrt(aa * bb);
  };
  it('is the sum over the labels of the squared Pearson correlation among that label\'s patients', () => {
    const a = [0.5, -1.2, 2.0, 0.3, 1.1, -0.4, 0.9, -2.2];
    const b = [1.0, -0.3, 1.5, -0.8, 0.2, 0.7, 1.9, -1.0];
    const y = [1, 0, 1, 0, 1, 0, 1, 0];
    const pick = (v: number[], cls: number) => v.filter((_, i) => y[i] === cls);
    const expected = pearson(pick(a, 1), pick(b, 1)) ** 2 + pearson(pick(a, 0), pick(b, 0)) ** 2;
    const got = tidy(() => withinLabelCorr2(tensor(Float32Array.from(a), [8]), tensor(Float32Array.from(b), [8]), tensor(Float32Array.from(y), [8])).item());
    expect(got).toBeCloseTo(expected, 4);
    // A correlation that only the label explains counts nothing: b = 3·y + a within-label-independent noise.
    const a2 = [1, 2, 3, 4, 5, 6, 7, 8];
    const y2 = [0, 0, 0, 0, 1, 1, 1, 1];
    const b2 = [3, 1, 4, 2, 13, 11, 14, 12]; // within each label uncorrelated with a (r = 0), overall strongly
    const want2 = pearson(a2.slice(0, 4), b2.slice(0, 4)) ** 2 + pearson(a2.slice(4), b2.slice(4)) ** 2;
    const got2 = tidy(() => withinLabelCorr2(tensor(Float32Array.from(a2), [8]), tensor(Float32Array.from(b2), [8]), tensor(Float32Array.from(y2), [8])).item());
    expect(want2).toBeCloseTo(0, 6);
    expect(got2).toBeCloseTo(want2, 4);
    expect(pearson(a2, b2) ** 2).toBeGreaterThan(want2 + 0.5); // the overall correlation is mostly the label's
  });
  it('a label with a single patient adds nothing, and the gradient removes the correlation', () => {
    const got = tidy(() => withinLabelCorr2(tensor(Float32Array.from([1, 2, 3, 9]), [4]), tensor(Float32Array.from([2, 4, 6, -5]), [4]), tensor(Float32Array.from([0, 0, 0, 1]), [4])).item());
    expect(got).toBeCloseTo(1, 4); // label 0: a perfect correlation (1); label 1: one patient (0)
    manualSeed(0);
    const n = 64;
    const y = tensor(Float32Array.from({ length: n }, (_, i) => i % 2), [n]);
    const b = randn([n]);
    const a = b.mul(0.8).add(randn([n]).mul(0.6)).detach().requiresGrad_(true);
    const opt = new Adam([a], { lr: 0.05 });
    const before = tidy(() => withinLabelCorr2(a, b, y).item());
    for (let i = 0; i < 200; i++) tidy(() => { const l = withinLabelCorr2(a, b, y); opt.zeroGrad(); l.backward(); opt.step(); });
    const after = tidy(() => withinLabelCorr2(a, b, y).item());
    expect(before).toBeGreaterThan(0.5);
    expect(after).toBeLessThan(0.01);
    opt.dispose();
  });
});
