// Tabular modality: numeric and categorical columns of a one-row-per-patient table.
// Numeric: standardised with training mean/std; a value missing inside an observed modality is imputed with
// the training mean (0 after standardising) and flagged. Categorical: one-hot over the training categories
// plus 'other' (unseen) and 'missing'. The modality is missing when all its columns are.
import { CdmmError } from '../../util/errors.js';
import { kindOf, q, tbl } from '../db.js';
import type { TabularSpec } from '../spec.js';
import { COHORT_IDX, cohortJoin, meanStd, type Ctx, type ModalityBuilder, type Raw } from './common.js';

export interface TabularRaw extends Raw {
  numeric: Float64Array[]; // per column, NaN = missing
  categorical: (string | null)[][]; // per column
}
export interface TabularState {
  numeric: { column: string; mean: number; std: number }[];
  categorical: { column: string; categories: string[] }[];
  missingIndicators: boolean;
}

/** Where fitted column `col` is among the columns read; a spec without it cannot be scored with this state. */
function column(read: string[], col: string, name: string, kind: 'numeric' | 'categorical'): number {
  const k = read.indexOf(col);
  if (k < 0) throw new CdmmError(`modalities.${name}.${kind}: the model was trained with column '${col}', which this spec does not list (${kind}: [${read.join(', ')}])`);
  return k;
}

/** How far after the prediction time, in days, a first_row row still counts as at it (float rounding). */
export const AT_INDEX_TOLERANCE = 1e-9;

export function tabularBuilder(m: TabularSpec): ModalityBuilder<TabularRaw, TabularState> {
  return {
    async extract(ctx: Ctx, name: string) {
      const field = `modalities.${name}`;
      await ctx.db.requireUniqueIds(m.table, `${field}.table (tabular)`);
      for (const [i, c] of m.numeric.entries()) await ctx.db.requireNumeric(m.table, c, `${field}.numeric[${i}]`);
      for (const [i, c] of m.categorical.entries()) ctx.db.requireColumn(m.table, c, `${field}.categorical[${i}]`);
      const sel = [
        'c.pid',
        ...m.numeric.map((c) => `CAST(x.${q(c)} AS DOUBLE)`),
        ...m.categorical.map((c) => `CAST(x.${q(c)} AS VARCHAR)`),
      ];
      // A per-patient table made from timed rows (first_row): its earliest row may still come after the prediction
      // time (an eICU stay's first blood pressure at 1,582 min for an index at 1,440): then it is not used, as no
      // window would use it (a tester's logistic model reached test AUROC 0.94 from such values alone).
      const info = ctx.db.table(m.table);
      // (1e-9 days, a tenth of a millisecond: a row at the prediction time itself, computed as minutes / 1,440 on one
      // side and days + offset on the other, came out a rounding error after it in 2% of cases)
      const after = ctx.spec.tables[m.table]?.first_row && info.time ? `(${COHORT_IDX(kindOf(info.columns.get(info.time)!), `x.${q(info.time)}`, info.unitsPerDay)} - c.idx) > ${AT_INDEX_TOLERANCE}` : undefined;
      // (read with the values, as a last column, and counted here: one scan)
      if (after) sel.push(`coalesce(${after}, FALSE)`);
      const sql = `SELECT ${sel.join(', ')} FROM ${tbl(m.table)} x ${cohortJoin(ctx, m.table)}`;
      const rows = await ctx.db.reader(sql);
      const cols = rows.getColumnsJS() as unknown[][];
      const n = ctx.n;
      const numeric = m.numeric.map(() => new Float64Array(n).fill(NaN));
      const categorical = m.categorical.map(() => new Array<string | null>(n).fill(null));
      const present = new Uint8Array(n);
      const pids = cols[0] ?? []; // a result without rows (no patient has the table, e.g. a record without it) has no vectors
      const isLate = after ? cols[sel.length - 1] : undefined;
      let late = 0;
      for (let r = 0; r < pids.length; r++) {
        if (isLate?.[r] === true) { late++; continue; }
        const pid = Number(pids[r]);
        let any = false;
        m.numeric.forEach((_, j) => {
          const v = cols[1 + j][r];
          if (v !== null && v !== undefined && Number.isFinite(Number(v))) { numeric[j][pid] = Number(v); any = true; }
        });
        m.categorical.forEach((_, j) => {
          const v = cols[1 + m.numeric.length + j][r];
          if (v !== null && v !== undefined && String(v).trim() !== '') { categorical[j][pid] = String(v); any = true; }
        });
        present[pid] = any ? 1 : 0;
      }
      if (late) ctx.db.warnings.push(`${field}: for ${late} patient${late === 1 ? '' : 's'} the earliest row of tables.${m.table} (first_row) comes after the prediction time: its values are not used (nothing known later may enter the inputs); if they are per-patient constants known before it (age, sex), move the prediction time (cohort.index_offset) or read them from a table declared without a time`);
      return { present, numeric, categorical };
    },

    fit(raw, train, name) {
      const trainPresent = Array.from(train).filter((i) => raw.present[i]);
      // A column no training patient has a value in gets no trained weight, yet a value given later would still move
      // the risk through it (a tester's all-empty column: mean 0, sd 1, 0.516 → 0.580): refused, not fitted.
      if (trainPresent.length) {
        const emptyNum = m.numeric.filter((_, j) => !trainPresent.some((i) => Number.isFinite(raw.numeric[j][i])));
        const emptyCat = m.categorical.filter((_, j) => !trainPresent.some((i) => raw.categorical[j][i] !== null));
        const empty = [...emptyNum.map((c) => `numeric '${c}'`), ...emptyCat.map((c) => `categorical '${c}'`)];
        if (empty.length)
          throw new CdmmError(`modalities.${name}: ${empty.join(', ')} ${empty.length === 1 ? 'has' : 'have'} no value in any training patient (an empty column?): the model cannot learn from ${empty.length === 1 ? 'it' : 'them'}; leave ${empty.length === 1 ? 'it' : 'them'} out of the modality`);
      }
      return {
        numeric: m.numeric.map((column, j) => ({ column, ...meanStd((i) => raw.numeric[j][i], trainPresent) })),
        categorical: m.categorical.map((column, j) => {
          const seen = new Set<string>();
          for (const i of trainPresent) { const v = raw.categorical[j][i]; if (v !== null) seen.add(v); }
          return { column, categories: [...seen].sort() };
        }),
        missingIndicators: m.missing_indicators,
      };
    },

    apply(raw, st, name) {
      const features: string[] = [];
      for (const s of st.numeric) features.push(s.column);
      if (st.missingIndicators) for (const s of st.numeric) features.push(`${s.column}:missing`);
      const catOffsets: number[] = [];
      for (const c of st.categorical) {
        catOffsets.push(features.length);
        for (const v of c.categories) features.push(`${c.column}=${v}`);
        features.push(`${c.column}=<other>`, `${c.column}=<missing>`);
      }
      const D = features.length;
      const n = raw.present.length;
      const values = new Float32Array(n * D);
      const nNum = st.numeric.length;
      const catIndex = st.categorical.map((c) => new Map(c.categories.map((v, k) => [v, k])));
      // The fitted columns by name in what was read (another spec may list them in another order).
      const numAt = st.numeric.map((s) => column(m.numeric, s.column, name, 'numeric'));
      const catAt = st.categorical.map((s) => column(m.categorical, s.column, name, 'categorical'));
      for (let i = 0; i < n; i++) {
        if (!raw.present[i]) continue;
        const row = i * D;
        for (let j = 0; j < nNum; j++) {
          const v = raw.numeric[numAt[j]][i];
          if (Number.isFinite(v)) values[row + j] = (v - st.numeric[j].mean) / st.numeric[j].std;
          else if (st.missingIndicators) values[row + nNum + j] = 1;
        }
        st.categorical.forEach((c, j) => {
          const v = raw.categorical[catAt[j]][i];
          const k = v === null ? c.categories.length + 1 : catIndex[j].get(v) ?? c.categories.length;
          values[row + catOffsets[j] + k] = 1;
        });
      }
      return { info: { name, type: 'tabular', shape: [D], features }, values, present: raw.present };
    },
  };
}
