// M3Care-style fusion: a missing modality's embedding is imputed from the patients of the batch that observed it,
// weighted by patient similarity; similarity uses only the modalities both patients observed (a Gaussian kernel per
// modality, bandwidth = mean squared distance over the observed pairs, no gradient), averaged over those modalities.
// The completed embeddings and the mask then go through an MLP (as in early fusion).
import { Module, Linear, Tensor, cat, stack, eye, cdist, F } from '../../engine/index.js';
import type { Backbone, BackboneOptions } from './common.js';

export class M3CareFusion extends Module implements Backbone {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(readonly o: BackboneOptions) {
    super();
    this.fc1 = this.module('fc1', new Linear(o.modalities * o.dim + o.modalities, o.dim));
    this.fc2 = this.module('fc2', new Linear(o.dim, o.dim));
  }

  /** Patient-by-patient similarity (B, B) over the shared observed modalities, 0 on the diagonal. */
  static similarity(e: Tensor, mT: Tensor): Tensor {
    const b = e.size(1);
    const pair = mT.unsqueeze(2).mul(mT.unsqueeze(1)); // (K, B, B): both observed
    const d2 = cdist(e, e).square(); // (K, B, B)
    const bw = d2.detach().mul(pair).sum([1, 2], true).div(pair.sum([1, 2], true).clampMin(1)).add(1e-6);
    const kern = d2.div(bw).neg().exp().mul(pair);
    return kern.sum(0).div(pair.sum(0).clampMin(1)).mul(eye(b).rsub(1));
  }

  /** Embeddings (B, K, d) with each missing one replaced by the similarity-weighted mean of the batch's observed ones. */
  static complete(embeddings: Tensor[], mask: Tensor): Tensor {
    const e = stack(embeddings, 0); // (K, B, d)
    const mT = mask.transpose(0, 1); // (K, B)
    const sim = M3CareFusion.similarity(e, mT);
    const w = sim.unsqueeze(0).mul(mT.unsqueeze(1)); // (K, B, B): donors must have observed modality k
    const imputed = w.bmm(e).div(w.sum(2, true).add(1e-6)); // zero when nobody in the batch has it
    const m = mT.unsqueeze(-1);
    return e.mul(m).add(imputed.mul(m.rsub(1))).transpose(0, 1);
  }

  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    const filled = M3CareFusion.complete(embeddings, mask).flatten(1);
    const h = this.fc1.forward(cat([filled, mask], 1)).relu();
    return this.fc2.forward(F.dropout(h, this.o.dropout, this.training));
  }
}
