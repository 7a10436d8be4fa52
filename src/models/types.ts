// The contract between the model code (src/models) and training/evaluation/serving (src/train, src/eval, src/serve).
import type { Tensor } from '../engine/index.js';
import type { ModalityInfo } from '../data/types.js';

/** 'lr' = logistic regression: linear maps of each modality (zeros where missing) and the missing indicators. */
export type BackboneName = 'lr' | 'early' | 'late' | 'transformer' | 'm3care' | 'muse';
export type DebiasMode = 'none' | 'deconfound' | 'dual' | 'full';

/**
 * The model a run builds for the debiasing it was asked for, once the parts' gates have spoken: a deconfounder
 * that found nothing to adjust is left out; without it, a separate dual branch whose gate is off leaves nothing
 * either (it only weights the loss, from outside the model), and the model is the plain one. (With the
 * deconfounder in, 'full' stays 'full': a separate dual branch adds no layer to the model.) Training and the
 * run-folder check both use this rule.
 */
export function builtDebias(asked: DebiasMode, off: { deconfound: boolean; dual: boolean }): DebiasMode {
  if ((asked === 'full' || asked === 'deconfound') && !off.deconfound) return asked;
  return (asked === 'full' || asked === 'dual') && !off.dual ? 'dual' : 'none';
}

export interface ModelConfig {
  backbone: BackboneName;
  debias: DebiasMode;
  /** Modality embedding width d (default 128). */
  dim: number;
  /** Causal/spurious branch width (default 64). */
  branchDim: number;
  dropout: number;
  /** Time-series encoder: 'gru' (default) or 'tcn' (temporal convolution). */
  seriesEncoder: 'gru' | 'tcn';
  /** Back-door adjustment: exact sum over the dictionary (default) or the NWGM approximation. */
  adjustment: 'exact' | 'nwgm';
  /** Dependence penalty between causal and spurious features. */
  decorrelation: 'hsic' | 'club';
  lambdaFact: number; // default 0.5
  lambdaGce: number; // default 1
  lambdaDec: number; // default 0.1
  gceQ: number; // default 0.7
  /** Counterfactual swap of spurious features within a batch (after warm-up); weight 0 = off. */
  lambdaSwap: number;
  /** Epochs with w = 1 before the bias-reweighting starts. */
  warmupEpochs: number; // default 2
  /** Smooth the per-patient weights with an exponential moving average across epochs (0 = off). */
  weightEma: number;
  /**
   * Pattern invariance of the causal features: weight of HSIC(c, one-hot of the dictionary pattern) computed within
   * each class (c ⊥ pattern | y); 0 or absent = off. Ignored with debias 'none' (no c).
   */
  lambdaPattern?: number;
  /** Normalise the bias weights to mean 1 within each batch (the causal loss keeps its scale as w_mean falls). */
  weightNorm?: boolean;
  /** Feed the mask (B, K) into the spurious branch so the GCE shortcut head gets the pattern directly (dual/full). */
  spuriousMask?: boolean;
  /** Hidden width of the time-series encoder (GRU hidden size / TCN channels; default 64). */
  seriesHidden?: number;
  /** Hidden width of the pattern-conditioned head and the plain heads (default 64). */
  headHidden?: number;
  /** Transformer fusion: attention heads (default 4) and feed-forward width (default 256). */
  fusionHeads?: number;
  fusionFf?: number;
  /**
   * do(M) in training (deconfound/full): the probability that a training patient's observed set is intersected with
   * the pattern of another training patient drawn at random (the dictionary prior); 'auto' = n / (n + 2000) for n
   * training patients (small cohorts keep more of their own data).
   */
  intervention?: number | 'auto';
  /** Pattern–label balancing (deconfound/full): exponent of the weights P(m)P(y)/P(m, y) (0 = off, 1 = full). */
  patternBalance?: number;
  /** Largest per-patient training weight (after normalising the weights to mean 1). */
  weightCap?: number;
  /**
   * Dual branch (dual/full): 'separate' (default) = a bias network of its own trained first with GCE, whose risk
   * bins are balanced within each label; 'joint' = the v1 head (spurious branch sharing the encoder, LfF weights,
   * HSIC/CLUB decorrelation).
   */
  dualBranch?: 'separate' | 'joint';
  /**
   * The separate bias network's backbone: 'same' (default: the main model's) or 'lr' (one low-capacity learner for
   * every backbone; measured in development, not the default: docs/RESULTS.md).
   */
  biasBackbone?: 'lr' | 'same' | 'early';
  /**
   * Whose bias network the gate's shortcut test reads: 'early' = an early-fusion bias network of its own whatever the
   * backbone (its score is the most discrete where a shortcut exists, so the test is most reliable, and every backbone
   * gets the same decision on the same split), or 'same' = the bias network whose bins are balanced.
   */
  gateBackbone?: 'early' | 'same';
  /** Training steps of the separate bias network; 'auto' = 3 epochs (the reference's bias network, METHOD.md). */
  biasSteps?: number | 'auto';
  /** Risk bins of the bias network (quantiles within each label) whose weights are balanced. */
  biasBins?: number;
  /**
   * λ of the bias network's refinement (0 = off): when the gate is on and the deconfounder is not, a partner model is trained on the first bias
   * network's balancing weights, and a second bias network with λ × the squared within-label correlation of its logit
   * with the partner's; its bins replace the first one's. The partner holds the signal the balancing kept (mostly the
   * severity), so the second bias network explains the label through the rest (the shortcut).
   */
  biasRefine?: number;
  /** Exponent of the bias-bin balancing weights (1 = every bin of a label weighs the same). */
  biasBalance?: number;
  /** Whether the bias weights are applied: 'auto' = when the validation test finds a shortcut (src/models/debias/gate.ts). */
  gate?: 'auto' | 'on' | 'off';
  /**
   * Whether the deconfounder acts: 'auto' = when the missingness pattern predicts the label (cross-fitted,
   * src/models/debias/pattern-test.ts) and there are ≥ 2 patterns; 'off' builds the model without it.
   */
  patternGate?: 'auto' | 'on' | 'off';
  /** Whether the fusion reads the mask as a feature; absent = off when deconfounding, on otherwise (model.ts). */
  maskFeatures?: boolean;
}

/** The missingness-pattern dictionary fitted on the training split. */
export interface PatternDictionary {
  /** Pattern masks as strings of 0/1 in modality order, e.g. "1011". */
  masks: string[];
  /** Prior π_m (sums to 1). */
  prior: number[];
  /** Training patients assigned to each pattern after merging (optional, for reports). */
  counts?: number[];
}

/** One mini-batch, already as tensors. */
export interface Batch {
  /** modality name → float32 tensor (B, ...shape). */
  values: Record<string, Tensor>;
  /** float32 (B, K), 1 = observed. */
  mask: Tensor;
  /** int64 (B): index of each patient's pattern in the dictionary (after merging rare patterns). */
  patternIdx: Tensor;
  /** float32 (B) labels (training and scoring only). */
  labels?: Tensor;
  /** int64 (B): row index of each patient within its split (for per-patient EMA weights). */
  rows?: Tensor;
  /** Codes/text modalities in sparse form (the nonzeros of observed rows), for encoders that skip the zeros. */
  sparse?: Record<string, SparseRows>;
  /** Which rows observed which modality, precomputed from the mask so encoders and fusion can skip missing ones. */
  layout?: BatchLayout;
}

/** The nonzeros of a (B, D) modality as EmbeddingBag input: column indices, bag starts (B), values (int32/float32). */
export interface SparseRows {
  indices: Tensor;
  offsets: Tensor;
  weights: Tensor;
}

/** Present rows/tokens of a batch as index tensors (int64); `count` is their number, known without reading tensors. */
export interface BatchLayout {
  /** Per modality that some rows miss: the observed rows (n) and each row's position among them, n when missing (B). */
  present: Record<string, { rows: Tensor; pos: Tensor; count: number }>;
  /**
   * The observed (patient, modality) tokens in row-major order: their flat index i·K + k (n), and for each flat
   * position its token's index, n when missing (B·K).
   */
  tokens: { index: Tensor; pos: Tensor; count: number };
}

export interface ModelOutput {
  /** Probability used for prediction: p_do with deconfounding, else σ(logit). (B) */
  p: Tensor;
  /** Logit of the factual pattern-conditioned prediction h(c, e_{m_i}) (or the plain logit). (B) */
  logitFactual: Tensor;
  /** (B, P) logits h(c, e_m) for every dictionary pattern, when deconfounding is on. */
  logitsAll: Tensor | null;
  /** Spurious head logit, when the dual branch is on. (B) */
  logitSpurious: Tensor | null;
  /** Causal and spurious features, when the dual branch is on. (B, branchDim) */
  zc: Tensor | null;
  zs: Tensor | null;
}

export interface LossParts {
  total: Tensor;
  /** Scalar parts for logging (already detached numbers). */
  parts: Record<string, number>;
}

export type { ModalityInfo };
