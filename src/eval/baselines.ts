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
import type * as tfTypes from '@tensorflow/tfjs';
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

async function faceApiPredictor(classes: string[]): Promise<Predictor> {
  const { faceApiExpressions } = await import('../infer/faces.js');
  const { tf } = await import('../engine/tfjs-backend.js');
  const net = await faceApiExpressions(); // it resizes each face to 112×112 itself
  return async (batch) => {
    const [n, h, w] = batch.shape as [number, number, number];
    const probs = new Float32Array(n * classes.length);
    for (let i = 0; i < n; i++) {
      const img = tf.tensor3d(batch.data.subarray(i * h * w * 3, (i + 1) * h * w * 3), [h, w, 3]);
      const p = await net.predictExpressions(img);
      img.dispose();
      for (const [theirs, ours] of Object.entries(FACE_API_CLASSES))
        probs[i * classes.length + classes.indexOf(ours)] = p[theirs] ?? 0;
    }
    return probs;
  };
}

async function humanPredictor(classes: string[]): Promise<Predictor> {
  const { createRequire } = await import('node:module');
  const { promises: fs } = await import('node:fs');
  const path = await import('node:path');
  const { initTf, tf } = await import('../engine/tfjs-backend.js');
  await initTf('wasm');
  // Resolved, never loaded: Human's own entry would pull in tfjs-node; only its model files are used.
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
  const json = JSON.parse(await fs.readFile(path.join(dir, 'emotion.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
  };
  const bins = await Promise.all(json.weightsManifest.flatMap((m) => m.paths).map((p) => fs.readFile(path.join(dir, p))));
  const weightData = Buffer.concat(bins);
  const model = await tf.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((m) => m.weights),
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    }),
  });
  const size = model.inputs[0]!.shape![2]!;
  return async (batch) => {
    const [n, h, w] = batch.shape as [number, number, number];
    const out = tf.tidy(() => {
      const x = tf.image.resizeBilinear(tf.tensor4d(batch.data, [n, h, w, 3]).div(255) as tfTypes.Tensor4D, [size, size], false);
      const grey = tf.sum(tf.mul(x, tf.tensor1d([0.2989, 0.587, 0.114])), 3, true);
      return model.execute(tf.mul(tf.sub(grey, 0.5), 2)) as tfTypes.Tensor;
    });
    const p = (await out.data()) as Float32Array;
    out.dispose();
    const probs = new Float32Array(n * classes.length);
    for (let i = 0; i < n; i++)
      HUMAN_CLASSES.forEach(
        ([, ours], j) => (probs[i * classes.length + classes.indexOf(ours)] = p[i * HUMAN_CLASSES.length + j]!),
      );
    return probs;
  };
}
