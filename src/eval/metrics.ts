import { CdmmError } from '../util/errors.js';
import { Mulberry32 } from './rng.js';

/**
 * Binary classification metrics on labels y ∈ {0,1} and predicted probabilities p ∈ [0,1].
 *
 * Undefined values: AUROC is NaN when only one class is present; AUPRC is NaN when there is no positive
 * (with no negative it is 1). In a MetricSet (the JSON contract) NaN becomes null.
 */

export type Vec = ArrayLike<number>;

export interface MetricSet {
  n: number;
  prevalence: number;
  auroc: number | null;
  auroc_ci: [number | null, number | null];
  auprc: number | null;
  auprc_ci: [number | null, number | null];
  brier: number;
  brier_ci: [number | null, number | null];
  ece: number;
  ece_ci: [number | null, number | null];
}

export function checkInputs(y: Vec, p: Vec, what = 'metrics'): void {
  if (y.length !== p.length) throw new CdmmError(`${what}: ${y.length} labels but ${p.length} predictions`);
  if (y.length === 0) throw new CdmmError(`${what}: no patients`);
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new CdmmError(`${what}: label ${i} is ${y[i]}, expected 0 or 1`);
    const v = p[i];
    if (!(v >= 0 && v <= 1)) throw new CdmmError(`${what}: prediction ${i} is ${v}, expected a probability in [0, 1]`);
  }
}

/**
 * The patients sorted by score once, with tied scores grouped: every rank-based metric (and every bootstrap
 * resample, through per-patient weights) is then a linear pass over the groups.
 */
export interface SortedScores {
  /** Patient indices in ascending score order. */
  order: Uint32Array;
  /** Start offsets (into `order`) of each group of equal scores, plus a final entry = n. */
  groupStart: Uint32Array;
}

export function sortScores(p: Vec): SortedScores {
  const n = p.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Sorting a Float64Array copy of the keys with an index permutation; typed-array sort on indices with a
  // comparator is the simplest O(n log n) route.
  const key = Float64Array.from(p as ArrayLike<number>);
  order.sort((a, b) => key[a] - key[b]);
  const starts: number[] = [0];
  for (let k = 1; k < n; k++) if (key[order[k]] !== key[order[k - 1]]) starts.push(k);
  starts.push(n);
  return { order, groupStart: Uint32Array.from(starts) };
}

/**
 * The data reduced, after one sort, to groups of tied scores in ascending order. Every metric here depends on
 * the data only through, per group, the number of positives and of patients (a group shares one score, hence
 * one calibration bin). A bootstrap resample is then just new group counts, so no resample is ever sorted.
 */
export interface Prepared {
  n: number;
  /** Score of each group (ascending). */
  groupP: Float64Array;
  /** Equal-width calibration bin of each group. */
  groupBin: Uint16Array;
  bins: number;
  /** Group of each positive patient, and of each negative patient (the bootstrap's two strata). */
  posGroup: Uint32Array;
  negGroup: Uint32Array;
}

export function prepare(y: Vec, p: Vec, bins = 10): Prepared {
  const { order, groupStart } = sortScores(p);
  const G = groupStart.length - 1;
  const groupP = new Float64Array(G);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let g = 0; g < G; g++) {
    groupP[g] = p[order[groupStart[g]]];
    for (let k = groupStart[g]; k < groupStart[g + 1]; k++) (y[order[k]] === 1 ? pos : neg).push(g);
  }
  return { n: y.length, groupP, groupBin: binIndex(groupP, bins), bins, posGroup: Uint32Array.from(pos), negGroup: Uint32Array.from(neg) };
}

/** Per-group counts: positives (pos) and all patients (all), as weights (a resample counts repeats). */
export class GroupCounts {
  readonly pos: Float64Array;
  readonly all: Float64Array;
  constructor(d: Prepared) {
    this.pos = new Float64Array(d.groupP.length);
    this.all = new Float64Array(d.groupP.length);
  }
  /** The counts of the data itself. */
  static of(d: Prepared): GroupCounts {
    const c = new GroupCounts(d);
    for (const g of d.posGroup) {
      c.pos[g]++;
      c.all[g]++;
    }
    for (const g of d.negGroup) c.all[g]++;
    return c;
  }
}

export interface PointMetrics {
  auroc: number;
  auprc: number;
  brier: number;
  ece: number;
}

/**
 * All four metrics from per-group counts, in one ascending and one descending pass over the groups:
 * - AUROC: P(random positive scores above random negative), ties ½ (= Mann–Whitney U / (n1·n0));
 * - AUPRC: average precision as scikit-learn defines it, AP = Σ_k (R_k − R_{k−1}) · P_k over distinct thresholds
 *   in descending order, tied scores entering together (no interpolation);
 * - Brier: mean of (p − y)²;
 * - ECE: Σ_b (n_b / n) · |mean p in b − observed rate in b| over equal-width bins.
 */
export function groupMetrics(d: Prepared, c: GroupCounts, binSums = new Float64Array(3 * d.bins)): PointMetrics {
  const { groupP, groupBin, bins } = d;
  const G = groupP.length;
  const gp = c.pos;
  const gw = c.all;
  binSums.fill(0);
  let negBelow = 0;
  let num = 0;
  let totPos = 0;
  let tw = 0;
  let sq = 0;
  for (let g = 0; g < G; g++) {
    const wp = gp[g];
    const wa = gw[g];
    if (wa === 0) continue;
    const wn = wa - wp;
    const pg = groupP[g];
    num += wp * (negBelow + 0.5 * wn);
    negBelow += wn;
    totPos += wp;
    tw += wa;
    sq += wp * (1 - pg) * (1 - pg) + wn * pg * pg;
    const b = 3 * groupBin[g];
    binSums[b] += wa;
    binSums[b + 1] += wa * pg;
    binSums[b + 2] += wp;
  }
  let tp = 0;
  let fp = 0;
  let ap = 0;
  for (let g = G - 1; g >= 0; g--) {
    if (gp[g] === 0) {
      fp += gw[g];
      continue;
    }
    tp += gp[g];
    fp += gw[g] - gp[g];
    ap += (gp[g] / totPos) * (tp / (tp + fp));
  }
  let e = 0;
  for (let b = 0; b < bins; b++) if (binSums[3 * b] > 0) e += Math.abs(binSums[3 * b + 1] - binSums[3 * b + 2]) / tw;
  return {
    auroc: totPos > 0 && negBelow > 0 ? num / (totPos * negBelow) : NaN,
    auprc: totPos > 0 ? ap : NaN,
    brier: sq / tw,
    ece: e,
  };
}

/** Equal-width bin of each prediction on [0, 1]; p = 1 falls in the last bin. */
export function binIndex(p: Vec, bins: number): Uint16Array {
  const b = new Uint16Array(p.length);
  for (let i = 0; i < p.length; i++) b[i] = Math.min(bins - 1, Math.floor(p[i] * bins));
  return b;
}

function unweighted(y: Vec, p: Vec, what: string, bins = 10): PointMetrics {
  checkInputs(y, p, what);
  const d = prepare(y, p, bins);
  return groupMetrics(d, GroupCounts.of(d));
}

export function auroc(y: Vec, p: Vec): number {
  return unweighted(y, p, 'auroc').auroc;
}

export function auprc(y: Vec, p: Vec): number {
  return unweighted(y, p, 'auprc').auprc;
}

export function brier(y: Vec, p: Vec): number {
  return unweighted(y, p, 'brier').brier;
}

export function ece(y: Vec, p: Vec, bins = 10): number {
  if (!(Number.isInteger(bins) && bins >= 1 && bins <= 65535)) throw new CdmmError(`ece: bins must be an integer ≥ 1, got ${bins}`);
  return unweighted(y, p, 'ece', bins).ece;
}

/** The q-quantile (0..1) of sorted values, linear interpolation (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

function percentileCi(values: number[]): [number | null, number | null] {
  const finite = Float64Array.from(values.filter(Number.isFinite)).sort();
  if (finite.length === 0) return [null, null];
  return [quantileSorted(finite, 0.025), quantileSorted(finite, 0.975)];
}

/**
 * ECE's interval: a resample's ECE counts its own sampling noise as miscalibration, so resampled values run above
 * the estimate (a well-calibrated model's whole percentile interval can lie above its ECE). The resamples are
 * shifted by their mean excess over the estimate before the percentiles are read, and the bounds kept ≥ 0. It is
 * the estimate's spread, not a bias-corrected interval: the estimate itself runs above a true ECE of 0 (a
 * perfectly calibrated model's interval rarely holds 0; measured by a reviewer, 0–2 of 60 draws at n 200–5000).
 */
function biasCorrectedCi(values: number[], estimate: number): [number | null, number | null] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0 || !Number.isFinite(estimate)) return [null, null];
  const bias = finite.reduce((a, v) => a + v, 0) / finite.length - estimate;
  const [lo, hi] = percentileCi(finite.map((v) => v - bias));
  return [Math.max(0, lo!), Math.max(0, hi!)];
}

export interface MetricSetOptions {
  /** Number of bootstrap resamples (0 = no intervals; they are then [null, null]). */
  bootstrap?: number;
  seed?: number;
  bins?: number;
}

/**
 * Point estimates and 95% percentile-bootstrap intervals (ECE's corrected for the resamples' bias, see
 * biasCorrectedCi), as docs/RUN-FORMAT.md defines a MetricSet.
 *
 * Resampling is stratified by class: each resample draws n1 positives from the positives and n0 negatives from
 * the negatives, with replacement. This keeps the prevalence fixed (the split was stratified too) and means a
 * resample never lacks a class when the data has both; a resample with one class (only possible when the data
 * itself has one) gives NaN for AUROC and is skipped for that interval.
 *
 * Speed: the scores are sorted once; a resample draws patients straight into per-tie-group counts, and every
 * metric is a linear pass over the groups, so a resample costs O(n) rather than O(n log n).
 */
export function computeMetricSet(y: Vec, p: Vec, opts: MetricSetOptions = {}): MetricSet {
  const { bootstrap = 1000, seed = 0, bins = 10 } = opts;
  checkInputs(y, p, 'computeMetricSet');
  if (!(Number.isInteger(bins) && bins >= 1 && bins <= 65535)) throw new CdmmError(`computeMetricSet: bins must be an integer ≥ 1, got ${bins}`);
  if (!(Number.isInteger(bootstrap) && bootstrap >= 0)) throw new CdmmError(`computeMetricSet: bootstrap must be an integer ≥ 0, got ${bootstrap}`);
  const d = prepare(y, p, bins);
  const n = d.n;
  const binSums = new Float64Array(3 * bins);
  const est = groupMetrics(d, GroupCounts.of(d), binSums);

  const boot = { auroc: [] as number[], auprc: [] as number[], brier: [] as number[], ece: [] as number[] };
  const rand = new Mulberry32(seed);
  const c = new GroupCounts(d);
  const { posGroup, negGroup } = d;
  const n1 = posGroup.length;
  const n0 = negGroup.length;
  for (let r = 0; r < bootstrap; r++) {
    // Stratified resample, straight into group counts.
    c.pos.fill(0);
    c.all.fill(0);
    for (let k = 0; k < n1; k++) {
      const g = posGroup[rand.index(n1)];
      c.pos[g]++;
      c.all[g]++;
    }
    for (let k = 0; k < n0; k++) c.all[negGroup[rand.index(n0)]]++;
    const b = groupMetrics(d, c, binSums);
    boot.auroc.push(b.auroc); // NaN (one-class data) is dropped by percentileCi
    boot.auprc.push(b.auprc);
    boot.brier.push(b.brier);
    boot.ece.push(b.ece);
  }

  return {
    n,
    prevalence: n1 / n,
    auroc: orNull(est.auroc),
    auroc_ci: percentileCi(boot.auroc),
    auprc: orNull(est.auprc),
    auprc_ci: percentileCi(boot.auprc),
    brier: est.brier,
    brier_ci: percentileCi(boot.brier),
    ece: est.ece,
    ece_ci: biasCorrectedCi(boot.ece, est.ece),
  };
}

/**
 * AUROC with per-patient weights w ≥ 0: the weighted share of (positive, negative) pairs ranked correctly, ties
 * half. With the balancing weights of the debiasing parts this is the validation AUROC of a set in which the
 * missingness pattern (and the bias network's risk) no longer tracks the label. All weights 1 = auroc().
 */
export function weightedAuroc(y: Vec, p: Vec, w: Vec): number {
  checkInputs(y, p, 'weightedAuroc');
  if (w.length !== y.length) throw new CdmmError(`weightedAuroc: ${w.length} weights for ${y.length} patients`);
  const order = Array.from({ length: y.length }, (_, i) => i).sort((i, j) => p[i] - p[j]);
  let negBelow = 0, negTotal = 0, posTotal = 0, num = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && p[order[j + 1]] === p[order[i]]) j++;
    let pos = 0, neg = 0;
    for (let k = i; k <= j; k++) {
      const r = order[k];
      if (!(w[r] >= 0)) throw new CdmmError(`weightedAuroc: weight ${w[r]} of patient ${r} is not ≥ 0`);
      if (y[r] >= 0.5) pos += w[r]; else neg += w[r];
    }
    num += pos * (negBelow + neg / 2);
    negBelow += neg; negTotal += neg; posTotal += pos;
    i = j + 1;
  }
  return posTotal > 0 && negTotal > 0 ? num / (posTotal * negTotal) : NaN;
}
