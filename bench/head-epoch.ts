/**
 * Benchmark: one head-training epoch on cached ConvNeXt-Base cut features (14×14×512, float16 on
 * disk), RAF-DB's training size (12,271 maps), batch 16 — the frozen-backbone training loop of
 * `convcut train`: read 16 maps from the feature cache, one Adam step of the Conv-cut head on tfjs.
 *
 *   npx tsx bench/head-epoch.ts [--steps 100] [--maps 1600]
 *
 * Writes `--maps` random feature maps into a real FeatureCache, times `--steps` steps on tfjs
 * `wasm` (the default) and, as the baseline in the same run, on tfjs `cpu`, then extrapolates to
 * the 767 steps of a 12,271-map epoch.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Sample } from '../src/data/dataset.js';
import { paramSpecs } from '../src/engine/describe.js';
import { tf } from '../src/engine/tfjs-backend.js';
import { makeConfig } from '../src/model/config.js';
import { FeatureCache } from '../src/train/feature-cache.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { encodeHalf } from '../src/util/f16.js';
import { Rng } from '../src/util/rng.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { initWeights } from '../src/weights/weight-map.js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';

const arg = (k: string, d: number) => Number(process.argv[process.argv.indexOf(k) + 1] || d);
const steps = arg('--steps', 100);
const maps = arg('--maps', 1600);
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
const results: { backend: string; ms: number; readMs: number }[] = [];
const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
setWasmPaths(wasmDir + path.sep);
for (const backend of ['wasm', 'cpu']) {
  await tf.setBackend(backend);
  await tf.ready();
  const trainer = new TfjsTrainer(cfg, weights, { seed: 1 });
  const n = backend === 'cpu' ? Math.max(5, Math.round(steps / 10)) : steps;
  const input = new Float32Array(16 * size);
  let read = 0;
  let total = 0;
  for (let i = 0; i < n + 2; i++) {
    const t0 = performance.now();
    const batch = Array.from({ length: 16 }, (_, j) => samples[(i * 16 + j) % samples.length]!);
    await Promise.all(batch.map((s, j) => cache.read(s, 'orig', input.subarray(j * size, (j + 1) * size))));
    const t1 = performance.now();
    const x = tf.tensor(input, [16, ...shape]);
    trainer.step(x, Int32Array.from(batch.map((s) => s.label)));
    x.dispose();
    if (i >= 2) {
      read += t1 - t0;
      total += performance.now() - t0;
    }
  }
  trainer.dispose();
  results.push({ backend, ms: total / n, readMs: read / n });
}
const [wasm, cpu] = results as [(typeof results)[0], (typeof results)[0]];
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, Node ${process.version}, tfjs ${tf.version.tfjs}.`,
);
console.log(
  `Conv-cut head (token attention) on 14×14×512 cached maps, batch 16; ${steps} wasm steps, ${Math.max(5, Math.round(steps / 10))} cpu steps.\n`,
);
console.log('| tfjs backend | ms per step (read + train) | of which cache read | epoch of 12,271 maps (767 steps) | vs cpu |');
console.log('|---|---|---|---|---|');
for (const r of results)
  console.log(
    `| ${r.backend} | ${r.ms.toFixed(0)} | ${r.readMs.toFixed(0)} | ${((r.ms * EPOCH_STEPS) / 1000).toFixed(0)} s | ${(cpu.ms / r.ms).toFixed(2)}× |`,
  );
void wasm;
