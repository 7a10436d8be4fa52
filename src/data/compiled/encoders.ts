// One encoder per modality type: the fitted state of a modality, compiled once into what its transform needs for
// one record (readers of the columns it uses, vocabulary and category indices, bin edges), and the transform of a
// record into the modality's features. Each follows its builder in src/data/modalities/ step by step — the rows
// its SQL selects (window, prefix, non-null values), the aggregation, then `apply` with the same float32
// roundings — so that the arrays equal the SQL path's (test/data-compiled.test.ts).
import type { PatientRecord } from '../records.js';
import type { CodesSpec, EmbeddingSpec, Spec, TabularSpec, TextSpec, TimeseriesSpec, Window } from '../spec.js';
import { cellCodes, type CodesState } from '../modalities/codes.js';
import type { EmbeddingState } from '../modalities/embedding.js';
import { AT_INDEX_TOLERANCE, type TabularState } from '../modalities/tabular.js';
import { termCounts, type TextState } from '../modalities/text.js';
import { binEdges, binOf, CellAggregate, type TimeseriesState } from '../modalities/timeseries.js';
import { NUMBER_CLASSES, TEXT_CLASSES, Unsupported, type Problem, type Row, type TableView } from './records.js';

export interface Encoder {
  readonly name: string;
  /** Features per patient (the product of the modality's shape). */
  readonly width: number;
  /**
   * Writes the record's features at out[at, at + width), which holds zeros, and says whether the modality is
   * observed (nothing is written when it is not); `idx` is the patient's index time in days.
   */
  encode(rec: PatientRecord, idx: number, out: Float32Array, at: number): boolean | Problem;
}

export interface EncoderContext {
  spec: Spec;
  name: string;
  table: (name: string) => TableView;
}

/** The rows of a long table inside a window around the index time (windowedRows): each with its days from the index. */
function windowed(t: TableView, w: Window | 'untimed', field: string): (rec: PatientRecord, idx: number, rows: Row[], each: (row: Row, rel: number) => void) => void {
  if (w === 'untimed' && !t.hasTime) return (_rec, _idx, rows, each) => rows.forEach((row) => each(row, 0));
  // untimed on a table with times: its rows without a time, at the index (windowedRows)
  if (w === 'untimed') return (rec, _idx, rows, each) => rows.forEach((row) => Number.isNaN(t.days(rec, row)) && each(row, 0));
  if (!t.hasTime) throw new Unsupported(`${field}: table '${t.name}' has no time column`);
  const start = w.start, end = w.end;
  return (rec, idx, rows, each) => {
    for (const row of rows) {
      const rel = t.days(rec, row) - idx;
      if (rel <= end && (start === null || rel >= start)) each(row, rel);
    }
  };
}

/** The one row of a table meant to hold one row per patient, none, or the problem of several (requireUniqueIds). */
function oneRow(t: TableView, rec: PatientRecord, field: string): { row: Row | null } | Problem {
  const rows = t.rows(rec);
  if (rows.length > 1) return { path: [t.name], message: `${rows.length} rows, but ${field} needs one row per patient` };
  return { row: rows[0] ?? null };
}

/** MEDS-style code prefixes: rows whose text starts with it, the prefix cut off (prefixed() in common.ts). */
const cut = (s: string, prefix: string | undefined) => (prefix === undefined ? s : s.startsWith(prefix) ? s.slice(prefix.length) : null);

export function tabularEncoder(m: TabularSpec, st: TabularState, c: EncoderContext): Encoder {
  const t = c.table(m.table);
  const field = `modalities.${c.name}.table (tabular)`;
  const num = st.numeric.map((s) => ({ ...s, cls: t.classOf(s.column, NUMBER_CLASSES, 'a number') }));
  const cats = st.categorical.map((s) => ({ column: s.column, cls: t.classOf(s.column, TEXT_CLASSES, 'a category'), index: new Map(s.categories.map((v, k) => [v, k])), other: s.categories.length }));
  const nNum = num.length;
  const offsets: number[] = [];
  let width = nNum * (st.missingIndicators ? 2 : 1);
  for (const s of st.categorical) {
    offsets.push(width);
    width += s.categories.length + 2;
  }
  return {
    name: c.name,
    width,
    encode(rec, idx, out, at) {
      const one = oneRow(t, rec, field);
      if (!('row' in one)) return one;
      const row = one.row;
      if (row === null) return false;
      // A first_row table's earliest row after the prediction time is not used (tabular.ts, extract).
      if (t.keepsFirstRow && t.hasTime && t.days(rec, row) - idx > AT_INDEX_TOLERANCE) return false;
      const x = num.map((s) => t.number(rec, row, s.column, s.cls));
      const v = cats.map((s) => {
        const text = t.text(rec, row, s.column, s.cls);
        return text !== null && text.trim() !== '' ? text : null;
      });
      if (!x.some(Number.isFinite) && !v.some((s) => s !== null)) return false;
      for (let j = 0; j < nNum; j++) {
        if (Number.isFinite(x[j])) out[at + j] = (x[j] - num[j].mean) / num[j].std;
        else if (st.missingIndicators) out[at + nNum + j] = 1;
      }
      cats.forEach((s, j) => {
        const k = v[j] === null ? s.other + 1 : (s.index.get(v[j]!) ?? s.other);
        out[at + offsets[j] + k] = 1;
      });
      return true;
    },
  };
}

export function timeseriesEncoder(m: TimeseriesSpec, st: TimeseriesState, c: EncoderContext): Encoder {
  const t = c.table(m.table);
  const field = `modalities.${c.name}`;
  // Rows are windowed and binned with the spec's edges (extract), values written with the state's (apply).
  const edges = binEdges(m);
  const T = edges.length - 1;
  if (st.edges.length !== edges.length) throw new Unsupported(`${field}: fitted edges differ from the spec's`);
  const bin = binOf(edges);
  const rows = windowed(t, { start: edges[0], end: edges[T], allow_after_index: m.window.allow_after_index }, field);
  const V = st.variables.length;
  const C = 3 * V;
  const varIndex = new Map(st.variables.map((v, k) => [v.name, k]));
  const mean = st.variables.map((v) => v.mean), std = st.variables.map((v) => v.std);
  const scale = Math.log1p(st.edges[T] - st.edges[0]);
  const isMeds = c.spec.tables[m.table].format === 'meds';
  const wide = m.columns?.map((col) => ({ k: varIndex.get(col), col, cls: t.classOf(col, NUMBER_CLASSES, 'a number') })).filter((w) => w.k !== undefined) as { k: number; col: string; cls: ReturnType<TableView['classOf']> }[] | undefined;
  const variable = m.columns ? undefined : (m.variable ?? 'code');
  const valueCol = m.value ?? (isMeds ? 'numeric_value' : undefined);
  if (!m.columns && !valueCol) throw new Unsupported(`${field}.value: no value column`);
  const varCls = variable === undefined ? undefined : t.classOf(variable, TEXT_CLASSES, 'a variable name');
  const valCls = valueCol === undefined || m.columns ? undefined : t.classOf(valueCol, NUMBER_CLASSES, 'a number');
  return {
    name: c.name,
    width: T * C,
    encode(rec, idx, out, at) {
      const recRows = t.rows(rec);
      if (recRows.length === 0) return false;
      // The same cells as the SQL path's (CellAggregate): per (bin, variable) the last value (latest time, ties →
      // larger value) or the mean, and the latest time, held in float32.
      const cells = new CellAggregate(T * V, m.aggregate);
      const observe = (rel: number, k: number, v: number) => cells.add(bin(rel) * V + k, rel, v);
      rows(rec, idx, recRows, (row, rel) => {
        if (wide) {
          for (const w of wide) {
            const v = t.number(rec, row, w.col, w.cls);
            if (!Number.isNaN(v)) observe(rel, w.k, v);
          }
          return;
        }
        const v = t.number(rec, row, valueCol!, valCls!);
        if (Number.isNaN(v)) return;
        const text = t.text(rec, row, variable!, varCls!);
        const name = text === null ? null : cut(text, m.prefix);
        const k = name === null ? undefined : varIndex.get(name);
        if (k !== undefined) observe(rel, k, v);
      });
      const { value, tlast } = cells.finish();
      let present = false;
      for (let cell = 0; cell < T * V && !present; cell++) present = value[cell] === value[cell];
      if (!present) return false;
      // apply: forward-filled standardised values, observation flags, scaled days since the last observation.
      for (let k = 0; k < V; k++) {
        let ff = 0;
        let lastT = NaN;
        for (let b = 0; b < T; b++) {
          const cell = b * V + k;
          const o = at + b * C;
          if (value[cell] === value[cell]) {
            ff = (value[cell] - mean[k]) / std[k];
            lastT = tlast[cell];
            out[o + V + k] = 1;
          }
          out[o + k] = ff;
          out[o + 2 * V + k] = Number.isNaN(lastT) ? 1 : Math.min(1, Math.log1p(Math.max(0, st.edges[b + 1] - lastT)) / scale);
        }
      }
      return true;
    },
  };
}

export function codesEncoder(m: CodesSpec, st: CodesState, c: EncoderContext): Encoder {
  const t = c.table(m.table);
  const field = `modalities.${c.name}`;
  const col = m.code ?? (c.spec.tables[m.table].format === 'meds' ? 'code' : undefined);
  if (!col) throw new Unsupported(`${field}.code: no code column`);
  const cls = t.classOf(col, TEXT_CLASSES, 'a code');
  const rows = windowed(t, m.untimed === true ? 'untimed' : m.window, field);
  const D = st.vocabulary.length + 1;
  const index = new Map(st.vocabulary.map((v, k) => [v, k]));
  const counts = st.encoding === 'counts';
  return {
    name: c.name,
    width: D,
    encode(rec, idx, out, at) {
      const touched: number[] = [];
      rows(rec, idx, t.rows(rec), (row) => {
        const text = t.text(rec, row, col, cls);
        const cell = text === null ? null : cut(text, m.prefix);
        if (cell === null) return;
        for (const code of cellCodes(cell, m)) {
          const k = index.get(code) ?? D - 1;
          if (out[at + k] === 0) touched.push(k);
          out[at + k] += 1;
        }
      });
      for (const k of touched) out[at + k] = counts ? Math.log1p(out[at + k]) : 1;
      return touched.length > 0;
    },
  };
}

/** DuckDB orders text by bytes of UTF-8, i.e. by code points (JavaScript's < compares UTF-16 units). */
function byCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // Only surrogates (U+D800–DFFF) sort differently: as code points they come after U+E000–FFFF.
    const cx = a.codePointAt(i)!, cy = b.codePointAt(i)!;
    return cx < cy ? -1 : cx > cy ? 1 : 0;
  }
  return a.length - b.length;
}

export function textEncoder(m: TextSpec, st: TextState, c: EncoderContext): Encoder {
  const t = c.table(m.table);
  const field = `modalities.${c.name}`;
  const col = m.text ?? (c.spec.tables[m.table].format === 'meds' ? 'text_value' : undefined);
  if (!col) throw new Unsupported(`${field}.text: no text column`);
  const cls = t.classOf(col, TEXT_CLASSES, 'text');
  const codeCls = m.prefix === undefined ? undefined : t.classOf('code', TEXT_CLASSES, 'a code');
  const rows = windowed(t, m.untimed === true ? 'untimed' : m.window, field);
  const D = st.width;
  return {
    name: c.name,
    width: D,
    encode(rec, idx, out, at) {
      const docs: { rel: number; text: string }[] = [];
      rows(rec, idx, t.rows(rec), (row, rel) => {
        const text = t.text(rec, row, col, cls);
        if (text === null) return;
        if (codeCls && !(t.text(rec, row, 'code', codeCls) ?? '').startsWith(m.prefix!)) return;
        docs.push({ rel, text });
      });
      if (docs.length === 0) return false;
      // string_agg(text, ' ' ORDER BY __rel, text), then the builder's TF-IDF with L2 normalisation.
      docs.sort((a, b) => a.rel - b.rel || byCodePoints(a.text, b.text));
      let norm = 0;
      const tf = termCounts(docs.map((d) => d.text).join(' '), D, st.hashSeed);
      for (const [b, n] of tf) {
        const w = (1 + Math.log(n)) * st.idf[b];
        out[at + b] = w;
        norm += w * w;
      }
      if (norm > 0) for (const b of tf.keys()) out[at + b] /= Math.sqrt(norm);
      return true;
    },
  };
}

export function embeddingEncoder(m: EmbeddingSpec, st: EmbeddingState, c: EncoderContext): Encoder {
  const t = c.table(m.table);
  const field = `modalities.${c.name}.table (embedding)`;
  const cols = st.columns.map((col, d) => ({ col, cls: t.classOf(col, NUMBER_CLASSES, 'a number'), mean: st.mean[d], std: st.std[d] }));
  return {
    name: c.name,
    width: cols.length,
    encode(rec, _idx, out, at) {
      const one = oneRow(t, rec, field);
      if (!('row' in one)) return one;
      const row = one.row;
      if (row === null) return false;
      const x = cols.map((s) => t.number(rec, row, s.col, s.cls));
      if (!x.some(Number.isFinite)) return false;
      cols.forEach((s, d) => {
        if (Number.isFinite(x[d])) out[at + d] = (x[d] - s.mean) / s.std;
      });
      return true;
    },
  };
}
