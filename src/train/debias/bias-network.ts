// The separate bias network of the dual branch: a plain model (its own parameters; the main model's backbone, or
// 'lr' with --bias-backbone lr) that reads the factual data and the mask, trained first with class-balanced GCE for
// a fixed number of steps, so that it fits the easy, shortcut part of the label signal, the testing habit included.
import { Adam, clipGradNorm, manualSeed, noGrad, tensor, tidy } from '../../engine/index.js';
import type { ModalityInfo, SplitArrays } from '../../data/types.js';
import type { BackboneName } from '../../models/types.js';
import { makeBatch } from '../../models/batch.js';
import { createModel, type CdmmModel } from '../../models/index.js';
import { gce } from '../../models/losses.js';
import { predictSplit } from '../../run/predict.js';
import { progress } from '../../util/progress.js';
import { autoRate } from '../options.js';
import { PatientSampler } from '../sampler.js';
import type { PartContext } from './part.js';

export interface BiasScores {
  train: Float32Array;
  val: Float32Array;
  steps: number;
  /** The bias network's fused representation z (N × dim, row-major), when asked for. */
  features?: { train: Float32Array; val: Float32Array; dim: number };
}

export function fitBiasNetwork(ctx: PartContext, want: { features?: boolean; backbone?: BackboneName } = {}): BiasScores {
  const { ds, cfg, opts, dict, trainPat, valPat } = ctx;
  const { train, val } = ds.splits;
  const choice = cfg.biasBackbone ?? 'same';
  const backbone = want.backbone ?? (choice === 'same' ? cfg.backbone : choice);
  // Its start depends on the seed alone, not on what ran before it: the gate's early-fusion network is then the same
  // network for every backbone on a seed, so all backbones of a benchmark take the same gate decision on a split.
  manualSeed(opts.seed);
  const net = createModel(ds.modalities, dict, { ...cfg, backbone, debias: 'none', maskFeatures: true });
  const params = net.parameters();
  // The bias network's own backbone's rate (its 'auto'), unless a rate was asked for.
  const lr = opts.lrAsked === 'auto' ? autoRate(backbone) : opts.lr;
  const optim = new Adam(params, { lr, weightDecay: opts.weightDecay });
  const sampler = new PatientSampler(train.ids.length, opts.batchSize, opts.seed + 7919);
  const steps = biasSteps(cfg.biasSteps, sampler.batchesPerEpoch);
  let pos = 0;
  for (const y of train.labels) pos += y >= 0.5 ? 1 : 0;
  const posW = pos > 0 ? (train.labels.length - pos) / pos : 1;
  const bar = progress(`${ctx.label ?? 'train'} ${want.backbone ? `${backbone} bias net (gate)` : 'bias net'}`, steps, { quiet: ctx.quiet });
  try {
    net.train();
    let step = 0;
    while (step < steps) {
      for (const rows of sampler.nextEpoch()) {
        if (step >= steps) break;
        tidy(() => {
          const batch = makeBatch(train, rows, ds.modalities, trainPat);
          // Classes balanced: GCE's gradient vanishes on the patients it gives little probability, so on a rare outcome
          // an unweighted bias network collapses to "nobody is positive" and ranks at random (seen at 15% prevalence).
          const w = tensor(Float32Array.from(rows, (r) => (train.labels[r] >= 0.5 ? posW : 1)), [rows.length]);
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
    let features: BiasScores['features'];
    if (want.features) {
      const zt = fuseSplit(net, train, ds.modalities, trainPat, opts.evalBatchSize);
      features = { train: zt, val: fuseSplit(net, val, ds.modalities, valPat, opts.evalBatchSize), dim: zt.length / Math.max(1, train.ids.length) };
    }
    return { train: trainScores, val: valScores, steps, features };
  } finally {
    optim.dispose();
    net.dispose();
  }
}

/** The model's fused representation z for a whole split (eval mode, no gradient), N × dim row-major. */
function fuseSplit(net: CdmmModel, split: SplitArrays, modalities: ModalityInfo[], pat: Int32Array, batchSize: number): Float32Array {
  const n = split.ids.length;
  const wasTraining = net.training;
  net.eval();
  let out: Float32Array | null = null;
  try {
    noGrad(() => {
      for (let start = 0; start < n; start += batchSize) {
        const rows = Int32Array.from({ length: Math.min(batchSize, n - start) }, (_, r) => start + r);
        tidy(() => {
          const z = net.fuse(makeBatch(split, rows, modalities, pat));
          const d = z.size(1);
          out ??= new Float32Array(n * d);
          out.set(z.contiguous().toArray() as Float32Array, start * d);
        });
      }
    });
  } finally {
    net.train(wasTraining);
  }
  return out ?? new Float32Array(0);
}

/** Steps of the bias network: a number, or 'auto' = 3 epochs (as the reference's bias network). */
export function biasSteps(v: number | 'auto' | undefined, perEpoch: number): number {
  return v === undefined || v === 'auto' ? 3 * perEpoch : v;
}
