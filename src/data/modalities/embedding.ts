// Embedding modality: precomputed vectors (imaging or ECG model outputs) in a table keyed by patient id,
// one column per dimension; optionally standardised per dimension with training statistics. Missing when
// the patient has no row or only empty values.
import { CdmmError } from '../../util/errors.js';
import { q, tbl } from '../db.js';
import type { EmbeddingSpec } from '../spec.js';
import { cohortJoin, meanStd, numericColumns, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface EmbeddingRaw extends Raw {
  columns: string[];
  data: Float64Array[]; // per dimension, n values, NaN = missing
}
export interface EmbeddingState {
  columns: string[];
  mean: number[];
  std: number[];
}

/** Widest embedding accepted: image and note embeddings are 128–4,096 wide; beyond this it is not one. */
export const MAX_EMBEDDING_COLUMNS = 8192;

export function embeddingBuilder(m: EmbeddingSpec): ModalityBuilder<EmbeddingRaw, EmbeddingState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const field = `modalities.${name}`;
      const t = ctx.db.table(m.table);
      const columns = m.columns ?? [...t.columns.keys()].filter((c) => c.startsWith(m.column_prefix!) && c !== t.id);
      if (columns.length === 0) throw new CdmmError(`${ctx.specFile}: ${field}.column_prefix: no column of table '${m.table}' starts with '${m.column_prefix}'`);
      if (columns.length > MAX_EMBEDDING_COLUMNS)
        throw new CdmmError(
          `${ctx.specFile}: ${field}${m.columns ? '.columns' : '.column_prefix'}: ${columns.length} columns of table '${m.table}' is more than an embedding may have (${MAX_EMBEDDING_COLUMNS}); ` +
            `reduce it first (e.g. PCA), or give a longer prefix`,
        );
      await ctx.db.requireUniqueIds(m.table, `${field}.table (embedding)`);
      await ctx.db.requireNumericColumns(m.table, columns, (i) => (m.columns ? `${field}.columns[${i}]` : `${field}.column_prefix`));
      const cols = await numericColumns(
        ctx.db,
        `SELECT c.pid, ${columns.map((c) => `CAST(x.${q(c)} AS DOUBLE)`).join(', ')} FROM ${tbl(m.table)} x ${cohortJoin(ctx, m.table)}`,
      );
      const data = columns.map(() => new Float64Array(ctx.n).fill(NaN));
      const present = new Uint8Array(ctx.n);
      for (let r = 0; r < cols[0].length; r++) {
        const p = cols[0][r];
        for (let d = 0; d < columns.length; d++) {
          const v = cols[d + 1][r];
          data[d][p] = v;
          if (Number.isFinite(v)) present[p] = 1;
        }
      }
      return { present, columns, data };
    },

    fit(raw, train) {
      const tp = Array.from(train).filter((i) => raw.present[i]);
      const stats = raw.data.map((col) => (m.standardize ? meanStd((i) => col[i], tp) : { mean: 0, std: 1 }));
      return { columns: raw.columns, mean: stats.map((s) => s.mean), std: stats.map((s) => s.std) };
    },

    apply(raw, st, name) {
      const D = st.columns.length;
      const n = raw.present.length;
      const values = new Float32Array(n * D);
      const byName = new Map(raw.columns.map((c, k) => [c, k]));
      st.columns.forEach((c, d) => {
        const col = raw.data[byName.get(c)!];
        for (let i = 0; i < n; i++) if (raw.present[i] && Number.isFinite(col[i])) values[i * D + d] = (col[i] - st.mean[d]) / st.std[d];
      });
      return { info: { name, type: 'embedding', shape: [D], features: st.columns }, values, present: raw.present };
    },
  };
}
