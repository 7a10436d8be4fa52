// The deconfounder's training-time half (METHOD.md v2, component 1): do(M) on the training patterns and
// pattern–label balancing weights (M ⊥ Y in the weighted set). The prediction-time half, the back-door sum over the
// dictionary, is the head's (src/models/debias/head.ts).
import { interventionRate } from '../../models/debias/intervention.js';
import { groupLabelWeights } from '../../models/debias/weights.js';
import type { DebiasPart } from './part.js';

export const deconfoundPart: DebiasPart = {
  name: 'deconfound',
  applies: (cfg) => cfg.debias === 'deconfound' || cfg.debias === 'full',
  prepare({ ds, cfg, dict, trainPat, valPat }) {
    const { train, val } = ds.splits;
    const P = dict.masks.length;
    const power = cfg.patternBalance ?? 0.5;
    const cap = cfg.weightCap ?? 20;
    const rate = interventionRate(cfg, train.ids.length);
    const notes = P === 1
      ? [`deconfounding has nothing to adjust: the training split has one missingness pattern (${dict.masks[0]}) after merging rare ones; the model is the plain one with an extra layer`]
      : [];
    return {
      name: 'deconfound',
      trainWeights: groupLabelWeights(trainPat, train.labels, P, power, cap),
      valWeights: groupLabelWeights(valPat, val.labels, P, power, cap),
      intervention: P === 1 ? 0 : rate,
      record: { patterns: P, intervention: P === 1 ? 0 : rate, pattern_balance: power },
      notes,
    };
  },
};
