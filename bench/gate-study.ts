// npx tsx bench/gate-study.ts SPEC… [--backbones early,late,transformer] [--seeds 3] — the dual branch's gate on
// development data: trains only the bias network (as `--debias full` does) for each spec × backbone × seed and
// prints one JSON line each with the shortcut test's statistics (src/models/debias/gate.ts) and its decision;
// --save DIR also writes the scores, labels and patterns, so that other decision rules can be compared without
// training again. For choosing the gate's rule on development data, never on the figures' data.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset } from '../src/data/build.js';
import { setNumThreads, manualSeed } from '../src/engine/index.js';
import { defaultModelConfig } from '../src/models/index.js';
import { shortcutTest } from '../src/models/debias/gate.js';
import { assignPatterns, buildPatternDictionary } from '../src/models/patterns.js';
import { fitBiasNetwork } from '../src/train/debias/bias-network.js';
import { defaultTrainOptions, resolveAuto } from '../src/train/options.js';
import { cutPoints } from '../src/train/sampler.js';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const specs = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const backbones = arg('backbones', 'early,late,transformer').split(',');
const seeds = Number(arg('seeds', '3'));
setNumThreads(1);
for (const spec of specs) for (let seed = 0; seed < seeds; seed++) {
  const ds = await prepareDataset(spec, { quiet: true, seed });
  const { train, val } = ds.splits;
  const K = ds.modalities.length;
  const dict = buildPatternDictionary(train.mask, K);
  const trainPat = assignPatterns(train.mask, K, dict);
  const valPat = assignPatterns(val.mask, K, dict);
  for (const backbone of backbones) {
    const cfg = { ...defaultModelConfig, backbone, debias: 'full' } as typeof defaultModelConfig;
    const o = { ...defaultTrainOptions, seed };
    const sizes = resolveAuto(o, train.ids.length, backbone, (b) => cutPoints(train.ids.length, b).length - 1);
    const opts = { ...o, batchSize: sizes.batchSize, lr: sizes.lr, patience: sizes.patience, lrAsked: o.lr };
    manualSeed(seed);
    const t0 = performance.now();
    const s = fitBiasNetwork({ ds, cfg, opts, dict, trainPat, valPat, before: [], quiet: true });
    const o2 = { margin: 0.0125, bootstrap: 200, seed };
    const test = shortcutTest({ y: train.labels, s: s.train, groups: trainPat }, { y: val.labels, s: s.val, groups: valPat }, o2);
    const r = (x: number) => Math.round(x * 1e4) / 1e4;
    // The scores and patterns, for trying other statistics without training again (--save DIR).
    const save = arg('save', '');
    if (save) {
      const tag = `${spec.replace(/[^A-Za-z0-9]+/g, '_')}-${backbone}-s${seed}`;
      writeFileSync(join(save, `${tag}.json`), JSON.stringify({ spec, backbone, seed, yTrain: Array.from(train.labels), sTrain: Array.from(s.train), pTrain: Array.from(trainPat), yVal: Array.from(val.labels), sVal: Array.from(s.val), pVal: Array.from(valPat) }));
    }
    console.log(JSON.stringify({ spec, seed, backbone, s: r((performance.now() - t0) / 1000),
      auroc: r(test.auroc), excess: r(test.excess), lower: r(test.excess_lower), within: r(test.within), on: test.shortcut }));
  }
}
process.exit(0);
