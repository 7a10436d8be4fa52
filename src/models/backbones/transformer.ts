// Transformer fusion: one token per modality plus a learned modality-type embedding, zeroed when missing; one
// post-norm encoder layer in which missing tokens are masked out of attention; mean over the present tokens.
import { Module, Tensor, TransformerEncoderLayer, stack, zeros } from '../../engine/index.js';
import { maskedMean, type Backbone, type BackboneOptions } from './common.js';

export class TransformerFusion extends Module implements Backbone {
  readonly typeEmbedding: Tensor;
  readonly layer: TransformerEncoderLayer;
  constructor(readonly o: BackboneOptions) {
    super();
    this.typeEmbedding = this.param('type_embedding', zeros([o.modalities, o.dim]).normal_(0, 0.02));
    this.layer = this.module('layer', new TransformerEncoderLayer(o.dim, o.heads, o.ff, o.dropout, 'relu'));
  }
  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    const m = mask.unsqueeze(-1);
    const tokens = stack(embeddings, 1).add(this.typeEmbedding).mul(m);
    const fused = this.layer.forward(tokens, mask.eq(0));
    return maskedMean(fused, mask);
  }
}
