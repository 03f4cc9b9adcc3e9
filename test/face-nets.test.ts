/**
 * face-api's Tiny Face Detector, 68-point landmark net and expression net, as convcut runs them
 * (src/model/face-tiny.ts, face-features.ts → ONNX Runtime), against face-api's own code on
 * TensorFlow.js, on real photos: face-api's six group photos, scikit-image's astronaut and
 * matplotlib's Grace Hopper. Both get the same decoded pixels; the face crops are cut with sharp
 * from face-api's Tiny detections. Timings are printed for information only.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTf, tf } from './reference/tfjs-backend.js';
import { iou, type Box } from '../src/infer/face-align.js';
import { ExpressionNet, faceApiModelDir, LandmarkNet, TinyDetector, toSquare, type RgbImage } from '../src/infer/face-nets.js';
import { decodePhoto } from '../src/infer/faces.js';
import { ShapeOps } from '../src/engine/shape-ops.js';
import { readTfjsManifest } from '../src/weights/tfjs-weights.js';
import { EXPRESSIONS, expressionNet, landmarkNet, landmarksInCrop, mapFaceApiWeights } from '../src/model/face-features.js';
import { decodeTinyBoxes, tinyFaceNet } from '../src/model/face-tiny.js';

const DEMO = path.join(faceApiModelDir(), '..', 'demo');
const PHOTOS = [
  ...[1, 2, 3, 4, 5, 6].map((i) => path.join(DEMO, `sample${i}.jpg`)),
  '/usr/lib/python3/dist-packages/skimage/data/astronaut.png',
  '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
];
const CONFIRM = { inputSize: 416, scoreThreshold: 0.2 };

interface Point {
  x: number;
  y: number;
}
interface FaceApi {
  nets: {
    tinyFaceDetector: {
      loadFromDisk(d: string): Promise<void>;
      locateFaces(t: tf.Tensor3D, o: unknown): Promise<{ box: Box; score: number }[]>;
    };
    faceLandmark68Net: {
      loadFromDisk(d: string): Promise<void>;
      detectLandmarks(t: tf.Tensor3D): Promise<{ positions: Point[] }>;
    };
    faceExpressionNet: {
      loadFromDisk(d: string): Promise<void>;
      predictExpressions(t: tf.Tensor3D): Promise<Record<string, number>>;
    };
  };
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
}

let api: FaceApi;
const photos: { file: string; frame: RgbImage; faceApi: { box: Box; score: number }[] }[] = [];
const crops: RgbImage[] = [];

const asTensor = (img: RgbImage) => tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}

/** A detection cut from the frame with sharp: rounded outwards, clipped to the frame. */
async function cut(frame: RgbImage, b: Box): Promise<RgbImage> {
  const left = Math.max(0, Math.floor(b.x));
  const top = Math.max(0, Math.floor(b.y));
  const width = Math.min(frame.width, Math.ceil(b.x + b.width)) - left;
  const height = Math.min(frame.height, Math.ceil(b.y + b.height)) - top;
  const raw = { width: frame.width, height: frame.height, channels: 3 as const };
  const data = await sharp(frame.data, { raw }).extract({ left, top, width, height }).raw().toBuffer();
  return { data, width, height };
}

beforeAll(async () => {
  await initTf('wasm');
  const main = createRequire(import.meta.url).resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
  api = createRequire(import.meta.url)(main) as FaceApi;
  const dir = faceApiModelDir();
  for (const n of ['tinyFaceDetector', 'faceLandmark68Net', 'faceExpressionNet'] as const) await api.nets[n].loadFromDisk(dir);
  for (const file of PHOTOS) {
    if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install python3-skimage python-matplotlib-data`);
    const frame = await decodePhoto(file);
    const t = asTensor(frame);
    const faceApi = await api.nets.tinyFaceDetector.locateFaces(t, new api.TinyFaceDetectorOptions(CONFIRM));
    t.dispose();
    photos.push({
      file,
      frame,
      faceApi: faceApi.map(({ box: b, score }) => ({ box: { x: b.x, y: b.y, width: b.width, height: b.height }, score })),
    });
    for (const d of faceApi) crops.push(await cut(frame, d.box));
  }
});

describe('face-api networks on ONNX Runtime', () => {
  it("Tiny Face Detector: face-api's boxes and scores at inputSize 416, scoreThreshold 0.2", async () => {
    const tiny = await TinyDetector.load();
    const ms = { ours: 0, faceApi: 0 };
    let worstIou = 1;
    let worstScore = 0;
    for (const p of photos) {
      await tiny.detect(p.frame, CONFIRM); // the first run of a session is slower: time the second
      const ours = await timed(() => tiny.detect(p.frame, CONFIRM));
      const t = asTensor(p.frame);
      const theirs = await timed(() => api.nets.tinyFaceDetector.locateFaces(t, new api.TinyFaceDetectorOptions(CONFIRM)));
      t.dispose();
      ms.ours += ours.ms;
      ms.faceApi += theirs.ms;
      const name = path.basename(p.file);
      expect(ours.value.length, name).toBe(p.faceApi.length);
      for (const d of p.faceApi) {
        const best = ours.value.reduce((a, b) => (iou(a, d.box) >= iou(b, d.box) ? a : b));
        worstIou = Math.min(worstIou, iou(best, d.box));
        worstScore = Math.max(worstScore, Math.abs(best.score - d.score));
        expect(iou(best, d.box), name).toBeGreaterThanOrEqual(0.99);
        expect(Math.abs(best.score - d.score), name).toBeLessThanOrEqual(1e-3);
      }
    }
    const n = photos.length;
    console.log(
      `Tiny: ${photos.reduce((a, p) => a + p.faceApi.length, 0)} detections on ${n} photos, worst IoU ${worstIou.toFixed(6)}, ` +
        `worst |Δscore| ${worstScore.toExponential(2)}; ms per photo: ours ${(ms.ours / n).toFixed(1)}, face-api ${(ms.faceApi / n).toFixed(1)}`,
    );
    expect(photos.filter((p) => p.faceApi.length > 0).length).toBeGreaterThanOrEqual(6);
    await tiny.release();
  });

  it("68 landmarks within 0.05 px of face-api's detectLandmarks on the same crops, batched in one run", async () => {
    const net = await LandmarkNet.load();
    await net.landmarks(crops.slice(0, 1));
    const ours = await timed(() => net.landmarks(crops));
    let faceApiMs = 0;
    let worst = 0;
    for (const [i, crop] of crops.entries()) {
      const t = asTensor(crop);
      const theirs = await timed(() => api.nets.faceLandmark68Net.detectLandmarks(t));
      t.dispose();
      faceApiMs += theirs.ms;
      expect(ours.value[i]).toHaveLength(68);
      theirs.value.positions.forEach((p, k) => {
        const q = ours.value[i]![k]!;
        worst = Math.max(worst, Math.abs(p.x - q.x), Math.abs(p.y - q.y));
      });
    }
    console.log(
      `landmarks: ${crops.length} crops, worst |Δ| ${worst.toExponential(2)} px; ms per face: ours ${(ours.ms / crops.length).toFixed(2)} ` +
        `(one batch), face-api ${(faceApiMs / crops.length).toFixed(2)}`,
    );
    expect(crops.length).toBeGreaterThanOrEqual(20);
    expect(worst).toBeLessThanOrEqual(0.05);
    await net.release();
  });

  it("expression probabilities within 1e-4 of face-api's predictExpressions, in its order", async () => {
    const net = await ExpressionNet.load();
    await net.expressions(crops.slice(0, 1));
    const ours = await timed(() => net.expressions(crops));
    let faceApiMs = 0;
    let worst = 0;
    for (const [i, crop] of crops.entries()) {
      const t = asTensor(crop);
      const theirs = await timed(() => api.nets.faceExpressionNet.predictExpressions(t));
      t.dispose();
      faceApiMs += theirs.ms;
      EXPRESSIONS.forEach((e, k) => (worst = Math.max(worst, Math.abs(theirs.value[e]! - ours.value[i]![k]!))));
      expect(ours.value[i]!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    console.log(
      `expressions: ${crops.length} crops, worst |Δp| ${worst.toExponential(2)}; ms per face: ours ${(ours.ms / crops.length).toFixed(2)} ` +
        `(one batch), face-api ${(faceApiMs / crops.length).toFixed(2)}`,
    );
    expect(worst).toBeLessThanOrEqual(1e-4);
    expect(ExpressionNet.labels).toEqual(['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised']);
    await net.release();
  });
});

describe('face-api pre- and post-processing', () => {
  it("declares exactly face-api's weights, in their shapes, and gives its output shapes", async () => {
    const nets = [
      ['tiny_face_detector_model', tinyFaceNet, 416, [-1, 13, 13, 25]],
      ['face_landmark_68_model', landmarkNet, 112, [-1, 136]],
      ['face_expression_model', expressionNet, 112, [-1, 7]],
    ] as const;
    for (const [model, net, size, out] of nets) {
      const weights = mapFaceApiWeights(await readTfjsManifest(path.join(faceApiModelDir(), `${model}-weights_manifest.json`)));
      const ops = new ShapeOps();
      expect(net(ops, [-1, size, size, 3]), model).toEqual(out);
      const declared = [...ops.params.values()].map((p) => [p.name, p.shape]).sort();
      expect(declared, model).toEqual([...weights].map(([k, t]) => [k, t.shape]).sort());
    }
  });

  it('pads to a square as face-api does (centred: the larger half after) and resizes as TensorFlow (source = out · in/out)', () => {
    const img = { data: Uint8Array.from({ length: 3 * 5 * 3 }, (_, i) => 10 + i), width: 3, height: 5 };
    // Width 3 → 5: centred puts 1 column before, Math.round(1) = 1 after; at the end, 2 after.
    const centred = toSquare(img, { size: 5, centred: true });
    expect([centred[0], centred[3], centred[12]]).toEqual([0, 10, 0]);
    const atEnd = toSquare(img, { size: 5, centred: false });
    expect([atEnd[0], atEnd[6], atEnd[9]]).toEqual([10, 16, 0]);
    // 5 → 2: output 1 samples source 2.5 (a half-way blend), never the pixel centres.
    const small = toSquare(
      { data: Uint8Array.from({ length: 25 * 3 }, (_, i) => Math.floor(i / 3)), width: 5, height: 5 },
      {
        size: 2,
        centred: false,
      },
    );
    expect(Array.from(small.filter((_, i) => i % 3 === 0))).toEqual([0, 2.5, 12.5, 15]);
  });

  it('maps landmarks back through the centring padding; decodes a Tiny cell with sigmoid, exp and its anchor', () => {
    // A 56×112 crop: scaled ×1 to 56×112, padded by 28 columns on each side.
    const out = new Float32Array(136).fill(0.5);
    expect(landmarksInCrop(out, 56, 112)[0]).toEqual({ x: 28, y: 56 });
    const grid = new Float32Array(25).fill(-10); // one cell: only anchor 0 scores
    grid.set([0, 0, 0, 0, 10]);
    const [b] = decodeTinyBoxes(grid, 1, { width: 32, height: 32 }, { inputSize: 32, scoreThreshold: 0.2 });
    expect(b!.score).toBeCloseTo(1 / (1 + Math.exp(-10)), 12);
    expect(b!.width).toBeCloseTo(1.603231, 6);
    expect(b!.x + b!.width / 2).toBeCloseTo(0.5, 12);
  });

  it('refuses a weight face-api does not name as a conv or dense parameter', () => {
    const t = { shape: [1], data: new Float32Array(1) };
    expect(() => mapFaceApiWeights(new Map([['conv0/gamma', t]]))).toThrow(/conv0\/gamma: not a conv/);
    expect([
      ...mapFaceApiWeights(
        new Map([
          ['c/bias', t],
          ['c/pointwise_filter', t],
          ['d/bias', t],
        ]),
      ).keys(),
    ]).toEqual(['c.pointwise.bias', 'c.pointwise.weight', 'd.bias']);
  });
});
