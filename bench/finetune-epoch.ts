/**
 * Benchmark: fine-tuning the last backbone units of ConvNeXt-Base with the head on tfjs `wasm`
 * (batch 16): step time for 0, 1 and 2 trainable units (the cut block's depthwise conv + LayerNorm
 * counts as one), extrapolated to a 12,271-image RAF-DB epoch (767 steps). Inputs are random
 * tensors of the frozen prefix's output shape (14×14×512), as the feature cache would supply.
 *
 *   npx tsx bench/finetune-epoch.ts [--steps 5]
 */
import os from 'node:os';
import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf } from '../src/engine/tfjs-backend.js';
import { makeConfig } from '../src/model/config.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1] || 5);
await initTf('wasm');
const cfg = makeConfig({ backbone: 'base' });
const weights = initWeights(paramSpecs(cfg), 0);
const x = tf.randomNormal([16, 14, 14, 512], 0, 1, 'float32', 1);
const labels = Int32Array.from({ length: 16 }, (_, i) => i % 7);
const rows: [number, number][] = [];
for (const units of [0, 1, 2]) {
  const tr = new TfjsTrainer(cfg, weights, { trainableBackboneUnits: units, seed: 1 });
  tr.step(x, labels);
  const t = performance.now();
  for (let i = 0; i < steps; i++) tr.step(x, labels);
  rows.push([units, (performance.now() - t) / steps]);
  tr.dispose();
}
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, tfjs ${tf.version.tfjs} wasm; batch 16, ${steps} steps each.\n`,
);
console.log('| trainable backbone units | ms per step | RAF-DB epoch (767 steps) | vs head only |');
console.log('|---|---|---|---|');
for (const [u, ms] of rows)
  console.log(
    `| ${u === 0 ? '0 (head only)' : u === 1 ? '1 (block 23: dw conv + LN)' : '2 (+ block 22)'} | ${ms.toFixed(0)} | ${((ms * 767) / 60_000).toFixed(1)} min | ${(ms / rows[0]![1]).toFixed(1)}× |`,
  );
