// Module: parameters and child modules registered by name, train/eval mode, state dicts.
import { Tensor, zeros } from '../tensor.js';
import { keep } from '../scope.js';
import { noGrad } from '../settings.js';
import { native } from '../native.js';
import { DTYPE_CODE, type DType } from '../dtype.js';

export class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (gradients on). */
  protected param(name: string, t: Tensor): Tensor {
    keep(t).requiresGrad_(true);
    this.params.set(name, t);
    return t;
  }
  /** Registers non-trainable state saved with the weights (e.g. priors). */
  protected buffer(name: string, t: Tensor): Tensor {
    keep(t);
    this.buffers.set(name, t);
    return t;
  }
  protected module<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] { return this.namedParameters().map(([, p]) => p); }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }
  namedChildren(): [string, Module][] { return [...this.children]; }
  numParameters(): number { return this.parameters().reduce((s, p) => s + p.numel, 0); }

  train(on = true): this {
    this.training = on;
    for (const c of this.children.values()) c.train(on);
    return this;
  }
  eval(): this { return this.train(false); }

  /** Converts every parameter and buffer to dtype in place (the Tensor objects stay the same). */
  to(dtype: DType): this {
    for (const t of this.stateDict().values()) if (t.dtype !== dtype && t.dtype !== 'int64' && t.dtype !== 'bool') native.retype_(t.h, DTYPE_CODE[dtype]);
    return this;
  }

  zeroGrad(): void { for (const p of this.parameters()) p.zeroGrad(); }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }
  /** Copies values into this module's tensors; every name must match with the same shape. */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, strict = true): void {
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !src.has(k));
      const extra = [...src.keys()].filter((k) => !own.has(k));
      if (missing.length || extra.length)
        throw new Error(`loadStateDict: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`);
    }
    noGrad(() => {
      for (const [k, t] of own) {
        const s = src.get(k);
        if (!s) continue;
        const a = t.shape.join('x'), b = s.shape.join('x');
        if (a !== b) throw new Error(`loadStateDict: ${k} has shape [${b}], the model expects [${a}]`);
        // copy_ would convert (a BOOL tensor's 0/1 into float weights): a file of another dtype is not this model's.
        if (s.dtype !== t.dtype) throw new Error(`loadStateDict: ${k} has dtype ${s.dtype}, the model expects ${t.dtype}`);
        t.copy_(s);
      }
    });
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}

/** Kaiming-uniform-like init used by PyTorch's Linear: U(−1/√fanIn, 1/√fanIn). */
export function uniformInit(shape: number[], fanIn: number): Tensor {
  const b = 1 / Math.sqrt(Math.max(1, fanIn));
  return zeros(shape).uniform_(-b, b);
}
