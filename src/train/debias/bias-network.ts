// The separate bias network of the dual branch: a plain model (its own parameters; the main model's backbone, or
// 'lr' with --bias-backbone lr) that reads the factual data and the mask, trained first with class-balanced GCE for
// a fixed number of steps, so that it fits the easy, shortcut part of the label signal, the testing habit included.
// Its refinement (--bias-refine) trains a partner on the first one's balancing weights and a second bias network
// kept uncorrelated with that partner within each label.
import { Adam, clipGradNorm, manualSeed, noGrad, tensor, tidy, type Tensor } from '../../engine/index.js';
import type { ModalityInfo, SplitArrays } from '../../data/types.js';
import type { BackboneName } from '../../models/types.js';
import { makeBatch } from '../../models/batch.js';
import { createModel, type CdmmModel } from '../../models/index.js';
import { gce, withinLabelCorr2 } from '../../models/losses.js';
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

export function fitBiasNetwork(
  ctx: PartContext,
  want: { features?: boolean; backbone?: BackboneName; against?: { logits: Float32Array; lambda: number } } = {},
): BiasScores {
  const { ds, opts, trainPat, valPat } = ctx;
  const { train, val } = ds.splits;
  const backbone = want.backbone ?? biasBackboneOf(ctx);
  const what = want.backbone ? `${backbone} bias net (gate)` : want.against ? 'bias net (refined)' : 'bias net';
  const { net, steps } = trainSideNetwork(ctx, backbone, { loss: 'gce', against: want.against }, opts.seed, what);
  try {
    const trainScores = predictSplit(net, train, ds.modalities, trainPat, opts.evalBatchSize).p;
    const valScores = predictSplit(net, val, ds.modalities, valPat, opts.evalBatchSize).p;
    let features: BiasScores['features'];
    if (want.features) {
      const zt = fuseSplit(net, train, ds.modalities, trainPat, opts.evalBatchSize);
      features = { train: zt, val: fuseSplit(net, val, ds.modalities, valPat, opts.evalBatchSize), dim: zt.length / Math.max(1, train.ids.length) };
    }
    return { train: trainScores, val: valScores, steps, features };
  } finally {
    net.dispose();
  }
}

/**
 * The refinement's partner: a network like the bias network trained for as many steps with cross-entropy weighted by
 * the first bias network's balancing weights, so that it holds what the balancing kept. Its logits on the training
 * patients.
 */
export function fitPartnerNetwork(ctx: PartContext, weights: Float32Array): Float32Array {
  const { ds, opts, trainPat } = ctx;
  const { net } = trainSideNetwork(ctx, biasBackboneOf(ctx), { loss: 'ce', weights }, opts.seed + 1, 'bias net partner');
  try {
    const p = predictSplit(net, ds.splits.train, ds.modalities, trainPat, opts.evalBatchSize).p;
    return Float32Array.from(p, (v) => Math.log(Math.max(1e-7, v) / Math.max(1e-7, 1 - v)));
  } finally {
    net.dispose();
  }
}

function biasBackboneOf(ctx: PartContext): BackboneName {
  const choice = ctx.cfg.biasBackbone ?? 'same';
  return choice === 'same' ? ctx.cfg.backbone : choice;
}

interface SideLoss {
  /** 'gce': class-balanced GCE (the bias network); 'ce': cross-entropy weighted by `weights` (the partner). */
  loss: 'gce' | 'ce';
  weights?: Float32Array;
  /** Fixed logits of the training patients that the network's logit is decorrelated from within each label. */
  against?: { logits: Float32Array; lambda: number };
}

/** Trains a plain model of the given backbone (mask features on) for the bias network's steps; the caller disposes it. */
function trainSideNetwork(ctx: PartContext, backbone: BackboneName, how: SideLoss, seed: number, what: string): { net: CdmmModel; steps: number } {
  const { ds, cfg, opts, dict, trainPat } = ctx;
  const { train } = ds.splits;
  // Its start depends on the seed alone, not on what ran before it: the gate's early-fusion network is then the same
  // network for every backbone on a seed, so all backbones of a benchmark take the same gate decision on a split.
  manualSeed(seed);
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
  const bar = progress(`${ctx.label ?? 'train'} ${what}`, steps, { quiet: ctx.quiet });
  try {
    net.train();
    let step = 0;
    while (step < steps) {
      for (const rows of sampler.nextEpoch()) {
        if (step >= steps) break;
        tidy(() => {
          const batch = makeBatch(train, rows, ds.modalities, trainPat);
          const y = batch.labels!;
          const logit = net.forward(batch).logitFactual;
          let loss: Tensor;
          if (how.loss === 'gce') {
            // Classes balanced: GCE's gradient vanishes on the patients it gives little probability, so on a rare outcome
            // an unweighted bias network collapses to "nobody is positive" and ranks at random (seen at 15% prevalence).
            const w = tensor(Float32Array.from(rows, (r) => (train.labels[r] >= 0.5 ? posW : 1)), [rows.length]);
            loss = gce(logit, y, cfg.gceQ, w);
          } else {
            const w = how.weights;
            const nll = logit.mul(y.mul(2).sub(1)).logSigmoid().neg();
            loss = (w ? nll.mul(tensor(Float32Array.from(rows, (r) => w[r]), [rows.length])) : nll).mean();
          }
          if (how.against && how.against.lambda > 0) {
            const other = tensor(Float32Array.from(rows, (r) => how.against!.logits[r]), [rows.length]);
            loss = loss.add(withinLabelCorr2(logit, other, y).mul(how.against.lambda));
          }
          optim.zeroGrad();
          loss.backward();
          if (opts.clipNorm > 0) clipGradNorm(params, opts.clipNorm);
          optim.step();
        });
        bar.update(++step);
      }
    }
    bar.stop();
    return { net, steps };
  } catch (e) {
    net.dispose();
    throw e;
  } finally {
    optim.dispose();
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
