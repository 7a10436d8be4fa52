// The bundled real-database tasks (datasets/eicu-demo, datasets/mimic-iv-demo) checked against counts made here
// independently, in plain JavaScript from the CSV files (no DuckDB, no spec): the cohort, the label rate, which
// stays have each modality, the reference score's coverage, patient-disjoint splits, the shift environment.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/build.js';
import type { PreparedDataset } from '../src/data/types.js';

const ROOT = join(import.meta.dirname, '..', 'datasets');

/** RFC 4180 CSV: quoted fields with commas, doubled quotes and line breaks. Rows as objects by header. */
function readCsv(path: string): Record<string, string>[] {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  const [head, ...data] = rows;
  return data.filter((r) => r.length > 1 || r[0] !== '').map((r) => Object.fromEntries(head.map((h, j) => [h, r[j] ?? ''])));
}

const num = (s: string) => (s.trim() === '' ? NaN : Number(s));
/** The later of several offsets; empty ones are skipped (NaN when all are empty). */
const latest = (...xs: string[]) => Math.max(...xs.map(num).filter((v) => !Number.isNaN(v)));
const ms = (s: string) => Date.parse(s.trim().replace(' ', 'T') + 'Z');
const DAY = 86400e3;

function presentIds(ds: PreparedDataset, modality: string): Set<string> {
  const k = ds.modalities.findIndex((m) => m.name === modality);
  const K = ds.modalities.length;
  const out = new Set<string>();
  for (const s of Object.values(ds.splits)) s.ids.forEach((id, i) => s.mask[i * K + k] && out.add(id));
  return out;
}
const allIds = (ds: PreparedDataset) => new Set(Object.values(ds.splits).flatMap((s) => s.ids));
const sorted = (s: Iterable<string>) => [...s].sort();

describe('eICU demo: mortality-24h', () => {
  const dir = join(ROOT, 'eicu-demo');
  let ds: PreparedDataset;
  let cohort: Set<string>;
  let deaths: number;
  let patientOf: Map<string, string>;
  let hospitalOf: Map<string, string>;
  const stays = (rows: Record<string, string>[], keep: (r: Record<string, string>) => boolean) =>
    new Set(rows.filter((r) => cohort.has(r.patientunitstayid) && keep(r)).map((r) => r.patientunitstayid));

  beforeAll(async () => {
    ds = await prepareDataset(join(dir, 'mortality-24h.yaml'), { quiet: true, cache: false });
    const patients = readCsv(join(dir, 'patient.csv.gz'));
    const age = (s: string) => (s.trim() === '> 89' ? 90 : num(s));
    const kept = patients.filter(
      (p) => p.unitvisitnumber === '1' && age(p.age) >= 18 && num(p.unitdischargeoffset) > 1440 && ['Alive', 'Expired'].includes(p.hospitaldischargestatus),
    );
    cohort = new Set(kept.map((p) => p.patientunitstayid));
    deaths = kept.filter((p) => p.hospitaldischargestatus === 'Expired').length;
    patientOf = new Map(patients.map((p) => [p.patientunitstayid, p.uniquepid]));
    hospitalOf = new Map(patients.map((p) => [p.patientunitstayid, p.hospitalid]));
  }, 120_000);

  it('has the cohort and label rate counted from patient.csv: ≥ 1,200 stays, mortality 5–15%', () => {
    expect(sorted(allIds(ds))).toEqual(sorted(cohort));
    expect(cohort.size).toBeGreaterThanOrEqual(1200);
    const rate = deaths / cohort.size;
    expect(rate).toBeGreaterThan(0.05);
    expect(rate).toBeLessThan(0.15);
    let pos = 0;
    for (const s of Object.values(ds.splits)) for (const y of s.labels) pos += y;
    expect(pos).toBe(deaths);
  });

  it('has each modality for exactly the stays with data by 24 h, and at least 4 modalities missing for some', () => {
    const aps = ['intubated', 'vent', 'dialysis', 'eyes', 'motor', 'verbal', 'meds', 'urine', 'wbc', 'temperature', 'respiratoryrate', 'sodium',
      'heartrate', 'meanbp', 'ph', 'hematocrit', 'creatinine', 'albumin', 'pao2', 'pco2', 'bun', 'glucose', 'bilirubin', 'fio2'];
    const labs = new Set(['sodium', 'potassium', 'chloride', 'bicarbonate', 'BUN', 'creatinine', 'glucose', 'calcium', 'Hct', 'Hgb', 'WBC x 1000', 'platelets x 1000']);
    const expected: Record<string, Set<string>> = {
      admission: cohort,
      physiology: stays(readCsv(join(dir, 'apacheApsVar.csv.gz')), (r) => aps.some((c) => r[c] !== '' && r[c] !== '-1')),
      bp: stays(readCsv(join(dir, 'vitalAperiodic.csv.gz')), (r) => {
        const t = num(r.observationoffset);
        return t >= 0 && t <= 1440 && ['noninvasivesystolic', 'noninvasivediastolic', 'noninvasivemean'].some((c) => r[c] !== '');
      }),
      diagnoses: stays(readCsv(join(dir, 'diagnosis.csv.gz')), (r) => num(r.diagnosisoffset) <= 1440 && r.diagnosisstring !== ''),
      treatments: stays(readCsv(join(dir, 'treatment.csv.gz')), (r) => num(r.treatmentoffset) <= 1440 && r.treatmentstring !== ''),
      medications: stays(readCsv(join(dir, 'medication.csv.gz')), (r) => latest(r.drugstartoffset, r.drugorderoffset) <= 1440 && r.drughiclseqno !== ''),
      history: stays(readCsv(join(dir, 'pastHistory.csv.gz')), (r) => latest(r.pasthistoryoffset, r.pasthistoryenteredoffset) <= 1440 && r.pasthistorypath !== ''),
      labs: stays(readCsv(join(dir, 'partial', 'lab.csv.gz')), (r) => {
        const t = latest(r.labresultoffset, r.labresultrevisedoffset);
        return labs.has(r.labname) && r.labresult !== '' && t >= -360 && t <= 1440;
      }),
    };
    expect(ds.modalities.map((m) => m.name)).toEqual(Object.keys(expected));
    let missingSomewhere = 0;
    for (const [name, want] of Object.entries(expected)) {
      expect(sorted(presentIds(ds, name)), name).toEqual(sorted(want));
      if (want.size < cohort.size) missingSomewhere++;
    }
    expect(missingSomewhere).toBeGreaterThanOrEqual(4);
    expect(expected.labs.size / cohort.size).toBeLessThan(0.5); // the partial lab table: missing for most stays
  });

  it('has the APACHE IVa score for the stays with a computed IVa prediction', () => {
    const want = stays(readCsv(join(dir, 'apachePatientResult.csv.gz')), (r) => r.apacheversion === 'IVa' && num(r.predictedhospitalmortality) !== -1);
    const have = new Set<string>();
    for (const s of Object.values(ds.splits)) s.ids.forEach((id, i) => !Number.isNaN(s.reference![i]) && have.add(id));
    expect(sorted(have)).toEqual(sorted(want));
  });

  it('splits by patient and by hospital: no uniquepid and no hospital on two sides, for several seeds', async () => {
    for (const seed of [0, 1, 2]) {
      const d = seed === 0 ? ds : await prepareDataset(join(dir, 'mortality-24h.yaml'), { quiet: true, cache: false, seed });
      const side = new Map<string, string>();
      for (const [name, s] of Object.entries(d.splits))
        for (const id of s.ids)
          for (const key of [`p:${patientOf.get(id)}`, `h:${hospitalOf.get(id)}`]) {
            expect(side.get(key) ?? name, `${key} (seed ${seed})`).toBe(name);
            side.set(key, name);
          }
    }
  }, 120_000);

  it('West: the shift environment is the West hospitals\' stays, the rest patient-disjoint from it', async () => {
    const west = await prepareDataset(join(dir, 'mortality-24h-west.yaml'), { quiet: true, cache: false });
    const region = new Map(readCsv(join(dir, 'hospital.csv.gz')).map((h) => [h.hospitalid, h.region]));
    const inWest = (id: string) => region.get(hospitalOf.get(id)!) === 'West';
    const shift = [...cohort].filter(inWest);
    const westPatients = new Set(shift.map((id) => patientOf.get(id)));
    const dropped = [...cohort].filter((id) => !inWest(id) && westPatients.has(patientOf.get(id)));
    expect(sorted(west.splits.shift!.ids)).toEqual(sorted(shift));
    expect(west.cohort.exclusions['patient also in the shift environment'] ?? 0).toBe(dropped.length);
    const rest = new Set(['train', 'val', 'test'].flatMap((s) => west.splits[s as 'train'].ids));
    expect(rest.size).toBe(cohort.size - shift.length - dropped.length);
    for (const id of rest) expect(westPatients.has(patientOf.get(id))).toBe(false);
  }, 120_000);
});

describe('MIMIC-IV demo: mortality-24h', () => {
  const dir = join(ROOT, 'mimic-iv-demo');
  let ds: PreparedDataset;
  const adm = new Map<string, { subject: string; admit: number; disch: number; died: string }>();

  beforeAll(async () => {
    ds = await prepareDataset(join(dir, 'mortality-24h.yaml'), { quiet: true, cache: false });
    for (const a of readCsv(join(dir, 'hosp', 'admissions.csv.gz')))
      adm.set(a.hadm_id, { subject: a.subject_id, admit: ms(a.admittime), disch: ms(a.dischtime), died: a.hospital_expire_flag });
  }, 120_000);

  const cohortIds = () => [...adm].filter(([, a]) => a.disch > a.admit + DAY).map(([id]) => id);

  it('has the admissions still in hospital 24 h after admission, and their deaths', () => {
    const ids = cohortIds();
    expect(sorted(allIds(ds))).toEqual(sorted(ids));
    let pos = 0;
    for (const s of Object.values(ds.splits)) for (const y of s.labels) pos += y;
    expect(pos).toBe(ids.filter((id) => adm.get(id)!.died === '1').length);
  });

  it('labs by subject and time window (rows without hadm_id included), diagnoses of earlier admissions only', () => {
    const items = new Set(['50971', '50902', '50983', '51221', '50912', '51006', '50882', '50868', '51265', '50931', '51222', '51301', '50813']);
    const labs = readCsv(join(dir, 'hosp', 'labevents.csv.gz')).filter((l) => items.has(l.itemid) && l.valuenum !== '');
    const bySubject = new Map<string, number[]>();
    for (const l of labs) {
      const t = Math.max(ms(l.charttime), l.storetime ? ms(l.storetime) : -Infinity);
      (bySubject.get(l.subject_id) ?? bySubject.set(l.subject_id, []).get(l.subject_id)!).push(t);
    }
    const dx = readCsv(join(dir, 'hosp', 'diagnoses_icd.csv.gz'));
    const wantLabs = new Set<string>();
    const wantHistory = new Set<string>();
    for (const id of cohortIds()) {
      const a = adm.get(id)!;
      const idx = a.admit + DAY;
      if ((bySubject.get(a.subject) ?? []).some((t) => t >= idx - 2 * DAY && t <= idx)) wantLabs.add(id);
      if (dx.some((d) => d.subject_id === a.subject && adm.get(d.hadm_id)!.disch <= idx && d.icd_code !== '')) wantHistory.add(id);
    }
    // Prescriptions of the admission, known at the later of start and pharmacy entry.
    const entered = new Map(readCsv(join(dir, 'hosp', 'pharmacy.csv.gz')).map((p) => [p.pharmacy_id, ms(p.entertime)]));
    const wantMeds = new Set<string>();
    for (const p of readCsv(join(dir, 'hosp', 'prescriptions.csv.gz'))) {
      const a = adm.get(p.hadm_id);
      const t = Math.max(ms(p.starttime), entered.get(p.pharmacy_id) ?? -Infinity);
      if (a && a.disch > a.admit + DAY && p.drug !== '' && t <= a.admit + DAY) wantMeds.add(p.hadm_id);
    }
    expect(sorted(presentIds(ds, 'medications'))).toEqual(sorted(wantMeds));
    expect(sorted(presentIds(ds, 'labs'))).toEqual(sorted(wantLabs));
    expect(sorted(presentIds(ds, 'history'))).toEqual(sorted(wantHistory));
    // Some labs come only from rows without hadm_id: matching by hadm_id alone would miss them.
    expect(labs.some((l) => l.hadm_id === '')).toBe(true);
  });

  it('splits by subject: no patient\'s admissions on two sides', () => {
    const side = new Map<string, string>();
    for (const [name, s] of Object.entries(ds.splits))
      for (const id of s.ids) {
        const p = adm.get(id)!.subject;
        expect(side.get(p) ?? name).toBe(name);
        side.set(p, name);
      }
  });
});
