// npx tsx bench/refine-study.ts SIMDIR [--seed 0] [--lambda 3] [--rounds 2] [--epochs 8]
// Development study (simulated data only: reads patients.csv's `confounder` and `true_risk`): an alternating
// refinement of the dual branch's bias network. Round 0 is the default: a class-balanced GCE bias network B, its
// 5 score bins × pattern balanced against the label, a main model M trained on those weights. Each later round trains
// a fresh B with the same GCE plus λ × the squared within-label correlation of its logit with the previous M's logit
// (M fixed): M holds mostly the severity U, so B is pushed to explain the label through what M does not use (the
// confounder C, independent of U given Y). Prints one JSON line per round: the C–Y gap left by B's bins, B's
// within-label AUROC for C and correlation with U, and M's test and shift AUROC. Plain models (mask features on).
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
const lambda = Number(arg('lambda', '3'));
const rounds = Number(arg('rounds', '2'));
const mEpochs = Number(arg('epochs', '8'));
const bins = Number(arg('bins', '5'));
const midEpochs = Number(arg('mid-epochs', '0')); // > 0: the model B is decorrelated from is a separate one trained this many epochs
const { C, U, ds, K, dict, pat, trainPat, P, cfg, o, sizes, posW } = await studySetup(dir, backbone, seed);
const { train, test } = ds.splits;
const shift = ds.splits.shift!;
const c = train.ids.map((id) => C.get(id)!);
const u = train.ids.map((id) => U.get(id)!);
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

function perLabel(f: (idx: number[]) => number): number[] {
  return byLabel(train.labels).map((idx) => r4(f(idx)));
}

/** The bias network: class-balanced GCE for 3 epochs, plus λ × within-label corr² with `against` (fixed logits). */
function trainB(against: Float32Array | null, lam: number): Float32Array {
  manualSeed(seed);
  const net = createModel(ds.modalities, dict, cfg);
  const opt = new Adam(net.parameters(), { lr: sizes.lr, weightDecay: o.weightDecay });
  const sampler = new PatientSampler(train.ids.length, sizes.batchSize, seed + 7919);
  net.train();
  for (let e = 0; e < 3; e++) for (const rows of sampler.nextEpoch()) tidy(() => {
    const batch = makeBatch(train, rows, ds.modalities, trainPat);
    const y = batch.labels!;
    const w = tensor(Float32Array.from(rows, (r) => (train.labels[r] >= 0.5 ? posW : 1)), [rows.length]);
    const lb = net.forward(batch).logitFactual;
    let loss = gce(lb, y, cfg.gceQ, w);
    if (against && lam > 0) loss = loss.add(withinLabelCorr2(lb, tensor(Float32Array.from(rows, (r) => against[r]), [rows.length]), y).mul(lam));
    opt.zeroGrad(); loss.backward(); clipGradNorm(net.parameters(), 1); opt.step();
  });
  const s = predictSplit(net, train, ds.modalities, trainPat, 1024).p;
  opt.dispose(); net.dispose();
  return s;
}

/** The main model: weighted cross-entropy for mEpochs; returns its train logits and test/shift AUROC. */
function trainM(weights: Float32Array, epochs = mEpochs): { logits: Float32Array; test: number; shift: number } {
  manualSeed(seed + 1);
  const net = createModel(ds.modalities, dict, cfg);
  const opt = new Adam(net.parameters(), { lr: sizes.lr, weightDecay: o.weightDecay });
  const sampler = new PatientSampler(train.ids.length, sizes.batchSize, seed);
  net.train();
  for (let e = 0; e < epochs; e++) for (const rows of sampler.nextEpoch()) tidy(() => {
    const batch = makeBatch(train, rows, ds.modalities, trainPat);
    const y = batch.labels!;
    const w = tensor(Float32Array.from(rows, (r) => weights[r]), [rows.length]);
    const l = net.forward(batch).logitFactual;
    const loss = l.mul(y.mul(2).sub(1)).logSigmoid().neg().mul(w).mean();
    opt.zeroGrad(); loss.backward(); clipGradNorm(net.parameters(), 1); opt.step();
  });
  const logits = Float32Array.from(predictSplit(net, train, ds.modalities, trainPat, 1024).p, logit);
  const t = auroc(test.labels, predictSplit(net, test, ds.modalities, pat(test), 1024).p);
  const sh = auroc(shift.labels, predictSplit(net, shift, ds.modalities, pat(shift), 1024).p);
  opt.dispose(); net.dispose();
  return { logits, test: t, shift: sh };
}

let against: Float32Array | null = null;
for (let round = 0; round <= rounds; round++) {
  const sb = trainB(against, round === 0 ? 0 : lambda);
  const g = Int32Array.from(scoreBins(sb, quantileEdges(sb, bins)), (v, i) => v * P + trainPat[i]);
  const w = groupLabelWeights(g, train.labels, bins * P, 1, 20);
  const m = trainM(w);
  const lb = Array.from(sb, logit), lm = Array.from(m.logits);
  console.log(JSON.stringify({
    dir, backbone, seed, lambda, round, gap: r4(cyGap(train.labels, c, w)),
    b_auroc: r4(auroc(train.labels, sb)),
    b_c_auroc: perLabel((idx) => auroc(idx.map((i) => c[i]), idx.map((i) => sb[i]))),
    b_u_corr: perLabel((idx) => pearson(idx.map((i) => lb[i]), idx.map((i) => u[i]))),
    m_u_corr: perLabel((idx) => pearson(idx.map((i) => lm[i]), idx.map((i) => u[i]))),
    m_c_corr: perLabel((idx) => pearson(idx.map((i) => lm[i]), idx.map((i) => c[i]))),
    m_test: r4(m.test), m_shift: r4(m.shift),
  }));
  against = midEpochs > 0 ? trainM(w, midEpochs).logits : m.logits;
}
process.exit(0);
