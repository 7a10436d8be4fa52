// Codes modality: (id, time, code) rows in a window. Vocabulary = codes held by at least `min_count` training
// patients (most frequent first, capped at max_vocab); codes outside it go to an '<other>' feature, so new
// codes at prediction time are counted there, never refitted. Multi-hot (0/1) or log1p(counts).
import { CdmmError } from '../../util/errors.js';
import type { CodesSpec } from '../spec.js';
import { lit } from '../db.js';
import { prefixed, requireDenseFits, windowedRows, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface CodesRaw extends Raw {
  pid: Int32Array;
  code: string[];
  count: Float64Array;
}
export interface CodesState {
  vocabulary: string[];
  encoding: 'multihot' | 'counts';
}

/**
 * The codes one cell holds, as the SQL path computes them (codesSql): split on `split` with the spaces around each
 * code removed and empty ones dropped, then cut to `truncate` characters (code points). The request path uses this.
 */
export function cellCodes(code: string, m: Pick<CodesSpec, 'split' | 'truncate' | 'fold_case'>): string[] {
  let parts = m.split === undefined ? [code] : code.split(m.split).map((c) => c.replace(/^ +| +$/g, '')).filter((c) => c !== '');
  if (m.fold_case) parts = parts.map(foldCode).filter((c) => c !== '');
  return m.truncate === undefined ? parts : parts.map((c) => Array.from(c).slice(0, m.truncate).join(''));
}

/** fold_case: spaces around the code removed, ASCII letters upper-cased (the same on both paths: SQL's translate). */
const foldCode = (c: string) => c.replace(/^ +| +$/g, '').replace(/[a-z]+/g, (s) => s.toUpperCase());
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/** SELECT pid, code, n over `rows` (with __pid), `code` the cell's text: the same codes as cellCodes. */
function codesSql(rows: string, code: string, m: Pick<CodesSpec, 'split' | 'truncate' | 'fold_case'>): string {
  const cells = m.split === undefined
    ? `SELECT __pid AS pid, ${code} AS c FROM (${rows})`
    : `SELECT pid, regexp_replace(c0, '^ +| +$', '', 'g') AS c FROM (SELECT __pid AS pid, unnest(string_split(${code}, ${lit(m.split)})) AS c0 FROM (${rows}))`;
  const folded = m.fold_case ? `SELECT pid, translate(regexp_replace(c, '^ +| +$', '', 'g'), '${LOWER}', '${LOWER.toUpperCase()}') AS c FROM (${cells})` : cells;
  const cut = m.truncate === undefined ? 'c' : `left(c, ${m.truncate})`;
  return `SELECT pid, ${cut} AS code, count(*) AS n FROM (${folded}) ${m.split === undefined && !m.fold_case ? '' : "WHERE c <> ''"} GROUP BY ALL ORDER BY pid, code`;
}

export function codesBuilder(m: CodesSpec): ModalityBuilder<CodesRaw, CodesState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const field = `modalities.${name}`;
      const col = m.code ?? (ctx.spec.tables[m.table].format === 'meds' ? 'code' : undefined);
      if (!col) throw new CdmmError(`${ctx.specFile}: ${field}.code: expected the name of the code column`);
      ctx.db.requireColumn(m.table, col, `${field}.code`);
      const px = prefixed(col, m.prefix, 'x.');
      const p = prefixed(col, m.prefix);
      const rows = windowedRows(ctx, m.table, m.window, field, [...px.where, `x.${'"' + col.replace(/"/g, '""') + '"'} IS NOT NULL`], m.untimed === true);
      const res = await ctx.db.columns(codesSql(rows, p.expr, m));
      const pid = Int32Array.from(res.pid as number[]);
      const present = new Uint8Array(ctx.n);
      for (const i of pid) present[i] = 1;
      return { present, pid, code: res.code as string[], count: Float64Array.from(res.n as number[]) };
    },

    fit(raw, train) {
      const isTrain = new Uint8Array(raw.present.length);
      for (const i of train) isTrain[i] = 1;
      const patients = new Map<string, number>();
      for (let r = 0; r < raw.pid.length; r++) if (isTrain[raw.pid[r]]) patients.set(raw.code[r], (patients.get(raw.code[r]) ?? 0) + 1);
      const vocabulary = [...patients.entries()]
        .filter(([, k]) => k >= m.min_count)
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, m.max_vocab)
        .map(([c]) => c)
        .sort();
      return { vocabulary, encoding: m.encoding };
    },

    apply(raw, st, name) {
      const D = st.vocabulary.length + 1;
      requireDenseFits(raw.present.length, D, name, 'codes', 'lower max_vocab or raise min_count when training, or predict fewer patients at a time');
      const index = new Map(st.vocabulary.map((c, k) => [c, k]));
      const values = new Float32Array(raw.present.length * D);
      for (let r = 0; r < raw.pid.length; r++) {
        const k = index.get(raw.code[r]) ?? D - 1;
        values[raw.pid[r] * D + k] += raw.count[r];
      }
      for (let j = 0; j < values.length; j++) if (values[j] > 0) values[j] = st.encoding === 'multihot' ? 1 : Math.log1p(values[j]);
      return { info: { name, type: 'codes', shape: [D], features: [...st.vocabulary, '<other>'] }, values, present: raw.present };
    },
  };
}
