/**
 * Where the backbone's time goes: ONNX Runtime's own profiler on the truncated ConvNeXt-Base
 * (batch 8, 3 runs after a warm-up), aggregated by operator type, for convcut's fp32 graph, its int8
 * graph, and (if the file is given) a torch.onnx export of the same network as the baseline.
 *
 *   npx tsx bench/ort-profile.ts [--torch-onnx /tmp/cut.onnx]
 *   (/tmp/cut.onnx: python3 bench/torch_backbone.py --reps 1 --export /tmp/cut.onnx)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describeBackbone } from '../src/engine/describe.js';
import { exportOnnx } from '../src/engine/onnx-export.js';
import { makeConfig } from '../src/model/config.js';
import { initWeights } from '../src/weights/weight-map.js';
import { kernelTimes, readProfile } from './lib/ort-profile.js';

const torchOnnx = process.argv.includes('--torch-onnx') ? process.argv[process.argv.indexOf('--torch-onnx') + 1] : undefined;
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-prof-'));
const cfg = makeConfig({ backbone: 'base' });
const weights = initWeights(describeBackbone(cfg).specs, 0);

async function profile(name: string, model: Uint8Array | string, shape: number[]): Promise<Map<string, number>> {
  const s = await ort.InferenceSession.create(model as Uint8Array, {
    intraOpNumThreads: 2,
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: path.join(dir, name),
  });
  const x = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(120), shape);
  for (let i = 0; i < 4; i++) await s.run({ [s.inputNames[0]!]: x });
  s.endProfiling();
  await s.release();
  const byOp = new Map<string, number>();
  for (const k of kernelTimes(readProfile(dir, name))) byOp.set(k.op, (byOp.get(k.op) ?? 0) + k.us / 1000 / 4 / 8);
  return byOp;
}

const runs: [string, Map<string, number>][] = [
  ['convcut fp32', await profile('fp32', exportOnnx(cfg, weights, { part: 'backbone' }), [8, 224, 224, 3])],
  ['convcut int8', await profile('int8', exportOnnx(cfg, weights, { part: 'backbone', precision: 'int8' }), [8, 224, 224, 3])],
];
if (torchOnnx) runs.push(['torch.onnx export', await profile('torch', readFileSync(torchOnnx), [8, 3, 224, 224])]);
const ops = [...new Set(runs.flatMap(([, m]) => [...m.keys()]))].sort(
  (a, b) => (runs[0]![1].get(b) ?? 0) - (runs[0]![1].get(a) ?? 0),
);
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, onnxruntime-node ${ort.env.versions.common}; ms per image (batch 8, kernel time, after graph optimisation).\n`,
);
console.log(`| operator | ${runs.map(([n]) => n).join(' | ')} |`);
console.log(`|---|${runs.map(() => '---').join('|')}|`);
for (const op of ops) console.log(`| ${op} | ${runs.map(([, m]) => (m.get(op) ?? 0).toFixed(1)).join(' | ')} |`);
console.log(`| **total** | ${runs.map(([, m]) => [...m.values()].reduce((a, b) => a + b, 0).toFixed(1)).join(' | ')} |`);
