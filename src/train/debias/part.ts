// What a training-time debiasing part is: something prepared once before the main training (on the training
// split, checked on validation) that hands the trainer per-patient weights, and a record for the run folder.
import type { PreparedDataset } from '../../data/types.js';
import type { ModelConfig, PatternDictionary } from '../../models/types.js';
import type { TrainOptions } from '../options.js';

export interface PartContext {
  ds: PreparedDataset;
  cfg: ModelConfig;
  /** Training options with every 'auto' resolved. */
  opts: ResolvedTrainOptions;
  dict: PatternDictionary;
  trainPat: Int32Array;
  valPat: Int32Array;
  /** The parts prepared before this one (in registry order). */
  before: PreparedPart[];
  quiet?: boolean;
  label?: string;
}

export type ResolvedTrainOptions = TrainOptions & { batchSize: number; patience: number; lr: number; /** --lr as asked ('auto' or a number). */ lrAsked?: number | 'auto' };

export interface PreparedPart {
  name: string;
  /** Weights of the training patients' losses (mean 1, capped), if the part reweights. */
  trainWeights?: Float32Array;
  /** The same weighting on validation (selection and early stopping use it). */
  valWeights?: Float32Array;
  /** The weights already cover those of the parts before (a joint balancing): the trainer drops theirs. */
  supersedes?: boolean;
  /** false: the part found nothing to act on, and the model is built without it (the deconfounder's gate). */
  active?: boolean;
  /** do(M) rate in training, for the deconfounder. */
  intervention?: number;
  /** What the part decided, for the run folder (small, JSON). */
  record: Record<string, number | string | boolean | null>;
  /** Lines for the user ("cdmm: note: ..."). */
  notes: string[];
}

export interface DebiasPart {
  name: string;
  applies(cfg: ModelConfig): boolean;
  prepare(ctx: PartContext): PreparedPart;
}
