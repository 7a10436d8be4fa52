// How much of the missingness pattern the features the head reads still carry (METHOD.md v2, component 1): a linear
// probe on z (plain model) or c (deconfounded) decodes whether the MNAR modality of a synthetic set was observed.
// `npx tsx bench/pattern-probe.ts` prints one JSON line: the probe's AUROC per backbone, plain and deconfounded.
import { noGrad, tidy } from '../src/engine/index.js';
import { auroc } from '../src/eval/metrics.js';
import { fitLogistic } from '../src/eval/bounds.js';
import { assignPatterns, makeBatch } from '../src/models/index.js';
import { defaultTrainOptions } from '../src/train/options.js';
import { trainModel } from '../src/train/trainer.js';
import { syntheticDataset } from '../test/train-fixtures.js';

function probeAuroc(debias: "none" | "deconfound", backbone: "early" | "late" | "transformer" | "muse" = "early"): number {
  const ds = syntheticDataset({ n: 3000, seed: 4 });
  const res = trainModel(ds, { ...defaultModelCfg, backbone, debias }, { ...defaultTrainOptions, epochs: 8, bootstrap: 0, seed: 1 }, { quiet: true });
  const { model, dict } = res;
  const s = ds.splits.test;
  const K = ds.modalities.length;
  const n = s.ids.length;
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const feats = noGrad(() => tidy(() => {
    const batch = makeBatch(s, rows, ds.modalities, assignPatterns(s.mask, K, dict));
    const z = model.fuse(batch);
    const f = debias === 'none' ? z : model.head.causal!.forward(z).relu();
    return { x: f.contiguous().toFloat32Array(), d: f.size(1) };
  }));
  model.dispose();
  // Standardise, fit on the first half, score on the second: is the labs modality observed?
  const D = feats.d;
  const X = new Float64Array(n * D);
  for (let j = 0; j < D; j++) {
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) m += feats.x[i * D + j];
    m /= n;
    for (let i = 0; i < n; i++) v += (feats.x[i * D + j] - m) ** 2;
    const sd = Math.sqrt(v / n) || 1;
    for (let i = 0; i < n; i++) X[i * D + j] = (feats.x[i * D + j] - m) / sd;
  }
  const bit = Float32Array.from({ length: n }, (_, i) => s.mask[i * K + 1]);
  const half = Math.floor(n / 2);
  const fit = fitLogistic(X.subarray(0, half * D), bit.subarray(0, half), half, D, 1e-3);
  const score = Float32Array.from({ length: n - half }, (_, i) => {
    let t = fit.b;
    for (let j = 0; j < D; j++) t += fit.w[j] * X[(half + i) * D + j];
    return 1 / (1 + Math.exp(-t));
  });
  return auroc(bit.subarray(half), score);
}

const defaultModelCfg = {
  backbone: 'early' as const, dim: 16, branchDim: 16, dropout: 0, seriesEncoder: 'gru' as const, adjustment: 'exact' as const,
  decorrelation: 'hsic' as const, lambdaFact: 0.5, lambdaGce: 1, lambdaDec: 0.1, gceQ: 0.7, lambdaSwap: 0, warmupEpochs: 0, weightEma: 0,
};

const out: Record<string, { none: number; deconfound: number }> = {};
for (const b of ['early', 'late', 'transformer', 'muse'] as const) out[b] = { none: +probeAuroc('none', b).toFixed(3), deconfound: +probeAuroc('deconfound', b).toFixed(3) };
process.stdout.write(JSON.stringify({ bench: 'pattern_probe', modality: 'labs', probe_auroc: out }) + '\n');
