/**
 * The JavaScript toolkits' own expression models, evaluated by the same code and report as a
 * convcut model, so a user sees them side by side on their data (`convcut eval --baseline …`, then
 * `convcut compare`). Their models ship inside their npm packages; nothing is downloaded.
 *
 * - face-api (@vladmandic/face-api, MIT): FaceExpressionNet, a face crop → 7 expressions. Its class
 *   names are mapped to RAF-DB's: neutral, happy → happiness, sad → sadness, angry → anger,
 *   fearful → fear, disgusted → disgust, surprised → surprise (FERPlus' contempt has none).
 * - human (@vladmandic/human, MIT): its `models/emotion.json`, oarriaga/face_classification's
 *   grayscale expression CNN, fed as Human's gear/emotion.ts feeds it (the crop resized to its input,
 *   grey = 0.2989 R + 0.5870 G + 0.1140 B on 0..1, then (grey − 0.5) · 2); its labels angry, disgust,
 *   fear, happy, sad, surprise, neutral map like face-api's.
 * Both get convcut's aligned face crops (data set crops, or faces convcut's face pipeline found),
 * not their own detectors' crops.
 */
import type { NamedArray } from '../engine/ort-session.js';
import { RAFDB_CLASSES } from '../model/config.js';

export const BASELINES = ['face-api', 'human'] as const;
export type BaselineName = (typeof BASELINES)[number];

/** face-api's FACE_EXPRESSION_LABELS → convcut's (RAF-DB's) class names. */
export const FACE_API_CLASSES: Record<string, string> = {
  neutral: 'neutral',
  happy: 'happiness',
  sad: 'sadness',
  angry: 'anger',
  fearful: 'fear',
  disgusted: 'disgust',
  surprised: 'surprise',
};

/** Human's grayscale emotion model's output order (gear/emotion.ts) → convcut's class names. */
export const HUMAN_CLASSES: [string, string][] = [
  ['angry', 'anger'],
  ['disgust', 'disgust'],
  ['fear', 'fear'],
  ['happy', 'happiness'],
  ['sad', 'sadness'],
  ['surprise', 'surprise'],
  ['neutral', 'neutral'],
];

/** What evaluation needs of a model: classes, input size, a batch → logits, and disposal. */
export interface Scorer {
  classes: string[];
  config: { inputSize: number; head: { attention: string; hidden: number; temperature?: number } };
  run(batch: NamedArray): Promise<{ logits: NamedArray; embedding: NamedArray }>;
  dispose(): Promise<void>;
}

export async function loadBaseline(name: BaselineName): Promise<Scorer> {
  const classes = [...RAFDB_CLASSES];
  const k = classes.length;
  const predict = name === 'face-api' ? await faceApiPredictor(classes) : await humanPredictor(classes);
  return {
    classes,
    config: { inputSize: 112, head: { attention: `none (${name}'s own model)`, hidden: k } },
    async run(batch) {
      const probs = await predict(batch);
      // log-probabilities: their softmax is the model's own probabilities; the embedding is them too.
      const logits = probs.map((p) => Math.log(Math.max(p, 1e-12)));
      return { logits: { data: logits, shape: [batch.shape[0]!, k] }, embedding: { data: probs, shape: [batch.shape[0]!, k] } };
    },
    async dispose() {},
  };
}

type Predictor = (batch: NamedArray) => Promise<Float32Array>;

/** face-api's expression net as an ONNX Runtime graph (infer/face-nets.ts: its own probabilities within 1e-4). */
async function faceApiPredictor(classes: string[]): Promise<Predictor> {
  const { ExpressionNet } = await import('../infer/face-nets.js');
  const net = await ExpressionNet.load(); // it pads and resizes each face to 112×112 as face-api does
  return async (batch) => {
    const probs = new Float32Array(batch.shape[0]! * classes.length);
    (await net.expressions(crops(batch))).forEach((p, i) =>
      ExpressionNet.labels.forEach(
        (theirs, j) => (probs[i * classes.length + classes.indexOf(FACE_API_CLASSES[theirs]!)] = p[j]!),
      ),
    );
    return probs;
  };
}

/** A batch (N × H × W × 3, 0..255 floats) as byte crops. */
function crops(batch: NamedArray): { data: Uint8Array; width: number; height: number }[] {
  const [n, h, w] = batch.shape as [number, number, number];
  const size = h * w * 3;
  return Array.from({ length: n }, (_, i) => ({
    data: Uint8Array.from(batch.data.subarray(i * size, (i + 1) * size), (v) => Math.round(v)),
    width: w,
    height: h,
  }));
}

/** Human's model as an ONNX Runtime graph (infer/human-emotion.ts: its own probabilities within 1e-4). */
async function humanPredictor(classes: string[]): Promise<Predictor> {
  const { HumanEmotion } = await import('../infer/human-emotion.js');
  const net = await HumanEmotion.load();
  return async (batch) => {
    const probs = new Float32Array(batch.shape[0]! * classes.length);
    (await net.predict(crops(batch))).forEach((p, i) =>
      HUMAN_CLASSES.forEach(([, ours], j) => (probs[i * classes.length + classes.indexOf(ours)] = p[j]!)),
    );
    return probs;
  };
}
