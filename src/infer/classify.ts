/**
 * Post-processing, the one place logits become a prediction: softmax, then the top classes. Plain
 * TypeScript without Node or DOM dependencies, so the CLI, the library, the server and the browser
 * page all use it.
 */
import { DEFAULTS } from '../defaults.js';

export interface Prediction {
  label: string;
  score: number;
  /** The `topK` most probable classes, most probable first. */
  top: { label: string; score: number }[];
  /** Every class's probability, in `classes` order. */
  probabilities: number[];
}

/**
 * Row-wise softmax of an N × classes logits matrix at `temperature` (max-shifted, so large logits do
 * not overflow).
 */
export function softmaxRows(logits: Float32Array, classes: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp((logits[r * classes + c]! - max) / temperature);
    for (let c = 0; c < classes; c++) out[r * classes + c]! /= sum;
  }
  return out;
}

/** One image's class probabilities → its prediction. */
export function classify(probabilities: ArrayLike<number>, classes: string[], topK: number = DEFAULTS.topK): Prediction {
  const p = Array.from(probabilities);
  const top = p
    .map((score, c) => ({ label: classes[c]!, score }))
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(1, Math.min(topK, classes.length)));
  return { label: top[0]!.label, score: top[0]!.score, top, probabilities: p };
}

/** Every row of an N × classes logits matrix → its prediction. */
export function classifyLogits(
  logits: Float32Array,
  classes: string[],
  topK: number = DEFAULTS.topK,
  temperature = 1,
): Prediction[] {
  const k = classes.length;
  const probs = softmaxRows(logits, k, temperature);
  return Array.from({ length: logits.length / k }, (_, r) => classify(probs.subarray(r * k, (r + 1) * k), classes, topK));
}
