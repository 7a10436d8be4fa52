// The deconfounder's training-time half (METHOD.md v2, component 1): do(M) on the training patterns and
// pattern–label balancing weights (M ⊥ Y in the weighted set). The prediction-time half, the back-door sum over the
// dictionary, is the head's (src/models/debias/head.ts). Its gate: with one pattern, or patterns that say nothing
// about the label (src/models/debias/pattern-test.ts), there is nothing to adjust, and the model is built without
// the deconfounder (the pattern-blind path costs where the pattern is uninformative).
import { interventionRate } from '../../models/debias/intervention.js';
import { patternTest, type PatternTest } from '../../models/debias/pattern-test.js';
import { assignPatterns, buildPatternDictionary, PATTERN_MIN_COUNT } from '../../models/patterns.js';
import type { PreparedDataset } from '../../data/types.js';
import { groupLabelWeights } from '../../models/debias/weights.js';
import { GATE_MARGIN } from './dual.js';
import type { DebiasPart } from './part.js';

/** What the deconfounder's gate ('auto') decides on a dataset's training + validation splits: the pattern test on the
 * training dictionary, as `train` runs it (also what `cdmm inspect` reports, so that both say the same). */
export function deconfounderDecision(ds: PreparedDataset, seed: number): { patterns: number; mask: string; test: PatternTest | null } {
  const K = ds.modalities.length;
  const { train, val } = ds.splits;
  const dict = buildPatternDictionary(train.mask, K);
  const P = dict.masks.length;
  const test = P > 1 ? gatePatternTest(train.labels, assignPatterns(train.mask, K, dict), val.labels, assignPatterns(val.mask, K, dict), dict.masks, seed) : null;
  return { patterns: P, mask: dict.masks[0], test };
}

/** The gate's pattern test with its settings: the one call `train` and `inspect` share. */
function gatePatternTest(trainY: ArrayLike<number>, trainPat: ArrayLike<number>, valY: ArrayLike<number>, valPat: ArrayLike<number>, masks: readonly string[], seed: number): PatternTest {
  return patternTest({ y: trainY, pattern: trainPat }, { y: valY, pattern: valPat }, masks.length, { margin: GATE_MARGIN, bootstrap: 200, seed, masks });
}

/** The decision as inspect prints it: one line of text and its JSON form. */
export function describeDeconfounderDecision(d: ReturnType<typeof deconfounderDecision>): { text: string; json: Record<string, unknown> } {
  const needed = 0.5 + GATE_MARGIN;
  const head = 'deconfounder (--debias full with the default --pattern-gate auto):';
  if (!d.test)
    return {
      text: `${head} nothing to adjust: the training split has one missingness pattern (${d.mask}) after merging rare ones (a pattern needs ${PATTERN_MIN_COUNT} training patients to stay its own; the table above counts every pattern); train builds the model without it`,
      json: { acts: false, patterns: d.patterns, reason: 'one pattern' },
    };
  const t = d.test;
  const fig = `cross-fitted AUROC ${t.auroc.toFixed(3)}, 90% lower bound ${t.auroc_lower.toFixed(3)}, needed > ${needed.toFixed(4)}`;
  return t.associated
    ? { text: `${head} on: over the ${d.patterns} patterns of the training dictionary, the pattern alone predicts the label (${fig})`, json: { acts: true, patterns: d.patterns, pattern_auroc: t.auroc, pattern_auroc_lower: t.auroc_lower, needed } }
    : {
        text: `${head} off: over the ${d.patterns} patterns of the training dictionary, the pattern says nothing measurable about the label across the training and validation splits (${fig}); a single pattern's label rate that looks extreme on one split does not carry over to the other`,
        json: { acts: false, patterns: d.patterns, pattern_auroc: t.auroc, pattern_auroc_lower: t.auroc_lower, needed, reason: 'pattern not associated with the label' },
      };
}

export const deconfoundPart: DebiasPart = {
  name: 'deconfound',
  applies: (cfg) => cfg.debias === 'deconfound' || cfg.debias === 'full',
  prepare({ ds, cfg, dict, trainPat, valPat, opts }) {
    const { train, val } = ds.splits;
    const P = dict.masks.length;
    const power = cfg.patternBalance ?? 0.5;
    const cap = cfg.weightCap ?? 20;
    const rate = interventionRate(cfg, train.ids.length);
    const mode = cfg.patternGate ?? 'auto';
    const test = P > 1 ? gatePatternTest(train.labels, trainPat, val.labels, valPat, dict.masks, opts.seed) : null;
    const on = P > 1 && (mode === 'on' || (mode === 'auto' && test!.associated));
    const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : null);
    const record = { patterns: P, gate: mode, on, pattern_auroc: test ? r(test.auroc) : null, pattern_auroc_lower: test ? r(test.auroc_lower) : null, margin: GATE_MARGIN };
    const why = test ? `the pattern alone predicts the label with cross-fitted AUROC ${test.auroc.toFixed(3)} (90% lower bound ${test.auroc_lower.toFixed(3)}, needed > ${(0.5 + GATE_MARGIN).toFixed(4)})` : '';
    if (P === 1)
      return { name: 'deconfound', active: false, record, notes: [`deconfounding has nothing to adjust: the training split has one missingness pattern (${dict.masks[0]}) after merging rare ones (a pattern needs ${PATTERN_MIN_COUNT} training patients to stay its own); the model is built without the deconfounder`] };
    if (!on)
      return { name: 'deconfound', active: false, record, notes: [`deconfounder off: ${mode === 'off' ? '--pattern-gate off' : 'the missingness pattern says nothing about the label'} (${why}); the model reads the mask as the plain one does`] };
    return {
      name: 'deconfound',
      trainWeights: groupLabelWeights(trainPat, train.labels, P, power, cap),
      valWeights: groupLabelWeights(valPat, val.labels, P, power, cap),
      intervention: rate,
      record: { ...record, intervention: rate, pattern_balance: power },
      notes: mode === 'auto' ? [`deconfounder on: ${why}`] : [],
    };
  },
};
