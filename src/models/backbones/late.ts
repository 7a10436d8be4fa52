// Late fusion: the mean of the observed modalities' embeddings (no parameters of its own).
import { Module, Tensor, stack } from '../../engine/index.js';
import { maskedMean, type Backbone } from './common.js';

export class LateFusion extends Module implements Backbone {
  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    return maskedMean(stack(embeddings, 1), mask);
  }
}
