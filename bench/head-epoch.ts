/**
 * Benchmark: one head-training epoch on cached ConvNeXt-Base cut features (14×14×512, float16 on
 * disk), RAF-DB's training size (12,271 maps), batch 16 — the frozen-backbone training loop of
 * `convcut train`: read 16 maps from the feature cache, one Adam step of the Conv-cut head on tfjs.
 *
 *   npx tsx bench/head-epoch.ts [--steps 100] [--maps 1600]
 *
 * Writes `--maps` random feature maps into a real FeatureCache and times `--steps` steps of two
 * loops on tfjs `wasm`, alternating in rounds: what `convcut train` does (a worker thread reads
 * batch i+1, cut into Detail Extraction taps, while batch i trains) and the loop it replaced (read
 * and decode on the training thread, NHWC input). Baseline in the same run: the old loop on tfjs
 * `cpu`. Extrapolated to the 767 steps of a 12,271-map epoch.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Sample } from '../src/data/dataset.js';
import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf } from '../src/engine/tfjs-backend.js';
import { makeConfig } from '../src/model/config.js';
import { FeatureCache, type Variant } from '../src/train/feature-cache.js';
import { FeatureLoader } from '../src/train/feature-loader.js';
import { DETAIL_FIRST_PATCH } from '../src/model/detail.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { encodeHalf } from '../src/util/f16.js';
import { Rng } from '../src/util/rng.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';

const steps = numberArg('--steps', 100);
const maps = numberArg('--maps', 1600);
const EPOCH_STEPS = Math.ceil(12271 / 16);

const cfg = makeConfig({ backbone: 'base' });
const shape = [14, 14, 512];
const size = 14 * 14 * 512;
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-headbench-'));
const cache = new FeatureCache(dir, 'bench', shape);
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

const weights = initWeights(paramSpecs(cfg), 0);
const labelsOf = (batch: Sample[]) => Int32Array.from(batch.map((s) => s.label));
const batchAt = (i: number) => Array.from({ length: 16 }, (_, j) => samples[(i * 16 + j) % samples.length]!);
const orig = (batch: Sample[]) => batch.map((): Variant => 'orig');
type Row = { path: string; backend: string; ms: number; readMs: number };
const rows: Row[] = [];

/** What `convcut train` does: the worker reads batch i+1 (as Detail Extraction taps) while batch i trains. */
async function workerPath(backend: string, n: number): Promise<Row> {
  const trainer = new TfjsTrainer(cfg, weights, { seed: 1 });
  const taps = trainer.tapsGeometry(shape)!;
  const loader = new FeatureLoader(cache, 16);
  let next = loader.load(batchAt(0), orig(batchAt(0)), taps);
  let wait = 0;
  let total = 0;
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    const loaded = await next;
    const t1 = performance.now();
    next = loader.load(batchAt(i + 1), orig(batchAt(i + 1)), taps);
    const x = tf.tensor(loaded.data, loaded.shape);
    loaded.release();
    trainer.step({ taps: x, shape: [16, ...shape], ...DETAIL_FIRST_PATCH }, labelsOf(batchAt(i)));
    x.dispose();
    if (i >= 2) {
      wait += t1 - t0;
      total += performance.now() - t0;
    }
  }
  await next;
  await loader.close();
  trainer.dispose();
  return { path: 'worker read-ahead + taps (convcut train)', backend, ms: total / n, readMs: wait / n };
}

/** The path before: read and decode on the training thread, NHWC features, patches cut in the graph. */
async function inlinePath(backend: string, n: number): Promise<Row> {
  const trainer = new TfjsTrainer(cfg, weights, { seed: 1 });
  let read = 0;
  let total = 0;
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    const input = await cache.readBatch(batchAt(i), orig(batchAt(i)));
    const t1 = performance.now();
    const x = tf.tensor(input, [16, ...shape]);
    trainer.step(x, labelsOf(batchAt(i)));
    x.dispose();
    if (i >= 2) {
      read += t1 - t0;
      total += performance.now() - t0;
    }
  }
  trainer.dispose();
  return { path: 'inline read, NHWC (before)', backend, ms: total / n, readMs: read / n };
}

// One wasm thread, as `convcut train` uses for head-only training (bench/finetune-epoch.ts: threads cost more here).
await initTf('wasm', { threads: 1 });
// Alternate the two wasm paths in rounds so that machine noise hits both alike.
const rounds = 3;
const acc = { worker: [] as Row[], inline: [] as Row[] };
for (let r = 0; r < rounds; r++) {
  acc.worker.push(await workerPath('wasm', Math.ceil(steps / rounds)));
  acc.inline.push(await inlinePath('wasm', Math.ceil(steps / rounds)));
}
const mean = (xs: Row[]): Row => ({
  ...xs[0]!,
  ms: xs.reduce((a, r) => a + r.ms, 0) / xs.length,
  readMs: xs.reduce((a, r) => a + r.readMs, 0) / xs.length,
});
rows.push(mean(acc.worker), mean(acc.inline));
await tf.setBackend('cpu');
await tf.ready();
rows.push(await inlinePath('cpu', Math.max(5, Math.round(steps / 10))));
const cpu = rows[2]!;
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Node ${process.version}, tfjs ${tf.version.tfjs}.`,
);
console.log(
  `Conv-cut head (token attention) on 14×14×512 cached maps, batch 16; ${steps} wasm steps per path (${rounds} alternating rounds), ${Math.max(5, Math.round(steps / 10))} cpu steps.\n`,
);
console.log('| path | tfjs backend | ms per step | of which waiting for data | epoch of 12,271 maps (767 steps) | vs cpu |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.path} | ${r.backend} | ${r.ms.toFixed(1)} | ${r.readMs.toFixed(1)} | ${((r.ms * EPOCH_STEPS) / 1000).toFixed(0)} s | ${(cpu.ms / r.ms).toFixed(2)}× |`,
  );
process.exit(0);
