// Losses and stateless layers: attention, convolution, padding, normalisation, dropout.
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

/**
 * Scaled dot-product attention, batch first with the heads split: q (B, L, H, Dh), k and v (B, S, H, Dh) →
 * (B, L, H, Dh). keyPaddingMask (B, S) bool, true = ignore that key; attnMask (L, S) or (B·H, L, S), bool (true = not
 * allowed) or additive float. Dropout on the weights only when training. One native op (native/ops_nn.cc).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, o: { keyPaddingMask?: Tensor; attnMask?: Tensor; dropout?: number; training?: boolean } = {}): Tensor {
  return fromHandle(native.attention(hOf(q), hOf(k), hOf(v), opt(o.keyPaddingMask), opt(o.attnMask), o.dropout ?? 0, o.training ?? false));
}

/** 1-D convolution (libtorch's): x (B, Cin, T), weight (Cout, Cin / groups, K) → (B, Cout, T'). */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, o: { stride?: number; padding?: number; dilation?: number; groups?: number } = {}): Tensor {
  return fromHandle(native.conv1d(hOf(x), hOf(weight), opt(bias), o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1));
}

/** Constant padding as torch.nn.functional.pad: pads = [left, right] for the last dim, then the one before, …. */
export function pad(x: Tensor, pads: number[], value = 0): Tensor {
  return fromHandle(native.pad(hOf(x), pads, value));
}
