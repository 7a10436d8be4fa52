// A model's size, bounded from below before it is built: a width such as --dim 100000000 would otherwise fail in
// libtorch's allocator after a long wait (or take the machine's memory). Deliberately a lower bound that holds for
// every backbone (each modality's encoder maps its input to `dim`, fusion mixes `dim`-wide vectors, the branches
// are `dim × branchDim`: src/models/size.ts), so it never refuses a model that would fit.
import { constrainedMemory } from 'node:process';
import { totalmem } from 'node:os';
import type { ModalityInfo } from '../data/types.js';
import { minParameters } from '../models/size.js';
import type { ModelConfig } from '../models/types.js';
import { CdmmError } from '../util/errors.js';

/** Bytes per parameter while training: the weight, its gradient and the optimizer's two moments (float32). */
const TRAIN_BYTES_PER_PARAM = 16;

/** The memory this process may use: the container's limit when there is one, else the machine's. */
export function memoryLimit(): number {
  const c = typeof constrainedMemory === 'function' ? constrainedMemory() : 0;
  const total = totalmem();
  return c && c > 0 && c < total ? c : total;
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(b < 2 ** 30 ? 2 : 0)} GB`;

/** Refuses, before building it, a model whose parameters alone would not fit in memory while training. */
export function checkModelSize(modalities: ModalityInfo[], cfg: ModelConfig, limit = memoryLimit()): void {
  const params = minParameters(modalities, cfg);
  const bytes = params * TRAIN_BYTES_PER_PARAM;
  if (bytes > 0.5 * limit)
    throw new CdmmError(
      `model too large: dim ${cfg.dim}, branch dim ${cfg.branchDim} on these modalities means at least ${params.toExponential(2)} parameters ` +
        `(≥ ${gb(bytes)} to train), more than this machine's memory allows (${gb(limit)}); use a smaller --dim or --branch-dim`,
    );
}

export { minParameters };
