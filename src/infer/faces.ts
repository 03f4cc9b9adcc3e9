/**
 * Faces in photos: detection with @vladmandic/face-api (SSD MobileNet v1 + 68-point landmarks, MIT;
 * its models ship inside the npm package, on our TensorFlow.js wasm backend), each detection
 * confirmed by face-api's second, independent detector (Tiny Face Detector: a box overlapping it,
 * IoU ≥ 0.3) — SSD alone finds a face on a cat at 0.93, above several real faces; the pair keeps
 * all 25 faces of the real photos in BENCHMARKS.md and drops the cat — then alignment the way
 * RAF-DB's aligned faces are made: a similarity transform that puts the eye centres on fixed points
 * of a square crop (eyes level, at 35 % / 65 % of the width and 42 % of the height).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { initTf, tf } from '../engine/tfjs-backend.js';
import type { DecodedImage } from '../data/image.js';
import { affineSample } from '../data/augment.js';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FaceBox extends Box {
  score: number;
}

export interface DetectedFace {
  box: FaceBox;
  /** The aligned crop, `size`×`size`, ready for the model. */
  aligned: DecodedImage;
}

interface FaceApi {
  nets: {
    ssdMobilenetv1: { loadFromDisk(dir: string): Promise<void> };
    tinyFaceDetector: { loadFromDisk(dir: string): Promise<void> };
    faceLandmark68Net: { loadFromDisk(dir: string): Promise<void> };
    faceExpressionNet: {
      loadFromDisk(dir: string): Promise<void>;
      /** One face crop (H × W × 3, RGB 0..255) → its 7 expression probabilities. */
      predictExpressions(input: tf.Tensor3D): Promise<Record<string, number>>;
      isLoaded: boolean;
    };
  };
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  detectAllFaces(
    input: tf.Tensor3D,
    options: unknown,
  ): PromiseLike<{ box: Box; score: number }[]> & {
    withFaceLandmarks(): Promise<
      {
        detection: { box: { x: number; y: number; width: number; height: number }; score: number };
        landmarks: { getLeftEye(): { x: number; y: number }[]; getRightEye(): { x: number; y: number }[] };
      }[]
    >;
  };
}

let loaded: Promise<FaceApi> | undefined;

/** face-api's expression network (the JS toolkit baseline, eval/baselines.ts), loaded on first use. */
export async function faceApiExpressions(): Promise<FaceApi['nets']['faceExpressionNet']> {
  const api = await faceApi();
  const net = api.nets.faceExpressionNet;
  if (!net.isLoaded) await net.loadFromDisk(faceApiModels());
  return net;
}

function faceApiModels(): string {
  const main = createRequire(import.meta.url).resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
  return path.join(path.dirname(main), '..', 'model');
}

function faceApi(): Promise<FaceApi> {
  loaded ??= (async () => {
    await initTf('wasm');
    const require = createRequire(import.meta.url);
    const main = require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const api = require(main) as FaceApi;
    const models = path.join(path.dirname(main), '..', 'model');
    await api.nets.ssdMobilenetv1.loadFromDisk(models);
    await api.nets.tinyFaceDetector.loadFromDisk(models);
    await api.nets.faceLandmark68Net.loadFromDisk(models);
    return api;
  })();
  return loaded;
}

const mean = (pts: { x: number; y: number }[]) => ({
  x: pts.reduce((a, p) => a + p.x, 0) / pts.length,
  y: pts.reduce((a, p) => a + p.y, 0) / pts.length,
});

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** Settings measured on real photos (BENCHMARKS.md, face detection quality). */
const CONFIRM = { inputSize: 416, scoreThreshold: 0.2, minIou: 0.3 };

/**
 * Detect, then align, every face in a photo (file or bytes). `confirm: false` keeps SSD's detections
 * without the second detector's agreement (more false faces: animals).
 */
export async function detectFaces(
  input: string | Uint8Array,
  size: number,
  opts: { minConfidence?: number; maxFaces?: number; confirm?: boolean } = {},
): Promise<DetectedFace[]> {
  const api = await faceApi();
  const { data, info } = await sharp(input, { limitInputPixels: 100_000_000 })
    .rotate()
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const photo: DecodedImage = { data: Float32Array.from(data), width: info.width, height: info.height };
  const t = tf.tensor3d(data, [info.height, info.width, 3], 'int32');
  let found;
  try {
    found = await api
      .detectAllFaces(
        t,
        new api.SsdMobilenetv1Options({ minConfidence: opts.minConfidence ?? 0.5, maxResults: opts.maxFaces ?? 50 }),
      )
      .withFaceLandmarks();
    if (opts.confirm !== false && found.length) {
      const second = await api.detectAllFaces(t, new api.TinyFaceDetectorOptions(CONFIRM));
      found = found.filter((f) => second.some((d) => iou(f.detection.box, d.box) >= CONFIRM.minIou));
    }
  } finally {
    t.dispose();
  }
  return found
    .map((f) => {
      const l = mean(f.landmarks.getLeftEye());
      const r = mean(f.landmarks.getRightEye());
      // Similarity transform output → photo: eyes land on (0.35, 0.42)·size and (0.65, 0.42)·size.
      const [ox1, ox2, oy] = [0.35 * size, 0.65 * size, 0.42 * size];
      const dx = r.x - l.x;
      const dy = r.y - l.y;
      const s = Math.hypot(dx, dy) / (ox2 - ox1);
      const cos = (dx / Math.hypot(dx, dy)) * s;
      const sin = (dy / Math.hypot(dx, dy)) * s;
      const aligned = affineSample(photo, size, size, (x, y) => {
        const u = x - ox1;
        const v = y - oy;
        return [l.x + cos * u - sin * v, l.y + sin * u + cos * v];
      });
      const b = f.detection.box;
      return { box: { x: b.x, y: b.y, width: b.width, height: b.height, score: f.detection.score }, aligned };
    })
    .sort((a, b) => a.box.x - b.box.x);
}
