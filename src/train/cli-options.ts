// Command-line options shared by `cdmm train` and `cdmm benchmark`: training hyper-parameters and model
// hyper-parameters, parsed into TrainOptions and a partial ModelConfig.
import type { Command } from 'commander';
import type { ModelConfig } from '../models/types.js';
import { CdmmError } from '../util/errors.js';
import { CALIBRATION_METHODS } from '../models/calibrator.js';
import { checkTrainOptions, defaultTrainOptions, parsePosWeight, type PosWeightOption, type TrainOptions } from './options.js';

export const BACKBONES = ['lr', 'early', 'late', 'transformer', 'm3care', 'muse'] as const;
export const DEBIAS = ['none', 'deconfound', 'dual', 'full'] as const;

/** 'auto' or a number (parsed by `parse`). */
export const autoOr = (parse: (v: string) => number) => (v: string): number | 'auto' => (v === 'auto' ? 'auto' : parse(v));

export const numArg = (flag: string) => (v: string): number => {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x)) throw new CdmmError(`--${flag}: expected a number, got ${JSON.stringify(v)}`);
  return x;
};
export const intArg = (flag: string) => (v: string): number => {
  const x = Number(v);
  if (v.trim() === '' || !Number.isInteger(x)) throw new CdmmError(`--${flag}: expected an integer, got ${JSON.stringify(v)}`);
  return x;
};

export function oneOf<T extends string>(flag: string, allowed: readonly T[], v: string): T {
  if (!(allowed as readonly string[]).includes(v)) throw new CdmmError(`--${flag} ${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

export function listOf<T extends string>(flag: string, allowed: readonly T[], v: string): T[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new CdmmError(`--${flag}: empty list`);
  const out = items.map((s) => oneOf(flag, allowed, s));
  if (new Set(out).size !== out.length) throw new CdmmError(`--${flag} ${v}: an entry is repeated`);
  return out;
}

const d = defaultTrainOptions;

/** Largest --dim / --branch-dim accepted. */
export const MAX_WIDTH = 4096;

/** Adds the training and model hyper-parameter options to a command. */
export function addTrainingOptions(cmd: Command): Command {
  return cmd
    .option('--epochs <n>', 'maximum epochs', intArg('epochs'), d.epochs)
    .option('--batch-size <n>', 'patients per batch; auto = n/40 for n training patients, a power of 2 in [32, 256]', autoOr(intArg('batch-size')), d.batchSize)
    .option('--lr <x>', "learning rate (the peak rate with --schedule onecycle); auto = 1e-3 (1e-2 for the 'lr' backbone)", autoOr(numArg('lr')), d.lr)
    .option('--weight-decay <x>', 'weight decay', numArg('weight-decay'), d.weightDecay)
    .option('--optimizer <name>', 'adam | adamw', d.optimizer)
    .option('--schedule <name>', 'learning-rate schedule: cosine | onecycle | none', d.schedule)
    .option('--patience <n>', 'epochs without a better validation score before stopping (0 = off); auto = max(6, ceil(200 / steps per epoch))', autoOr(intArg('patience')), d.patience)
    .option('--select <what>', 'what picks the epoch kept: loss (validation log-loss, reweighted by the debiasing parts) | auroc (reweighted validation AUROC)', d.select)
    .option('--ema <beta>', 'moving average of the weights, validated and kept (0 = off)', numArg('ema'), d.ema)
    .option('--clip-norm <x>', 'clip the global gradient norm (0 = off)', numArg('clip-norm'), d.clipNorm)
    .option('--pos-weight <w>', "weight of positive patients: auto (= negatives/positives of train) | none | a number", String(d.posWeight))
    .option('--threads <n>', 'libtorch threads', intArg('threads'), d.threads)
    .option('--bootstrap <n>', 'bootstrap resamples for metric intervals', intArg('bootstrap'), d.bootstrap)
    .option('--dim <n>', 'modality embedding width d', intArg('dim'))
    .option('--branch-dim <n>', 'causal/spurious branch width', intArg('branch-dim'))
    .option('--dropout <x>', 'dropout rate', numArg('dropout'))
    .option('--series-encoder <name>', 'time-series encoder: gru | tcn')
    .option('--adjustment <name>', 'back-door adjustment: exact | nwgm')
    .option('--decorrelation <name>', 'causal/spurious dependence penalty: hsic | club')
    .option('--lambda-fact <x>', 'weight of the factual pattern loss', numArg('lambda-fact'))
    .option('--lambda-gce <x>', 'weight of the spurious GCE loss', numArg('lambda-gce'))
    .option('--lambda-dec <x>', 'weight of the decorrelation penalty', numArg('lambda-dec'))
    .option('--lambda-swap <x>', 'weight of the counterfactual swap loss (0 = off)', numArg('lambda-swap'))
    .option('--gce-q <x>', 'GCE exponent q', numArg('gce-q'))
    .option('--warmup-epochs <n>', 'epochs before the bias reweighting starts', intArg('warmup-epochs'))
    .option('--weight-ema <x>', 'EMA factor of the per-patient weights across epochs (0 = off)', numArg('weight-ema'))
    .option('--lambda-pattern <x>', 'weight of HSIC(c, pattern) within each class: pattern-invariant causal features (0 = off)', numArg('lambda-pattern'))
    .option('--weight-norm', 'normalise the bias weights to mean 1 within each batch (dual/full)')
    .option('--spurious-mask', 'feed the missingness mask into the spurious branch (dual/full)')
    .option('--intervention <rate>', "do(M) in training: probability that a patient's observed set is intersected with another training patient's; auto = n/(n+2000)", autoOr(numArg('intervention')))
    .option('--pattern-balance <x>', 'exponent of the pattern–label balancing weights (0 = off, 1 = full; default 0.5)', numArg('pattern-balance'))
    .option('--dual-branch <kind>', 'dual branch: separate (a GCE bias network trained first; default) | joint (v1 head, LfF weights)')
    .option('--pattern-gate <mode>', 'the deconfounder (deconfound/full): auto (when the missingness pattern predicts the label; default) | on | off')
    .option('--gate <mode>', 'bias-bin balancing of the separate dual branch: auto (when validation finds a shortcut; default) | on | off')
    .option('--bias-backbone <name>', "backbone of the separate bias network: same (default: the main model's) | lr | early")
    .option('--gate-backbone <name>', "bias network the gate's shortcut test reads: early (an early-fusion one, for every backbone; default) | same (the balanced one)")
    .option('--bias-steps <n>', 'training steps of the separate bias network; auto = 3 epochs (default)', autoOr(intArg('bias-steps')))
    .option('--bias-bins <n>', "bins of the bias network's risk made independent of the label: 2 = one cut at the gate's threshold, more = quantiles (default 5)", intArg('bias-bins'))
    .option('--bias-refine <λ>', "refinement of the bias network when the gate is on and the deconfounder is not: a second one decorrelated (within each label, weight λ) from a partner model trained on the first one's weights; 0 = off (default 0.3)", numArg('bias-refine'))
    .option('--weight-cap <x>', 'largest per-patient training weight (default 20)', numArg('weight-cap'))
    .option('--modality-dropout <p>', 'hide each observed modality of training patients with probability p (≥ 1 kept; 0 = off)', numArg('modality-dropout'))
    .option('--calibration <method>', `calibration of the served risk, fitted on validation: ${CALIBRATION_METHODS.join(' | ')}`, defaultTrainOptions.calibration)
    .option('--split-seed <n>', "seed of the patient split (default: the spec's)", intArg('split-seed'))
    .option('--no-cache', 'rebuild the dataset even when a cached build exists');
}

export interface TrainingFlags {
  epochs: number; batchSize: number | 'auto'; lr: number | 'auto'; weightDecay: number; optimizer: string; schedule: string;
  patience: number | 'auto'; select: string; ema: number; clipNorm: number;
  intervention?: number | 'auto'; patternBalance?: number; dualBranch?: string; gate?: string; patternGate?: string; biasSteps?: number | 'auto'; biasBackbone?: string; gateBackbone?: string; biasBins?: number; biasRefine?: number; weightCap?: number; posWeight: string; threads: number; bootstrap: number;
  dim?: number; branchDim?: number; dropout?: number; seriesEncoder?: string; adjustment?: string; decorrelation?: string;
  lambdaFact?: number; lambdaGce?: number; lambdaDec?: number; lambdaSwap?: number; gceQ?: number;
  warmupEpochs?: number; weightEma?: number; splitSeed?: number; cache: boolean;
  lambdaPattern?: number; spuriousMask?: boolean; weightNorm?: boolean; modalityDropout?: number;
  calibration?: string;
}

export function trainOptionsFrom(f: TrainingFlags, seed: number): TrainOptions {
  const posWeight: PosWeightOption = parsePosWeight(f.posWeight);
  return checkTrainOptions({
    ...defaultTrainOptions,
    seed,
    epochs: f.epochs,
    batchSize: f.batchSize,
    lr: f.lr,
    weightDecay: f.weightDecay,
    optimizer: oneOf('optimizer', ['adam', 'adamw'] as const, f.optimizer),
    schedule: oneOf('schedule', ['cosine', 'onecycle', 'none'] as const, f.schedule),
    patience: f.patience,
    select: oneOf('select', ['loss', 'auroc'] as const, f.select),
    ema: f.ema,
    clipNorm: f.clipNorm,
    posWeight,
    threads: f.threads,
    bootstrap: f.bootstrap,
    ...(f.modalityDropout ? { modalityDropout: f.modalityDropout } : {}),
    calibration: oneOf('calibration', CALIBRATION_METHODS, f.calibration ?? defaultTrainOptions.calibration ?? 'platt'),
  });
}

/** Model hyper-parameters given on the command line (the rest stay at the model's defaults). */
export function modelOverridesFrom(f: TrainingFlags): Partial<ModelConfig> {
  const o: Partial<ModelConfig> = {};
  const pos = (flag: string, v: number | undefined, integer: boolean) => {
    if (v === undefined) return undefined;
    if (!(v > 0) || (integer && !Number.isInteger(v))) throw new CdmmError(`--${flag} ${v}: expected a positive ${integer ? 'integer' : 'number'}`);
    // Widths beyond this are never a clinical risk model; the memory check in size-check.ts covers the rest.
    if (integer && v > MAX_WIDTH) throw new CdmmError(`--${flag} ${v}: expected a width of at most ${MAX_WIDTH}`);
    return v;
  };
  const nonneg = (flag: string, v: number | undefined) => {
    if (v === undefined) return undefined;
    if (!(v >= 0)) throw new CdmmError(`--${flag} ${v}: expected a number ≥ 0`);
    return v;
  };
  if (f.dim !== undefined) o.dim = pos('dim', f.dim, true);
  if (f.branchDim !== undefined) o.branchDim = pos('branch-dim', f.branchDim, true);
  if (f.dropout !== undefined) {
    if (!(f.dropout >= 0 && f.dropout < 1)) throw new CdmmError(`--dropout ${f.dropout}: expected a number in [0, 1)`);
    o.dropout = f.dropout;
  }
  if (f.seriesEncoder !== undefined) o.seriesEncoder = oneOf('series-encoder', ['gru', 'tcn'] as const, f.seriesEncoder);
  if (f.adjustment !== undefined) o.adjustment = oneOf('adjustment', ['exact', 'nwgm'] as const, f.adjustment);
  if (f.decorrelation !== undefined) o.decorrelation = oneOf('decorrelation', ['hsic', 'club'] as const, f.decorrelation);
  if (f.lambdaFact !== undefined) o.lambdaFact = nonneg('lambda-fact', f.lambdaFact);
  if (f.lambdaGce !== undefined) o.lambdaGce = nonneg('lambda-gce', f.lambdaGce);
  if (f.lambdaDec !== undefined) o.lambdaDec = nonneg('lambda-dec', f.lambdaDec);
  if (f.lambdaPattern !== undefined) o.lambdaPattern = nonneg('lambda-pattern', f.lambdaPattern);
  if (f.spuriousMask) o.spuriousMask = true;
  if (f.weightNorm) o.weightNorm = true;
  if (f.lambdaSwap !== undefined) o.lambdaSwap = nonneg('lambda-swap', f.lambdaSwap);
  if (f.gceQ !== undefined) {
    if (!(f.gceQ > 0 && f.gceQ <= 1)) throw new CdmmError(`--gce-q ${f.gceQ}: expected a number in (0, 1]`);
    o.gceQ = f.gceQ;
  }
  if (f.warmupEpochs !== undefined) {
    if (!Number.isInteger(f.warmupEpochs) || f.warmupEpochs < 0) throw new CdmmError(`--warmup-epochs ${f.warmupEpochs}: expected an integer ≥ 0`);
    o.warmupEpochs = f.warmupEpochs;
  }
  if (f.weightEma !== undefined) {
    if (!(f.weightEma >= 0 && f.weightEma < 1)) throw new CdmmError(`--weight-ema ${f.weightEma}: expected a number in [0, 1)`);
    o.weightEma = f.weightEma;
  }
  if (f.intervention !== undefined) {
    if (f.intervention !== 'auto' && !(f.intervention >= 0 && f.intervention <= 1)) throw new CdmmError(`--intervention ${f.intervention}: expected auto or a number in [0, 1]`);
    o.intervention = f.intervention;
  }
  if (f.patternBalance !== undefined) o.patternBalance = nonneg('pattern-balance', f.patternBalance);
  if (f.dualBranch !== undefined) o.dualBranch = oneOf('dual-branch', ['separate', 'joint'] as const, f.dualBranch);
  if (f.gate !== undefined) o.gate = oneOf('gate', ['auto', 'on', 'off'] as const, f.gate);
  if (f.patternGate !== undefined) o.patternGate = oneOf('pattern-gate', ['auto', 'on', 'off'] as const, f.patternGate);
  if (f.biasSteps !== undefined) o.biasSteps = f.biasSteps === 'auto' ? 'auto' : pos('bias-steps', f.biasSteps, true);
  if (f.biasBackbone !== undefined) o.biasBackbone = oneOf('bias-backbone', ['same', 'lr', 'early'] as const, f.biasBackbone);
  if (f.gateBackbone !== undefined) o.gateBackbone = oneOf('gate-backbone', ['early', 'same'] as const, f.gateBackbone);
  if (f.biasBins !== undefined) o.biasBins = pos('bias-bins', f.biasBins, true);
  if (f.biasRefine !== undefined) o.biasRefine = nonneg('bias-refine', f.biasRefine);
  if (f.weightCap !== undefined) {
    if (!(f.weightCap >= 1 && Number.isFinite(f.weightCap))) throw new CdmmError(`--weight-cap ${f.weightCap}: expected a number ≥ 1`);
    o.weightCap = f.weightCap;
  }
  return o;
}
