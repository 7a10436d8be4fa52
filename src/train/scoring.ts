// metrics.json and predictions.json (docs/RUN-FORMAT.md) from per-split labels and predictions. Labels are used
// here only to score.
import { computeMetricSet, type MetricSet } from '../eval/metrics.js';
import { perPatternMetrics, type PatternMetrics } from '../eval/patterns.js';
import type { ReferenceMetrics } from '../eval/reference.js';
import type { SplitName } from '../data/types.js';

export interface ScoredSplit {
  ids: string[];
  labels: ArrayLike<number>;
  p: Float32Array;
  pFactual: Float32Array;
  /** Each patient's own mask string (before merging rare patterns). */
  masks: string[];
}

export interface RunMetrics {
  dataset: string;
  backbone: string;
  debias: string;
  seed: number;
  splits: Partial<Record<SplitName, MetricSet>>;
  per_pattern: Partial<Record<SplitName, PatternMetrics[]>>;
  /** With spec.reference: the reference score and the model on the same patients of test (and shift). */
  reference?: Partial<Record<SplitName, ReferenceMetrics>>;
}

export type SplitPredictionsJson = { ids: string[]; y: number[]; p: number[]; p_factual: number[]; mask: string[] };

/** Clamps to [0, 1] (float rounding of σ can give 1 + ε) and rounds to 7 significant digits for JSON. */
export function probs(a: Float32Array): number[] {
  return Array.from(a, (v) => Number(Math.min(1, Math.max(0, v)).toPrecision(7)));
}

export function scoreSplit(s: ScoredSplit, bootstrap: number, seed: number): { metrics: MetricSet; perPattern: PatternMetrics[] } {
  const p = probs(s.p);
  return {
    metrics: computeMetricSet(s.labels, p, { bootstrap, seed }),
    perPattern: perPatternMetrics(s.labels, p, s.masks),
  };
}

export function predictionsJson(s: ScoredSplit): SplitPredictionsJson {
  return { ids: s.ids, y: Array.from(s.labels), p: probs(s.p), p_factual: probs(s.pFactual), mask: s.masks };
}
