// npm run bench:attention: the engine's F.attention against the matmul formulation softmax(q·kᵀ/√d)·v (what
// libtorch 1.13's _scaled_dot_product_attention computes on CPU), forward and forward + backward, for 4 keys (cdmm's
// transformer fusion: one token per modality) and 8 (where F.attention switches to libtorch's op). CPU time per
// call, median of --reps. One JSON line.
import { parseArgs } from 'node:util';
import { F, noGrad, randn, setNumThreads, tidy, type Tensor } from '../src/engine/index.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '30' }, tokens: { type: 'string', default: '4096' } } });
const REPS = Number(args.reps), TOKENS = Number(args.tokens), H = 4, D = 32;
setNumThreads(1);

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
function median(f: () => void): number {
  for (let i = 0; i < 3; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) { const t = cpuMs(); f(); ts.push(cpuMs() - t); }
  return +ts.sort((a, b) => a - b)[Math.floor(REPS / 2)].toFixed(2);
}
/** softmax(q·kᵀ/√d)·v with heads first, back to (B, L, H, D). */
function byMatmul(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const [qh, kh, vh] = [q, k, v].map((t) => t.permute(0, 2, 1, 3));
  return qh.matmul(kh.transpose(-1, -2)).div(Math.sqrt(D)).softmax(-1).matmul(vh).permute(0, 2, 1, 3);
}

const out: Record<string, number | string> = { bench: 'attention', tokens: TOKENS, heads: H, head_dim: D };
for (const S of [4, 8]) {
  const B = TOKENS / S;
  const [q, k, v] = [0, 1, 2].map(() => randn([B, S, H, D]).requiresGrad_());
  const fwd = (f: (a: Tensor, b: Tensor, c: Tensor) => Tensor) => median(() => noGrad(() => tidy(() => { f(q, k, v); })));
  const both = (f: (a: Tensor, b: Tensor, c: Tensor) => Tensor) => median(() => tidy(() => { f(q, k, v).sum().backward(); }));
  out[`attention_fwd_ms_${S}`] = fwd((a, b, c) => F.attention(a, b, c));
  out[`matmul_fwd_ms_${S}`] = fwd(byMatmul);
  out[`attention_fwd_bwd_ms_${S}`] = both((a, b, c) => F.attention(a, b, c));
  out[`matmul_fwd_bwd_ms_${S}`] = both(byMatmul);
}
console.log(JSON.stringify(out));
