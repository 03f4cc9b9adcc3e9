/**
 * face-api's SSD MobileNetV1 face detector on ONNX Runtime: the network of model/face-ssd.ts with
 * face-api's own weights (shipped in its npm package), giving the faces face-api gives on
 * TensorFlow.js. The photo is padded to a square and resized to 512 × 512 in TypeScript
 * (`ssdPixels`, face-pre.ts; see ssdGraph for why not in the graph); the graph normalises it.
 * Boxes are decoded and suppressed in TypeScript (ONNX Runtime's WebGPU provider has no
 * NonMaxSuppression), by model/face-ssd.ts, which the web page runs on the same graph (`ssdGraph`).
 */
import path from 'node:path';
import type { DeviceChoice } from '../engine/device.js';
import { exportNetwork } from '../engine/onnx-export.js';
import { createSession, ort } from '../engine/ort-session.js';
import { decodeBoxes, ssdFaces, ssdMobilenetV1, ssdParams, SSD_ANCHORS, SSD_SIZE, type SsdFace } from '../model/face-ssd.js';
import { faceApiModelDir } from './face-nets.js';
import { FACE_SESSION, ssdPixels } from './face-pre.js';
import { readTfjsManifest } from '../weights/tfjs-weights.js';
import type { RgbImage } from './face-pre.js';

export type { SsdFace } from '../model/face-ssd.js';

/** H × W × 3 RGB bytes. */
export type SsdFrame = RgbImage;

export interface SsdLoadOptions {
  device?: DeviceChoice;
  threads?: number;
  /** The manifest (default: face-api's `ssd_mobilenetv1_model-weights_manifest.json`). */
  manifest?: string;
}

/** Where face-api's SSD weights are in its npm package. */
export function faceApiSsdManifest(): string {
  return path.join(faceApiModelDir(), 'ssd_mobilenetv1_model-weights_manifest.json');
}

/**
 * The SSD as an ONNX graph (input `images`: 512 × 512, the photo padded to a square and resized by
 * `ssdPixels`; outputs `encodings` and `scores`) and the anchors its encodings are decoded against;
 * the web page gets both too. The resize is not in the graph: ONNX Runtime's WebGPU provider
 * resizes differently from its CPU one (scores off by up to 0.93 on Grace Hopper at 600 px), and
 * in TypeScript the padded square is never built (a 1920-px photo would be 44 MB of it).
 */
export async function ssdGraph(manifest = faceApiSsdManifest()): Promise<{ graph: Uint8Array; anchors: Float32Array }> {
  const { params, anchors } = ssdParams(await readTfjsManifest(manifest));
  const graph = exportNetwork('face_ssd', params, [-1, SSD_SIZE, SSD_SIZE, 3], (ops, images) => ssdMobilenetV1(ops, images));
  return { graph, anchors };
}

export class SsdDetector {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly anchors: Float32Array,
  ) {}

  static async load(opts: SsdLoadOptions = {}): Promise<SsdDetector> {
    const { graph, anchors } = await ssdGraph(opts.manifest);
    return new SsdDetector(await createSession(graph, { device: opts.device, threads: opts.threads, ...FACE_SESSION }), anchors);
  }

  /** The faces in `frame`, in its pixels, best first (face-api's `detectAllFaces` with SSD). */
  async detect(frame: SsdFrame, o: { minConfidence: number; maxResults: number }): Promise<SsdFace[]> {
    const { boxes, scores } = await this.raw(frame);
    return ssdFaces(boxes, scores, frame.width, frame.height, o);
  }

  /**
   * All 5118 boxes ([y1, x1, y2, x2] in the padded square's 0..1 units) and face scores before NMS:
   * what face-api's `ssdMobilenetv1.forward` returns.
   */
  async raw(frame: SsdFrame): Promise<{ boxes: Float32Array; scores: Float32Array }> {
    const { data, width, height } = frame;
    if (!(width >= 1 && height >= 1) || data.length !== width * height * 3)
      throw new Error(`SSD face detection: expected ${width}×${height}×3 RGB bytes, got ${data.length}`);
    const out = await this.session.run({ images: new ort.Tensor('float32', ssdPixels(frame), [1, SSD_SIZE, SSD_SIZE, 3]) });
    const scores = out.scores!.data as Float32Array;
    if (scores.length !== SSD_ANCHORS) throw new Error(`SSD face detection: ${scores.length} scores, expected ${SSD_ANCHORS}`);
    return { boxes: decodeBoxes(out.encodings!.data as Float32Array, this.anchors), scores };
  }
}
