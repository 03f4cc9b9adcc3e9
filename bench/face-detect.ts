/**
 * Benchmark: face detection + landmarks (`predict --faces`, the server's `faces=true`): SSD MobileNet
 * v1 and the 68-point landmark net of @vladmandic/face-api on tfjs `wasm`, on the three-face sample
 * photo that ships in that package, with 1 XNNPACK thread (tfjs' stock Node set-up, the baseline)
 * and with one per core. Each thread count runs in a child process; they alternate in rounds.
 *
 *   npx tsx bench/face-detect.ts [--reps 5] [--rounds 2]
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initTf, tf, tfThreads } from '../src/engine/tfjs-backend.js';
import { defaultWasmThreads } from '../src/engine/wasm-threads.js';
import { detectFaces } from '../src/infer/faces.js';
import { runChild } from './lib/child.js';
import { numberArg } from './lib/args.js';

const reps = numberArg('--reps', 5);
const photo = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'node_modules',
  '@vladmandic',
  'face-api',
  'demo',
  'sample1.jpg',
);

if (process.argv.includes('--child')) {
  await initTf('wasm', { threads: numberArg('--threads', 1) });
  let faces = 0;
  for (let i = 0; i < 2; i++) faces = (await detectFaces(photo, 100)).length; // warm-up: model load, kernels
  const t = performance.now();
  for (let i = 0; i < reps; i++) await detectFaces(photo, 100);
  console.log(JSON.stringify({ threads: tfThreads(), faces, ms: (performance.now() - t) / reps }));
  process.exit(0);
}

const rounds = numberArg('--rounds', 2);
const counts = [1, Math.max(2, defaultWasmThreads())];
const ms = new Map<number, number[]>();
let faces = 0;
for (let r = 0; r < rounds; r++)
  for (const threads of counts) {
    const res = runChild<{ threads: number; faces: number; ms: number }>(fileURLToPath(import.meta.url), threads, [
      '--reps',
      `${reps}`,
    ]);
    faces = res.faces;
    ms.set(threads, [...(ms.get(threads) ?? []), res.ms]);
  }
const mean = (t: number) => ms.get(t)!.reduce((a, b) => a + b, 0) / ms.get(t)!.length;
console.log(
  `Date ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length}× ${os.cpus()[0]?.model}, tfjs ${tf.version.tfjs} wasm; ${faces} faces found, ${reps} detections per run, ${rounds} rounds.\n`,
);
console.log('| wasm threads | ms per photo (detect + landmarks + align) | vs 1 thread |');
console.log('|---|---|---|');
for (const t of counts) console.log(`| ${t} | ${mean(t).toFixed(0)} | ${(mean(counts[0]!) / mean(t)).toFixed(2)}× |`);
