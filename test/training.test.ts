/** A few TensorFlow.js training steps reduce the loss, with the backbone frozen and with its last blocks trainable. */
import { beforeAll, describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { initTf, tf } from '../src/engine/tfjs-backend.js';
import { TfjsOps, TfjsParams } from '../src/engine/tfjs-ops.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { runUnits } from '../src/model/convnext.js';
import { KerasAdam } from '../src/train/adam.js';
import { TfjsTrainer } from '../src/train/tfjs-trainer.js';
import { initWeights } from '../src/weights/weight-map.js';
import { tapsShape, writeTaps } from '../src/engine/detail-taps.js';
import { DETAIL_FIRST_PATCH } from '../src/model/detail.js';
import { smallConfig } from './helpers.js';

const S = 112;
const N = 8;

/** A tiny separable problem: class 0 images are bright on the left, class 1 on the right. */
function tinyProblem(): { images: tf.Tensor4D; labels: Int32Array } {
  const data = new Float32Array(N * S * S * 3);
  const labels = new Int32Array(N);
  for (let n = 0; n < N; n++) {
    labels[n] = n % 2;
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++)
        for (let c = 0; c < 3; c++) {
          const bright = x < S / 2 === (labels[n] === 0);
          data[((n * S + y) * S + x) * 3 + c] = (bright ? 200 : 40) + ((n * 31 + y * 7 + x * 3 + c) % 25);
        }
  }
  return { images: tf.tensor4d(data, [N, S, S, 3]), labels };
}

function lossOf(trainer: TfjsTrainer, input: tf.Tensor, labels: Int32Array): number {
  const { logits } = trainer.predict(input);
  return tf.tidy(
    () => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 2), tf.tensor2d(logits, [N, 2])).dataSync()[0]!,
  );
}

describe('tfjs training', () => {
  beforeAll(async () => {
    await initTf('wasm');
  });

  for (const trainable of [0, 2]) {
    it(`reduces the loss on a tiny problem with ${trainable === 0 ? 'the backbone frozen' : `the last ${trainable} backbone units trainable`}`, () => {
      const cfg = smallConfig({ head: { classes: ['left', 'right'], dropout: 0.1 } });
      const weights = initWeights(paramSpecs(cfg), 5);
      const { images, labels } = tinyProblem();
      // The frozen part runs first (ONNX Runtime in real runs; tfjs here), once.
      const units = convcutBackbone(cfg);
      const frozen = new TfjsParams(weights);
      const input = tf.tidy(() => runUnits(new TfjsOps(frozen, false), images, units.slice(0, units.length - trainable)));
      frozen.dispose();

      const trainer = new TfjsTrainer(cfg, weights, { trainableBackboneUnits: trainable, learningRate: 3e-3, seed: 1 });
      const names = [...trainer.params.vars.keys()];
      expect(names.some((n) => n.startsWith('stages.'))).toBe(trainable > 0);
      if (trainable) expect(names).toContain('stages.2.blocks.0.mlp.fc1.weight');
      const blockBefore = trainable ? trainer.params.get('stages.2.blocks.1.conv_dw.weight').dataSync().slice() : undefined;

      const before = lossOf(trainer, input, labels);
      for (let i = 0; i < 25; i++) trainer.step(input, labels);
      const after = lossOf(trainer, input, labels);
      expect(after).toBeLessThan(before * 0.7);
      if (blockBefore) {
        const now = trainer.params.get('stages.2.blocks.1.conv_dw.weight').dataSync();
        expect(now.some((v, i) => v !== blockBefore[i])).toBe(true);
      }
      // BatchNorm moving statistics moved away from their initial values (0 / 1).
      expect(
        trainer.params
          .get('head.bn.running_mean')
          .dataSync()
          .some((v) => v !== 0),
      ).toBe(true);
      trainer.dispose();
      input.dispose();
      images.dispose();
    });
  }

  it("takes Keras' Adam steps with the global gradient norm clipped at 3.0", () => {
    const a = tf.variable(tf.tensor1d([0.5, -1]), true, 'adam-test-a');
    const b = tf.variable(tf.tensor1d([2, 0]), true, 'adam-test-b');
    const adam = new KerasAdam(
      new Map([
        ['a', a],
        ['b', b],
      ]),
      0.1,
      3,
    );
    // Keras' update in float64, step by step, for the same gradients.
    const theta = [0.5, -1, 2, 0];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    const steps = [
      [3, 4, 0, 12], // joint norm 13: clipped to 3
      [0.1, -0.2, 0.3, 0], // below 3: unchanged
    ];
    steps.forEach((g, t) => {
      const norm = Math.hypot(...g);
      const c = 3 / Math.max(norm, 3);
      for (let i = 0; i < 4; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * c * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * (c * g[i]!) ** 2;
        theta[i]! -= ((0.1 * Math.sqrt(1 - 0.999 ** (t + 1))) / (1 - 0.9 ** (t + 1))) * (m[i]! / (Math.sqrt(v[i]!) + 1e-7));
      }
      const got = adam.apply({ [a.name]: tf.tensor1d(g.slice(0, 2)), [b.name]: tf.tensor1d(g.slice(2)) });
      expect(got).toBeCloseTo(norm, 5);
      const now = [...a.dataSync(), ...b.dataSync()];
      now.forEach((x, i) => expect(x).toBeCloseTo(theta[i]!, 5));
    });
    // State round-trips exactly.
    const copy = new KerasAdam(
      new Map([
        ['a', a],
        ['b', b],
      ]),
      0.1,
      3,
    );
    copy.setState(adam.state());
    expect([...copy.state()]).toEqual([...adam.state()]);
    expect(() => copy.setState(new Map())).toThrow(/optimizer state lacks "iterations"/);
  });

  it("weights each sample's loss by its class weight", () => {
    const cfg = smallConfig({ head: { classes: ['a', 'b'] } });
    const weights = initWeights(paramSpecs(cfg), 9);
    const feats = tf.randomNormal([N, 7, 7, 32], 0, 50, 'float32', 3);
    const labels = new Int32Array(N).map((_, i) => i % 2);
    const plain = new TfjsTrainer(cfg, weights, { seed: 2 });
    const weighted = new TfjsTrainer(cfg, weights, { seed: 2, classWeights: [2, 2] });
    // Doubling every class weight doubles the loss exactly (same dropout masks: same seed).
    const a = plain.step(feats, labels).loss;
    const b = weighted.step(feats, labels).loss;
    expect(b / a).toBeCloseTo(2, 4);
    plain.dispose();
    weighted.dispose();
    feats.dispose();
  });
});

describe('Detail Extraction taps (features cut into patches off the training thread)', () => {
  beforeAll(async () => {
    await initTf('wasm');
  });

  // 7×7 features: 'same' k4 pads one row/column at the end, 'valid' crops; 6×6 exercises no padding.
  for (const [h, w] of [
    [7, 7],
    [6, 5],
  ] as const) {
    it(`a training step on taps equals the step on NHWC features (${h}×${w})`, () => {
      const cfg = smallConfig({ head: { classes: ['a', 'b', 'c'], dropout: 0.2 } });
      const weights = initWeights(paramSpecs(cfg), 4);
      const feats = tf.randomNormal([N, h, w, 32], 0, 3, 'float32', 7);
      const labels = new Int32Array(N).map((_, i) => i % 3);
      const onNhwc = new TfjsTrainer(cfg, weights, { seed: 3 });
      const onTaps = new TfjsTrainer(cfg, weights, { seed: 3 });
      const g = onTaps.tapsGeometry([h, w, 32])!;
      const data = feats.dataSync() as Float32Array;
      const buf = new Float32Array(tapsShape(g, N).reduce((a, b) => a * b));
      for (let n = 0; n < N; n++) writeTaps(g, N, n, data.subarray(n * h * w * 32, (n + 1) * h * w * 32), buf);
      const taps = tf.tensor(buf, tapsShape(g, N));
      for (let i = 0; i < 3; i++) {
        const a = onNhwc.step(feats, labels);
        const b = onTaps.step({ taps, shape: [N, h, w, 32], ...DETAIL_FIRST_PATCH }, labels);
        expect(b.loss).toBeCloseTo(a.loss, 4);
        expect(b.gradNorm).toBeCloseTo(a.gradNorm, 3);
      }
      const wa = onNhwc.params.get('detail.sep1.depthwise.weight').dataSync();
      const wb = onTaps.params.get('detail.sep1.depthwise.weight').dataSync();
      expect(Math.max(...wa.map((v, i) => Math.abs(v - wb[i]!)))).toBeLessThan(1e-5);
      // Only a frozen input may arrive as taps: with trainable backbone units there is no geometry.
      expect(new TfjsTrainer(cfg, weights, { trainableBackboneUnits: 1 }).tapsGeometry([h, w, 32])).toBeUndefined();
      for (const t of [onNhwc, onTaps]) t.dispose();
      taps.dispose();
      feats.dispose();
    });
  }
});

describe('depthwise conv gradients without the missing wasm kernels', () => {
  beforeAll(async () => {
    await initTf('wasm');
  });

  it('match autodiff through the shifted-slices formulation (∂x and ∂w)', async () => {
    const { depthwiseSame } = await import('../src/engine/tfjs-ops.js');
    const x = tf.randomNormal([2, 9, 8, 5], 0, 1, 'float32', 1);
    const w = tf.randomNormal([7, 7, 5, 1], 0, 1, 'float32', 2);
    const dy = tf.randomNormal([2, 9, 8, 5], 0, 1, 'float32', 3);
    const reference = (xi: tf.Tensor, wi: tf.Tensor) => {
      const xp = tf.pad(xi, [
        [0, 0],
        [3, 3],
        [3, 3],
        [0, 0],
      ]);
      let acc = tf.zerosLike(xi);
      for (let i = 0; i < 7; i++)
        for (let j = 0; j < 7; j++)
          acc = tf.add(
            acc,
            tf.mul(tf.slice(xp, [0, i, j, 0], [2, 9, 8, 5]), tf.reshape(tf.slice(wi, [i, j, 0, 0], [1, 1, 5, 1]), [5])),
          );
      return acc;
    };
    const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dy));
    const [gxRef, gwRef] = tf.grads(loss(reference))([x, w]);
    const [gx, gw] = tf.grads(loss(depthwiseSame))([x, w]);
    expect(Math.max(...Array.from(tf.abs(tf.sub(gx!, gxRef!)).dataSync()))).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(tf.abs(tf.sub(gw!, gwRef!)).dataSync()))).toBeLessThan(1e-3);
    expect(Math.max(...Array.from(tf.abs(tf.sub(depthwiseSame(x, w), reference(x, w))).dataSync()))).toBeLessThan(1e-4);
    // On a constant input only ∂w is computed, and it is the same.
    const { depthwiseSameConstInput } = await import('../src/engine/tfjs-ops.js');
    const gwConst = tf.grad((wi: tf.Tensor) => tf.sum(tf.mul(depthwiseSameConstInput(x, wi), dy)))(w);
    expect(Math.max(...Array.from(tf.abs(tf.sub(gwConst, gw!)).dataSync()))).toBe(0);
  });
});

describe('wasm-friendly gradient kernels', () => {
  beforeAll(async () => {
    await initTf('wasm');
  });

  it('matMul, addBias, mulVector and patchDepthwise have the same gradients as the stock tfjs ops', async () => {
    const k = await import('../src/engine/tfjs-kernels.js');
    const r = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
    const close = (a: tf.Tensor, b: tf.Tensor) =>
      expect(Math.max(...Array.from(tf.abs(tf.sub(a, b)).dataSync()))).toBeLessThan(1e-4);
    const cases: [
      string,
      (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
      (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
      number[],
      number[],
    ][] = [
      ['matMul', (a, b) => k.matMul(a, b), (a, b) => tf.matMul(a, b), [5, 3, 4], [5, 4, 6]],
      ['matMul transposeB', (a, b) => k.matMul(a, b, true), (a, b) => tf.matMul(a, b, false, true), [7, 4], [6, 4]],
      ['addBias', k.addBias, tf.add, [2, 3, 5, 4], [4]],
      ['mulVector', k.mulVector, tf.mul, [3, 5, 4], [4]],
      ['patchDepthwise', k.patchDepthwise, (a, b) => tf.sum(tf.mul(a, b), 1), [9, 4, 6], [4, 6]],
    ];
    for (const [name, mine, stock, sa, sb] of cases) {
      const a = r(sa, 1);
      const b = r(sb, 2);
      const ya = mine(a, b);
      close(ya, stock(a, b));
      const dy = r(ya.shape, 3);
      const g1 = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mine(x, y), dy)))([a, b]);
      const g2 = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(stock(x, y), dy)))([a, b]);
      close(g1[0]!, g2[0]!);
      close(g1[1]!, g2[1]!);
      expect(name).toBeTruthy();
    }
    close(k.sumLeading(r([6, 5, 3], 4)), tf.sum(r([6, 5, 3], 4), [0, 1]));
  });
});
