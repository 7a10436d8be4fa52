// Early fusion: the modality embeddings side by side (zeros where missing), with the mask itself unless the fusion
// must stay blind to the pattern (maskFeatures off) → MLP.
import { Module, Linear, Tensor, cat, stack, F } from '../../engine/index.js';
import type { Backbone, BackboneOptions } from './common.js';

export class EarlyFusion extends Module implements Backbone {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(readonly o: BackboneOptions) {
    super();
    this.fc1 = this.module('fc1', new Linear(o.modalities * o.dim + (o.maskFeatures ? o.modalities : 0), o.dim));
    this.fc2 = this.module('fc2', new Linear(o.dim, o.dim));
  }
  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    // Multiplying by the mask zeroes a missing modality's embedding, whatever its (zero-filled) input made of it.
    return this.mlp(stack(embeddings, 1).mul(mask.unsqueeze(-1)).flatten(1), mask);
  }

  /** The fusion MLP over the flattened (B, K·d) embeddings and the mask; M3Care reuses it on completed embeddings. */
  protected mlp(flat: Tensor, mask: Tensor): Tensor {
    const h = this.fc1.forward(this.o.maskFeatures ? cat([flat, mask], 1) : flat).relu();
    return this.fc2.forward(F.dropout(h, this.o.dropout, this.training));
  }
}
