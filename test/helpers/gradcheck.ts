// Finite-difference gradient check: compares autograd's gradient of a scalar function with central differences.
import { Tensor, tensor, noGrad, tidy } from '../../src/engine/index.js';

export interface GradcheckResult { maxAbsErr: number; maxRelErr: number; checked: number }

/**
 * f maps the inputs to a scalar tensor. Each input must require grad. Perturbs every element of every input
 * (or a random subset of `maxPerInput`) by ±eps and compares (f(x+eps) − f(x−eps)) / 2eps with x.grad.
 */
export function gradcheck(f: (xs: Tensor[]) => Tensor, inputs: Tensor[], o: { eps?: number; maxPerInput?: number } = {}): GradcheckResult {
  const eps = o.eps ?? 1e-6;
  for (const x of inputs) x.zeroGrad();
  tidy(() => f(inputs).backward());
  let maxAbs = 0, maxRel = 0, checked = 0;
  for (const x of inputs) {
    const g = x.grad;
    const analytic = g ? Array.from(g.toArray() as Float64Array | Float32Array, Number) : new Array(x.numel).fill(0);
    g?.dispose();
    const dt = x.dtype;
    const base = Array.from(x.toArray() as Float64Array | Float32Array, Number);
    const shape = x.shape;
    const idx = [...base.keys()];
    const pick = o.maxPerInput && idx.length > o.maxPerInput ? idx.filter((_, i) => i % Math.ceil(idx.length / o.maxPerInput!) === 0) : idx;
    const evalAt = (i: number, v: number) => {
      const vals = base.slice(); vals[i] = v;
      return noGrad(() => tidy(() => {
        const src = tensor(dt === 'float64' ? Float64Array.from(vals) : Float32Array.from(vals), shape, dt);
        x.copy_(src);
        return f(inputs).item();
      }));
    };
    for (const i of pick) {
      const num = (evalAt(i, base[i] + eps) - evalAt(i, base[i] - eps)) / (2 * eps);
      const err = Math.abs(num - analytic[i]);
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(1e-3, Math.abs(num) + Math.abs(analytic[i])));
      checked++;
    }
    noGrad(() => tidy(() => x.copy_(tensor(dt === 'float64' ? Float64Array.from(base) : Float32Array.from(base), shape, dt))));
  }
  return { maxAbsErr: maxAbs, maxRelErr: maxRel, checked };
}
