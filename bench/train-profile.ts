/**
 * Where a training step's time goes: ONNX Runtime's profiler on convcut's step graph for
 * ConvNeXt-Base (batch 16; 3 steps after a warm-up), by operator type and the slowest nodes.
 *
 *   npx tsx bench/train-profile.ts [--units 2] [--batch 16] [--top 25]
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { paramSpecs } from '../src/engine/describe.js';
import { buildStepGraph, trainablePart } from '../src/engine/train-graph.js';
import { makeConfig } from '../src/model/config.js';
import { KERAS_ADAM } from '../src/train/adam.js';
import { dropoutMasks } from '../src/train/ort-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';
import { kernelTimes, readProfile } from './lib/ort-profile.js';

const n = numberArg('--units', 2);
const batch = numberArg('--batch', 16);
const top = numberArg('--top', 25);
const cfg = makeConfig({ backbone: 'base' });
const { units, weights, inputShape } = trainablePart(cfg, initWeights(paramSpecs(cfg), 0), n);
const graph = buildStepGraph(cfg, weights, { units, inputShape, adam: KERAS_ADAM });
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-train-prof-'));
const s = await ort.InferenceSession.create(graph.bytes, {
  intraOpNumThreads: 2,
  graphOptimizationLevel: 'all',
  enableProfiling: true,
  profileFilePrefix: path.join(dir, 'step'),
});
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const feeds: Record<string, ort.Tensor> = {
  input: f32(
    new Float32Array(batch * inputShape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)),
    [batch, ...inputShape],
  ),
  targets: f32(
    new Float32Array(batch * 7).map((_, i) => (i % 8 === 0 ? 1 : 0)),
    [batch, 7],
  ),
  class_weights: f32(new Float32Array(7).fill(1), [7]),
  step_size: f32(Float32Array.of(1e-3), []),
  ...dropoutMasks(graph.masks, batch, 1),
};
for (const name of s.inputNames) {
  if (feeds[name]) continue;
  const w = weights.get(name.replace(/^[mv]\//, ''))!;
  feeds[name] = f32(name.startsWith('m/') || name.startsWith('v/') ? new Float32Array(w.data.length) : w.data, w.shape);
}
const reps = 3;
for (let i = 0; i <= reps; i++) await s.run(feeds);
s.endProfiling();
const events = readProfile(dir, 'step');
const byOp = new Map<string, number>();
const byNode = new Map<string, number>();
for (const k of kernelTimes(events)) {
  const ms = k.us / 1000 / (reps + 1);
  byOp.set(k.op, (byOp.get(k.op) ?? 0) + ms);
  byNode.set(`${k.op} ${k.node}`, (byNode.get(`${k.op} ${k.node}`) ?? 0) + ms);
}
const total = [...byOp.values()].reduce((a, b) => a + b, 0);
console.log(`units ${n}, batch ${batch}: ${total.toFixed(1)} ms kernel time per step`);
for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(24)} ${ms.toFixed(1)}`);
console.log('slowest nodes:');
for (const [node, ms] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`  ${ms.toFixed(1).padStart(7)}  ${node}`);
const session = new Map<string, number>();
for (const e of events) if (e.cat === 'Session') session.set(e.name, (session.get(e.name) ?? 0) + e.dur / 1000 / (reps + 1));
console.log('session events (ms per step):', Object.fromEntries([...session].map(([k, v]) => [k, +v.toFixed(1)])));
const t = performance.now();
await s.run(feeds);
console.log(`one run from JS: ${(performance.now() - t).toFixed(1)} ms`);
