// Logistic-regression baseline: every modality enters through a linear map (the encoders of an 'lr' model are
// linear, see src/models/encoders.ts), missing modalities as zeros (their standardised mean), plus the missing
// indicators; the sum is linear in the inputs, and the plain head of an 'lr' model is linear too, so the whole
// model is a logistic regression with mean imputation and missing indicators.
import { Module, Linear, Tensor, stack } from '../../engine/index.js';
import type { Backbone, BackboneOptions } from './common.js';

export class LinearFusion extends Module implements Backbone {
  readonly indicators: Linear | null;
  constructor(readonly o: BackboneOptions) {
    super();
    this.indicators = o.maskFeatures ? this.module('indicators', new Linear(o.modalities, o.dim, false)) : null;
  }
  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    const z = stack(embeddings, 1).mul(mask.unsqueeze(-1)).sum(1);
    return this.indicators ? z.add(this.indicators.forward(mask)) : z;
  }
}
