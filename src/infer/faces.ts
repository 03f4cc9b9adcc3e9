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
import { alignFaces, CONFIRM, confirmed, type Box, type DetectedFace } from './face-align.js';

export type { Box, DetectedFace, FaceBox } from './face-align.js';

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
      found = confirmed(
        found,
        second.map((d) => d.box),
      );
    }
  } finally {
    t.dispose();
  }
  return alignFaces(photo, found, size);
}
