/**
 * What `--precision fp16` costs in accuracy: the ConvNeXt-Base cut features of real photos
 * (scikit-image's astronaut and coffee, matplotlib's Grace Hopper, 224×224) on the WebGPU provider
 * in fp16, against ONNX Runtime's CPU fp32, with the same random, seeded weights (LayerScale set to 0.3 so
 * that every block counts). No ImageNet
 * weights can be had offline, so this measures the numeric error, not a change in labels.
 *
 *   npx tsx bench/fp16-error.ts            (needs a WebGPU adapter; on a software one it is slow, and
 *                                          its half-precision arithmetic may not be a GPU's)
 */
import path from 'node:path';
import { describeAdapter, resolveDevice } from '../src/engine/device.js';
import { paramSpecs } from '../src/engine/describe.js';
import { decodeImage, stackImages } from '../src/data/image.js';
import { BackboneRunner } from '../src/infer/features.js';
import { makeConfig } from '../src/model/config.js';
import { initWeights } from '../src/weights/weight-map.js';

const SK = '/usr/lib/python3/dist-packages/skimage/data';
const photos = [
  path.join(SK, 'astronaut.png'),
  path.join(SK, 'coffee.png'),
  '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
];
const device = await resolveDevice('webgpu');
const cfg = makeConfig({ backbone: 'base' });
const weights = initWeights(paramSpecs(cfg), 0);
// Freshly initialised LayerScale (1e-6) would leave the blocks out of the sum; trained ones are not that small.
for (const k of weights.keys()) if (k.endsWith('.gamma')) weights.get(k)!.data.fill(0.3);
const batch = stackImages(await Promise.all(photos.map((p) => decodeImage(p, cfg.inputSize))));

const cpu = await BackboneRunner.create(cfg, weights, { device: 'cpu' });
const want = (await cpu.run(batch)).data;
await cpu.dispose();
const rows: string[] = [];
for (const precision of ['fp32', 'fp16'] as const) {
  const gpu = await BackboneRunner.create(cfg, weights, { device: 'webgpu', precision });
  const got = (await gpu.run(batch)).data;
  await gpu.dispose();
  const per = want.length / photos.length;
  photos.forEach((p, i) => {
    let d = 0;
    let scale = 0;
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = i * per; j < (i + 1) * per; j++) {
      d = Math.max(d, Math.abs(got[j]! - want[j]!));
      scale = Math.max(scale, Math.abs(want[j]!));
      dot += got[j]! * want[j]!;
      na += got[j]! ** 2;
      nb += want[j]! ** 2;
    }
    rows.push(
      `| ${precision} | ${path.basename(p)} | ${(d / scale).toExponential(2)} | ${(dot / Math.sqrt(na * nb)).toFixed(6)} |`,
    );
  });
}
console.log(
  `${new Date().toISOString().slice(0, 10)}, adapter ${describeAdapter(device.adapter!)}; ConvNeXt-Base cut features (14×14×512), random weights (seed 0, LayerScale 0.3)\n`,
);
console.log('| WebGPU precision | photo | max abs diff / max abs (CPU fp32) | cosine to CPU fp32 |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
