/**
 * A TensorFlow.js graph model (`model.json`, `format: 'graph-model'`: a frozen TensorFlow GraphDef
 * and a weights manifest) as calls on convcut's `Ops`, so a toolkit's network is recorded by the
 * same engines as Conv-cut (OnnxOps → ONNX Runtime) instead of run on TensorFlow.js.
 *
 * Only the op set of small convolutional classifiers is translated: Placeholder (one, NHWC float),
 * Const, Identity, _FusedConv2D (BiasAdd, optionally then Relu), DepthwiseConv2dNative (multiplier 1),
 * MaxPool, AvgPool, Mean over the spatial axes, Relu, AddV2 / Add and Softmax; square kernels, equal
 * strides, no dilation, 'SAME' or 'VALID' padding. Anything else — an op, an attribute value, a data
 * format — is refused when the graph is read, named, rather than approximated.
 *
 * Constants are the manifest's tensors (readTfjsGroups); the Ops calls read them under their own
 * names (`<node>.weight`, `<node>.bias`), so the translation hands back a renamed weight map.
 * TensorFlow's layouts are Ops' own: conv kernels HWIO, depthwise kernels (kh, kw, C, 1).
 */
import type { TfjsWeightGroup } from '../weights/tfjs-weights.js';
import type { WeightTensor, Weights } from '../weights/weight-map.js';
import type { Ops, Padding } from './ops.js';

/** A GraphDef attribute value as tfjs' model.json writes it (strings base64, integers as strings). */
export interface TfjsAttr {
  s?: string;
  i?: string;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: string[]; f?: number[] };
  shape?: { dim?: { size: string }[]; unknownRank?: boolean };
}
export interface TfjsNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfjsAttr>;
}
export interface TfjsGraphModel {
  format?: string;
  modelTopology: { node: TfjsNode[] };
  weightsManifest: TfjsWeightGroup[];
}

export interface TfjsNetwork {
  /** The graph's one input: its Placeholder's name and NHWC shape (batch −1). */
  input: { name: string; shape: number[] };
  /** The nodes nothing else reads: the graph's outputs. */
  outputs: string[];
  /** The constants under the names the Ops calls read them by. */
  weights: Weights;
  /** The graph on `ops`: `input` → its outputs, by node name. */
  run<T>(ops: Ops<T>, input: T): Record<string, T>;
}

/** One translated node: its computed (non-constant) inputs, and what it does to them. */
interface Step {
  inputs: string[];
  apply<T>(ops: Ops<T>, xs: T[]): T;
}

interface Ctx {
  label: string;
  node: TfjsNode;
  constants: Weights;
  weights: Weights;
}

export function translateTfjsGraph(model: TfjsGraphModel, constants: Weights, label: string): TfjsNetwork {
  if (model.format !== undefined && model.format !== 'graph-model')
    throw new Error(`${label}: a TensorFlow.js '${model.format}', not a graph model`);
  const nodes = model.modelTopology.node;
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1)
    throw new Error(`${label}: ${placeholders.length} inputs (Placeholder), convcut reads graphs with one`);
  const weights: Weights = new Map();
  const input = { name: placeholders[0]!.name, shape: placeholderShape({ label, node: placeholders[0]!, constants, weights }) };
  const steps = new Map<string, Step>();
  for (const node of nodes) {
    const ctx = { label, node, constants, weights };
    if (node.op === 'Placeholder') continue;
    if (node.op === 'Const') {
      if (!constants.has(node.name)) fail(ctx, 'is a constant the weights manifest does not hold');
      continue;
    }
    const translate = TRANSLATORS[node.op];
    if (!translate)
      fail(ctx, `is a ${node.op}, which convcut does not translate (it reads ${Object.keys(TRANSLATORS).join(', ')})`);
    steps.set(node.name, translate(ctx));
  }
  const read = new Set([...steps.values()].flatMap((s) => s.inputs));
  const outputs = [...steps.keys()].filter((n) => !read.has(n));
  for (const s of steps.values())
    for (const i of s.inputs)
      if (i !== input.name && !steps.has(i)) throw new Error(`${label}: ${i} is read but no node computes it`);

  return { input, outputs, weights, run: (ops, x) => runSteps(steps, outputs, ops, input.name, x) };
}

/** Each output from the input, every node computed once. */
function runSteps<T>(steps: Map<string, Step>, outputs: string[], ops: Ops<T>, inputName: string, x: T): Record<string, T> {
  const values = new Map<string, T>([[inputName, x]]);
  const value = (name: string): T => {
    let v = values.get(name);
    if (v === undefined) {
      const step = steps.get(name)!;
      v = step.apply(ops, step.inputs.map(value));
      values.set(name, v);
    }
    return v;
  };
  return Object.fromEntries(outputs.map((o) => [o, value(o)]));
}

const TRANSLATORS: Record<string, (c: Ctx) => Step> = {
  Identity: (c) => unary(c, ['T'], (_ops, x) => x),
  Relu: (c) => unary(c, ['T'], (ops, x) => ops.relu(x)),
  Softmax: (c) => unary(c, ['T'], (ops, x) => ops.softmax(x)),
  AddV2: add,
  Add: add,
  _FusedConv2D: fusedConv2d,
  DepthwiseConv2dNative: depthwiseConv2d,
  MaxPool: (c) => pool(c, 'max'),
  AvgPool: (c) => pool(c, 'avg'),
  Mean: mean,
};

// ---- the ops

function unary(c: Ctx, attrs: string[], f: <T>(ops: Ops<T>, x: T) => T): Step {
  checkAttrs(c, attrs);
  const [x] = dataInputs(c, 1);
  return { inputs: [x!], apply: (ops, [a]) => f(ops, a!) };
}

function add(c: Ctx): Step {
  checkAttrs(c, ['T']);
  return { inputs: dataInputs(c, 2), apply: (ops, [a, b]) => ops.add(a!, b!) };
}

const CONV_ATTRS = ['T', 'data_format', 'padding', 'strides', 'dilations', 'explicit_paddings'];

/** Conv2D with its bias (and activation) fused in by TensorFlow's graph optimiser. */
function fusedConv2d(c: Ctx): Step {
  checkAttrs(c, [...CONV_ATTRS, 'fused_ops', 'num_args', 'use_cudnn_on_gpu', 'epsilon']);
  const fused = strs(c.node.attr?.fused_ops);
  const activation = fused[1];
  if (fused[0] !== 'BiasAdd' || fused.length > 2 || (activation !== undefined && activation !== 'Relu'))
    fail(c, `fuses ${fused.join(' + ') || 'nothing'}: convcut translates BiasAdd, optionally followed by Relu`);
  const args = int(c.node.attr?.num_args);
  if (args !== 1) fail(c, `has num_args ${args}, not 1 (the bias)`);
  const [x, kernel, bias] = inputNames(c, 3);
  const w = constant(c, kernel!, 4);
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const b = constant(c, bias!, 1);
  if (b.shape[0] !== cout) fail(c, `has a bias of ${b.shape[0]} for ${cout} filters`);
  const { stride, padding } = windowOf(c, kh, kw);
  c.weights.set(`${c.node.name}.weight`, w);
  c.weights.set(`${c.node.name}.bias`, b);
  const name = c.node.name;
  return {
    inputs: [x!],
    apply: (ops, [a]) => {
      channels(c, ops, a!, cin);
      const y = ops.conv2d(a!, name, { filters: cout, kernel: kh, stride, padding, bias: true });
      return activation === 'Relu' ? ops.relu(y) : y;
    },
  };
}

function depthwiseConv2d(c: Ctx): Step {
  checkAttrs(c, CONV_ATTRS);
  const [x, kernel] = inputNames(c, 2);
  const w = constant(c, kernel!, 4);
  const [kh, kw, cin, multiplier] = w.shape as [number, number, number, number];
  if (multiplier !== 1) fail(c, `has a channel multiplier of ${multiplier}: convcut's depthwise convolution has 1`);
  const { stride, padding } = windowOf(c, kh, kw);
  c.weights.set(`${c.node.name}.weight`, w);
  const name = c.node.name;
  return {
    inputs: [x!],
    apply: (ops, [a]) => {
      channels(c, ops, a!, cin);
      return ops.depthwiseConv2d(a!, name, { kernel: kh, stride, padding, bias: false });
    },
  };
}

function pool(c: Ctx, kind: 'max' | 'avg'): Step {
  checkAttrs(c, ['T', 'data_format', 'padding', 'strides', 'ksize', 'explicit_paddings']);
  const [x] = dataInputs(c, 1);
  const [, kh, kw] = nhwcVector(c, 'ksize');
  const { stride, padding } = windowOf(c, kh, kw);
  return { inputs: [x!], apply: (ops, [a]) => ops.pool(a!, kind, { kernel: kh, stride, padding }) };
}

/** Mean over the spatial axes of an NHWC tensor: a global average pool. */
function mean(c: Ctx): Step {
  checkAttrs(c, ['T', 'Tidx', 'keep_dims']);
  const [x, axesName] = inputNames(c, 2);
  const axes = [...constant(c, axesName!, 1).data].map((a) => (a < 0 ? a + 4 : a)).sort();
  if (axes.join() !== '1,2')
    fail(c, `averages over axes ${axes.join(', ')}: convcut translates the spatial mean (axes 1, 2) only`);
  const keep = c.node.attr?.keep_dims?.b ?? false;
  return {
    inputs: [x!],
    apply: (ops, [a]) => {
      if (ops.shape(a!).length !== 4) fail(c, `averages a rank-${ops.shape(a!).length} tensor, not an NHWC image`);
      const y = ops.globalAvgPool(a!);
      return keep ? ops.reshape(y, [1, 1, ops.shape(y)[1]!]) : y;
    },
  };
}

// ---- nodes, attributes and constants

function fail(c: Ctx, what: string): never {
  throw new Error(`${c.label}: node ${c.node.name} ${what}`);
}

/**
 * Attributes this translation does not know would change what the node computes: refused. Those
 * starting with `_` are TensorFlow's annotations (`_output_shapes`, ...), which change nothing.
 */
function checkAttrs(c: Ctx, known: string[]): void {
  for (const a of Object.keys(c.node.attr ?? {}))
    if (!known.includes(a) && !a.startsWith('_')) fail(c, `(${c.node.op}) has attribute ${a}, which convcut does not translate`);
  const t = c.node.attr?.T?.type;
  if (t !== undefined && t !== 'DT_FLOAT') fail(c, `computes in ${t}: convcut translates float32 graphs`);
}

/** The node's inputs, without the `:0` of a first output; other outputs and control inputs refused. */
function inputNames(c: Ctx, n: number): string[] {
  const names = (c.node.input ?? []).map((i) => {
    if (i.startsWith('^')) fail(c, `has a control input (${i}), which convcut does not translate`);
    const m = /^(.*?)(?::(\d+))?$/.exec(i)!;
    if (m[2] !== undefined && m[2] !== '0') fail(c, `reads output ${m[2]} of ${m[1]}: convcut translates single-output nodes`);
    return m[1]!;
  });
  if (names.length !== n) fail(c, `(${c.node.op}) has ${names.length} inputs, convcut translates it with ${n}`);
  return names;
}

/** Inputs that must be computed tensors, not constants (an added constant is not translated). */
function dataInputs(c: Ctx, n: number): string[] {
  const names = inputNames(c, n);
  for (const i of names)
    if (c.constants.has(i)) fail(c, `(${c.node.op}) reads constant ${i} as data, which convcut does not translate`);
  return names;
}

function constant(c: Ctx, name: string, rank: number): WeightTensor {
  const t = c.constants.get(name);
  if (!t) fail(c, `reads ${name} where convcut needs a constant`);
  if (t.shape.length !== rank) fail(c, `reads ${name} of shape [${t.shape.join(', ')}], not rank ${rank}`);
  return t;
}

function placeholderShape(c: Ctx): number[] {
  checkAttrs(c, ['shape', 'dtype']);
  if (c.node.attr?.dtype?.type !== 'DT_FLOAT') fail(c, `is a ${c.node.attr?.dtype?.type ?? 'untyped'} input, not float32`);
  const dims = (c.node.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  if (dims.length !== 4 || dims.slice(1).some((d) => !(d > 0)))
    fail(c, `has input shape [${dims.join(', ')}]: convcut translates NHWC images of a fixed size`);
  return [-1, ...dims.slice(1)];
}

const text = (s: string): string => new TextDecoder().decode(Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0)));
const strs = (a: TfjsAttr | undefined): string[] => (a?.list?.s ?? []).map(text);
const int = (a: TfjsAttr | undefined): number | undefined => (a?.i === undefined ? undefined : Number(a.i));
const ints = (a: TfjsAttr | undefined): number[] => (a?.list?.i ?? []).map(Number);

/** A [1, a, b, 1] attribute (strides, ksize, dilations) of an NHWC node: [1, a, b, 1]. */
function nhwcVector(c: Ctx, attr: string): [number, number, number, number] {
  const v = ints(c.node.attr?.[attr]);
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) fail(c, `has ${attr} [${v.join(', ')}], not [1, h, w, 1]`);
  return v as [number, number, number, number];
}

/** A kh × kw window's stride and padding, in the forms Ops takes (square, equal strides, no dilation, NHWC). */
function windowOf(c: Ctx, kh: number, kw: number): { stride: number; padding: Padding } {
  const format = c.node.attr?.data_format?.s === undefined ? 'NHWC' : text(c.node.attr.data_format.s);
  if (format !== 'NHWC') fail(c, `has data format ${format}: convcut translates NHWC`);
  if (kh !== kw) fail(c, `has a ${kh}×${kw} window: convcut translates square ones`);
  const [, sh, sw] = nhwcVector(c, 'strides');
  if (sh !== sw) fail(c, `has strides ${sh}, ${sw}: convcut translates equal ones`);
  if (c.node.attr?.dilations !== undefined && nhwcVector(c, 'dilations').some((d) => d !== 1))
    fail(c, `is dilated (${ints(c.node.attr.dilations).join(', ')}): convcut translates undilated windows`);
  if (ints(c.node.attr?.explicit_paddings).length) fail(c, 'has explicit paddings, which convcut does not translate');
  const padding = text(c.node.attr?.padding?.s ?? '');
  if (padding !== 'SAME' && padding !== 'VALID') fail(c, `has padding '${padding}': convcut translates SAME and VALID`);
  return { stride: sh, padding: padding === 'SAME' ? 'same' : 'valid' };
}

/** A kernel made for `expected` input channels must get them (caught here, not by ONNX Runtime). */
function channels<T>(c: Ctx, ops: Ops<T>, x: T, expected: number): void {
  const got = ops.shape(x)[3];
  if (got !== expected) fail(c, `has a kernel for ${expected} channels, its input has ${got}`);
}
