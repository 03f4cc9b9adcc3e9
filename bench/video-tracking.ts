/**
 * Benchmark: how much accuracy face tracking between detections costs (predictVideo's
 * `detectEvery`). Each clip is read once with the detectors on every frame (the reference) and
 * once per k with detection every k frames and landmark tracking in between. Per face per frame we
 * compare the tracked face with the reference's: box IoU, and what a real expression model makes of
 * the two aligned crops (face-api's expression net: top-1 agreement and total-variation distance of
 * its probabilities). The same numbers between consecutive reference frames are the noise floor:
 * what detection itself changes from one frame to the next on a face that barely moved.
 *
 * Clips (640×480, 30 fps, made here with ffmpeg from photos no one here took): scikit-image's
 * astronaut panned 200 px and zoomed 1.45× in 10 s; face-api's sample1.jpg (three people, at 1280 px wide) panned
 * across 640 px in 10 s.
 *
 *   npx tsx bench/video-tracking.ts [--seconds 10] [--k 5,10,15,30]
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { numberArg, stringArg } from './lib/args.js';
import { stillClip } from './lib/clip.js';
import { makeConfig } from '../src/model/config.js';
import { paramSpecs } from '../src/engine/describe.js';
import { initWeights } from '../src/weights/weight-map.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import { predictVideo } from '../src/infer/video/predict-video.js';
import { argmax } from '../src/infer/video/summary.js';
import { faceApiExpressions } from '../test/reference/face-api-tfjs.js';
import { iou, type Box } from '../src/infer/face-align.js';
import { tf } from '../test/reference/tfjs-backend.js';
import type { DecodedImage } from '../src/data/image.js';

const seconds = numberArg('--seconds', 10);
const ks = stringArg('--k', '5,10,15,30').split(',').map(Number);

const dir = mkdtempSync(path.join(tmpdir(), 'convcut-bench-tracking-'));
const faceApiDemo = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const clips = [
  {
    name: 'astronaut, pan 200 px + zoom 1.45×',
    photo: '/usr/lib/python3/dist-packages/skimage/data/astronaut.png',
    vf: `scale=w='900+400*t/${seconds}':h=-1:eval=frame,crop=640:480:x='20+200*t/${seconds}':y='40*t/${seconds}'`,
  },
  {
    name: 'sample1.jpg (three people), pan 640 px',
    photo: path.join(faceApiDemo, 'sample1.jpg'),
    vf: `scale=1280:-1,crop=640:480:x='640*t/${seconds}':y=80`,
  },
].map((c, i) => ({ ...c, file: stillClip(c.photo, seconds, c.vf, path.join(dir, `clip${i}.mp4`)) }));

// The classifier does not matter here (only the faces and their crops do): a small, fast one.
const cfg = makeConfig({ backbone: 'test', inputSize: 224, head: { detailFilters: 16, hidden: 8 } });
const model = await ConvCutModel.fromWeights(cfg, initWeights(paramSpecs(cfg), 1));
const expressions = await faceApiExpressions();

interface Face {
  box: Box;
  p: number[];
}

/** Every analysed frame's faces: box and face-api's expression probabilities of the aligned crop. */
async function facesOf(file: string, detectEvery: number): Promise<Face[][]> {
  const out: Face[][] = [];
  for await (const f of predictVideo(model, file, { detectEvery })) {
    const faces: Face[] = [];
    for (const [i, r] of f.rows.entries()) faces.push({ box: r.box, p: await expressionsOf(f.crops[i]!) });
    out.push(faces);
  }
  return out;
}

async function expressionsOf(crop: DecodedImage): Promise<number[]> {
  const t = tf.tensor3d(crop.data, [crop.height, crop.width, 3]);
  try {
    return Object.values(await expressions.predictExpressions(t));
  } finally {
    t.dispose();
  }
}

interface Agreement {
  pairs: number;
  missed: number;
  extra: number;
  ious: number[];
  same: number;
  tv: number;
}

/** Each face of `a` matched to the reference face of `b` it overlaps most (same frame). */
function compare(a: Face[][], b: Face[][]): Agreement {
  const r: Agreement = { pairs: 0, missed: 0, extra: 0, ious: [], same: 0, tv: 0 };
  a.forEach((fa, t) => {
    const fb = b[t] ?? [];
    const used = new Set<number>();
    for (const x of fa) {
      let best = -1;
      let bestIou = 0.1;
      fb.forEach((y, j) => {
        const o = iou(x.box, y.box);
        if (!used.has(j) && o > bestIou) [best, bestIou] = [j, o];
      });
      if (best < 0) {
        r.extra++;
        continue;
      }
      used.add(best);
      const y = fb[best]!;
      r.pairs++;
      r.ious.push(bestIou);
      if (argmax(x.p) === argmax(y.p)) r.same++;
      r.tv += x.p.reduce((s, v, i) => s + Math.abs(v - y.p[i]!), 0) / 2;
    }
    r.missed += fb.length - used.size;
  });
  return r;
}

const quantile = (xs: number[], q: number) => [...xs].sort((u, v) => u - v)[Math.floor(q * (xs.length - 1))] ?? NaN;

console.log(`640×480, 30 fps, ${seconds} s per clip\n`);
console.log('| clip | faces | vs | face-frames | missed / extra | box IoU mean (5th pct, min) | same top-1 | mean TV distance |');
console.log('|---|---|---|---|---|---|---|---|');
for (const c of clips) {
  const ref = await facesOf(c.file, 1);
  const rows: [string, Agreement][] = [['consecutive frames, detect every frame', compare(ref.slice(1), ref.slice(0, -1))]];
  for (const k of ks) rows.push([`detect every ${k}`, compare(await facesOf(c.file, k), ref)]);
  const perFrame = ref.reduce((s, f) => s + f.length, 0) / ref.length;
  for (const [name, a] of rows) {
    const mean = a.ious.reduce((s, v) => s + v, 0) / a.ious.length;
    console.log(
      `| ${c.name} | ${perFrame.toFixed(1)} | ${name} | ${a.pairs} | ${a.missed} / ${a.extra} | ${mean.toFixed(3)} (${quantile(a.ious, 0.05).toFixed(3)}, ${Math.min(...a.ious).toFixed(3)}) | ${((100 * a.same) / a.pairs).toFixed(1)} % | ${(a.tv / a.pairs).toFixed(3)} |`,
    );
  }
}
