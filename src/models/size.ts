// A lower bound on a model's parameters from its configuration, without building it: training refuses a model too
// large for the memory with it (src/train/size-check.ts), and loading a run refuses a manifest that describes a
// model larger than its weights file holds (a hostile manifest had cdmm build 4.5 GB before the weights were checked).
// It holds for every backbone: each modality's encoder maps its input to `dim`, fusion mixes `dim`-wide vectors, the
// branches are `dim × branchDim`.
import type { ModalityInfo } from '../data/types.js';
import type { ModelConfig } from './types.js';

/** The fewest parameters a model of this configuration has on these modalities. */
export function minParameters(modalities: ModalityInfo[], cfg: Pick<ModelConfig, 'dim' | 'branchDim'> & { seriesHidden?: number }): number {
  const d = cfg.dim;
  let n = 0;
  for (const m of modalities) {
    // A time series enters through a recurrent or convolutional layer of (at least) seriesHidden units.
    const width = m.type === 'timeseries' ? (cfg.seriesHidden ?? 64) : m.shape.reduce((a, b) => a * b, 1);
    n += width * d + d;
    // Tabular features and embeddings go through a two-layer MLP: a second d × d layer.
    if (m.type === 'tabular' || m.type === 'embedding') n += d * d;
  }
  return n + d * d + 2 * d * cfg.branchDim;
}


/**
 * The fewest parameters a run's model has, from its manifest's configuration, for checking the manifest against its
 * weights file before the model is built. A looser bound than minParameters, holding for every backbone (`lr`
 * included, whose encoders are single linear maps): each modality's input (or a time series' recurrent width, where
 * that is smaller) maps to `dim`; the head's first layer maps `dim` (or, debiased, the causal branch's `branchDim`,
 * itself mapped from `dim`) to `headHidden`; the transformer's layer holds its attention (4·dim²) and feed-forward
 * (2·dim·fusionFf) weights.
 */
export function minEncoderParameters(modalities: ModalityInfo[], cfg: Pick<ModelConfig, 'dim' | 'branchDim' | 'backbone' | 'debias'> & { seriesHidden?: number; headHidden?: number; fusionFf?: number }): number {
  const d = cfg.dim;
  let n = 0;
  for (const m of modalities) {
    const width = m.shape.reduce((a, b) => a * b, 1);
    n += (m.type === 'timeseries' ? Math.min(width, cfg.seriesHidden ?? 64) : width) * d;
  }
  const hh = cfg.headHidden ?? 64;
  n += cfg.debias === 'none' ? d * hh : d * cfg.branchDim + cfg.branchDim * hh;
  if (cfg.backbone === 'transformer') n += 4 * d * d + 2 * d * (cfg.fusionFf ?? 256);
  return n;
}
