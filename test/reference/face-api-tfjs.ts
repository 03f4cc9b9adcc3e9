/**
 * face-api's own code on TensorFlow.js (its wasm backend): the reference convcut's face networks
 * on ONNX Runtime are tested and benchmarked against. Tests and benchmarks only: TensorFlow.js is
 * no runtime dependency of convcut.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { initTf, tf } from './tfjs-backend.js';
import { CONFIRM, iou, type Box } from '../../src/infer/face-align.js';

interface Point {
  x: number;
  y: number;
}
export interface FaceApi {
  nets: Record<
    'ssdMobilenetv1' | 'tinyFaceDetector' | 'faceLandmark68Net' | 'faceExpressionNet',
    {
      loadFromDisk(dir: string): Promise<void>;
      detectLandmarks(input: tf.Tensor3D): Promise<unknown>;
      predictExpressions(input: tf.Tensor3D): Promise<Record<string, number>>;
    }
  >;
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  detectAllFaces(
    input: tf.Tensor3D,
    options: unknown,
  ): PromiseLike<{ box: Box; score: number }[]> & {
    withFaceLandmarks(): Promise<{ detection: { box: Box; score: number }; landmarks: { positions: Point[] } }[]>;
  };
}

let loaded: Promise<FaceApi> | undefined;

/** face-api with its SSD, Tiny, landmark and expression nets loaded from its package. */
export function faceApi(): Promise<FaceApi> {
  loaded ??= (async () => {
    await initTf('wasm');
    const require = createRequire(import.meta.url);
    const main = require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const api = require(main) as FaceApi;
    const models = path.join(path.dirname(main), '..', 'model');
    for (const net of ['ssdMobilenetv1', 'tinyFaceDetector', 'faceLandmark68Net', 'faceExpressionNet'] as const)
      await api.nets[net].loadFromDisk(models);
    return api;
  })();
  return loaded;
}

/** face-api's expression net: one face crop (H × W × 3 tensor) → its 7 probabilities. */
export async function faceApiExpressions(): Promise<FaceApi['nets']['faceExpressionNet']> {
  return (await faceApi()).nets.faceExpressionNet;
}

/**
 * What convcut's face finding did on face-api: SSD with landmarks, each face kept if the Tiny
 * detector (CONFIRM) has a box overlapping it by IoU ≥ 0.3. Boxes and 68 points in frame pixels.
 */
export async function faceApiFaces(
  frame: { data: Uint8Array; width: number; height: number },
  o: { minConfidence: number; maxResults: number },
): Promise<{ box: Box; score: number; points: Point[] }[]> {
  const api = await faceApi();
  const t = tf.tensor3d(frame.data, [frame.height, frame.width, 3], 'int32');
  try {
    const found = await api.detectAllFaces(t, new api.SsdMobilenetv1Options(o)).withFaceLandmarks();
    const second = (await api.detectAllFaces(t, new api.TinyFaceDetectorOptions(CONFIRM))).map((d) => d.box);
    return found
      .filter((f) => second.some((b) => iou(f.detection.box, b) >= CONFIRM.minIou))
      .map((f) => ({
        box: { x: f.detection.box.x, y: f.detection.box.y, width: f.detection.box.width, height: f.detection.box.height },
        score: f.detection.score,
        points: f.landmarks.positions.map((p) => ({ x: p.x, y: p.y })),
      }));
  } finally {
    t.dispose();
  }
}
