/**
 * Face detection quality and cost on real photos no one here made: recall on the astronaut, the
 * cameraman and Grace Hopper (one face each) and face-api's six group photos (22 faces), false faces
 * on scikit-image's cat and ten photos without people — SSD alone (`confirm: false`, the baseline)
 * against SSD confirmed by the Tiny Face Detector (what convcut does), with ms per photo.
 * Needs Debian's python3-skimage and python-matplotlib-data.
 *
 *   npx tsx bench/face-quality.ts
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectFaces } from '../src/infer/faces.js';

const sk = (f: string) => path.join('/usr/lib/python3/dist-packages/skimage/data', f);
const demo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@vladmandic', 'face-api', 'demo');
const faces: [string, number][] = [
  [sk('astronaut.png'), 1],
  [sk('camera.png'), 1],
  ['/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg', 1],
  ...[3, 3, 3, 4, 5, 4].map((n, i): [string, number] => [path.join(demo, `sample${i + 1}.jpg`), n]),
];
const noFaces = [
  'chelsea.png',
  'coffee.png',
  'rocket.jpg',
  'horse.png',
  'coins.png',
  'brick.png',
  'grass.png',
  'gravel.png',
  'hubble_deep_field.jpg',
  'moon.png',
  'page.png',
].map(sk);
await detectFaces(faces[0]![0], 112); // warm-up: models, kernels
const rows = [];
for (const confirm of [false, true]) {
  let found = 0;
  let extra = 0;
  let falseFaces = 0;
  let ms = 0;
  for (const [file, n] of faces) {
    const t = performance.now();
    const k = (await detectFaces(file, 112, { confirm })).length;
    ms += performance.now() - t;
    found += Math.min(k, n);
    extra += Math.max(0, k - n);
  }
  for (const file of noFaces) {
    const t = performance.now();
    falseFaces += (await detectFaces(file, 112, { confirm })).length;
    ms += performance.now() - t;
  }
  rows.push({ confirm, found, extra, falseFaces, ms: ms / (faces.length + noFaces.length) });
}
const total = faces.reduce((a, [, n]) => a + n, 0);
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}; ${faces.length} photos with ${total} faces, ${noFaces.length} without.\n`,
);
console.log(
  '| detector | faces found (recall) | extra boxes on face photos | false faces on the 11 photos without people | ms per photo |',
);
console.log('|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.confirm ? 'SSD confirmed by Tiny Face Detector (convcut)' : 'SSD alone (before)'} | ${r.found}/${total} | ${r.extra} | ${r.falseFaces} | ${r.ms.toFixed(0)} |`,
  );
process.exit(0);
