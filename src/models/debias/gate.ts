// Does the bias network's score carry a shortcut? The test behind the dual branch's gate ('auto').
//
// A GCE-trained bias network fits the easy part of the label signal first. When that part is a discrete shortcut
// (a site, a template, a testing habit), its score is close to two-valued, and cutting it at one threshold keeps
// almost all of its discrimination. When the signal is a continuous severity, a single cut loses a known share: for
// a binormal score of AUROC A, the best single cut gives AUROC (1 + Youden's J) / 2 = Φ(Φ⁻¹(A) / √2). So the
// excess of the cut score's AUROC over that bound measures how discrete the easy signal is. The cut is chosen on
// the training split and scored on validation; the bootstrap over validation patients gives a lower bound.
import { mulberry32 } from '../../data/rng.js';

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p <= 0 ? -Infinity : Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** AUROC of a binormal score cut once at its best threshold, given the AUROC A of the continuous score. */
export function binormalCutBound(a: number): number {
  return normalCdf(normalQuantile(a) / Math.SQRT2);
}

/** AUROC with ties counted half (Mann–Whitney), over the patients `idx` (all when absent). */
function aurocOf(y: ArrayLike<number>, s: ArrayLike<number>, idx?: ArrayLike<number>): number {
  const n = idx ? idx.length : y.length;
  const order = Array.from({ length: n }, (_, i) => (idx ? idx[i] : i)).sort((i, j) => s[i] - s[j]);
  let rankPos = 0, pos = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && s[order[j + 1]] === s[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (y[order[k]] >= 0.5) { rankPos += rank; pos++; }
    i = j + 1;
  }
  const neg = n - pos;
  return pos === 0 || neg === 0 ? NaN : (rankPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Youden-optimal threshold of the score on (y, s): maximises TPR − FPR. */
export function youdenThreshold(y: ArrayLike<number>, s: ArrayLike<number>): number {
  const order = Array.from({ length: y.length }, (_, i) => i).sort((i, j) => s[j] - s[i]);
  let pos = 0;
  for (let i = 0; i < y.length; i++) if (y[i] >= 0.5) pos++;
  const neg = y.length - pos;
  let tp = 0, fp = 0, best = -Infinity, thr = Infinity;
  for (let i = 0; i < order.length; i++) {
    if (y[order[i]] >= 0.5) tp++; else fp++;
    if (i + 1 < order.length && s[order[i + 1]] === s[order[i]]) continue;
    const j = tp / Math.max(pos, 1) - fp / Math.max(neg, 1);
    if (j > best) { best = j; thr = s[order[i]]; }
  }
  return thr;
}

export interface ShortcutTest {
  /** AUROC of the continuous bias score on validation. */
  auroc: number;
  /** AUROC on validation of the score cut at the training split's best threshold. */
  cut_auroc: number;
  /** Φ(Φ⁻¹(auroc)/√2): what a continuous (binormal) score would keep after one cut. */
  bound: number;
  /** cut_auroc − bound, and its bootstrap lower bound (5th percentile over validation resamples). */
  excess: number;
  excess_lower: number;
  threshold: number;
  /** The decision: the bias score ranks better than chance, excess ≥ margin and excess_lower > 0. */
  shortcut: boolean;
}

export interface ShortcutTestOptions {
  margin: number;
  bootstrap: number;
  seed: number;
}

export function shortcutTest(yTrain: ArrayLike<number>, sTrain: ArrayLike<number>, yVal: ArrayLike<number>, sVal: ArrayLike<number>, o: ShortcutTestOptions): ShortcutTest {
  const threshold = youdenThreshold(yTrain, sTrain);
  const cut = Float32Array.from(sVal as ArrayLike<number>, (v) => (v >= threshold ? 1 : 0));
  const stat = (idx?: ArrayLike<number>) => {
    const a = aurocOf(yVal, sVal, idx);
    return { a, c: aurocOf(yVal, cut, idx), e: aurocOf(yVal, cut, idx) - binormalCutBound(a) };
  };
  const full = stat();
  const rand = mulberry32((o.seed * 0x9e3779b1 + 0x85ebca6b) >>> 0);
  const n = yVal.length;
  const ex: number[] = [];
  for (let b = 0; b < o.bootstrap; b++) {
    const idx = Int32Array.from({ length: n }, () => Math.min(n - 1, Math.floor(rand() * n)));
    const e = stat(idx).e;
    if (Number.isFinite(e)) ex.push(e);
  }
  ex.sort((a, b) => a - b);
  const lower = ex.length ? ex[Math.floor(0.05 * (ex.length - 1))] : NaN;
  const shortcut = full.a > 0.5 && Number.isFinite(full.e) && full.e >= o.margin && lower > 0;
  return { auroc: full.a, cut_auroc: full.c, bound: binormalCutBound(full.a), excess: full.e, excess_lower: lower, threshold, shortcut };
}
