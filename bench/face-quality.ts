/**
 * Face finding quality on public material no one here made, for each rule convcut has had:
 * - photos: the astronaut, the cameraman, Grace Hopper (one face each), face-api's six group photos
 *   (22 faces): faces found;
 * - enlarged crops: every face of those photos wider than 30 px cut at 1.2, 1.5 and 2× its box and
 *   enlarged to 300, 500 and 800 px (portraits and tight crops, where the Tiny detector at 416 and
 *   SSD itself miss faces): crops with a face found;
 * - negatives: scikit-image's cat and ten photos without people: false faces;
 * - LFW (scikit-image's lfw_subset.npy: 100 tight 25×25 face crops and 100 non-faces, enlarged to
 *   200 px): faces found, false faces.
 * Needs Debian's python3-skimage and python-matplotlib-data.
 *
 *   npx tsx bench/face-quality.ts
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { LandmarkNet, TinyDetector } from '../src/infer/face-nets.js';
import { findFaces, type FaceRunners, type FindOptions } from '../src/infer/face-pipeline.js';
import { SsdDetector } from '../src/infer/face-ssd-detector.js';
import { CONFIRM } from '../src/infer/face-align.js';
import { decodePhoto, type RgbFrame } from '../src/infer/faces.js';
import { DEFAULTS } from '../src/defaults.js';

const sk = (f: string) => path.join('/usr/lib/python3/dist-packages/skimage/data', f);
const demo = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const photos: [string, number][] = [
  [sk('astronaut.png'), 1],
  [sk('camera.png'), 1],
  ['/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg', 1],
  ...[3, 3, 3, 4, 5, 4].map((n, i): [string, number] => [path.join(demo, `sample${i + 1}.jpg`), n]),
];
const negatives = ['chelsea.png', 'coffee.png', 'rocket.jpg', 'horse.png', 'coins.png', 'brick.png', 'grass.png']
  .concat(['gravel.png', 'hubble_deep_field.jpg', 'moon.png', 'page.png'])
  .map(sk);

const [ssd, tiny, landmarks] = await Promise.all([SsdDetector.load(), TinyDetector.load(), LandmarkNet.load()]);
const base: FaceRunners = {
  ssd: (f, o) => ssd.detect(f, o),
  tiny: (f, o) => tiny.detect(f, o),
  landmarks: (c) => landmarks.landmarks(c),
};
/** The rule before: the Tiny detector at 416 only. */
const only416: FaceRunners = { ...base, tiny: async (f, o) => (o.inputSize === CONFIRM.inputSize ? tiny.detect(f, o) : []) };
const common = { minConfidence: DEFAULTS.faceMinConfidence, maxFaces: DEFAULTS.maxFaces };
const rules: [string, FaceRunners, FindOptions][] = [
  ['SSD alone', base, { ...common, confirm: false, retryWithBorder: false }],
  ['SSD + Tiny at 416 (before)', only416, { ...common, retryWithBorder: false }],
  ['SSD + Tiny at 416 or 224', base, { ...common, retryWithBorder: false }],
  ['… + a border when none found (convcut)', base, common],
];

const raw = (f: RgbFrame) => sharp(Buffer.from(f.data), { raw: { width: f.width, height: f.height, channels: 3 } });
async function enlargedCrops(): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for (const [file] of photos) {
    const frame = await decodePhoto(file);
    for (const { box: b } of await ssd.detect(frame, { minConfidence: 0.5, maxResults: 100 })) {
      if (b.width < 30) continue;
      for (const k of [1.2, 1.5, 2]) {
        const side = Math.max(b.width, b.height) * k;
        const left = Math.max(0, Math.round(b.x + b.width / 2 - side / 2));
        const top = Math.max(0, Math.round(b.y + b.height / 2 - side / 2));
        const width = Math.min(frame.width - left, Math.round(side));
        const height = Math.min(frame.height - top, Math.round(side * 1.15)); // a little of the shoulders
        for (const px of [300, 500, 800]) {
          const { data, info } = await raw(frame)
            .extract({ left, top, width, height })
            .resize(px, px, { fit: 'inside' })
            .raw()
            .toBuffer({ resolveWithObject: true });
          out.push({ data: new Uint8Array(data), width: info.width, height: info.height });
        }
      }
    }
  }
  return out;
}
async function lfw(): Promise<RgbFrame[]> {
  const npy = readFileSync(sk('lfw_subset.npy'));
  const n = 200 * 25 * 25;
  const grey = new Float64Array(npy.buffer.slice(npy.byteOffset + npy.length - 8 * n, npy.byteOffset + npy.length));
  return Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const rgb = Buffer.alloc(625 * 3);
      for (let j = 0; j < 625; j++) rgb.fill(Math.round(grey[i * 625 + j]! * 255), 3 * j, 3 * j + 3);
      const data = await sharp(rgb, { raw: { width: 25, height: 25, channels: 3 } })
        .resize(200, 200)
        .raw()
        .toBuffer();
      return { data: new Uint8Array(data), width: 200, height: 200 };
    }),
  );
}

const [photoFrames, crops, negFrames, lfwFrames] = await Promise.all([
  Promise.all(photos.map(([f]) => decodePhoto(f))),
  enlargedCrops(),
  Promise.all(negatives.map(decodePhoto)),
  lfw(),
]);
const total = photos.reduce((a, [, n]) => a + n, 0);
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}; ${photos.length} photos with ${total} faces, ${crops.length} enlarged crops, ${negatives.length} photos without people, LFW 100 + 100.\n`,
);
console.log(
  '| rule | photo faces found | enlarged crops with a face | false faces, photos without people | LFW faces found | LFW non-faces called faces | ms per image |',
);
console.log('|---|---|---|---|---|---|---|');
for (const [name, runners, o] of rules) {
  const count = async (frames: RgbFrame[]) => Promise.all(frames.map(async (f) => (await findFaces(runners, f, o)).length));
  const t = performance.now();
  const [p, c, n, l] = [await count(photoFrames), await count(crops), await count(negFrames), await count(lfwFrames)];
  const ms = (performance.now() - t) / (photoFrames.length + crops.length + negFrames.length + lfwFrames.length);
  const found = p.reduce((a, k, i) => a + Math.min(k, photos[i]![1]), 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  console.log(
    `| ${name} | ${found}/${total} | ${c.filter((k) => k > 0).length}/${crops.length} | ${sum(n)} | ${l.slice(0, 100).filter((k) => k > 0).length}/100 | ${sum(l.slice(100))} | ${ms.toFixed(0)} |`,
  );
}
process.exit(0);
