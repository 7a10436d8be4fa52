// Known values computed by hand, creation from the seed, shapes and dtypes, and error cases.
import { describe, it, expect } from 'vitest';
import * as E from '../src/engine/index.js';
import { native } from '../src/engine/native.js';

const F = E.F;
const close = (a: number[], b: number[], tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Math.abs(x - b[i]), `index ${i}: ${x} vs ${b[i]}`).toBeLessThan(tol));
};

describe('tensors: data in and out', () => {
  it('round-trips every dtype through typed arrays', () => {
    const f32 = E.tensor(Float32Array.from([1.5, -2, 3]));
    expect(f32.dtype).toBe('float32');
    expect(Array.from(f32.toArray() as Float32Array)).toEqual([1.5, -2, 3]);
    const f64 = E.tensor(Float64Array.from([Math.PI]));
    expect((f64.toArray() as Float64Array)[0]).toBe(Math.PI);
    const i64 = E.tensor(BigInt64Array.from([5n, -7n]), [2]);
    expect(i64.dtype).toBe('int64');
    expect(Array.from(i64.toArray() as BigInt64Array)).toEqual([5n, -7n]);
    const b = E.tensor([1, 0, 1], [3], 'bool');
    expect(b.dtype).toBe('bool');
    expect(Array.from(b.toArray() as Uint8Array)).toEqual([1, 0, 1]);
    const widened = E.tensor(Int32Array.from([3, 4]), [2], 'int64');
    expect(widened.dtype).toBe('int64');
    expect(widened.toNumbers()).toEqual([3, 4]);
  });
  it('infers shapes of nested arrays and reports shape/ndim/numel', () => {
    const t = E.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.ndim).toBe(2);
    expect(t.numel).toBe(6);
  });
  it('creation functions give the documented values', () => {
    expect(E.zeros([2]).toNumbers()).toEqual([0, 0]);
    expect(E.ones([2], 'int64').toNumbers()).toEqual([1, 1]);
    expect(E.full([2], 7, 'float64').toNumbers()).toEqual([7, 7]);
    expect(E.arange(5).toNumbers()).toEqual([0, 1, 2, 3, 4]);
    expect(E.arange(1, 2, 0.25, 'float32').toNumbers()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(E.eye(2).toNumbers()).toEqual([1, 0, 0, 1]);
    const perm = E.randperm(10).toNumbers();
    expect([...perm].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    const ri = E.randint(3, 6, [200]).toNumbers();
    expect(Math.min(...ri)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...ri)).toBeLessThan(6);
    const u = E.rand([1000]).toNumbers();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = E.randn([20000]);
    expect(Math.abs(n.mean().item())).toBeLessThan(0.05);
    expect(Math.abs(n.std().item() - 1)).toBeLessThan(0.05);
    const bern = E.bernoulli([20000], 0.3).mean().item();
    expect(Math.abs(bern - 0.3)).toBeLessThan(0.02);
    const bp = E.bernoulli(E.tensor([0, 1, 0, 1])).toNumbers();
    expect(bp).toEqual([0, 1, 0, 1]);
  });
  it('the global seed makes random draws repeat', () => {
    E.manualSeed(42);
    const a = [E.rand([5]).toNumbers(), E.randn([5]).toNumbers(), E.randperm(8).toNumbers(), E.randint(0, 100, [5]).toNumbers()];
    E.manualSeed(42);
    const b = [E.rand([5]).toNumbers(), E.randn([5]).toNumbers(), E.randperm(8).toNumbers(), E.randint(0, 100, [5]).toNumbers()];
    expect(a).toEqual(b);
    E.manualSeed(43);
    expect(E.rand([5]).toNumbers()).not.toEqual(a[0]);
  });
});

describe('known values by hand', () => {
  const A = () => E.tensor([[1, 2], [3, 4]]);
  it('arithmetic with broadcasting and scalars', () => {
    expect(A().add(E.tensor([10, 20])).toNumbers()).toEqual([11, 22, 13, 24]);
    expect(A().sub(1).toNumbers()).toEqual([0, 1, 2, 3]);
    expect(A().rsub(1).toNumbers()).toEqual([0, -1, -2, -3]);
    expect(A().mul(E.tensor([[2], [3]])).toNumbers()).toEqual([2, 4, 9, 12]);
    expect(A().div(2).toNumbers()).toEqual([0.5, 1, 1.5, 2]);
    expect(A().pow(2).toNumbers()).toEqual([1, 4, 9, 16]);
    expect(A().remainder(3).toNumbers()).toEqual([1, 2, 0, 1]);
  });
  it('matmul, bmm, linear, outer, trace, cdist', () => {
    expect(A().matmul(A()).toNumbers()).toEqual([7, 10, 15, 22]);
    expect(E.stack([A(), A()]).bmm(E.stack([A(), A()])).toNumbers()).toEqual([7, 10, 15, 22, 7, 10, 15, 22]);
    // x·Wᵀ + b with W = [[1, 0], [1, 1]], b = [0.5, -1]
    expect(E.linear(A(), E.tensor([[1, 0], [1, 1]]), E.tensor([0.5, -1])).toNumbers()).toEqual([1.5, 2, 3.5, 6]);
    expect(E.tensor([1, 2]).outer(E.tensor([3, 4])).toNumbers()).toEqual([3, 4, 6, 8]);
    expect(A().trace().item()).toBe(5);
    close(E.cdist(E.tensor([[0, 0]]), E.tensor([[3, 4], [1, 0]])).toNumbers(), [5, 1]);
  });
  it('reductions with dims and keepdim', () => {
    expect(A().sum().item()).toBe(10);
    expect(A().sum(0).toNumbers()).toEqual([4, 6]);
    expect(A().sum(1, true).shape).toEqual([2, 1]);
    expect(A().mean(1).toNumbers()).toEqual([1.5, 3.5]);
    expect(A().max(0).toNumbers()).toEqual([3, 4]);
    expect(A().min(1).toNumbers()).toEqual([1, 3]);
    expect(A().argmax(1).toNumbers()).toEqual([1, 1]);
    expect(A().argmin().item()).toBe(0);
    close(A().logsumexp(1).toNumbers(), [Math.log(Math.E + Math.E ** 2), Math.log(Math.E ** 3 + Math.E ** 4)], 1e-5);
    close([A().var().item()], [(2.25 + 0.25 + 0.25 + 2.25) / 3], 1e-6);
    close([A().std(undefined, false, false).item()], [Math.sqrt(1.25)], 1e-6);
    expect(E.tensor([3, 1, 2, 5]).median().item()).toBe(2);
    close([E.tensor([3, 4]).norm().item()], [5]);
  });
  it('activations and softmax', () => {
    close(E.tensor([0, Math.log(3)]).sigmoid().toNumbers(), [0.5, 0.75]);
    close(E.tensor([-1, 2]).relu().toNumbers(), [0, 2]);
    close(E.tensor([0.5]).tanh().toNumbers(), [Math.tanh(0.5)]);
    close(E.tensor([1]).gelu().toNumbers(), [0.8413447]);
    close(E.tensor([1, 2, 3]).softmax(0).toNumbers(), [1, Math.E, Math.E ** 2].map((x) => x / (1 + Math.E + Math.E ** 2)));
    close(E.tensor([1, 2]).logSoftmax(0).toNumbers(), [1 - Math.log(Math.E + Math.E ** 2), 2 - Math.log(Math.E + Math.E ** 2)], 1e-6);
    close(E.tensor([-5, 5]).clamp(-1, 2).toNumbers(), [-1, 2]);
  });
  it('comparisons, where, masked fill', () => {
    expect(A().gt(2).toNumbers()).toEqual([0, 0, 1, 1]);
    expect(A().eq(E.tensor([1, 0])).toNumbers()).toEqual([1, 0, 0, 0]);
    expect(E.where(A().ge(3), A(), E.zeros([2, 2])).toNumbers()).toEqual([0, 0, 3, 4]);
    expect(A().maskedFill(A().lt(3), -1).toNumbers()).toEqual([-1, -1, 3, 4]);
  });
  it('shape and indexing ops', () => {
    const t = E.arange(0, 6, 1, 'float32').reshape(2, 3);
    expect(t.transpose(0, 1).toNumbers()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(t.T.shape).toEqual([3, 2]);
    expect(t.permute(1, 0).contiguous().view(6).toNumbers()).toEqual([0, 3, 1, 4, 2, 5]);
    expect(t.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(t.unsqueeze(2).squeeze().shape).toEqual([2, 3]);
    expect(E.tensor([1, 2]).unsqueeze(1).expand(2, 3).toNumbers()).toEqual([1, 1, 1, 2, 2, 2]);
    expect(t.slice(1, 1, null).toNumbers()).toEqual([1, 2, 4, 5]);
    expect(t.slice(1, 0, 3, 2).toNumbers()).toEqual([0, 2, 3, 5]);
    expect(t.narrow(1, 2, 1).toNumbers()).toEqual([2, 5]);
    expect(t.select(0, 1).toNumbers()).toEqual([3, 4, 5]);
    expect(t.indexSelect(1, E.tensor([2, 0], [2], 'int64')).toNumbers()).toEqual([2, 0, 5, 3]);
    expect(t.gather(1, E.tensor([[2], [0]], [2, 1], 'int64')).toNumbers()).toEqual([2, 3]);
    expect(E.zeros([2, 3]).scatter(1, E.tensor([[1], [2]], [2, 1], 'int64'), E.ones([2, 1])).toNumbers()).toEqual([0, 1, 0, 0, 0, 1]);
    expect(E.cat([t, t], 0).shape).toEqual([4, 3]);
    expect(E.stack([t, t], 2).shape).toEqual([2, 3, 2]);
    const parts = t.split([1, 2], 1);
    expect(parts.map((p) => p.shape)).toEqual([[2, 1], [2, 2]]);
    expect(t.split(1, 0).map((p) => p.toNumbers())).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(t.flatten().shape).toEqual([6]);
    expect(E.tensor([1, 2]).repeat(2).toNumbers()).toEqual([1, 2, 1, 2]);
  });
  it('losses equal their formulas', () => {
    const p = E.tensor([0.2, 0.9]), y = E.tensor([0, 1]);
    close([F.bce(p, y).item()], [(-Math.log(0.8) - Math.log(0.9)) / 2]);
    close(F.bce(p, y, { reduction: 'none' }).toNumbers(), [-Math.log(0.8), -Math.log(0.9)]);
    const x = E.tensor([0.5, -1]);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    // pos_weight 2 multiplies the positive term; weight scales each element; sum reduction.
    close([F.bceWithLogits(x, E.tensor([1, 0]), { posWeight: E.tensor([2]), weight: E.tensor([1, 3]), reduction: 'sum' }).item()],
      [-2 * Math.log(s(0.5)) - 3 * Math.log(1 - s(-1))], 1e-5);
    const logits = E.tensor([[1, 2, 3]]);
    close([F.crossEntropy(logits, E.tensor([2], [1], 'int64')).item()], [-(3 - Math.log(Math.E + Math.E ** 2 + Math.E ** 3))], 1e-5);
    close([F.mse(E.tensor([1, 2]), E.tensor([3, 2])).item()], [2]);
  });
  it('layer norm, embedding and embedding bag', () => {
    close(F.layerNorm(E.tensor([[1, 3]]), [2], null, null, 0).toNumbers(), [-1, 1], 1e-5);
    const emb = new E.Embedding(3, 2);
    emb.weight.copy_(E.tensor([[0, 1], [2, 3], [4, 5]]));
    expect(emb.forward(E.tensor([2, 0], [2], 'int64')).toNumbers()).toEqual([4, 5, 0, 1]);
    const bag = new E.EmbeddingBag(3, 2, 'mean');
    bag.weight.copy_(E.tensor([[0, 1], [2, 3], [4, 5]]));
    // bags {0, 2} and {1}
    expect(bag.forward(E.tensor([0, 2, 1], [3], 'int64'), E.tensor([0, 2], [2], 'int64')).toNumbers()).toEqual([2, 3, 2, 3]);
  });
  it('conv1d, pad and flip', () => {
    // y[t] = x[t]·1 + x[t+2]·10 + x[t+4]·100 (dilation 2), after one zero of padding on each side
    const x = E.tensor([1, 2, 3, 4, 5], [1, 1, 5]);
    const y = F.conv1d(x, E.tensor([1, 10, 100], [1, 1, 3]), E.tensor([0.5]), { dilation: 2, padding: 1 });
    expect(y.shape).toEqual([1, 1, 3]);
    close(y.toNumbers(), [0 + 20 + 400 + 0.5, 1 + 30 + 500 + 0.5, 2 + 40 + 0 + 0.5]);
    expect(F.pad(E.tensor([[1, 2]]), [2, 1], 9).toNumbers()).toEqual([9, 9, 1, 2, 9]);
    expect(E.tensor([[1, 2, 3], [4, 5, 6]]).flip(1).toNumbers()).toEqual([3, 2, 1, 6, 5, 4]);
  });
  it('attention equals softmax(q·kᵀ/√d + mask)·v on both evaluations (3 and 9 keys); ignored keys do not count', () => {
    for (const S of [3, 9]) {
      const [B, L, H, D] = [2, 3, 2, 4];
      const q = E.randn([B, L, H, D]), k = E.randn([B, S, H, D]), v = E.randn([B, S, H, D]);
      const pad = Array.from({ length: B * S }, (_, i) => (i % S === S - 1 || i === S + 1 ? 1 : 0)); // last key of each row, and key 1 of row 1
      const kpm = E.tensor(pad, [B, S], 'bool');
      const am = E.randn([L, S]).mul(0.5);
      const out = F.attention(q, k, v, { keyPaddingMask: kpm, attnMask: am });
      // The formula, heads first: (B, H, L, S) scores.
      const qh = q.permute(0, 2, 1, 3), kh = k.permute(0, 2, 1, 3), vh = v.permute(0, 2, 1, 3);
      const scores = qh.matmul(kh.transpose(-1, -2)).div(Math.sqrt(D)).add(am).add(kpm.float().mul(-1e9).view(B, 1, 1, S));
      const ref = scores.softmax(-1).matmul(vh).permute(0, 2, 1, 3);
      expect(out.shape).toEqual([B, L, H, D]);
      expect(out.sub(ref).abs().max().item(), `${S} keys`).toBeLessThan(1e-5);
      // New values for the ignored keys change nothing.
      const v2 = v.add(kpm.float().view(B, S, 1, 1).mul(100));
      expect(F.attention(q, k, v2, { keyPaddingMask: kpm, attnMask: am }).sub(out).abs().max().item()).toBeLessThan(1e-5);
      // Without the mask they do.
      expect(F.attention(q, k, v2).sub(F.attention(q, k, v)).abs().max().item()).toBeGreaterThan(1);
    }
  });
  it('autograd: backward with a gradient, detach, noGrad, zeroGrad', () => {
    const x = E.tensor([1, 2, 3]).requiresGrad_();
    x.mul(x).backward(E.tensor([1, 1, 0.5]));
    expect(x.grad!.toNumbers()).toEqual([2, 4, 3]);
    x.mul(3).sum().backward();
    expect(x.grad!.toNumbers()).toEqual([5, 7, 6]); // accumulates
    x.zeroGrad();
    expect(x.grad).toBeNull();
    expect(x.detach().requiresGrad).toBe(false);
    const y = E.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(E.isGradEnabled()).toBe(true);
  });
  it('optimizers take the documented steps', () => {
    // SGD with momentum 0.9 on f = w²: w1 = w0 − lr·2w0; second step uses v = 0.9·v + g.
    const w = E.tensor([1]).requiresGrad_();
    const opt = new E.SGD([w], { lr: 0.1, momentum: 0.9 });
    w.square().sum().backward(); opt.step(); opt.zeroGrad();
    close(w.toNumbers(), [0.8]);
    w.square().sum().backward(); opt.step();
    close(w.toNumbers(), [0.8 - 0.1 * (0.9 * 2 + 1.6)]);
    // Adam's first step moves each weight by lr·sign(g).
    const a = E.tensor([1, -2]).requiresGrad_();
    const adam = new E.Adam([a], { lr: 0.01 });
    a.mul(E.tensor([3, -5])).sum().backward(); adam.step();
    close(a.toNumbers(), [0.99, -1.99], 1e-6);
    adam.lr = 0.5;
    expect(adam.lr).toBe(0.5);
    // clipping scales the gradient to the maximum norm and reports the norm before
    const c = E.tensor([0, 0]).requiresGrad_();
    c.mul(E.tensor([3, 4])).sum().backward();
    expect(E.clipGradNorm([c], 1)).toBeCloseTo(5, 5);
    close(c.grad!.toNumbers(), [0.6, 0.8], 1e-5);
  });
  it('learning-rate schedules follow their formulas', () => {
    const w = E.tensor([1]).requiresGrad_();
    const o1 = new E.SGD([w], { lr: 1 });
    const st = new E.StepLR(o1, 2, 0.5);
    const seq: number[] = [];
    for (let i = 0; i < 5; i++) { st.step(); seq.push(o1.lr); }
    expect(seq).toEqual([1, 0.5, 0.5, 0.25, 0.25]);
    const o2 = new E.SGD([w], { lr: 1 });
    const cos = new E.CosineLR(o2, 4, 0);
    cos.step(); cos.step();
    expect(o2.lr).toBeCloseTo(0.5, 10);
    cos.step(); cos.step();
    expect(o2.lr).toBeCloseTo(0, 10);
    const o3 = new E.SGD([w], { lr: 1 });
    const oc = new E.OneCycleLR(o3, 1, 10, 0.3, 25, 1e4);
    expect(o3.lr).toBeCloseTo(0.04, 10);
    for (let i = 0; i < 3; i++) oc.step();
    expect(o3.lr).toBeCloseTo(1, 10);
    for (let i = 0; i < 7; i++) oc.step();
    expect(o3.lr).toBeCloseTo(1e-4, 10);
  });
});

describe('threads', () => {
  it('setNumThreads sets libtorch and, when it is the BLAS in use, OpenBLAS (whose pthread build starts one thread per core)', () => {
    const before = E.getNumThreads();
    try {
      E.setNumThreads(2);
      expect(E.getNumThreads()).toBe(2);
      const blas2 = native.blasThreads();
      E.setNumThreads(1);
      expect(E.getNumThreads()).toBe(1);
      if (blas2 === -1) expect(native.blasThreads()).toBe(-1); // not OpenBLAS: nothing to set
      else expect([blas2, native.blasThreads()]).toEqual([2, 1]);
    } finally {
      E.setNumThreads(before);
    }
  });
});

describe('errors become JS errors naming the op and shapes; the process lives on', () => {
  it('shape mismatch', () => {
    expect(() => E.tensor([[1, 2]]).matmul(E.zeros([3, 3]))).toThrow(/matmul\(float32\[1,2\], float32\[3,3\]\)/);
    expect(() => E.tensor([1, 2]).add(E.tensor([1, 2, 3]))).toThrow(/add\(float32\[2\], float32\[3\]\)/);
    expect(() => E.zeros([2, 3]).reshape(4)).toThrow(/reshape\(float32\[2,3\]\).*invalid/);
    expect(() => E.cat([E.zeros([2, 3]), E.zeros([2, 4])], 0)).toThrow(/cat\(float32\[2,3\], float32\[2,4\]\)/);
    expect(() => new E.Linear(3, 2).forward(E.zeros([1, 4]))).toThrow(/linear/);
    expect(() => E.tensor(Float32Array.from([1, 2, 3]), [2, 2])).toThrow(/fromBuffer.*bytes/);
    expect(() => F.attention(E.zeros([2, 3, 2, 4]), E.zeros([2, 5, 2, 3]), E.zeros([2, 5, 2, 4]))).toThrow(/attention\(float32\[2,3,2,4\], float32\[2,5,2,3\], float32\[2,5,2,4\]\): .*shapes do not match/);
    expect(() => F.attention(E.zeros([2, 3, 8]), E.zeros([2, 3, 8]), E.zeros([2, 3, 8]))).toThrow(/attention.*\(batch, length, heads, head dim\)/);
    expect(() => F.conv1d(E.zeros([1, 2, 5]), E.zeros([4, 3, 3]))).toThrow(/conv1d\(float32\[1,2,5\], float32\[4,3,3\]\)/);
  });
  it('wrong dtype', () => {
    expect(() => E.zeros([3]).indexSelect(0, E.tensor([0.5]))).toThrow(/indexSelect\(float32\[3\], float32\[1\]\).*int64/);
    expect(() => E.F.bce(E.full([2], 0.5), E.zeros([2], 'int64'))).toThrow(/bce\(float32\[2\], int64\[2\]\)/);
    expect(() => E.zeros([2, 2]).matmul(E.zeros([2, 2], 'float64'))).toThrow(/matmul\(float32\[2,2\], float64\[2,2\]\)/);
  });
  it('disposed tensor', () => {
    const t = E.tensor([1]);
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.add(1)).toThrow(/disposed/);
    expect(() => E.tensor([1]).add(t)).toThrow(/disposed/);
    t.dispose(); // twice is fine
  });
  it('index out of range and bad item()', () => {
    expect(() => E.zeros([3]).indexSelect(0, E.tensor([5], [1], 'int64'))).toThrow(/indexSelect/);
    expect(() => E.zeros([3]).item()).toThrow(/item\(\) needs a tensor with one element/);
    expect(() => new E.MultiheadAttention(6, 4)).toThrow(/divisible/);
    expect(E.tensor([1, 2]).sum().item()).toBe(3); // still alive
  });
});

describe('scopes', () => {
  it('tidy frees intermediates and keeps returned tensors (nested in arrays/objects)', () => {
    const before = E.memory().tensors;
    const out = E.tidy(() => {
      const a = E.ones([3]).mul(2).add(1);
      return { a, list: [a.sub(1)] };
    });
    expect(E.memory().tensors).toBe(before + 2);
    expect(out.a.toNumbers()).toEqual([3, 3, 3]);
    out.a.dispose(); out.list[0].dispose();
    expect(E.memory().tensors).toBe(before);
  });
  it('nested scopes pass kept tensors to the parent; errors free everything', () => {
    const before = E.memory().tensors;
    E.tidy(() => {
      const inner = E.tidy(() => E.ones([2]).add(1));
      expect(inner.disposed).toBe(false);
      E.keep(E.zeros([1])).dispose();
    });
    expect(E.memory().tensors).toBe(before);
    expect(() => E.tidy(() => { E.ones([100]); throw new Error('boom'); })).toThrow('boom');
    expect(E.memory().tensors).toBe(before);
  });
  it('a `using` scope frees at block end except kept tensors', () => {
    const before = E.memory().tensors;
    let kept: E.Tensor;
    {
      using _s = E.scope();
      E.ones([4]).mul(3);
      kept = E.keep(E.ones([2]));
    }
    expect(E.memory().tensors).toBe(before + 1);
    expect(kept.toNumbers()).toEqual([1, 1]);
    kept.dispose();
    { using t = E.ones([2]); expect(t.numel).toBe(2); }
    expect(E.memory().tensors).toBe(before);
  });
  it('memory() counts bytes', () => {
    const before = E.memory();
    const t = E.zeros([1000], 'float64');
    expect(E.memory().bytes - before.bytes).toBe(8000);
    t.dispose();
  });
});
