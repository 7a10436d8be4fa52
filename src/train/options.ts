// Training hyper-parameters (optimizer, schedule, stopping, sampling) with defaults sized for small
// tabular-ish clinical datasets (a few thousand patients).
import { availableParallelism } from 'node:os';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../models/calibrator.js';
import { CdmmError } from '../util/errors.js';

/** --threads above this is a typo, not a machine. */
const MAX_THREADS = 256;

export type OptimizerName = 'adam' | 'adamw';
export type ScheduleName = 'cosine' | 'onecycle' | 'none';
/** 'auto' = negatives / positives of the training split; 'none' = 1; or a number. */
export type PosWeightOption = 'auto' | 'none' | number;

export interface TrainOptions {
  /** Model seed: libtorch's generator (initial weights, dropout) and the batch shuffles. */
  seed: number;
  epochs: number;
  /** 'auto' = n/40 for n training patients, as a power of 2 in [32, 256] (small cohorts get enough steps). */
  batchSize: number | 'auto';
  /** 'auto' = 1e-3 (1e-2 for the 'lr' backbone, a linear model). */
  lr: number | 'auto';
  weightDecay: number;
  optimizer: OptimizerName;
  schedule: ScheduleName;
  /** Epochs without a better validation score before stopping (0 = never); 'auto' = max(6, ⌈200 / steps per epoch⌉). */
  patience: number | 'auto';
  /**
   * What picks the epoch kept (and stops early): 'loss' = the validation log-loss reweighted by the debiasing parts'
   * weights (plain log-loss without them), 'auroc' = the reweighted validation AUROC.
   */
  select?: 'loss' | 'auroc';
  /** Exponential moving average of the weights (0 = off): the averaged weights are validated and kept. */
  ema?: number;
  /** Maximum global gradient norm (0 = no clipping). */
  clipNorm: number;
  posWeight: PosWeightOption;
  /** libtorch intra-op threads. */
  threads: number;
  /** Bootstrap resamples for the metric intervals. */
  bootstrap: number;
  /** Batch size for inference. */
  evalBatchSize: number;
  /**
   * Modality dropout: in training batches, each observed modality is hidden with this probability (≥ 1 kept; the
   * pattern is re-assigned for the new mask). 0 = off. Validation, test and serving never see it.
   */
  modalityDropout?: number;
  /**
   * Calibration of the served risk, fitted on the validation split's p_do after training and stored in the run
   * (src/models/calibrator.ts). Absent = 'platt'.
   */
  calibration?: CalibrationMethod;
}

/** The calibration method a run uses. */
export const calibrationOf = (o: TrainOptions): CalibrationMethod => o.calibration ?? 'platt';

export const defaultTrainOptions: TrainOptions = {
  seed: 0,
  epochs: 40,
  batchSize: 'auto',
  lr: 'auto',
  weightDecay: 1e-4,
  optimizer: 'adamw',
  schedule: 'cosine',
  patience: 'auto',
  select: 'loss',
  ema: 0.99,
  clipNorm: 1,
  posWeight: 'none',
  threads: 1,
  bootstrap: 1000,
  evalBatchSize: 1024,
  calibration: 'platt',
};

/** Largest learning rate accepted. */
export const MAX_LR = 10;

/** Checks the ranges of every option; the message names the option as the CLI spells it. */
export function checkTrainOptions(o: TrainOptions): TrainOptions {
  const bad = (flag: string, v: unknown, why: string): never => {
    throw new CdmmError(`--${flag} ${String(v)}: ${why}`);
  };
  const int = (flag: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) bad(flag, v, `expected an integer ≥ ${min}`);
  };
  int('seed', o.seed, 0);
  int('epochs', o.epochs, 1);
  if (o.batchSize !== 'auto') int('batch-size', o.batchSize, 2);
  if (o.patience !== 'auto') int('patience', o.patience, 0);
  int('threads', o.threads, 1);
  // More threads than any machine has cores only slows libtorch down (1000 on 2 cores: 20x slower).
  if (o.threads > MAX_THREADS) bad('threads', o.threads, `expected at most ${MAX_THREADS} (this machine has ${availableParallelism()} cores)`);
  int('bootstrap', o.bootstrap, 0);
  int('eval-batch-size', o.evalBatchSize, 1);
  // Above MAX_LR an Adam step overflows the weights to inf/NaN within one epoch: never a useful setting.
  if (o.lr !== 'auto' && !(o.lr > 0 && o.lr <= MAX_LR)) bad('lr', o.lr, `expected 'auto' or a learning rate in (0, ${MAX_LR}]`);
  if (o.select !== undefined && o.select !== 'loss' && o.select !== 'auroc') bad('select', o.select, 'expected loss or auroc');
  const ema = o.ema ?? 0;
  if (!(ema >= 0 && ema < 1)) bad('ema', ema, 'expected a number in [0, 1)');
  if (!(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) bad('weight-decay', o.weightDecay, 'expected a number ≥ 0');
  if (!(o.clipNorm >= 0 && Number.isFinite(o.clipNorm))) bad('clip-norm', o.clipNorm, 'expected a number ≥ 0');
  const md = o.modalityDropout ?? 0;
  if (!(md >= 0 && md < 1)) bad('modality-dropout', md, 'expected a number in [0, 1)');
  if (!CALIBRATION_METHODS.includes(calibrationOf(o))) bad('calibration', o.calibration, `expected one of ${CALIBRATION_METHODS.join(', ')}`);
  if (o.optimizer !== 'adam' && o.optimizer !== 'adamw') bad('optimizer', o.optimizer, 'expected adam or adamw');
  if (!['cosine', 'onecycle', 'none'].includes(o.schedule)) bad('schedule', o.schedule, 'expected cosine, onecycle or none');
  if (typeof o.posWeight === 'number' && !(o.posWeight > 0 && Number.isFinite(o.posWeight)))
    bad('pos-weight', o.posWeight, "expected 'auto', 'none' or a positive number");
  return o;
}

/** Parses --pos-weight: auto | none | a positive number. */
export function parsePosWeight(v: string): PosWeightOption {
  if (v === 'auto' || v === 'none') return v;
  const x = Number(v);
  if (!(x > 0 && Number.isFinite(x))) throw new CdmmError(`--pos-weight ${v}: expected 'auto', 'none' or a positive number`);
  return x;
}

/** The weight of a positive patient in the loss, resolved on the training labels. */
export function resolvePosWeight(opt: PosWeightOption, trainLabels: Float32Array): number {
  if (opt === 'none') return 1;
  if (typeof opt === 'number') return opt;
  let pos = 0;
  for (const y of trainLabels) pos += y;
  const neg = trainLabels.length - pos;
  if (pos === 0) throw new CdmmError('--pos-weight auto: the training split has no positive patient');
  return neg / pos;
}

/** Training options with every 'auto' resolved for a training split of n patients (and a backbone). */
export interface ResolvedSizes { batchSize: number; lr: number; patience: number; stepsPerEpoch: number }

/** The learning rate 'auto' gives a backbone: 1e-3, 1e-2 for 'lr' (a linear model). */
export const autoRate = (backbone: string): number => (backbone === 'lr' ? 1e-2 : 1e-3);

export function resolveAuto(o: TrainOptions, n: number, backbone: string, stepsPerEpoch: (batch: number) => number): ResolvedSizes {
  const batchSize = o.batchSize === 'auto' ? Math.min(256, Math.max(32, 2 ** Math.round(Math.log2(Math.max(1, n / 40))))) : o.batchSize;
  const lr = o.lr === 'auto' ? autoRate(backbone) : o.lr;
  const steps = stepsPerEpoch(batchSize);
  const patience = o.patience === 'auto' ? Math.max(6, Math.ceil(200 / steps)) : o.patience;
  return { batchSize, lr, patience, stepsPerEpoch: steps };
}
