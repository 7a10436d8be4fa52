// Memory stays flat over long training, the same seed repeats bit for bit, and weights round-trip as safetensors.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '../src/engine/index.js';

function mlp(): E.Sequential {
  return new E.Sequential(new E.Linear(32, 64), new E.ReLU(), new E.Dropout(0.1), new E.Linear(64, 64), new E.ReLU(), new E.Linear(64, 1));
}

/** Trains an MLP on a fixed synthetic task; returns the loss of every step. */
function train(seed: number, steps: number, onStep?: (i: number) => void): number[] {
  E.manualSeed(seed);
  const model = mlp();
  const opt = new E.Adam(model.parameters(), { lr: 1e-3 });
  const X = E.randn([512, 32]);
  const y = E.tidy(() => X.narrow(1, 0, 1).add(X.narrow(1, 1, 1).mul(0.5)).gt(0).float());
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = E.tidy(() => {
      const idx = E.randint(0, 512, [64]);
      const l = E.F.bceWithLogits(model.forward(X.indexSelect(0, idx)), y.indexSelect(0, idx));
      opt.zeroGrad();
      l.backward();
      E.clipGradNorm(model.parameters(), 5);
      opt.step();
      return l.item();
    });
    losses.push(loss);
    onStep?.(i);
  }
  opt.dispose();
  model.dispose();
  X.dispose();
  y.dispose();
  return losses;
}

describe('memory', () => {
  it('2,000 training steps keep the live-tensor count constant and RSS growth under 50 MB', () => {
    const counts: number[] = [];
    let rssAfterWarmup = 0;
    train(1, 2000, (i) => {
      if (i === 100) { global.gc?.(); rssAfterWarmup = process.memoryUsage().rss; }
      if (i % 100 === 0) counts.push(E.memory().tensors);
    });
    const growth = (process.memoryUsage().rss - rssAfterWarmup) / 2 ** 20;
    expect(new Set(counts).size, `live tensors per 100 steps: ${counts.join(',')}`).toBe(1);
    expect(growth).toBeLessThan(50);
  });
  it('disposing a model and its optimizer returns the live count to where it was', () => {
    const before = E.memory().tensors;
    train(2, 10);
    expect(E.memory().tensors).toBe(before);
  });
});

describe('determinism', () => {
  it('the same seed gives the same loss trajectory bit for bit; another seed does not', () => {
    const a = train(7, 150), b = train(7, 150), c = train(8, 150);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a[a.length - 1]).toBeLessThan(a[0]); // and it learns
  });
});

describe('safetensors', () => {
  it('round-trips every dtype and the metadata', () => {
    const ts = {
      'layer.weight': E.randn([3, 4]),
      'layer.bias': E.tensor(Float64Array.from([1.5, -2])),
      'ids': E.tensor(BigInt64Array.from([1n, 2n, 3n]), [3]),
      'mask': E.tensor([1, 0, 1, 1], [2, 2], 'bool'),
      'scalar': E.scalar(4),
    };
    const bytes = E.encodeSafetensors(ts, { format: 'pt', note: 'cdmm' });
    const { tensors, metadata } = E.decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'cdmm' });
    for (const [k, t] of Object.entries(ts)) {
      const u = tensors.get(k)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(u.toNumbers()).toEqual(t.toNumbers());
    }
  });
  it('writes the header exactly as the format defines it (checked by hand)', () => {
    const bytes = E.encodeSafetensors({ b: E.tensor(Float32Array.from([1, 2])), a: E.tensor(BigInt64Array.from([7n]), [1]) });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const n = Number(view.getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0); // data aligned to 8 bytes
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
    expect(header).toEqual({
      a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
    });
    const data = bytes.subarray(8 + n);
    expect(data.length).toBe(16);
    const dv = new DataView(data.buffer, data.byteOffset);
    expect(dv.getBigInt64(0, true)).toBe(7n);
    expect(dv.getFloat32(8, true)).toBe(1);
    expect(dv.getFloat32(12, true)).toBe(2);
  });
  it('a module saved and loaded gives identical outputs; damage is reported with the file name', () => {
    E.manualSeed(3);
    const m = mlp().eval();
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-st-'));
    const file = join(dir, 'w.safetensors');
    E.saveSafetensors(file, m.stateDict());
    E.manualSeed(99);
    const m2 = mlp().eval();
    const x = E.randn([5, 32]);
    expect(m2.forward(x).equal(m.forward(x))).toBe(false);
    m2.loadStateDict(E.loadSafetensors(file).tensors);
    expect(m2.forward(x).equal(m.forward(x))).toBe(true);
    const raw = readFileSync(file);
    writeFileSync(file, raw.subarray(0, raw.length - 10));
    expect(() => E.loadSafetensors(file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: damaged safetensors file`));
    expect(() => m2.loadStateDict(new Map([['0.weight', E.zeros([2, 2])]]))).toThrow(/missing/);
    // A forged header (an attacker's pass): negative sizes whose product fits, and two tensors over the same bytes.
    const forge = (header: Record<string, unknown>, data = 16) => {
      const h = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(data)]));
      return () => E.loadSafetensors(file);
    };
    expect(forge({ a: { dtype: 'F32', shape: [-2, -2], data_offsets: [0, 16] } })).toThrow(/damaged safetensors file: tensor a: shape \[-2,-2\] is not a list of sizes ≥ 0/);
    expect(forge({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } })).toThrow(/damaged safetensors file: tensors a and b: their data_offsets overlap/);
    expect(forge({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } })().tensors.size).toBe(2);
    // Headers that are not an object of tensors, or far larger than any cdmm writes (parsed uncapped, a forged header
    // of nested brackets filled memory): refused before or right after parsing.
    expect(forge([] as unknown as Record<string, unknown>)).toThrow(/damaged safetensors file: header is not a JSON object/);
    // bytes no tensor describes, and a tensor named twice (JSON.parse would keep the second silently)
    expect(forge({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } })).toThrow(/damaged safetensors file: 8 bytes of data are not any tensor's/);
    const h = Buffer.from('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}');
    const hl = Buffer.alloc(8);
    hl.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(file, Buffer.concat([hl, h, Buffer.alloc(16)]));
    expect(() => E.loadSafetensors(file)).toThrow(/damaged safetensors file: tensor "a" is named twice in the header/);
    // a tensor of another dtype than the model's is refused, not converted
    expect(() => m2.loadStateDict(new Map([...m2.stateDict()].map(([k, t]) => [k, k === '0.weight' ? t.gt(0) : t])))).toThrow(/0\.weight has dtype bool, the model expects float32/);
    expect(forge({ __metadata__: { a: 1 } })).toThrow(/damaged safetensors file: __metadata__ is not an object of strings/);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(E.MAX_HEADER_BYTES + 8));
    writeFileSync(file, Buffer.concat([len, Buffer.alloc(E.MAX_HEADER_BYTES + 16, 0x5b)]));
    expect(() => E.loadSafetensors(file)).toThrow(/damaged safetensors file: header length 16777224 is more than a header may hold \(16777216\)/);
    len.writeBigUInt64LE(BigInt(3_000_000));
    writeFileSync(file, Buffer.concat([len, Buffer.alloc(3_000_000, 0x5b)]));
    expect(() => E.loadSafetensors(file)).toThrow(/its header\): holds more than 2,000,000 objects and arrays/);
  });
});
