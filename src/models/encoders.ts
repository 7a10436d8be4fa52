// Per-modality encoders: each maps a batch of one modality (B, ...shape) to embeddings (B, d).
// Missing modalities arrive as zeros; the encoders do not look at the mask (the backbones mask their outputs).
import { Module, Linear, GRU, EmbeddingBag, Tensor, cat, zeros, noGrad, F } from '../engine/index.js';
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
  constructor(inDim: number, dim: number) {
    super();
    this.bag = this.module('bag', new EmbeddingBag(inDim, dim, 'sum'));
    const bound = 1 / Math.sqrt(inDim); // PyTorch's Linear initialisation
    noGrad(() => this.bag.weight.uniform_(-bound, bound));
    this.bias = this.param('bias', zeros([dim]).uniform_(-bound, bound));
  }
  forward(x: Tensor): Tensor { return x.matmul(this.bag.weight).add(this.bias).relu(); }
  /** The same from the rows' nonzeros (B bags). */
  forwardSparse(s: SparseRows): Tensor {
    return this.bag.forward(s.indices, s.offsets, s.weights).add(this.bias).relu();
  }
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
 * Temporal convolution: the engine has no conv op, so a causal convolution with kernel size 3 and dilation δ is a
 * Linear over [x_t, x_{t−δ}, x_{t−2δ}] (copies shifted along time with zero padding on the left, built with
 * slice/cat). Three residual layers with dilations 1, 2, 4 (receptive field 15 bins); the last bin's features → d.
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
  private shifted(h: Tensor, by: number): Tensor {
    const [b, t, c] = h.shape;
    if (by >= t) return zeros([b, t, c]);
    return cat([zeros([b, by, c]), h.slice(1, 0, t - by)], 1);
  }
  forward(x: Tensor): Tensor {
    let h = this.inProj.forward(x).relu(); // (B, T, hidden)
    TcnSeriesEncoder.dilations.forEach((d, i) => {
      const taps = [h];
      for (let j = 1; j < TcnSeriesEncoder.kernel; j++) taps.push(this.shifted(h, j * d));
      h = h.add(this.convs[i].forward(cat(taps, 2)).relu());
    });
    return this.out.forward(h.select(1, -1));
  }
}

export function createEncoder(m: ModalityInfo, o: EncoderOptions): Encoder {
  const width = m.shape[m.shape.length - 1];
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
