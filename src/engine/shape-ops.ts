/**
 * An `Ops` that computes nothing: it follows static shapes, records every parameter the network
 * declares and counts multiply-accumulates. It answers "what parameters does this configuration
 * have?" without allocating them (ConvNeXt-Base would be 350 MB).
 */
import type { ConvOptions, DepthwiseOptions, Init, Ops, Padding, ParamSpec } from '../model/ops.js';
import { convOutSize } from '../model/ops.js';

export type Shape = number[];

const keepShape = (x: Shape): Shape => x;

export class ShapeOps implements Ops<Shape> {
  readonly params = new Map<string, ParamSpec>();
  macs = 0;
  constructor(readonly training = false) {}

  private declare(name: string, shape: number[], init: Init, trainable = true): void {
    if (this.params.has(name)) throw new Error(`parameter ${name} declared twice`);
    this.params.set(name, { name, shape, init, trainable });
  }
  private perImage(shape: Shape): number {
    return shape.slice(1).reduce((a, b) => a * b, 1);
  }

  // Ops that keep their input's shape.
  affine = keepShape;
  gelu = keepShape;
  relu = keepShape;
  softmax = keepShape;
  mulConst = keepShape;
  dropout = keepShape;
  spatialDropout = keepShape;
  clip = keepShape;
  leakyRelu = keepShape;
  sigmoid = keepShape;
  exp = keepShape;

  shape(x: Shape): number[] {
    return x;
  }
  conv2d(x: Shape, name: string, o: ConvOptions): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    this.declare(
      `${name}.weight`,
      [o.kernel, o.kernel, c, o.filters],
      o.init ?? { kind: 'glorot', fanIn: c * o.kernel ** 2, fanOut: o.filters * o.kernel ** 2 },
    );
    if (o.bias !== false) this.declare(`${name}.bias`, [o.filters], { kind: 'zeros' });
    const out = [n, convOutSize(h, o.kernel, o.stride, o.padding), convOutSize(w, o.kernel, o.stride, o.padding), o.filters];
    this.macs += this.perImage(out) * o.kernel * o.kernel * c;
    return out;
  }
  depthwiseConv2d(x: Shape, name: string, o: DepthwiseOptions): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    this.declare(
      `${name}.weight`,
      [o.kernel, o.kernel, c, 1],
      o.init ?? { kind: 'glorot', fanIn: c * o.kernel ** 2, fanOut: o.kernel ** 2 },
    );
    if (o.bias !== false) this.declare(`${name}.bias`, [c], { kind: 'zeros' });
    const out = [n, convOutSize(h, o.kernel, o.stride, o.padding), convOutSize(w, o.kernel, o.stride, o.padding), c];
    this.macs += this.perImage(out) * o.kernel * o.kernel;
    return out;
  }
  dense(x: Shape, name: string, units: number, o: { bias?: boolean; init?: Init } = {}): Shape {
    const c = x[x.length - 1]!;
    this.declare(`${name}.weight`, [c, units], o.init ?? { kind: 'glorot', fanIn: c, fanOut: units });
    if (o.bias !== false) this.declare(`${name}.bias`, [units], { kind: 'zeros' });
    const out = [...x.slice(0, -1), units];
    this.macs += this.perImage(out) * c;
    return out;
  }
  layerNorm(x: Shape, name: string): Shape {
    const c = x[x.length - 1]!;
    this.declare(`${name}.weight`, [c], { kind: 'ones' });
    this.declare(`${name}.bias`, [c], { kind: 'zeros' });
    return x;
  }
  batchNorm(x: Shape, name: string): Shape {
    const c = x[x.length - 1]!;
    this.declare(`${name}.weight`, [c], { kind: 'ones' });
    this.declare(`${name}.bias`, [c], { kind: 'zeros' });
    this.declare(`${name}.running_mean`, [c], { kind: 'zeros' }, false);
    this.declare(`${name}.running_var`, [c], { kind: 'ones' }, false);
    return x;
  }
  scale(x: Shape, name: string, init: Init): Shape {
    this.declare(name, [x[x.length - 1]!], init);
    return x;
  }
  scalarScale(x: Shape, name: string, init: Init): Shape {
    this.declare(name, [], init);
    return x;
  }
  add(a: Shape, b: Shape): Shape {
    if (a.join() !== b.join()) throw new Error(`add: shapes ${a} and ${b} differ`);
    return a;
  }
  matmul(a: Shape, b: Shape, transposeB: boolean): Shape {
    const r = a.length;
    const k = a[r - 1]!;
    const bk = transposeB ? b[b.length - 1]! : b[b.length - 2]!;
    const m = transposeB ? b[b.length - 2]! : b[b.length - 1]!;
    if (k !== bk) throw new Error(`matmul: inner dimensions ${k} and ${bk} differ`);
    const out = [...a.slice(0, -1), m];
    this.macs += this.perImage(out) * k;
    return out;
  }
  reshape(x: Shape, shape: number[]): Shape {
    const from = this.perImage(x);
    const to = shape.reduce((a, b) => a * b, 1);
    if (from !== to) throw new Error(`reshape: cannot reshape ${x.slice(1)} to ${shape}`);
    return [x[0]!, ...shape];
  }
  globalAvgPool(x: Shape): Shape {
    return [x[0]!, x[3]!];
  }
  pool(x: Shape, _kind: 'max' | 'avg', o: { kernel: number; stride: number; padding: Padding }): Shape {
    const [n, h, w, c] = x as [number, number, number, number];
    return [n, convOutSize(h, o.kernel, o.stride, o.padding), convOutSize(w, o.kernel, o.stride, o.padding), c];
  }
  concat(xs: Shape[], axis: number): Shape {
    const [first, ...rest] = xs as [Shape, ...Shape[]];
    for (const x of rest)
      if (x.length !== first.length || x.some((d, i) => i !== axis && d !== first[i]))
        throw new Error(`concat on axis ${axis}: shapes ${first} and ${x} differ elsewhere`);
    return first.map((d, i) => (i === axis ? xs.reduce((a, x) => a + x[i]!, 0) : d));
  }
  resizeBilinear(x: Shape, h: number, w: number): Shape {
    return [x[0]!, h, w, x[3]!];
  }
  mul(a: Shape, b: Shape): Shape {
    const r = Math.max(a.length, b.length);
    return Array.from({ length: r }, (_, i) => {
      const [p, q] = [a[i - (r - a.length)] ?? 1, b[i - (r - b.length)] ?? 1];
      if (p !== q && p !== 1 && q !== 1) throw new Error(`mul: shapes ${a} and ${b} do not broadcast`);
      return p === 1 ? q : p;
    });
  }
  sliceLast(x: Shape, start: number, end: number): Shape {
    return [...x.slice(0, -1), end - start];
  }
}

export function countParams(specs: Iterable<ParamSpec>, filter: (p: ParamSpec) => boolean = () => true): number {
  let n = 0;
  for (const p of specs) if (filter(p)) n += p.shape.reduce((a, b) => a * b, 1);
  return n;
}
