import { CdmmError } from '../util/errors.js';
import { mulberry32 } from './rng.js';

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
 * The data laid out once in ascending score order, so that every metric, and every bootstrap resample (a
 * vector of per-patient counts in the same order), is one linear pass over contiguous arrays. Patients with
 * equal scores form a group; since a group shares one score it also shares one calibration bin, so after the
 * per-patient pass everything is computed per group.
 */
export interface Prepared {
  n: number;
  /** Labels (0/1) in ascending score order. */
  y: Float64Array;
  /** Tie group of each patient, same order. */
  groupOf: Uint32Array;
  /** Score of each group (ascending). */
  groupP: Float64Array;
  /** Equal-width calibration bin of each group. */
  groupBin: Uint16Array;
  bins: number;
}

export function prepare(y: Vec, p: Vec, bins = 10): Prepared {
  const { order, groupStart } = sortScores(p);
  const n = y.length;
  const G = groupStart.length - 1;
  const ys = new Float64Array(n);
  const groupOf = new Uint32Array(n);
  const groupP = new Float64Array(G);
  for (let g = 0; g < G; g++) {
    groupP[g] = p[order[groupStart[g]]];
    for (let k = groupStart[g]; k < groupStart[g + 1]; k++) {
      ys[k] = y[order[k]];
      groupOf[k] = g;
    }
  }
  return { n, y: ys, groupOf, groupP, groupBin: binIndex(groupP, bins), bins };
}

/** Work arrays for weightedMetrics, allocated once per bootstrap rather than once per resample. */
export class Scratch {
  readonly gp: Float64Array;
  readonly gw: Float64Array;
  readonly binSums: Float64Array;
  constructor(d: Prepared) {
    this.gp = new Float64Array(d.groupP.length);
    this.gw = new Float64Array(d.groupP.length);
    this.binSums = new Float64Array(3 * d.bins);
  }
}

export interface PointMetrics {
  auroc: number;
  auprc: number;
  brier: number;
  ece: number;
}

/**
 * All four metrics with per-patient weights w (multiplicities, in sorted order):
 * - AUROC: P(random positive scores above random negative), ties ½ (= Mann–Whitney U / (n1·n0));
 * - AUPRC: average precision as scikit-learn defines it, AP = Σ_k (R_k − R_{k−1}) · P_k over distinct thresholds
 *   in descending order, tied scores entering together (no interpolation);
 * - Brier: weighted mean of (p − y)²;
 * - ECE: Σ_b (n_b / n) · |mean p in b − observed rate in b| over equal-width bins.
 */
export function weightedMetrics(d: Prepared, w: Float64Array, scratch = new Scratch(d)): PointMetrics {
  const { y, groupOf, groupP, groupBin, bins, n } = d;
  const G = groupP.length;
  const { gp, gw, binSums } = scratch;
  gp.fill(0);
  gw.fill(0);
  binSums.fill(0);
  // The only per-patient pass: positive and total weight per group.
  for (let k = 0; k < n; k++) {
    const wk = w[k];
    const g = groupOf[k];
    gp[g] += wk * y[k];
    gw[g] += wk;
  }
  let negBelow = 0;
  let num = 0;
  let totPos = 0;
  let tw = 0;
  let sq = 0;
  for (let g = 0; g < G; g++) {
    const wp = gp[g];
    const wn = gw[g] - wp;
    const pg = groupP[g];
    num += wp * (negBelow + 0.5 * wn);
    negBelow += wn;
    totPos += wp;
    tw += gw[g];
    sq += wp * (1 - pg) * (1 - pg) + wn * pg * pg;
    const b = 3 * groupBin[g];
    binSums[b] += gw[g];
    binSums[b + 1] += gw[g] * pg;
    binSums[b + 2] += wp;
  }
  let tp = 0;
  let fp = 0;
  let ap = 0;
  for (let g = G - 1; g >= 0; g--) {
    tp += gp[g];
    fp += gw[g] - gp[g];
    if (gp[g] > 0) ap += (gp[g] / totPos) * (tp / (tp + fp));
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
  return weightedMetrics(d, new Float64Array(d.n).fill(1));
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

export interface MetricSetOptions {
  /** Number of bootstrap resamples (0 = no intervals; they are then [null, null]). */
  bootstrap?: number;
  seed?: number;
  bins?: number;
}

/**
 * Point estimates and 95% percentile-bootstrap intervals, as docs/RUN-FORMAT.md defines a MetricSet.
 *
 * Resampling is stratified by class: each resample draws n1 positives from the positives and n0 negatives from
 * the negatives, with replacement. This keeps the prevalence fixed (the split was stratified too) and means a
 * resample never lacks a class when the data has both; a resample with one class (only possible when the data
 * itself has one) gives NaN for AUROC and is skipped for that interval.
 *
 * Speed: the scores are sorted once; a resample is a vector of per-patient counts, and every metric is a
 * linear weighted pass over the sorted order, so a resample costs O(n) rather than O(n log n).
 */
export function computeMetricSet(y: Vec, p: Vec, opts: MetricSetOptions = {}): MetricSet {
  const { bootstrap = 1000, seed = 0, bins = 10 } = opts;
  checkInputs(y, p, 'computeMetricSet');
  const d = prepare(y, p, bins);
  const n = d.n;
  // Positions (in sorted order) of each class, the strata of the resampling.
  const pos: number[] = [];
  const neg: number[] = [];
  for (let k = 0; k < n; k++) (d.y[k] === 1 ? pos : neg).push(k);
  const strata = [Uint32Array.from(pos), Uint32Array.from(neg)];

  const w = new Float64Array(n).fill(1);
  const scratch = new Scratch(d);
  const est = weightedMetrics(d, w, scratch);

  const boot = { auroc: [] as number[], auprc: [] as number[], brier: [] as number[], ece: [] as number[] };
  const rand = mulberry32(seed);
  for (let r = 0; r < bootstrap; r++) {
    w.fill(0);
    for (const s of strata) {
      const m = s.length;
      for (let k = 0; k < m; k++) w[s[Math.floor(rand() * m)]] += 1;
    }
    const b = weightedMetrics(d, w, scratch);
    boot.auroc.push(b.auroc); // NaN (one-class resample) is dropped by percentileCi
    boot.auprc.push(b.auprc);
    boot.brier.push(b.brier);
    boot.ece.push(b.ece);
  }

  return {
    n,
    prevalence: pos.length / n,
    auroc: orNull(est.auroc),
    auroc_ci: percentileCi(boot.auroc),
    auprc: orNull(est.auprc),
    auprc_ci: percentileCi(boot.auprc),
    brier: est.brier,
    brier_ci: percentileCi(boot.brier),
    ece: est.ece,
    ece_ci: percentileCi(boot.ece),
  };
}
