// metrics.json and predictions.json (docs/RUN-FORMAT.md) from per-split labels and predictions. Labels are used
// here only to score.
import { computeMetricSet, ece, type MetricSet } from '../eval/metrics.js';
import { perPatternMetrics, type PatternMetrics } from '../eval/patterns.js';
import type { ReferenceMetrics } from '../eval/reference.js';
import type { SplitName } from '../data/types.js';

export interface ScoredSplit {
  ids: string[];
  labels: ArrayLike<number>;
  /** The served (calibrated) risk p_do. */
  p: Float32Array;
  pFactual: Float32Array;
  /** The model's own p_do before calibration: its ECE is kept next to the calibrated one. */
  pRaw?: Float32Array;
  /** Each patient's own mask string (before merging rare patterns). */
  masks: string[];
}

export interface RunMetrics {
  dataset: string;
  backbone: string;
  debias: string;
  seed: number;
  splits: Partial<Record<SplitName, ScoredMetricSet>>;
  per_pattern: Partial<Record<SplitName, PatternMetrics[]>>;
  /** With spec.reference: the reference score and the model on the same patients of test (and shift). */
  reference?: Partial<Record<SplitName, ReferenceMetrics>>;
}

export type SplitPredictionsJson = { ids: string[]; y: number[]; p: number[]; p_factual: number[]; p_raw?: number[]; mask: string[] };

/** A split's metrics: those of the served risk, with `ece_raw` (the model's own p_do) when it was calibrated. */
export type ScoredMetricSet = MetricSet & { ece_raw?: number };

/** Clamps to [0, 1] (float rounding of σ can give 1 + ε) and rounds to 7 significant digits for JSON. */
export function probs(a: Float32Array): number[] {
  return Array.from(a, (v) => Number(Math.min(1, Math.max(0, v)).toPrecision(7)));
}

export function scoreSplit(s: ScoredSplit, bootstrap: number, seed: number): { metrics: ScoredMetricSet; perPattern: PatternMetrics[] } {
  const p = probs(s.p);
  const metrics: ScoredMetricSet = computeMetricSet(s.labels, p, { bootstrap, seed });
  if (s.pRaw) metrics.ece_raw = ece(s.labels, probs(s.pRaw));
  return {
    metrics,
    perPattern: perPatternMetrics(s.labels, p, s.masks),
  };
}

export function predictionsJson(s: ScoredSplit): SplitPredictionsJson {
  return { ids: s.ids, y: Array.from(s.labels), p: probs(s.p), p_factual: probs(s.pFactual), ...(s.pRaw ? { p_raw: probs(s.pRaw) } : {}), mask: s.masks };
}
