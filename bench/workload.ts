// The benchmark workload of shared/bench/WORKLOAD.md, built from the project's real model code (createModel with the
// transformer backbone and full debiasing), on the reference's synthetic shapes. Prints one JSON line.
// Run: npm run bench [-- --n 8192 --batch 256 --epochs 3 --clock wall|cpu --verbose]
// --clock cpu times with the process's CPU time instead of the wall clock: on a machine shared with other work it
// counts the work done rather than the waiting (compare with the reference timed the same way, see the README).
import { parseArgs } from 'node:util';
import { Adam, manualSeed, noGrad, rand, randint, randn, randperm, setNumThreads, tidy, cat, type Tensor } from '../src/engine/index.js';
import { createModel, makeBatch } from '../src/models/index.js';
import type { ModalityInfo } from '../src/data/types.js';
import type { PatternDictionary } from '../src/models/types.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '8192' },
    batch: { type: 'string', default: '256' },
    epochs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    clock: { type: 'string', default: 'wall' },
    verbose: { type: 'boolean', default: false },
  },
});
const N = Number(args.n), B = Number(args.batch), EPOCHS = Number(args.epochs), THREADS = Number(args.threads);
if (args.clock !== 'wall' && args.clock !== 'cpu') throw new Error(`--clock ${args.clock}: expected wall or cpu`);
const cpuClock = args.clock === 'cpu';
/** Milliseconds on the chosen clock. */
const now = (): number => { if (!cpuClock) return performance.now(); const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
setNumThreads(THREADS);
manualSeed(0);

const K = 4, P = 16, STATIC = 32, CODES = 2000, T = 24, V = 16, TEXT = 4096;
const modalities: ModalityInfo[] = [
  { name: 'static', type: 'tabular', shape: [STATIC], features: [] },
  { name: 'codes', type: 'codes', shape: [CODES], features: [] },
  // As in the reference: 2V channels per bin (values + observation masks); real data has 3V.
  { name: 'series', type: 'timeseries', shape: [T, 2 * V], features: [], variables: V },
  { name: 'text', type: 'text', shape: [TEXT], features: [] },
];

// ---- synthetic inputs, drawn as the reference draws them ----
const f32 = (t: Tensor) => tidy(() => t.toFloat32Array());
const staticX = f32(randn([N, STATIC]));
const codesX = f32(tidy(() => rand([N, CODES]).lt(0.01).float()));
const seriesX = f32(tidy(() => cat([randn([N, T, V]), rand([N, T, V]).lt(0.3).float()], 2)));
const textX = f32(tidy(() => rand([N, TEXT]).mul(rand([N, TEXT]).lt(0.02).float())));
const patternMasks = Array.from({ length: P }, (_, j) => (j === P - 1 ? '1111' : Array.from({ length: K }, (_, k) => ((j + 1) >> k) & 1).join('')));
const dict: PatternDictionary = { masks: patternMasks, prior: new Array(P).fill(1 / P) };
const pid = Int32Array.from(tidy(() => randint(0, P, [N]).toNumbers()));
const mask = new Uint8Array(N * K);
for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) mask[i * K + k] = patternMasks[pid[i]][k] === '1' ? 1 : 0;
const labels = f32(tidy(() => rand([N]).lt(0.2).float()));
const split = { values: { static: staticX, codes: codesX, series: seriesX, text: textX }, mask, labels };

// ---- the model: WORKLOAD.md's configuration (no dropout, no swap, no EMA) ----
const model = createModel(modalities, dict, {
  backbone: 'transformer', debias: 'full', dim: 128, branchDim: 64, dropout: 0, seriesEncoder: 'gru', seriesHidden: 64,
  headHidden: 64, fusionHeads: 4, fusionFf: 256, adjustment: 'exact', decorrelation: 'hsic', lambdaFact: 0.5, lambdaGce: 1,
  lambdaDec: 0.1, gceQ: 0.7, lambdaSwap: 0, warmupEpochs: 0, weightEma: 0,
});
const params = model.numParameters();
if (args.verbose) {
  for (const [name, p] of model.namedParameters()) console.error(`${name} [${p.shape.join(', ')}] ${p.numel}`);
  console.error(`params ${params}`);
}
const opt = new Adam(model.parameters(), { lr: 1e-3 });

function trainEpoch(): number {
  const perm = Int32Array.from(tidy(() => randperm(N).toNumbers()));
  let last = NaN;
  for (let i = 0; i < N; i += B) {
    const rows = perm.subarray(i, Math.min(N, i + B));
    const readLoss = i + B >= N; // one read-back per epoch, as a sanity check that training runs
    const l = tidy(() => {
      const batch = makeBatch(split, rows, modalities, pid);
      const out = model.forward(batch);
      const { total } = model.loss(out, batch, { epoch: 1, parts: false });
      opt.zeroGrad();
      total.backward();
      opt.step();
      return readLoss ? total.item() : NaN;
    });
    if (readLoss) last = l;
  }
  return last;
}

function infer(): void {
  noGrad(() => {
    const rows = new Int32Array(1024);
    for (let s = 0; s < N; s += 1024) {
      const n = Math.min(1024, N - s);
      for (let r = 0; r < n; r++) rows[r] = s + r;
      tidy(() => { model.forward(makeBatch(split, rows.subarray(0, n), modalities, pid)); });
    }
  });
}

model.train();
const warm = trainEpoch();
let t0 = now();
let lastLoss = warm;
for (let e = 0; e < EPOCHS; e++) lastLoss = trainEpoch();
const trainSps = (EPOCHS * N) / ((now() - t0) / 1000);
if (args.verbose) console.error(`loss after warm-up ${warm.toFixed(4)}, after ${EPOCHS} epochs ${lastLoss.toFixed(4)}`);
model.eval();
infer();
t0 = now();
infer();
const inferSps = N / ((now() - t0) / 1000);
console.log(JSON.stringify({ impl: 'cdmm', threads: THREADS, params, train_samples_per_s: Math.round(trainSps), infer_samples_per_s: Math.round(inferSps), ...(cpuClock ? { clock: 'cpu' } : {}) }));
