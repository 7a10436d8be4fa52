// Does the missingness pattern say anything about the label? The test behind the deconfounder's gate ('auto').
//
// The deconfounder adjusts for the pattern: it makes the causal path blind to it and sums over the dictionary.
// That costs something where the pattern carries no label information (MCAR testing: the pattern-blind path loses
// what a patient's own pattern legitimately says about how much of them was seen; 0.012–0.024 test AUROC for late
// fusion on the simulator's no-bias scenario, docs/RESULTS.md §6), and there is nothing to adjust. So the pattern
// alone is scored as a predictor: each pattern's label rate (smoothed towards the overall rate) on one split
// scores the other split's patients, cross-fitted over training and validation, and the deconfounder acts when
// the bootstrap 5% lower bound of that AUROC exceeds 0.5 + margin.
import { mulberry32 } from '../../data/rng.js';
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

/** Label rate per pattern, pulled towards the overall rate by `prior` patients' worth. */
function patternRates(s: PatternSet, patterns: number, prior = 2): Float64Array {
  const n = new Float64Array(patterns), k = new Float64Array(patterns);
  let pos = 0;
  for (let i = 0; i < s.y.length; i++) {
    const y = s.y[i] >= 0.5 ? 1 : 0;
    n[s.pattern[i]]++;
    k[s.pattern[i]] += y;
    pos += y;
  }
  const base = s.y.length ? pos / s.y.length : 0.5;
  return Float64Array.from(n, (c, p) => (k[p] + prior * base) / (c + prior));
}

export function patternTest(train: PatternSet, val: PatternSet, patterns: number, o: { margin: number; bootstrap: number; seed: number }): PatternTest {
  const fromTrain = patternRates(train, patterns), fromVal = patternRates(val, patterns);
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
