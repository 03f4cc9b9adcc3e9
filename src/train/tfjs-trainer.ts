/**
 * Gradient steps on TensorFlow.js for the trainable part of Conv-cut: the head, optionally with the
 * last backbone units (fine-tuning). Inputs are the activations where the trainable part begins:
 * cut features when the backbone is frozen (computed once by ONNX Runtime and cached), or the
 * output of the frozen backbone prefix when fine-tuning.
 *
 * Optimiser as the reference: Keras' Adam (β1 0.9, β2 0.999, ε 1e-7, its defaults) with the
 * gradient's global norm clipped at 3.0 (adam.ts); softmax cross-entropy, with optional per-class weights (Keras
 * `class_weight`: each sample's loss times its class weight, averaged over the batch).
 */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone, convcutHead } from '../model/convcut.js';
import { runUnits, type BackboneUnit } from '../model/convnext.js';
import { tf } from '../engine/tfjs-backend.js';
import { TfjsOps, TfjsParams, type TapsInput } from '../engine/tfjs-ops.js';
import { tapsGeometry, type TapsGeometry } from '../engine/detail-taps.js';
import { DETAIL_FIRST_PATCH } from '../model/detail.js';
import type { Weights } from '../weights/weight-map.js';
import { KerasAdam } from './adam.js';

export interface TrainerOptions {
  /** How many backbone units (blocks, counting a partial cut block as one) to train. 0 = frozen. */
  trainableBackboneUnits?: number;
  learningRate?: number;
  clipNorm?: number;
  seed?: number;
  /** Per-class loss weights (length = classes), e.g. balanced weights in the reference phase 1. */
  classWeights?: number[];
}

export interface StepResult {
  loss: number;
  /** Correct top-1 predictions in the batch. */
  correct: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export class TfjsTrainer {
  readonly params: TfjsParams;
  readonly trainableUnits: BackboneUnit[];
  readonly optimizer: KerasAdam;
  private readonly classWeights?: tf.Tensor1D;
  readonly clipNorm: number;
  private readonly seed: number;
  private steps = 0;

  constructor(
    readonly config: ConvCutConfig,
    weights: Weights,
    opts: TrainerOptions = {},
  ) {
    const units = convcutBackbone(config);
    const n = opts.trainableBackboneUnits ?? 0;
    if (n < 0 || n > units.length - 1) throw new Error(`trainable backbone units must be 0..${units.length - 1}, got ${n}`);
    this.trainableUnits = n === 0 ? [] : units.slice(units.length - n);
    const prefixes = this.trainableUnits.map((u) => u.prefix);
    // Only the trainable part (head + trainable units) becomes variables; the frozen prefix runs elsewhere.
    const used = new Map([...weights].filter(([name]) => !isBackbone(name, units) || prefixes.some((p) => name.startsWith(p))));
    this.params = new TfjsParams(used);
    this.seed = opts.seed ?? 0;
    this.clipNorm = opts.clipNorm ?? 3.0;
    const trainable = new Map([...this.params.vars].filter(([, v]) => v.trainable));
    this.optimizer = new KerasAdam(trainable, opts.learningRate ?? 1e-3, this.clipNorm);
    if (opts.classWeights) this.classWeights = tf.tensor1d(opts.classWeights);
  }

  /** Logits of the trainable part (training or inference semantics). */
  forward(ops: TfjsOps, input: tf.Tensor): { logits: tf.Tensor; embedding: tf.Tensor } {
    const features = runUnits(ops, input, this.trainableUnits);
    return convcutHead(ops, features, this.config);
  }

  /**
   * Where `step` can take its input as Detail Extraction taps (engine/detail-taps.ts) instead of
   * NHWC features: the Detail Extraction Block reads the input directly (no trainable backbone
   * units before it). Undefined where it cannot.
   */
  tapsGeometry(featureShape: number[]): TapsGeometry | undefined {
    if (!this.config.head.detailBlock || this.trainableUnits.length) return undefined;
    return tapsGeometry(featureShape, DETAIL_FIRST_PATCH.kernel, DETAIL_FIRST_PATCH.padding);
  }

  setLearningRate(lr: number): void {
    this.optimizer.learningRate = lr;
  }
  get learningRate(): number {
    return this.optimizer.learningRate;
  }

  /**
   * One optimisation step on a batch. `labels`: class indices, or soft targets (N × classes).
   * `seed` drives this step's dropout masks; runs derive it from (run seed, phase, epoch, step) so
   * a resumed run draws the same masks as an unbroken one.
   */
  step(input: tf.Tensor | TapsInput, labels: Int32Array | Float32Array[], seed = this.seed + this.steps++): StepResult {
    const classes = this.config.head.classes.length;
    const taps = input instanceof tf.Tensor ? undefined : input;
    const x = taps ? taps.taps : (input as tf.Tensor);
    const ops = new TfjsOps(this.params, true, seed, taps, x);
    const res = tf.tidy(() => {
      const targets = Array.isArray(labels)
        ? tf.tensor2d(labels.map((r) => Array.from(r)))
        : tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat();
      let logits: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        // variableGrads disposes what f creates; keep the logits for the accuracy count.
        logits = tf.keep(this.forward(ops, x).logits);
        const perSample = tf.losses.softmaxCrossEntropy(targets, logits, undefined, undefined, tf.Reduction.NONE);
        const w = this.classWeights ? tf.sum(tf.mul(targets, this.classWeights), 1) : tf.onesLike(perSample);
        return tf.mean(tf.mul(perSample, w)) as tf.Scalar;
      }, this.params.trainable());
      const gradNorm = this.optimizer.apply(grads);
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(targets, 1)), 'int32'));
      tf.dispose(logits);
      return { loss: value.dataSync()[0]!, correct: correct.dataSync()[0]!, gradNorm };
    });
    ops.applyPendingUpdates();
    return res;
  }

  /** Inference-mode logits and embeddings (dropout off, BatchNorm moving statistics). */
  predict(input: tf.Tensor): { logits: Float32Array; embedding: Float32Array } {
    return tf.tidy(() => {
      const out = this.forward(new TfjsOps(this.params, false), input);
      return { logits: out.logits.dataSync() as Float32Array, embedding: out.embedding.dataSync() as Float32Array };
    });
  }

  /** Adam's state as a weight map (saved with resumable runs). */
  async optimizerState(): Promise<Weights> {
    return this.optimizer.state();
  }

  async setOptimizerState(state: Weights): Promise<void> {
    this.optimizer.setState(state);
  }

  dispose(): void {
    this.params.dispose();
    this.optimizer.dispose();
    this.classWeights?.dispose();
  }
}

function isBackbone(name: string, units: BackboneUnit[]): boolean {
  return units.some((u) => u.prefix && name.startsWith(u.prefix));
}
