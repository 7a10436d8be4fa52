// The dataset spec: a YAML file that says which tables exist, who the patients are, what the label is,
// which groups of columns form modalities and how patients are split. Validated with zod so that every
// error names the file and the field path.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { CdmmError } from '../util/errors.js';
import { parseYamlText } from '../util/yaml.js';
import { UNPRINTABLE } from '../util/say.js';
import { filterSyntaxProblem, shownFilter } from './filter.js';
import { closest } from '../util/closest.js';

export { closest };

const ident = z.string().min(1);
/** A name printed in output (the dataset's, a table's, a modality's). */
const printed = ident.refine((v) => !UNPRINTABLE.test(v), { message: 'must not contain control or bidirectional-override characters' });
/** Each filter costs one count over the cohort table with the filters before it: bounded in number and in text. */
const MAX_FILTERS = 32;
const MAX_FILTER_TEXT = 50_000;
const num = z.number().finite();
/** A value written in the spec that reaches SQL only as an escaped literal; NUL cannot travel through SQL text. */
const specText = z.string().refine((v) => !v.includes('\u0000'), { message: 'text must not contain NUL characters' });
const scalar = z.union([num, specText, z.boolean()]);
const scalars = z.union([scalar, z.array(scalar).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

/** Units of numeric times (tables.NAME.time_unit): how many of them make one day. */
export const TIME_UNITS = { days: 1, hours: 24, minutes: 1440, seconds: 86400 } as const;
export type TimeUnit = keyof typeof TIME_UNITS;
const UNIT_ALIASES: Record<string, TimeUnit> = {
  d: 'days', day: 'days', days: 'days', h: 'hours', hr: 'hours', hrs: 'hours', hour: 'hours', hours: 'hours',
  min: 'minutes', mins: 'minutes', minute: 'minutes', minutes: 'minutes', s: 'seconds', sec: 'seconds', secs: 'seconds', second: 'seconds', seconds: 'seconds',
};
/** A duration: a number of days, or a string with a unit such as "24 h", "1440 min", "-6 hours" (→ days). */
export const durationSchema = z.union([
  num,
  z.string().transform((v, ctx) => {
    const m = /^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-z]+)\s*$/i.exec(v);
    const unit = m ? UNIT_ALIASES[m[2].toLowerCase()] : undefined;
    if (!m || !unit) {
      ctx.addIssue({ code: 'custom', message: `expected a number of days or a duration such as "24 h", "1440 min", "2 days" (got ${JSON.stringify(v)})` });
      return z.NEVER;
    }
    return Number(m[1]) / TIME_UNITS[unit];
  }),
]);

/** A window relative to the index time, in days. Default end 0 = at the index; start null = unbounded. */
export const windowSchema = z
  .object({
    start: durationSchema.nullable().default(null),
    end: durationSchema.default(0),
    /** Set true to allow data after the index time (end > 0): that is leakage unless you know why. */
    allow_after_index: z.boolean().default(false),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.end > 0 && !w.allow_after_index)
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'window end must be <= 0 (the index time) unless allow_after_index: true' });
    if (w.start !== null && w.start >= w.end) ctx.addIssue({ code: 'custom', path: ['start'], message: 'window start must be < end' });
  });
export type Window = z.infer<typeof windowSchema>;
const defaultWindow = (): Window => ({ start: null, end: 0, allow_after_index: false });

export const tableSchema = z
  .object({
    file: ident,
    /** csv (also .csv.gz), parquet, or meds (a MEDS Parquet event table: subject_id, time, code, numeric_value, text_value). */
    format: z.enum(['csv', 'parquet', 'meds']).optional(),
    /** A folder's table: a column added to every row holding the name of the file it came from, without folder and extension (per-patient files: `id: ` that column). */
    file_column: ident.optional(),
    /** The patient id column; `_row` numbers the rows 1, 2, … in file order (a table without an id column). */
    id: ident.optional(),
    /** The row's time column, or several: the row is known at the latest of them (e.g. [drugstartoffset, drugorderoffset]). */
    time: z.union([ident, z.array(ident).min(1)]).optional(),
    /** Unit of numeric time columns (default days), e.g. minutes for eICU offsets. */
    time_unit: z.enum(Object.keys(TIME_UNITS) as [TimeUnit, ...TimeUnit[]]).optional(),
    /** The table's id is another key (e.g. subject_id): `column` of the one-row-per-patient `table` (keyed by the cohort id) links them. */
    link: z.object({ table: ident, column: ident }).strict().optional(),
    /** Adds `columns` of another table, matched on the column `on` that both have (e.g. an admission's dischtime to its diagnoses). */
    lookup: z.object({ table: ident, on: ident, columns: z.array(ident).min(1) }).strict().optional(),
    /** Keeps only rows whose column holds one of the given values, e.g. { apacheversion: IVa }. */
    where: z.record(ident, scalars).optional(),
    /** Load only these columns (and those the table's own options name): for wide tables of large databases. */
    columns: z.array(ident).min(1).optional(),
    /** Per-column value maps applied on loading, e.g. { age: { "> 89": 90 } }; null maps to missing. */
    values: z.record(ident, z.record(z.string(), z.union([num, specText, z.null()]))).optional(),
    /** strptime layout of time columns written as text that DuckDB does not recognise, e.g. "%d/%m/%Y %H:%M". */
    time_format: z.string().min(1).optional(),
    /** CSV only: values read as missing besides empty fields, e.g. ["NA", "ERROR"]. */
    na_values: z.array(z.string()).optional(),
    /** CSV decimal separator, when not '.' (e.g. ',' with `delimiter: ";"`). */
    decimal: z.enum(['.', ',']).optional(),
    /** CSV text encoding, when not UTF-8: latin-1 (ISO-8859-1, as many Windows exports) or utf-16. */
    encoding: z.enum(['utf-8', 'latin-1', 'utf-16']).optional(),
    /** CSV delimiter, when not ','. */
    delimiter: z.string().length(1).optional(),
    /**
     * Keep one row per id: its earliest by `time` (file order among ties or without a time). A long table that
     * repeats per-patient columns (PhysioNet 2019's hourly files: Age, Gender) as a one-row-per-patient table.
     */
    first_row: z.boolean().optional(),
    /**
     * A cell holding several values ("038.9, A41.9", eICU's icd9code) read as one row per value, before `where` and
     * the label see them: `split: { column: icd9code, by: "," }` (each value trimmed; an empty cell stays one row).
     */
    split: z.object({ column: ident, by: z.string().min(1).max(8) }).strict().optional(),
  })
  .strict()
  .refine((t) => !(t.split && t.values && Object.hasOwn(t.values, t.split.column)), { message: 'a split column cannot also have a values map (map the values once split, in another table)', path: ['split'] })
  .refine((t) => !(t.first_row && t.id === '_row'), { message: 'first_row keeps one row per id: give the id column (with id: _row every row is its own id)', path: ['first_row'] });
export type TableSpec = z.infer<typeof tableSchema>;

const tabularSchema = z
  .object({
    type: z.literal('tabular'),
    table: ident,
    numeric: z.array(ident).default([]),
    categorical: z.array(ident).default([]),
    /** Add one 0/1 "was missing" feature per numeric column (imputed with the training mean). */
    missing_indicators: z.boolean().default(true),
  })
  .strict()
  .refine((m) => m.numeric.length + m.categorical.length > 0, { message: 'a tabular modality needs numeric or categorical columns' });

/** The first item of a list that occurs in it again, if any. */
function firstRepeat(xs: string[]): string | undefined {
  const seen = new Set<string>();
  for (const x of xs) {
    if (seen.has(x)) return x;
    seen.add(x);
  }
  return undefined;
}

/** Options shared by modalities read from a long (event) table. */
const longBase = {
  table: ident,
  window: windowSchema.default(defaultWindow()),
  /** Keep only rows whose code/variable starts with this prefix (MEDS: e.g. "LAB//"); the prefix is stripped. */
  prefix: z.string().optional(),
};

const timeseriesSchema = z
  .object({
    type: z.literal('timeseries'),
    ...longBase,
    /** Long form: the column naming the variable and the column holding the value. */
    variable: ident.optional(),
    value: ident.optional(),
    /** Wide form: each listed column is a variable (used when `variable` is absent). */
    columns: z.array(ident).optional(),
    /** Variables to keep, in order (numbers such as MIMIC itemids are compared as text). Long form default: every variable seen in the training split. */
    variables: z.array(z.union([z.string(), num.transform(String)])).optional(),
    bins: z.number().int().min(1).max(1000).default(4),
    /** Explicit bin edges in days (length bins+1, increasing, last <= window end); overrides equal-width bins. */
    edges: z.array(num).max(1001, { message: 'at most 1001 edges (1000 bins, as bins allows)' }).optional(),
    aggregate: z.enum(['last', 'mean', 'min', 'max']).default('last'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.columns && !m.variable && !m.prefix) ctx.addIssue({ code: 'custom', path: ['variable'], message: 'give `variable` + `value` (long table) or `columns` (wide table)' });
    if (m.window.start === null && !m.edges) ctx.addIssue({ code: 'custom', path: ['window', 'start'], message: 'a timeseries modality needs a window start (or explicit edges)' });
    for (const [key, list] of [['variables', m.variables], ['columns', m.columns]] as const)
      list?.forEach((v, i) => {
        if (list.indexOf(v) !== i) ctx.addIssue({ code: 'custom', path: [key, i], message: `'${v}' is listed twice` });
      });
    if (m.edges) {
      if (m.edges.length < 2) ctx.addIssue({ code: 'custom', path: ['edges'], message: 'need at least 2 edges' });
      for (let i = 1; i < m.edges.length; i++)
        if (m.edges[i] <= m.edges[i - 1]) ctx.addIssue({ code: 'custom', path: ['edges', i], message: 'edges must increase' });
      if (m.edges[m.edges.length - 1] > m.window.end) ctx.addIssue({ code: 'custom', path: ['edges'], message: 'last edge must be <= window end' });
    }
  });

const codesSchema = z
  .object({
    type: z.literal('codes'),
    ...longBase,
    code: ident.optional(),
    /** A cell may hold several codes separated by this (e.g. "," for eICU's "401.9, I10"): each counts on its own. */
    split: z.string().min(1).max(8).refine((d) => !d.includes('\u0000'), { message: 'must not contain NUL' }).optional(),
    /** Keep the first N characters of each code (e.g. 3: ICD "401.9" → "401"), grouping the codes under them. */
    truncate: z.number().int().min(1).max(100).optional(),
    /** One code whatever its case and surrounding spaces ("IVF (ml/hr)", "ivf (ml/hr) "): ASCII letters upper-cased. */
    fold_case: z.boolean().optional(),
    /** The table has no time column: every row counts as known at the index time (no window). */
    untimed: z.boolean().optional(),
    min_count: z.number().int().min(1).default(5),
    encoding: z.enum(['multihot', 'counts']).default('multihot'),
    max_vocab: z.number().int().min(1).default(5000),
  })
  .strict();

const textSchema = z
  .object({
    type: z.literal('text'),
    ...longBase,
    text: ident.optional(),
    /** The table has no time column: every row counts as known at the index time (no window). */
    untimed: z.boolean().optional(),
    width: z.number().int().min(8).max(1 << 16).default(256),
    /** Hash seed, so that two specs can share or separate hash spaces. */
    hash_seed: z.number().int().default(0),
    min_df: z.number().int().min(1).default(1),
  })
  .strict();

const embeddingSchema = z
  .object({
    type: z.literal('embedding'),
    table: ident,
    /** The vector's columns, explicitly or by a name prefix. */
    columns: z.array(ident).optional(),
    column_prefix: z.string().optional(),
    standardize: z.boolean().default(true),
  })
  .strict()
  .refine((m) => m.columns || m.column_prefix, { message: 'give `columns` or `column_prefix`' });

export const modalitySchema = z.discriminatedUnion('type', [
  tabularSchema.innerType(),
  timeseriesSchema.innerType(),
  codesSchema,
  textSchema,
  embeddingSchema.innerType(),
]);
// discriminatedUnion needs plain objects; the refinements run afterwards in superRefine below.
const modalityRefiners: Record<string, z.ZodTypeAny> = {
  tabular: tabularSchema,
  timeseries: timeseriesSchema,
  embedding: embeddingSchema,
};
export type ModalitySpec = z.infer<typeof modalitySchema>;
export type TabularSpec = Extract<ModalitySpec, { type: 'tabular' }>;
export type TimeseriesSpec = Extract<ModalitySpec, { type: 'timeseries' }>;
export type CodesSpec = Extract<ModalitySpec, { type: 'codes' }>;
export type TextSpec = Extract<ModalitySpec, { type: 'text' }>;
export type EmbeddingSpec = Extract<ModalitySpec, { type: 'embedding' }>;

export const labelSchema = z.union([
  z
    .object({
      column: ident,
      table: ident.optional(),
      /** Values meaning the outcome happened (e.g. Expired); compared trimmed and case-insensitively. */
      positive: scalars.optional(),
      /** Values meaning it did not (default: every other non-blank value); others are excluded and counted. */
      negative: scalars.optional(),
      /** A cohort row without a row in `table`: excluded as "label missing" (default), or negative. */
      absent: z.enum(['missing', 'negative']).optional(),
      /** A numeric column's threshold: positive where the value is above it (a length of stay over 3 days), else 0. */
      above: num.optional(),
    })
    .strict()
    .refine((l) => l.negative === undefined || l.positive !== undefined, { message: 'label.negative needs label.positive', path: ['negative'] })
    .refine((l) => l.above === undefined || l.positive === undefined, { message: 'give either label.above (a threshold on a numeric column) or label.positive (its values that mean the outcome)', path: ['above'] }),
  z
    .object({
      table: ident.optional(),
      /** The event flag column and the values that count as the event (others: no event / censored). */
      event: ident,
      /** `any`: every row with a value in `event` is an event (an admissions table read as readmissions). */
      event_values: z.union([z.array(z.union([z.number(), z.string()])), z.literal('any')]).default([1]),
      /** Time of the event or of the end of follow-up, on the same clock as the index time. */
      time: ident,
      /** Horizon after the index time: days, or a duration such as "30 days" or "48 h". */
      horizon: durationSchema.refine((d) => d > 0, { message: 'horizon must be > 0' }),
      /** A cohort row without a row in `table` (OMOP's death table: no row = alive): "label missing" (default), or negative. */
      absent: z.enum(['missing', 'negative']).optional(),
      /** Where the horizon starts: the index time (default), or cohort.end_time (a readmission within 30 days of discharge). */
      from: z.enum(['index', 'end_time']).optional(),
      /**
       * A patient followed for less than the horizon without the event: excluded as censored (default), or negative
       * (in-unit mortality: a discharge alive ends the risk the outcome counts).
       */
      censored: z.enum(['excluded', 'negative']).optional(),
    })
    .strict(),
]);

const fractions = z
  .object({ train: num.min(0), val: num.min(0), test: num.min(0) })
  .strict()
  .refine((f) => Math.abs(f.train + f.val + f.test - 1) < 1e-6 && f.train > 0 && f.val > 0 && f.test > 0, {
    message: 'train, val and test fractions must be > 0 and sum to 1',
  });

/** A shift environment chosen by value: patients whose column holds one of `values` form the shift split. */
export const shiftSelectorSchema = z.object({ table: ident.optional(), column: ident, values: scalars }).strict();
export type ShiftSelector = z.infer<typeof shiftSelectorSchema>;

export const splitSchema = z.discriminatedUnion('method', [
  z
    .object({
      method: z.literal('random'),
      fractions: fractions.default({ train: 0.7, val: 0.1, test: 0.2 }),
      seed: z.number().int().default(0),
      shift: shiftSelectorSchema.optional(),
    })
    .strict(),
  z
    .object({
      method: z.literal('group'),
      /** Whole groups (e.g. hospitals) go to train, val or test, in about these fractions of patients. */
      table: ident.optional(),
      column: ident,
      fractions: fractions.default({ train: 0.7, val: 0.1, test: 0.2 }),
      seed: z.number().int().default(0),
      shift: shiftSelectorSchema.optional(),
    })
    .strict(),
  z
    .object({
      method: z.literal('column'),
      table: ident.optional(),
      column: ident,
      /** Map from split name to the column values meaning it; default: the names themselves. */
      values: z.record(z.enum(['train', 'val', 'test', 'shift']), z.array(z.union([z.string(), z.number()]))).optional(),
    })
    .strict(),
  z
    .object({
      method: z.literal('shift'),
      fractions: fractions.default({ train: 0.7, val: 0.1, test: 0.2 }),
      seed: z.number().int().default(0),
      /** The modality whose availability is tied to the label in the training split. */
      modality: ident,
      /** Probability of dropping a training patient whose availability disagrees with its label. */
      strength: num.min(0).max(0.99).default(0.8),
    })
    .strict(),
]);
export type SplitSpec = z.infer<typeof splitSchema>;

export const specSchema = z
  .object({
    /** Printed in every command's output: no control characters (a terminal would act on them). */
    name: ident.max(200).refine((v) => !UNPRINTABLE.test(v), { message: 'must not contain control or bidirectional-override characters' }),
    description: z.string().optional(),
    tables: z
      .record(
        printed
          .refine((n) => !n.startsWith('__'), { message: 'a table name must not start with "__" (reserved for cdmm\'s own tables)' })
          // A request body { "records": [...] } lists patients: a table of that name would make a record's rows read as such a list.
          .refine((n) => n !== 'records', { message: 'the table name "records" is reserved (request bodies list patients under it): name the table otherwise, e.g. record_rows (its file keeps its name)' }),
        tableSchema,
      )
      .refine((t) => Object.keys(t).length > 0, { message: 'at least one table' }),
    cohort: z
      .object({
        table: ident,
        id: ident.optional(),
        /** A column of the cohort table (number of days or a timestamp), or a constant number of days. */
        index_time: z.union([ident, num]).default(0),
        /** Added to the index time: days, or a duration such as "24 h" or "1440 min" (may be negative). */
        index_offset: durationSchema.default(0),
        /** The patient behind each cohort row (e.g. uniquepid, subject_id): every split keeps a patient's rows together. */
        patient: ident.optional(),
        /** When each stay ends (discharge): rows whose stay ends at or before the index time are excluded and counted. */
        end_time: ident.optional(),
        /** Boolean expressions on the cohort table's columns (src/data/filter.ts grammar); a patient must satisfy all. */
        filters: z
          .array(
            z.string().min(1).superRefine((f, ctx) => {
              const why = filterSyntaxProblem(f);
              if (why) ctx.addIssue({ code: 'custom', message: `invalid filter ${shownFilter(f)}: ${why}; a filter is one boolean expression over the cohort table's columns (docs/SPEC.md)` });
            }),
          )
          .max(MAX_FILTERS, { message: `at most ${MAX_FILTERS} filters (combine conditions with AND inside one)` })
          .refine((fs) => fs.reduce((a, f) => a + f.length, 0) <= MAX_FILTER_TEXT, { message: `at most ${MAX_FILTER_TEXT} characters of filters in all` })
          .default([]),
      })
      .strict(),
    label: labelSchema,
    modalities: z.record(printed, modalitySchema).refine((m) => Object.keys(m).length > 0, { message: 'at least one modality' }),
    split: splitSchema.default({ method: 'random', fractions: { train: 0.7, val: 0.1, test: 0.2 }, seed: 0 }),
    /** Simulated data only: a per-patient true risk P(Y | U), for the oracle AUROC. */
    true_risk: z.object({ table: ident, column: ident }).strict().optional(),
    /** An existing risk score (e.g. APACHE IVa) scored on the same test patients next to cdmm's predictions. */
    reference: z
      .object({
        table: ident,
        column: ident,
        /** Values meaning "not computed" (e.g. -1). */
        missing: z.array(num).default([]),
        /** The name shown in tables and reports (default: the column); printed as is, so no control characters. */
        name: z.string().min(1).max(200).refine((v) => !UNPRINTABLE.test(v), { message: 'must not contain control or bidirectional-override characters' }).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const tables = Object.keys(s.tables);
    // Own keys only: a name such as `toString` or `constructor` finds what every object inherits.
    const table = (t: string) => (Object.hasOwn(s.tables, t) ? s.tables[t] : undefined);
    const needTable = (t: string | undefined, path: (string | number)[]) => {
      if (t !== undefined && !table(t)) ctx.addIssue({ code: 'custom', path, message: `unknown table '${t}' (tables: ${tables.join(', ')})` });
    };
    needTable(s.cohort.table, ['cohort', 'table']);
    needTable(s.label.table, ['label', 'table']);
    if (s.split.method === 'column' || s.split.method === 'group') needTable(s.split.table, ['split', 'table']);
    if ((s.split.method === 'random' || s.split.method === 'group') && s.split.shift) needTable(s.split.shift.table, ['split', 'shift', 'table']);
    if (s.reference) needTable(s.reference.table, ['reference', 'table']);
    for (const [name, t] of Object.entries(s.tables)) {
      if (t.link) {
        needTable(t.link.table, ['tables', name, 'link', 'table']);
        const l = table(t.link.table);
        if (t.link.table === name) ctx.addIssue({ code: 'custom', path: ['tables', name, 'link', 'table'], message: 'a table cannot link through itself' });
        else if (l?.link) ctx.addIssue({ code: 'custom', path: ['tables', name, 'link', 'table'], message: `table '${t.link.table}' is itself linked: link through a table keyed by the cohort id` });
        if (name === s.cohort.table) ctx.addIssue({ code: 'custom', path: ['tables', name, 'link'], message: 'the cohort table defines the patients and cannot be linked' });
      }
      if (t.lookup) {
        needTable(t.lookup.table, ['tables', name, 'lookup', 'table']);
        if (t.lookup.table === name) ctx.addIssue({ code: 'custom', path: ['tables', name, 'lookup', 'table'], message: 'a table cannot look up columns in itself' });
        else if (table(t.lookup.table)?.lookup) ctx.addIssue({ code: 'custom', path: ['tables', name, 'lookup', 'table'], message: `table '${t.lookup.table}' has a lookup itself: look up from a plain table` });
      }
      if (t.id === '_row' && t.format === 'meds') ctx.addIssue({ code: 'custom', path: ['tables', name, 'id'], message: 'a MEDS table is keyed by subject_id' });
    }
    // A column listed twice in one modality would be two features of one value (accepted silently, until now).
    for (const [name, m] of Object.entries(s.modalities)) {
      const lists: [string, string[] | undefined][] = m.type === 'tabular' ? [['numeric', [...m.numeric, ...m.categorical]]] : [['columns', 'columns' in m ? m.columns : undefined], ['variables', 'variables' in m ? m.variables : undefined]];
      for (const [key, xs] of lists) {
        const twice = xs && firstRepeat(xs);
        if (twice !== undefined && xs)
          ctx.addIssue({ code: 'custom', path: ['modalities', name, m.type === 'tabular' && m.categorical.includes(twice) ? 'categorical' : key], message: `'${twice}' is listed twice${m.type === 'tabular' ? ' (numeric and categorical together name each column once)' : ''}` });
      }
    }
    if (s.split.method === 'shift' && !Object.hasOwn(s.modalities, s.split.modality))
      ctx.addIssue({ code: 'custom', path: ['split', 'modality'], message: `unknown modality '${s.split.modality}'` });
    if (s.true_risk) needTable(s.true_risk.table, ['true_risk', 'table']);
    // Columns known only after the prediction time (the outcome, the stay's end) cannot be features: the model
    // would read the answer (an eICU user's lr with the discharge status among its inputs: AUROC 0.991).
    const outcome = new Map<string, string>();
    const lt = s.label.table ?? s.cohort.table;
    if ('column' in s.label) outcome.set(`${lt}\0${s.label.column}`, 'the label column (label.column)');
    else {
      outcome.set(`${lt}\0${s.label.event}`, 'the outcome event (label.event)');
      outcome.set(`${lt}\0${s.label.time}`, 'the outcome time (label.time)');
    }
    if (s.cohort.end_time) outcome.set(`${s.cohort.table}\0${s.cohort.end_time}`, "the stay's end (cohort.end_time)");
    if (s.true_risk) outcome.set(`${s.true_risk.table}\0${s.true_risk.column}`, 'the simulated true risk (true_risk.column)');
    for (const [name, m] of Object.entries(s.modalities)) {
      for (const [path, col] of featureColumns(m)) {
        const what = outcome.get(`${m.table}\0${col}`);
        if (what) ctx.addIssue({ code: 'custom', path: ['modalities', name, ...path], message: `'${col}' is ${what} of table '${m.table}', known only after the prediction time: as a feature it would leak the outcome` });
      }
      needTable(m.table, ['modalities', name, 'table']);
      const refiner = modalityRefiners[m.type];
      if (refiner) {
        const r = refiner.safeParse(m);
        if (!r.success) for (const iss of r.error.issues) ctx.addIssue({ ...iss, path: ['modalities', name, ...iss.path] } as z.IssueData);
      }
      const t = table(m.table);
      // untimed on a table with times: its rows with no time (MEDS static rows such as GENDER//F), see windowedRows
      const untimed = (m.type === 'codes' || m.type === 'text') && m.untimed === true;
      if (t && m.type !== 'tabular' && m.type !== 'embedding' && !untimed && !t.time && t.format !== 'meds')
        ctx.addIssue({
          code: 'custom', path: ['tables', m.table, 'time'],
          message: `table '${m.table}' is used by ${m.type} modality '${name}' and needs a time column` +
            (m.type === 'timeseries' ? '' : ` (or, when all its rows are known before the prediction time, set modalities.${name}.untimed: true)`),
        });
    }
  });

export type Spec = z.infer<typeof specSchema>;

/** The table columns a modality reads as features, each with its field path. */
function featureColumns(m: z.infer<typeof modalitySchema>): [(string | number)[], string][] {
  const list = (key: string, cols: string[] | undefined): [(string | number)[], string][] => (cols ?? []).map((c, i) => [[key, i], c]);
  switch (m.type) {
    case 'tabular': return [...list('numeric', m.numeric), ...list('categorical', m.categorical)];
    case 'timeseries': return [...list('columns', m.columns), ...(m.value ? [[['value'], m.value] as [string[], string]] : [])];
    case 'codes': return m.code ? [[['code'], m.code]] : [];
    case 'text': return m.text ? [[['text'], m.text]] : [];
    case 'embedding': return list('columns', m.columns);
  }
}

/** Formats a zod path as `a.b[2].c`. */
export function formatPath(path: (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

/** The schema types a value at `path` may have (through defaults, effects, unions, records and arrays). */
function schemasAt(path: (string | number)[]): z.ZodTypeAny[] {
  const unwrap = (t: z.ZodTypeAny): z.ZodTypeAny[] => {
    if (t instanceof z.ZodEffects) return unwrap(t.innerType());
    if (t instanceof z.ZodDefault || t instanceof z.ZodOptional || t instanceof z.ZodNullable) return unwrap(t._def.innerType);
    if (t instanceof z.ZodPipeline) return unwrap(t._def.in);
    if (t instanceof z.ZodUnion || t instanceof z.ZodDiscriminatedUnion) return (t.options as z.ZodTypeAny[]).flatMap(unwrap);
    return [t];
  };
  let at = unwrap(specSchema);
  for (const p of path) {
    at = at.flatMap((t): z.ZodTypeAny[] => {
      if (t instanceof z.ZodObject && typeof p === 'string' && Object.hasOwn(t.shape, p)) return unwrap((t.shape as Record<string, z.ZodTypeAny>)[p]);
      if (t instanceof z.ZodRecord) return unwrap(t._def.valueType);
      if (t instanceof z.ZodArray && typeof p === 'number') return unwrap(t._def.type);
      return [];
    });
  }
  return at;
}

/** The field names an object at `path` may have: what a typo there is compared with. */
function fieldNamesAt(path: (string | number)[]): string[] {
  return [...new Set(schemasAt(path).flatMap((t) => (t instanceof z.ZodObject ? Object.keys(t.shape) : [])))];
}

function valueAt(raw: unknown, path: (string | number)[]): unknown {
  let v = raw;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

/** Turns zod issues into one CdmmError naming the file and each field path. `raw`: the parsed YAML, for hints. */
export function zodToCdmm(file: string, err: z.ZodError, raw?: unknown): CdmmError {
  // A field that failed its own check can be checked again by a refinement over the whole spec, which then reports
  // the failed value under a shorter path (e.g. window.start for modalities.x.window.start): say it once.
  const all = err.issues.flatMap(unwrapUnion);
  const key = (p: (string | number)[]) => p.join('\u0000');
  const issues = all.filter((i, n) =>
    !all.some((o, m) => m < n && ((o.path.length > i.path.length && i.path.length > 0 && key(o.path.slice(o.path.length - i.path.length)) === key(i.path)) ||
      // One line a field: a second issue there (a refinement's "must be > 0" after "not a duration") follows from the first.
      (key(o.path) === key(i.path) && i.path.length > 0))));
  const shown = leadWithTypos(issues);
  const lines = shown.slice(0, 8).map((i) => `${file}: ${formatPath(i.path)}: ${issueMessage(i, raw)}`);
  if (shown.length > 8) lines.push(`… and ${shown.length - 8} more`);
  return new CdmmError(lines.join('\n'));
}

/** An unknown field is often a misspelt one (`modalites:`): report it first, and drop the "missing" line of the
 *  field it was meant to be, which that typo explains. */
function leadWithTypos(issues: z.ZodIssue[]): z.ZodIssue[] {
  const unknown = issues.filter((i): i is Extract<z.ZodIssue, { code: 'unrecognized_keys' }> => i.code === 'unrecognized_keys');
  const meant = new Set(unknown.flatMap((i) => {
    const known = fieldNamesAt(i.path);
    return i.keys.flatMap((k) => { const c = closest(k, known); return c ? [[...i.path, c].join('\u0000')] : []; });
  }));
  // The field's own "missing" line, and those of what lies inside it (window.start of a misspelt window).
  const explained = (i: z.ZodIssue) => (i.code === 'invalid_type' && i.received === 'undefined' && meant.has(i.path.join('\u0000'))) ||
    (i.code === 'custom' && i.path.some((_, n) => n > 0 && meant.has(i.path.slice(0, n).join('\u0000'))));
  return [...unknown, ...issues.filter((i) => i.code !== 'unrecognized_keys' && !explained(i))];
}

/** For a union (e.g. the two label forms), report the issues of the closest alternative. */
function unwrapUnion(i: z.ZodIssue): z.ZodIssue[] {
  if (i.code !== 'invalid_union') return [i];
  const best = [...i.unionErrors].sort((a, b) => a.issues.length - b.issues.length)[0];
  return best ? best.issues.flatMap(unwrapUnion) : [i];
}

function issueMessage(i: z.ZodIssue, raw: unknown): string {
  if (i.code === 'invalid_type') return `expected ${i.expected}${i.received === 'undefined' ? ' (missing)' : `, got ${i.received}`}`;
  if (i.code === 'invalid_union_discriminator') {
    const got = valueAt(raw, i.path);
    const hint = typeof got === 'string' ? closest(got, i.options.map(String)) : undefined;
    return `unknown value${got === undefined ? '' : ` ${JSON.stringify(got)}`}; expected one of ${i.options.map(String).join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`;
  }
  if (i.code === 'invalid_enum_value') {
    // Values are lower case: "MEDS" and "Last" are one letter-case away from what was meant.
    const hint = typeof i.received === 'string' ? i.options.map(String).find((o) => o.toLowerCase() === String(i.received).toLowerCase()) ?? closest(String(i.received), i.options.map(String)) : undefined;
    return `unknown value ${JSON.stringify(i.received)}; expected one of ${i.options.map(String).join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`;
  }
  if (i.code === 'unrecognized_keys') {
    const known = fieldNamesAt(i.path);
    // The first few, each clipped: 50,000 unknown keys made a message of megabytes.
    // Misspelt known fields first: they are what the user meant to write.
    const named = i.keys.map((k) => ({ k, c: closest(k, known) }));
    const shown = [...named.filter((x) => x.c), ...named.filter((x) => !x.c)].slice(0, 10).map(({ k, c }) => {
      const name = k.length > 80 ? `${k.slice(0, 80)}…` : k;
      return c ? `${name} (did you mean ${c}?)` : name;
    });
    return `unknown field(s) ${shown.join(', ')}${i.keys.length > 10 ? `, … (${i.keys.length} in all)` : ''}`;
  }
  return i.message;
}

/** The path of the first key or text value of `v` that `bad` flags, if any. */
function badPath(v: unknown, bad: { key(k: string): boolean; text(s: string): boolean }, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof v === 'string') return bad.text(v) ? path : undefined;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) { const p = badPath(x, bad, [...path, i]); if (p) return p; }
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = bad.key(k) ? [...path, k] : badPath(x, bad, [...path, k]);
      if (p) return p;
    }
  }
  return undefined;
}

/** NUL cannot travel through SQL text (C strings). */
const hasNul = (s: string) => s.includes('\u0000');
/** __proto__: a validated object would drop such a key without a word. */
const PROTO = { key: (k: string) => k === '__proto__', text: () => false };

/** Parses and validates a spec from text; `file` is the name used in error messages. */
export function parseSpec(text: string, file: string): Spec {
  const raw = parseYamlText(text, file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CdmmError(`${file}: expected a YAML mapping at the top level`);
  const nul = badPath(raw, { key: hasNul, text: hasNul });
  if (nul) throw new CdmmError(`${file}: ${formatPath(nul)}: text must not contain NUL characters`);
  const proto = badPath(raw, PROTO);
  if (proto) throw new CdmmError(`${file}: ${formatPath(proto)}: "__proto__" cannot be a name here (JavaScript reserves it); choose another`);
  const r = specSchema.safeParse(raw);
  if (!r.success) throw zodToCdmm(file, r.error, raw);
  DURATION_FORMS.set(r.data, durationForms(raw as RawDurations));
  return r.data;
}

/** How a duration was written in the spec file: a bare number (days), or with a unit of days or of less than a day. */
type DurationForm = 'bare' | 'days' | 'sub-day';
type RawDurations = { label?: { horizon?: unknown }; cohort?: { index_offset?: unknown }; modalities?: Record<string, { window?: { start?: unknown; end?: unknown } }> };
/** Per parsed spec, each duration field's form: "48 h" is 2 days once parsed, but not a bare 2. */
const DURATION_FORMS = new WeakMap<Spec, Map<string, DurationForm>>();

function durationForms(raw: RawDurations): Map<string, DurationForm> {
  const forms = new Map<string, DurationForm>();
  const note = (field: string, v: unknown) => {
    if (typeof v === 'number') forms.set(field, 'bare');
    const word = typeof v === 'string' ? /[a-z]+\s*$/i.exec(v)?.[0].trim().toLowerCase() : undefined;
    const unit = word !== undefined && Object.hasOwn(UNIT_ALIASES, word) ? UNIT_ALIASES[word] : undefined;
    if (unit) forms.set(field, unit === 'days' ? 'days' : 'sub-day');
  };
  note('cohort.index_offset', raw.cohort?.index_offset);
  note('label.horizon', raw.label?.horizon);
  for (const [name, m] of Object.entries(raw.modalities ?? {})) {
    note(`modalities.${name}.window.start`, m?.window?.start);
    note(`modalities.${name}.window.end`, m?.window?.end);
  }
  return forms;
}

/**
 * Whether `field` was written as a bare number of days; a spec not parsed from a file here (a run's manifest,
 * a clone) counts as not bare, so the hints that ask "hours meant?" stay quiet rather than wrong.
 */
export const writtenAsBareNumber = (spec: Spec, field: 'label.horizon' | 'cohort.index_offset'): boolean => DURATION_FORMS.get(spec)?.get(field) === 'bare';
/**
 * Whether the spec file wrote this duration in hours, minutes or seconds ("6 h"): the time-unit note asks about
 * those, not about a bare 1826.25 days (false for a spec not parsed here).
 */
export const writtenInSubDayUnit = (spec: Spec, field: string): boolean => DURATION_FORMS.get(spec)?.get(field) === 'sub-day';

/** A spec is a small YAML file; anything much larger is not one. */
const SPEC_MAX_BYTES = 4 << 20;

/** The text of a spec file, with plain errors for a missing path, a folder or a huge file. */
export function readSpecText(path: string): string {
  if (!existsSync(path)) throw new CdmmError(`${path}: spec file not found`);
  const st = statSync(path);
  if (st.isDirectory()) throw new CdmmError(`${path}: is a folder; expected a dataset spec file (YAML)`);
  if (!st.isFile()) throw new CdmmError(`${path}: not a regular file; expected a dataset spec file (YAML)`);
  if (st.size > SPEC_MAX_BYTES) throw new CdmmError(`${path}: ${st.size} bytes is too large for a dataset spec (at most ${SPEC_MAX_BYTES}); is it a data file?`);
  return readFileSync(path, 'utf8');
}

/** Reads and validates a dataset spec. Errors name the file and field path. */
export function loadSpec(path: string): Spec {
  return parseSpec(readSpecText(path), basename(path));
}

/** Table format from the spec or the file extension. */
export function tableFormat(t: TableSpec): 'csv' | 'parquet' | 'meds' {
  if (t.format) return t.format;
  // a trailing slash names a folder: its .parquet files are the table (resolveTableFiles)
  return /\.parquet$|[\\/]$/i.test(t.file) ? 'parquet' : 'csv';
}

/** The id / time column of a table, with MEDS defaults. */
export function tableId(t: TableSpec): string | undefined {
  return t.id ?? (tableFormat(t) === 'meds' ? 'subject_id' : undefined);
}
/** Name of the derived column holding the latest of several time columns (tables.NAME.time: [a, b]). */
export const ROW_TIME = '__time';
export function tableTime(t: TableSpec): string | undefined {
  if (Array.isArray(t.time)) return t.time.length === 1 ? t.time[0] : ROW_TIME;
  return t.time ?? (tableFormat(t) === 'meds' ? 'time' : undefined);
}
/** The table's own time columns as the file holds them (several, one, MEDS's `time`, or none). */
export function timeColumns(t: TableSpec): string[] {
  if (Array.isArray(t.time)) return t.time;
  const one = tableTime(t);
  return one === undefined ? [] : [one];
}
/** Days per unit of the table's numeric times. */
export function timeUnitsPerDay(t: TableSpec): number {
  return TIME_UNITS[t.time_unit ?? 'days'];
}

/**
 * Every name that `parts` of a spec mention: their strings, also split into identifiers and quoted names (filters
 * are expressions), and the keys of the maps keyed by column (tables.*.where, tables.*.values); other keys are the
 * spec's own field names. Conservative: a name that merely looks like a column counts as one.
 */
export function mentionedNames(parts: unknown, tables: Spec['tables']): Set<string> {
  const names = new Set<string>();
  const words = (x: string) => {
    names.add(x);
    for (const w of x.split(/[^\p{L}\p{N}_]+/u)) if (w) names.add(w);
    for (const [, w] of x.matchAll(/"((?:[^"]|"")+)"/g)) names.add(w.replace(/""/g, '"'));
  };
  const walk = (x: unknown, depth: number): void => {
    if (depth > 64) return;
    if (typeof x === 'string') words(x);
    else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (x !== null && typeof x === 'object') for (const y of Object.values(x)) walk(y, depth + 1);
  };
  walk(parts, 0);
  for (const t of Object.values(tables)) for (const k of [...Object.keys(t.where ?? {}), ...Object.keys(t.values ?? {})]) words(k);
  return names;
}
