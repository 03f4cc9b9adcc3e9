/**
 * Benchmark: video end to end (ffmpeg decode + face detection + tracking + classification) in
 * analysed frames per second, on a 640×480 clip at 30 fps with one face (scikit-image's astronaut,
 * panned and zoomed; made here with ffmpeg), for convcut with ConvNeXt-Base cut (random weights:
 * speed does not depend on their values) in fp32 and int8, against face-api's own pipeline
 * (SSD detection + landmarks + its expression net on every frame) on the same clip in the same run.
 * int8 runs twice: as `convcut predict` runs it for videos (ONNX Runtime's threads not spinning) and
 * with ORT's default spinning. Each runs in its own child process; RSS is sampled every 30 frames
 * (memory flat over the clip?).
 *
 *   npx tsx bench/video.ts [--seconds 30] [--detect-every 10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberArg, stringArg } from './lib/args.js';
import { stillClip } from './lib/clip.js';
import { VIDEO_DEFAULTS } from '../src/infer/video/options.js';

const seconds = numberArg('--seconds', 30);
const detectEvery = numberArg('--detect-every', VIDEO_DEFAULTS.detectEvery);
const mode = stringArg('--child', '');

interface Result {
  name: string;
  frames: number;
  faces: number;
  fps: number;
  rss: number[];
}

async function convcutRun(precision: 'fp32' | 'int8', spinning: boolean, clip: string): Promise<Result> {
  const { makeConfig } = await import('../src/model/config.js');
  const { paramSpecs } = await import('../src/engine/describe.js');
  const { initWeights } = await import('../src/weights/weight-map.js');
  const { ConvCutModel } = await import('../src/infer/convcut-model.js');
  const { predictVideo } = await import('../src/infer/video/predict-video.js');
  const cfg = makeConfig({ backbone: 'base' });
  const model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 1), {
    precision,
    spinning, // off, as `convcut predict` loads it for videos; on in the comparison row
  });
  const rss: number[] = [];
  let frames = 0;
  let faces = 0;
  const t0 = performance.now();
  for await (const f of predictVideo(model, clip, { detectEvery })) {
    frames++;
    faces += f.rows.length;
    if (frames % 30 === 0) rss.push(process.memoryUsage().rss / 1e6);
  }
  return {
    name: `convcut ${precision}, detect every ${detectEvery}${spinning ? ', ORT threads spinning' : ''}`,
    frames,
    faces,
    fps: frames / ((performance.now() - t0) / 1000),
    rss,
  };
}

async function faceApiRun(clip: string): Promise<Result> {
  const { initTf, tf } = await import('../test/reference/tfjs-backend.js');
  const { faceApiExpressions } = await import('../test/reference/face-api-tfjs.js');
  const { readFrames } = await import('../src/infer/video/ffmpeg.js');
  await initTf('wasm');
  await faceApiExpressions();
  const require = createRequire(import.meta.url);
  const api = require(require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js'));
  const models = path.join(path.dirname(require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js')), '..', 'model');
  await api.nets.ssdMobilenetv1.loadFromDisk(models);
  await api.nets.faceLandmark68Net.loadFromDisk(models);
  const rss: number[] = [];
  let frames = 0;
  let faces = 0;
  const t0 = performance.now();
  for await (const f of readFrames(clip).frames) {
    const t = tf.tensor3d(f.data, [f.height, f.width, 3], 'int32');
    const found = await api
      .detectAllFaces(t, new api.SsdMobilenetv1Options({ minConfidence: 0.5 }))
      .withFaceLandmarks()
      .withFaceExpressions();
    t.dispose();
    frames++;
    faces += found.length;
    if (frames % 30 === 0) rss.push(process.memoryUsage().rss / 1e6);
  }
  return { name: "face-api's pipeline (every frame)", frames, faces, fps: frames / ((performance.now() - t0) / 1000), rss };
}

if (mode) {
  const clip = stringArg('--clip', '');
  const [precision, spin] = mode.split('+') as ['fp32' | 'int8', string?];
  const r = mode === 'face-api' ? await faceApiRun(clip) : await convcutRun(precision, spin === 'spin', clip);
  console.log(JSON.stringify(r));
  process.exit(0);
}

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-bench-video-'));
const clip = path.join(dir, 'clip.mp4');
stillClip(
  '/usr/lib/python3/dist-packages/skimage/data/astronaut.png',
  seconds,
  `scale=w='900+200*t/${seconds}':h=-1:eval=frame,crop=640:480:x='20+60*t/${seconds}':y='30*t/${seconds}'`,
  clip,
);
const script = fileURLToPath(import.meta.url);
const rows: Result[] = [];
for (const m of ['face-api', 'fp32', 'int8', 'int8+spin']) {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', script, '--child', m, '--clip', clip, '--detect-every', String(detectEvery)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
  rows.push(r);
  console.error(`${r.name}: ${r.fps.toFixed(2)} frames/s`);
}
const base = rows[0]!;
console.log(`640×480, ${seconds} s at 30 fps (${base.frames} frames), one face\n`);
console.log('| pipeline | frames/s | vs face-api | faces found | RSS first → last 30-frame mark (max), MB |');
console.log('|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.fps.toFixed(2)} | ${(r.fps / base.fps).toFixed(2)}× | ${r.faces}/${r.frames} | ${r.rss[0]?.toFixed(0)} → ${r.rss.at(-1)?.toFixed(0)} (${Math.max(...r.rss).toFixed(0)}) |`,
  );
