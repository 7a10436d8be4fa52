// fitted.json: the fitted patients as salted hashes that find a patient only from its whole record (id, label,
// modality mask and features), so that a run folder given away does not tell who was fitted or their outcome.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { countFitted, FittedSchema, fittedIds, type PatientKeys } from '../src/run/fitted.js';
import { mulberry32 } from '../src/data/rng.js';

function cohort(n: number, seed = 1): PatientKeys {
  const r = mulberry32(seed);
  const K = 2, D = [3, 5];
  const mask = Array.from({ length: n * K }, (_, j) => (j % K === 0 || r() < 0.6 ? 1 : 0));
  return {
    ids: Array.from({ length: n }, (_, i) => `P${String(i + 1).padStart(6, '0')}`),
    labels: Array.from({ length: n }, () => (r() < 0.2 ? 1 : 0)),
    mask,
    K,
    values: D.map((d, k) => Float32Array.from({ length: n * d }, (_, j) => (mask[Math.floor(j / d) * K + k] ? r() * 4 - 2 : 0))),
  };
}
const sha = (salt: string, ...parts: string[]) => {
  const h = createHash('sha256').update(salt);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex').slice(0, 16);
};

describe('fitted.json', () => {
  const p = cohort(500);
  const f = fittedIds(p);

  it('finds the fitted patients in another copy of their data, to 1e-6 of its features', () => {
    expect(FittedSchema.safeParse(JSON.parse(JSON.stringify(f))).success).toBe(true);
    expect(countFitted(f, p).rows).toBe(500);
    const copy = { ...p, values: p.values.map((v) => v.map((x) => x + 1e-6 * (x > 0 ? 1 : -1))) };
    expect(countFitted(f, copy).rows).toBeGreaterThanOrEqual(495);
  });

  it('does not find other patients that share their ids (another site numbering patients the same way)', () => {
    const other = cohort(500, 2);
    expect(countFitted(f, other).rows).toBe(0);
  });

  it('gives nothing away to one who knows the ids and the salt: no guess of id, label and mask matches', () => {
    const rows = new Set(f.rows);
    const masks = ['00', '01', '10', '11'];
    let hits = 0;
    for (const id of p.ids) {
      if (rows.has(sha(f.salt, id))) hits++;
      for (const y of ['0', '1']) for (const m of masks) if (rows.has(sha(f.salt, id, y, m)) || rows.has(sha(f.salt, id, y, m, ''))) hits++;
    }
    expect(hits).toBe(0);
    expect(Object.keys(f).sort()).toEqual(['rows', 'salt', 'version']);
  });

  it('still reads a format-1 file (runs written before): by id, then by id, label and mask', () => {
    const salt = 'ab'.repeat(16);
    const v1 = { salt, ids: p.ids.slice(0, 100).map((id) => sha(salt, id)).sort(), rows: p.ids.slice(0, 50).map((id, i) => sha(salt, id, p.labels[i] >= 0.5 ? '1' : '0', `${p.mask[2 * i] ? 1 : 0}${p.mask[2 * i + 1] ? 1 : 0}`)).sort() };
    const parsed = FittedSchema.parse(v1);
    expect(countFitted(parsed, p)).toEqual({ ids: 100, rows: 50 });
  });
});
