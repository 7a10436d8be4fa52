// Does the bias network's score carry a shortcut? The test behind the dual branch's gate ('auto').
//
// A GCE-trained bias network fits the easy part of the label signal first. When that part is a discrete shortcut
// (a site, a template, a testing habit), its score is close to two-valued, and cutting it at one threshold keeps
// almost all of its discrimination. When the signal is a continuous severity, a single cut loses a known share: for
// a binormal score of AUROC A, the best single cut gives AUROC (1 + Youden's J) / 2 = Φ(Φ⁻¹(A) / √2). So the
// excess of the cut score's AUROC over that bound measures how discrete the easy signal is. It is scored on training
// + validation together, cross-fitted: training patients are cut at the validation split's best threshold and
// validation patients at the training split's, so no patient is cut where its own split put the cut (validation
// alone, 10% of a cohort, decided wrongly in 22 of 135 development runs, the cut chosen in-sample in 48; see
// docs/RESULTS.md §6). The bootstrap over those patients gives a lower bound. With the deconfounder the pattern is
// adjusted for already, so a score whose discreteness is only the pattern is no shortcut for the dual branch: the
// excess left within patterns (all patients cut at the training threshold) must not be below −margin.
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
export function aurocOf(y: ArrayLike<number>, s: ArrayLike<number>, idx?: ArrayLike<number>): number {
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

/** AUROC (ties half) of a resample given as each patient's multiplicity, with `order` sorting the scores. */
export function sortedCountedAuroc(y: ArrayLike<number>, s: ArrayLike<number>, order: ArrayLike<number>, count: Float64Array): number {
  let below = 0, auc = 0, P = 0, N = 0;
  for (let i = 0; i < order.length;) {
    let j = i, wp = 0, wn = 0;
    while (j < order.length && s[order[j]] === s[order[i]]) {
      const r = order[j++];
      if (y[r] >= 0.5) wp += count[r]; else wn += count[r];
    }
    auc += wp * (below + wn / 2);
    below += wn;
    P += wp;
    N += wn;
    i = j;
  }
  return P === 0 || N === 0 ? NaN : auc / (P * N);
}

/** The same for a 0/1 score, from its 2 × 2 counts. */
export function countedAuroc(y: ArrayLike<number>, cut: ArrayLike<number>, count: Float64Array): number {
  let tp = 0, fn = 0, fp = 0, tn = 0;
  for (let i = 0; i < y.length; i++) {
    if (count[i] === 0) continue;
    if (y[i] >= 0.5) { if (cut[i] >= 0.5) tp += count[i]; else fn += count[i]; }
    else if (cut[i] >= 0.5) fp += count[i]; else tn += count[i];
  }
  const P = tp + fn, N = fp + tn;
  return P === 0 || N === 0 ? NaN : (tp * tn + 0.5 * (tp * fp + fn * tn)) / (P * N);
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
  /** AUROC of the continuous bias score over the scored patients (training + validation). */
  auroc: number;
  /** AUROC of the cross-fitted cut score (training patients cut at the validation threshold, and vice versa). */
  cut_auroc: number;
  /** Φ(Φ⁻¹(auroc)/√2): what a continuous (binormal) score would keep after one cut. */
  bound: number;
  /** cut_auroc − bound, and its bootstrap lower bound (5th percentile over resamples of the scored patients). */
  excess: number;
  excess_lower: number;
  /** The excess within each pattern (cut at the training threshold), weighted by positives × negatives (NaN without groups). */
  within: number;
  /** The training split's best threshold (the cut the dual branch's 2-bin balancing uses). */
  threshold: number;
  /** The decision: AUROC > 0.5, excess ≥ margin, excess_lower > 0 and (with groups) within ≥ −margin. */
  shortcut: boolean;
}

export interface ShortcutTestOptions {
  margin: number;
  bootstrap: number;
  seed: number;
}

/** Scores and labels of one split, with each patient's pattern when the test is to look within patterns. */
export interface ScoredSet {
  y: ArrayLike<number>;
  s: ArrayLike<number>;
  groups?: ArrayLike<number>;
}

/** Patients of each class a pattern needs to enter the within-pattern excess. */
const MIN_CLASS = 10;

const join2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  const o = new Float64Array(a.length + b.length);
  o.set(a as ArrayLike<number>);
  o.set(b as ArrayLike<number>, a.length);
  return o;
};

/** cut AUROC − binormal bound within each group, weighted by positives × negatives. */
function withinExcess(y: ArrayLike<number>, s: ArrayLike<number>, cut: ArrayLike<number>, groups: ArrayLike<number>): number {
  const by = new Map<number, number[]>();
  for (let i = 0; i < y.length; i++) {
    let rows = by.get(groups[i]);
    if (!rows) by.set(groups[i], (rows = []));
    rows.push(i);
  }
  let num = 0, den = 0;
  for (const rows of by.values()) {
    let pos = 0;
    for (const i of rows) pos += y[i] >= 0.5 ? 1 : 0;
    const neg = rows.length - pos;
    if (pos < MIN_CLASS || neg < MIN_CLASS) continue;
    const a = aurocOf(y, s, rows);
    if (!(a > 0.5)) continue;
    num += pos * neg * (aurocOf(y, cut, rows) - binormalCutBound(a));
    den += pos * neg;
  }
  return den ? num / den : NaN;
}

export function shortcutTest(train: ScoredSet, val: ScoredSet, o: ShortcutTestOptions): ShortcutTest {
  const threshold = youdenThreshold(train.y, train.s);
  const valThreshold = youdenThreshold(val.y, val.s);
  const y = join2(train.y, val.y), s = join2(train.s, val.s);
  const nTrain = train.y.length;
  const crossCut = Float32Array.from(s, (v, i) => (v >= (i < nTrain ? valThreshold : threshold) ? 1 : 0));
  const cut = Float32Array.from(s, (v) => (v >= threshold ? 1 : 0));
  const n = y.length;
  // The whole set and its resamples as multiplicities over one sort of the scores: O(n) each, the same AUROCs as
  // sorting every resample (copies of a patient tie, counted half, either way), so the pooled test stays cheap on a
  // million patients.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => s[i] - s[j]);
  const stat = (count: Float64Array) => {
    const a = sortedCountedAuroc(y, s, order, count), c = countedAuroc(y, crossCut, count);
    return { a, c, e: c - binormalCutBound(a) };
  };
  const full = stat(new Float64Array(n).fill(1));
  const rand = mulberry32((o.seed * 0x9e3779b1 + 0x85ebca6b) >>> 0);
  const count = new Float64Array(n);
  const ex: number[] = [];
  for (let b = 0; b < o.bootstrap; b++) {
    count.fill(0);
    for (let k = 0; k < n; k++) count[Math.min(n - 1, Math.floor(rand() * n))]++;
    const e = stat(count).e;
    if (Number.isFinite(e)) ex.push(e);
  }
  ex.sort((a, b) => a - b);
  const lower = ex.length ? ex[Math.floor(0.05 * (ex.length - 1))] : NaN;
  const grouped = train.groups && val.groups;
  const within = grouped ? withinExcess(y, s, cut, join2(train.groups!, val.groups!)) : NaN;
  // No pattern with enough patients of each class: nothing shows the score is more than the pattern, so no shortcut.
  const beyondPattern = !grouped || within >= -o.margin;
  const shortcut = full.a > 0.5 && Number.isFinite(full.e) && full.e >= o.margin && lower > 0 && beyondPattern;
  return { auroc: full.a, cut_auroc: full.c, bound: binormalCutBound(full.a), excess: full.e, excess_lower: lower, within, threshold, shortcut };
}
