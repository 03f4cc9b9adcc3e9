/**
 * Benchmark: decode + bilinear resize of 100×100 JPEGs (RAF-DB aligned size) to 224×224 RGB,
 * with 1, 2 and 4 decodes in flight (sharp runs them on libuv's thread pool).
 *
 *   npx tsx bench/decode.ts [--images 400]
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeMany } from '../src/data/image.js';
import { writeSyntheticRafdb } from '../src/data/synthetic.js';
import { numberArg } from './lib/args.js';

const n = numberArg('--images', 400);
const dir = mkdtempSync(path.join(os.tmpdir(), 'convcut-decode-'));
const perClass = Math.ceil(n / 7);
await writeSyntheticRafdb(dir, { trainPerClass: perClass, testPerClass: 0 });
const files = Array.from({ length: perClass * 7 }, (_, i) =>
  path.join(dir, 'basic', 'Image', 'aligned', `train_${String(i + 1).padStart(5, '0')}_aligned.jpg`),
);

const results: [number, number][] = [];
await decodeMany(files, 224, 2); // warm-up: file cache, JIT
for (const inflight of [1, 2, 4]) {
  const t = performance.now();
  const res = await decodeMany(files, 224, inflight);
  const s = (performance.now() - t) / 1000;
  if (res.some((r) => !r.ok)) throw new Error('decode failed');
  results.push([inflight, files.length / s]);
}
const base = results[0]![1];
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; ${files.length} JPEGs 100×100 → 224×224.\n`,
);
console.log('| decodes in flight | images/s | vs 1 in flight |');
console.log('|---|---|---|');
for (const [inflight, ips] of results) console.log(`| ${inflight} | ${ips.toFixed(0)} | ${(ips / base).toFixed(2)}× |`);
