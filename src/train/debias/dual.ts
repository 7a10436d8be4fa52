// The dual branch as a separate bias network (METHOD.md v2, component 2): train the bias network with GCE, test on
// validation whether its easy signal is a shortcut (src/models/debias/gate.ts), and if so reweight so that its risk
// bins (quantiles over the training patients) are independent of the label: within each bin the label rate becomes
// the overall one, so what the bias network found no longer predicts the outcome in the weighted set. The weights
// are bounded and normalised (they cannot invert the model, unlike LfF's relative-difficulty weights). With
// --bias-refine λ > 0 (the default) and the deconfounder inactive, a second bias network, kept uncorrelated within
// each label with a partner trained on the first one's weights, gives the bins instead: its score holds less of the
// severity the partner holds.
import { aurocOf, shortcutTest } from '../../models/debias/gate.js';
import { groupLabelWeights, quantileEdges, scoreBins } from '../../models/debias/weights.js';
import { fitBiasNetwork, fitPartnerNetwork, type BiasScores } from './bias-network.js';
import type { BackboneName } from '../../models/types.js';
import type { DebiasPart, PreparedPart } from './part.js';

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
    const refine = cfg.biasRefine ?? 0;
    // With the deconfounder, the balancing is joint over (bias bin × pattern): the label becomes independent of both.
    const P = ctx.dict.masks.length;
    const G = withPattern ? bins * P : bins;
    // 2 bins = one bit: the cut the gate tested (the training split's Youden threshold), which isolates a discrete
    // shortcut without slicing a continuous severity into quantiles; more bins = quantiles of the training scores.
    const weightsOf = (s: BiasScores, threshold: number) => {
      const edges = bins === 2 ? [threshold - 1e-12] : quantileEdges(s.train, bins);
      const groups = (v: Float32Array, pat: Int32Array) => {
        const b = scoreBins(v, edges);
        return withPattern ? Int32Array.from(b, (x, i) => x * P + pat[i]) : b;
      };
      return {
        train: groupLabelWeights(groups(s.train, ctx.trainPat), train.labels, G, power, cap),
        val: groupLabelWeights(groups(s.val, ctx.valPat), val.labels, G, power, cap),
      };
    };
    const record: PreparedPart['record'] = {
      gate: mode, on, gate_backbone: gateBackbone,
      bias_auroc: round(test.auroc), scored_on: "train+val (cross-fitted cut)", cut_auroc: round(test.cut_auroc), bound: round(test.bound),
      excess: round(test.excess), excess_lower: round(test.excess_lower), within_pattern: round(test.within), margin: GATE_MARGIN,
      bias_steps: scores.steps, bins, bias_balance: power, bias_refine: refine,
    };
    const within = Number.isFinite(test.within) ? `, within patterns ${test.within.toFixed(4)}` : withPattern ? ', no pattern with enough patients of each class' : '';
    const why = `${gateBackbone !== biasBackbone ? `${gateBackbone} ` : ''}bias network AUROC ${test.auroc.toFixed(3)} on train + val, cut ${test.cut_auroc.toFixed(3)} vs binormal bound ${test.bound.toFixed(3)}: excess ${test.excess.toFixed(4)} (90% lower bound ${test.excess_lower.toFixed(4)}${within}, margin ${GATE_MARGIN})`;
    const note = mode === 'auto'
      ? `dual branch ${on ? 'on' : 'off'}: ${on ? 'a shortcut was found' : 'no shortcut found'} (${why})`
      : `dual branch ${on ? 'on' : 'off'} (--gate ${mode}; ${why})`;
    if (!on) return { name: 'dual', record, notes: [note] };
    let weights = weightsOf(scores, own.threshold);
    // The refinement: the partner learns what these weights keep (mostly the severity); the second bias network,
    // uncorrelated with it within each label, explains the label through the rest, so its bins track the shortcut
    // with less of the severity in them. Only without the deconfounder: with it (bins × pattern) development data
    // showed no gain and a loss for the transformer (docs/RESULTS.md §6).
    const refining = refine > 0 && !withPattern;
    record.refined = refining;
    if (refining) {
      const partner = fitPartnerNetwork(ctx, weights.train);
      const refined = fitBiasNetwork(ctx, { against: { logits: partner, lambda: refine } });
      weights = weightsOf(refined, bins === 2 ? testOf(refined).threshold : Number.NaN);
      record.refined_auroc = round(aurocOf(train.labels, refined.train));
    }
    return { name: 'dual', trainWeights: weights.train, valWeights: weights.val, supersedes: withPattern, record, notes: [note] };
  },
};

function round(x: number): number | null {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : null;
}
