import { describe, expect, it } from 'vitest';
import { tidy } from '../src/engine/index.js';
import { makeBatch } from '../src/models/batch.js';
import { tinyModalities, tinySplit } from './models-fixtures.js';

const K = tinyModalities.length;
const split = tinySplit(30, 5);
const pid = Int32Array.from({ length: 30 }, (_, i) => (i * 7) % 4);
const rows = [4, 5, 6, 0, 29, 12, 13]; // runs and jumps

describe('makeBatch', () => {
  it('copies the rows of every modality, the mask, labels, patterns and row ids', () => {
    tidy(() => {
      const b = makeBatch(split, rows, tinyModalities, pid);
      for (const m of tinyModalities) {
        const w = m.shape.reduce((a, c) => a * c, 1);
        const t = b.values[m.name];
        expect(t.shape).toEqual([rows.length, ...m.shape]);
        const got = t.toFloat32Array();
        rows.forEach((r, i) => expect(Array.from(got.subarray(i * w, (i + 1) * w))).toEqual(Array.from(split.values[m.name].subarray(r * w, (r + 1) * w))));
      }
      expect(b.mask.toNumbers()).toEqual(rows.flatMap((r) => Array.from(split.mask.subarray(r * K, (r + 1) * K))));
      expect(b.labels!.toNumbers()).toEqual(rows.map((r) => split.labels[r]));
      expect(b.patternIdx.dtype).toBe('int64');
      expect(b.patternIdx.toNumbers()).toEqual(rows.map((r) => pid[r]));
      expect(b.rows!.toNumbers()).toEqual(rows);
    });
  });

  it('gives the nonzeros of observed rows of codes/text as bags, and empty bags for missing rows', () => {
    tidy(() => {
      const b = makeBatch(split, rows, tinyModalities, pid);
      for (const [k, m] of tinyModalities.entries()) {
        if (m.type !== 'codes' && m.type !== 'text') { expect(b.sparse?.[m.name]).toBeUndefined(); continue; }
        const s = b.sparse![m.name];
        const idx = s.indices.toNumbers(), off = s.offsets.toNumbers(), val = s.weights.toNumbers();
        const w = m.shape[0];
        rows.forEach((r, i) => {
          const dense = new Array<number>(w).fill(0);
          for (let j = off[i]; j < (i + 1 < rows.length ? off[i + 1] : idx.length); j++) dense[idx[j]] = val[j];
          const expected = split.mask[r * K + k] ? Array.from(split.values[m.name].subarray(r * w, (r + 1) * w)) : new Array(w).fill(0);
          expect(dense).toEqual(expected);
        });
      }
    });
  });

  it('lays out the observed rows and tokens', () => {
    tidy(() => {
      const b = makeBatch(split, rows, tinyModalities, pid);
      const mask = rows.flatMap((r) => Array.from(split.mask.subarray(r * K, (r + 1) * K)));
      const tok = b.layout!.tokens;
      const flat = mask.flatMap((v, f) => (v ? [f] : []));
      expect(tok.count).toBe(flat.length);
      expect(tok.index.toNumbers()).toEqual(flat);
      expect(tok.pos.toNumbers()).toEqual(mask.map((v, f) => (v ? flat.indexOf(f) : flat.length)));
      tinyModalities.forEach((m, k) => {
        const obs = rows.map((_, i) => i).filter((i) => mask[i * K + k]);
        const pres = b.layout!.present[m.name];
        if (obs.length === rows.length) { expect(pres).toBeUndefined(); return; }
        expect(pres.count).toBe(obs.length);
        expect(pres.rows.toNumbers()).toEqual(obs);
        expect(pres.pos.toNumbers()).toEqual(rows.map((_, i) => (mask[i * K + k] ? obs.indexOf(i) : obs.length)));
      });
    });
  });

  it('works without labels (serving) and names a missing modality', () => {
    tidy(() => {
      const b = makeBatch({ values: split.values, mask: split.mask }, rows, tinyModalities, pid);
      expect(b.labels).toBeUndefined();
    });
    expect(() => makeBatch({ values: {}, mask: split.mask }, rows, tinyModalities, pid)).toThrow(/modality 'static'/);
  });
});
