/**
 * The training-step graph: the trainable part of Conv-cut (the last backbone units, if any, and the
 * head), its softmax cross-entropy loss, every gradient (onnx-graph.ts's tape, replayed over the one
 * model definition) and Keras' Adam with global-norm clipping — one ONNX model that ONNX Runtime
 * runs once per step.
 *
 * Inputs: `input` (the batch: cached features, or images), `targets` (N × classes: one-hot or soft),
 * `class_weights` (classes), `step_size` (Adam's bias-corrected learning rate), the dropout masks
 * (`dropout.<k>`), and the state: every trainable parameter under its own name, its Adam moments
 * `m/<name>` and `v/<name>`, and the BatchNorm running statistics.
 * Outputs: `loss`, `correct` (top-1 hits against the targets' argmax), `grad_norm` (before
 * clipping), and the new state under `new/<input name>`; with `exposeGrads`, `grad/<name>` too.
 */
import type { ConvCutConfig } from '../model/config.js';
import { convcutBackbone, convcutHead } from '../model/convcut.js';
import { runUnits, type BackboneUnit } from '../model/convnext.js';
import type { Weights } from '../weights/weight-map.js';
import { adamUpdate, type AdamSettings } from '../train/adam.js';
import { describeBackbone } from './describe.js';
import { onnx, OnnxGraph, type V } from './onnx-graph.js';
import { OnnxOps, type MaskSpec } from './onnx-ops.js';

export interface StepGraph {
  bytes: Uint8Array;
  /** Trainable parameters, in input order. */
  params: string[];
  /** Non-trainable state the step updates (BatchNorm running statistics). */
  stats: string[];
  masks: MaskSpec[];
}

export interface StepGraphOptions {
  /** Trainable backbone units, run before the head. */
  units: BackboneUnit[];
  /** One sample's input shape (without the batch). */
  inputShape: number[];
  adam: AdamSettings;
  exposeGrads?: boolean;
}

/**
 * The part of the network that trains when the last `n` backbone units do (0: the head only): those
 * units, the parameters of that part picked from `weights` (which may hold the whole network), and
 * the shape of one sample of its input (the frozen prefix's output).
 */
export function trainablePart(
  cfg: ConvCutConfig,
  weights: Weights,
  n: number,
): { units: BackboneUnit[]; weights: Weights; inputShape: number[] } {
  const all = convcutBackbone(cfg);
  if (n < 0 || n > all.length - 1) throw new Error(`trainable backbone units must be 0..${all.length - 1}, got ${n}`);
  const units = n === 0 ? [] : all.slice(all.length - n);
  const frozen = all.slice(0, all.length - n).filter((u) => u.prefix);
  const picked: Weights = new Map([...weights].filter(([name]) => !frozen.some((u) => name.startsWith(u.prefix))));
  return { units, weights: picked, inputShape: describeBackbone(cfg, all.slice(0, all.length - n)).outputShape };
}

/** `weights`: the trainable part's parameters (their shapes; values are fed at run time). */
export function buildStepGraph(cfg: ConvCutConfig, weights: Weights, o: StepGraphOptions): StepGraph {
  const ops = new OnnxOps(weights, { paramInputs: new Set(weights.keys()), training: true });
  const g = ops.g;
  const classes = cfg.head.classes.length;
  const input = g.input('input', [-1, ...o.inputShape]);
  const features = runUnits(ops, { ...input, layout: 'nhwc' }, o.units);
  const { logits } = convcutHead(ops, features, cfg);
  const z: V = { name: logits.name, shape: logits.shape };
  const targets = g.input('targets', [-1, classes]);
  const classWeights = g.input('class_weights', [classes]);
  const stepSize = g.input('step_size', []);

  // Loss: mean over the batch of (−Σ t·log softmax(z)) · (Σ t·class weight), as Keras' class_weight.
  const axis1 = g.ints([1]);
  const nll = g.node('Neg', [
    g.node('ReduceSum', [g.node('Mul', [targets.name, g.node('LogSoftmax', [z.name], { axis: -1 })]), axis1], { keepdims: 0 }),
  ]);
  const sampleWeight = g.node('ReduceSum', [g.node('Mul', [targets.name, classWeights.name]), axis1], { keepdims: 0 });
  g.output('loss', { name: g.node('ReduceMean', [g.node('Mul', [nll, sampleWeight])], { axes: [0], keepdims: 0 }), shape: [] });
  const hits = g.node(
    'Cast',
    [
      g.node('Equal', [
        g.node('ArgMax', [z.name], { axis: 1, keepdims: 0 }),
        g.node('ArgMax', [targets.name], { axis: 1, keepdims: 0 }),
      ]),
    ],
    {
      to: onnx.TensorProto.DataType.FLOAT,
    },
  );
  g.output('correct', { name: g.node('ReduceSum', [hits, g.ints([0])], { keepdims: 0 }), shape: [] });

  // ∂loss/∂z = (softmax(z)·Σt − t) · w / N, then the tape.
  const n = g.node('Cast', [g.node('Gather', [g.node('Shape', [z.name]), g.ints([0])], { axis: 0 })], {
    to: onnx.TensorProto.DataType.FLOAT,
  });
  const perSample = g.node('Unsqueeze', [g.node('Div', [sampleWeight, n]), axis1]);
  const tsum = g.node('ReduceSum', [targets.name, axis1], { keepdims: 1 });
  const dz = g.node('Mul', [
    g.node('Sub', [g.node('Mul', [g.node('Softmax', [z.name], { axis: -1 }), tsum]), targets.name]),
    perSample,
  ]);
  g.backward(z, dz);

  const params = [...ops.params.keys()].filter((k) => g.needs(k));
  const unused = [...weights.keys()].filter((k) => !ops.params.has(k));
  if (unused.length) throw new Error(`training graph: parameters not used by the network: ${unused.join(', ')}`);
  const slots = params.map((name) => {
    const param = ops.params.get(name)!;
    const grad = g.grad(param);
    if (!grad) throw new Error(`training graph: no gradient reaches ${name}`);
    return { param, grad, m: g.input(`m/${name}`, param.shape), v: g.input(`v/${name}`, param.shape) };
  });
  const upd = adamUpdate(g, slots, stepSize, o.adam);
  g.output('grad_norm', { name: upd.gradNorm, shape: [] });
  slots.forEach(({ param, m, v, grad }, i) => {
    g.output(`new/${param.name}`, { name: upd.params[i]!, shape: param.shape });
    g.output(`new/${m.name}`, { name: upd.m[i]!, shape: param.shape });
    g.output(`new/${v.name}`, { name: upd.v[i]!, shape: param.shape });
    if (o.exposeGrads) g.output(`grad/${param.name}`, { name: grad, shape: param.shape });
  });
  for (const [name, t] of ops.updates) g.output(`new/${name}`, { name: t, shape: weights.get(name)!.shape });
  return { bytes: g.encode('convcut_train_step'), params, stats: [...ops.updates.keys()], masks: ops.masks };
}

/** Inference on the trainable part with its parameters as inputs: `input` → `logits`, `embedding`. */
export function buildEvalGraph(
  cfg: ConvCutConfig,
  weights: Weights,
  o: Pick<StepGraphOptions, 'units' | 'inputShape'>,
): Uint8Array {
  const ops = new OnnxOps(weights, { paramInputs: new Set(weights.keys()) });
  const input = ops.g.input('input', [-1, ...o.inputShape]);
  const { logits, embedding } = convcutHead(ops, runUnits(ops, { ...input, layout: 'nhwc' }, o.units), cfg);
  ops.output(logits, 'logits');
  ops.output(embedding, 'embedding');
  return ops.g.encode('convcut_eval');
}

/**
 * A graph that copies each named tensor to an output of the same name + `:host`: run on the WebGPU
 * provider with GPU-resident inputs, it brings the training state back to the CPU (onnxruntime-node
 * has no `Tensor.getData()` for GPU buffers).
 */
export function buildCopyGraph(tensors: { name: string; shape: number[] }[]): Uint8Array {
  const g = new OnnxGraph();
  for (const t of tensors) g.output(`${t.name}:host`, g.input(t.name, t.shape));
  return g.encode('convcut_copy');
}
