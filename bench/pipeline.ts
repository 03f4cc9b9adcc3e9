/**
 * Benchmark: images on disk → ConvNeXt-Base cut features, pipelined (decode of batch i+1 overlaps
 * the backbone on batch i) vs sequential (decode, then run), against the backbone alone on
 * pre-decoded batches in the same run (the ceiling).
 *
 *   npx tsx bench/pipeline.ts [--images 48]
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeMany, stackImages } from '../src/data/image.js';
import { writeSyntheticRafdb } from '../src/data/synthetic.js';
import { describeBackbone } from '../src/engine/describe.js';
import { BackboneRunner } from '../src/infer/features.js';
import { pipelined } from '../src/infer/pipeline.js';
import { makeConfig } from '../src/model/config.js';
import { initWeights } from '../src/weights/weight-map.js';
import { numberArg } from './lib/args.js';

const n = numberArg('--images', 48);
const BS = 8;
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-pipe-'));
await writeSyntheticRafdb(dir, { trainPerClass: Math.ceil(n / 7), testPerClass: 0 });
const files = Array.from({ length: n }, (_, i) =>
  path.join(dir, 'basic', 'Image', 'aligned', `train_${String(i + 1).padStart(5, '0')}_aligned.jpg`),
);
const cfg = makeConfig({ backbone: 'base' });
const runner = await BackboneRunner.create(cfg, initWeights(describeBackbone(cfg).specs, 0));

const decoded = await decodeMany(files, 224);
const batches = [];
for (let i = 0; i < n; i += BS)
  batches.push(stackImages(decoded.slice(i, i + BS).map((d) => (d.ok ? d.image : (undefined as never)))));
await runner.run(batches[0]!); // warm-up

let t = performance.now();
for (const b of batches) await runner.run(b);
const backbone = n / ((performance.now() - t) / 1000);

t = performance.now();
for (let i = 0; i < n; i += BS) {
  const d = await decodeMany(files.slice(i, i + BS), 224);
  await runner.run(stackImages(d.map((x) => (x.ok ? x.image : (undefined as never)))));
}
const sequential = n / ((performance.now() - t) / 1000);

t = performance.now();
for await (const b of pipelined(files, 224, BS, (x) => runner.run(x))) void b;
const piped = n / ((performance.now() - t) / 1000);
await runner.dispose();

console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}; ${n} JPEGs 100×100 → 224×224 → ConvNeXt-Base cut (fp32, ORT, batch ${BS}).\n`,
);
console.log('| path | images/s | vs backbone alone |');
console.log('|---|---|---|');
for (const [name, v] of [
  ['backbone alone (pre-decoded)', backbone],
  ['decode then run (sequential)', sequential],
  ['pipelined', piped],
] as const)
  console.log(`| ${name} | ${v.toFixed(2)} | ${((100 * v) / backbone).toFixed(1)} % |`);
