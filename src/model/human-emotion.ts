/**
 * Human's (@vladmandic/human, MIT) expression model, `models/emotion.json`: oarriaga/
 * face_classification's mini-Xception on 64×64 grey faces, as a TensorFlow.js graph model translated
 * to Ops calls (tfjs-graph.ts), and fed as Human's gear/emotion.ts feeds it:
 *
 * - the face crop resized to the model's input with TensorFlow's legacy bilinear resize (done by the
 *   caller: crops come in their own sizes, the graph takes one);
 * - grey = 0.2989 R + 0.5870 G + 0.1140 B on 0..1 (Human's `constants.rgb`, MATLAB's rgb2gray);
 * - (grey − 0.5) · 2.
 *
 * The grey conversion and normalisation are in the graph, as one 3 → 1 dense layer on the resized
 * RGB 0..255 crop: Σ (2·w/255) · x − 1 is (Σ w · x/255 − 0.5) · 2.
 */
import type { Weights } from '../weights/weight-map.js';
import type { Ops } from './ops.js';
import { translateTfjsGraph, type TfjsGraphModel } from './tfjs-graph.js';

/** The model's output order (gear/emotion.ts' annotations for its grey models). */
export const HUMAN_EMOTION_CLASSES = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type HumanEmotionClass = (typeof HUMAN_EMOTION_CLASSES)[number];

/** Human's rgb → grey weights (src/tfjs/constants.ts). */
export const HUMAN_GREY = [0.2989, 0.587, 0.114] as const;

export interface HumanEmotionNet {
  /** The square input the crops are resized to (the graph's, 64). */
  inputSize: number;
  /** The graph's constants and the grey layer's, by the names `network` reads them. */
  weights: Weights;
  /** (N, S, S, 3) resized RGB 0..255 → (N, 7) probabilities, in HUMAN_EMOTION_CLASSES' order. */
  network<T>(ops: Ops<T>, rgb: T): { probabilities: T };
}

const GREY = 'human_emotion.grey';

export function humanEmotionNet(model: TfjsGraphModel, constants: Weights, label: string): HumanEmotionNet {
  const net = translateTfjsGraph(model, constants, label);
  const [, h, w, c] = net.input.shape as [number, number, number, number];
  // Human feeds its RGB models (AffectNet's) differently: only the grey one is known here.
  if (h !== w || c !== 1)
    throw new Error(`${label}: input [${net.input.shape.join(', ')}] is not Human's grey model's (S, S, 1)`);
  if (net.outputs.length !== 1) throw new Error(`${label}: ${net.outputs.length} outputs, Human's model has one`);
  const [output] = net.outputs as [string];
  const weights: Weights = new Map(net.weights);
  weights.set(`${GREY}.weight`, { shape: [3, 1], data: Float32Array.from(HUMAN_GREY, (g) => (2 * g) / 255) });
  weights.set(`${GREY}.bias`, { shape: [1], data: Float32Array.of(-1) });
  return {
    inputSize: h,
    weights,
    network(ops, rgb) {
      const probabilities = net.run(ops, ops.dense(rgb, GREY, 1))[output]!;
      const k = ops.shape(probabilities);
      if (k.length !== 2 || k[1] !== HUMAN_EMOTION_CLASSES.length)
        throw new Error(
          `${label}: outputs [${k.join(', ')}], not one probability per class of ${HUMAN_EMOTION_CLASSES.join(', ')}`,
        );
      return { probabilities };
    },
  };
}
