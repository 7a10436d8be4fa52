// The loss terms of the method that the engine does not provide: generalized cross-entropy and HSIC.
import { Tensor, cdist } from '../engine/index.js';

/**
 * Generalized cross-entropy for a binary logit: mean over patients of (1 − p_y^q) / q, where p_y is the probability
 * given to the true class. Small for patients the head already gets right, so it pushes the head to fit the easy
 * (bias-aligned) patients first. `weight` (B) optionally reweights patients (class imbalance).
 */
export function gce(logit: Tensor, y: Tensor, q: number, weight?: Tensor | null): Tensor {
  // p_y = σ(logit) for y = 1 and 1 − σ(logit) = σ(−logit) for y = 0: one sigmoid of the signed logit.
  const py = logit.mul(y.mul(2).sub(1)).sigmoid().clampMin(1e-6);
  const l = py.pow(q).rsub(1);
  return (weight ? l.mul(weight) : l).mean().div(q);
}

/** RBF kernel matrix exp(−‖x_i − x_j‖² / median‖·‖²) over the rows of x (B, f); the bandwidth carries no gradient. */
export function rbfKernel(x: Tensor): Tensor {
  const d2 = cdist(x, x).square();
  return d2.div(d2.detach().median().add(1e-6)).neg().exp();
}

/**
 * Biased HSIC estimator trace(Kx H Ky H) / (n − 1)² with RBF kernels (as in the benchmark reference), computed as
 * sum((H Kx H) ∘ Ky) / (n − 1)²: centring Kx directly costs O(n²) where the matrix products cost O(n³).
 */
export function hsic(x: Tensor, y: Tensor): Tensor {
  const n = x.size(0);
  const kx = rbfKernel(x);
  const ky = rbfKernel(y);
  const centred = kx.sub(kx.mean(0, true)).sub(kx.mean(1, true)).add(kx.mean());
  return centred.mul(ky).sum().div((n - 1) * (n - 1));
}
