import type { BackboneName } from '../types.js';
import type { Backbone, BackboneOptions } from './common.js';
import { EarlyFusion } from './early.js';
import { LateFusion } from './late.js';
import { TransformerFusion } from './transformer.js';
import { M3CareFusion } from './m3care.js';
import { MuseFusion } from './muse.js';

export type { Backbone, BackboneOptions } from './common.js';
export { EarlyFusion, LateFusion, TransformerFusion, M3CareFusion, MuseFusion };

export function createBackbone(name: BackboneName, o: BackboneOptions): Backbone {
  switch (name) {
    case 'early': return new EarlyFusion(o);
    case 'late': return new LateFusion();
    case 'transformer': return new TransformerFusion(o);
    case 'm3care': return new M3CareFusion(o);
    case 'muse': return new MuseFusion(o);
    default: throw new Error(`unknown backbone '${name as string}'`);
  }
}
