// The separate bias network of the dual branch: a plain model of the same backbone (its own parameters, blind to
// the mask like the causal path), trained first with GCE for a fixed number of steps, so that it fits the easy,
// shortcut part of the label signal. Trained under the same do(M) and weights as the main model: the missingness
// shortcut is the deconfounder's, this network looks for the others.
import { Adam, clipGradNorm, tensor, tidy } from '../../engine/index.js';
import { mulberry32 } from '../../data/rng.js';
import { makeBatch } from '../../models/batch.js';
import { createModel } from '../../models/index.js';
import { gce } from '../../models/losses.js';
import { interveneMasks } from '../../models/debias/intervention.js';
import { assignPatterns } from '../../models/patterns.js';
import { predictSplit } from '../../run/predict.js';
import { progress } from '../../util/progress.js';
import { PatientSampler } from '../sampler.js';
import type { PartContext } from './part.js';

export interface BiasScores {
  train: Float32Array;
  val: Float32Array;
  steps: number;
}

export function fitBiasNetwork(ctx: PartContext, weights: Float32Array | null, rate: number): BiasScores {
  const { ds, cfg, opts, dict, trainPat, valPat } = ctx;
  const { train, val } = ds.splits;
  const K = ds.modalities.length;
  const perEpoch = new PatientSampler(train.ids.length, opts.batchSize, 0).batchesPerEpoch;
  const steps = biasSteps(cfg.biasSteps, perEpoch);
  const linear = (cfg.biasBackbone ?? 'lr') === 'lr';
  const net = createModel(ds.modalities, dict, { ...cfg, backbone: linear ? 'lr' : cfg.backbone, debias: 'none', maskFeatures: true });
  const params = net.parameters();
  // A linear bias network takes the 'lr' backbone's rate (its 'auto'), unless a rate was asked for.
  const lr = linear && opts.lrAsked === 'auto' ? 1e-2 : opts.lr;
  const optim = new Adam(params, { lr, weightDecay: opts.weightDecay });
  const sampler = new PatientSampler(train.ids.length, opts.batchSize, opts.seed + 7919);
  const rand = mulberry32((opts.seed * 2654435761 + 0x1b873593) >>> 0);
  let pos = 0;
  for (const y of train.labels) pos += y >= 0.5 ? 1 : 0;
  const posW = pos > 0 ? (train.labels.length - pos) / pos : 1;
  const bar = progress(`${ctx.label ?? 'train'} bias net`, steps, { quiet: ctx.quiet });
  try {
    net.train();
    let step = 0;
    while (step < steps) {
      for (const rows of sampler.nextEpoch()) {
        if (step >= steps) break;
        tidy(() => {
          const mask = rate > 0 ? interveneMasks(train.mask, K, rows, rate, rand) : null;
          const batch = makeBatch(train, rows, ds.modalities, trainPat, mask ? { mask, patternIdx: assignPatterns(mask, K, dict) } : undefined);
          // Classes balanced: GCE's gradient vanishes on the patients it gives little probability, so on a rare outcome
          // an unweighted bias network collapses to "nobody is positive" and ranks at random (seen at 15% prevalence).
          const w = tensor(Float32Array.from(rows, (r) => (weights ? weights[r] : 1) * (train.labels[r] >= 0.5 ? posW : 1)), [rows.length]);
          const loss = gce(net.forward(batch).logitFactual, batch.labels!, cfg.gceQ, w);
          optim.zeroGrad();
          loss.backward();
          if (opts.clipNorm > 0) clipGradNorm(params, opts.clipNorm);
          optim.step();
        });
        bar.update(++step);
      }
    }
    bar.stop();
    const trainScores = predictSplit(net, train, ds.modalities, trainPat, opts.evalBatchSize).p;
    const valScores = predictSplit(net, val, ds.modalities, valPat, opts.evalBatchSize).p;
    return { train: trainScores, val: valScores, steps };
  } finally {
    optim.dispose();
    net.dispose();
  }
}

/** Steps of the bias network: a number, or 'auto' = 3 epochs (as the reference's bias network). */
export function biasSteps(v: number | 'auto' | undefined, perEpoch: number): number {
  return v === undefined || v === 'auto' ? 3 * perEpoch : v;
}
