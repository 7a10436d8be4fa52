// The whole model: per-modality encoders → fusion backbone → debiasing head.
import { Module, Tensor, cat, zeros, ones, noGrad, tensor } from '../engine/index.js';
import type { ModalityInfo } from '../data/types.js';
import { createEncoder, SparseLinearEncoder, type Encoder } from './encoders.js';
import { createBackbone, type Backbone } from './backbones/index.js';
import { DebiasHead, type LossContext } from './debias/head.js';
import type { Batch, LossParts, ModelConfig, ModelOutput, PatternDictionary } from './types.js';

export const defaultModelConfig: ModelConfig = {
  backbone: 'transformer',
  debias: 'full',
  dim: 128,
  branchDim: 64,
  dropout: 0.1,
  seriesEncoder: 'gru',
  adjustment: 'exact',
  decorrelation: 'hsic',
  lambdaFact: 0.5,
  lambdaGce: 1,
  lambdaDec: 0.1,
  gceQ: 0.7,
  lambdaSwap: 0,
  warmupEpochs: 2,
  weightEma: 0,
  lambdaPattern: 0,
  spuriousMask: false,
  weightNorm: false,
  seriesHidden: 64,
  headHidden: 64,
  fusionHeads: 4,
  fusionFf: 256,
  intervention: 'auto',
  patternBalance: 0.5,
  weightCap: 20,
  dualBranch: 'separate',
  biasBackbone: 'same',
  gateBackbone: 'early',
  biasSteps: 'auto',
  biasBins: 5,
  biasRefine: 0.3,
  biasBalance: 1,
  gate: 'auto',
  patternGate: 'auto',
};

/**
 * Whether the fusion reads the mask as a feature: not in the causal path of a deconfounded model (c must be blind
 * to the pattern, which reaches the prediction through e_m only), nor in the separate bias network (the pattern
 * is the deconfounder's job).
 */
export function fusionSeesMask(cfg: ModelConfig): boolean {
  if (cfg.maskFeatures !== undefined) return cfg.maskFeatures;
  return !(cfg.debias === 'deconfound' || cfg.debias === 'full');
}

/** Holds the encoders under their modality names (so saved weights read "encoders.<modality>.…"). */
class EncoderSet extends Module {
  constructor(modalities: ModalityInfo[], make: (m: ModalityInfo) => Encoder, readonly list: Encoder[] = []) {
    super();
    for (const m of modalities) list.push(this.module(m.name, make(m)));
  }
}

function validate(modalities: ModalityInfo[], dict: PatternDictionary, cfg: ModelConfig): void {
  const K = modalities.length;
  if (K === 0) throw new Error('createModel: no modalities');
  if (new Set(modalities.map((m) => m.name)).size !== K) throw new Error('createModel: modality names must be unique');
  if (dict.masks.length === 0) throw new Error('createModel: the pattern dictionary is empty');
  if (dict.prior.length !== dict.masks.length) throw new Error('createModel: the dictionary has a prior of the wrong length');
  for (const m of dict.masks) if (m.length !== K || !/^[01]+$/.test(m)) throw new Error(`createModel: dictionary pattern '${m}' does not match ${K} modalities`);
  for (const [k, v] of Object.entries(cfg)) if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`createModel: config ${k} is not a finite number`);
  if (cfg.dim < 1 || cfg.branchDim < 1) throw new Error('createModel: dim and branchDim must be positive');
  if (cfg.backbone === 'transformer' && cfg.dim % (cfg.fusionHeads ?? 4) !== 0) throw new Error(`createModel: dim ${cfg.dim} is not divisible by fusionHeads ${cfg.fusionHeads}`);
  if (cfg.gceQ <= 0 || cfg.gceQ > 1) throw new Error('createModel: gceQ must be in (0, 1]');
  if (cfg.weightEma < 0 || cfg.weightEma >= 1) throw new Error('createModel: weightEma must be in [0, 1)');
  if ((cfg.lambdaPattern ?? 0) < 0) throw new Error('createModel: lambdaPattern must be ≥ 0');
  if (cfg.dropout < 0 || cfg.dropout >= 1) throw new Error('createModel: dropout must be in [0, 1)');
  const iv = cfg.intervention ?? 'auto';
  if (iv !== 'auto' && !(typeof iv === 'number' && iv >= 0 && iv <= 1)) throw new Error("createModel: intervention must be 'auto' or in [0, 1]");
  if ((cfg.patternBalance ?? 0) < 0 || (cfg.biasBalance ?? 0) < 0) throw new Error('createModel: patternBalance and biasBalance must be ≥ 0');
  if (!((cfg.weightCap ?? 20) >= 1)) throw new Error('createModel: weightCap must be ≥ 1');
  if (!Number.isInteger(cfg.biasBins ?? 2) || (cfg.biasBins ?? 2) < 2) throw new Error('createModel: biasBins must be an integer ≥ 2');
  if (!((cfg.biasRefine ?? 0) >= 0 && Number.isFinite(cfg.biasRefine ?? 0))) throw new Error('createModel: biasRefine must be a number ≥ 0');
  const bs = cfg.biasSteps ?? 'auto';
  if (bs !== 'auto' && !(Number.isInteger(bs) && bs >= 1)) throw new Error("createModel: biasSteps must be 'auto' or an integer ≥ 1");
}

export class CdmmModel extends Module {
  readonly encoders: EncoderSet;
  readonly backbone: Backbone;
  readonly head: DebiasHead;
  /**
   * Pattern-blind fusion (deconfound/full): a missing modality's embedding is replaced by the mean embedding of the
   * patients who observed it (a running mean, kept with the weights), and the fusion sees every modality as
   * present, so c carries no zero-filled slot to decode the pattern from. Null when the fusion reads the mask.
   */
  readonly missingFill: Tensor | null;
  /** Training batches folded into missingFill per modality (its running mean's count; not saved). */
  private readonly fillSeen: number[];

  constructor(readonly modalities: ModalityInfo[], readonly dict: PatternDictionary, readonly config: ModelConfig) {
    super();
    validate(modalities, dict, config);
    this.missingFill = fusionSeesMask(config) ? null : this.buffer('missing_fill', zeros([modalities.length, config.dim]));
    this.fillSeen = modalities.map(() => 0);
    const encOpts = { dim: config.dim, dropout: config.dropout, seriesEncoder: config.seriesEncoder, seriesHidden: config.seriesHidden ?? 64, linear: config.backbone === 'lr' };
    this.encoders = this.module('encoders', new EncoderSet(modalities, (m) => createEncoder(m, encOpts)));
    this.backbone = this.module('backbone', createBackbone(config.backbone, {
      modalities: modalities.length, dim: config.dim, dropout: config.dropout, heads: config.fusionHeads ?? 4, ff: config.fusionFf ?? 256,
      maskFeatures: fusionSeesMask(config),
    }));
    this.head = this.module('head', new DebiasHead(config, dict));
  }

  /**
   * One modality's embeddings (B, d). With the batch layout, a dense encoder runs on the observed rows only and the
   * missing rows get zeros (every backbone masks them anyway); sparse encoders already skip them (empty bags).
   */
  private encode(i: number, batch: Batch): Tensor {
    const m = this.modalities[i];
    const enc = this.encoders.list[i];
    const sparse = batch.sparse?.[m.name];
    if (sparse && enc instanceof SparseLinearEncoder) return enc.forwardSparse(sparse); // never touches the dense values
    const x = batch.values[m.name];
    if (!x) throw new Error(`model.forward: the batch has no values for modality '${m.name}'`);
    const present = batch.layout?.present[m.name];
    if (!present) return enc.forward(x);
    const b = x.size(0);
    if (present.count === 0) return zeros([b, this.config.dim]);
    const observed = enc.forward(x.indexSelect(0, present.rows));
    return cat([observed, zeros([1, this.config.dim])], 0).indexSelect(0, present.pos);
  }

  /** The fused representation z (B, d). */
  fuse(batch: Batch): Tensor {
    const embeddings = this.modalities.map((_, i) => this.encode(i, batch));
    if (!this.missingFill) return this.backbone.forward(embeddings, batch.mask, batch.layout);
    const filled = embeddings.map((e, k) => {
      const m = batch.mask.select(1, k).unsqueeze(1); // (B, 1)
      return e.mul(m).add(this.fillFor(k, e, m).unsqueeze(0).mul(m.rsub(1)));
    });
    return this.backbone.forward(filled, ones(batch.mask.shape), undefined);
  }

  /**
   * The embedding a missing modality k gets: in training the mean over the batch's observed rows (no gradient),
   * folded into the running mean (1/count, at least 0.01, so the first batches count fully); in eval the running
   * mean, so a patient's prediction does not depend on the rest of the batch.
   */
  private fillFor(k: number, e: Tensor, m: Tensor): Tensor {
    const buf = this.missingFill!;
    if (!this.training) return buf.select(0, k);
    return noGrad(() => {
      const n = m.sum().item();
      if (n === 0) return buf.select(0, k).clone();
      const mean = e.detach().mul(m).sum(0).div(n);
      const rate = Math.max(0.01, 1 / ++this.fillSeen[k]);
      const row = buf.select(0, k);
      row.copy_(row.mul(1 - rate).add(mean.mul(rate)));
      return mean;
    });
  }

  forward(batch: Batch): ModelOutput {
    return this.head.forward(this.fuse(batch), batch.patternIdx, batch.mask);
  }

  loss(out: ModelOutput, batch: Batch, ctx: LossContext): LossParts {
    return this.head.loss(out, batch, ctx);
  }

  private requireDeconfounding(what: string): void {
    if (!this.head.deconfound) throw new Error(`${what} needs the deconfounding module (debias 'deconfound' or 'full'), this model has '${this.config.debias}'`);
  }

  /** σ(h(c, e_m)) for every patient and every dictionary pattern: (B, P). No gradient. */
  patternEffects(batch: Batch): Tensor {
    this.requireDeconfounding('patternEffects');
    return noGrad(() => this.forward(batch).logitsAll!.sigmoid());
  }

  /**
   * The prediction had each patient had dictionary pattern m' instead: an input counterfactual. Each patient's
   * observed set is intersected with m' (what m' lacks is hidden; nothing missing is invented), c is recomputed
   * from that input, and the head reads e_{m'}: σ(h(c(x ∩ m'), e_{m'})) (B). No gradient.
   */
  counterfactual(batch: Batch, patternIdx: number): Tensor {
    this.requireDeconfounding('counterfactual');
    if (!Number.isInteger(patternIdx) || patternIdx < 0 || patternIdx >= this.head.patterns)
      throw new Error(`counterfactual: pattern index ${patternIdx} is outside the dictionary (0..${this.head.patterns - 1})`);
    return noGrad(() => {
      const bits = Float32Array.from(this.dict.masks[patternIdx], (ch) => (ch === '1' ? 1 : 0));
      const K = bits.length;
      const mask = batch.mask.mul(tensor(bits, [1, K]));
      // A patient left with nothing keeps its own input (as in training's do(M)).
      const keep = mask.sum(1, true).gt(0).float();
      const masked = mask.mul(keep).add(batch.mask.mul(keep.rsub(1)));
      const b = batch.mask.size(0);
      const idx = tensor(new BigInt64Array(b).fill(BigInt(patternIdx)), [b]);
      // The layout and sparse rows describe the factual mask: dropped, so encoders run dense and the backbones mask.
      const cf: Batch = { values: batch.values, mask: masked, patternIdx: idx };
      return this.forward(cf).logitsAll!.select(1, patternIdx).sigmoid();
    });
  }
}

export function createModel(modalities: ModalityInfo[], dict: PatternDictionary, cfg: Partial<ModelConfig> = {}): CdmmModel {
  // An explicit `undefined` (e.g. an unset CLI option) keeps the default.
  const given = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) as Partial<ModelConfig>;
  return new CdmmModel(modalities, dict, { ...defaultModelConfig, ...given });
}
