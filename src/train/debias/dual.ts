// The dual branch as a separate bias network (METHOD.md v2, component 2): train the bias network with GCE, test on
// validation whether its easy signal is a shortcut (src/models/debias/gate.ts), and if so reweight so that its risk
// bins (quantiles over the training patients) are independent of the label: within each bin the label rate becomes
// the overall one, so what the bias network found no longer predicts the outcome in the weighted set. The weights
// are bounded and normalised (they cannot invert the model, unlike LfF's relative-difficulty weights).
import { shortcutTest } from '../../models/debias/gate.js';
import { groupLabelWeights, quantileEdges, scoreBins } from '../../models/debias/weights.js';
import { fitBiasNetwork } from './bias-network.js';
import type { BackboneName } from '../../models/types.js';
import type { DebiasPart } from './part.js';

/** Smallest excess of the cut bias score over the binormal bound that counts as a shortcut (AUROC points). */
export const GATE_MARGIN = 0.0125;

export const dualPart: DebiasPart = {
  name: 'dual',
  applies: (cfg) => (cfg.debias === 'dual' || cfg.debias === 'full') && (cfg.dualBranch ?? 'separate') === 'separate',
  prepare(ctx) {
    const { ds, cfg, opts } = ctx;
    const { train, val } = ds.splits;
    const cap = cfg.weightCap ?? 20;
    // The bias network sees the factual data, mask included: it should find every shortcut, the testing habit too.
    const scores = fitBiasNetwork(ctx);
    // With the deconfounder the pattern is adjusted already: the test looks for a shortcut beyond it.
    const withPattern = ctx.before.some((p) => p.name === 'deconfound' && p.active !== false);
    const testOf = (s: { train: Float32Array; val: Float32Array }) => shortcutTest(
      { y: train.labels, s: s.train, groups: withPattern ? ctx.trainPat : undefined },
      { y: val.labels, s: s.val, groups: withPattern ? ctx.valPat : undefined },
      { margin: GATE_MARGIN, bootstrap: 200, seed: opts.seed },
    );
    // The gate reads an early-fusion bias network's score (its own network when the bias network is not one).
    const asked = cfg.biasBackbone ?? 'same';
    const biasBackbone: BackboneName = asked === 'same' ? cfg.backbone : asked;
    const gateBackbone: BackboneName = (cfg.gateBackbone ?? 'early') === 'early' ? 'early' : biasBackbone;
    const own = testOf(scores);
    const test = gateBackbone === biasBackbone ? own : testOf(fitBiasNetwork(ctx, { backbone: gateBackbone }));
    const mode = cfg.gate ?? 'auto';
    const on = mode === 'on' || (mode === 'auto' && test.shortcut);
    const bins = cfg.biasBins ?? 5;
    const power = cfg.biasBalance ?? 1;
    // 2 bins = one bit: the cut the gate tested (the training split's Youden threshold), which isolates a discrete
    // shortcut without slicing a continuous severity into quantiles; more bins = quantiles of the training scores.
    const edges = bins === 2 ? [own.threshold - 1e-12] : quantileEdges(scores.train, bins);
    const record = {
      gate: mode, on, gate_backbone: gateBackbone,
      bias_auroc: round(test.auroc), scored_on: "train+val (cross-fitted cut)", cut_auroc: round(test.cut_auroc), bound: round(test.bound),
      excess: round(test.excess), excess_lower: round(test.excess_lower), within_pattern: round(test.within), margin: GATE_MARGIN,
      bias_steps: scores.steps, bins, bias_balance: power,
    };
    const within = Number.isFinite(test.within) ? `, within patterns ${test.within.toFixed(4)}` : withPattern ? ', no pattern with enough patients of each class' : '';
    const why = `${gateBackbone !== biasBackbone ? `${gateBackbone} ` : ''}bias network AUROC ${test.auroc.toFixed(3)} on train + val, cut ${test.cut_auroc.toFixed(3)} vs binormal bound ${test.bound.toFixed(3)}: excess ${test.excess.toFixed(4)} (90% lower bound ${test.excess_lower.toFixed(4)}${within}, margin ${GATE_MARGIN})`;
    const note = mode === 'auto'
      ? `dual branch ${on ? 'on' : 'off'}: ${on ? 'a shortcut was found' : 'no shortcut found'} (${why})`
      : `dual branch ${on ? 'on' : 'off'} (--gate ${mode}; ${why})`;
    if (!on) return { name: 'dual', record, notes: [note] };
    // With the deconfounder, the balancing is joint over (bias bin × pattern): the label becomes independent of both.
    const P = ctx.dict.masks.length;
    const groups = (s: Float32Array, pat: Int32Array) => {
      const b = scoreBins(s, edges);
      return withPattern ? Int32Array.from(b, (v, i) => v * P + pat[i]) : b;
    };
    const G = withPattern ? bins * P : bins;
    return {
      name: 'dual',
      trainWeights: groupLabelWeights(groups(scores.train, ctx.trainPat), train.labels, G, power, cap),
      valWeights: groupLabelWeights(groups(scores.val, ctx.valPat), val.labels, G, power, cap),
      supersedes: withPattern,
      record,
      notes: [note],
    };
  },
};

function round(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : null;
}
