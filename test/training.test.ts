/**
 * Training on ONNX Runtime (train/ort-trainer.ts): steps reduce the loss with the backbone frozen and
 * with its last blocks trainable; Keras' Adam formula; class weights; thread-count independence.
 * Gradients themselves are checked against PyTorch autograd in gradients.test.ts.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { OnnxGraph } from '../src/engine/onnx-graph.js';
import { createSession, ort } from '../src/engine/ort-session.js';
import { BackboneRunner } from '../src/infer/features.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { adamUpdate, KERAS_ADAM } from '../src/train/adam.js';
import { OrtTrainer, type Batch } from '../src/train/ort-trainer.js';
import { initWeights, type Weights } from '../src/weights/weight-map.js';
import { stepTargets } from '../src/train/targets.js';
import { Rng } from '../src/util/rng.js';
import { smallConfig } from './helpers.js';

const S = 112;
const N = 8;

/** A tiny separable problem: class 0 images are bright on the left, class 1 on the right. */
function tinyProblem(): { images: Batch; labels: Int32Array } {
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
  return { images: { data, shape: [N, S, S, 3] }, labels };
}

async function lossOf(trainer: OrtTrainer, input: Batch, labels: Int32Array): Promise<number> {
  const { logits } = await trainer.predict(input);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const row = Array.from(logits.subarray(n * 2, n * 2 + 2));
    const m = Math.max(...row);
    loss += Math.log(row.reduce((a, z) => a + Math.exp(z - m), 0)) + m - row[labels[n]!]!;
  }
  return loss / N;
}

const hashOf = (w: Weights) => {
  const h = createHash('sha256');
  for (const k of [...w.keys()].sort()) h.update(k).update(new Uint8Array(w.get(k)!.data.buffer.slice(0)));
  return h.digest('hex');
};

describe('training on ONNX Runtime', () => {
  for (const trainable of [0, 2]) {
    it(`reduces the loss on a tiny problem with ${trainable === 0 ? 'the backbone frozen' : `the last ${trainable} backbone units trainable`}`, async () => {
      const cfg = smallConfig({ head: { classes: ['left', 'right'], dropout: 0.1 } });
      const weights = initWeights(paramSpecs(cfg), 5);
      const { images, labels } = tinyProblem();
      // The frozen part runs first, once (as the feature cache does).
      const units = convcutBackbone(cfg);
      const runner = await BackboneRunner.create(cfg, weights, { units: units.slice(0, units.length - trainable) });
      const input = await runner.run(images);
      await runner.dispose();

      const trainer = await OrtTrainer.create(cfg, weights, { trainableBackboneUnits: trainable, learningRate: 3e-3, seed: 1 });
      const names = [...(await trainer.weights()).keys()];
      expect(names.some((n) => n.startsWith('stages.'))).toBe(trainable > 0);
      if (trainable) expect(names).toContain('stages.2.blocks.0.mlp.fc1.weight');
      const blockBefore = trainable ? (await trainer.weights()).get('stages.2.blocks.1.conv_dw.weight')!.data : undefined;

      const before = await lossOf(trainer, input, labels);
      for (let i = 0; i < 25; i++) await trainer.step(input, labels);
      const after = await lossOf(trainer, input, labels);
      expect(after).toBeLessThan(before * 0.7);
      if (blockBefore) {
        const now = (await trainer.weights()).get('stages.2.blocks.1.conv_dw.weight')!.data;
        expect(now.some((v, i) => v !== blockBefore[i])).toBe(true);
      }
      // BatchNorm moving statistics moved away from their initial values (0 / 1).
      expect((await trainer.weights()).get('head.bn.running_mean')!.data.some((v) => v !== 0)).toBe(true);
      expect(trainer.iterations).toBe(25);
      await trainer.dispose();
    });
  }

  it("takes Keras' Adam steps with the global gradient norm clipped at 3.0", async () => {
    // The update graph alone, fed chosen gradients; checked against Keras' update in float64.
    const g = new OnnxGraph();
    const f = (name: string, shape: number[]) => g.input(name, shape);
    const slots = ['a', 'b'].map((p) => ({
      param: f(p, [2]),
      grad: f(`g/${p}`, [2]).name,
      m: f(`m/${p}`, [2]),
      v: f(`v/${p}`, [2]),
    }));
    const upd = adamUpdate(g, slots, f('step_size', []), KERAS_ADAM);
    slots.forEach((s, i) => {
      g.output(`new/${s.param.name}`, { name: upd.params[i]!, shape: [2] });
      g.output(`new/m/${s.param.name}`, { name: upd.m[i]!, shape: [2] });
      g.output(`new/v/${s.param.name}`, { name: upd.v[i]!, shape: [2] });
    });
    g.output('grad_norm', { name: upd.gradNorm, shape: [] });
    const bytes = g.encode('adam');
    const session = await createSession(bytes, { threads: 1 });
    const theta = [0.5, -1, 2, 0];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    const state: Record<string, Float32Array> = {
      a: Float32Array.of(0.5, -1),
      b: Float32Array.of(2, 0),
      'm/a': new Float32Array(2),
      'm/b': new Float32Array(2),
      'v/a': new Float32Array(2),
      'v/b': new Float32Array(2),
    };
    const steps = [
      [3, 4, 0, 12], // joint norm 13: clipped to 3
      [0.1, -0.2, 0.3, 0], // below 3: unchanged
    ];
    for (const [t, grad] of steps.entries()) {
      const lr = 0.1;
      const norm = Math.hypot(...grad);
      const c = 3 / Math.max(norm, 3);
      for (let i = 0; i < 4; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * c * grad[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * (c * grad[i]!) ** 2;
        theta[i]! -= ((lr * Math.sqrt(1 - 0.999 ** (t + 1))) / (1 - 0.9 ** (t + 1))) * (m[i]! / (Math.sqrt(v[i]!) + 1e-7));
      }
      const feeds: Record<string, ort.Tensor> = {
        'g/a': new ort.Tensor('float32', Float32Array.from(grad.slice(0, 2)), [2]),
        'g/b': new ort.Tensor('float32', Float32Array.from(grad.slice(2)), [2]),
        step_size: new ort.Tensor('float32', Float32Array.of((lr * Math.sqrt(1 - 0.999 ** (t + 1))) / (1 - 0.9 ** (t + 1))), []),
      };
      for (const [k, x] of Object.entries(state)) feeds[k] = new ort.Tensor('float32', x, [2]);
      const out = await session.run(feeds);
      for (const k of Object.keys(state)) state[k] = out[`new/${k}`]!.data as Float32Array;
      expect((out.grad_norm!.data as Float32Array)[0]).toBeCloseTo(norm, 5);
      [...state.a!, ...state.b!].forEach((x, i) => expect(x).toBeCloseTo(theta[i]!, 5));
    }
    await session.release();
  });

  it('optimizer state round-trips exactly and names what is missing', async () => {
    const cfg = smallConfig({ head: { classes: ['a', 'b'] } });
    const weights = initWeights(paramSpecs(cfg), 9);
    const t = await OrtTrainer.create(cfg, weights, { seed: 2 });
    const feats: Batch = { data: new Float32Array(N * 7 * 7 * 32).map((_, i) => Math.sin(i) * 3), shape: [N, 7, 7, 32] };
    await t.step(
      feats,
      new Int32Array(N).map((_, i) => i % 2),
    );
    const copy = await OrtTrainer.create(cfg, weights, { seed: 2 });
    await copy.setOptimizerState(await t.optimizerState());
    expect([...(await copy.optimizerState())]).toEqual([...(await t.optimizerState())]);
    await expect(copy.setOptimizerState(new Map())).rejects.toThrow(/optimizer state lacks "iterations"/);
    await expect(t.step({ data: new Float32Array(N * 3), shape: [N, 3] }, new Int32Array(N))).rejects.toThrow(
      /training batch of shape 8×3: the trainable part takes N×7×7×32/,
    );
    await Promise.all([t.dispose(), copy.dispose()]);
  });

  it("weights each sample's loss by its class weight", async () => {
    const cfg = smallConfig({ head: { classes: ['a', 'b'] } });
    const weights = initWeights(paramSpecs(cfg), 9);
    const feats: Batch = { data: new Float32Array(N * 7 * 7 * 32).map((_, i) => Math.sin(i * 1.7) * 50), shape: [N, 7, 7, 32] };
    const labels = new Int32Array(N).map((_, i) => i % 2);
    const plain = await OrtTrainer.create(cfg, weights, { seed: 2 });
    const weighted = await OrtTrainer.create(cfg, weights, { seed: 2, classWeights: [2, 2] });
    // Doubling every class weight doubles the loss exactly (same dropout masks: same seed).
    const a = (await plain.step(feats, labels, 4)).loss;
    const b = (await weighted.step(feats, labels, 4)).loss;
    expect(b / a).toBeCloseTo(2, 5);
    await Promise.all([plain.dispose(), weighted.dispose()]);
  });

  it('gives the same bits with 1 and 2 ONNX Runtime threads', async () => {
    const cfg = smallConfig({ head: { classes: ['a', 'b', 'c'] } });
    const weights = initWeights(paramSpecs(cfg), 4);
    for (const k of weights.keys()) if (k.endsWith('.gamma')) weights.get(k)!.data.fill(0.3); // let the blocks matter
    const { images } = tinyProblem();
    const units = convcutBackbone(cfg);
    const runner = await BackboneRunner.create(cfg, weights, { units: units.slice(0, units.length - 2) });
    const input = await runner.run(images);
    await runner.dispose();
    const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
    const hashes: string[] = [];
    for (const threads of [1, 2]) {
      const t = await OrtTrainer.create(cfg, weights, { trainableBackboneUnits: 2, threads, seed: 6 });
      for (let i = 0; i < 3; i++) await t.step(input, labels);
      hashes.push(hashOf(await t.weights()));
      await t.dispose();
    }
    expect(hashes[1]).toBe(hashes[0]);
  });
});

describe('what each step learns from (train/targets.ts)', () => {
  const sample = (target: number[]) => ({
    id: 'x',
    source: { kind: 'file' as const, path: 'x.png' },
    label: 0,
    split: 'train' as const,
    target,
  });

  it('FERPlus probability mode draws a label per image from its vote distribution, seeded', () => {
    const dist = [0.5, 0.3, 0.2, 0, 0, 0, 0, 0];
    const batch = Array.from({ length: 20000 }, () => sample(dist));
    const a = stepTargets(batch, 'probability', new Rng(3));
    expect(a.soft).toBeUndefined();
    const freq = [0, 1, 2, 3].map((c) => a.labels.filter((l) => l === c).length / batch.length);
    freq.forEach((f, c) => expect(Math.abs(f - (dist[c] ?? 0))).toBeLessThan(0.015));
    expect(Array.from(stepTargets(batch, 'probability', new Rng(3)).labels)).toEqual(Array.from(a.labels));
    expect(Array.from(stepTargets(batch, 'probability', new Rng(4)).labels)).not.toEqual(Array.from(a.labels));
  });

  it('cross-entropy mode trains on the soft targets; plain labels stay labels', () => {
    const dist = [0.1, 0.6, 0.3, 0, 0, 0, 0, 0];
    const ce = stepTargets([{ ...sample(dist), label: 1 }], 'crossentropy', new Rng(1));
    expect(Array.from(ce.soft![0]!)).toEqual(Array.from(Float32Array.from(dist)));
    const plain = stepTargets([{ ...sample(dist), target: undefined, label: 4 }], 'probability', new Rng(1));
    expect(Array.from(plain.labels)).toEqual([4]);
    expect(plain.soft).toBeUndefined();
  });
});
