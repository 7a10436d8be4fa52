// Transformer fusion: one token per modality plus a learned modality-type embedding, zeroed when missing; one
// post-norm encoder layer in which missing tokens are masked out of attention; mean over the present tokens.
//
// With the batch layout the same layer runs on the observed tokens only (about half of them in the benchmark):
// every part of a post-norm layer but attention is token-wise, so the projections, the feed-forward block and the
// norms see the packed (n, d) tokens, and only the attention scores are formed on the padded (B, K) grid, with the
// missing keys masked out. The output equals the dense path on every observed token.
import { Module, Tensor, TransformerEncoderLayer, cat, linear, stack, zeros, F } from '../../engine/index.js';
import type { BatchLayout } from '../types.js';
import { maskedMean, type Backbone, type BackboneOptions } from './common.js';

export class TransformerFusion extends Module implements Backbone {
  /** Modality-type embeddings (absent when the fusion must not see which modalities are present). */
  readonly typeEmbedding: Tensor | null;
  readonly layer: TransformerEncoderLayer;
  constructor(readonly o: BackboneOptions) {
    super();
    this.typeEmbedding = o.maskFeatures ? this.param('type_embedding', zeros([o.modalities, o.dim]).normal_(0, 0.02)) : null;
    this.layer = this.module('layer', new TransformerEncoderLayer(o.dim, o.heads, o.ff, o.dropout, 'relu'));
  }

  forward(embeddings: Tensor[], mask: Tensor, layout?: BatchLayout): Tensor {
    const stacked = stack(embeddings, 1);
    const tokens = this.typeEmbedding ? stacked.add(this.typeEmbedding) : stacked;
    if (layout) return this.packed(tokens, mask, layout.tokens);
    const fused = this.layer.forward(tokens.mul(mask.unsqueeze(-1)), mask.eq(0));
    return maskedMean(fused, mask);
  }

  /** Packed (n, w) rows back onto the (B·K, w) grid, zeros for missing tokens. */
  private static unpack(x: Tensor, tok: BatchLayout['tokens']): Tensor {
    return cat([x, zeros([1, x.size(1)])], 0).indexSelect(0, tok.pos);
  }

  private packed(tokens: Tensor, mask: Tensor, tok: BatchLayout['tokens']): Tensor {
    const [b, k, d] = tokens.shape;
    const L = this.layer;
    const att = L.selfAttn;
    const heads = this.o.heads;
    const dh = d / heads;
    const p = L.dropoutP;
    const x = tokens.reshape(b * k, d).indexSelect(0, tok.index); // (n, d)
    // Self-attention: packed input projection, attention on the (B, K) grid with the missing keys ignored.
    const qkv = TransformerFusion.unpack(linear(x, att.inProjWeight, att.inProjBias), tok).view(b, k, 3, heads, dh);
    const mixed = F.attention(qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2), { keyPaddingMask: mask.eq(0), dropout: p, training: this.training });
    const ctx = mixed.reshape(b * k, d).indexSelect(0, tok.index);
    const sa = att.outProj.forward(ctx);
    // The token-wise rest of the post-norm layer, on the packed tokens.
    const h = L.norm1.forward(x.add(F.dropout(sa, p, this.training)));
    const ff = L.linear2.forward(F.dropout(L.linear1.forward(h).relu(), p, this.training));
    const out = L.norm2.forward(h.add(F.dropout(ff, p, this.training)));
    return TransformerFusion.unpack(out, tok).view(b, k, d).sum(1).div(mask.sum(1, true));
  }
}
