// npx tsx bench/cotrain-study.ts SIMDIR [--backbone early] [--seed 0] [--lambda 0,1,10] [--joint-epochs 3]
// Development study (simulated data only: reads patients.csv's `confounder` and `true_risk`): does co-training the
// bias network B with a partner network M, the two logits made uncorrelated within each label (both get the
// penalty's gradient), give a purer proxy of the confounder C than B alone? The simulator's C and the severity U are
// independent given Y, so two predictors that are independent given Y can split the label signal as C and U. Prints,
// per λ, one JSON line: the C–Y gap left by balancing B's 5 bins × pattern (docs/RESULTS.md §6's statistic), B's
// within-label AUROC for C and correlation with U, and M's within-label correlations and shift AUROC.
import { Adam, clipGradNorm, manualSeed, tensor, tidy } from '../src/engine/index.js';
import { auroc } from '../src/eval/metrics.js';
import { makeBatch } from '../src/models/batch.js';
import { createModel } from '../src/models/index.js';
import { gce, withinLabelCorr2 } from '../src/models/losses.js';
import { groupLabelWeights, quantileEdges, scoreBins } from '../src/models/debias/weights.js';
import { predictSplit } from '../src/run/predict.js';
import { PatientSampler } from '../src/train/sampler.js';
import { arg, byLabel, cyGap, logit, pearson, studySetup } from './sim-truth.js';

const dir = process.argv[2];
const backbone = arg('backbone', 'early');
const seed = Number(arg('seed', '0'));
const lambdas = arg('lambda', '0,1,10').split(',').map(Number);
const jointEpochs = Number(arg('joint-epochs', '3'));
const { C, U, ds, K, dict, pat, trainPat, P, cfg, o, sizes, posW } = await studySetup(dir, backbone, seed);
const { train, val } = ds.splits;
const shift = ds.splits.shift!;

/** Mean over the two labels of a statistic computed within the label. */
function withinLabel(y: Float32Array, f: (idx: number[]) => number): number {
  const [neg, pos] = byLabel(y);
  return (f(neg) + f(pos)) / 2;
}

const c = train.ids.map((id) => C.get(id)!);
const u = train.ids.map((id) => U.get(id)!);
for (const lambda of lambdas) {
  manualSeed(seed);
  const B = createModel(ds.modalities, dict, cfg);
  manualSeed(seed + 1);
  const M = createModel(ds.modalities, dict, cfg);
  const optB = new Adam(B.parameters(), { lr: sizes.lr, weightDecay: o.weightDecay });
  const optM = new Adam(M.parameters(), { lr: sizes.lr, weightDecay: o.weightDecay });
  const sampler = new PatientSampler(train.ids.length, sizes.batchSize, seed + 7919);
  const warm = 3 * sampler.batchesPerEpoch;
  const total = warm + jointEpochs * sampler.batchesPerEpoch;
  let step = 0;
  let penSum = 0, penN = 0;
  B.train(); M.train();
  while (step < total) {
    for (const rows of sampler.nextEpoch()) {
      if (step >= total) break;
      const joint = step >= warm;
      tidy(() => {
        const batch = makeBatch(train, rows, ds.modalities, trainPat);
        const y = batch.labels!;
        const w = tensor(Float32Array.from(rows, (r) => (train.labels[r] >= 0.5 ? posW : 1)), [rows.length]);
        const lb = B.forward(batch).logitFactual;
        let loss = gce(lb, y, cfg.gceQ, w);
        if (joint) {
          const lm = M.forward(batch).logitFactual;
          const bce = lm.mul(y.mul(2).sub(1)).logSigmoid().neg().mean();
          const pen = withinLabelCorr2(lb, lm, y);
          penSum += pen.item(); penN++;
          loss = loss.add(bce).add(pen.mul(lambda));
        }
        optB.zeroGrad(); optM.zeroGrad();
        loss.backward();
        clipGradNorm(B.parameters(), 1); clipGradNorm(M.parameters(), 1);
        optB.step();
        if (joint) optM.step();
      });
      step++;
    }
  }
  const sb = predictSplit(B, train, ds.modalities, trainPat, 1024).p;
  const sm = predictSplit(M, train, ds.modalities, trainPat, 1024).p;
  const bins = scoreBins(sb, quantileEdges(sb, 5));
  const g = Int32Array.from(bins, (v, i) => v * P + trainPat[i]);
  const wts = groupLabelWeights(g, train.labels, 5 * P, 1, 20);
  const lb = Array.from(sb, logit), lm = Array.from(sm, logit);
  const r = (x: number) => Math.round(x * 1e4) / 1e4;
  const mShift = auroc(shift.labels, predictSplit(M, shift, ds.modalities, pat(shift), 1024).p);
  const mTest = auroc(ds.splits.test.labels, predictSplit(M, ds.splits.test, ds.modalities, pat(ds.splits.test), 1024).p);
  console.log(JSON.stringify({
    backbone, seed, lambda, joint_epochs: jointEpochs, pen: r(penN ? penSum / penN : 0),
    gap_raw: r(cyGap(train.labels, c, new Float32Array(c.length).fill(1))), gap_b5: r(cyGap(train.labels, c, wts)),
    b_auroc: r(auroc(train.labels, sb)),
    b_c_auroc: r(withinLabel(train.labels, (idx) => auroc(idx.map((i) => c[i]), idx.map((i) => sb[i])))),
    b_u_corr: r(withinLabel(train.labels, (idx) => pearson(idx.map((i) => lb[i]), idx.map((i) => u[i])))),
    b_c_corr: r(withinLabel(train.labels, (idx) => pearson(idx.map((i) => lb[i]), idx.map((i) => c[i])))),
    m_u_corr: r(withinLabel(train.labels, (idx) => pearson(idx.map((i) => lm[i]), idx.map((i) => u[i])))),
    m_c_corr: r(withinLabel(train.labels, (idx) => pearson(idx.map((i) => lm[i]), idx.map((i) => c[i])))),
    m_test: r(mTest), m_shift: r(mShift),
  }));
  optB.dispose(); optM.dispose(); B.dispose(); M.dispose();
}
process.exit(0);
