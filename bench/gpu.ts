/**
 * Benchmark for a GPU machine: convcut on ONNX Runtime's WebGPU provider against PyTorch CUDA fp32,
 * in the same run. Goals (issue "GPU through WebGPU"): forward ≤ 2× PyTorch, training ≤ 3×.
 *
 * - forward: the truncated ConvNeXt-Base (224×224), ms per image at batch 1, 8 and 32, fp32 and fp16;
 *   fp16's cost in accuracy as the largest feature difference to fp32, relative to the features' scale;
 * - training steps (forward, loss, every gradient, Adam), bench/train-step.ts's cases: head (batch 16,
 *   cached features), two_blocks (`--finetune 2`, batch 16), all (`--finetune all`, batch 8).
 *
 * Here (repo root):   bash scripts/gpu-bench-kit.sh .gpu-kit      (bundle + native parts, ≈ 60 MB)
 * On the GPU machine: source .gpu-kit/setup.sh && bash .gpu-kit/run.sh [--reps 10]
 * Anywhere with node_modules: npx tsx bench/gpu.ts [--quick] [--torch-device cpu] [--no-torch]
 *   --quick: the `test` ConvNeXt at 112×112 (a smoke run, e.g. on a software adapter; its times mean nothing).
 *
 * Prints a Markdown table last; with $OUT set, writes gpu-bench.json there. Times: median of --reps.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeAdapter, resolveDevice } from '../src/engine/device.js';
import { paramSpecs } from '../src/engine/describe.js';
import { exportOnnx, type Precision } from '../src/engine/onnx-export.js';
import { createSession, ort } from '../src/engine/ort-session.js';
import { makeConfig } from '../src/model/config.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { OrtTrainer } from '../src/train/ort-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg, stringArg } from './lib/args.js';

const quick = process.argv.includes('--quick');
const reps = numberArg('--reps', quick ? 2 : 10);
const torchDevice = stringArg('--torch-device', 'cuda');
const BATCHES = quick ? [1, 2] : [1, 8, 32];
const TRAIN_CASES = { head: [0, 16], two_blocks: [2, 16], all: [-1, 8] } as const;
type TrainCase = keyof typeof TRAIN_CASES;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
async function timed(reps: number, warmup: number, f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < warmup; i++) await f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    await f();
    t.push(performance.now() - s);
  }
  return median(t);
}

const device = await resolveDevice('webgpu');
console.error(`adapter: ${describeAdapter(device.adapter!)}`);
const cfg = quick ? makeConfig({ backbone: 'test', inputSize: 112 }) : makeConfig({ backbone: 'base' });
const weights = initWeights(paramSpecs(cfg), 0);
const S = cfg.inputSize;

// ---- forward
const forward: Record<Precision, Record<number, number>> = { fp32: {}, int8: {}, fp16: {} };
/** fp16's largest feature difference to fp32 at the first batch size, relative to the features' scale. */
let fp16Error: number | undefined;
let fp32Features: Float32Array | undefined;
for (const precision of ['fp32', 'fp16'] as const) {
  if (precision === 'fp16' && !device.adapter!.f16) continue;
  console.error(`forward ${precision} ...`);
  const session = await createSession(exportOnnx(cfg, weights, { part: 'backbone', precision }), { device: 'webgpu' });
  for (const b of BATCHES) {
    const data = new Float32Array(b * S * S * 3).map((_, i) => (i * 2654435761) % 256);
    const feeds = { images: new ort.Tensor('float32', data, [b, S, S, 3]) };
    forward[precision][b] = (await timed(reps, 2, () => session.run(feeds))) / b;
    if (b !== BATCHES[0]) continue;
    const out = (await session.run(feeds)).features!.data as Float32Array;
    if (precision === 'fp32') fp32Features = out;
    else fp16Error = relativeError(out, fp32Features!);
  }
  await session.release();
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let d = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return d / scale;
}

// ---- training steps
const training: Partial<Record<TrainCase, number>> = {};
for (const c of Object.keys(TRAIN_CASES) as TrainCase[]) {
  console.error(`training step ${c} ...`);
  const [u, batch] = TRAIN_CASES[c];
  const units = u < 0 ? convcutBackbone(cfg).length - 1 : u;
  const tr = await OrtTrainer.create(cfg, weights, { trainableBackboneUnits: units, seed: 1, device: 'webgpu' });
  const shape = [batch, ...tr.inputShape];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * (u < 0 ? 100 : 1));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % cfg.head.classes.length);
  training[c] = await timed(Math.max(3, Math.ceil(reps / 2)), 2, () => tr.step({ data, shape }, labels));
  await tr.dispose();
}

// ---- PyTorch, same run
type TorchForward = { torch: string; device_name?: string; ms_per_image: Record<string, number> };
type TorchTrain = { ms_per_step: Record<string, number> };
let torchForward: TorchForward | undefined;
let torchTrain: TorchTrain | undefined;
if (!process.argv.includes('--no-torch') && !quick) {
  const py = process.env.PYTHON ?? 'python3';
  const run = (script: string, args: string[]) =>
    JSON.parse(
      execFileSync(py, [path.resolve('bench', script), ...args, '--device', torchDevice], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()!,
    ) as unknown;
  console.error(`PyTorch (${torchDevice}) forward ...`);
  torchForward = run('torch_backbone.py', ['--reps', String(reps), '--batches', BATCHES.join(',')]) as TorchForward;
  console.error(`PyTorch (${torchDevice}) training steps ...`);
  torchTrain = run('torch_train_step.py', [
    '--reps',
    String(Math.max(3, Math.ceil(reps / 2))),
    '--cases',
    Object.keys(TRAIN_CASES).join(','),
  ]) as TorchTrain;
}

const result = {
  date: new Date().toISOString(),
  adapter: device.adapter,
  onnxruntime: ort.env.versions.common,
  config: quick ? 'test@112 (quick)' : 'base@224',
  reps,
  forward_ms_per_image: forward,
  fp16_max_rel_feature_diff: fp16Error,
  train_ms_per_step: training,
  torch: { forward: torchForward, train: torchTrain, device: torchDevice },
};
if (process.env.OUT) writeFileSync(path.join(process.env.OUT, 'gpu-bench.json'), JSON.stringify(result, null, 1));
console.log(JSON.stringify(result));

const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : '—');
const ms = (x?: number) => (x === undefined ? '—' : x.toFixed(1));
console.log(
  `\n${describeAdapter(device.adapter!)}; torch ${torchForward?.torch ?? '—'} on ${torchForward?.device_name ?? torchDevice}`,
);
console.log('| forward, batch | WebGPU fp32 ms/img | WebGPU fp16 ms/img | PyTorch fp32 ms/img | fp32 / PyTorch (goal ≤ 2) |');
console.log('|---|---|---|---|---|');
for (const b of BATCHES) {
  const t = torchForward?.ms_per_image[String(b)];
  console.log(`| ${b} | ${ms(forward.fp32[b])} | ${ms(forward.fp16[b])} | ${ms(t)} | ${ratio(forward.fp32[b], t)} |`);
}
console.log(`\nfp16 vs fp32 features: largest difference ${fp16Error?.toExponential(2) ?? '—'} of their scale`);
console.log('\n| training step | batch | WebGPU ms | PyTorch ms | ratio (goal ≤ 3) |');
console.log('|---|---|---|---|---|');
for (const c of Object.keys(TRAIN_CASES) as TrainCase[]) {
  const t = torchTrain?.ms_per_step[c];
  console.log(`| ${c} | ${TRAIN_CASES[c][1]} | ${ms(training[c])} | ${ms(t)} | ${ratio(training[c], t)} |`);
}
