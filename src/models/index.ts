// The model layer's API for training, evaluation and serving.
export { createModel, defaultModelConfig, fusionSeesMask, CdmmModel } from './model.js';
export { makeBatch, type BatchSource, type MaskOverride } from './batch.js';
export { buildPatternDictionary, assignPatterns, maskKey, modalityDropout, type PatternDictionaryOptions } from './patterns.js';
export { DebiasHead, LOSS_PARTS, type LossContext } from './debias/head.js';
export { gce, hsic, rbfKernel } from './losses.js';
export { createEncoder, type Encoder } from './encoders.js';
export { createBackbone, type Backbone } from './backbones/index.js';
export type * from './types.js';
