// Losses and stateless layers.
import { native } from '../native.js';
import { Tensor, fromHandle, hOf } from '../tensor.js';

export type Reduction = 'none' | 'mean' | 'sum';
const RED: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
const opt = (t?: Tensor | null) => (t ? hOf(t) : -1);

/** Binary cross-entropy on probabilities. */
export function bce(p: Tensor, y: Tensor, o: { weight?: Tensor; reduction?: Reduction } = {}): Tensor {
  return fromHandle(native.bce(hOf(p), hOf(y), opt(o.weight), RED[o.reduction ?? 'mean']));
}
/** Binary cross-entropy on logits (numerically stable), with per-element weights and a positive-class weight. */
export function bceWithLogits(x: Tensor, y: Tensor, o: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {}): Tensor {
  return fromHandle(native.bceWithLogits(hOf(x), hOf(y), opt(o.weight), opt(o.posWeight), RED[o.reduction ?? 'mean']));
}
/** Cross-entropy over classes: logits (N, C), int64 targets (N). */
export function crossEntropy(x: Tensor, y: Tensor, o: { weight?: Tensor; reduction?: Reduction; labelSmoothing?: number } = {}): Tensor {
  return fromHandle(native.crossEntropy(hOf(x), hOf(y), opt(o.weight), RED[o.reduction ?? 'mean'], o.labelSmoothing ?? 0));
}
export function mse(a: Tensor, b: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  return fromHandle(native.mse(hOf(a), hOf(b), RED[o.reduction ?? 'mean']));
}
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return p > 0 && training ? fromHandle(native.dropout(hOf(x), p, true)) : x;
}
export function layerNorm(x: Tensor, shape: number[], w?: Tensor | null, b?: Tensor | null, eps = 1e-5): Tensor {
  return fromHandle(native.layerNorm(hOf(x), shape, opt(w), opt(b), eps));
}
export function softmax(x: Tensor, dim: number): Tensor { return x.softmax(dim); }
export function logSoftmax(x: Tensor, dim: number): Tensor { return x.logSoftmax(dim); }
