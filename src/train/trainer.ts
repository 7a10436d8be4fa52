// The training loop: the debiasing parts prepared first (src/train/debias/), then seeded batches by patient under
// do(M) with the parts' per-patient weights, Adam/AdamW, LR schedule, gradient clipping, an exponential moving
// average of the weights, and early stopping on the reweighted validation score with the best epoch's (averaged)
// weights kept in memory and restored at the end.
import {
  Adam, AdamW, CosineLR, OneCycleLR, clipGradNorm, manualSeed, noGrad, setNumThreads, tensor, tidy,
  type LrSchedule, type Optimizer, type Tensor,
} from '../engine/index.js';
import { auprc, auroc, weightedAuroc } from '../eval/metrics.js';
import { makeBatch } from '../models/batch.js';
import { createModel, type CdmmModel } from '../models/index.js';
import { assignPatterns, buildPatternDictionary, modalityDropout } from '../models/patterns.js';
import { interveneMasks } from '../models/debias/intervention.js';
import { combineWeights } from '../models/debias/weights.js';
import { mulberry32 } from '../data/rng.js';
import { builtDebias, type ModelConfig, type PatternDictionary } from '../models/types.js';
import type { PreparedDataset } from '../data/types.js';
import { CdmmError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { checkTrainOptions, resolveAuto, resolvePosWeight, type TrainOptions } from './options.js';
import { predictSplit } from '../run/predict.js';
import { PatientSampler, cutPoints } from './sampler.js';
import { DEBIAS_PARTS, type PreparedPart, type ResolvedTrainOptions } from './debias/index.js';

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_auroc: number | null;
  /** Validation AUROC reweighted by the debiasing parts' validation weights (= val_auroc without them). */
  val_auroc_w: number | null;
  val_auprc: number | null;
  /** Reweighted validation log-loss. */
  val_loss_w: number | null;
  lr: number;
  seconds: number;
  /** Mean of each loss part over the epoch's batches. */
  parts: Record<string, number>;
}

export interface TrainResult {
  /** The model with the best epoch's weights, in eval mode. */
  model: CdmmModel;
  /** The configuration the model was built with: the one asked, less the parts whose gates found nothing (builtDebias). */
  modelConfig: ModelConfig;
  dict: PatternDictionary;
  history: EpochRecord[];
  /** 1-based epoch whose weights the model holds. */
  bestEpoch: number;
  /** The selection score of that epoch (reweighted val log-loss, or reweighted val AUROC with --select auroc). */
  bestScore: number;
  posWeight: number;
  stoppedEarly: boolean;
  /** The training options actually used (every 'auto' resolved). */
  resolved: ResolvedTrainOptions;
  /** What each debiasing part decided (run folder: config.debias_parts). */
  parts: Record<string, PreparedPart['record']>;
  /** Notes for the user (gate decisions, nothing to adjust, ...). */
  notes: string[];
  /** Validation weights the selection used (null = none). */
  valWeights: Float32Array | null;
}

export interface TrainHooks {
  quiet?: boolean;
  /** Prefix of the progress bar (e.g. the run name in a benchmark). */
  label?: string;
  onEpoch?: (r: EpochRecord) => void;
  /** False without --overwrite: a run folder that appears at the output meanwhile is not replaced. */
  mayReplace?: boolean;
}

/** Polyak averaging of the parameters: shadow ← β·shadow + (1 − β)·θ after every step. */
class WeightAverage {
  private readonly shadow: Tensor[];
  constructor(private readonly params: Tensor[], private readonly beta: number) {
    this.shadow = noGrad(() => params.map((p) => p.detach().clone()));
  }
  update(): void {
    noGrad(() => tidy(() => { this.params.forEach((p, i) => this.shadow[i].copy_(this.shadow[i].mul(this.beta).add(p.detach().mul(1 - this.beta)))); }));
  }
  /** Runs f with the averaged weights in the model, then puts the trained ones back. */
  with<T>(f: () => T): T {
    const saved = noGrad(() => this.params.map((p) => p.detach().clone()));
    try {
      noGrad(() => this.params.forEach((p, i) => p.copy_(this.shadow[i])));
      return f();
    } finally {
      noGrad(() => this.params.forEach((p, i) => p.copy_(saved[i])));
      saved.forEach((t) => t.dispose());
    }
  }
  dispose(): void { this.shadow.forEach((t) => t.dispose()); }
}

/** Weighted mean log-loss of p. */
function weightedLogLoss(y: Float32Array, p: Float32Array, w: Float32Array | null): number {
  let s = 0, sw = 0;
  for (let i = 0; i < y.length; i++) {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p[i]));
    const wi = w ? w[i] : 1;
    s -= wi * (y[i] >= 0.5 ? Math.log(q) : Math.log(1 - q));
    sw += wi;
  }
  return s / sw;
}

export function trainModel(ds: PreparedDataset, modelCfg: ModelConfig, optsIn: TrainOptions, hooks: TrainHooks = {}): TrainResult {
  checkTrainOptions(optsIn);
  const { train, val } = ds.splits;
  const K = ds.modalities.length;
  const n = train.ids.length;
  if (n < 2) throw new CdmmError(`dataset '${ds.name}': the training split has ${n} patient(s)`);
  const valPos = val.labels.reduce((a, b) => a + b, 0);
  if (valPos === 0 || valPos === val.labels.length)
    throw new CdmmError(`dataset '${ds.name}': the validation split has a single class (${valPos === 0 ? 'no patient with the outcome' : 'every patient with it'}, ${val.labels.length} patients), so validation cannot pick an epoch; give a larger split.fractions.val, another split.seed, or more patients`);
  const sizes = resolveAuto(optsIn, n, modelCfg.backbone, (b) => cutPoints(n, b).length - 1);
  const opts: ResolvedTrainOptions = { ...optsIn, batchSize: sizes.batchSize, lr: sizes.lr, patience: sizes.patience, lrAsked: optsIn.lr };

  setNumThreads(opts.threads);
  manualSeed(opts.seed);
  const posWeight = resolvePosWeight(opts.posWeight, train.labels);
  const dict = buildPatternDictionary(train.mask, K);
  const trainPat = assignPatterns(train.mask, K, dict);
  const valPat = assignPatterns(val.mask, K, dict);

  // The debiasing parts, in registry order, each seeing the ones before it.
  const prepared: PreparedPart[] = [];
  for (const part of DEBIAS_PARTS) {
    if (!part.applies(modelCfg)) continue;
    prepared.push(part.prepare({ ds, cfg: modelCfg, opts, dict, trainPat, valPat, before: prepared, quiet: hooks.quiet, label: hooks.label }));
  }
  const cap = modelCfg.weightCap ?? 20;
  const lastJoint = prepared.map((p) => !!(p.supersedes && p.trainWeights)).lastIndexOf(true);
  const weighting = prepared.slice(Math.max(0, lastJoint));
  const trainParts = weighting.filter((p) => p.trainWeights).map((p) => p.trainWeights!);
  const valParts = weighting.filter((p) => p.valWeights).map((p) => p.valWeights!);
  const trainWeights = trainParts.length ? combineWeights(trainParts, cap) : null;
  const valWeights = valParts.length ? combineWeights(valParts, cap) : null;
  const rate = prepared.find((p) => p.intervention !== undefined)?.intervention ?? 0;

  // A deconfounder that found nothing to adjust, or a separate dual branch whose gate is off, is left out of the
  // model (builtDebias; the gates: src/train/debias/); with both out it is the plain one, the same computation as --debias none.
  const noDeconfounder = prepared.some((p) => p.name === 'deconfound' && p.active === false);
  const noDual = (modelCfg.dualBranch ?? 'separate') === 'separate' && prepared.some((p) => p.name === 'dual' && p.record.on === false);
  const asked = modelCfg.debias;
  const kept = builtDebias(asked, { deconfound: noDeconfounder, dual: noDual });
  const builtCfg: ModelConfig = kept === asked ? modelCfg : { ...modelCfg, debias: kept };
  manualSeed(opts.seed); // the main model's initial weights do not depend on which parts ran before it
  const model = createModel(ds.modalities, dict, builtCfg);
  const params = model.parameters();
  const optim: Optimizer = opts.optimizer === 'adam'
    ? new Adam(params, { lr: opts.lr, weightDecay: opts.weightDecay })
    : new AdamW(params, { lr: opts.lr, weightDecay: opts.weightDecay });
  const sampler = new PatientSampler(n, opts.batchSize, opts.seed);
  const totalSteps = opts.epochs * sampler.batchesPerEpoch;
  const sched: LrSchedule | null = opts.schedule === 'cosine' ? new CosineLR(optim, totalSteps, opts.lr / 100)
    : opts.schedule === 'onecycle' ? new OneCycleLR(optim, opts.lr, totalSteps) : null;
  // The weight average starts from the initial weights; over few steps it would keep much of them (0.99 over 30
  // steps: 74%), so its decay is lowered until the start's share at the last step is at most e⁻³ (5%). Runs of
  // 300 steps or more keep the asked decay.
  const emaAsked = opts.ema ?? 0;
  const emaUsed = emaAsked > 0 ? Math.max(0, Math.min(emaAsked, 1 - 3 / Math.max(1, totalSteps))) : 0;
  const emaNote = emaUsed < emaAsked
    ? [`weight average (--ema ${emaAsked}) lowered to ${emaUsed.toFixed(3)}: ${totalSteps} training steps are too few for it to forget the initial weights`]
    : [];
  const ema = emaUsed > 0 ? new WeightAverage(params, emaUsed) : null;
  // Per-patient state the joint dual branch may keep across epochs (EMA of its bias weights), by training row.
  const emaWeights = new Float32Array(n).fill(Number.NaN);
  // Modality dropout and do(M): their own seeded streams, so the batch order and the init do not change with them.
  const dropP = opts.modalityDropout ?? 0;
  const dropRand = dropP > 0 ? mulberry32((opts.seed * 2246822519 + 0x27d4eb2f) >>> 0) : null;
  const doRand = rate > 0 ? mulberry32((opts.seed * 3266489917 + 0x165667b1) >>> 0) : null;
  const select = opts.select ?? 'loss';

  const history: EpochRecord[] = [];
  let best = -Infinity; // the selection score, higher = better (the loss enters negated)
  let bestEpoch = 0;
  let bestState: Map<string, Tensor> | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  const bar = progress(hooks.label ?? 'train', totalSteps, { quiet: hooks.quiet });
  let step = 0;
  let lastVal = '-';
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const t0 = performance.now();
      model.train();
      let lossSum = 0;
      let count = 0;
      const partSums: Record<string, number> = {};
      for (const rows of sampler.nextEpoch()) {
        const { loss, parts } = tidy(() => {
          let override = dropRand ? modalityDropout(train.mask, K, rows, dropP, dict, dropRand) : undefined;
          if (doRand) {
            // After modality dropout the batch mask is per batch row, so do(M) reads rows 0..B−1 of it (donors: the batch).
            const mask = override ? interveneMasks(override.mask, K, identityRows(rows.length), rate, doRand) : interveneMasks(train.mask, K, rows, rate, doRand);
            override = { mask, patternIdx: assignPatterns(mask, K, dict) };
          }
          const batch = makeBatch(train, rows, ds.modalities, trainPat, override);
          const sampleWeight = trainWeights ? tensor(Float32Array.from(rows, (r) => trainWeights[r]), [rows.length]) : undefined;
          const out = model.forward(batch);
          const l = model.loss(out, batch, { epoch: epoch - 1, posWeight, emaWeights, sampleWeight });
          optim.zeroGrad();
          l.total.backward();
          if (opts.clipNorm > 0) clipGradNorm(params, opts.clipNorm);
          optim.step();
          return { loss: l.total.item(), parts: l.parts };
        });
        if (!Number.isFinite(loss))
          throw new CdmmError(`training diverged at epoch ${epoch}: the loss is ${loss}; try a lower --lr (now ${opts.lr}) or --clip-norm`);
        ema?.update();
        sched?.step();
        lossSum += loss * rows.length;
        count += rows.length;
        for (const [k, v] of Object.entries(parts)) partSums[k] = (partSums[k] ?? 0) + v * rows.length;
        step++;
        bar.update(step, { epoch: `${epoch}/${opts.epochs}`, loss: (lossSum / count).toFixed(4), val: lastVal });
      }
      const validate = () => predictSplit(model, val, ds.modalities, valPat, opts.evalBatchSize).p;
      const vp = ema ? ema.with(validate) : validate();
      const vAuprc = auprc(val.labels, vp);
      const vAuroc = auroc(val.labels, vp);
      const vAurocW = valWeights ? weightedAuroc(val.labels, vp, valWeights) : vAuroc;
      const vLoss = weightedLogLoss(val.labels, vp, valWeights);
      const rec: EpochRecord = {
        epoch,
        train_loss: lossSum / count,
        val_auroc: finite(vAuroc),
        val_auroc_w: finite(vAurocW),
        val_auprc: finite(vAuprc),
        val_loss_w: finite(vLoss),
        lr: optim.lr,
        seconds: (performance.now() - t0) / 1000,
        parts: Object.fromEntries(Object.entries(partSums).map(([k, v]) => [k, v / count])),
      };
      history.push(rec);
      hooks.onEpoch?.(rec);
      const score = select === 'loss' ? -vLoss : vAurocW;
      lastVal = select === 'loss' ? `loss_w ${vLoss.toFixed(4)}` : `auroc_w ${vAurocW.toFixed(4)}`;
      if (score > best) {
        best = score;
        bestEpoch = epoch;
        sinceBest = 0;
        bestState?.forEach((t) => t.dispose());
        bestState = ema ? ema.with(() => snapshot(model)) : snapshot(model);
      } else if (opts.patience > 0 && ++sinceBest >= opts.patience) {
        stoppedEarly = epoch < opts.epochs;
        break;
      }
    }
  } finally {
    bar.update(totalSteps, { epoch: `best ${bestEpoch}`, val: lastVal });
    bar.stop();
    optim.dispose();
    ema?.dispose();
  }
  if (!bestState) throw new CdmmError(`dataset '${ds.name}': the validation score was never finite; nothing to keep`);
  model.loadStateDict(bestState);
  bestState.forEach((t) => t.dispose());
  model.eval();
  return {
    model, modelConfig: builtCfg, dict, history, bestEpoch, bestScore: select === 'loss' ? -best : best, posWeight, stoppedEarly,
    resolved: { ...opts, ema: emaUsed },
    parts: Object.fromEntries(prepared.map((p) => [p.name, p.record])),
    notes: [...prepared.flatMap((p) => p.notes), ...emaNote],
    valWeights,
  };
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function identityRows(b: number): Int32Array { return Int32Array.from({ length: b }, (_, i) => i); }

/** Copies of every parameter and buffer (not views: later optimizer steps must not change them). */
function snapshot(model: CdmmModel): Map<string, Tensor> {
  return tidy(() => {
    const out = new Map<string, Tensor>();
    for (const [k, t] of model.stateDict()) out.set(k, t.detach().clone());
    return out;
  });
}
