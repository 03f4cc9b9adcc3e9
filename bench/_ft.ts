import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf } from '../src/engine/tfjs-backend.js';
import { makeConfig } from '../src/model/config.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
await initTf('wasm');
const units = Number(process.argv[2] ?? 1);
const cfg = makeConfig({ backbone: 'base' });
const tr = new TfjsTrainer(cfg, initWeights(paramSpecs(cfg), 0), { trainableBackboneUnits: units, seed: 1 });
const x = tf.randomNormal([16, 14, 14, 512], 0, 1, 'float32', 1);
const labels = Int32Array.from({ length: 16 }, (_, i) => i % 7);
tr.step(x, labels);
const t0 = performance.now();
tr.step(x, labels);
console.log('step', (performance.now() - t0).toFixed(0));
const prof = await tf.profile(() => {
  tr.step(x, labels);
});
const agg = new Map<string, [number, number]>();
for (const k of prof.kernels) {
  const key = k.name + ' ' + JSON.stringify(k.inputShapes);
  const a = agg.get(key) ?? [0, 0];
  a[0] += k.kernelTimeMs as number;
  a[1]++;
  agg.set(key, a);
}
for (const [k, v] of [...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, 22)) console.log(v[0].toFixed(1), v[1], k.slice(0, 140));
