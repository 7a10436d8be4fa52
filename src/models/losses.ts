// The loss terms of the method that the engine does not provide: generalized cross-entropy and HSIC.
import { Tensor, cdist, tensor } from '../engine/index.js';

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
  return hsicKernels(rbfKernel(x), rbfKernel(y));
}

/** The same biased HSIC estimator from two (n, n) kernel matrices. */
export function hsicKernels(kx: Tensor, ky: Tensor): Tensor {
  const n = kx.size(0);
  const centred = kx.sub(kx.mean(0, true)).sub(kx.mean(1, true)).add(kx.mean());
  return centred.mul(ky).sum().div((n - 1) * (n - 1));
}

/**
 * Dependence between features x (B, f) and a categorical variable given as a one-hot matrix g (B, P), conditional on
 * the binary label y (B): the mean over the classes (with ≥ 2 patients) of HSIC(x, g) computed within the class, with
 * an RBF kernel on x and the delta kernel g gᵀ (1 when two patients share the category) on g. Zero when x carries no
 * information about the category beyond what the label explains. `yHost` is y already read back (no sync here).
 */
export function conditionalHsic(x: Tensor, g: Tensor, yHost: Float32Array): Tensor | null {
  let out: Tensor | null = null;
  let classes = 0;
  for (const cls of [0, 1]) {
    const idx: number[] = [];
    yHost.forEach((v, i) => { if ((v >= 0.5 ? 1 : 0) === cls) idx.push(i); });
    if (idx.length < 2) continue;
    const rows = tensor(BigInt64Array.from(idx, (i) => BigInt(i)), [idx.length]);
    const gc = g.indexSelect(0, rows);
    const term = hsicKernels(rbfKernel(x.indexSelect(0, rows)), gc.matmul(gc.T));
    out = out ? out.add(term) : term;
    classes++;
  }
  return out && classes > 1 ? out.div(classes) : out;
}

/**
 * Sum over the two labels of the squared Pearson correlation of a and b (B) among the batch's patients with that
 * label (y: B, 0/1). Zero when neither tells anything about the other beyond the label; a label with fewer than
 * two patients adds 0.
 */
export function withinLabelCorr2(a: Tensor, b: Tensor, y: Tensor): Tensor {
  let out: Tensor | null = null;
  for (const m of [y, y.rsub(1)]) {
    const n = m.sum().add(1e-6);
    const ca = a.sub(a.mul(m).sum().div(n)).mul(m);
    const cb = b.sub(b.mul(m).sum().div(n)).mul(m);
    const r = ca.mul(cb).sum().div(ca.square().sum().mul(cb.square().sum()).add(1e-8).sqrt());
    out = out ? out.add(r.square()) : r.square();
  }
  return out!;
}
