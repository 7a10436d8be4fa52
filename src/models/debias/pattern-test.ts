// Does the missingness pattern say anything about the label? The test behind the deconfounder's gate ('auto').
//
// The deconfounder adjusts for the pattern: it makes the causal path blind to it and sums over the dictionary.
// That costs something where the pattern carries no label information (MCAR testing: the pattern-blind path loses
// what a patient's own pattern legitimately says about how much of them was seen; 0.012–0.024 test AUROC for late
// fusion on the simulator's no-bias scenario, docs/RESULTS.md §6), and there is nothing to adjust. So the pattern
// alone is scored as a predictor: each pattern's label rate on one split (smoothed towards an additive fit over the
// modalities observed, with the dictionary's masks; else towards the overall rate) scores the other split's patients, cross-fitted over training and validation, and the deconfounder acts when
// the bootstrap 5% lower bound of that AUROC exceeds 0.5 + margin.
import { mulberry32 } from '../../data/rng.js';
import { PATTERN_MIN_COUNT } from '../patterns.js';
import { sortedCountedAuroc } from './gate.js';

export interface PatternSet {
  y: ArrayLike<number>;
  /** Each patient's dictionary pattern. */
  pattern: ArrayLike<number>;
}

export interface PatternTest {
  /** Cross-fitted AUROC of the pattern's label rate, over training + validation. */
  auroc: number;
  /** Its bootstrap 5% lower bound. */
  auroc_lower: number;
  /** The decision: auroc_lower > 0.5 + margin. */
  associated: boolean;
}

/**
 * Label rate per pattern, pulled towards a prior rate by `prior` patients' worth: the overall rate, or with the
 * patterns' masks an additive fit (one log-odds per modality, see additiveRates), so that a pattern with few
 * patients on a split borrows from the patterns that share its modalities instead of scoring with noise.
 */
function patternRates(s: PatternSet, patterns: number, masks?: readonly string[]): Float64Array {
  const n = new Float64Array(patterns), k = new Float64Array(patterns);
  let pos = 0;
  for (let i = 0; i < s.y.length; i++) {
    const y = s.y[i] >= 0.5 ? 1 : 0;
    n[s.pattern[i]]++;
    k[s.pattern[i]] += y;
    pos += y;
  }
  const base = s.y.length ? pos / s.y.length : 0.5;
  if (!masks) return Float64Array.from(n, (c, p) => (k[p] + 2 * base) / (c + 2));
  const prior = additiveRates(n, k, masks);
  return Float64Array.from(n, (c, p) => (k[p] + PRIOR_PATIENTS * prior[p]) / (c + PRIOR_PATIENTS));
}

/** Patients' worth of the additive prior: as many as a pattern needs to stay its own (PATTERN_MIN_COUNT). */
const PRIOR_PATIENTS = PATTERN_MIN_COUNT;

/**
 * P(y | pattern) under a logistic model additive in the modalities observed (an intercept and one coefficient per
 * modality, ridge 1 on the coefficients), fitted by Newton's method on the patterns' counts.
 */
export function additiveRates(n: Float64Array, k: Float64Array, masks: readonly string[]): Float64Array {
  const P = n.length;
  const K = masks[0]?.length ?? 0;
  const D = K + 1;
  const x = (p: number, d: number) => (d === 0 ? 1 : masks[p][d - 1] === '1' ? 1 : 0);
  const beta = new Float64Array(D);
  const total = n.reduce((a, b) => a + b, 0), pos = k.reduce((a, b) => a + b, 0);
  beta[0] = Math.log((pos + 0.5) / (total - pos + 0.5));
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  for (let it = 0; it < 25; it++) {
    const g = new Float64Array(D), H = Array.from({ length: D }, () => new Float64Array(D));
    for (let d = 1; d < D; d++) { g[d] -= beta[d]; H[d][d] += 1; }
    for (let p = 0; p < P; p++) {
      if (!n[p]) continue;
      let z = 0;
      for (let d = 0; d < D; d++) z += beta[d] * x(p, d);
      const mu = sig(z), w = n[p] * mu * (1 - mu) + 1e-9;
      for (let a = 0; a < D; a++) {
        g[a] += (k[p] - n[p] * mu) * x(p, a);
        for (let b = 0; b < D; b++) H[a][b] += w * x(p, a) * x(p, b);
      }
    }
    const step = solve(H, g);
    let size = 0;
    for (let d = 0; d < D; d++) { beta[d] += step[d]; size = Math.max(size, Math.abs(step[d])); }
    if (size < 1e-9) break;
  }
  return Float64Array.from({ length: P }, (_, p) => {
    let z = 0;
    for (let d = 0; d < D; d++) z += beta[d] * x(p, d);
    return sig(z);
  });
}

/** Solves H·s = g (H symmetric positive definite, small) by Gaussian elimination with partial pivoting. */
function solve(H: Float64Array[], g: Float64Array): Float64Array {
  const D = g.length;
  const A = H.map((row, i) => [...row, g[i]]);
  for (let c = 0; c < D; c++) {
    let piv = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(A[r][c]) > Math.abs(A[piv][c])) piv = r;
    [A[c], A[piv]] = [A[piv], A[c]];
    if (Math.abs(A[c][c]) < 1e-300) continue;
    for (let r = 0; r < D; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let j = c; j <= D; j++) A[r][j] -= f * A[c][j];
    }
  }
  return Float64Array.from({ length: D }, (_, i) => (Math.abs(A[i][i]) < 1e-300 ? 0 : A[i][D] / A[i][i]));
}

export function patternTest(train: PatternSet, val: PatternSet, patterns: number, o: { margin: number; bootstrap: number; seed: number; masks?: readonly string[] }): PatternTest {
  const fromTrain = patternRates(train, patterns, o.masks), fromVal = patternRates(val, patterns, o.masks);
  const nt = train.y.length, n = nt + val.y.length;
  const y = new Float64Array(n), s = new Float64Array(n);
  for (let i = 0; i < nt; i++) { y[i] = train.y[i]; s[i] = fromVal[train.pattern[i]]; }
  for (let i = 0; i < val.y.length; i++) { y[nt + i] = val.y[i]; s[nt + i] = fromTrain[val.pattern[i]]; }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => s[i] - s[j]);
  const auroc = sortedCountedAuroc(y, s, order, new Float64Array(n).fill(1));
  const rand = mulberry32((o.seed * 0x85ebca6b + 0x9e3779b1) >>> 0);
  const count = new Float64Array(n);
  const as: number[] = [];
  for (let b = 0; b < o.bootstrap; b++) {
    count.fill(0);
    for (let k = 0; k < n; k++) count[Math.min(n - 1, Math.floor(rand() * n))]++;
    const a = sortedCountedAuroc(y, s, order, count);
    if (Number.isFinite(a)) as.push(a);
  }
  as.sort((a, b) => a - b);
  const lower = as.length ? as[Math.floor(0.05 * (as.length - 1))] : NaN;
  return { auroc, auroc_lower: lower, associated: Number.isFinite(lower) && lower > 0.5 + o.margin };
}
