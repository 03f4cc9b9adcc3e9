/**
 * Benchmark: face finding on ONNX Runtime (convcut's graphs of face-api's networks) against face-api's
 * own code on TensorFlow.js' wasm backend (the baseline), in the same process, alternating rounds:
 * - SSD detection alone, per 640×480 frame (face-api's sample1 resized to 640×480);
 * - the whole face step of `predict --faces` on the full photo (1920×1280, three faces): convcut's
 *   SSD + landmarks + Tiny confirmation + alignment, against face-api's detectAllFaces +
 *   withFaceLandmarks alone.
 *
 *   npx tsx bench/face-detect.ts [--reps 10] [--rounds 3]
 */
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { tf, tfThreads } from '../test/reference/tfjs-backend.js';
import { defaultOrtThreads } from '../src/engine/ort-session.js';
import { SsdDetector } from '../src/infer/face-ssd-detector.js';
import { decodePhoto, detectInFrame, type RgbFrame } from '../src/infer/faces.js';
import { DEFAULTS } from '../src/defaults.js';
import { faceApi } from '../test/reference/face-api-tfjs.js';
import { numberArg } from './lib/args.js';

const reps = numberArg('--reps', 10);
const rounds = numberArg('--rounds', 3);
const demo = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const photo = await decodePhoto(path.join(demo, 'sample1.jpg'));
const small = await sharp(Buffer.from(photo.data), { raw: { width: photo.width, height: photo.height, channels: 3 } })
  .resize(640, 480, { fit: 'fill' })
  .raw()
  .toBuffer();
const frame: RgbFrame = { data: new Uint8Array(small), width: 640, height: 480 };

const api = await faceApi();
const ssd = await SsdDetector.load();
const opts = { minConfidence: DEFAULTS.faceMinConfidence, maxResults: DEFAULTS.maxFaces };
const tensor = (f: RgbFrame) => tf.tensor3d(f.data, [f.height, f.width, 3], 'int32');

const cases: Record<string, () => Promise<number>> = {
  'SSD, 640×480 — face-api (tfjs wasm)': async () => {
    const t = tensor(frame);
    const n = (await api.detectAllFaces(t, new api.SsdMobilenetv1Options(opts))).length;
    t.dispose();
    return n;
  },
  'SSD, 640×480 — convcut (ONNX Runtime)': async () => (await ssd.detect(frame, opts)).length,
  'photo faces — face-api SSD + landmarks (tfjs wasm)': async () => {
    const t = tensor(photo);
    const n = (await api.detectAllFaces(t, new api.SsdMobilenetv1Options(opts)).withFaceLandmarks()).length;
    t.dispose();
    return n;
  },
  'photo faces — convcut SSD + landmarks + Tiny + align (ONNX Runtime)': async () => (await detectInFrame(photo, 100)).length,
};

const ms = new Map<string, number[]>();
const faces = new Map<string, number>();
for (const [name, run] of Object.entries(cases)) for (let i = 0; i < 2; i++) faces.set(name, await run()); // warm-up
for (let r = 0; r < rounds; r++)
  for (const [name, run] of Object.entries(cases)) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) await run();
    ms.set(name, [...(ms.get(name) ?? []), (performance.now() - t) / reps]);
  }

const mean = (name: string) => ms.get(name)!.reduce((a, b) => a + b, 0) / ms.get(name)!.length;
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}; tfjs ${tf.version.tfjs} wasm on ${tfThreads()} threads, ONNX Runtime on ${defaultOrtThreads()}; ${reps} runs × ${rounds} rounds.\n`,
);
console.log('| what | faces | ms (mean of rounds) | rounds | vs face-api |');
console.log('|---|---|---|---|---|');
const names = Object.keys(cases);
for (const [i, name] of names.entries()) {
  const base = names[i - (i % 2)]!;
  console.log(
    `| ${name} | ${faces.get(name)} | ${mean(name).toFixed(1)} | ${ms
      .get(name)!
      .map((x) => x.toFixed(0))
      .join(', ')} | ${(mean(name) / mean(base)).toFixed(2)}× |`,
  );
}
