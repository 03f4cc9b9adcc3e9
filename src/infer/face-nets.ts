/**
 * face-api's Tiny Face Detector, 68-point landmark net and expression net on ONNX Runtime: the
 * networks of src/model/face-tiny.ts and face-features.ts, with face-api's own weights (they ship in
 * the npm package), exported to ONNX graphs here and run like convcut's own model. They give what
 * face-api gives on TensorFlow.js (test/face-nets.test.ts).
 *
 * Inputs are RGB pixels (H × W × 3, 0..255). Each image is made square and resized in JavaScript
 * (face-pre.ts, shared with the web page), as face-api's NetInput does it (zeros after or around
 * it, then TensorFlow's legacy bilinear resize), so that face crops of any sizes go through the
 * network as one batch; outputs are read by face-post.ts, also shared.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { createSession, runSession, type ort } from '../engine/ort-session.js';
import { exportNetwork } from '../engine/onnx-export.js';
import { EXPRESSIONS, expressionNet, FEATURE_INPUT, landmarkNet, mapFaceApiWeights } from '../model/face-features.js';
import { TINY_INPUT, tinyFaceNet } from '../model/face-tiny.js';
import { readTfjsManifest } from '../weights/tfjs-weights.js';
import type { Weights } from '../weights/weight-map.js';
import { cropLandmarks, tinyFaces, type TinyDetection } from './face-post.js';
import { cropBatch, FACE_SESSION, toSquare, type RgbImage } from './face-pre.js';

export { toSquare, type RgbImage } from './face-pre.js';
export type { TinyDetection } from './face-post.js';

export interface FaceNetOptions {
  device?: 'cpu' | 'webgpu';
  threads?: number;
}

/** Where face-api's weight files are (the package's `model/`). */
export function faceApiModelDir(): string {
  const main = createRequire(import.meta.url).resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
  return path.join(path.dirname(main), '..', 'model');
}

async function faceApiWeights(model: string): Promise<Weights> {
  return mapFaceApiWeights(await readTfjsManifest(path.join(faceApiModelDir(), `${model}-weights_manifest.json`)));
}

/** The Tiny Face Detector as an ONNX graph for `size`×`size` inputs (output `grid`); the web page gets it too. */
export function tinyGraph(weights: Weights, size: number): Uint8Array {
  return exportNetwork('face_tiny', weights, [-1, size, size, 3], (ops, x) => ({ grid: tinyFaceNet(ops, x) }));
}

/** The landmark net as an ONNX graph: (N, 112, 112, 3) face crops → `out` (N, 136); the web page gets it too. */
export async function landmarkGraph(): Promise<Uint8Array> {
  return featureGraph('face_landmark_68_model', landmarkNet);
}

async function featureGraph(model: string, head: typeof landmarkNet): Promise<Uint8Array> {
  const s = FEATURE_INPUT.size;
  return exportNetwork(`face_${model}`, await faceApiWeights(model), [-1, s, s, 3], (ops, x) => ({ out: head(ops, x) }));
}

/** face-api's `tinyFaceDetector`: faces in a frame, in its pixels, best first. */
export class TinyDetector {
  /** One graph per input size (the grid's size is part of it). */
  private sessions = new Map<number, Promise<ort.InferenceSession>>();

  private constructor(
    private readonly weights: Weights,
    private readonly opts: FaceNetOptions,
  ) {}

  static async load(opts: FaceNetOptions = {}): Promise<TinyDetector> {
    return new TinyDetector(await TinyDetector.weights(), opts);
  }

  /** face-api's Tiny Face Detector weights (to build a graph with `tinyGraph`). */
  static weights(): Promise<Weights> {
    return faceApiWeights('tiny_face_detector_model');
  }

  async detect(frame: RgbImage, o: { inputSize: number; scoreThreshold: number }): Promise<TinyDetection[]> {
    const s = o.inputSize;
    if (!Number.isInteger(s) || s <= 0 || s % 32 !== 0)
      throw new Error(`Tiny Face Detector: inputSize must be a multiple of 32, got ${s}`);
    const input = toSquare(frame, { ...TINY_INPUT, size: s });
    const out = await runSession(await this.session(s), { data: input, shape: [1, s, s, 3] });
    const grid = out.grid!;
    return tinyFaces(grid.data, grid.shape[1]!, frame, o);
  }

  private session(size: number): Promise<ort.InferenceSession> {
    let s = this.sessions.get(size);
    if (!s) {
      s = createSession(tinyGraph(this.weights, size), { ...this.opts, ...FACE_SESSION });
      this.sessions.set(size, s);
    }
    return s;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

/** A FaceFeatureExtractor network on a batch of face crops: one run, one output row per crop. */
class FaceCropNet {
  protected constructor(private readonly session: ort.InferenceSession) {}

  protected static async build(model: string, head: typeof landmarkNet, opts: FaceNetOptions): Promise<ort.InferenceSession> {
    return createSession(await featureGraph(model, head), opts);
  }

  /** The network's output for all crops at once: (N, k), flat. */
  protected async run(crops: RgbImage[]): Promise<Float32Array> {
    if (!crops.length) return new Float32Array(0);
    const s = FEATURE_INPUT.size;
    return (await runSession(this.session, { data: cropBatch(crops), shape: [crops.length, s, s, 3] })).out!.data;
  }

  protected async rows(crops: RgbImage[]): Promise<Float32Array[]> {
    const out = await this.run(crops);
    const k = crops.length ? out.length / crops.length : 0;
    return crops.map((_, i) => out.slice(i * k, (i + 1) * k));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** face-api's `faceLandmark68Net`: 68 points per face crop, in that crop's pixels. */
export class LandmarkNet extends FaceCropNet {
  static async load(opts: FaceNetOptions = {}): Promise<LandmarkNet> {
    return new LandmarkNet(await createSession(await landmarkGraph(), { ...opts, ...FACE_SESSION }));
  }

  async landmarks(crops: RgbImage[]): Promise<{ x: number; y: number }[][]> {
    return cropLandmarks(await this.run(crops), crops);
  }
}

/** face-api's `faceExpressionNet`: 7 probabilities per face crop, in EXPRESSIONS order. */
export class ExpressionNet extends FaceCropNet {
  static readonly labels = EXPRESSIONS;

  static async load(opts: FaceNetOptions = {}): Promise<ExpressionNet> {
    return new ExpressionNet(await FaceCropNet.build('face_expression_model', expressionNet, opts));
  }

  expressions(crops: RgbImage[]): Promise<Float32Array[]> {
    return this.rows(crops);
  }
}
