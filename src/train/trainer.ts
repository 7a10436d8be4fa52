// The training loop: seeded batches by patient, Adam/AdamW, LR schedule, gradient clipping, early stopping on
// validation AUPRC with the best epoch's weights kept in memory and restored at the end.
import {
  Adam, AdamW, CosineLR, OneCycleLR, clipGradNorm, manualSeed, setNumThreads, tidy,
  type LrSchedule, type Optimizer, type Tensor,
} from '../engine/index.js';
import { auprc, auroc } from '../eval/metrics.js';
import { makeBatch } from '../models/batch.js';
import { createModel, type CdmmModel } from '../models/index.js';
import { assignPatterns, buildPatternDictionary, modalityDropout } from '../models/patterns.js';
import { mulberry32 } from '../data/rng.js';
import type { ModelConfig, PatternDictionary } from '../models/types.js';
import type { PreparedDataset } from '../data/types.js';
import { CdmmError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { checkTrainOptions, resolvePosWeight, type TrainOptions } from './options.js';
import { predictSplit } from '../run/predict.js';
import { PatientSampler } from './sampler.js';

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  val_auroc: number | null;
  val_auprc: number | null;
  lr: number;
  seconds: number;
  /** Mean of each loss part over the epoch's batches. */
  parts: Record<string, number>;
}

export interface TrainResult {
  /** The model with the best epoch's weights, in eval mode. */
  model: CdmmModel;
  dict: PatternDictionary;
  history: EpochRecord[];
  /** 1-based epoch whose weights the model holds. */
  bestEpoch: number;
  bestValAuprc: number;
  posWeight: number;
  stoppedEarly: boolean;
}

export interface TrainHooks {
  quiet?: boolean;
  /** Prefix of the progress bar (e.g. the run name in a benchmark). */
  label?: string;
  onEpoch?: (r: EpochRecord) => void;
}

export function trainModel(ds: PreparedDataset, modelCfg: ModelConfig, opts: TrainOptions, hooks: TrainHooks = {}): TrainResult {
  checkTrainOptions(opts);
  const { train, val } = ds.splits;
  const K = ds.modalities.length;
  if (train.ids.length < 2) throw new CdmmError(`dataset '${ds.name}': the training split has ${train.ids.length} patient(s)`);
  const valPos = val.labels.reduce((a, b) => a + b, 0);
  if (valPos === 0 || valPos === val.labels.length)
    throw new CdmmError(`dataset '${ds.name}': the validation split has a single class, so early stopping on validation AUPRC is impossible`);

  setNumThreads(opts.threads);
  manualSeed(opts.seed);
  const posWeight = resolvePosWeight(opts.posWeight, train.labels);
  const dict = buildPatternDictionary(train.mask, K);
  const trainPat = assignPatterns(train.mask, K, dict);
  const valPat = assignPatterns(val.mask, K, dict);
  const model = createModel(ds.modalities, dict, modelCfg);

  const params = model.parameters();
  const optim: Optimizer = opts.optimizer === 'adam'
    ? new Adam(params, { lr: opts.lr, weightDecay: opts.weightDecay })
    : new AdamW(params, { lr: opts.lr, weightDecay: opts.weightDecay });
  const sampler = new PatientSampler(train.ids.length, opts.batchSize, opts.seed);
  const totalSteps = opts.epochs * sampler.batchesPerEpoch;
  const sched: LrSchedule | null = opts.schedule === 'cosine' ? new CosineLR(optim, totalSteps, opts.lr / 100)
    : opts.schedule === 'onecycle' ? new OneCycleLR(optim, opts.lr, totalSteps) : null;
  // Per-patient state the model may keep across epochs (EMA of the bias weights), indexed by training row.
  const emaWeights = new Float32Array(train.ids.length).fill(Number.NaN);
  // Modality dropout: its own seeded stream, so the batch order and the weights' init do not change with it.
  const dropP = opts.modalityDropout ?? 0;
  const dropRand = dropP > 0 ? mulberry32((opts.seed * 2246822519 + 0x27d4eb2f) >>> 0) : null;

  const history: EpochRecord[] = [];
  let best = -Infinity;
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
        const ctx = { epoch: epoch - 1, posWeight, emaWeights };
        const { loss, parts } = tidy(() => {
          const override = dropRand ? modalityDropout(train.mask, K, rows, dropP, dict, dropRand) : undefined;
          const batch = makeBatch(train, rows, ds.modalities, trainPat, override);
          const out = model.forward(batch);
          const l = model.loss(out, batch, ctx);
          optim.zeroGrad();
          l.total.backward();
          if (opts.clipNorm > 0) clipGradNorm(params, opts.clipNorm);
          optim.step();
          return { loss: l.total.item(), parts: l.parts };
        });
        if (!Number.isFinite(loss))
          throw new CdmmError(`training diverged at epoch ${epoch}: the loss is ${loss}; try a lower --lr (now ${opts.lr}) or --clip-norm`);
        sched?.step();
        lossSum += loss * rows.length;
        count += rows.length;
        for (const [k, v] of Object.entries(parts)) partSums[k] = (partSums[k] ?? 0) + v * rows.length;
        step++;
        bar.update(step, { epoch: `${epoch}/${opts.epochs}`, loss: (lossSum / count).toFixed(4), val_auprc: lastVal });
      }
      const vp = predictSplit(model, val, ds.modalities, valPat, opts.evalBatchSize).p;
      const vAuprc = auprc(val.labels, vp);
      const vAuroc = auroc(val.labels, vp);
      const rec: EpochRecord = {
        epoch,
        train_loss: lossSum / count,
        val_auroc: Number.isFinite(vAuroc) ? vAuroc : null,
        val_auprc: Number.isFinite(vAuprc) ? vAuprc : null,
        lr: optim.lr,
        seconds: (performance.now() - t0) / 1000,
        parts: Object.fromEntries(Object.entries(partSums).map(([k, v]) => [k, v / count])),
      };
      history.push(rec);
      hooks.onEpoch?.(rec);
      lastVal = Number.isFinite(vAuprc) ? vAuprc.toFixed(4) : '-';
      if (vAuprc > best) {
        best = vAuprc;
        bestEpoch = epoch;
        sinceBest = 0;
        bestState?.forEach((t) => t.dispose());
        bestState = snapshot(model);
      } else if (opts.patience > 0 && ++sinceBest >= opts.patience) {
        stoppedEarly = epoch < opts.epochs;
        break;
      }
    }
  } finally {
    bar.update(totalSteps, { epoch: `best ${bestEpoch}`, val_auprc: Number.isFinite(best) ? best.toFixed(4) : '-' });
    bar.stop();
    optim.dispose();
  }
  if (!bestState) throw new CdmmError(`dataset '${ds.name}': the validation AUPRC was never finite; nothing to keep`);
  model.loadStateDict(bestState);
  bestState.forEach((t) => t.dispose());
  model.eval();
  return { model, dict, history, bestEpoch, bestValAuprc: best, posWeight, stoppedEarly };
}

/** Copies of every parameter and buffer (not views: later optimizer steps must not change them). */
function snapshot(model: CdmmModel): Map<string, Tensor> {
  return tidy(() => {
    const out = new Map<string, Tensor>();
    for (const [k, t] of model.stateDict()) out.set(k, t.detach().clone());
    return out;
  });
}
