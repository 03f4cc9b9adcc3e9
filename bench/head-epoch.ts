/**
 * Benchmark: one head-training epoch on cached ConvNeXt-Base cut features (14×14×512, float16 on
 * disk), RAF-DB's training size (12,271 maps), batch 16 — the frozen-backbone loop of `convcut
 * train`: the worker thread reads batch i+1 from the feature cache while batch i takes its step on
 * ONNX Runtime. Baseline in the same run: tuned PyTorch's head step on in-memory features
 * (bench/torch_train_step.py --cases head; it reads nothing from disk, so it is the lower bound).
 *
 *   npx tsx bench/head-epoch.ts [--steps 200] [--maps 1600] [--no-torch]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sample } from '../src/data/dataset.js';
import { paramSpecs } from '../src/engine/describe.js';
import { makeConfig } from '../src/model/config.js';
import { FeatureCache, type Variant } from '../src/train/feature-cache.js';
import { FeatureLoader } from '../src/train/feature-loader.js';
import { OrtTrainer } from '../src/train/ort-trainer.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { encodeHalf } from '../src/util/f16.js';
import { Rng } from '../src/util/rng.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';

const steps = numberArg('--steps', 200);
const maps = numberArg('--maps', 1600);
const EPOCH_STEPS = Math.ceil(12271 / 16);
const cfg = makeConfig({ backbone: 'base' });
const shape = [14, 14, 512];
const size = 14 * 14 * 512;
const cache = new FeatureCache(mkdtempSync(path.join(os.tmpdir(), 'convcut-headbench-')), 'bench', shape);
const rng = new Rng(1);
const samples: Sample[] = [];
console.error(`writing ${maps} cached maps ...`);
for (let i = 0; i < maps; i++) {
  const s: Sample = {
    id: `s${i}`,
    source: { kind: 'pixels', width: 1, height: 1, channels: 1, data: Uint8Array.of(i & 255, i >> 8), origin: `s${i}` },
    label: i % 7,
    split: 'train',
  };
  const f = new Float32Array(size).map(() => rng.normal());
  await writeFileAtomic(await cache.file(s, 'orig'), new Uint8Array(encodeHalf(f).buffer));
  samples.push(s);
}
const batchAt = (i: number) => Array.from({ length: 16 }, (_, j) => samples[(i * 16 + j) % samples.length]!);
const orig = (batch: Sample[]) => batch.map((): Variant => 'orig');

const trainer = await OrtTrainer.create(cfg, initWeights(paramSpecs(cfg), 0), { seed: 1 });
const loader = new FeatureLoader(cache, 16);
let next = loader.load(batchAt(0), orig(batchAt(0)));
let wait = 0;
let total = 0;
for (let i = 0; i < steps + 5; i++) {
  const t0 = performance.now();
  const loaded = await next;
  const t1 = performance.now();
  next = loader.load(batchAt(i + 1), orig(batchAt(i + 1)));
  await trainer.step(loaded, Int32Array.from(batchAt(i).map((s) => s.label))).finally(() => loaded.release());
  if (i >= 5) {
    wait += t1 - t0;
    total += performance.now() - t0;
  }
}
(await next).release();
await Promise.all([loader.close(), trainer.dispose()]);
const ms = total / steps;
let torchMs: number | undefined;
if (!process.argv.includes('--no-torch')) {
  const script = fileURLToPath(new URL('./torch_train_step.py', import.meta.url));
  const env = { ...process.env, OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'PASSIVE' };
  const out = execFileSync('/usr/bin/python3', [script, '--reps', '20', '--cases', 'head'], { encoding: 'utf8', env });
  torchMs = (JSON.parse(out.trim().split('\n').pop()!) as { ms_per_step: { head: number } }).ms_per_step.head;
}
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Node ${process.version}.`,
);
console.log('| loop | ms per step | of which waiting for data | epoch of 12,271 maps (767 steps) |');
console.log('|---|---|---|---|');
console.log(
  `| convcut train (ORT step, worker read-ahead from the cache) | ${ms.toFixed(1)} | ${(wait / steps).toFixed(1)} | ${((ms * EPOCH_STEPS) / 1000).toFixed(0)} s |`,
);
if (torchMs)
  console.log(
    `| tuned PyTorch step, features in memory | ${torchMs.toFixed(1)} | — | ${((torchMs * EPOCH_STEPS) / 1000).toFixed(0)} s |`,
  );
process.exit(0);
