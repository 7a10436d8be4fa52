// M3Care-style fusion: a missing modality's embedding is imputed from the patients of the batch that observed it,
// weighted by patient similarity; similarity uses only the modalities both patients observed (a Gaussian kernel per
// modality, bandwidth = mean squared distance over the observed pairs, no gradient), averaged over those modalities.
// The completed embeddings and the mask then go through early fusion's MLP (same layers, same parameter names).
import { Tensor, stack, eye, cdist } from '../../engine/index.js';
import type { Backbone } from './common.js';
import { EarlyFusion } from './early.js';

export class M3CareFusion extends EarlyFusion implements Backbone {

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
    return this.mlp(M3CareFusion.complete(embeddings, mask).flatten(1), mask);
  }
}
