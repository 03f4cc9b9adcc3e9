/**
 * face-api's Tiny Face Detector, 68-point landmark net and expression net on ONNX Runtime: the
 * networks of src/model/face-tiny.ts and face-features.ts, with face-api's own weights (they ship in
 * the npm package), exported to ONNX graphs here and run like convcut's own model. They give what
 * face-api gives on TensorFlow.js (test/face-nets.test.ts).
 *
 * Inputs are RGB pixels (H × W × 3, 0..255). Each image is made square and resized here, in
 * JavaScript, as face-api's NetInput does it (zeros after or around it, then TensorFlow's legacy
 * bilinear resize), so that face crops of any sizes go through the network as one batch.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { createSession, runSession, type ort } from '../engine/ort-session.js';
import { exportNetwork } from '../engine/onnx-export.js';
import {
  EXPRESSIONS,
  expressionNet,
  FEATURE_INPUT,
  landmarkNet,
  landmarksInCrop,
  mapFaceApiWeights,
  type SquareInput,
} from '../model/face-features.js';
import { decodeTinyBoxes, TINY_INPUT, tinyFaceNet } from '../model/face-tiny.js';
import { readTfjsManifest } from '../weights/tfjs-weights.js';
import type { Weights } from '../weights/weight-map.js';

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface FaceNetOptions {
  device?: 'cpu' | 'webgpu';
  threads?: number;
}

export interface TinyDetection {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

/** Where face-api's weight files are (the package's `model/`). */
export function faceApiModelDir(): string {
  const main = createRequire(import.meta.url).resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
  return path.join(path.dirname(main), '..', 'model');
}

async function faceApiWeights(model: string): Promise<Weights> {
  return mapFaceApiWeights(await readTfjsManifest(path.join(faceApiModelDir(), `${model}-weights_manifest.json`)));
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
    return new TinyDetector(await faceApiWeights('tiny_face_detector_model'), opts);
  }

  async detect(frame: RgbImage, o: { inputSize: number; scoreThreshold: number }): Promise<TinyDetection[]> {
    const s = o.inputSize;
    if (!Number.isInteger(s) || s <= 0 || s % 32 !== 0)
      throw new Error(`Tiny Face Detector: inputSize must be a multiple of 32, got ${s}`);
    const input = toSquare(frame, { ...TINY_INPUT, size: s });
    const out = await runSession(await this.session(s), { data: input, shape: [1, s, s, 3] });
    const grid = out.grid!;
    return decodeTinyBoxes(grid.data, grid.shape[1]!, frame, o).map((b) => ({
      x: b.x * frame.width,
      y: b.y * frame.height,
      width: b.width * frame.width,
      height: b.height * frame.height,
      score: b.score,
    }));
  }

  private session(size: number): Promise<ort.InferenceSession> {
    let s = this.sessions.get(size);
    if (!s) {
      const graph = exportNetwork('face_tiny', this.weights, [-1, size, size, 3], (ops, x) => ({ grid: tinyFaceNet(ops, x) }));
      s = createSession(graph, this.opts);
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
    const s = FEATURE_INPUT.size;
    const graph = exportNetwork(`face_${model}`, await faceApiWeights(model), [-1, s, s, 3], (ops, x) => ({ out: head(ops, x) }));
    return createSession(graph, opts);
  }

  protected async rows(crops: RgbImage[]): Promise<Float32Array[]> {
    if (!crops.length) return [];
    const s = FEATURE_INPUT.size;
    const batch = new Float32Array(crops.length * s * s * 3);
    crops.forEach((c, i) => batch.set(toSquare(c, FEATURE_INPUT), i * s * s * 3));
    const out = (await runSession(this.session, { data: batch, shape: [crops.length, s, s, 3] })).out!;
    const k = out.shape[1]!;
    return crops.map((_, i) => out.data.slice(i * k, (i + 1) * k));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** face-api's `faceLandmark68Net`: 68 points per face crop, in that crop's pixels. */
export class LandmarkNet extends FaceCropNet {
  static async load(opts: FaceNetOptions = {}): Promise<LandmarkNet> {
    return new LandmarkNet(await FaceCropNet.build('face_landmark_68_model', landmarkNet, opts));
  }

  async landmarks(crops: RgbImage[]): Promise<{ x: number; y: number }[][]> {
    return (await this.rows(crops)).map((r, i) => landmarksInCrop(r, crops[i]!.width, crops[i]!.height));
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

/**
 * An image made square with zeros and resized to `size`×`size` as face-api's NetInput.toBatchTensor
 * does (ops/padToSquare.ts, then tf.image.resizeBilinear without align corners or half-pixel
 * centres: source = output · (in / out)), float32 0..255. The padded square is never built: pixels
 * outside the image read as 0.
 */
export function toSquare(img: RgbImage, o: Pick<SquareInput, 'size' | 'centred'>): Float32Array {
  const { width: w, height: h, data } = img;
  if (w < 1 || h < 1) throw new Error(`a face network's input must have pixels, got ${w}×${h}`);
  if (data.length !== w * h * 3) throw new Error(`a ${w}×${h} RGB image has ${w * h * 3} bytes, got ${data.length}`);
  const side = Math.max(w, h);
  // padToSquare: Math.round(diff / 2) zeros after the image, the rest before it.
  const before = (diff: number) => (o.centred ? diff - Math.round(diff * 0.5) : 0);
  const xs = axisSamples(o.size, side, before(side - w), w, 3);
  const ys = axisSamples(o.size, side, before(side - h), h, 3 * w);
  const out = new Float32Array(o.size * o.size * 3);
  let k = 0;
  for (const y of ys)
    for (const x of xs) {
      // Byte offsets of the four red values, −1 in the padding (zeros).
      const tl = y.lo < 0 || x.lo < 0 ? -1 : y.lo + x.lo;
      const tr = y.lo < 0 || x.hi < 0 ? -1 : y.lo + x.hi;
      const bl = y.hi < 0 || x.lo < 0 ? -1 : y.hi + x.lo;
      const br = y.hi < 0 || x.hi < 0 ? -1 : y.hi + x.hi;
      for (let c = 0; c < 3; c++, k++) {
        const a = tl < 0 ? 0 : data[tl + c]!;
        const b = tr < 0 ? 0 : data[tr + c]!;
        const d = bl < 0 ? 0 : data[bl + c]!;
        const e = br < 0 ? 0 : data[br + c]!;
        const top = a + (b - a) * x.t;
        const bottom = d + (e - d) * x.t;
        out[k] = top + (bottom - top) * y.t;
      }
    }
  return out;
}

/**
 * TensorFlow's legacy bilinear sampling along one axis of the padded square (`side` cells, the image's
 * `n` starting at `offset`): for each output cell the two source cells as offsets into the pixel
 * data (`stride` per cell; −1 in the padding) and the weight of the second.
 */
function axisSamples(
  size: number,
  side: number,
  offset: number,
  n: number,
  stride: number,
): { lo: number; hi: number; t: number }[] {
  const scale = side / size;
  const at = (i: number) => (i - offset >= 0 && i - offset < n ? (i - offset) * stride : -1);
  return Array.from({ length: size }, (_, i) => {
    const src = i * scale;
    const lo = Math.floor(src);
    return { lo: at(lo), hi: at(Math.min(lo + 1, side - 1)), t: src - lo };
  });
}
