// The TCN series encoder (libtorch's conv1d with causal padding) against its definition: a Linear over the taps
// [x_t, x_{t−δ}, x_{t−2δ}] built from zero-padded shifted copies, on the same weights and gradients; its receptive field.
import { describe, it, expect } from 'vitest';
import * as E from '../src/engine/index.js';
import { TcnSeriesEncoder } from '../src/models/encoders.js';

/** The definition, op by op: shifted copies (zeros on the left), concatenated, through each layer's Linear. */
function byDefinition(enc: TcnSeriesEncoder, x: E.Tensor): E.Tensor {
  const shifted = (h: E.Tensor, by: number) => {
    const [b, t, c] = h.shape;
    return by >= t ? E.zeros([b, t, c], h.dtype) : E.cat([E.zeros([b, by, c], h.dtype), h.slice(1, 0, t - by)], 1);
  };
  let h = enc.inProj.forward(x).relu(); // (B, T, hidden)
  TcnSeriesEncoder.dilations.forEach((d, i) => {
    const taps = [h, shifted(h, d), shifted(h, 2 * d)];
    h = h.add(enc.convs[i].forward(E.cat(taps, 2)).relu());
  });
  return enc.out.forward(h.select(1, -1));
}

describe('TCN series encoder', () => {
  it('equals the Linear over shifted taps, in value and in every gradient (float64)', () => {
    E.manualSeed(5);
    const enc = new TcnSeriesEncoder(6, 8, 5).to('float64');
    for (const T of [3, 24]) { // shorter than the largest shift (2·4) and longer than the receptive field
      const x = E.randn([4, T, 6], 'float64');
      const a = enc.forward(x);
      const b = byDefinition(enc, x);
      expect(a.shape).toEqual([4, 5]);
      expect(a.sub(b).abs().max().item(), `T=${T}`).toBeLessThan(1e-12);
      const grads = (y: E.Tensor) => {
        enc.zeroGrad();
        y.mul(E.arange(0, 20, 1, 'float64').sin().reshape([4, 5])).sum().backward();
        return enc.parameters().map((p) => p.grad!.clone());
      };
      const ga = grads(enc.forward(x)), gb = grads(byDefinition(enc, x));
      ga.forEach((g, i) => expect(g.sub(gb[i]).abs().max().item(), `parameter ${i}, T=${T}`).toBeLessThan(1e-12));
    }
  });
  it('reads exactly the last 15 bins (receptive field 1 + 2·(1 + 2 + 4))', () => {
    E.manualSeed(6);
    const enc = new TcnSeriesEncoder(3, 4, 2);
    const x = E.randn([2, 30, 3]);
    const y = enc.forward(x);
    const changed = (from: number, to: number) =>
      E.cat([x.slice(1, 0, from), E.randn([2, to - from, 3]).mul(3), x.slice(1, to)], 1);
    expect(enc.forward(changed(0, 15)).sub(y).abs().max().item()).toBeLessThan(1e-7); // bins 0..14: outside (they never enter)
    expect(enc.forward(changed(15, 16)).sub(y).abs().max().item()).toBeGreaterThan(1e-6); // bin 15 = T − 15: inside
  });
});
