/**
 * face-api's SSD MobileNetV1 face detector on ONNX Runtime (model/face-ssd.ts, infer/face-ssd-detector.ts)
 * against face-api's own code on TensorFlow.js (wasm), on the same pixels of real photos: the raw
 * boxes and scores before NMS, and the final faces.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeOps } from '../src/engine/shape-ops.js';
import { initTf, tf } from './reference/tfjs-backend.js';
import { faceApiSsdManifest, SsdDetector, type SsdFace, type SsdFrame } from '../src/infer/face-ssd-detector.js';
import { decodePhoto } from '../src/infer/faces.js';
import { ssdMobilenetV1, ssdParams, SSD_ANCHORS } from '../src/model/face-ssd.js';
import { readTfjsManifest } from '../src/weights/tfjs-weights.js';
import { maxAbsDiff } from './helpers.js';

const require = createRequire(import.meta.url);
const FACE_API = require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
const DEMO = path.join(path.dirname(FACE_API), '..', 'demo');
const PHOTOS = [
  ...[1, 2, 3, 4, 5, 6].map((i) => path.join(DEMO, `sample${i}.jpg`)),
  '/usr/lib/python3/dist-packages/skimage/data/astronaut.png',
  '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
  '/usr/lib/python3/dist-packages/skimage/data/chelsea.png', // a cat: SSD finds a "face" at 0.93
];

interface FaceApiSsd {
  nets: {
    ssdMobilenetv1: {
      loadFromDisk(dir: string): Promise<void>;
      forward(input: tf.Tensor3D): Promise<{ boxes: tf.Tensor2D[]; scores: tf.Tensor1D[] }>;
    };
  };
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
  detectAllFaces(input: tf.Tensor3D, options: unknown): Promise<SsdFace[]>;
}

let api: FaceApiSsd;
let ours: SsdDetector;
const frames = new Map<string, SsdFrame>();

beforeAll(async () => {
  await initTf('wasm');
  api = require(FACE_API) as FaceApiSsd;
  await api.nets.ssdMobilenetv1.loadFromDisk(path.join(path.dirname(FACE_API), '..', 'model'));
  ours = await SsdDetector.load({ threads: 2 });
  for (const p of PHOTOS) frames.set(p, await decodePhoto(p));
});

const tensorOf = (f: SsdFrame) => tf.tensor3d(f.data, [f.height, f.width, 3], 'int32');

async function theirs(f: SsdFrame, o: { minConfidence: number; maxResults: number }): Promise<SsdFace[]> {
  const t = tensorOf(f);
  try {
    const found = await api.detectAllFaces(t, new api.SsdMobilenetv1Options(o));
    return found.map((d) => ({ box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, score: d.score }));
  } finally {
    t.dispose();
  }
}

async function theirRaw(f: SsdFrame): Promise<{ boxes: Float32Array; scores: Float32Array }> {
  const t = tensorOf(f);
  const { boxes, scores } = await api.nets.ssdMobilenetv1.forward(t);
  const out = { boxes: boxes[0]!.dataSync() as Float32Array, scores: scores[0]!.dataSync() as Float32Array };
  tf.dispose([t, ...boxes, ...scores]);
  return out;
}

function iou(a: SsdFace['box'], b: SsdFace['box']): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

describe('SSD MobileNetV1 (face-api) on ONNX Runtime', () => {
  it('maps every face-api tensor onto the parameters the network declares, shape for shape', async () => {
    const { params, anchors } = ssdParams(await readTfjsManifest(faceApiSsdManifest()));
    const shapes = new ShapeOps();
    const out = ssdMobilenetV1(shapes, [-1, 640, 640, 3]);
    expect(out.encodings).toEqual([-1, SSD_ANCHORS, 4]);
    expect(out.scores).toEqual([-1, SSD_ANCHORS]);
    expect([...shapes.params.keys()].sort()).toEqual([...params.keys()].sort());
    for (const [name, spec] of shapes.params) expect(params.get(name)!.shape, name).toEqual(spec.shape);
    expect(anchors.length).toBe(SSD_ANCHORS * 4);
  });

  it("gives face-api's boxes and scores before NMS (within 1e-4)", async () => {
    for (const p of [PHOTOS[0]!, PHOTOS[7]!, PHOTOS[8]!]) {
      const f = frames.get(p)!;
      const [a, b] = [await ours.raw(f), await theirRaw(f)];
      const d = { boxes: maxAbsDiff(a.boxes, b.boxes), scores: maxAbsDiff(a.scores, b.scores) };
      console.log(
        `${path.basename(p)} ${f.width}×${f.height}: raw max |Δ| boxes ${d.boxes.toExponential(2)}, scores ${d.scores.toExponential(2)}`,
      );
      expect(d.boxes, p).toBeLessThanOrEqual(1e-4);
      expect(d.scores, p).toBeLessThanOrEqual(1e-4);
    }
  });

  it("finds face-api's faces on real photos (same count and order, IoU ≥ 0.99, |Δscore| ≤ 1e-3)", async () => {
    let total = 0;
    let [worstIou, worstScore] = [1, 0];
    for (const o of [
      { minConfidence: 0.5, maxResults: 100 },
      { minConfidence: 0.2, maxResults: 5 },
    ]) {
      for (const p of PHOTOS) {
        const f = frames.get(p)!;
        const [a, b] = [await ours.detect(f, o), await theirs(f, o)];
        expect(a.length, `${p} ${JSON.stringify(o)}`).toBe(b.length);
        a.forEach((face, i) => {
          worstIou = Math.min(worstIou, iou(face.box, b[i]!.box));
          worstScore = Math.max(worstScore, Math.abs(face.score - b[i]!.score));
          expect(iou(face.box, b[i]!.box), `${p} face ${i}`).toBeGreaterThanOrEqual(0.99);
          expect(Math.abs(face.score - b[i]!.score), `${p} face ${i}`).toBeLessThanOrEqual(1e-3);
        });
        if (o.minConfidence === 0.5) total += a.length;
      }
    }
    const cat = await ours.detect(frames.get(PHOTOS[8]!)!, { minConfidence: 0.5, maxResults: 100 });
    console.log(
      `faces at 0.5: ${total} on ${PHOTOS.length} photos; worst IoU ${worstIou.toFixed(6)}, |Δscore| ${worstScore.toExponential(1)}; the cat's best: ${cat[0]?.score.toFixed(3)}`,
    );
    expect(total).toBeGreaterThanOrEqual(22);
  });

  it('reports ms per 640×480 detection, ours vs face-api (information only)', async () => {
    const src = frames.get(PHOTOS[0]!)!;
    const f = cropFrame(src, 640, 480);
    const o = { minConfidence: 0.5, maxResults: 100 };
    const time = async (run: () => Promise<unknown>) => {
      await run();
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) await run();
      return (performance.now() - t0) / 5;
    };
    const mine = await time(() => ours.detect(f, o));
    const face = await time(() => theirs(f, o));
    console.log(`640×480 SSD detection: ONNX Runtime ${mine.toFixed(1)} ms, face-api (tfjs wasm) ${face.toFixed(1)} ms`);
  });
});

/** The top-left w × h of a frame. */
function cropFrame(f: SsdFrame, w: number, h: number): SsdFrame {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(f.data.subarray(y * f.width * 3, (y * f.width + w) * 3), y * w * 3);
  return { data, width: w, height: h };
}
