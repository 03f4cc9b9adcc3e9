/**
 * `Ops` that record an ONNX graph (opset 17) instead of computing.
 *
 * The network is channels-last; ONNX's Conv is channels-first. Each recorded tensor remembers its
 * current physical layout and a Transpose is inserted only when an op needs the other one (Conv
 * needs NCHW; LayerNormalization, MatMul and Softmax act on the last axis and need NHWC). A ConvNeXt
 * block then costs two Transposes, as in torchvision. Kernels are converted to ONNX's layouts
 * (OIHW) once, when initialisers are written.
 */
import path from 'node:path';
import pkg from 'onnx-proto';
import type { ConvOptions, DepthwiseOptions, Init, Ops } from '../model/ops.js';
import { samePadding } from '../model/ops.js';
import { numel, transposeData, type WeightTensor, type Weights } from '../weights/weight-map.js';

const { onnx } = pkg;
export { onnx };

type Layout = 'nhwc' | 'nchw';

export interface OnnxTensor {
  name: string;
  /** Logical (channels-last) shape; -1 for the batch axis. */
  shape: number[];
  layout: Layout;
}

type Attr = number | number[] | string;

export class OnnxOps implements Ops<OnnxTensor> {
  readonly training = false;
  readonly nodes: pkg.onnx.INodeProto[] = [];
  readonly initializers: pkg.onnx.ITensorProto[] = [];
  private counter = 0;
  private converted = new Map<string, string>();

  /**
   * `int8`: the backbone's MatMuls (the ConvNeXt MLPs, ~90 % of its multiply-adds) get int8 weights,
   * quantised per output channel (symmetric), and activations quantised per tensor at run time
   * (DynamicQuantizeLinear → MatMulInteger → rescale: the pattern ONNX Runtime fuses into
   * DynamicQuantizeMatMul). Convolutions and the head stay float32.
   *
   * `externalDir`: float32 weights that lie in a file in this directory (`WeightTensor.source`) are
   * written as ONNX external data referencing that file, instead of being copied into the graph.
   * Such a graph loads only with ONNX Runtime told that directory (ort-session.ts).
   */
  constructor(
    private readonly weights: Weights,
    readonly precision: 'fp32' | 'int8' = 'fp32',
    private readonly externalDir?: string,
  ) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, hint = op.toLowerCase()): string {
    const out = this.fresh(hint);
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      return Number.isInteger(v) && name !== 'epsilon'
        ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
        : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
    });
    this.nodes.push({ opType: op, input: inputs, output: [out], attribute, name: out });
    return out;
  }

  floatInit(hint: string, t: WeightTensor): string {
    const name = this.fresh(hint);
    const src = t.source;
    if (src && this.externalDir !== undefined && path.dirname(src.file) === this.externalDir) {
      const length = numel(t.shape) * 4;
      const externalData = { location: path.basename(src.file), offset: String(src.offset), length: String(length) };
      this.initializers.push({
        name,
        dims: t.shape,
        dataType: onnx.TensorProto.DataType.FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: Object.entries(externalData).map(([key, value]) => ({ key, value })),
      });
      return name;
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    this.initializers.push({ name, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes }); // a view: encode() copies it once
    return name;
  }
  private constInit(hint: string, values: number[], shape = [values.length]): string {
    return this.floatInit(hint, { shape, data: Float32Array.from(values) });
  }
  private int64Init(hint: string, values: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: values });
    return name;
  }
  private weight(name: string): WeightTensor {
    const w = this.weights.get(name);
    if (!w) throw new Error(`parameter ${name} is not loaded`);
    return w;
  }

  private as(x: OnnxTensor, layout: Layout): string {
    if (x.layout === layout || x.shape.length !== 4) return x.name;
    const key = `${x.name}->${layout}`;
    let out = this.converted.get(key);
    if (!out) {
      out = this.node('Transpose', [x.name], { perm: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }, `to_${layout}`);
      this.converted.set(key, out);
    }
    return out;
  }
  private t(name: string, shape: number[], layout: Layout = 'nhwc'): OnnxTensor {
    return { name, shape, layout };
  }

  shape(x: OnnxTensor): number[] {
    return x.shape;
  }

  private conv(
    x: OnnxTensor,
    weight: WeightTensor,
    bias: WeightTensor | undefined,
    k: number,
    stride: number,
    padding: 'same' | 'valid',
    group: number,
    outC: number,
  ): OnnxTensor {
    const [n, h, w] = x.shape as [number, number, number];
    const ph = padding === 'same' ? samePadding(h, k, stride) : [0, 0];
    const pw = padding === 'same' ? samePadding(w, k, stride) : [0, 0];
    const inputs = [this.as(x, 'nchw'), this.floatInit('conv_w', weight)];
    if (bias) inputs.push(this.floatInit('conv_b', bias));
    const out = this.node('Conv', inputs, {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [ph[0]!, pw[0]!, ph[1]!, pw[1]!],
      group,
    });
    const ho = Math.floor((h + ph[0]! + ph[1]! - k) / stride) + 1;
    const wo = Math.floor((w + pw[0]! + pw[1]! - k) / stride) + 1;
    return this.t(out, [n, ho, wo, outC], 'nchw');
  }

  conv2d(x: OnnxTensor, name: string, o: ConvOptions): OnnxTensor {
    const w = transposeData(this.weight(`${name}.weight`).data, this.weight(`${name}.weight`).shape, [3, 2, 0, 1]);
    const b = o.bias === false ? undefined : this.weight(`${name}.bias`);
    return this.conv(x, w, b, o.kernel, o.stride, o.padding, 1, o.filters);
  }

  depthwiseConv2d(x: OnnxTensor, name: string, o: DepthwiseOptions): OnnxTensor {
    const c = x.shape[3]!;
    const src = this.weight(`${name}.weight`);
    // (kh, kw, C, 1) → (C, 1, kh, kw)
    const w = transposeData(src.data, src.shape, [2, 3, 0, 1]);
    const b = o.bias === false ? undefined : this.weight(`${name}.bias`);
    return this.conv(x, w, b, o.kernel, o.stride, o.padding, c, c);
  }

  dense(x: OnnxTensor, name: string, units: number, o: { bias?: boolean } = {}): OnnxTensor {
    let y =
      this.precision === 'int8' && name.startsWith('stages.')
        ? this.quantizedMatMul(this.as(x, 'nhwc'), this.weight(`${name}.weight`))
        : this.node('MatMul', [this.as(x, 'nhwc'), this.floatInit('fc_w', this.weight(`${name}.weight`))]);
    if (o.bias !== false) y = this.node('Add', [y, this.floatInit('fc_b', this.weight(`${name}.bias`))]);
    return this.t(y, [...x.shape.slice(0, -1), units]);
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
    const wq = this.fresh('fc_wq');
    this.initializers.push({
      name: wq,
      dims: [cin, cout],
      dataType: onnx.TensorProto.DataType.INT8,
      rawData: new Uint8Array(q.buffer),
    });
    const wzp = this.fresh('fc_wzp');
    this.initializers.push({ name: wzp, dims: [cout], dataType: onnx.TensorProto.DataType.INT8, rawData: new Uint8Array(cout) });
    const dq = this.fresh('dq');
    this.nodes.push({ opType: 'DynamicQuantizeLinear', input: [x], output: [`${dq}_x`, `${dq}_scale`, `${dq}_zp`], name: dq });
    const mm = this.node('MatMulInteger', [`${dq}_x`, wq, `${dq}_zp`, wzp]);
    const f = this.node('Cast', [mm], { to: onnx.TensorProto.DataType.FLOAT });
    const scale = this.node('Mul', [`${dq}_scale`, this.floatInit('fc_wscale', { shape: [cout], data: scales })]);
    return this.node('Mul', [f, scale]);
  }

  layerNorm(x: OnnxTensor, name: string, eps: number): OnnxTensor {
    const y = this.node(
      'LayerNormalization',
      [
        this.as(x, 'nhwc'),
        this.floatInit('ln_g', this.weight(`${name}.weight`)),
        this.floatInit('ln_b', this.weight(`${name}.bias`)),
      ],
      { axis: -1, epsilon: eps },
    );
    return this.t(y, x.shape);
  }

  /** Inference BatchNorm folded into one multiply-add: a = γ/√(σ²+ε), b = β − μ·a. */
  batchNorm(x: OnnxTensor, name: string, eps: number): OnnxTensor {
    const g = this.weight(`${name}.weight`).data;
    const beta = this.weight(`${name}.bias`).data;
    const mean = this.weight(`${name}.running_mean`).data;
    const variance = this.weight(`${name}.running_var`).data;
    const a = Array.from(g, (gi, i) => gi / Math.sqrt(variance[i]! + eps));
    const b = Array.from(beta, (bi, i) => bi - mean[i]! * a[i]!);
    return this.affine(x, a, b);
  }

  scale(x: OnnxTensor, name: string, _init: Init): OnnxTensor {
    return this.t(this.node('Mul', [this.as(x, 'nhwc'), this.floatInit('scale', this.weight(name))]), x.shape);
  }
  scalarScale(x: OnnxTensor, name: string, _init: Init): OnnxTensor {
    return this.t(this.node('Mul', [x.name, this.floatInit('scale', this.weight(name))]), x.shape, x.layout);
  }
  affine(x: OnnxTensor, mul: number[], add: number[]): OnnxTensor {
    const m = this.node('Mul', [this.as(x, 'nhwc'), this.constInit('affine_mul', mul)]);
    return this.t(this.node('Add', [m, this.constInit('affine_add', add)]), x.shape);
  }
  gelu(x: OnnxTensor): OnnxTensor {
    // x·½(1 + erf(x/√2)): the pattern ONNX Runtime fuses into one Gelu kernel.
    const d = this.node('Div', [x.name, this.constInit('sqrt2', [Math.SQRT2], [])]);
    const e = this.node('Erf', [d]);
    const a = this.node('Add', [e, this.constInit('one', [1], [])]);
    const m = this.node('Mul', [x.name, a]);
    return this.t(this.node('Mul', [m, this.constInit('half', [0.5], [])]), x.shape, x.layout);
  }
  relu(x: OnnxTensor): OnnxTensor {
    return this.t(this.node('Relu', [x.name]), x.shape, x.layout);
  }
  add(a: OnnxTensor, b: OnnxTensor): OnnxTensor {
    return this.t(this.node('Add', [a.name, this.as(b, a.layout)]), a.shape, a.layout);
  }
  softmax(x: OnnxTensor): OnnxTensor {
    return this.t(this.node('Softmax', [this.as(x, 'nhwc')], { axis: -1 }), x.shape);
  }
  matmul(a: OnnxTensor, b: OnnxTensor, transposeB: boolean): OnnxTensor {
    const r = b.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 1], perm[r - 2]] = [perm[r - 2]!, perm[r - 1]!];
    const bn = transposeB ? this.node('Transpose', [this.as(b, 'nhwc')], { perm }) : this.as(b, 'nhwc');
    const m = transposeB ? b.shape[r - 2]! : b.shape[r - 1]!;
    return this.t(this.node('MatMul', [this.as(a, 'nhwc'), bn]), [...a.shape.slice(0, -1), m]);
  }
  mulConst(x: OnnxTensor, c: number): OnnxTensor {
    return this.t(this.node('Mul', [x.name, this.constInit('c', [c], [])]), x.shape, x.layout);
  }
  reshape(x: OnnxTensor, shape: number[]): OnnxTensor {
    return this.t(this.node('Reshape', [this.as(x, 'nhwc'), this.int64Init('shape', [-1, ...shape])]), [x.shape[0]!, ...shape]);
  }
  globalAvgPool(x: OnnxTensor): OnnxTensor {
    const [n, , , c] = x.shape as [number, number, number, number];
    if (x.layout === 'nchw') return this.t(this.node('Flatten', [this.node('GlobalAveragePool', [x.name])], { axis: 1 }), [n, c]);
    return this.t(this.node('ReduceMean', [x.name], { axes: [1, 2], keepdims: 0 }), [n, c]);
  }
  dropout(x: OnnxTensor): OnnxTensor {
    return x;
  }
  spatialDropout(x: OnnxTensor): OnnxTensor {
    return x;
  }

  /** Give `x` (in channels-last layout) a public output name. */
  output(x: OnnxTensor, name: string): pkg.onnx.IValueInfoProto {
    this.nodes.push({ opType: 'Identity', input: [this.as(x, 'nhwc')], output: [name], name: `out_${name}` });
    return valueInfo(name, x.shape);
  }
}

export function valueInfo(name: string, shape: number[]): pkg.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (d < 0 ? { dimParam: 'batch' } : { dimValue: d })) },
      },
    },
  };
}
