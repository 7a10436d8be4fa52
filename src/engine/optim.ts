// Optimizers (libtorch's own, stepped with one native call), gradient clipping and learning-rate schedules.
import { native } from './native.js';
import { Tensor, hOf } from './tensor.js';

export interface OptimizerOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  amsgrad?: boolean;
}

const registry = new FinalizationRegistry<number>((id) => native.optimFree(id));

export abstract class Optimizer {
  private id: number;
  private lrNow: number;
  protected constructor(kind: number, readonly params: Tensor[], o: OptimizerOptions, defaultLr: number) {
    this.lrNow = o.lr ?? defaultLr;
    this.id = native.optimCreate(kind, params.map(hOf), {
      lr: this.lrNow,
      beta1: o.betas?.[0] ?? 0.9,
      beta2: o.betas?.[1] ?? 0.999,
      eps: o.eps ?? 1e-8,
      ...(o.weightDecay !== undefined ? { weightDecay: o.weightDecay } : {}),
      momentum: o.momentum ?? 0,
      nesterov: o.nesterov ?? false,
      amsgrad: o.amsgrad ?? false,
    });
    registry.register(this, this.id, this);
  }
  step(): void { native.optimStep(this.live()); }
  /** Frees the gradients of every parameter (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void { native.optimZeroGrad(this.live()); }
  get lr(): number { return this.lrNow; }
  set lr(v: number) { native.optimSetLr(this.live(), v); this.lrNow = v; }
  dispose(): void {
    if (this.id < 0) return;
    registry.unregister(this);
    native.optimFree(this.id);
    this.id = -1;
  }
  private live(): number {
    if (this.id < 0) throw new Error('optimizer was disposed');
    return this.id;
  }
}

export class Adam extends Optimizer { constructor(params: Tensor[], o: OptimizerOptions = {}) { super(0, params, o, 1e-3); } }
/** Adam with decoupled weight decay (default 0.01, as in PyTorch). */
export class AdamW extends Optimizer { constructor(params: Tensor[], o: OptimizerOptions = {}) { super(1, params, o, 1e-3); } }
export class SGD extends Optimizer { constructor(params: Tensor[], o: OptimizerOptions = {}) { super(2, params, o, 1e-2); } }

/** Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return native.clipGradNorm(params.map(hOf), maxNorm);
}

/** A learning-rate schedule: call step() once per optimizer step (or per epoch for StepLR, as you configure). */
export interface LrSchedule { step(): void; readonly lr: number }

/** Multiplies the rate by gamma every stepSize steps. */
export class StepLR implements LrSchedule {
  private t = 0;
  private readonly base: number;
  constructor(private readonly opt: Optimizer, private readonly stepSize: number, private readonly gamma = 0.1) { this.base = opt.lr; }
  step(): void { this.t++; this.opt.lr = this.base * this.gamma ** Math.floor(this.t / this.stepSize); }
  get lr(): number { return this.opt.lr; }
}

/** Cosine annealing from the initial rate to minLr over totalSteps. */
export class CosineLR implements LrSchedule {
  private t = 0;
  private readonly base: number;
  constructor(private readonly opt: Optimizer, private readonly totalSteps: number, private readonly minLr = 0) { this.base = opt.lr; }
  step(): void {
    this.t = Math.min(this.t + 1, this.totalSteps);
    this.opt.lr = this.minLr + 0.5 * (this.base - this.minLr) * (1 + Math.cos((Math.PI * this.t) / this.totalSteps));
  }
  get lr(): number { return this.opt.lr; }
}

/** One-cycle: linear warm-up to maxLr over pctStart of the steps, then cosine down to maxLr/finalDiv. */
export class OneCycleLR implements LrSchedule {
  private t = 0;
  constructor(private readonly opt: Optimizer, private readonly maxLr: number, private readonly totalSteps: number,
    private readonly pctStart = 0.3, private readonly divFactor = 25, private readonly finalDiv = 1e4) {
    opt.lr = maxLr / divFactor;
  }
  step(): void {
    this.t = Math.min(this.t + 1, this.totalSteps);
    const up = Math.max(1, Math.round(this.pctStart * this.totalSteps));
    const start = this.maxLr / this.divFactor, end = this.maxLr / this.finalDiv;
    if (this.t <= up) this.opt.lr = start + (this.maxLr - start) * (this.t / up);
    else {
      const f = (this.t - up) / Math.max(1, this.totalSteps - up);
      this.opt.lr = end + 0.5 * (this.maxLr - end) * (1 + Math.cos(Math.PI * f));
    }
  }
  get lr(): number { return this.opt.lr; }
}
