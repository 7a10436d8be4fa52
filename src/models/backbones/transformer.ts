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
  readonly typeEmbedding: Tensor;
  readonly layer: TransformerEncoderLayer;
  constructor(readonly o: BackboneOptions) {
    super();
    this.typeEmbedding = this.param('type_embedding', zeros([o.modalities, o.dim]).normal_(0, 0.02));
    this.layer = this.module('layer', new TransformerEncoderLayer(o.dim, o.heads, o.ff, o.dropout, 'relu'));
  }

  forward(embeddings: Tensor[], mask: Tensor, layout?: BatchLayout): Tensor {
    const tokens = stack(embeddings, 1).add(this.typeEmbedding);
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
    // Self-attention: packed input projection, scores on the grid (B, H, K, K) with missing keys at −1e9.
    const qkv = TransformerFusion.unpack(linear(x, att.inProjWeight, att.inProjBias), tok).view(b, k, 3, heads, dh).permute(2, 0, 3, 1, 4);
    // With K tokens per patient the B·H score matrices are K×K: as broadcast products and sums they cost a few
    // vectorised passes, where a batched matmul makes B·H tiny GEMM calls (~3× slower forward and backward here).
    const q = qkv.select(0, 0).mul(1 / Math.sqrt(dh));
    const keyBias = mask.rsub(1).mul(-1e9).view(b, 1, 1, k);
    const scores = q.unsqueeze(3).mul(qkv.select(0, 1).unsqueeze(2)).sum(-1); // (B, H, K, K): q_i · k_j
    const weights = F.dropout(scores.add(keyBias).softmax(-1), p, this.training);
    const mixed = weights.unsqueeze(-1).mul(qkv.select(0, 2).unsqueeze(2)).sum(3); // (B, H, K, dh): Σ_j a_ij v_j
    const ctx = mixed.permute(0, 2, 1, 3).reshape(b * k, d).indexSelect(0, tok.index);
    const sa = att.outProj.forward(ctx);
    // The token-wise rest of the post-norm layer, on the packed tokens.
    const h = L.norm1.forward(x.add(F.dropout(sa, p, this.training)));
    const ff = L.linear2.forward(F.dropout(L.linear1.forward(h).relu(), p, this.training));
    const out = L.norm2.forward(h.add(F.dropout(ff, p, this.training)));
    return TransformerFusion.unpack(out, tok).view(b, k, d).sum(1).div(mask.sum(1, true));
  }
}
