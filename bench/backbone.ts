/**
 * Benchmark: the truncated ConvNeXt-Base forward (Conv-cut's backbone, 224×224, fp32, random
 * weights) through convcut's own ONNX graph on onnxruntime-node, against, in the same run:
 * - tuned PyTorch (Debian python3-torch, OpenBLAS pthread, 2 threads, OMP_WAIT_POLICY=PASSIVE);
 * - "bare ORT": the same network exported by torch.onnx, run by the same onnxruntime-node.
 *
 *   npx tsx bench/backbone.ts [--reps 5]     (PYTHON=... to pick the interpreter; default /usr/bin/python3)
 *
 * Prints a Markdown table for BENCHMARKS.md. Best-of-reps wall time, ms per image.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeBackbone } from '../src/engine/describe.js';
import { exportOnnx } from '../src/engine/onnx-export.js';
import { createSession, ort } from '../src/engine/ort-session.js';
import { makeConfig } from '../src/model/config.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';

const reps = numberArg('--reps', 5);
const BATCHES = [1, 8];

async function timeSession(session: ort.InferenceSession, shape: (b: number) => number[]): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  for (const b of BATCHES) {
    const dims = shape(b);
    const x = new ort.Tensor(
      'float32',
      new Float32Array(dims.reduce((p, q) => p * q, 1)).map(() => Math.random() * 255),
      dims,
    );
    const feeds = { [session.inputNames[0]!]: x };
    await session.run(feeds); // warm-up
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await session.run(feeds);
      best = Math.min(best, performance.now() - t);
    }
    out[b] = best / b;
  }
  return out;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'convcut-bench-'));
const torchOnnx = path.join(tmp, 'torch-cut.onnx');
console.error('PyTorch (tuned) timing + torch.onnx export ...');
const torch = JSON.parse(
  execFileSync(
    process.env.PYTHON ?? '/usr/bin/python3',
    [path.join(import.meta.dirname, 'torch_backbone.py'), '--reps', String(reps), '--export', torchOnnx],
    {
      env: { ...process.env, OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'PASSIVE' },
      encoding: 'utf8',
    },
  ),
) as { torch: string; params: number; ms_per_image: Record<string, number> };

console.error('convcut graph ...');
const cfg = makeConfig({ backbone: 'base' });
const bb = describeBackbone(cfg);
const weights = initWeights(bb.specs, 0);
const shapeNhwc = (b: number) => [b, 224, 224, 3];
const convcut = await timeSession(await createSession(exportOnnx(cfg, weights, { part: 'backbone' })), shapeNhwc);
console.error('convcut graph, int8 MatMuls ...');
const int8 = await timeSession(await createSession(exportOnnx(cfg, weights, { part: 'backbone', precision: 'int8' })), shapeNhwc);
console.error('bare ORT (torch.onnx export) ...');
const bare = await timeSession(await createSession(torchOnnx), (b) => [b, 3, 224, 224]);

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${cpu}, Node ${process.version}, onnxruntime-node ${ort.env.versions.common}, torch ${torch.torch}; best of ${reps}.`,
);
console.log(`Parameters: convcut ${bb.params.toLocaleString('en-US')}, torch ${torch.params.toLocaleString('en-US')}.\n`);
console.log(
  '| batch | convcut fp32 | convcut int8 | bare ORT (torch.onnx) | tuned PyTorch | fp32 / bare ORT | fp32 / PyTorch | int8 / fp32 |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const b of BATCHES) {
  const t = torch.ms_per_image[String(b)]!;
  const c = convcut[b]!;
  const q = int8[b]!;
  const row = [
    b,
    c.toFixed(0),
    q.toFixed(0),
    bare[b]!.toFixed(0),
    t.toFixed(0),
    (c / bare[b]!).toFixed(2),
    (c / t).toFixed(2),
    (q / c).toFixed(2),
  ];
  console.log(`| ${row.join(' | ')} |`);
}
console.log('\nms per image, best of the repetitions.');
