// CLUB (Cheng et al., 2020): a contrastive upper bound on I(c; s) through a variational Gaussian q(s | c).
// q is fitted by maximum likelihood on detached features; the bound, which the encoder minimises, is computed with
// q's weights detached. Both go into one loss so that a single backward pass trains both sides correctly.
import { Module, Linear, Tensor, linear } from '../engine/index.js';

export class ClubEstimator extends Module {
  readonly hidden: Linear;
  readonly mu: Linear;
  readonly logvar: Linear;
  constructor(readonly width: number) {
    super();
    this.hidden = this.module('hidden', new Linear(width, width));
    this.mu = this.module('mu', new Linear(width, width));
    this.logvar = this.module('logvar', new Linear(width, width));
  }

  private gaussian(c: Tensor, frozen: boolean): { mu: Tensor; logvar: Tensor } {
    const lin = (l: Linear, x: Tensor) => (frozen ? linear(x, l.weight.detach(), l.bias!.detach()) : l.forward(x));
    const h = lin(this.hidden, c).relu();
    return { mu: lin(this.mu, h), logvar: lin(this.logvar, h).tanh() };
  }

  /** Negative log-likelihood of s under q(· | c), up to a constant (trains q only). */
  fitLoss(c: Tensor, s: Tensor): Tensor {
    const { mu, logvar } = this.gaussian(c.detach(), false);
    return s.detach().sub(mu).square().div(logvar.exp()).add(logvar).sum(1).mean().div(2);
  }

  /**
   * The bound mean_i [log q(s_i | c_i) − mean_j log q(s_j | c_i)], with the mean over j in closed form:
   * mean_j (s_j − μ_i)² = (μ_i − s̄)² + var(s) per dimension.
   */
  bound(c: Tensor, s: Tensor): Tensor {
    const { mu, logvar } = this.gaussian(c, true);
    const sMean = s.mean(0, true);
    const sVar = s.var(0, true, false);
    const positive = s.sub(mu).square();
    const negative = mu.sub(sMean).square().add(sVar);
    return negative.sub(positive).div(logvar.exp().mul(2)).sum(1).mean();
  }

  /** What goes into the total loss: the bound (for the encoder) plus q's fitting loss (for q). */
  loss(c: Tensor, s: Tensor): Tensor { return this.bound(c, s).add(this.fitLoss(c, s)); }
}
