import type { BackboneName } from '../types.js';
import type { Backbone, BackboneOptions } from './common.js';
import { EarlyFusion } from './early.js';
import { LateFusion } from './late.js';
import { TransformerFusion } from './transformer.js';
import { M3CareFusion } from './m3care.js';
import { MuseFusion } from './muse.js';
import { LinearFusion } from './lr.js';

export type { Backbone, BackboneOptions } from './common.js';
export { LinearFusion, EarlyFusion, LateFusion, TransformerFusion, M3CareFusion, MuseFusion };

/** The backbone registry: a new backbone is one file in this folder plus one line here (and its name in types.ts). */
export const BACKBONES: Record<BackboneName, (o: BackboneOptions) => Backbone> = {
  lr: (o) => new LinearFusion(o),
  early: (o) => new EarlyFusion(o),
  late: () => new LateFusion(),
  transformer: (o) => new TransformerFusion(o),
  m3care: (o) => new M3CareFusion(o),
  muse: (o) => new MuseFusion(o),
};

export function createBackbone(name: BackboneName, o: BackboneOptions): Backbone {
  if (!Object.hasOwn(BACKBONES, name)) throw new Error(`unknown backbone '${name as string}'`);
  return BACKBONES[name](o);
}
