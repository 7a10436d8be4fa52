import { checkInputs, sortScores, type Vec } from './metrics.js';

/** Curve points for plotting; every curve is downsampled to at most `maxPoints` points. */

export interface RocPoint {
  fpr: number;
  tpr: number;
  threshold: number;
}
export interface PrPoint {
  recall: number;
  precision: number;
  threshold: number;
}
export interface CalibrationBin {
  lo: number;
  hi: number;
  mean_p: number;
  observed: number;
  count: number;
}

/**
 * Keeps the first and last point and, between them, a point whenever the path since the last kept point is
 * at least total/(maxPoints−2) long: dense stretches are thinned, corners survive.
 */
export function downsample<T>(pts: T[], maxPoints: number, xy: (t: T) => [number, number]): T[] {
  if (pts.length <= maxPoints) return pts;
  const len = (a: T, b: T) => {
    const [x1, y1] = xy(a);
    const [x2, y2] = xy(b);
    return Math.hypot(x2 - x1, y2 - y1);
  };
  let total = 0;
  for (let i = 1; i < pts.length; i++) total += len(pts[i - 1], pts[i]);
  const step = total / Math.max(1, maxPoints - 2);
  const out: T[] = [pts[0]];
  let acc = 0;
  for (let i = 1; i < pts.length - 1; i++) {
    acc += len(pts[i - 1], pts[i]);
    if (acc >= step) {
      out.push(pts[i]);
      acc = 0;
    }
  }
  out.push(pts[pts.length - 1]);
  // Floating-point slack can leave one point too many; drop interior points evenly if so.
  while (out.length > maxPoints) out.splice(Math.floor(out.length / 2), 1);
  return out;
}

/** Walks thresholds from high to low, yielding cumulative (tp, fp) after each group of tied scores. */
function thresholdSweep(y: Vec, p: Vec): { tp: number; fp: number; threshold: number }[] {
  const { order, groupStart } = sortScores(p);
  const out: { tp: number; fp: number; threshold: number }[] = [];
  let tp = 0;
  let fp = 0;
  for (let g = groupStart.length - 2; g >= 0; g--) {
    for (let k = groupStart[g]; k < groupStart[g + 1]; k++) {
      if (y[order[k]] === 1) tp++;
      else fp++;
    }
    out.push({ tp, fp, threshold: p[order[groupStart[g]]] });
  }
  return out;
}

/** ROC curve from (0,0) to (1,1); empty when one class is missing. */
export function rocCurve(y: Vec, p: Vec, maxPoints = 200): RocPoint[] {
  checkInputs(y, p, 'rocCurve');
  const sweep = thresholdSweep(y, p);
  const P = sweep[sweep.length - 1].tp;
  const N = sweep[sweep.length - 1].fp;
  if (P === 0 || N === 0) return [];
  const pts: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  for (const s of sweep) pts.push({ fpr: s.fp / N, tpr: s.tp / P, threshold: s.threshold });
  return downsample(pts, maxPoints, (q) => [q.fpr, q.tpr]);
}

/**
 * Precision–recall curve in order of increasing recall, starting at (recall 0, precision 1) as scikit-learn
 * does; empty when there is no positive.
 */
export function prCurve(y: Vec, p: Vec, maxPoints = 200): PrPoint[] {
  checkInputs(y, p, 'prCurve');
  const sweep = thresholdSweep(y, p);
  const P = sweep[sweep.length - 1].tp;
  if (P === 0) return [];
  const pts: PrPoint[] = [{ recall: 0, precision: 1, threshold: Infinity }];
  for (const s of sweep) pts.push({ recall: s.tp / P, precision: s.tp / (s.tp + s.fp), threshold: s.threshold });
  return downsample(pts, maxPoints, (q) => [q.recall, q.precision]);
}

/** Equal-width reliability bins (empty bins left out). */
export function calibrationBins(y: Vec, p: Vec, bins = 10): CalibrationBin[] {
  checkInputs(y, p, 'calibrationBins');
  const cnt = new Float64Array(bins);
  const sp = new Float64Array(bins);
  const sy = new Float64Array(bins);
  for (let i = 0; i < y.length; i++) {
    const b = Math.min(bins - 1, Math.floor(p[i] * bins));
    cnt[b]++;
    sp[b] += p[i];
    sy[b] += y[i];
  }
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++)
    if (cnt[b] > 0) out.push({ lo: b / bins, hi: (b + 1) / bins, mean_p: sp[b] / cnt[b], observed: sy[b] / cnt[b], count: cnt[b] });
  return out;
}
