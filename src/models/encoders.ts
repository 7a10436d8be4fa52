// Per-modality encoders: each maps a batch of one modality (B, ...shape) to embeddings (B, d).
// Missing modalities arrive as zeros; the encoders do not look at the mask (the backbones mask their outputs).
import { Module, Linear, GRU, EmbeddingBag, Tensor, zeros, noGrad, F } from '../engine/index.js';
import type { ModalityInfo } from '../data/types.js';
import type { SparseRows } from './types.js';

export interface Encoder extends Module {
  /** x: the dense batch (B, ...shape). */
  forward(x: Tensor): Tensor;
}

export interface EncoderOptions {
  dim: number;
  dropout: number;
  seriesEncoder: 'gru' | 'tcn';
  seriesHidden: number;
  /** Linear encoders only (the 'lr' backbone): a linear map of the (flattened) values, no hidden layer. */
  linear?: boolean;
}

/** A linear map of the flattened values (B, ...shape) → (B, d): the 'lr' backbone's encoder for dense modalities. */
export class LinearEncoder extends Module implements Encoder {
  readonly fc: Linear;
  constructor(inDim: number, dim: number) {
    super();
    this.fc = this.module('fc', new Linear(inDim, dim));
  }
  forward(x: Tensor): Tensor { return this.fc.forward(x.flatten(1)); }
}

/** Linear → ReLU → Linear: tabular features and precomputed embeddings. */
export class MlpEncoder extends Module implements Encoder {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inDim: number, dim: number, readonly dropoutP: number) {
    super();
    this.fc1 = this.module('fc1', new Linear(inDim, dim));
    this.fc2 = this.module('fc2', new Linear(dim, dim));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(F.dropout(this.fc1.forward(x).relu(), this.dropoutP, this.training));
  }
}

/**
 * Linear → ReLU over a wide, mostly-zero vector (multi-hot/count codes, hashed TF-IDF text). The weight is stored
 * as (in, d) rows so that, given the nonzeros, x·W is an EmbeddingBag sum weighted by the values: work in
 * proportion to the nonzeros (~1–2% here) instead of the full width. Without them it is a dense matmul.
 */
export class SparseLinearEncoder extends Module implements Encoder {
  readonly bag: EmbeddingBag;
  readonly bias: Tensor;
  /** `relu` false: a linear map (the 'lr' backbone). */
  constructor(inDim: number, dim: number, readonly relu = true) {
    super();
    this.bag = this.module('bag', new EmbeddingBag(inDim, dim, 'sum'));
    const bound = 1 / Math.sqrt(inDim); // PyTorch's Linear initialisation
    noGrad(() => this.bag.weight.uniform_(-bound, bound));
    this.bias = this.param('bias', zeros([dim]).uniform_(-bound, bound));
  }
  forward(x: Tensor): Tensor { return this.act(x.matmul(this.bag.weight).add(this.bias)); }
  /** The same from the rows' nonzeros (B bags). */
  forwardSparse(s: SparseRows): Tensor {
    return this.act(this.bag.forward(s.indices, s.offsets, s.weights).add(this.bias));
  }
  private act(x: Tensor): Tensor { return this.relu ? x.relu() : x; }
}

/** GRU over the binned channels (values, masks, time-since-last); last hidden state → Linear(hidden → d). */
export class GruSeriesEncoder extends Module implements Encoder {
  readonly gru: GRU;
  readonly out: Linear;
  constructor(channels: number, hidden: number, dim: number) {
    super();
    this.gru = this.module('gru', new GRU(channels, hidden));
    this.out = this.module('out', new Linear(hidden, dim));
  }
  forward(x: Tensor): Tensor {
    const { hidden } = this.gru.forward(x); // (1, B, hidden)
    return this.out.forward(hidden.squeeze(0));
  }
}

/**
 * Temporal convolution: three residual causal convolutions (kernel 3, dilations 1, 2, 4; receptive field 15 bins),
 * each libtorch's conv1d over (B, hidden, T) after 2δ zeros of left padding; the last bin's features → d.
 * Each layer's weights are kept as a Linear over the taps [x_t, x_{t−δ}, x_{t−2δ}] (the layout of earlier runs'
 * saved weights); as a conv kernel, tap j is kernel position 2 − j.
 */
export class TcnSeriesEncoder extends Module implements Encoder {
  static readonly dilations = [1, 2, 4];
  static readonly kernel = 3;
  readonly inProj: Linear;
  readonly convs: Linear[];
  readonly out: Linear;
  constructor(channels: number, readonly hidden: number, dim: number) {
    super();
    this.inProj = this.module('in', new Linear(channels, hidden));
    this.convs = TcnSeriesEncoder.dilations.map((d, i) => this.module(`conv${i}`, new Linear(hidden * TcnSeriesEncoder.kernel, hidden)));
    this.out = this.module('out', new Linear(hidden, dim));
  }
  forward(x: Tensor): Tensor {
    const k = TcnSeriesEncoder.kernel;
    let h = this.inProj.forward(x).relu().transpose(1, 2); // (B, hidden, T)
    TcnSeriesEncoder.dilations.forEach((d, i) => {
      const { weight, bias } = this.convs[i];
      const kernel = weight.view(this.hidden, k, this.hidden).flip(1).permute(0, 2, 1); // (out, in, k)
      h = h.add(F.conv1d(F.pad(h, [(k - 1) * d, 0]), kernel, bias, { dilation: d }).relu());
    });
    return this.out.forward(h.select(2, -1));
  }
}

export function createEncoder(m: ModalityInfo, o: EncoderOptions): Encoder {
  const width = m.shape[m.shape.length - 1];
  if (o.linear) {
    if (m.type === 'codes' || m.type === 'text') return new SparseLinearEncoder(width, o.dim, false);
    return new LinearEncoder(m.shape.reduce((a, b) => a * b, 1), o.dim);
  }
  switch (m.type) {
    case 'tabular':
    case 'embedding':
      if (m.shape.length !== 1) throw new Error(`modality '${m.name}' (${m.type}) needs a 1-D shape, got [${m.shape.join(', ')}]`);
      return new MlpEncoder(width, o.dim, o.dropout);
    case 'codes':
    case 'text':
      if (m.shape.length !== 1) throw new Error(`modality '${m.name}' (${m.type}) needs a 1-D shape, got [${m.shape.join(', ')}]`);
      return new SparseLinearEncoder(width, o.dim);
    case 'timeseries':
      if (m.shape.length !== 2) throw new Error(`modality '${m.name}' (timeseries) needs shape [T, C], got [${m.shape.join(', ')}]`);
      return o.seriesEncoder === 'tcn' ? new TcnSeriesEncoder(width, o.seriesHidden, o.dim) : new GruSeriesEncoder(width, o.seriesHidden, o.dim);
    default:
      throw new Error(`modality '${m.name}': unknown type '${(m as ModalityInfo).type}'`);
  }
}
