/**
 * An ONNX graph under construction (opset 17), with reverse-mode differentiation.
 *
 * Every tensor-producing method below is a *primitive*: it appends its forward ONNX nodes and, when
 * one of its inputs requires a gradient, records on a tape how to turn the gradient of its output
 * into gradients of those inputs — again as ONNX nodes. `backward()` replays the tape in reverse,
 * so one recording yields the forward graph and, appended to it, the gradient graph. Gradients are
 * only built for tensors that depend on a trainable input (`requireGrad`): a frozen input costs
 * no ∂input work.
 *
 * Only standard ONNX ops that ONNX Runtime's CPU and WebGPU execution providers run are used (no
 * training-build contrib ops). Shapes are static except the batch (-1); a gradient has the shape and
 * physical layout of its tensor.
 */
import pkg from 'onnx-proto';
import { convOutSize } from '../model/ops.js';

const { onnx } = pkg;
export { onnx };
export type NodeProto = pkg.onnx.INodeProto;
export type TensorProto = pkg.onnx.ITensorProto;
export type ValueInfo = pkg.onnx.IValueInfoProto;

/** A graph tensor: its name and physical shape (-1 = batch or another run-time size). */
export interface V {
  name: string;
  shape: number[];
}

/** Attribute values; wrap a float that happens to be an integer as `{ f: 1 }`. */
export type Attr = number | number[] | string | { f: number };

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export function valueInfo(name: string, shape: number[], elemType: number = FLOAT): ValueInfo {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d, i) => (d < 0 ? { dimParam: i === 0 ? 'batch' : `d${i}` } : { dimValue: d })) },
      },
    },
  };
}

export class OnnxGraph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  private consts = new Map<string, string>();
  private readonly needsGrad = new Set<string>();
  private readonly tape: { out: string; back: (gy: string) => void }[] = [];
  private readonly grads = new Map<string, string>();

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  /** Appends one node with `n` outputs; returns their names. */
  nodeN(op: string, inputs: string[], n: number, attrs: Record<string, Attr> = {}, hint = op.toLowerCase()): string[] {
    const base = this.fresh(hint);
    const output = n === 1 ? [base] : Array.from({ length: n }, (_, i) => `${base}_${i}`);
    const attribute = Object.entries(attrs).map(([name, v]) => {
      const T = onnx.AttributeProto.AttributeType;
      if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
      if (typeof v === 'object') return { name, type: T.FLOAT, f: v.f };
      return Number.isInteger(v) && name !== 'epsilon' ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
    });
    this.nodes.push({ opType: op, input: inputs, output, attribute, name: base });
    return output;
  }
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, hint?: string): string {
    return this.nodeN(op, inputs, 1, attrs, hint)[0]!;
  }

  // ---- constants, initialisers, graph inputs and outputs

  floatInit(hint: string, shape: number[], data: Float32Array): string {
    const name = this.fresh(hint);
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // a view: encode() copies it once
    this.initializers.push({ name, dims: shape, dataType: FLOAT, rawData });
    return name;
  }
  /** A float constant (shared by every use): a scalar, or a vector with `shape`. */
  floats(values: number[], shape: number[] = values.length === 1 ? [] : [values.length]): string {
    const key = `f${shape.join('x')}:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) this.consts.set(key, (name = this.floatInit('c', shape, Float32Array.from(values))));
    return name;
  }
  scalar(v: number): string {
    return this.floats([v], []);
  }
  ints(values: number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh('i');
      this.initializers.push({ name, dims: [values.length], dataType: INT64, int64Data: values });
      this.consts.set(key, name);
    }
    return name;
  }
  input(name: string, shape: number[], elemType: number = FLOAT): V {
    this.inputs.push(valueInfo(name, shape, elemType));
    return { name, shape };
  }
  /**
   * Publishes `x` as graph output `name`. The node that computes `x` is renamed to write `name`
   * itself (so ONNX Runtime can write it straight into a caller's pre-allocated buffer); an input,
   * a constant or a tensor already published gets an Identity.
   */
  output(name: string, x: V, elemType: number = FLOAT): void {
    const producer = this.published.has(x.name) ? undefined : this.nodes.find((n) => n.output?.includes(x.name));
    if (producer) {
      for (const n of this.nodes) {
        n.input = n.input!.map((i) => (i === x.name ? name : i));
        n.output = n.output!.map((o) => (o === x.name ? name : o));
      }
      this.renamed.set(x.name, name);
    } else {
      this.nodes.push({ opType: 'Identity', input: [this.renamed.get(x.name) ?? x.name], output: [name], name: `out_${name}` });
    }
    this.published.add(producer ? name : x.name);
    this.outputs.push(valueInfo(name, x.shape, elemType));
  }
  private readonly published = new Set<string>();
  private readonly renamed = new Map<string, string>();

  /** The graph as an ONNX model (IR 8, opset 17); `metadata` goes into its metadata_props. */
  encode(name: string, metadata: Record<string, string> = {}): Uint8Array {
    return onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'convcut',
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    }).finish();
  }

  // ---- the tape

  /** Marks a graph input (a trainable parameter) as needing its gradient. */
  requireGrad(x: V): void {
    this.needsGrad.add(x.name);
  }
  needs(x: V | string): boolean {
    return this.needsGrad.has(typeof x === 'string' ? x : x.name);
  }
  /** Records `back` for `out` when any of `ins` needs a gradient. */
  private rec(out: V, ins: V[], back: (gy: string) => void): V {
    if (ins.some((x) => this.needs(x))) {
      this.needsGrad.add(out.name);
      this.tape.push({ out: out.name, back });
    }
    return out;
  }
  private acc(x: V, g: string): void {
    if (!this.needs(x)) return;
    const prev = this.grads.get(x.name);
    this.grads.set(x.name, prev ? this.node('Add', [prev, g], {}, 'gacc') : g);
  }
  grad(x: V | string): string | undefined {
    return this.grads.get(typeof x === 'string' ? x : x.name);
  }
  /** Replays the tape from `seed` = ∂loss/∂`from` (a tensor of `from`'s shape). */
  backward(from: V, seed: string): void {
    this.grads.set(from.name, seed);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const { out, back } = this.tape[i]!;
      const gy = this.grads.get(out);
      if (gy) back(gy);
    }
  }

  // ---- shape helpers

  private shapeOf(x: V): string {
    return this.node('Shape', [x.name]);
  }
  /** `g` reshaped to `x`'s run-time shape. */
  private reshapeLike(g: string, x: V): string {
    return this.node('Reshape', [g, this.shapeOf(x)]);
  }
  /** Σ of `g` (shaped like `from`) down to the broadcast shape `to` (right-aligned, numpy rules). */
  private unbroadcast(g: string, from: number[], to: number[]): string {
    const off = from.length - to.length;
    const axes = from.map((_, i) => i).filter((i) => i < off || (to[i - off] === 1 && from[i] !== 1));
    if (!axes.length) return g;
    const s = this.node('ReduceSum', [g, this.ints(axes)], { keepdims: 1 });
    return off ? this.node('Reshape', [s, this.ints(to.map((d) => (d < 0 ? -1 : d)))]) : s;
  }

  // ---- primitives

  transpose(x: V, perm: number[]): V {
    const y = { name: this.node('Transpose', [x.name], { perm }), shape: perm.map((p) => x.shape[p]!) };
    const inv = perm.map((_, i) => perm.indexOf(i));
    return this.rec(y, [x], (gy) => this.acc(x, this.node('Transpose', [gy], { perm: inv })));
  }

  /** `shape` may hold one -1 (the batch). */
  reshape(x: V, shape: number[]): V {
    const y = { name: this.node('Reshape', [x.name, this.ints(shape)]), shape };
    return this.rec(y, [x], (gy) => this.acc(x, this.reshapeLike(gy, x)));
  }

  /** Batched a·b over the last two axes (ranks equal, or b 2-D), optionally with b transposed. */
  matmul(a: V, b: V, transposeB = false): V {
    const r = b.shape.length;
    if (a.shape.length !== r) throw new Error(`matmul: operands of rank ${a.shape.length} and ${r} (use linear for weights)`);
    const bt = transposeB ? this.transpose(b, swapLastPerm(r)) : b;
    const y = { name: this.node('MatMul', [a.name, bt.name]), shape: [...a.shape.slice(0, -1), bt.shape[r - 1]!] };
    return this.rec(y, [a, bt], (gy) => {
      if (this.needs(a)) this.acc(a, this.node('MatMul', [gy, this.node('Transpose', [bt.name], { perm: swapLastPerm(r) })]));
      if (this.needs(bt)) {
        const ra = a.shape.length;
        this.acc(bt, this.node('MatMul', [this.node('Transpose', [a.name], { perm: swapLastPerm(ra) }), gy]));
      }
    });
  }

  /**
   * x (..., K) · w (K, M): one 2-D Gemm over all leading axes. Its gradients are Gemms too, with
   * the transposes folded into `transA`/`transB` (MLAS packs transposed operands itself).
   */
  linear(x: V, w: V, bias?: V): V {
    const [k, m] = w.shape as [number, number];
    const flat = x.shape.length === 2 ? x.name : this.node('Reshape', [x.name, this.ints([-1, k])]);
    const inputs = bias ? [flat, w.name, bias.name] : [flat, w.name];
    const y2 = this.node('Gemm', inputs);
    const shape = [...x.shape.slice(0, -1), m];
    const y = {
      name: x.shape.length === 2 ? y2 : this.node('Reshape', [y2, this.ints(shape.map((d, i) => (i === 0 ? -1 : d)))]),
      shape,
    };
    return this.rec(y, bias ? [x, w, bias] : [x, w], (gy) => {
      const g2 = x.shape.length === 2 ? gy : this.node('Reshape', [gy, this.ints([-1, m])]);
      if (this.needs(x)) {
        const gx = this.node('Gemm', [g2, w.name], { transB: 1 });
        this.acc(x, x.shape.length === 2 ? gx : this.reshapeLike(gx, x));
      }
      if (this.needs(w)) this.acc(w, this.node('Gemm', [flat, g2], { transA: 1 }));
      if (bias && this.needs(bias)) this.acc(bias, this.node('ReduceSum', [g2, this.ints([0])], { keepdims: 0 }));
    });
  }

  /** Elementwise a + b (numpy broadcasting). */
  add(a: V, b: V): V {
    const y = { name: this.node('Add', [a.name, b.name]), shape: broadcastShape(a.shape, b.shape) };
    return this.rec(y, [a, b], (gy) => {
      this.acc(a, this.unbroadcast(gy, y.shape, a.shape));
      this.acc(b, this.unbroadcast(gy, y.shape, b.shape));
    });
  }
  /** Elementwise a · b (numpy broadcasting). */
  mul(a: V, b: V): V {
    const y = { name: this.node('Mul', [a.name, b.name]), shape: broadcastShape(a.shape, b.shape) };
    return this.rec(y, [a, b], (gy) => {
      if (this.needs(a)) this.acc(a, this.unbroadcast(this.node('Mul', [gy, b.name]), y.shape, a.shape));
      if (this.needs(b)) this.acc(b, this.unbroadcast(this.node('Mul', [gy, a.name]), y.shape, b.shape));
    });
  }
  /** x · c + d with constant vectors or scalars (c, d: constant names broadcasting over x). */
  affineConst(x: V, c: string, d?: string): V {
    const m = this.node('Mul', [x.name, c]);
    const y = { name: d ? this.node('Add', [m, d]) : m, shape: x.shape };
    return this.rec(y, [x], (gy) => this.acc(x, this.node('Mul', [gy, c])));
  }

  relu(x: V): V {
    const y = { name: this.node('Relu', [x.name]), shape: x.shape };
    return this.rec(y, [x], (gy) => {
      const on = this.node('Greater', [y.name, this.scalar(0)]);
      this.acc(x, this.node('Where', [on, gy, this.scalar(0)]));
    });
  }

  /**
   * Exact GELU, x·½(1 + erf(x/√2)): the pattern ONNX Runtime fuses into one Gelu kernel. The
   * backward pass recomputes Φ(x) from x instead of keeping the forward's erf term alive, so the
   * forward stays fusable and a 4C-wide tensor per ConvNeXt block is not held until the backward.
   */
  gelu(x: V): V {
    const phi2 = (): string =>
      this.node('Add', [this.node('Erf', [this.node('Div', [x.name, this.scalar(Math.SQRT2)])]), this.scalar(1)]);
    const y = { name: this.node('Mul', [this.node('Mul', [x.name, phi2()]), this.scalar(0.5)]), shape: x.shape };
    return this.rec(y, [x], (gy) => {
      // d/dx = Φ(x) + x·φ(x) = ½(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π)
      const pdf = this.node('Exp', [this.node('Mul', [this.node('Mul', [x.name, x.name]), this.scalar(-0.5)])]);
      const xpdf = this.node('Mul', [this.node('Mul', [x.name, pdf]), this.scalar(1 / Math.sqrt(2 * Math.PI))]);
      const d = this.node('Add', [this.node('Mul', [phi2(), this.scalar(0.5)]), xpdf]);
      this.acc(x, this.node('Mul', [gy, d]));
    });
  }

  /** Softmax over the last axis. */
  softmax(x: V): V {
    const y = { name: this.node('Softmax', [x.name], { axis: -1 }), shape: x.shape };
    return this.rec(y, [x], (gy) => {
      const dot = this.node('ReduceSum', [this.node('Mul', [gy, y.name]), this.ints([-1])], { keepdims: 1 });
      this.acc(x, this.node('Mul', [y.name, this.node('Sub', [gy, dot])]));
    });
  }

  /** LayerNorm over the last axis. */
  layerNorm(x: V, w: V, b: V, eps: number): V {
    const training = [x, w, b].some((t) => this.needs(t));
    const [yn, mean, inv] = this.nodeN('LayerNormalization', [x.name, w.name, b.name], training ? 3 : 1, {
      axis: -1,
      epsilon: eps,
    });
    const y = { name: yn!, shape: x.shape };
    return this.rec(y, [x, w, b], (gy) => {
      const xhat = this.node('Mul', [this.node('Sub', [x.name, mean!]), inv!]);
      this.normBackward(gy, { x, w, b, xhat, inv: inv! }, [-1]);
    });
  }

  /**
   * Gradients of y = x̂·γ + β with x̂ = (x − mean)·inv, the statistics taken over `statAxes`
   * (LayerNorm: the channels; BatchNorm: all axes but the channels): ∂γ, ∂β summed over the
   * leading axes, and ∂x = inv·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = ∂y·γ.
   */
  private normBackward(gy: string, t: { x: V; w: V; b: V; xhat: string; inv: string }, statAxes: number[]): void {
    const lead = this.ints(t.x.shape.slice(0, -1).map((_, i) => i));
    if (this.needs(t.w)) this.acc(t.w, this.node('ReduceSum', [this.node('Mul', [gy, t.xhat]), lead], { keepdims: 0 }));
    if (this.needs(t.b)) this.acc(t.b, this.node('ReduceSum', [gy, lead], { keepdims: 0 }));
    if (!this.needs(t.x)) return;
    const gh = this.node('Mul', [gy, t.w.name]);
    const m1 = this.node('ReduceMean', [gh], { axes: statAxes, keepdims: 1 });
    const m2 = this.node('ReduceMean', [this.node('Mul', [gh, t.xhat])], { axes: statAxes, keepdims: 1 });
    const inner = this.node('Sub', [this.node('Sub', [gh, m1]), this.node('Mul', [t.xhat, m2])]);
    this.acc(t.x, this.node('Mul', [inner, t.inv]));
  }

  /**
   * BatchNorm over all axes but the last, with the batch's statistics (Keras training semantics:
   * biased variance). Returns y and the batch mean and variance (for the moving statistics).
   */
  batchNormTraining(x: V, w: V, b: V, eps: number): { y: V; mean: string; variance: string } {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const mean = this.node('ReduceMean', [x.name], { axes, keepdims: 1 });
    const d = this.node('Sub', [x.name, mean]);
    const variance = this.node('ReduceMean', [this.node('Mul', [d, d])], { axes, keepdims: 1 });
    const inv = this.node('Reciprocal', [this.node('Sqrt', [this.node('Add', [variance, this.scalar(eps)])])]);
    const xhat = this.node('Mul', [d, inv]);
    const y = { name: this.node('Add', [this.node('Mul', [xhat, w.name]), b.name]), shape: x.shape };
    this.rec(y, [x, w, b], (gy) => this.normBackward(gy, { x, w, b, xhat, inv }, axes));
    const flat = this.ints([x.shape[x.shape.length - 1]!]);
    return { y, mean: this.node('Reshape', [mean, flat]), variance: this.node('Reshape', [variance, flat]) };
  }

  /** Mean (or sum) over `axes`, keepdims 0. */
  reduce(x: V, axes: number[], kind: 'mean' | 'sum'): V {
    const shape = x.shape.filter((_, i) => !axes.includes(i));
    const name =
      kind === 'mean'
        ? this.node('ReduceMean', [x.name], { axes, keepdims: 0 })
        : this.node('ReduceSum', [x.name, this.ints(axes)], { keepdims: 0 });
    const count = kind === 'mean' ? axes.reduce((p, a) => p * x.shape[a]!, 1) : 1;
    return this.rec({ name, shape }, [x], (gy) => {
      const kept = this.node('Unsqueeze', [gy, this.ints(axes)]);
      const scaled = count === 1 ? kept : this.node('Mul', [kept, this.scalar(1 / count)]);
      this.acc(x, this.node('Expand', [scaled, this.shapeOf(x)]));
    });
  }

  /** Zero-padding of the spatial axes 1, 2 of an NHWC tensor: pads [top, left, bottom, right]. */
  padSpatial(x: V, [t, l, b, r]: number[]): V {
    if (t! + l! + b! + r! === 0) return x;
    const pads = this.ints([0, t!, l!, 0, 0, b!, r!, 0]);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const y = { name: this.node('Pad', [x.name, pads]), shape: [n, h + t! + b!, w + l! + r!, c] };
    return this.rec(y, [x], (gy) =>
      this.acc(x, this.node('Slice', [gy, this.ints([t!, l!]), this.ints([t! + h, l! + w]), this.ints([1, 2])])),
    );
  }
  /** Keeps rows 0..h and columns 0..w of an NHWC tensor. */
  cropSpatial(x: V, h: number, w: number): V {
    const [n, xh, xw, c] = x.shape as [number, number, number, number];
    if (h === xh && w === xw) return x;
    const y = {
      name: this.node('Slice', [x.name, this.ints([0, 0]), this.ints([h, w]), this.ints([1, 2])]),
      shape: [n, h, w, c],
    };
    return this.rec(y, [x], (gy) => this.acc(x, this.node('Pad', [gy, this.ints([0, 0, 0, 0, 0, xh - h, xw - w, 0])])));
  }

  /**
   * Convolution in NCHW (x (N, C, H, W), w OIHW). Gradients are written for the depthwise
   * stride-1 case the ConvNeXt blocks use (group = C, odd kernel, symmetric padding):
   * - ∂x = the same depthwise conv of ∂y with the kernel rotated 180°;
   * - ∂w[c, i, j] = Σ_{n,y,x} xpad[n, c, y+i, x+j]·∂y[n, c, y, x]: one grouped conv over a single
   *   "image" whose channels are the (c, n) pairs, with ∂y itself as the kernel.
   */
  conv(x: V, w: V, bias: V | undefined, o: { kernel: number; stride: number; pads: number[]; group: number }): V {
    const [n, , h, wd] = x.shape as [number, number, number, number];
    const [t, l, b, r] = o.pads as [number, number, number, number];
    const k = o.kernel;
    const inputs = bias ? [x.name, w.name, bias.name] : [x.name, w.name];
    const attrs = { kernel_shape: [k, k], strides: [o.stride, o.stride], pads: [t, l, b, r], group: o.group };
    const ho = convOutSize(h + t + b, k, o.stride, 'valid'); // the padding is explicit here
    const wo = convOutSize(wd + l + r, k, o.stride, 'valid');
    const cout = w.shape[0]!;
    const y = { name: this.node('Conv', inputs, attrs), shape: [n, cout, ho, wo] };
    return this.rec(y, bias ? [x, w, bias] : [x, w], (gy) => {
      const c = x.shape[1]!;
      if (o.group !== c || cout !== c || o.stride !== 1 || t !== b || l !== r || 2 * t !== k - 1) {
        throw new Error(
          `no gradient for a ${k}×${k} stride-${o.stride} conv with group ${o.group} (only depthwise 'same' stride 1)`,
        );
      }
      if (bias && this.needs(bias)) this.acc(bias, this.node('ReduceSum', [gy, this.ints([0, 2, 3])], { keepdims: 0 }));
      if (this.needs(x)) {
        const flipped = this.node('Slice', [
          w.name,
          this.ints([-1, -1]),
          this.ints([-k - 1, -k - 1]),
          this.ints([2, 3]),
          this.ints([-1, -1]),
        ]);
        this.acc(x, this.node('Conv', [gy, flipped], attrs));
      }
      if (this.needs(w)) {
        const xs = this.node('Reshape', [this.node('Transpose', [x.name], { perm: [1, 0, 2, 3] }), this.ints([1, -1, h, wd])]);
        const ks = this.node('Transpose', [gy], { perm: [1, 0, 2, 3] });
        const dw = this.node('Conv', [xs, ks], { kernel_shape: [h, wd], pads: [t, l, b, r], group: c });
        this.acc(w, this.node('Reshape', [dw, this.ints([c, 1, k, k])]));
      }
    });
  }
}

function swapLastPerm(r: number): number[] {
  const perm = [...Array(r).keys()];
  [perm[r - 1], perm[r - 2]] = [perm[r - 2]!, perm[r - 1]!];
  return perm;
}

function broadcastShape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const x = a[i - (r - a.length)] ?? 1;
    const y = b[i - (r - b.length)] ?? 1;
    return x === 1 ? y : x;
  });
}
