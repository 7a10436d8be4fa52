// Per-patient notes on what of a JSON record the model could not use as given (computed from the record, the
// run's fitted state and the prediction's mask, so both transform paths give them): rows of a modality none of
// which counted, time-series rows naming variables the model does not know, and tabular numbers far outside the
// training range. Values and codes never seen in
// training are noted by the scorer, which sees the features (scoring.ts).
import { own, type PatientRecord } from '../data/records.js';
import type { Spec } from '../data/spec.js';
import type { DataState } from '../data/build.js';
import type { PatientPrediction } from './types.js';
import { printable } from '../util/say.js';

const rowsOf = (rec: PatientRecord, table: string): unknown[] => {
  const v = own(rec, table);
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
};

/** A numeric value this many training SDs from the training mean is noted (no measured variable goes there). */
const FAR_SDS = 10;

/** How far a record's cell lies from the training mean, in training SDs, when it is a number and beyond FAR_SDS. */
function farOut(v: unknown, mean: number, std: number): { x: number; sds: string } | null {
  const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(x) || !(std > 0)) return null;
  const z = Math.abs(x - mean) / std;
  return z > FAR_SDS ? { x, sds: `${z < 1e6 ? Math.round(z) : z.toExponential(1)} training standard deviations` } : null;
}

/** Compiled once per run (its variable names as sets), then applied to each request's records and predictions. */
export function recordNotes(spec: Spec, state: DataState): (records: PatientRecord[], preds: PatientPrediction[]) => void {
  const known = new Map<string, Set<string>>();
  for (const m of state.modalities)
    if (m.type === 'timeseries') known.set(m.name, new Set((m.state as { variables: { name: string }[] }).variables.map((v) => v.name)));
  const varScales = new Map<string, Map<string, { mean: number; std: number }>>();
  for (const m of state.modalities)
    if (m.type === 'timeseries') {
      // A listed variable no training patient had keeps placeholder statistics (mean 0, sd 1): no range to compare with.
      const st = m.state as { variables: { name: string; mean: number; std: number }[]; unseen?: string[] };
      const unseen = new Set(st.unseen ?? []);
      varScales.set(m.name, new Map(st.variables.filter((v) => !unseen.has(v.name)).map((v) => [v.name, v])));
    }
  // Time-series modalities that read one long table the same way (table, variable column, prefix) share its rows:
  // a row is another modality's when its variable is theirs, and unknown only when it is no one's.
  const scanOf = (m: Spec['modalities'][string]) => (m.type === 'timeseries' && !m.columns ? JSON.stringify([m.table, m.variable ?? 'code', m.prefix ?? '']) : undefined);
  const scanVars = new Map<string, Set<string>>();
  const scanFirst = new Map<string, string>();
  for (const [name, m] of Object.entries(spec.modalities)) {
    const key = scanOf(m);
    if (!key) continue;
    if (!scanFirst.has(key)) scanFirst.set(key, name);
    const all = scanVars.get(key) ?? scanVars.set(key, new Set()).get(key)!;
    for (const v of known.get(name) ?? []) all.add(v);
  }
  const scales = new Map<string, { column: string; mean: number; std: number }[]>();
  for (const m of state.modalities) if (m.type === 'tabular') scales.set(m.name, (m.state as { numeric: { column: string; mean: number; std: number }[] }).numeric);
  return (records, preds) => records.forEach((rec, i) => {
    const p = preds[i];
    if (!p) return;
    const notes: string[] = [];
    for (const [name, m] of Object.entries(spec.modalities)) {
      // A prefix (MEDS: "LAB//") picks this modality's rows out of a table it shares with others.
      const codeCol = m.type === 'timeseries' && !m.columns ? m.variable ?? 'code' : m.type === 'codes' ? m.code ?? 'code' : m.type === 'text' ? 'code' : undefined;
      const prefix = 'prefix' in m ? m.prefix : undefined;
      const rows = rowsOf(rec, m.table).filter((r) => prefix === undefined || codeCol === undefined || String(own(r as Record<string, unknown>, codeCol) ?? '').startsWith(prefix));
      if (!rows.length) continue;
      // A value far outside anything seen in training (a unit slip, 1e30): scored as given, but said.
      for (const c of scales.get(name) ?? []) {
        const far = farOut(rows.length === 1 ? own(rows[0] as Record<string, unknown>, c.column) : undefined, c.mean, c.std);
        if (far) notes.push(`${name}.${c.column}: ${far.x} is ${far.sds} from the training mean ${+c.mean.toPrecision(4)}: scored as given (check the value and its unit)`);
      }
      // Variable names as the record gives them: only where the table neither maps nor filters that column.
      const t = spec.tables[m.table];
      const varCol = m.type === 'timeseries' && !m.columns ? m.variable ?? 'code' : undefined;
      const cut = (v: unknown) => (v === undefined || v === null ? v : String(v).slice(prefix?.length ?? 0)); // the name without its prefix
      const asGiven = varCol !== undefined && !Object.hasOwn(t?.values ?? {}, varCol) && !Object.hasOwn(t?.where ?? {}, varCol);
      if (m.type === 'timeseries' && asGiven) {
        const key = scanOf(m)!;
        const vars = scanVars.get(key);
        const unknown = rows.map((r) => cut(own(r, varCol))).filter((v) => v !== undefined && v !== null && vars && !vars.has(String(v)));
        if (unknown.length && scanFirst.get(key) === name) // said once for the modalities sharing the rows
          notes.push(`${name}: ${unknown.length} row${unknown.length === 1 ? '' : 's'} of '${m.table}' name variables that are not among the model's (e.g. ${JSON.stringify(String(unknown[0]).slice(0, 60))}): not used`);
      }
      // Time-series values far outside the variable's training range, as for tabular numbers (one note per
      // modality): a unit slip (creatinine in µmol/L on a mg/dL model) is commoner in labs than in demographics.
      const sc = varScales.get(name);
      if (m.type === 'timeseries' && sc) {
        const mapped = (col: string, v: unknown) => Object.hasOwn(t?.values ?? {}, col) && Object.hasOwn(t!.values![col], String(v).trim());
        const kept = (r: Record<string, unknown>) =>
          Object.entries(t?.where ?? {}).every(([col, allowed]) => (allowed as unknown[]).some((a) => String(a) === String(own(r, col))));
        // Long form: (variable, value) per row; wide form: each listed column a variable.
        const valueCol = m.value ?? (m.variable ? undefined : 'numeric_value');
        const cells = (r: Record<string, unknown>): [string, unknown][] => {
          if (m.columns) return m.columns.map((c) => [c, own(r, c)]);
          if (!varCol || !valueCol) return [];
          const raw = own(r, varCol);
          const variable = mapped(varCol, raw) ? t!.values![varCol][String(raw).trim()] : cut(raw);
          return [[String(variable), own(r, valueCol)]];
        };
        let far = 0, first = '';
        for (const r of rows as Record<string, unknown>[]) {
          if (!kept(r)) continue;
          for (const [variable, v] of cells(r)) {
            const c = sc.get(variable);
            const out = c && !mapped(m.columns ? variable : valueCol!, v) ? farOut(v, c.mean, c.std) : null;
            if (out && far++ === 0) first = `${variable.slice(0, 60)} ${out.x} is ${out.sds} from its training mean ${+c!.mean.toPrecision(4)}`;
          }
        }
        if (far) notes.push(`${name}: ${far} value${far === 1 ? '' : 's'} far outside training among the rows given (e.g. ${first}): those in the window before the prediction time are scored as given, later ones are not used (check the values and their units)`);
      }
      // Rows of a shared long table that are all other modalities' are no rows of this one (a patient without lactate).
      const mine = m.type !== 'timeseries' || !asGiven || !known.get(name) || rows.some((r) => known.get(name)!.has(String(cut(own(r, varCol!)))));
      if (p.modalities[name] && !p.modalities[name].observed && m.table !== spec.cohort.table && mine)
        notes.push(`${name}: rows were given in '${m.table}' but none could be used (none in the window before the prediction time, or only values the model does not read): scored as missing`);
    }
    // The notes quote the record (names, values): control and bidi characters as \u escapes, as on stderr.
    if (notes.length) p.notes = [...notes.map(printable), ...(p.notes ?? [])];
  });
}
