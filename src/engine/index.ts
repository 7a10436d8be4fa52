// The engine: a typed TypeScript layer over libtorch. Import everything from here.
export { Tensor, tensor, scalar, zeros, ones, full, arange, eye, rand, randn, randint, randperm, bernoulli, cat, stack, where,
  matmul, bmm, cdist, linear } from './tensor.js';
export type { Dims, TensorOrScalar } from './tensor.js';
export type { DType, AnyTypedArray } from './dtype.js';
export { tidy, keep, scope, memory } from './scope.js';
export { manualSeed, setNumThreads, getNumThreads, libtorchVersion, noGrad, isGradEnabled } from './settings.js';
export { Module } from './nn/module.js';
export { Linear, ReLU, GELU, Tanh, Dropout, LayerNorm, Embedding, EmbeddingBag, Sequential, GRU, MultiheadAttention,
  TransformerEncoderLayer } from './nn/layers.js';
export type { Layer } from './nn/layers.js';
export * as F from './nn/functional.js';
export { Adam, AdamW, SGD, Optimizer, clipGradNorm, StepLR, CosineLR, OneCycleLR } from './optim.js';
export type { OptimizerOptions, LrSchedule } from './optim.js';
export { encodeSafetensors, decodeSafetensors, saveSafetensors, loadSafetensors, MAX_HEADER_BYTES } from './safetensors.js';
