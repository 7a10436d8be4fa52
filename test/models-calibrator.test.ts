// The calibrator (src/models/calibrator.ts) on simulated data with a known truth: y ~ Bernoulli(q), and a model
// whose risk p is a deliberately miscalibrated but rank-preserving distortion of q. Platt and temperature must
// bring the ECE of held-out patients down to a stated bound, isotonic must stay monotone, apply must be pure,
// and a fit that would flatten or reverse the ranking must fall back to 'none'.
import { describe, expect, it } from 'vitest';
import { applyCalibration, fitCalibrator, MAX_ISOTONIC_POINTS, type CalibrationRecord } from '../src/models/calibrator.js';
import { Mulberry32 } from '../src/eval/rng.js';
import { auroc, ece } from '../src/eval/metrics.js';
import { calibrationSchema } from '../src/run/run-schema.js';

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const logit = (p: number) => Math.log(p / (1 - p));

/** n patients: true risk q = σ(N(−1, 1.2)), labels y ~ Bernoulli(q), and the model's risk p = distort(q). */
function cohort(n: number, seed: number, distort: (q: number) => number) {
  const rng = new Mulberry32(seed);
  const q = new Float32Array(n), p = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Box–Muller
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    q[i] = sigmoid(-1 + 1.2 * z);
    y[i] = rng.next() < q[i] ? 1 : 0;
    p[i] = distort(q[i]);
  }
  return { q, p, y };
}

/** Over-confident and shifted: p' = σ(2·logit(q) + 1), exactly what Platt with a = 0.5, b = −0.5 undoes. */
const overconfident = (q: number) => sigmoid(2 * logit(q) + 1);

describe('fitCalibrator / applyCalibration', () => {
  const fit = cohort(10000, 1, overconfident);
  const held = cohort(20000, 2, overconfident);

  it('Platt recovers the inverse distortion and brings held-out ECE from > 0.1 to < 0.02, ranking unchanged', () => {
    const rec = fitCalibrator('platt', fit.p, fit.y);
    expect(rec.method).toBe('platt');
    if (rec.method !== 'platt') return;
    // σ(a·(2L + 1) + b) = σ(L) ⇔ a = 0.5, b = −0.5; sampling noise of 10000 patients: well within ±0.1.
    expect(Math.abs(rec.a - 0.5)).toBeLessThan(0.1);
    expect(Math.abs(rec.b + 0.5)).toBeLessThan(0.1);
    const before = ece(held.y, held.p);
    const after = ece(held.y, applyCalibration(rec, held.p));
    expect(before).toBeGreaterThan(0.1);
    expect(after).toBeLessThan(0.02);
    // Within 0.01 of the true risk's own ECE on these patients (the sampling floor of 10 bins).
    expect(after).toBeLessThan(ece(held.y, held.q) + 0.01);
    // A monotone map: AUROC identical up to float32 ties (1e-4).
    expect(Math.abs(auroc(held.y, applyCalibration(rec, held.p)) - auroc(held.y, held.p))).toBeLessThan(1e-4);
    expect(calibrationSchema.safeParse(rec).success).toBe(true);
  });

  it('an already calibrated model keeps a ≈ 1, b ≈ 0', () => {
    const ok = cohort(4000, 3, (q) => q);
    const rec = fitCalibrator('platt', ok.p, ok.y) as Extract<CalibrationRecord, { method: 'platt' }>;
    expect(Math.abs(rec.a - 1)).toBeLessThan(0.12);
    expect(Math.abs(rec.b)).toBeLessThan(0.12);
  });

  it('temperature fixes an over-confident model without a shift: t ≈ 2, held-out ECE < 0.015', () => {
    const d = (q: number) => sigmoid(2 * logit(q));
    const f = cohort(4000, 4, d), h = cohort(20000, 5, d);
    const rec = fitCalibrator('temperature', f.p, f.y);
    expect(rec.method).toBe('temperature');
    if (rec.method !== 'temperature') return;
    expect(Math.abs(rec.t - 2)).toBeLessThan(0.25);
    expect(ece(h.y, h.p)).toBeGreaterThan(0.05);
    expect(ece(h.y, applyCalibration(rec, h.p))).toBeLessThan(0.015);
  });

  it('isotonic is monotone, within [0, 1], at most 1000 points, and calibrates held-out patients (ECE < 0.025)', () => {
    const rec = fitCalibrator('isotonic', fit.p, fit.y);
    expect(rec.method).toBe('isotonic');
    if (rec.method !== 'isotonic') return;
    expect(rec.x.length).toBe(rec.y.length);
    expect(rec.x.length).toBeLessThanOrEqual(MAX_ISOTONIC_POINTS);
    for (let i = 1; i < rec.x.length; i++) {
      expect(rec.x[i]).toBeGreaterThan(rec.x[i - 1]);
      expect(rec.y[i]).toBeGreaterThanOrEqual(rec.y[i - 1]);
    }
    const out = applyCalibration(rec, held.p);
    const order = Array.from(held.p.keys()).sort((i, j) => held.p[i] - held.p[j]);
    for (let k = 1; k < order.length; k++) expect(out[order[k]]).toBeGreaterThanOrEqual(out[order[k - 1]]);
    for (const v of out) expect(v >= 0 && v <= 1).toBe(true);
    expect(ece(held.y, out)).toBeLessThan(0.025);
    expect(calibrationSchema.safeParse(rec).success).toBe(true);
  });

  it('isotonic with more than 1000 blocks is thinned to at most 1000 points, still monotone and valid', () => {
    // Every reduced fraction c/m in (0, 1) with m ≤ 64, in increasing order, as a group of m patients tied at one p
    // with c positives: the group means increase strictly, so PAV keeps one block per group (> 1000 of them).
    const fr: [number, number][] = [];
    for (let m = 2; m <= 64; m++) for (let c = 1; c < m; c++) if (gcd(c, m) === 1) fr.push([c, m]);
    fr.sort((u, v) => u[0] / u[1] - v[0] / v[1]);
    expect(fr.length).toBeGreaterThan(MAX_ISOTONIC_POINTS);
    const p: number[] = [], y: number[] = [];
    fr.forEach(([c, m], j) => {
      for (let k = 0; k < m; k++) {
        p.push((j + 1) / (fr.length + 1));
        y.push(k < c ? 1 : 0);
      }
    });
    const rec = fitCalibrator('isotonic', p, y);
    if (rec.method !== 'isotonic') throw new Error('expected isotonic');
    expect(rec.x.length).toBe(MAX_ISOTONIC_POINTS);
    expect(calibrationSchema.safeParse(rec).success).toBe(true);
    // The ends are kept: the lowest and highest group means.
    expect(rec.y[0]).toBeCloseTo(fr[0][0] / fr[0][1], 12);
    expect(rec.y[rec.y.length - 1]).toBeCloseTo(fr[fr.length - 1][0] / fr[fr.length - 1][1], 12);
  });

  it('apply is pure: the input array is never changed, a new array comes back', () => {
    const p = Float32Array.from([0, 0.2, 0.5, 0.9, 1]);
    const copy = Float32Array.from(p);
    for (const rec of [fitCalibrator('platt', fit.p, fit.y), fitCalibrator('temperature', fit.p, fit.y), fitCalibrator('isotonic', fit.p, fit.y), { method: 'none' } as const]) {
      const out = applyCalibration(rec, p);
      expect(out).not.toBe(p);
      expect(p).toEqual(copy);
      for (const v of out) expect(Number.isFinite(v) && v >= 0 && v <= 1).toBe(true);
    }
    expect(applyCalibration({ method: 'none' }, p)).toEqual(p);
  });

  it('a slope ≤ 0.01 (labels unrelated to p, or reversed) falls back to none and says so', () => {
    // Reversed ranking: y = 1 exactly where p is low. The unconstrained slope is negative.
    const n = 2000;
    const p = Float32Array.from({ length: n }, (_, i) => (i + 0.5) / n);
    const y = Float32Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0));
    for (const m of ['platt', 'temperature'] as const) {
      const rec = fitCalibrator(m, p, y);
      expect(rec).toEqual({ method: 'none', requested: m, fallback: 'slope ≤ 0.01' });
      expect(applyCalibration(rec, p)).toEqual(p);
    }
    // Isotonic on reversed labels flattens to a constant: the ranking collapses to ties, never reverses.
    const iso = fitCalibrator('isotonic', p, y);
    if (iso.method !== 'isotonic') throw new Error('expected isotonic');
    expect(new Set(iso.y).size).toBe(1);
  });

  it('risks that barely vary (an undertrained model) keep a positive slope and get the label rate as their mean', () => {
    // p ≈ 0.567 ± 0.0006 (what a few steps of training give), 6 of 45 positive: the data fix a·logit p + b, not a.
    const rng = new Mulberry32(9);
    const p = Float32Array.from({ length: 45 }, () => 0.5666 + 0.0012 * rng.next());
    const y = Float32Array.from({ length: 45 }, (_, i) => (i % 7 === 0 && i < 42 ? 1 : 0));
    const rec = fitCalibrator('platt', p, y);
    expect(rec.method).toBe('platt');
    const out = applyCalibration(rec, p);
    const mean = out.reduce((a, b) => a + b, 0) / out.length;
    // Platt's smoothed targets: (6 + 1)/(6 + 2) and 1/(39 + 2) → expected mean (6·0.875 + 39/41)/45 = 0.1378.
    expect(Math.abs(mean - (6 * 0.875 + 39 / 41) / 45)).toBeLessThan(0.01);
  });

  it('one-class or empty validation sets give a bounded fit or a stated fallback, never NaN', () => {
    const p = Float32Array.from({ length: 200 }, (_, i) => (i + 0.5) / 200);
    const rec = fitCalibrator('platt', p, new Float32Array(200));
    const out = applyCalibration(rec, p);
    for (const v of out) expect(Number.isFinite(v)).toBe(true);
    expect(calibrationSchema.safeParse(rec).success).toBe(true);
    expect(fitCalibrator('platt', new Float32Array(0), new Float32Array(0))).toEqual({ method: 'none', requested: 'platt', fallback: 'no validation patients' });
    expect(fitCalibrator('none', p, new Float32Array(200))).toEqual({ method: 'none' });
    // p of exactly 0 and 1 are clamped before the logit: finite.
    const edge = fitCalibrator('platt', Float32Array.from([0, 1, 0, 1]), Float32Array.from([0, 1, 1, 0]));
    for (const v of applyCalibration(edge, [0, 1])) expect(Number.isFinite(v)).toBe(true);
  });

  it('the manifest schema refuses non-finite, reversing or oversized maps', () => {
    const bad: unknown[] = [
      { method: 'platt', a: Number.NaN, b: 0 },
      { method: 'platt', a: 0.005, b: 0 },
      { method: 'platt', a: -1, b: 0 },
      { method: 'platt', a: 1, b: 1e9 },
      { method: 'temperature', t: 0 },
      { method: 'temperature', t: 1000 },
      { method: 'isotonic', x: [0.1, 0.2], y: [0.5, 0.4] },
      { method: 'isotonic', x: [0.2, 0.1], y: [0.1, 0.2] },
      { method: 'isotonic', x: [0.1], y: [0.1, 0.2] },
      { method: 'isotonic', x: Array.from({ length: 1001 }, (_, i) => i / 1001), y: Array.from({ length: 1001 }, (_, i) => i / 1001) },
      { method: 'isotonic', x: [0.1, 1.5], y: [0.1, 0.2] },
      { method: 'platt', a: 1, b: 0, extra: 1 },
      { method: 'spline' },
    ];
    for (const b of bad) expect(calibrationSchema.safeParse(b).success, JSON.stringify(b).slice(0, 80)).toBe(false);
  });
});
