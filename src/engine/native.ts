// Loads the libtorch addon and declares its raw, handle-based interface. Only src/engine talks to it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type H = number; // tensor handle: an index into the addon's table; -1 means "none"
type Dims = number[] | number | null;

export interface NativeAddon {
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: number): H;
  toBuffer(h: H): ArrayBuffer;
  item(h: H): number;
  shape(h: H): number[];
  dim(h: H): number;
  numel(h: H): number;
  dtype(h: H): number;
  release(h: H): void;
  releaseMany(hs: H[]): void;
  memory(): { tensors: number; bytes: number };
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** OpenBLAS's thread count, -1 when the BLAS in use is not OpenBLAS. */
  blasThreads(): number;
  version(): string;
  zeros(shape: number[], dt: number): H;
  ones(shape: number[], dt: number): H;
  full(shape: number[], v: number, dt: number): H;
  arange(start: number, end: number, step: number, dt: number): H;
  eye(n: number, m: number, dt: number): H;
  rand(shape: number[], dt: number): H;
  randn(shape: number[], dt: number): H;
  randint(low: number, high: number, shape: number[]): H;
  randperm(n: number): H;
  bernoulli(p: H): H;
  bernoulliP(shape: number[], p: number, dt: number): H;
  to(h: H, dt: number): H;
  clone(h: H): H;
  contiguous(h: H): H;
  reshape(h: H, shape: number[]): H;
  view(h: H, shape: number[]): H;
  transpose(h: H, a: number, b: number): H;
  permute(h: H, dims: number[]): H;
  squeeze(h: H, dim?: number): H;
  unsqueeze(h: H, dim: number): H;
  expand(h: H, shape: number[]): H;
  repeat(h: H, reps: number[]): H;
  flatten(h: H, start: number, end: number): H;
  flip(h: H, dims: number[]): H;
  slice(h: H, dim: number, start: number | null, end: number | null, step: number): H;
  narrow(h: H, dim: number, start: number, len: number): H;
  select(h: H, dim: number, i: number): H;
  indexSelect(h: H, dim: number, idx: H): H;
  gather(h: H, dim: number, idx: H): H;
  scatter(h: H, dim: number, idx: H, src: H): H;
  scatterAdd(h: H, dim: number, idx: H, src: H): H;
  maskedFill(h: H, mask: H, v: number): H;
  where(c: H, a: H, b: H): H;
  cat(hs: H[], dim: number): H;
  stack(hs: H[], dim: number): H;
  split(h: H, sizes: number | number[], dim: number): H[];
  setRequiresGrad(h: H, on: boolean): void;
  requiresGrad(h: H): boolean;
  backward(h: H, grad: H, retain: boolean): void;
  grad(h: H): H;
  zeroGrad(h: H): void;
  detach(h: H): H;
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  copy_(dst: H, src: H): void;
  retype_(h: H, dt: number): void;
  uniform_(h: H, a: number, b: number): void;
  normal_(h: H, mean: number, std: number): void;
  fill_(h: H, v: number): void;
  unary(op: number, h: H): H;
  binary(op: number, a: H, b: H): H;
  binaryScalar(op: number, a: H, s: number): H;
  clamp(h: H, lo: number | null, hi: number | null): H;
  reduce(op: number, h: H, dims: Dims, keepdim: boolean, unbiased?: boolean): H;
  matmul(a: H, b: H): H;
  bmm(a: H, b: H): H;
  linear(x: H, w: H, b: H): H;
  cdist(a: H, b: H, p: number): H;
  softmax(h: H, dim: number): H;
  logSoftmax(h: H, dim: number): H;
  trace(h: H): H;
  outer(a: H, b: H): H;
  cumsum(h: H, dim: number): H;
  sort(h: H, dim: number, descending: boolean): H[];
  topk(h: H, k: number, dim: number, largest: boolean): H[];
  allclose(a: H, b: H, rtol: number, atol: number): boolean;
  equal(a: H, b: H): boolean;
  embedding(w: H, idx: H, paddingIdx: number | null): H;
  embeddingBag(w: H, idx: H, offsets: H, mode: number, perSampleWeights: H): H;
  layerNorm(x: H, shape: number[], w: H, b: H, eps: number): H;
  dropout(x: H, p: number, train: boolean): H;
  gru(x: H, hx: H, params: H[], hasBiases: boolean, layers: number, dropout: number, train: boolean, bidirectional: boolean, batchFirst: boolean): H[];
  attention(q: H, k: H, v: H, keyPadding: H, attnMask: H, dropout: number, train: boolean): H;
  mha(q: H, k: H, v: H, heads: number, inW: H, inB: H, outW: H, outB: H, keyPadding: H, attnMask: H, dropout: number, train: boolean, needWeights: boolean): H[];
  conv1d(x: H, w: H, b: H, stride: number, padding: number, dilation: number, groups: number): H;
  pad(x: H, pads: number[], value: number): H;
  bce(p: H, y: H, w: H, reduction: number): H;
  bceWithLogits(x: H, y: H, w: H, posWeight: H, reduction: number): H;
  crossEntropy(x: H, y: H, w: H, reduction: number, labelSmoothing: number): H;
  mse(a: H, b: H, reduction: number): H;
  optimCreate(kind: number, params: H[], opts: Record<string, number | boolean>): number;
  optimStep(id: number): void;
  optimZeroGrad(id: number): void;
  optimSetLr(id: number, lr: number): void;
  optimFree(id: number): void;
  clipGradNorm(params: H[], maxNorm: number): number;
}

function findAddon(): string {
  // src/engine → repository root → build/Release (works from sources run by tsx and from dist/src/engine).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'build', 'Release', 'cdmm_native.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(
    'cdmm: the libtorch addon is not built (build/Release/cdmm_native.node is missing). ' +
      'Install libtorch (apt-get install libtorch-dev) and run `npm run build:native`.',
  );
}

const require = createRequire(import.meta.url);
export const native: NativeAddon = require(findAddon());
