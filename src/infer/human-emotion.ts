/**
 * Human's expression model (src/model/human-emotion.ts) on ONNX Runtime: its TensorFlow.js graph
 * and weights, read from the @vladmandic/human package, recorded as an ONNX graph by convcut's own
 * exporter, and fed face crops as Human feeds them. Its probabilities are Human's own on
 * TensorFlow.js within 1e-4 (test/human-emotion.test.ts).
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { exportNetwork } from '../engine/onnx-export.js';
import { createSession, ort, runSession, type SessionOptions } from '../engine/ort-session.js';
import { HUMAN_EMOTION_CLASSES, humanEmotionNet } from '../model/human-emotion.js';
import type { TfjsGraphModel } from '../model/tfjs-graph.js';
import { readTfjsGroups } from '../weights/tfjs-weights.js';
import { resizeTf, type RgbImage } from './face-pre.js';

export { HUMAN_EMOTION_CLASSES };

/** A face crop: RGB, row-major (height, width, 3), 0..255. */
export type RgbCrop = RgbImage;

export class HumanEmotion {
  readonly classes = HUMAN_EMOTION_CLASSES;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputSize: number,
  ) {}

  /** The model in Human's package (`models/emotion.json`), as an ONNX Runtime session. */
  static async load(opts: SessionOptions = {}): Promise<HumanEmotion> {
    // Resolved, never loaded: Human's own entry would pull in tfjs-node; only its model files are used.
    const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
    const file = path.join(dir, 'emotion.json');
    const model = JSON.parse(await fs.readFile(file, 'utf8')) as TfjsGraphModel;
    const net = humanEmotionNet(model, await readTfjsGroups(model.weightsManifest, dir, file), file);
    const s = net.inputSize;
    const onnx = exportNetwork('human_emotion', net.weights, [-1, s, s, 3], (ops, x) => net.network(ops, x), {
      source: '@vladmandic/human models/emotion.json',
      classes: HUMAN_EMOTION_CLASSES,
    });
    return new HumanEmotion(await createSession(onnx, opts), s);
  }

  /** Each crop's probabilities, in HUMAN_EMOTION_CLASSES' order; all crops in one run. */
  async predict(crops: RgbCrop[]): Promise<Float32Array[]> {
    if (!crops.length) return [];
    const s = this.inputSize;
    const batch = new Float32Array(crops.length * s * s * 3);
    crops.forEach((c, i) => batch.set(resizeTf(checkCrop(c), s), i * s * s * 3)); // as Human resizes a crop
    const out = (await runSession(this.session, { data: batch, shape: [crops.length, s, s, 3] })).probabilities!;
    const k = HUMAN_EMOTION_CLASSES.length;
    return crops.map((_, i) => out.data.slice(i * k, (i + 1) * k));
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function checkCrop(crop: RgbCrop): RgbCrop {
  const { data, width: w, height: h } = crop;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || data.length !== w * h * 3)
    throw new Error(`a face crop of ${w}×${h} RGB needs ${w * h * 3} bytes, got ${data.length}`);
  return crop;
}
