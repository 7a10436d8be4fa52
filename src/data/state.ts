// The fitted preprocessing state (DataState) as untrusted input: a run folder may come from elsewhere, and its
// state reaches DuckDB (column types in CREATE TABLE) and the arrays the model reads. The schema admits only
// DuckDB column types from a fixed grammar, names without control characters, finite numbers, and per modality
// the fields its builder reads; the cross-checks tie the state to the spec and to the modalities the model was
// built for (by applying the state to zero patients and comparing what comes out).
import { z } from 'zod';
import { formatPath, type Spec } from './spec.js';
import { builderFor } from './modalities/index.js';
import { binEdges } from './modalities/timeseries.js';
import type { ModalityInfo } from './types.js';
import type { DataState } from './build.js';

/** Column types as DuckDB's DESCRIBE writes them for CSV and Parquet columns (lists of them included). */
const SCALAR_TYPES = [
  'BOOLEAN', 'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT',
  'FLOAT', 'DOUBLE', 'DATE', 'TIME', 'TIME WITH TIME ZONE', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP_S', 'TIMESTAMP_MS',
  'TIMESTAMP_NS', 'INTERVAL', 'VARCHAR', 'BLOB', 'UUID', 'BIT',
];
const DECIMAL = /^DECIMAL\((\d{1,2}),(\d{1,2})\)$/;

/** True for a column type of the grammar: a scalar type, DECIMAL(p,s) with 1 ≤ p ≤ 38 and s ≤ p, or a list of them. */
export function isColumnType(t: string): boolean {
  const base = t.endsWith('[]') ? t.slice(0, -2) : t;
  if (SCALAR_TYPES.includes(base)) return true;
  const d = DECIMAL.exec(base);
  return !!d && Number(d[1]) >= 1 && Number(d[1]) <= 38 && Number(d[2]) <= Number(d[1]);
}

// No control characters: NUL ends SQL text, and newlines in names would forge lines in messages.
const name = z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');
const finite = z.number().finite();
/** A fitted statistic of values the model receives as float32: beyond ±3.4e38 no build could have produced it. */
const stat = finite.refine((x) => Math.abs(x) <= 3.4028234663852886e38, 'beyond the float32 range the model computes in');
/** A fitted standard deviation: fitting replaces one of 1e-12 or less by 1, so a smaller one is no build's (1e-300 made a feature infinite). */
const positive = stat.refine((x) => x > 1e-12, 'must be > 1e-12 (a standard deviation as fitting writes it)');
const columnType = z.string().refine(isColumnType, (t) => ({
  message: `unsupported column type ${JSON.stringify(t.slice(0, 60))} (expected a DuckDB scalar type such as DOUBLE, VARCHAR or TIMESTAMP, DECIMAL(p,s), or a list of one)`,
}));
const unique = (xs: string[]) => new Set(xs).size === xs.length;

const modalityStates = {
  tabular: z.object({
    numeric: z.array(z.object({ column: name, mean: stat, std: positive })),
    categorical: z.array(z.object({ column: name, categories: z.array(z.string()).refine(unique, 'categories must be unique') })),
    missingIndicators: z.boolean(),
  }),
  timeseries: z.object({
    edges: z.array(finite).min(2).refine((e) => e.every((x, i) => i === 0 || x > e[i - 1]), 'edges must increase'),
    variables: z.array(z.object({ name: z.string(), mean: stat, std: positive })),
    unseen: z.array(z.string().max(1000)).max(1 << 16).optional(),
  }),
  codes: z.object({ vocabulary: z.array(z.string()).refine(unique, 'the vocabulary must be unique'), encoding: z.enum(['multihot', 'counts']) }),
  text: z.object({ width: z.number().int().min(1).max(1 << 16), hashSeed: z.number().int(), idf: z.array(finite) }),
  embedding: z.object({ columns: z.array(name).min(1), mean: z.array(stat), std: z.array(positive) }),
} as const;

const fitted = <T extends keyof typeof modalityStates>(type: T) => z.object({ name, type: z.literal(type), state: modalityStates[type] });

export const dataStateSchema = z
  .object({
    version: z.string().min(1).max(100),
    dataset: z.string().max(1000),
    idxKind: z.enum(['number', 'time']),
    tableTypes: z.record(name, z.record(name, columnType)),
    modalities: z.array(
      z.discriminatedUnion('type', [
        fitted('tabular'), fitted('timeseries'), fitted('codes'), fitted('text'), fitted('embedding'),
      ]),
    ),
  })
  ;

type Problem = { path: (string | number)[]; message: string };

/** The raw data of zero patients, per modality type: applying a state to it gives the features it describes. */
function zeroPatients(type: string, m: Spec['modalities'][string], st: { edges?: number[] }): unknown {
  const present = new Uint8Array(0);
  switch (type) {
    case 'tabular': {
      const t = m as Extract<typeof m, { type: 'tabular' }>;
      return { present, numeric: t.numeric.map(() => new Float64Array(0)), categorical: t.categorical.map(() => []) };
    }
    case 'timeseries':
      return { present, varNames: [], value: new Float32Array(0), tlast: new Float32Array(0), edges: st.edges ?? [] };
    case 'codes':
      return { present, pid: new Int32Array(0), code: [], count: new Float64Array(0) };
    case 'text':
      return { present, docs: [] };
    default:
      return { present, columns: [], data: [] };
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What the spec fixes about a modality's state (the builder reads both, so they must agree). */
function specMismatch(m: Spec['modalities'][string], st: Record<string, unknown>): Problem | null {
  const cols = (xs: { column?: string; name?: string }[]) => xs.map((x) => x.column ?? x.name);
  switch (m.type) {
    case 'tabular': {
      const s = st as { numeric: { column: string }[]; categorical: { column: string }[]; missingIndicators: boolean };
      if (!same(cols(s.numeric), m.numeric)) return { path: ['numeric'], message: `columns ${JSON.stringify(cols(s.numeric))} differ from the spec's ${JSON.stringify(m.numeric)}` };
      if (!same(cols(s.categorical), m.categorical)) return { path: ['categorical'], message: `columns differ from the spec's ${JSON.stringify(m.categorical)}` };
      if (s.missingIndicators !== m.missing_indicators) return { path: ['missingIndicators'], message: "differs from the spec's missing_indicators" };
      return null;
    }
    case 'timeseries': {
      const s = st as { edges: number[]; variables: { name: string }[] };
      const want = binEdges(m);
      if (s.edges.length !== want.length || s.edges.some((e, i) => Math.abs(e - want[i]) > 1e-9 * Math.max(1, Math.abs(want[i]))))
        return { path: ['edges'], message: `differ from the spec's bins ${JSON.stringify(want)}` };
      if (m.variables && !same(cols(s.variables), m.variables)) return { path: ['variables'], message: "differ from the spec's variables" };
      return null;
    }
    case 'codes': {
      const s = st as { encoding: string; vocabulary: string[] };
      if (s.encoding !== m.encoding) return { path: ['encoding'], message: "differs from the spec's encoding" };
      if (s.vocabulary.length > m.max_vocab) return { path: ['vocabulary'], message: `longer than the spec's max_vocab ${m.max_vocab}` };
      return null;
    }
    case 'text': {
      const s = st as { width: number; hashSeed: number; idf: number[] };
      if (s.width !== m.width || s.hashSeed !== m.hash_seed) return { path: ['width'], message: "width or hash seed differs from the spec's" };
      if (s.idf.length !== s.width) return { path: ['idf'], message: `has ${s.idf.length} values for width ${s.width}` };
      return null;
    }
    case 'embedding': {
      const s = st as { columns: string[]; mean: number[]; std: number[] };
      if (m.columns && !same(s.columns, m.columns)) return { path: ['columns'], message: "differ from the spec's columns" };
      if (s.mean.length !== s.columns.length || s.std.length !== s.columns.length) return { path: ['mean'], message: `mean and std need one value per column (${s.columns.length})` };
      return null;
    }
  }
}

/**
 * Checks a parsed DataState against the spec it was fitted with and the modalities of the model; returns the
 * first problem as "path: message" (paths under `state`), or null.
 */
export function fittedStateProblem(spec: Spec, state: DataState, modalities: ModalityInfo[]): string | null {
  const at = (p: Problem) => `${formatPath(['state', ...p.path])}: ${p.message}`;
  const names = Object.keys(spec.modalities);
  if (!same(state.modalities.map((m) => m.name), names)) return at({ path: ['modalities'], message: `modalities ${JSON.stringify(state.modalities.map((m) => m.name))} differ from the spec's ${JSON.stringify(names)}` });
  if (!same(modalities.map((m) => m.name), names)) return `modalities: ${JSON.stringify(modalities.map((m) => m.name))} differ from the spec's ${JSON.stringify(names)}`;
  for (const t of Object.keys(spec.tables))
    if (!Object.hasOwn(state.tableTypes, t)) return at({ path: ['tableTypes', t], message: "missing: every spec table needs its column types" });
  for (const [k, sm] of state.modalities.entries()) {
    const m = spec.modalities[sm.name];
    if (m.type !== sm.type) return at({ path: ['modalities', k, 'type'], message: `is ${sm.type}, the spec says ${m.type}` });
    const bad = specMismatch(m, sm.state as Record<string, unknown>);
    if (bad) return at({ ...bad, path: ['modalities', k, 'state', ...bad.path] });
    // The features this state produces must be those the model was built on (same widths, same names).
    const info = builderFor(m).apply(zeroPatients(m.type, m, sm.state as { edges?: number[] }), sm.state, sm.name).info as ModalityInfo;
    const want = modalities[k];
    if (!same(info.shape, want.shape) || !same(info.features, want.features) || info.type !== want.type || (info.variables ?? null) !== (want.variables ?? null))
      return `modalities[${k}]: shape ${JSON.stringify(want.shape)} and features do not match the fitted state of '${sm.name}' (which gives shape ${JSON.stringify(info.shape)})`;
  }
  return null;
}
