// Standard layers. Initialisation follows PyTorch's defaults so results are comparable with the Python reference.
import { native } from '../native.js';
import { Tensor, zeros, ones, fromHandle, hOf, linear } from '../tensor.js';
import { Module, uniformInit } from './module.js';
import { dropout, layerNorm } from './functional.js';

/** Anything with a one-tensor forward (for Sequential). */
export interface Layer {
  forward(x: Tensor): Tensor;
}

export class Linear extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.param('weight', uniformInit([outFeatures, inFeatures], inFeatures));
    this.bias = bias ? this.param('bias', uniformInit([outFeatures], inFeatures)) : null;
  }
  forward(x: Tensor): Tensor { return linear(x, this.weight, this.bias); }
}

export class ReLU extends Module implements Layer { forward(x: Tensor): Tensor { return x.relu(); } }
export class GELU extends Module implements Layer { forward(x: Tensor): Tensor { return x.gelu(); } }
export class Tanh extends Module implements Layer { forward(x: Tensor): Tensor { return x.tanh(); } }

export class Dropout extends Module implements Layer {
  constructor(readonly p: number) { super(); }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
}

export class LayerNorm extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', ones([dim]));
    this.bias = this.param('bias', zeros([dim]));
  }
  forward(x: Tensor): Tensor { return layerNorm(x, [this.dim], this.weight, this.bias, this.eps); }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(readonly num: number, readonly dim: number, readonly paddingIdx: number | null = null) {
    super();
    this.weight = this.param('weight', zeros([num, dim]).normal_(0, 1));
  }
  /** idx: int64 tensor of any shape → (..., dim). */
  forward(idx: Tensor): Tensor { return fromHandle(native.embedding(hOf(this.weight), hOf(idx), this.paddingIdx)); }
}

/** Sums or averages the embeddings of each bag of codes, without materialising a multi-hot matrix. */
export class EmbeddingBag extends Module {
  readonly weight: Tensor;
  constructor(readonly num: number, readonly dim: number, readonly mode: 'sum' | 'mean' | 'max' = 'mean') {
    super();
    this.weight = this.param('weight', zeros([num, dim]).normal_(0, 1));
  }
  /** indices: flat int64 codes; offsets: int64 start of each bag; perSampleWeights (sum mode): e.g. counts. */
  forward(indices: Tensor, offsets: Tensor, perSampleWeights?: Tensor): Tensor {
    const mode = { sum: 0, mean: 1, max: 2 }[this.mode];
    return fromHandle(native.embeddingBag(hOf(this.weight), hOf(indices), hOf(offsets), mode, perSampleWeights ? hOf(perSampleWeights) : -1));
  }
}

export class Sequential extends Module implements Layer {
  readonly layers: Layer[];
  constructor(...layers: (Layer & Module)[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.module(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h);
    return h;
  }
}

/** A GRU over libtorch's fused kernel. Inputs are batch-first (B, T, F); returns the outputs and the last hidden state. */
export class GRU extends Module {
  private readonly flat: Tensor[] = [];
  constructor(readonly inputSize: number, readonly hiddenSize: number, readonly numLayers = 1, readonly dropoutP = 0) {
    super();
    for (let l = 0; l < numLayers; l++) {
      const inp = l === 0 ? inputSize : hiddenSize;
      const mk = (name: string, shape: number[]) => this.flat.push(this.param(`${name}_l${l}`, uniformInit(shape, hiddenSize)));
      mk('weight_ih', [3 * hiddenSize, inp]);
      mk('weight_hh', [3 * hiddenSize, hiddenSize]);
      mk('bias_ih', [3 * hiddenSize]);
      mk('bias_hh', [3 * hiddenSize]);
    }
  }
  forward(x: Tensor, h0?: Tensor): { output: Tensor; hidden: Tensor } {
    const [o, h] = native.gru(hOf(x), h0 ? hOf(h0) : -1, this.flat.map(hOf), true, this.numLayers, this.dropoutP, this.training, false, true);
    return { output: fromHandle(o), hidden: fromHandle(h) };
  }
}

/** Multi-head attention (batch first), as torch.nn.MultiheadAttention with a packed input projection. */
export class MultiheadAttention extends Module {
  readonly inProjWeight: Tensor;
  readonly inProjBias: Tensor;
  readonly outProj: Linear;
  constructor(readonly embedDim: number, readonly numHeads: number, readonly dropoutP = 0) {
    super();
    if (embedDim % numHeads !== 0) throw new Error(`MultiheadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`);
    const bound = Math.sqrt(6 / (embedDim + 3 * embedDim)); // xavier_uniform on (3E, E)
    this.inProjWeight = this.param('in_proj_weight', zeros([3 * embedDim, embedDim]).uniform_(-bound, bound));
    this.inProjBias = this.param('in_proj_bias', zeros([3 * embedDim]));
    this.outProj = this.module('out_proj', new Linear(embedDim, embedDim));
    this.outProj.bias!.fill_(0);
  }
  /** keyPaddingMask: bool (B, S), true = ignore that key. Returns the output and (when asked) head-averaged weights. */
  forward(q: Tensor, k: Tensor, v: Tensor, o: { keyPaddingMask?: Tensor; attnMask?: Tensor; needWeights?: boolean } = {}): { output: Tensor; weights: Tensor | null } {
    const [out, w] = native.mha(hOf(q), hOf(k), hOf(v), this.numHeads, hOf(this.inProjWeight), hOf(this.inProjBias),
      hOf(this.outProj.weight), this.outProj.bias ? hOf(this.outProj.bias) : -1,
      o.keyPaddingMask ? hOf(o.keyPaddingMask) : -1, o.attnMask ? hOf(o.attnMask) : -1, this.dropoutP, this.training, !!o.needWeights);
    return { output: fromHandle(out), weights: w < 0 ? null : fromHandle(w) };
  }
}

/** Post-norm Transformer encoder layer (PyTorch's default norm_first=false), batch first. */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  constructor(readonly dModel: number, nHead: number, dimFeedforward = 2048, readonly dropoutP = 0.1, readonly activation: 'relu' | 'gelu' = 'relu') {
    super();
    this.selfAttn = this.module('self_attn', new MultiheadAttention(dModel, nHead, dropoutP));
    this.linear1 = this.module('linear1', new Linear(dModel, dimFeedforward));
    this.linear2 = this.module('linear2', new Linear(dimFeedforward, dModel));
    this.norm1 = this.module('norm1', new LayerNorm(dModel));
    this.norm2 = this.module('norm2', new LayerNorm(dModel));
  }
  forward(x: Tensor, keyPaddingMask?: Tensor): Tensor {
    const sa = this.selfAttn.forward(x, x, x, { keyPaddingMask }).output;
    const h = this.norm1.forward(x.add(dropout(sa, this.dropoutP, this.training)));
    const act = this.linear1.forward(h);
    const ff = this.linear2.forward(dropout(this.activation === 'relu' ? act.relu() : act.gelu(), this.dropoutP, this.training));
    return this.norm2.forward(h.add(dropout(ff, this.dropoutP, this.training)));
  }
}
