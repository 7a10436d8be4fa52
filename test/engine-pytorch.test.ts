// The engine's GRU, multi-head attention (both evaluations), Transformer layer and conv1d against PyTorch itself (Debian's python3-torch),
// on the same weights and inputs, exchanged as safetensors read and written by a hand-written Python reader/writer.
import { describe, it, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '../src/engine/index.js';

const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn('engine-pytorch: skipped, /usr/bin/python3 cannot import torch (apt-get install python3-torch)');

function maxDiff(a: E.Tensor, b: E.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return a.sub(b).abs().max().item();
}

describe.skipIf(!hasTorch)('engine vs PyTorch on identical weights', () => {
  it('GRU, MultiheadAttention (key padding; 4 and 9 keys), TransformerEncoderLayer and conv1d: outputs and gradients agree', () => {
    E.manualSeed(11);
    const gru = new E.GRU(6, 5);
    const mha = new E.MultiheadAttention(16, 4);
    const enc = new E.TransformerEncoderLayer(16, 4, 256, 0);
    const xs = E.randn([3, 7, 6]).requiresGrad_();
    const xt = E.randn([3, 4, 16]).requiresGrad_();
    const kpm = E.tensor([[0, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1]], [3, 4], 'bool');
    const probe = E.randn([3, 4, 16]);
    const mha9 = new E.MultiheadAttention(16, 4);
    const xl = E.randn([3, 9, 16]).requiresGrad_();
    const kpm9 = E.tensor([[0, 0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1, 1, 1]], [3, 9], 'bool');
    const probeLong = E.randn([3, 9, 16]);
    const xc = E.randn([2, 4, 7]).requiresGrad_();
    const wc = E.randn([6, 2, 3]).requiresGrad_();
    const bc = E.randn([6]);
    const dir = mkdtempSync(join(tmpdir(), 'cdmm-torch-'));
    const inFile = join(dir, 'in.safetensors'), outFile = join(dir, 'out.safetensors');
    const weights = new Map<string, E.Tensor>([['x_series', xs], ['x_tokens', xt], ['key_padding', kpm], ['probe', probe],
      ['x_long', xl], ['key_padding_long', kpm9], ['probe_long', probeLong], ['x_conv', xc], ['conv.weight', wc], ['conv.bias', bc]]);
    for (const [k, v] of mha9.namedParameters('mha9.')) weights.set(k, v);
    for (const [k, v] of gru.namedParameters('gru.')) weights.set(k, v);
    for (const [k, v] of mha.namedParameters('mha.')) weights.set(k, v);
    for (const [k, v] of enc.namedParameters('enc.')) weights.set(k, v);
    E.saveSafetensors(inFile, weights);
    execFileSync(python, ['test/fixtures/torch_crosscheck.py', inFile, outFile], { stdio: 'inherit' });
    const ref = E.loadSafetensors(outFile).tensors;

    const { output, hidden } = gru.forward(xs);
    output.sum().add(hidden.sum()).backward();
    expect(maxDiff(output, ref.get('gru.output')!)).toBeLessThan(1e-5);
    expect(maxDiff(hidden, ref.get('gru.hidden')!)).toBeLessThan(1e-5);
    expect(maxDiff(xs.grad!, ref.get('gru.grad_x')!)).toBeLessThan(1e-4);

    xt.zeroGrad();
    const att = mha.forward(xt, xt, xt, { keyPaddingMask: kpm, needWeights: true });
    att.output.sum().backward();
    expect(maxDiff(att.output, ref.get('mha.output')!)).toBeLessThan(1e-5);
    expect(maxDiff(att.weights!, ref.get('mha.weights')!)).toBeLessThan(1e-6);
    expect(maxDiff(xt.grad!, ref.get('mha.grad_x')!)).toBeLessThan(1e-4);

    xt.zeroGrad();
    const y = enc.forward(xt, kpm);
    y.mul(probe).sum().backward();
    expect(maxDiff(y, ref.get('enc.output')!)).toBeLessThan(1e-4);
    expect(maxDiff(xt.grad!, ref.get('enc.grad_x')!)).toBeLessThan(1e-3);
    expect(maxDiff(enc.linear1.weight.grad!, ref.get('enc.grad_linear1')!)).toBeLessThan(1e-3);

    const att9 = mha9.forward(xl, xl, xl, { keyPaddingMask: kpm9, needWeights: true });
    att9.output.mul(probeLong).sum().backward();
    expect(maxDiff(att9.output, ref.get('mha9.output')!)).toBeLessThan(1e-5);
    expect(maxDiff(att9.weights!, ref.get('mha9.weights')!)).toBeLessThan(1e-6);
    expect(maxDiff(xl.grad!, ref.get('mha9.grad_x')!)).toBeLessThan(1e-4);

    const yc = E.F.conv1d(xc, wc, bc, { padding: 1, dilation: 2, groups: 2 });
    yc.mul(yc).sum().backward();
    expect(maxDiff(yc, ref.get('conv.output')!)).toBeLessThan(1e-5);
    expect(maxDiff(xc.grad!, ref.get('conv.grad_x')!)).toBeLessThan(1e-4);
    expect(maxDiff(wc.grad!, ref.get('conv.grad_w')!)).toBeLessThan(1e-4);
  });
});
