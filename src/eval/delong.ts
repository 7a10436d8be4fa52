import { CdmmError } from '../util/errors.js';
import { checkInputs, type Vec } from './metrics.js';

/**
 * DeLong's test for two correlated AUROCs (two models scored on the same patients), with the O(n log n)
 * midrank algorithm of Sun & Xu (2014): the structural components of each AUROC come from three midrank
 * computations (positives alone, negatives alone, all together) instead of comparing every pair.
 */
export interface DeLongResult {
  auc1: number;
  auc2: number;
  diff: number; // auc1 − auc2
  se: number; // standard error of diff
  z: number;
  p: number; // two-sided
}

/** Midranks (1-based, ties get the mean rank) of values. */
export function midranks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[idx[j + 1]] === x[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = rank;
    i = j + 1;
  }
  return r;
}

/**
 * Structural components of one model's AUROC: v10[i] for each positive (share of negatives it beats, ties ½)
 * and v01[j] for each negative (share of positives that beat it).
 */
export function structuralComponents(y: Vec, p: Vec): { auc: number; v10: Float64Array; v01: Float64Array } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? pos : neg).push(p[i]);
  const m = pos.length;
  const n = neg.length;
  const tx = midranks(pos);
  const ty = midranks(neg);
  const tz = midranks([...pos, ...neg]);
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < m; i++) {
    v10[i] = (tz[i] - tx[i]) / n;
    sum += v10[i];
  }
  for (let j = 0; j < n; j++) v01[j] = 1 - (tz[m + j] - ty[j]) / m;
  return { auc: sum / m, v10, v01 };
}

function covariance(a: Float64Array, b: Float64Array): number {
  const k = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < k; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= k;
  mb /= k;
  let s = 0;
  for (let i = 0; i < k; i++) s += (a[i] - ma) * (b[i] - mb);
  return s / (k - 1);
}

/** Complementary error function (Numerical Recipes erfcc, fractional error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Two-sided p-value of a standard normal statistic. */
export function twoSidedP(z: number): number {
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** The 2×2 DeLong covariance of (auc1, auc2): S10/m + S01/n. */
export function delongCovariance(y: Vec, p1: Vec, p2: Vec): { auc1: number; auc2: number; cov: [[number, number], [number, number]] } {
  const a = structuralComponents(y, p1);
  const b = structuralComponents(y, p2);
  const m = a.v10.length;
  const n = a.v01.length;
  const c = (u: Float64Array, v: Float64Array, s: Float64Array, t: Float64Array) => covariance(u, v) / m + covariance(s, t) / n;
  const c11 = c(a.v10, a.v10, a.v01, a.v01);
  const c22 = c(b.v10, b.v10, b.v01, b.v01);
  const c12 = c(a.v10, b.v10, a.v01, b.v01);
  return { auc1: a.auc, auc2: b.auc, cov: [[c11, c12], [c12, c22]] };
}

export function delongTest(y: Vec, p1: Vec, p2: Vec): DeLongResult {
  checkInputs(y, p1, 'delongTest (model 1)');
  checkInputs(y, p2, 'delongTest (model 2)');
  let m = 0;
  for (let i = 0; i < y.length; i++) m += y[i];
  const n = y.length - m;
  if (m < 2 || n < 2) throw new CdmmError(`delongTest: needs at least 2 positives and 2 negatives (got ${m} and ${n})`);
  const { auc1, auc2, cov } = delongCovariance(y, p1, p2);
  const diff = auc1 - auc2;
  const v = cov[0][0] + cov[1][1] - 2 * cov[0][1];
  const se = Math.sqrt(Math.max(0, v));
  // Identical rankings give se = 0: no evidence of a difference when diff = 0 too.
  const z = se > 0 ? diff / se : diff === 0 ? 0 : Math.sign(diff) * Infinity;
  return { auc1, auc2, diff, se, z, p: twoSidedP(z) };
}
