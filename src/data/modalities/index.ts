// Chooses the builder for a modality spec.
import type { ModalitySpec } from '../spec.js';
import { codesBuilder } from './codes.js';
import type { ModalityBuilder } from './common.js';
import { embeddingBuilder } from './embedding.js';
import { tabularBuilder } from './tabular.js';
import { textBuilder } from './text.js';
import { timeseriesBuilder } from './timeseries.js';

export function builderFor(m: ModalitySpec): ModalityBuilder<any, any> {
  switch (m.type) {
    case 'tabular': return tabularBuilder(m);
    case 'timeseries': return timeseriesBuilder(m);
    case 'codes': return codesBuilder(m);
    case 'text': return textBuilder(m);
    case 'embedding': return embeddingBuilder(m);
  }
}
