/**
 * `Ops` computed with TensorFlow.js, with gradients.
 *
 * The `wasm` backend lacks Conv2DBackpropFilter and the depthwise-conv backprop kernels (SPEC §5),
 * so every convolution is written with ops that do have gradients there:
 * - kernel == stride (ConvNeXt stem and downsampling, both Detail Extraction convs): the input is
 *   cut into non-overlapping patches (reshape/transpose), then a matMul (dense conv) or a
 *   multiply-and-sum (depthwise). Exact, and faster than the native conv on wasm.
 * - the 7×7 depthwise conv of ConvNeXt blocks: native, with a custom gradient built from forward
 *   depthwise convs (see `depthwiseSame`).
 */
import type { ConvOptions, DepthwiseOptions, Ops, Padding } from '../model/ops.js';
import { samePadding } from '../model/ops.js';
import { Rng } from '../util/rng.js';
import type { Weights } from '../weights/weight-map.js';
import { tapsGeometry } from './detail-taps.js';
import { tf } from './tfjs-backend.js';
import { addBias, matMul, mulVector, patchDepthwise, patchDepthwiseTaps } from './tfjs-kernels.js';

/**
 * Frozen features delivered already cut into the first Detail Extraction taps (detail-taps.ts).
 * `taps` stands in for the NHWC features of `shape` in the model code: the only ops that may see it
 * are `shape` and the matching patch `depthwiseConv2d` (the first op of the Detail Extraction Block).
 */
export interface TapsInput {
  taps: tf.Tensor;
  shape: number[];
  kernel: number;
  padding: Padding;
}

type T = tf.Tensor;

/** The model's parameters as tfjs variables; non-trainable ones (BatchNorm statistics) too. */
export class TfjsParams {
  private static instances = 0;
  readonly vars = new Map<string, tf.Variable>();
  constructor(weights: Weights, trainable: (name: string) => boolean = () => true) {
    // tfjs variable names are global: suffix them so several models can live in one process.
    const id = TfjsParams.instances++;
    // Sorted, so the optimiser's per-variable slots line up the same way in every process (resume).
    for (const name of [...weights.keys()].sort()) {
      const w = weights.get(name)!;
      const trainableHere = trainable(name) && !name.includes('running_');
      this.vars.set(name, tf.variable(tf.tensor(w.data, w.shape), trainableHere, `${name}#${id}`));
    }
  }
  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`parameter ${name} is not loaded`);
    return v;
  }
  trainable(): tf.Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }
  /** Current values back as a weight map (for checkpoints and ONNX export). */
  async toWeights(): Promise<Weights> {
    const out: Weights = new Map();
    for (const [name, v] of this.vars) out.set(name, { shape: [...v.shape], data: (await v.data()) as Float32Array });
    return out;
  }
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** ∂w of a stride-1 'same' depthwise conv (see `depthwiseSame`). */
function depthwiseSameGradW(xs: tf.Tensor4D, k: number, dy: tf.Tensor): tf.Tensor {
  const [n, h, wd, c] = xs.shape;
  const p = (k - 1) / 2;
  const xp = tf.pad(xs, [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ]);
  const xr = tf.reshape(tf.transpose(xp, [1, 2, 0, 3]), [1, h + 2 * p, wd + 2 * p, n * c]);
  const kr = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [h, wd, n * c, 1]);
  const dwAll = tf.depthwiseConv2d(xr as tf.Tensor4D, kr as tf.Tensor4D, 1, 'valid');
  return tf.reshape(tf.sum(tf.reshape(dwAll, [k, k, n, c]), 2), [k, k, c, 1]);
}

/**
 * Stride-1 'same' depthwise conv (odd kernel) with gradients made of forward ops only, because the
 * wasm backend has no depthwise backprop kernels:
 * - ∂x = the same depthwise conv of ∂y with the kernel rotated 180°;
 * - ∂w[i, j, c] = Σ_{n,y,x} xpad[n, y+i, x+j, c] · ∂y[n, y, x, c]: one depthwise conv whose
 *   "channels" are the (n, c) pairs and whose kernel is ∂y itself, then a sum over n.
 * Measured against autodiff through shifted slices in test/training.test.ts.
 */
export const depthwiseSame = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dx = tf.depthwiseConv2d(dy as tf.Tensor4D, tf.reverse(ws, [0, 1]), 1, 'same');
      return [dx, depthwiseSameGradW(xs, ws.shape[0], dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor4D;

/**
 * `depthwiseSame` on an input that is data, not a function of any variable (the frozen prefix's
 * output when fine-tuning): ∂x is not computed — on wasm a 7×7 depthwise conv of a 16×14×14×512
 * batch costs ~90 ms (measured; ~4× more per multiply-add than a 3×3 one).
 */
export function depthwiseSameConstInput(x: tf.Tensor, w: tf.Tensor): tf.Tensor4D {
  const f = tf.customGrad(((wv: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return {
      value: tf.depthwiseConv2d(x as tf.Tensor4D, wv as tf.Tensor4D, 1, 'same'),
      gradFunc: (dy: tf.Tensor) => [depthwiseSameGradW(x as tf.Tensor4D, wv.shape[0]!, dy)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (w: tf.Tensor) => tf.Tensor4D;
  return f(w);
}

export class TfjsOps implements Ops<T> {
  /** BatchNorm moving-statistics updates of the last training forward pass, applied by the trainer. */
  pendingUpdates: { variable: tf.Variable; value: T }[] = [];
  private rng: Rng;

  constructor(
    readonly params: TfjsParams,
    readonly training = false,
    seed = 0,
    private readonly tapsInput?: TapsInput,
    /** The step's input when it is plain data (frozen features): ops on it skip ∂input. */
    private readonly constantInput?: tf.Tensor,
  ) {
    this.rng = new Rng(seed);
  }

  shape(x: T): number[] {
    return x === this.tapsInput?.taps ? [...this.tapsInput.shape] : [...x.shape];
  }

  private pad(x: T, kernel: number, stride: number): T {
    const [, h, w] = x.shape as number[];
    const ph = samePadding(h!, kernel, stride);
    const pw = samePadding(w!, kernel, stride);
    return ph[0] + ph[1] + pw[0] + pw[1] === 0 ? x : tf.pad(x, [[0, 0], ph, pw, [0, 0]]);
  }

  /** (N, H, W, C) → (N, H/k, W/k, k·k·C), patch elements in (kh, kw, c) order = HWIO flattening. */
  private patches(x: T, k: number): T {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const ho = Math.floor(h / k);
    const wo = Math.floor(w / k);
    const cropped = h % k || w % k ? tf.slice(x, [0, 0, 0, 0], [n, ho * k, wo * k, c]) : x;
    const rows = tf.reshape(cropped, [n * ho, k, wo, k * c]);
    return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n, ho, wo, k * k * c]);
  }

  private input(x: T, kernel: number, stride: number, padding: 'same' | 'valid'): T {
    return padding === 'same' ? this.pad(x, kernel, stride) : x;
  }

  conv2d(x: T, name: string, o: ConvOptions): T {
    const w = this.params.get(`${name}.weight`);
    const xin = this.input(x, o.kernel, o.stride, o.padding);
    let y: T;
    if (o.kernel === o.stride) {
      const p = this.patches(xin, o.kernel);
      const [n, ho, wo, kc] = p.shape as number[];
      y = tf.reshape(matMul(tf.reshape(p, [-1, kc!]), tf.reshape(w, [kc!, o.filters])), [n!, ho!, wo!, o.filters]);
    } else {
      y = tf.conv2d(xin as tf.Tensor4D, w as tf.Tensor4D, o.stride, 'valid');
    }
    return o.bias === false ? y : addBias(y, this.params.get(`${name}.bias`));
  }

  depthwiseConv2d(x: T, name: string, o: DepthwiseOptions): T {
    const w = this.params.get(`${name}.weight`);
    const t = this.tapsInput;
    if (x === t?.taps) {
      if (o.kernel !== t.kernel || o.stride !== t.kernel || o.padding !== t.padding)
        throw new Error(`${name}: the taps input was cut for kernel ${t.kernel} '${t.padding}', not this conv`);
      const [n, ...sample] = t.shape as [number, number, number, number];
      const { ho, wo, c } = tapsGeometry(sample, t.kernel, t.padding);
      const y = tf.reshape(patchDepthwiseTaps(t.taps, tf.reshape(w, [o.kernel * o.kernel, c])), [n, ho, wo, c]);
      return o.bias === false ? y : addBias(y, this.params.get(`${name}.bias`));
    }
    const c = x.shape[3]!;
    const xin = this.input(x, o.kernel, o.stride, o.padding);
    let y: T;
    if (o.kernel === o.stride) {
      const p = this.patches(xin, o.kernel);
      const [n, ho, wo] = p.shape as number[];
      const taps = tf.reshape(p, [n! * ho! * wo!, o.kernel * o.kernel, c]);
      y = tf.reshape(patchDepthwise(taps, tf.reshape(w, [o.kernel * o.kernel, c])), [n!, ho!, wo!, c]);
    } else if (this.training && o.stride === 1 && o.kernel % 2 === 1 && o.padding === 'same') {
      y = x === this.constantInput ? depthwiseSameConstInput(x, w) : depthwiseSame(x, w);
    } else {
      y = tf.depthwiseConv2d(xin as tf.Tensor4D, w as tf.Tensor4D, o.stride, 'valid');
    }
    return o.bias === false ? y : addBias(y, this.params.get(`${name}.bias`));
  }

  dense(x: T, name: string, units: number, o: { bias?: boolean } = {}): T {
    const w = this.params.get(`${name}.weight`);
    const shape = x.shape;
    const c = shape[shape.length - 1]!;
    let y = matMul(x.rank === 2 ? x : tf.reshape(x, [-1, c]), w);
    if (o.bias !== false) y = addBias(y, this.params.get(`${name}.bias`));
    return x.rank === 2 ? y : tf.reshape(y, [...shape.slice(0, -1), units]);
  }

  layerNorm(x: T, name: string, eps: number): T {
    const { mean, variance } = tf.moments(x, -1, true);
    const norm = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    return addBias(mulVector(norm, this.params.get(`${name}.weight`)), this.params.get(`${name}.bias`));
  }

  batchNorm(x: T, name: string, eps: number, momentum: number): T {
    const gamma = this.params.get(`${name}.weight`);
    const beta = this.params.get(`${name}.bias`);
    const movingMean = this.params.get(`${name}.running_mean`);
    const movingVar = this.params.get(`${name}.running_var`);
    if (!this.training) {
      return tf.add(tf.mul(tf.div(tf.sub(x, movingMean), tf.sqrt(tf.add(movingVar, eps))), gamma), beta);
    }
    const axes = [...Array(x.rank - 1).keys()];
    const { mean, variance } = tf.moments(x, axes);
    // Keras: moving = moving·momentum + batch·(1 − momentum), with the biased batch variance.
    this.pendingUpdates.push(
      { variable: movingMean, value: tf.keep(tf.add(tf.mul(movingMean, momentum), tf.mul(mean, 1 - momentum))) },
      { variable: movingVar, value: tf.keep(tf.add(tf.mul(movingVar, momentum), tf.mul(variance, 1 - momentum))) },
    );
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
  }

  /** Apply and forget the BatchNorm statistics updates of the last training pass. */
  applyPendingUpdates(): void {
    for (const u of this.pendingUpdates) {
      u.variable.assign(u.value);
      u.value.dispose();
    }
    this.pendingUpdates = [];
  }

  scale(x: T, name: string): T {
    return mulVector(x, this.params.get(name));
  }
  scalarScale(x: T, name: string): T {
    return tf.mul(x, this.params.get(name));
  }
  affine(x: T, mul: number[], add: number[]): T {
    return tf.add(tf.mul(x, tf.tensor1d(mul)), tf.tensor1d(add));
  }
  gelu(x: T): T {
    // Exact GELU, as Keras' Activation('gelu') and torch.nn.GELU(): x·Φ(x) = ½x(1 + erf(x/√2)).
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  }
  relu(x: T): T {
    return tf.relu(x);
  }
  add(a: T, b: T): T {
    return tf.add(a, b);
  }
  softmax(x: T): T {
    return tf.softmax(x);
  }
  matmul(a: T, b: T, transposeB: boolean): T {
    return matMul(a, b, transposeB);
  }
  mulConst(x: T, c: number): T {
    return tf.mul(x, c);
  }
  reshape(x: T, shape: number[]): T {
    return tf.reshape(x, [x.shape[0]!, ...shape]);
  }
  globalAvgPool(x: T): T {
    return tf.mean(x, [1, 2]);
  }
  private drop(x: T, rate: number, noiseShape: number[]): T {
    if (!this.training || rate === 0) return x;
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(noiseShape, 0, 1, 'float32', this.rng.fork()), rate), 'float32');
    return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
  }
  dropout(x: T, rate: number): T {
    return this.drop(x, rate, [...x.shape]);
  }
  spatialDropout(x: T, rate: number): T {
    const [n, , , c] = x.shape as number[];
    return this.drop(x, rate, [n!, 1, 1, c!]);
  }
}
