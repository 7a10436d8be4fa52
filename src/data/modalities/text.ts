// Text modality: (id, time, text) rows in a window, concatenated per patient, tokenised (lower-case words),
// hashed into a fixed number of buckets (FNV-1a with a seed) and weighted by TF-IDF with the idf fitted on
// the training split; rows are L2-normalised. Missing when the window holds no text.
import { CdmmError } from '../../util/errors.js';
import type { TextSpec } from '../spec.js';
import { prefixed, requireDenseFits, windowedRows, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface TextRaw extends Raw {
  docs: (string | null)[];
}
export interface TextState {
  width: number;
  hashSeed: number;
  idf: number[];
}

/** FNV-1a 32-bit hash of a token, seeded. */
export function hashToken(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export function termCounts(doc: string, width: number, seed: number): Map<number, number> {
  const tf = new Map<number, number>();
  for (const tok of tokenize(doc)) {
    const b = hashToken(tok, seed) % width;
    tf.set(b, (tf.get(b) ?? 0) + 1);
  }
  return tf;
}

export function textBuilder(m: TextSpec): ModalityBuilder<TextRaw, TextState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const field = `modalities.${name}`;
      const isMeds = ctx.spec.tables[m.table].format === 'meds';
      const col = m.text ?? (isMeds ? 'text_value' : undefined);
      if (!col) throw new CdmmError(`${ctx.specFile}: ${field}.text: expected the name of the text column`);
      ctx.db.requireColumn(m.table, col, `${field}.text`);
      const where: string[] = [`x."${col.replace(/"/g, '""')}" IS NOT NULL`];
      if (m.prefix) {
        ctx.db.requireColumn(m.table, 'code', `${field}.prefix`);
        where.push(...prefixed('code', m.prefix, 'x.').where);
      }
      const rows = windowedRows(ctx, m.table, m.window, field, where, m.untimed === true);
      const res = await ctx.db.columns(
        `SELECT __pid AS pid, string_agg(CAST("${col.replace(/"/g, '""')}" AS VARCHAR), ' ' ORDER BY __rel, "${col.replace(/"/g, '""')}") AS doc
         FROM (${rows}) GROUP BY __pid`,
      );
      const docs = new Array<string | null>(ctx.n).fill(null);
      const present = new Uint8Array(ctx.n);
      (res.pid as number[]).forEach((p, r) => { docs[p] = res.doc[r] as string; present[p] = 1; });
      return { present, docs };
    },

    fit(raw, train) {
      const df = new Float64Array(m.width);
      let nDocs = 0;
      for (const i of train) {
        const d = raw.docs[i];
        if (d === null) continue;
        nDocs++;
        for (const b of termCounts(d, m.width, m.hash_seed).keys()) df[b]++;
      }
      const idf = Array.from(df, (x) => (x >= m.min_df ? Math.log((1 + nDocs) / (1 + x)) + 1 : 0));
      return { width: m.width, hashSeed: m.hash_seed, idf };
    },

    apply(raw, st, name) {
      const D = st.width;
      requireDenseFits(raw.docs.length, D, name, 'hash buckets', 'lower width when training, or predict fewer patients at a time');
      const values = new Float32Array(raw.docs.length * D);
      raw.docs.forEach((d, i) => {
        if (d === null) return;
        let norm = 0;
        for (const [b, c] of termCounts(d, D, st.hashSeed)) {
          const w = (1 + Math.log(c)) * st.idf[b];
          values[i * D + b] = w;
          norm += w * w;
        }
        if (norm > 0) for (let b = 0; b < D; b++) values[i * D + b] /= Math.sqrt(norm);
      });
      const features = Array.from({ length: D }, (_, b) => `hash${b}`);
      return { info: { name, type: 'text', shape: [D], features }, values, present: raw.present };
    },
  };
}
