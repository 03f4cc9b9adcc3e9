/**
 * The JavaScript toolkits' own expression models, evaluated by the same code and report as a
 * convcut model, so a user sees them side by side on their data (`convcut eval --baseline …`, then
 * `convcut compare`). Their models ship inside their npm packages; nothing is downloaded.
 *
 * - face-api (@vladmandic/face-api, MIT): FaceExpressionNet, a face crop → 7 expressions. Its class
 *   names are mapped to RAF-DB's: neutral, happy → happiness, sad → sadness, angry → anger,
 *   fearful → fear, disgusted → disgust, surprised → surprise (FERPlus' contempt has none).
 */
import type { NamedArray } from '../engine/ort-session.js';
import { RAFDB_CLASSES } from '../model/config.js';

export const BASELINES = ['face-api'] as const;
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

/** What evaluation needs of a model: classes, input size, a batch → logits, and disposal. */
export interface Scorer {
  classes: string[];
  config: { inputSize: number; head: { attention: string; hidden: number; temperature?: number } };
  run(batch: NamedArray): Promise<{ logits: NamedArray; embedding: NamedArray }>;
  dispose(): Promise<void>;
}

export async function loadBaseline(name: BaselineName): Promise<Scorer> {
  const { faceApiExpressions } = await import('../infer/faces.js');
  const { tf } = await import('../engine/tfjs-backend.js');
  const net = await faceApiExpressions();
  const classes = [...RAFDB_CLASSES];
  const k = classes.length;
  const inputSize = 112; // face-api resizes every face to 112×112 itself
  return {
    classes,
    config: { inputSize, head: { attention: `none (${name} FaceExpressionNet)`, hidden: k } },
    async run(batch) {
      const [n, h, w] = batch.shape as [number, number, number];
      const probs = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        const img = tf.tensor3d(batch.data.subarray(i * h * w * 3, (i + 1) * h * w * 3), [h, w, 3]);
        const p = await net.predictExpressions(img);
        img.dispose();
        for (const [theirs, ours] of Object.entries(FACE_API_CLASSES)) probs[i * k + classes.indexOf(ours)] = p[theirs] ?? 0;
      }
      // log-probabilities: their softmax is the model's own probabilities; the embedding is them too.
      const logits = probs.map((p) => Math.log(Math.max(p, 1e-12)));
      return { logits: { data: logits, shape: [n, k] }, embedding: { data: probs, shape: [n, k] } };
    },
    async dispose() {},
  };
}
