// What every fusion backbone provides, and the masking helpers they share.
import type { Module, Tensor } from '../../engine/index.js';
import type { BatchLayout } from '../types.js';

/**
 * Fuses per-modality embeddings (K tensors of (B, d)) and the mask (B, K), 1 = observed, into z (B, d). The layout
 * (when the batch has one) lets a backbone work on the observed tokens only; the result must not depend on it.
 */
export interface Backbone extends Module {
  forward(embeddings: Tensor[], mask: Tensor, layout?: BatchLayout): Tensor;
}

export interface BackboneOptions {
  modalities: number;
  dim: number;
  dropout: number;
  heads: number;
  ff: number;
  /**
   * Whether the fusion may read the mask as a feature (early/M3Care concatenate it, the transformer adds type
   * embeddings to the present tokens). Off in the causal path of a deconfounded model: there the pattern reaches
   * the prediction only through the pattern embedding e_m (METHOD.md v2).
   */
  maskFeatures: boolean;
}

/** Mean over the observed tokens of x (B, K, d); every patient has at least one observed modality. */
export function maskedMean(x: Tensor, mask: Tensor): Tensor {
  return x.mul(mask.unsqueeze(-1)).sum(1).div(mask.sum(1, true));
}
