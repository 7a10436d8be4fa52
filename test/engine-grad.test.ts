// Finite-difference gradient checks for every differentiable op and module of the engine.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../src/engine/index.js';
import { Tensor } from '../src/engine/index.js';
import { gradcheck } from './helpers/gradcheck.js';

const F = E.F;
beforeAll(() => E.manualSeed(1234));

function leaf(shape: number[], o: { positive?: boolean; awayFromZero?: boolean } = {}): Tensor {
  let t = E.randn(shape, 'float64');
  if (o.positive) t = t.abs().add(0.5);
  if (o.awayFromZero) t = t.add(t.sign().mul(0.3));
  return E.keep(t.detach()).requiresGrad_();
}
/** A fixed random weighting so the scalar objective does not hide errors by symmetry. */
function probe(shape: number[], dtype: E.DType = 'float64'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return E.arange(0, n, 1, dtype).mul(0.731).sin().add(1.5).reshape(shape);
}

type Case = [name: string, make: () => { inputs: Tensor[]; f: (xs: Tensor[]) => Tensor }];

const w = (t: Tensor) => t.mul(probe(t.shape, t.dtype)).sum();

const opCases: Case[] = [
  ['add', () => ({ inputs: [leaf([3, 4]), leaf([4])], f: ([a, b]) => w(a.add(b)) })],
  ['sub', () => ({ inputs: [leaf([3, 4]), leaf([3, 1])], f: ([a, b]) => w(a.sub(b)) })],
  ['mul', () => ({ inputs: [leaf([3, 4]), leaf([3, 4])], f: ([a, b]) => w(a.mul(b)) })],
  ['div', () => ({ inputs: [leaf([3, 4]), leaf([3, 4], { positive: true })], f: ([a, b]) => w(a.div(b)) })],
  ['pow scalar', () => ({ inputs: [leaf([5], { positive: true })], f: ([a]) => w(a.pow(2.5)) })],
  ['pow tensor', () => ({ inputs: [leaf([5], { positive: true }), leaf([5])], f: ([a, b]) => w(a.pow(b)) })],
  ['rsub', () => ({ inputs: [leaf([5])], f: ([a]) => w(a.rsub(1)) })],
  ['maximum/minimum', () => ({ inputs: [leaf([6]), leaf([6])], f: ([a, b]) => w(a.maximum(b).add(a.minimum(b).mul(2))) })],
  ['exp', () => ({ inputs: [leaf([5])], f: ([a]) => w(a.exp()) })],
  ['log', () => ({ inputs: [leaf([5], { positive: true })], f: ([a]) => w(a.log()) })],
  ['log1p', () => ({ inputs: [leaf([5], { positive: true })], f: ([a]) => w(a.log1p()) })],
  ['sqrt', () => ({ inputs: [leaf([5], { positive: true })], f: ([a]) => w(a.sqrt()) })],
  ['abs', () => ({ inputs: [leaf([5], { awayFromZero: true })], f: ([a]) => w(a.abs()) })],
  ['neg/square/reciprocal', () => ({ inputs: [leaf([5], { positive: true })], f: ([a]) => w(a.neg().add(a.square()).add(a.reciprocal())) })],
  ['clamp', () => ({ inputs: [leaf([8], { awayFromZero: true })], f: ([a]) => w(a.clamp(-0.2, 0.25)) })],
  ['sigmoid', () => ({ inputs: [leaf([5])], f: ([a]) => w(a.sigmoid()) })],
  ['tanh', () => ({ inputs: [leaf([5])], f: ([a]) => w(a.tanh()) })],
  ['relu', () => ({ inputs: [leaf([6], { awayFromZero: true })], f: ([a]) => w(a.relu()) })],
  ['gelu', () => ({ inputs: [leaf([6])], f: ([a]) => w(a.gelu()) })],
  ['softplus/logSigmoid', () => ({ inputs: [leaf([6])], f: ([a]) => w(a.softplus().add(a.logSigmoid())) })],
  ['softmax', () => ({ inputs: [leaf([3, 4])], f: ([a]) => w(a.softmax(1)) })],
  ['logSoftmax', () => ({ inputs: [leaf([3, 4])], f: ([a]) => w(a.logSoftmax(0)) })],
  ['sum/mean dims', () => ({ inputs: [leaf([2, 3, 4])], f: ([a]) => w(a.sum(1)).add(w(a.mean([0, 2], true))) })],
  ['max/min dims', () => ({ inputs: [leaf([3, 5])], f: ([a]) => w(a.max(1)).add(w(a.min(0))) })],
  ['logsumexp', () => ({ inputs: [leaf([3, 5])], f: ([a]) => w(a.logsumexp(1)) })],
  ['std/var', () => ({ inputs: [leaf([4, 5])], f: ([a]) => w(a.std(1)).add(w(a.var(0, true))) })],
  ['norm', () => ({ inputs: [leaf([4, 5])], f: ([a]) => w(a.norm(1)) })],
  ['matmul', () => ({ inputs: [leaf([3, 4]), leaf([4, 2])], f: ([a, b]) => w(a.matmul(b)) })],
  ['bmm', () => ({ inputs: [leaf([2, 3, 4]), leaf([2, 4, 2])], f: ([a, b]) => w(a.bmm(b)) })],
  ['linear', () => ({ inputs: [leaf([3, 4]), leaf([2, 4]), leaf([2])], f: ([x, W, b]) => w(E.linear(x, W, b)) })],
  ['cdist', () => ({ inputs: [leaf([3, 4]), leaf([5, 4])], f: ([a, b]) => w(E.cdist(a, b)) })],
  ['trace', () => ({ inputs: [leaf([4, 4])], f: ([a]) => a.trace() })],
  ['reshape/transpose/permute', () => ({ inputs: [leaf([2, 3, 4])], f: ([a]) => w(a.reshape([6, 4]).transpose(0, 1)).add(w(a.permute(2, 0, 1))) })],
  ['squeeze/unsqueeze/expand', () => ({ inputs: [leaf([3, 1])], f: ([a]) => w(a.squeeze(1).unsqueeze(0).expand([4, 3])) })],
  ['slice/narrow/select', () => ({ inputs: [leaf([5, 4])], f: ([a]) => w(a.slice(0, 1, 5, 2)).add(w(a.narrow(1, 1, 2))).add(w(a.select(0, 3))) })],
  ['indexSelect', () => ({ inputs: [leaf([5, 3])], f: ([a]) => w(a.indexSelect(0, E.tensor([4, 0, 4], [3], 'int64'))) })],
  ['gather', () => ({ inputs: [leaf([3, 4])], f: ([a]) => w(a.gather(1, E.tensor([[0, 3], [1, 1], [2, 0]], [3, 2], 'int64'))) })],
  ['scatter', () => ({ inputs: [leaf([3, 4]), leaf([3, 2])], f: ([a, s]) => w(a.scatter(1, E.tensor([[0, 3], [1, 2], [2, 0]], [3, 2], 'int64'), s)) })],
  ['maskedFill', () => ({ inputs: [leaf([3, 4])], f: ([a]) => w(a.maskedFill(E.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], [3, 4], 'bool'), 0.5)) })],
  ['where', () => ({ inputs: [leaf([4]), leaf([4])], f: ([a, b]) => w(E.where(E.tensor([1, 0, 1, 0], [4], 'bool'), a, b)) })],
  ['cat/stack/split', () => ({ inputs: [leaf([2, 3]), leaf([2, 3])], f: ([a, b]) => w(E.cat([a, b], 1)).add(w(E.stack([a, b], 0))).add(w(a.split(1, 0)[1])) })],
  ['bce', () => ({ inputs: [E.keep(E.rand([6], 'float64').mul(0.8).add(0.1).detach()).requiresGrad_()], f: ([p]) => F.bce(p, E.tensor(Float64Array.from([0, 1, 1, 0, 1, 0]))) })],
  ['bceWithLogits weighted', () => ({ inputs: [leaf([6])], f: ([x]) => F.bceWithLogits(x, E.tensor(Float64Array.from([0, 1, 1, 0, 1, 0])), { weight: probe([6]), posWeight: E.tensor(Float64Array.from([3])) }) })],
  ['crossEntropy', () => ({ inputs: [leaf([4, 3])], f: ([x]) => F.crossEntropy(x, E.tensor([0, 2, 1, 2], [4], 'int64')) })],
  ['mse', () => ({ inputs: [leaf([5]), leaf([5])], f: ([a, b]) => F.mse(a, b) })],
  ['layerNorm', () => ({ inputs: [leaf([3, 5]), leaf([5]), leaf([5])], f: ([x, g, b]) => w(F.layerNorm(x, [5], g, b)) })],
  // Both evaluations of attention (broadcast below 8 keys, libtorch's _scaled_dot_product_attention from 8), with a
  // key-padding mask (one query row with every key but one ignored) and an additive attention mask.
  ['attention, 3 keys, key padding + additive mask', () => ({
    inputs: [leaf([2, 3, 2, 4]), leaf([2, 3, 2, 4]), leaf([2, 3, 2, 4])],
    f: ([q, k, v]) => w(F.attention(q, k, v, { keyPaddingMask: E.tensor([[0, 0, 1], [0, 1, 1]], [2, 3], 'bool'), attnMask: probe([3, 3]).mul(0.3) })),
  })],
  ['attention, 9 keys (libtorch path), key padding + bool mask', () => ({
    inputs: [leaf([2, 2, 2, 3]), leaf([2, 9, 2, 3]), leaf([2, 9, 2, 3])],
    f: ([q, k, v]) => w(F.attention(q, k, v, {
      keyPaddingMask: E.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1, 1, 1, 1]], [2, 9], 'bool'),
      attnMask: E.tensor([[0, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0]], [2, 9], 'bool'),
    })),
  })],
  ['conv1d (dilation, padding, groups)', () => ({
    inputs: [leaf([2, 4, 7]), leaf([6, 2, 3]), leaf([6])],
    f: ([x, wt, b]) => w(F.conv1d(x, wt, b, { dilation: 2, padding: 1, groups: 2 })),
  })],
  ['pad (left of the last dim) and flip', () => ({ inputs: [leaf([2, 3, 4])], f: ([a]) => w(F.pad(a, [2, 1], 0.5).flip(2, 0)) })],
  ['median (subgradient at the median)', () => ({ inputs: [leaf([7])], f: ([a]) => a.median().mul(3) })],
];

describe('finite-difference gradients of ops (float64)', () => {
  for (const [name, make] of opCases) {
    it(name, () => {
      const { inputs, f } = make();
      const r = gradcheck(f, inputs, { eps: 1e-6 });
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxRelErr, `${name}: max abs err ${r.maxAbsErr}`).toBeLessThan(1e-5);
      inputs.forEach((t) => t.dispose());
    });
  }
});

// Modules are converted to float64 (Module.to) so the check is as tight as for the ops.
function moduleCheck(f: (xs: Tensor[]) => Tensor, inputs: Tensor[]) {
  const r = gradcheck(f, inputs, { eps: 1e-6, maxPerInput: 40 });
  expect(r.checked).toBeGreaterThan(0);
  expect(r.maxRelErr, `max abs err ${r.maxAbsErr}`).toBeLessThan(1e-5);
}
const leaf32 = (shape: number[]) => E.keep(E.randn(shape, 'float64').detach()).requiresGrad_();
const w32 = (t: Tensor) => t.mul(probe(t.shape, 'float64')).sum();

describe('finite-difference gradients of modules (float32)', () => {
  it('Linear (input, weight, bias)', () => {
    const m = new E.Linear(4, 3).to('float64');
    const x = leaf32([2, 4]);
    moduleCheck(([xx]) => w32(m.forward(xx)), [x, ...m.parameters()]);
  });
  it('LayerNorm', () => {
    const m = new E.LayerNorm(6).to('float64');
    moduleCheck(([xx]) => { return w32(m.forward(xx)); }, [leaf32([3, 6]), ...m.parameters()]);
  });
  it('Embedding and EmbeddingBag (sum with per-sample weights, mean)', () => {
    const emb = new E.Embedding(7, 3).to('float64');
    const bagS = new E.EmbeddingBag(7, 3, 'sum').to('float64');
    const bagM = new E.EmbeddingBag(7, 3, 'mean').to('float64');
    const idx = E.tensor([1, 4, 4, 6, 0], [5], 'int64');
    const off = E.tensor([0, 2, 3], [3], 'int64');
    const psw = leaf32([5]);
    moduleCheck(([ps]) => {
      
      return w32(emb.forward(idx)).add(w32(bagS.forward(idx, off, ps))).add(w32(bagM.forward(idx, off)));
    }, [psw, emb.weight, bagS.weight, bagM.weight]);
  });
  it('GRU (input and every weight)', () => {
    const g = new E.GRU(3, 4).to('float64');
    moduleCheck(([xx]) => {
      const { output, hidden } = g.forward(xx);
      
      return w32(output).add(w32(hidden));
    }, [leaf32([2, 5, 3]), ...g.parameters()]);
  });
  it('MultiheadAttention with a key-padding mask', () => {
    const m = new E.MultiheadAttention(8, 2).to('float64');
    const kpm = E.tensor([[0, 0, 1], [0, 1, 1]], [2, 3], 'bool');
    moduleCheck(([x]) => { const o = m.forward(x, x, x, { keyPaddingMask: kpm }).output; return w32(o); }, [leaf32([2, 3, 8]), ...m.parameters()]);
  });
  it('TransformerEncoderLayer (post-norm)', () => {
    const m = new E.TransformerEncoderLayer(8, 2, 16, 0).to('float64');
    const kpm = E.tensor([[0, 0, 1], [0, 0, 0]], [2, 3], 'bool');
    moduleCheck(([x]) => { const o = m.forward(x, kpm); return w32(o); }, [leaf32([2, 3, 8]), ...m.parameters()]);
  });
  it('Sequential of Linear-ReLU-Linear', () => {
    const m = new E.Sequential(new E.Linear(4, 5), new E.Tanh(), new E.Linear(5, 1)).to('float64');
    moduleCheck(([x]) => m.forward(x).sum(), [leaf32([3, 4]), ...m.parameters()]);
  });
});
