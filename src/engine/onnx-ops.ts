/**
 * `Ops` that record an ONNX graph (opset 17) instead of computing, on an `OnnxGraph` — with
 * gradients when training (onnx-graph.ts differentiates every primitive it records).
 *
 * The network is channels-last; ONNX's Conv is channels-first. Each recorded tensor remembers its
 * current physical layout and a Transpose is inserted only when an op needs the other one (Conv
 * needs NCHW; LayerNormalization, MatMul and Softmax act on the last axis and need NHWC). A ConvNeXt
 * block then costs two Transposes, as in torchvision. Constant kernels are converted to ONNX's
 * layouts (OIHW) once, when initialisers are written.
 *
 * Parameters named in `paramInputs` become graph inputs (named as the parameter, in convcut's
 * channels-last layout) instead of constants: what a training step feeds and updates. With
 * `training`, dropout masks become graph inputs too (`masks`), BatchNorm uses the batch's statistics
 * and reports its moving-statistics updates (`updates`), and trainable parameter inputs get
 * gradients.
 */
import path from 'node:path';
import type { ConvOptions, DepthwiseOptions, Init, Ops, Padding } from '../model/ops.js';
import { convOutSize, patchLayout, samePadding } from '../model/ops.js';
import { numel, transposeData, type WeightTensor, type Weights } from '../weights/weight-map.js';
import { onnx, OnnxGraph, type V } from './onnx-graph.js';

export { onnx };

type Layout = 'nhwc' | 'nchw';

export interface OnnxTensor {
  name: string;
  /** Logical (channels-last) shape; -1 for the batch axis. */
  shape: number[];
  layout: Layout;
}

export interface OnnxOpsOptions {
  /**
   * `int8`: the MatMuls the model declares quantizable (the ConvNeXt MLPs, ~90 % of the backbone's
   * multiply-adds) get int8 weights,
   * quantised per output channel (symmetric), and activations quantised per tensor at run time
   * (DynamicQuantizeLinear → MatMulInteger → rescale: the pattern ONNX Runtime fuses into
   * DynamicQuantizeMatMul). Convolutions and the head stay float32.
   */
  precision?: 'fp32' | 'int8';
  /**
   * Float32 weights that lie in a file in this directory (`WeightTensor.source`) are written as ONNX
   * external data referencing that file, instead of being copied into the graph. Such a graph loads
   * only with ONNX Runtime told that directory (ort-session.ts).
   */
  externalDir?: string;
  /** Parameters fed as graph inputs instead of constants (`weights` then only gives their shapes). */
  paramInputs?: ReadonlySet<string>;
  /** Training semantics (dropout masks as inputs, batch statistics, gradients). */
  training?: boolean;
}

/** A dropout mask the step's caller feeds: keep/(1 − rate) per element, of `shape` (batch −1). */
export interface MaskSpec {
  name: string;
  shape: number[];
  rate: number;
}

const NCHW = [0, 3, 1, 2];
const NHWC = [0, 2, 3, 1];

export class OnnxOps implements Ops<OnnxTensor> {
  readonly g = new OnnxGraph();
  readonly training: boolean;
  readonly precision: 'fp32' | 'int8';
  readonly masks: MaskSpec[] = [];
  /** Running-statistics parameter → the graph tensor holding its value after this step. */
  readonly updates = new Map<string, string>();
  /** Parameter inputs, by name, as declared. */
  readonly params = new Map<string, V>();
  private converted = new Map<string, OnnxTensor>();
  private paramViews = new Map<string, V>();

  constructor(
    private readonly weights: Weights,
    private readonly o: OnnxOpsOptions = {},
  ) {
    this.training = o.training ?? false;
    this.precision = o.precision ?? 'fp32';
  }

  // ---- parameters

  private weight(name: string): WeightTensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`parameter ${name} is not loaded`);
    return w;
  }
  private isInput(name: string): boolean {
    return this.o.paramInputs?.has(name) ?? false;
  }
  private floatInit(hint: string, t: WeightTensor): string {
    const src = t.source;
    if (src && this.o.externalDir !== undefined && path.dirname(src.file) === this.o.externalDir) {
      const name = this.g.fresh(hint);
      const length = numel(t.shape) * 4;
      const externalData = { location: path.basename(src.file), offset: String(src.offset), length: String(length) };
      this.g.initializers.push({
        name,
        dims: t.shape,
        dataType: onnx.TensorProto.DataType.FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: Object.entries(externalData).map(([key, value]) => ({ key, value })),
      });
      return name;
    }
    return this.g.floatInit(hint, t.shape, t.data);
  }
  /** A parameter in layout `perm` of its stored (channels-last) layout, as a graph tensor. */
  private param(name: string, perm?: number[]): V {
    const key = `${name}|${perm ?? ''}`;
    const seen = this.paramViews.get(key);
    if (seen) return seen;
    const w = this.weight(name);
    let v: V;
    if (this.isInput(name)) {
      let p = this.params.get(name);
      if (!p) {
        p = this.g.input(name, w.shape);
        if (this.training && !name.includes('running_')) this.g.requireGrad(p);
        this.params.set(name, p);
      }
      v = perm ? this.g.transpose(p, perm) : p;
    } else if (perm) {
      v = { name: this.floatInit('w', transposeData(w.data, w.shape, perm)), shape: perm.map((i) => w.shape[i]!) };
    } else {
      v = { name: this.floatInit('w', w), shape: w.shape };
    }
    this.paramViews.set(key, v);
    return v;
  }

  // ---- layouts

  private phys(x: OnnxTensor): V {
    const [n, h, w, c] = x.shape;
    return { name: x.name, shape: x.layout === 'nchw' ? [n!, c!, h!, w!] : x.shape };
  }
  private t(v: V, layout: Layout = 'nhwc'): OnnxTensor {
    const [n, a, b, c] = v.shape;
    return { name: v.name, shape: layout === 'nchw' ? [n!, b!, c!, a!] : v.shape, layout };
  }
  private as(x: OnnxTensor, layout: Layout): V {
    if (x.layout === layout || x.shape.length !== 4) return this.phys(x);
    const key = `${x.name}->${layout}`;
    let out = this.converted.get(key);
    if (!out) {
      out = this.t(this.g.transpose(this.phys(x), layout === 'nchw' ? NCHW : NHWC), layout);
      this.converted.set(key, out);
    }
    return this.phys(out);
  }

  shape(x: OnnxTensor): number[] {
    return x.shape;
  }

  // ---- convolutions

  private pads(x: OnnxTensor, k: number, stride: number, padding: Padding): number[] {
    const [, h, w] = x.shape as [number, number, number];
    const ph = padding === 'same' ? samePadding(h, k, stride) : [0, 0];
    const pw = padding === 'same' ? samePadding(w, k, stride) : [0, 0];
    return [ph[0]!, pw[0]!, ph[1]!, pw[1]!];
  }

  /**
   * A kernel = stride conv's input cut into its non-overlapping patches as the model declares them
   * (model/ops.ts patchLayout): NHWC (N, ho, wo, k·k, C), patch elements in the declared order.
   */
  private patches(x: OnnxTensor, k: number, padding: Padding): V {
    const c = x.shape[3]!;
    const { pads, grid, covered, order } = patchLayout(x.shape, k, padding);
    const [ho, wo] = grid;
    const padded = this.g.padSpatial(this.as(x, 'nhwc'), pads);
    const rows = this.g.reshape(this.g.cropSpatial(padded, ...covered), [-1, ho, k, wo, k, c]);
    const axis = { kh: 2, kw: 4 }; // of (N, ho, kh, wo, kw, C)
    return this.g.reshape(this.g.transpose(rows, [0, 1, 3, ...order.map((a) => axis[a]), 5]), [-1, ho, wo, k * k, c]);
  }

  conv2d(x: OnnxTensor, name: string, o: ConvOptions): OnnxTensor {
    const bias = o.bias === false ? undefined : this.param(`${name}.bias`);
    if (this.isInput(`${name}.weight`) && o.kernel === o.stride) {
      // Trainable: patches · kernel, one Gemm (its gradients are Gemms too).
      const p = this.patches(x, o.kernel, o.padding);
      const [n, ho, wo, kk, c] = p.shape as [number, number, number, number, number];
      const w = this.g.reshape(this.param(`${name}.weight`), [kk * c, o.filters]);
      return this.t(this.g.linear(this.g.reshape(p, [n, ho, wo, kk * c]), w, bias));
    }
    const w = this.param(`${name}.weight`, [3, 2, 0, 1]); // HWIO → OIHW
    const pads = this.pads(x, o.kernel, o.stride, o.padding);
    return this.t(this.g.conv(this.as(x, 'nchw'), w, bias, { kernel: o.kernel, stride: o.stride, pads, group: 1 }), 'nchw');
  }

  depthwiseConv2d(x: OnnxTensor, name: string, o: DepthwiseOptions): OnnxTensor {
    const bias = o.bias === false ? undefined : this.param(`${name}.bias`);
    if (this.isInput(`${name}.weight`) && o.kernel === o.stride) {
      // Trainable patch conv (the Detail Extraction Block): Σ over each patch's taps of taps · w.
      const p = this.patches(x, o.kernel, o.padding);
      const c = p.shape[4]!;
      const w = this.g.reshape(this.param(`${name}.weight`), [o.kernel * o.kernel, c]);
      const y = this.g.reduce(this.g.mul(p, w), [3], 'sum');
      return this.t(bias ? this.g.add(y, bias) : y);
    }
    const c = x.shape[3]!;
    const w = this.param(`${name}.weight`, [2, 3, 0, 1]); // (kh, kw, C, 1) → (C, 1, kh, kw)
    const pads = this.pads(x, o.kernel, o.stride, o.padding);
    return this.t(this.g.conv(this.as(x, 'nchw'), w, bias, { kernel: o.kernel, stride: o.stride, pads, group: c }), 'nchw');
  }

  // ---- dense layers and normalisation

  dense(x: OnnxTensor, name: string, units: number, o: { bias?: boolean; quantizable?: boolean } = {}): OnnxTensor {
    const xin = this.as(x, 'nhwc');
    const shape = [...x.shape.slice(0, -1), units];
    const bias = o.bias === false ? undefined : this.param(`${name}.bias`);
    if (this.isInput(`${name}.weight`)) return this.t(this.g.linear(xin, this.param(`${name}.weight`), bias));
    // Constant weights: MatMul (+ Add), which ONNX Runtime fuses; int8 for the backbone's MLPs.
    const y =
      this.precision === 'int8' && o.quantizable
        ? this.quantizedMatMul(xin.name, this.weight(`${name}.weight`))
        : this.g.node('MatMul', [xin.name, this.param(`${name}.weight`).name]);
    return this.t({ name: bias ? this.g.node('Add', [y, bias.name]) : y, shape });
  }

  private quantizedMatMul(x: string, w: WeightTensor): string {
    const [cin, cout] = w.shape as [number, number];
    const scales = new Float32Array(cout);
    const q = new Int8Array(cin * cout);
    for (let j = 0; j < cout; j++) {
      let m = 0;
      for (let i = 0; i < cin; i++) m = Math.max(m, Math.abs(w.data[i * cout + j]!));
      scales[j] = m > 0 ? m / 127 : 1;
    }
    for (let i = 0; i < cin; i++)
      for (let j = 0; j < cout; j++)
        q[i * cout + j] = Math.max(-127, Math.min(127, Math.round(w.data[i * cout + j]! / scales[j]!)));
    const int8 = onnx.TensorProto.DataType.INT8;
    const wq = this.g.fresh('fc_wq');
    this.g.initializers.push({ name: wq, dims: [cin, cout], dataType: int8, rawData: new Uint8Array(q.buffer) });
    const wzp = this.g.fresh('fc_wzp');
    this.g.initializers.push({ name: wzp, dims: [cout], dataType: int8, rawData: new Uint8Array(cout) });
    const [xq, xs, xzp] = this.g.nodeN('DynamicQuantizeLinear', [x], 3, {}, 'dq');
    const mm = this.g.node('MatMulInteger', [xq!, wq, xzp!, wzp]);
    const f = this.g.node('Cast', [mm], { to: onnx.TensorProto.DataType.FLOAT });
    const scale = this.g.node('Mul', [xs!, this.g.floatInit('fc_wscale', [cout], scales)]);
    return this.g.node('Mul', [f, scale]);
  }

  layerNorm(x: OnnxTensor, name: string, eps: number): OnnxTensor {
    return this.t(this.g.layerNorm(this.as(x, 'nhwc'), this.param(`${name}.weight`), this.param(`${name}.bias`), eps));
  }

  /** Keras BatchNormalization over the last axis (see OnnxGraph.batchNormTraining when training). */
  batchNorm(x: OnnxTensor, name: string, eps: number, momentum: number): OnnxTensor {
    if (!this.training && !this.isInput(`${name}.running_mean`)) {
      // Constant statistics: folded into one multiply-add, a = γ/√(σ²+ε), b = β − μ·a.
      const [g, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map(
        (s) => this.weight(`${name}.${s}`).data,
      );
      const a = Array.from(g!, (gi, i) => gi / Math.sqrt(variance![i]! + eps));
      return this.affine(
        x,
        a,
        Array.from(beta!, (bi, i) => bi - mean![i]! * a[i]!),
      );
    }
    const g = this.g;
    const xin = this.as(x, 'nhwc');
    const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((s) =>
      this.param(`${name}.${s}`),
    );
    if (this.training) {
      const r = g.batchNormTraining(xin, gamma!, beta!, eps);
      // Keras: moving = moving·momentum + batch·(1 − momentum), with the biased batch variance.
      const move = (moving: V, batch: string) =>
        g.node('Add', [g.node('Mul', [moving.name, g.scalar(momentum)]), g.node('Mul', [batch, g.scalar(1 - momentum)])]);
      this.updates.set(`${name}.running_mean`, move(mean!, r.mean));
      this.updates.set(`${name}.running_var`, move(variance!, r.variance));
      return this.t(r.y);
    }
    const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [variance!.name, g.scalar(eps)])])]);
    const y = g.node('Add', [
      g.node('Mul', [g.node('Mul', [g.node('Sub', [xin.name, mean!.name]), inv]), gamma!.name]),
      beta!.name,
    ]);
    return this.t({ name: y, shape: xin.shape });
  }

  scale(x: OnnxTensor, name: string, _init: Init): OnnxTensor {
    return this.t(this.g.mul(this.as(x, 'nhwc'), this.param(name)));
  }
  scalarScale(x: OnnxTensor, name: string, _init: Init): OnnxTensor {
    return this.t(this.g.mul(this.phys(x), this.param(name)), x.layout);
  }
  affine(x: OnnxTensor, mul: number[], add: number[]): OnnxTensor {
    return this.t(this.g.affineConst(this.as(x, 'nhwc'), this.g.floats(mul, [mul.length]), this.g.floats(add, [add.length])));
  }

  // ---- element-wise, shape and reductions

  gelu(x: OnnxTensor): OnnxTensor {
    return this.t(this.g.gelu(this.phys(x)), x.layout);
  }
  relu(x: OnnxTensor): OnnxTensor {
    return this.t(this.g.relu(this.phys(x)), x.layout);
  }
  add(a: OnnxTensor, b: OnnxTensor): OnnxTensor {
    return this.t(this.g.add(this.phys(a), this.as(b, a.layout)), a.layout);
  }
  softmax(x: OnnxTensor): OnnxTensor {
    return this.t(this.g.softmax(this.as(x, 'nhwc')));
  }
  matmul(a: OnnxTensor, b: OnnxTensor, transposeB: boolean): OnnxTensor {
    return this.t(this.g.matmul(this.as(a, 'nhwc'), this.as(b, 'nhwc'), transposeB));
  }
  mulConst(x: OnnxTensor, c: number): OnnxTensor {
    return this.t(this.g.affineConst(this.phys(x), this.g.scalar(c)), x.layout);
  }
  reshape(x: OnnxTensor, shape: number[]): OnnxTensor {
    return this.t(this.g.reshape(this.as(x, 'nhwc'), [-1, ...shape]));
  }
  globalAvgPool(x: OnnxTensor): OnnxTensor {
    const [n, , , c] = x.shape as [number, number, number, number];
    if (!this.training && x.layout === 'nchw') {
      const pooled = this.g.node('GlobalAveragePool', [x.name]);
      return this.t({ name: this.g.node('Flatten', [pooled], { axis: 1 }), shape: [n, c] });
    }
    return this.t(this.g.reduce(this.phys(x), x.layout === 'nchw' ? [2, 3] : [1, 2], 'mean'));
  }

  private drop(x: OnnxTensor, rate: number, shape: number[]): OnnxTensor {
    if (!this.training || rate === 0) return x;
    const name = `dropout.${this.masks.length}`;
    this.masks.push({ name, shape, rate });
    return this.t(this.g.mul(this.as(x, 'nhwc'), this.g.input(name, shape)));
  }
  dropout(x: OnnxTensor, rate: number): OnnxTensor {
    return this.drop(x, rate, [-1, ...x.shape.slice(1)]);
  }
  spatialDropout(x: OnnxTensor, rate: number): OnnxTensor {
    return this.drop(x, rate, [-1, 1, 1, x.shape[3]!]);
  }

  /** Give `x` (in channels-last layout) a public output name. */
  // ---- the face networks' ops: inference only (a gradient through them is refused)

  private noGrad(what: string, ...xs: OnnxTensor[]): void {
    if (xs.some((x) => this.g.needs(x.name))) throw new Error(`${what}: no gradient (the face networks are not trained here)`);
  }
  private unary(op: string, x: OnnxTensor, inputs: string[] = [], attrs: Record<string, number | { f: number }> = {}) {
    this.noGrad(op, x);
    return { name: this.g.node(op, [x.name, ...inputs], attrs), shape: x.shape, layout: x.layout };
  }
  clip(x: OnnxTensor, lo: number, hi: number): OnnxTensor {
    return this.unary('Clip', x, [this.g.scalar(lo), this.g.scalar(hi)]);
  }
  leakyRelu(x: OnnxTensor, alpha: number): OnnxTensor {
    return this.unary('LeakyRelu', x, [], { alpha: { f: alpha } });
  }
  sigmoid(x: OnnxTensor): OnnxTensor {
    return this.unary('Sigmoid', x);
  }
  exp(x: OnnxTensor): OnnxTensor {
    return this.unary('Exp', x);
  }
  pool(x: OnnxTensor, kind: 'max' | 'avg', o: { kernel: number; stride: number; padding: Padding }): OnnxTensor {
    this.noGrad('pool', x);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const attrs = {
      kernel_shape: [o.kernel, o.kernel],
      strides: [o.stride, o.stride],
      pads: this.pads(x, o.kernel, o.stride, o.padding),
    };
    const y = this.g.node(kind === 'max' ? 'MaxPool' : 'AveragePool', [this.as(x, 'nchw').name], attrs);
    const size = (d: number) => convOutSize(d, o.kernel, o.stride, o.padding);
    return { name: y, shape: [n, size(h), size(w), c], layout: 'nchw' };
  }
  concat(xs: OnnxTensor[], axis: number): OnnxTensor {
    this.noGrad('concat', ...xs);
    const [first] = xs as [OnnxTensor];
    const y = this.g.node(
      'Concat',
      xs.map((x) => this.as(x, 'nhwc').name),
      { axis },
    );
    return {
      name: y,
      shape: first.shape.map((d, i) => (i === axis ? xs.reduce((a, x) => a + x.shape[i]!, 0) : d)),
      layout: 'nhwc',
    };
  }
  resizeBilinear(x: OnnxTensor, h: number, w: number): OnnxTensor {
    this.noGrad('resizeBilinear', x);
    const [n, , , c] = x.shape as [number, number, number, number];
    // TensorFlow's legacy resize samples the source at out · (in / out): ONNX's 'asymmetric'. Sizes,
    // not scales: a float scale such as 5/3 rounds the output size down (4.9999998 → 4).
    const v = this.as(x, 'nhwc');
    const batch = this.g.node('Slice', [this.g.node('Shape', [v.name]), this.g.ints([0]), this.g.ints([1])]);
    const sizes = this.g.node('Concat', [batch, this.g.ints([h, w, c])], { axis: 0 });
    const attrs = { mode: 'linear', coordinate_transformation_mode: 'asymmetric' };
    return { name: this.g.node('Resize', [v.name, '', '', sizes], attrs), shape: [n, h, w, c], layout: 'nhwc' };
  }
  mul(a: OnnxTensor, b: OnnxTensor): OnnxTensor {
    this.noGrad('mul', a, b);
    const y = this.g.node('Mul', [this.as(a, 'nhwc').name, this.as(b, 'nhwc').name]);
    const r = Math.max(a.shape.length, b.shape.length);
    const shape = Array.from({ length: r }, (_, i) => {
      const [p, q] = [a.shape[i - (r - a.shape.length)] ?? 1, b.shape[i - (r - b.shape.length)] ?? 1];
      return p === 1 ? q : p;
    });
    return { name: y, shape, layout: 'nhwc' };
  }
  sliceLast(x: OnnxTensor, start: number, end: number): OnnxTensor {
    this.noGrad('sliceLast', x);
    const v = this.as(x, 'nhwc');
    const axis = x.shape.length - 1;
    const y = this.g.node('Slice', [v.name, this.g.ints([start]), this.g.ints([end]), this.g.ints([axis])]);
    return { name: y, shape: [...x.shape.slice(0, -1), end - start], layout: 'nhwc' };
  }

  output(x: OnnxTensor, name: string): void {
    this.g.output(name, this.as(x, 'nhwc'));
  }
}
