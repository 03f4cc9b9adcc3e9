/**
 * face-api's SSD MobileNetV1 face detector on ONNX Runtime: the network of model/face-ssd.ts with
 * face-api's own weights (shipped in its npm package), giving the faces face-api gives on
 * TensorFlow.js. The graph takes the photo padded to a square (zeros at the bottom or right, as
 * face-api pads it) and resizes and normalises it itself, so there is one graph per square size,
 * built on first use and kept (video: one).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DeviceChoice } from '../engine/device.js';
import { exportNetwork } from '../engine/onnx-export.js';
import { createSession, ort } from '../engine/ort-session.js';
import { decodeBoxes, ssdFaces, ssdMobilenetV1, ssdParams, SSD_ANCHORS, type SsdFace } from '../model/face-ssd.js';
import { readTfjsManifest } from '../weights/tfjs-weights.js';
import type { Weights } from '../weights/weight-map.js';

export type { SsdFace } from '../model/face-ssd.js';

/** H × W × 3 RGB bytes. */
export interface SsdFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface SsdLoadOptions {
  device?: DeviceChoice;
  threads?: number;
  /** The manifest (default: face-api's `ssd_mobilenetv1_model-weights_manifest.json`). */
  manifest?: string;
}

/** Where face-api's SSD weights are in its npm package. */
export function faceApiSsdManifest(): string {
  const main = createRequire(import.meta.url).resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
  return path.join(path.dirname(main), '..', 'model', 'ssd_mobilenetv1_model-weights_manifest.json');
}

export class SsdDetector {
  private sessions = new Map<number, Promise<ort.InferenceSession>>();

  private constructor(
    private readonly params: Weights,
    private readonly anchors: Float32Array,
    private readonly opts: SsdLoadOptions,
  ) {}

  static async load(opts: SsdLoadOptions = {}): Promise<SsdDetector> {
    const { params, anchors } = ssdParams(await readTfjsManifest(opts.manifest ?? faceApiSsdManifest()));
    return new SsdDetector(params, anchors, opts);
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
    if (width < 1 || height < 1 || data.length !== width * height * 3)
      throw new Error(`SSD face detection: expected ${width}×${height}×3 RGB bytes, got ${data.length}`);
    const side = Math.max(width, height);
    const session = await this.session(side);
    const out = await session.run({ images: new ort.Tensor('float32', padToSquare(frame), [1, side, side, 3]) });
    const encodings = out.encodings!.data as Float32Array;
    const scores = out.scores!.data as Float32Array;
    if (scores.length !== SSD_ANCHORS) throw new Error(`SSD face detection: ${scores.length} scores, expected ${SSD_ANCHORS}`);
    return { boxes: decodeBoxes(encodings, this.anchors), scores };
  }

  private session(side: number): Promise<ort.InferenceSession> {
    let s = this.sessions.get(side);
    if (!s) {
      const graph = exportNetwork('face_ssd', this.params, [-1, side, side, 3], (ops, images) => ssdMobilenetV1(ops, images), {
        inputSize: side,
      });
      s = createSession(graph, { device: this.opts.device, threads: this.opts.threads });
      this.sessions.set(side, s);
      s.catch(() => this.sessions.delete(side)); // a failed start is tried again next time
    }
    return s;
  }
}

/** The frame as float32, with zero rows or columns after it up to a square (face-api's padToSquare). */
function padToSquare({ data, width, height }: SsdFrame): Float32Array {
  const side = Math.max(width, height);
  const out = new Float32Array(side * side * 3);
  if (width === side) {
    out.set(data);
    return out;
  }
  for (let y = 0; y < height; y++) out.set(data.subarray(y * width * 3, (y + 1) * width * 3), y * side * 3);
  return out;
}
