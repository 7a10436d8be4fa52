// MUSE-style fusion: a bipartite graph between the batch's patients and K modality nodes, with an edge where the
// patient observed the modality (its embedding is the edge feature). Two rounds of mean-aggregation message passing
// over observed edges only: patient ← its modality nodes, then modality node ← its patients.
import { Module, Linear, Tensor, cat, stack, zeros } from '../../engine/index.js';
import type { Backbone, BackboneOptions } from './common.js';

const ROUNDS = 2;

export class MuseFusion extends Module implements Backbone {
  readonly nodeEmbedding: Tensor;
  readonly toPatient: Linear[];
  readonly toModality: Linear[];
  constructor(readonly o: BackboneOptions) {
    super();
    this.nodeEmbedding = this.param('node_embedding', zeros([o.modalities, o.dim]).normal_(0, 0.02));
    this.toPatient = Array.from({ length: ROUNDS }, (_, r) => this.module(`to_patient${r}`, new Linear(2 * o.dim, o.dim)));
    // The last round's modality update would feed nothing, so there is one fewer of these.
    this.toModality = Array.from({ length: ROUNDS - 1 }, (_, r) => this.module(`to_modality${r}`, new Linear(2 * o.dim, o.dim)));
  }
  forward(embeddings: Tensor[], mask: Tensor): Tensor {
    const e = stack(embeddings, 1); // (B, K, d) edge features
    const b = e.size(0);
    const m = mask.unsqueeze(-1); // (B, K, 1)
    let nodes = this.nodeEmbedding.unsqueeze(0).expand(b, this.o.modalities, this.o.dim); // (B, K, d)
    let patient: Tensor | null = null;
    for (let r = 0; r < ROUNDS; r++) {
      // Patient ← mean over its observed edges of a message from (modality node, edge feature).
      const msg = this.toPatient[r].forward(cat([nodes, e], 2)).relu();
      patient = msg.mul(m).sum(1).div(mask.sum(1, true));
      if (r === ROUNDS - 1) break;
      // Modality node ← its own state + mean over the patients that observed it of (patient, edge feature).
      const up = this.toModality[r].forward(cat([patient.unsqueeze(1).expand(b, this.o.modalities, this.o.dim), e], 2)).relu();
      const agg = up.mul(m).sum(0).div(mask.sum(0).unsqueeze(-1).clampMin(1)); // (K, d)
      nodes = nodes.add(agg.unsqueeze(0));
    }
    return patient!;
  }
}
