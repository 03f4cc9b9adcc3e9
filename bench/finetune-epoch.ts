/**
 * Benchmark: fine-tuning the last backbone units of ConvNeXt-Base with the head on tfjs `wasm`
 * (batch 16): step time for 0, 1 and 2 trainable units (the cut block's depthwise conv + LayerNorm
 * counts as one), with 1 XNNPACK thread (tfjs' stock Node set-up) and with one per core
 * (`engine/wasm-threads.ts`), extrapolated to a 12,271-image RAF-DB epoch (767 steps). Inputs are
 * random tensors of the frozen prefix's output shape (14×14×512), as the feature cache would supply.
 *
 *   npx tsx bench/finetune-epoch.ts [--steps 5] [--rounds 2]
 *
 * The thread count is fixed when tfjs starts, so each (threads, units) cell runs in a child process
 * of this script; the cells alternate in rounds so that machine noise hits all alike.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf, tfThreads } from '../src/engine/tfjs-backend.js';
import { defaultWasmThreads } from '../src/engine/wasm-threads.js';
import { makeConfig } from '../src/model/config.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { runChild } from './lib/child.js';
import { numberArg } from './lib/args.js';

const steps = numberArg('--steps', 5);

if (process.argv.includes('--child')) {
  await initTf('wasm', { threads: numberArg('--threads', 1) });
  const units = numberArg('--units', 0);
  const cfg = makeConfig({ backbone: 'base' });
  const x = tf.randomNormal([16, 14, 14, 512], 0, 1, 'float32', 1);
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 7);
  const tr = new TfjsTrainer(cfg, initWeights(paramSpecs(cfg), 0), { trainableBackboneUnits: units, seed: 1 });
  tr.step(x, labels);
  const t = performance.now();
  for (let i = 0; i < steps; i++) tr.step(x, labels);
  console.log(JSON.stringify({ threads: tfThreads(), ms: (performance.now() - t) / steps }));
  process.exit(0);
}

const rounds = numberArg('--rounds', 2);
const threadCounts = [1, Math.max(2, defaultWasmThreads())];
const ms = new Map<string, number[]>();
for (let r = 0; r < rounds; r++)
  for (const units of [0, 1, 2])
    for (const threads of threadCounts) {
      const res = runChild<{ threads: number; ms: number }>(fileURLToPath(import.meta.url), threads, [
        '--units',
        `${units}`,
        '--steps',
        `${steps}`,
      ]);
      const key = `${units}/${threads}`;
      ms.set(key, [...(ms.get(key) ?? []), res.ms]);
    }
const mean = (k: string) => ms.get(k)!.reduce((a, b) => a + b, 0) / ms.get(k)!.length;
const [one, many] = threadCounts as [number, number];
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, tfjs ${tf.version.tfjs} wasm; batch 16, ${steps} steps per cell, ${rounds} rounds.\n`,
);
console.log(
  `| trainable backbone units | ms per step, ${one} thread | ms per step, ${many} threads | speed-up with ${many} threads | RAF-DB epoch (767 steps), best |`,
);
console.log('|---|---|---|---|---|');
for (const u of [0, 1, 2]) {
  const a = mean(`${u}/${one}`);
  const b = mean(`${u}/${many}`);
  console.log(
    `| ${u === 0 ? '0 (head only)' : u === 1 ? '1 (block 23: dw conv + LN)' : '2 (+ block 22)'} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)}× | ${((Math.min(a, b) * 767) / 60_000).toFixed(1)} min |`,
  );
}
