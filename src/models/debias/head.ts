// The prediction head around a backbone's fused representation z (METHOD.md components 1 and 2):
//  - deconfounding: causal features c = relu(W z), pattern embeddings e_m, a pattern-conditioned head h(c, e_m)
//    evaluated for every dictionary pattern at once, and the back-door adjusted prediction
//    p_do = Σ_m π_m σ(h(c, e_m)) (or its NWGM approximation);
//  - the joint dual branch (dualBranch 'joint', v1): causal c and spurious s projections, a spurious head trained
//    with GCE, LfF bias-reweighting of the causal loss, a c–s dependence penalty (HSIC or CLUB) and an optional
//    counterfactual swap. The default dual branch ('separate') lives outside the head (bias-network.ts): it only
//    hands the head per-patient weights (LossContext.sampleWeight);
//  - 'none': a plain MLP head on z (linear for the 'lr' backbone).
import { Module, Linear, Tensor, tensor, scalar, zeros, eye, randperm, cat, noGrad, F } from '../../engine/index.js';
import { ClubEstimator } from '../club.js';
import { conditionalHsic, gce, hsic } from '../losses.js';
import type { Batch, LossParts, ModelConfig, ModelOutput, PatternDictionary } from '../types.js';

export interface LossContext {
  /** 0-based epoch: bias-reweighting and the swap start at cfg.warmupEpochs. */
  epoch: number;
  /** Weight of positive patients in every BCE-type term (class imbalance); 1 or absent = off. */
  posWeight?: number;
  /** Per-patient EMA of the bias weights, indexed by batch.rows; NaN = not seen yet. Updated in place. */
  emaWeights?: Float32Array;
  /** Per-patient weights of the prediction losses (B): the balancing weights of the debiasing parts. */
  sampleWeight?: Tensor;
  /** Set false to skip reading the loss parts back (parts is then empty). */
  parts?: boolean;
}

export const LOSS_PARTS = ['bce_do', 'fact', 'gce', 'dec', 'swap', 'w_mean', 'pat'] as const;

export class DebiasHead extends Module {
  readonly deconfound: boolean;
  readonly dual: boolean;
  readonly prior: Tensor;
  readonly logPrior: Tensor;
  /** z → c (absent in 'none', where the head reads z itself). */
  readonly causal: Linear | null = null;
  readonly spurious: Linear | null = null;
  readonly spuriousHead: Linear | null = null;
  readonly patternEmbedding: Tensor | null = null;
  /** First layer of the head, split by input: Linear([c; e]) = headC(c) + headE(e). */
  readonly headC: Linear;
  readonly headE: Linear | null = null;
  readonly headOut: Linear;
  readonly query: Linear | null = null;
  readonly key: Linear | null = null;
  readonly swapHead: Linear | null = null;
  readonly club: ClubEstimator | null = null;
  /** Mask → spurious features (cfg.spuriousMask): hands the shortcut "which modalities are present" to s. */
  readonly spuriousMask: Linear | null = null;

  constructor(readonly cfg: ModelConfig, dict: PatternDictionary) {
    super();
    const { dim, branchDim: br } = cfg;
    const hh = cfg.headHidden ?? 64;
    this.deconfound = cfg.debias === 'deconfound' || cfg.debias === 'full';
    // Only the joint (v1) dual branch lives in the head; the separate one weights the loss from outside.
    this.dual = (cfg.debias === 'dual' || cfg.debias === 'full') && cfg.dualBranch === 'joint';
    const P = dict.masks.length;
    this.prior = this.buffer('prior', tensor(Float32Array.from(dict.prior), [P]));
    this.logPrior = this.buffer('log_prior', tensor(Float32Array.from(dict.prior, (p) => Math.log(Math.max(p, 1e-12))), [P]));
    if (cfg.debias !== 'none') this.causal = this.module('causal', new Linear(dim, br));
    if (this.dual) {
      this.spurious = this.module('spurious', new Linear(dim, br));
      this.spuriousHead = this.module('spurious_head', new Linear(br, 1));
      if (cfg.lambdaSwap > 0) this.swapHead = this.module('swap_head', new Linear(2 * br, 1));
      if (cfg.decorrelation === 'club') this.club = this.module('club', new ClubEstimator(br));
      if (cfg.spuriousMask) this.spuriousMask = this.module('spurious_mask', new Linear(dict.masks[0].length, br));
    }
    this.headC = this.module('head_c', new Linear(cfg.debias === 'none' ? dim : br, hh));
    if (this.deconfound) {
      this.patternEmbedding = this.param('pattern_embedding', zeros([P, dim]).normal_(0, 0.02));
      this.headE = this.module('head_e', new Linear(dim, hh, false));
      if (cfg.adjustment === 'nwgm') {
        this.query = this.module('query', new Linear(br, dim));
        this.key = this.module('key', new Linear(dim, dim));
      }
    }
    this.headOut = this.module('head_out', new Linear(hh, 1));
  }

  get patterns(): number { return this.prior.size(0); }

  /** Logits h(c, e_m) for every pattern: (B, P). headC(c) is computed once and broadcast against headE(E). */
  logitsAll(c: Tensor): Tensor {
    const hid = this.headC.forward(c).unsqueeze(1).add(this.headE!.forward(this.patternEmbedding!)).relu();
    return this.headOut.forward(hid).squeeze(-1);
  }

  /** NWGM: σ(h(c, ē)) with ē the prior-weighted attention average of the pattern embeddings. */
  private nwgm(c: Tensor): Tensor {
    const e = this.patternEmbedding!;
    const scores = this.query!.forward(c).matmul(this.key!.forward(e).T).div(Math.sqrt(this.cfg.dim)).add(this.logPrior);
    const eBar = scores.softmax(1).matmul(e); // π_m a_m / Σ π a, as a softmax over log π + q·k/√d
    return this.headOut.forward(this.headC.forward(c).add(this.headE!.forward(eBar)).relu()).squeeze(-1).sigmoid();
  }

  /** The causal features are returned (zc) whenever a loss term needs them. */
  private get keepC(): boolean { return this.dual || (this.cfg.lambdaPattern ?? 0) > 0; }

  /** `mask` (B, K) feeds the spurious branch when cfg.spuriousMask is on. */
  forward(zIn: Tensor, patternIdx: Tensor, mask?: Tensor): ModelOutput {
    const z = F.dropout(zIn, this.cfg.dropout, this.training);
    if (this.cfg.debias === 'none') {
      const hid = this.headC.forward(z);
      const logit = this.headOut.forward(this.cfg.backbone === 'lr' ? hid : hid.relu()).squeeze(-1);
      return { p: logit.sigmoid(), logitFactual: logit, logitsAll: null, logitSpurious: null, zc: null, zs: null };
    }
    const c = this.causal!.forward(z).relu();
    let s: Tensor | null = null;
    if (this.dual) {
      let pre = this.spurious!.forward(z);
      if (this.spuriousMask) {
        if (!mask) throw new Error('DebiasHead.forward: spuriousMask needs the batch mask');
        pre = pre.add(this.spuriousMask.forward(mask));
      }
      s = pre.relu();
    }
    const logitSpurious = s ? this.spuriousHead!.forward(s).squeeze(-1) : null;
    if (!this.deconfound) {
      const logit = this.headOut.forward(this.headC.forward(c).relu()).squeeze(-1);
      return { p: logit.sigmoid(), logitFactual: logit, logitsAll: null, logitSpurious, zc: this.keepC ? c : null, zs: s };
    }
    const logitsAll = this.logitsAll(c);
    const p = this.cfg.adjustment === 'nwgm' ? this.nwgm(c) : logitsAll.sigmoid().matmul(this.prior);
    const logitFactual = logitsAll.gather(1, patternIdx.unsqueeze(1)).squeeze(1);
    return { p, logitFactual, logitsAll, logitSpurious, zc: this.keepC ? c : null, zs: s };
  }

  /** Per-patient bias weights w = CE_s / (CE_s + CE_c), without gradient; optionally EMA-smoothed per patient. */
  private biasWeights(out: ModelOutput, y: Tensor, batch: Batch, ctx: LossContext): Tensor {
    return noGrad(() => {
      const ceC = this.deconfound
        ? F.bce(out.p.clamp(1e-6, 1 - 1e-6), y, { reduction: 'none' })
        : F.bceWithLogits(out.logitFactual, y, { reduction: 'none' });
      const ceS = F.bceWithLogits(out.logitSpurious!, y, { reduction: 'none' });
      const w = ceS.div(ceS.add(ceC).add(1e-8));
      const beta = this.cfg.weightEma;
      if (!(beta > 0) || !ctx.emaWeights || !batch.rows) return w;
      const ema = ctx.emaWeights;
      const now = w.toFloat32Array();
      const rows = batch.rows.toArray() as BigInt64Array;
      for (let i = 0; i < now.length; i++) {
        const r = Number(rows[i]);
        const prev = ema[r];
        ema[r] = Number.isNaN(prev) ? now[i] : beta * prev + (1 - beta) * now[i];
        now[i] = ema[r];
      }
      return tensor(now, [now.length]);
    });
  }

  /**
   * Counterfactual swap: a head g on [c; s] sees the spurious features of another patient of the batch. Its
   * prediction must still match the patient's own label (weighted like the causal loss) and must not move when s is
   * swapped; both push the label signal into c rather than s.
   */
  private swapLoss(c: Tensor, s: Tensor, y: Tensor, w: Tensor | null): Tensor {
    const sPerm = s.indexSelect(0, randperm(s.size(0)));
    const gSwap = this.swapHead!.forward(cat([c, sPerm], 1)).squeeze(-1);
    const gOwn = this.swapHead!.forward(cat([c, s], 1)).squeeze(-1);
    const fit = F.bceWithLogits(gSwap, y, w ? { weight: w } : {});
    return fit.add(gSwap.sigmoid().sub(gOwn.sigmoid()).square().mean());
  }

  loss(out: ModelOutput, batch: Batch, ctx: LossContext): LossParts {
    const y = batch.labels;
    if (!y) throw new Error('model.loss: the batch has no labels');
    const cfg = this.cfg;
    const pw = ctx.posWeight !== undefined && ctx.posWeight !== 1 ? ctx.posWeight : null;
    const posWeight = pw !== null ? scalar(pw) : undefined;
    const classOnly = pw !== null ? y.mul(pw - 1).add(1) : null; // per patient: posWeight for positives, 1 otherwise
    const sw = ctx.sampleWeight ?? null;
    const classW = sw && classOnly ? classOnly.mul(sw) : (sw ?? classOnly);
    const afterWarmup = ctx.epoch >= cfg.warmupEpochs;
    const wRaw = this.dual && afterWarmup ? this.biasWeights(out, y, batch, ctx) : null;
    // cfg.weightNorm: w / mean(w) over the batch, so the causal loss keeps its scale when every w is small.
    const w = wRaw && cfg.weightNorm ? noGrad(() => wRaw.div(wRaw.mean().clampMin(1e-8))) : wRaw;
    const zero = scalar(0);

    let main: Tensor;
    if (this.deconfound) {
      const weight = w && classW ? w.mul(classW) : (w ?? classW);
      main = F.bce(out.p.clamp(1e-6, 1 - 1e-6), y, weight ? { weight } : {});
    } else {
      const weight = w && sw ? w.mul(sw) : (w ?? sw);
      main = F.bceWithLogits(out.logitFactual, y, { ...(weight ? { weight } : {}), ...(posWeight ? { posWeight } : {}) });
    }
    let total = main;
    const fact = this.deconfound ? F.bceWithLogits(out.logitFactual, y, { ...(sw ? { weight: sw } : {}), ...(posWeight ? { posWeight } : {}) }) : zero;
    if (this.deconfound) total = total.add(fact.mul(cfg.lambdaFact));
    let gceTerm = zero, dec = zero, swap = zero;
    if (this.dual) {
      gceTerm = gce(out.logitSpurious!, y, cfg.gceQ, classW);
      total = total.add(gceTerm.mul(cfg.lambdaGce));
      if (this.club) {
        dec = this.club.bound(out.zc!, out.zs!);
        total = total.add(dec.mul(cfg.lambdaDec)).add(this.club.fitLoss(out.zc!, out.zs!));
      } else {
        dec = hsic(out.zc!, out.zs!);
        total = total.add(dec.mul(cfg.lambdaDec));
      }
      if (this.swapHead && afterWarmup) {
        swap = this.swapLoss(out.zc!, out.zs!, y, w);
        total = total.add(swap.mul(cfg.lambdaSwap));
      }
    }
    let pat = zero;
    if ((cfg.lambdaPattern ?? 0) > 0 && out.zc) {
      // c ⊥ pattern | y: HSIC between c and the one-hot of the patient's dictionary pattern, within each class.
      const onehot = eye(this.patterns).indexSelect(0, batch.patternIdx);
      const term = conditionalHsic(out.zc, onehot, y.toFloat32Array());
      if (term) {
        pat = term;
        total = total.add(pat.mul(cfg.lambdaPattern!));
      }
    }
    if (ctx.parts === false) return { total, parts: {} };
    const wMean = wRaw ? wRaw.mean() : scalar(1);
    const vals = noGrad(() => cat([main, fact, gceTerm, dec, swap, wMean, pat].map((t) => t.detach().reshape(1)), 0).toFloat32Array());
    const parts: Record<string, number> = {};
    LOSS_PARTS.forEach((k, i) => { parts[k] = vals[i]; });
    return { total, parts };
  }
}
