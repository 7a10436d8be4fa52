export * from './metrics.js';
export * from './delong.js';
export * from './curves.js';
export * from './patterns.js';
export * from './reference.js';
export * from './bounds.js';
