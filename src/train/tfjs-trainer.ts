/**
 * Gradient steps on TensorFlow.js for the trainable part of Conv-cut: the head, optionally with the
 * last backbone units (fine-tuning). Inputs are the activations where the trainable part begins:
 * cut features when the backbone is frozen (computed once by ONNX Runtime and cached), or the
 * output of the frozen backbone prefix when fine-tuning.
 *
 * Optimiser as the reference: Adam (β1 0.9, β2 0.999, ε 1e-7, Keras' defaults) with the gradient's
 * global norm clipped at 3.0; softmax cross-entropy, with optional per-class weights (Keras
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

/** Keras `global_clipnorm`: scale all gradients by min(1, max / ‖g‖) where ‖g‖ is their joint L2 norm. */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, max: number): { clipped: tf.NamedTensorMap; norm: tf.Scalar } {
  const names = Object.keys(grads);
  const norm = tf.sqrt(tf.addN(names.map((k) => tf.sum(tf.square(grads[k]!))))) as tf.Scalar;
  const factor = tf.div(max, tf.maximum(norm, max));
  const clipped: tf.NamedTensorMap = {};
  for (const k of names) clipped[k] = tf.mul(grads[k]!, factor);
  return { clipped, norm };
}

export class TfjsTrainer {
  readonly params: TfjsParams;
  readonly trainableUnits: BackboneUnit[];
  readonly optimizer: tf.AdamOptimizer;
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
    this.optimizer = tf.train.adam(opts.learningRate ?? 1e-3, 0.9, 0.999, 1e-7);
    this.clipNorm = opts.clipNorm ?? 3.0;
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
    // tfjs' Adam keeps its learning rate in a protected field; Keras schedules set it per epoch.
    (this.optimizer as unknown as { learningRate: number }).learningRate = lr;
  }
  get learningRate(): number {
    return (this.optimizer as unknown as { learningRate: number }).learningRate;
  }

  /**
   * One optimisation step on a batch. `labels`: class indices, or soft targets (N × classes).
   * `seed` drives this step's dropout masks; runs derive it from (run seed, phase, epoch, step) so
   * a resumed run draws the same masks as an unbroken one.
   */
  step(input: tf.Tensor | TapsInput, labels: Int32Array | Float32Array[], seed = this.seed + this.steps++): StepResult {
    const classes = this.config.head.classes.length;
    const taps = input instanceof tf.Tensor ? undefined : input;
    const ops = new TfjsOps(this.params, true, seed, taps);
    const x = taps ? taps.taps : (input as tf.Tensor);
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
      const { clipped, norm } = clipByGlobalNorm(grads, this.clipNorm);
      this.optimizer.applyGradients(Object.entries(clipped).map(([name, tensor]) => ({ name, tensor })));
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), tf.argMax(targets, 1)), 'int32'));
      tf.dispose(logits);
      return { loss: value.dataSync()[0]!, correct: correct.dataSync()[0]!, gradNorm: norm.dataSync()[0]! };
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

  /**
   * Adam's state as a weight map: step count, first and second moments (slot order), and the
   * running β powers. tfjs' setWeights recomputes those powers with pow(), which differs in the last
   * bits from the running product the steps used; restoring them exactly keeps a resumed run
   * bit-identical to an unbroken one.
   */
  async optimizerState(): Promise<Weights> {
    const out: Weights = new Map();
    (await this.optimizer.getWeights()).forEach((w, i) =>
      out.set(String(i).padStart(5, '0'), { shape: [...w.tensor.shape], data: w.tensor.dataSync() as Float32Array }),
    );
    for (const k of ['accBeta1', 'accBeta2'] as const)
      out.set(k, { shape: [], data: this.betaPower(k).dataSync() as Float32Array });
    return out;
  }

  async setOptimizerState(state: Weights): Promise<void> {
    const keys = [...state.keys()].filter((k) => /^\d+$/.test(k)).sort();
    await this.optimizer.setWeights(
      keys.map((k, i) => ({ name: i === 0 ? 'iter' : k, tensor: tf.tensor(state.get(k)!.data, state.get(k)!.shape) })),
    );
    for (const k of ['accBeta1', 'accBeta2'] as const) {
      const v = state.get(k);
      if (v) this.betaPower(k).assign(tf.scalar(v.data[0]!));
    }
  }

  private betaPower(k: 'accBeta1' | 'accBeta2'): tf.Variable {
    return (this.optimizer as unknown as Record<string, tf.Variable>)[k]!;
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
