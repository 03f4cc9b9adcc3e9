/**
 * convcut's face finding on ONNX Runtime against face-api's own code on TensorFlow.js (the
 * reference, test/reference/face-api-tfjs.ts), on real photos no one here made: the same faces
 * (SSD boxes and scores, kept or dropped by the Tiny detector's confirmation) and the same 68
 * landmarks, so alignment — and every prediction after it — is unchanged by the engine.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { iou } from '../src/infer/face-align.js';
import { decodePhoto, detectWithLandmarks, type RgbFrame } from '../src/infer/faces.js';
import { DEFAULTS } from '../src/defaults.js';
import { faceApiFaces } from './reference/face-api-tfjs.js';

const demo = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const PHOTOS = [
  ...[1, 2, 3, 4, 5, 6].map((i) => path.join(demo, `sample${i}.jpg`)),
  '/usr/lib/python3/dist-packages/skimage/data/astronaut.png',
  '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
  '/usr/lib/python3/dist-packages/skimage/data/chelsea.png', // a cat: SSD's 0.93 "face", dropped by both
];

describe("faces on ONNX Runtime give face-api's faces and landmarks", () => {
  const frames = new Map<string, RgbFrame>();
  beforeAll(async () => {
    for (const p of PHOTOS) frames.set(p, await decodePhoto(p));
  });

  it('on 9 real photos: same faces (IoU ≥ 0.99, |Δscore| ≤ 1e-3), landmarks within 0.05 px', async () => {
    let faces = 0;
    let worst = { iou: 1, score: 0, px: 0 };
    for (const p of PHOTOS) {
      const frame = frames.get(p)!;
      const want = await faceApiFaces(frame, { minConfidence: DEFAULTS.faceMinConfidence, maxResults: DEFAULTS.maxFaces });
      const got = await detectWithLandmarks(frame, 112);
      expect(got.length, path.basename(p)).toBe(want.length);
      for (const w of want) {
        const g = got.reduce((a, b) => (iou(a.box, w.box) >= iou(b.box, w.box) ? a : b));
        const px = Math.max(...w.points.map((q, i) => Math.hypot(q.x - g.points[i]!.x, q.y - g.points[i]!.y)));
        worst = {
          iou: Math.min(worst.iou, iou(g.box, w.box)),
          score: Math.max(worst.score, Math.abs(g.box.score - w.score)),
          px: Math.max(worst.px, px),
        };
      }
      faces += want.length;
    }
    console.log(
      `faces: ${faces}; worst IoU ${worst.iou.toFixed(6)}, |Δscore| ${worst.score.toExponential(2)}, landmarks ${worst.px.toFixed(4)} px`,
    );
    expect(faces).toBeGreaterThanOrEqual(24);
    expect(worst.iou).toBeGreaterThanOrEqual(0.99);
    expect(worst.score).toBeLessThanOrEqual(1e-3);
    expect(worst.px).toBeLessThanOrEqual(0.05);
  }, 120_000);
});
