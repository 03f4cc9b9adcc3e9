/**
 * One definition, two graph formulations: the inference graph convcut exports (constant weights,
 * NCHW convolutions, folded BatchNorm) and the graph training builds (weights as inputs, patch
 * convolutions, Gemm layers) give the same full-model outputs; the default attention never mixes images.
 */
import { describe, expect, it } from 'vitest';
import { paramSpecs } from '../src/engine/describe.js';
import { ConvCutModel } from '../src/infer/convcut-model.js';
import type { AttentionMode, ConvCutConfig } from '../src/model/config.js';
import { initWeights, type Weights } from '../src/weights/weight-map.js';
import { fakeImages, maxAbsDiff, runAsTrained, smallConfig } from './helpers.js';

const S = 112;

/** Random weights with non-trivial BatchNorm statistics, so eval-mode BN is really exercised. */
function weightsFor(cfg: ConvCutConfig, seed = 3): Weights {
  const w = initWeights(paramSpecs(cfg), seed);
  const mean = w.get('head.bn.running_mean')!.data;
  const variance = w.get('head.bn.running_var')!.data;
  mean.forEach((_, i) => {
    mean[i] = 0.1 * Math.sin(i + 1);
    variance[i] = 0.5 + 0.25 * Math.cos(i);
  });
  return w;
}

function trainedLogits(cfg: ConvCutConfig, w: Weights, images: Float32Array, n: number): Promise<Float32Array> {
  return runAsTrained(cfg, w, { data: images, shape: [n, S, S, 3] }, 'full');
}

async function ortLogits(model: ConvCutModel, images: Float32Array, n: number): Promise<Float32Array> {
  return (await model.run({ data: images, shape: [n, S, S, 3] })).logits.data;
}

function rows(data: Float32Array, classes: number): Float32Array[] {
  return Array.from({ length: data.length / classes }, (_, i) => data.slice(i * classes, (i + 1) * classes));
}

describe('the exported and the training graph run the same network', () => {
  const variants: [string, Parameters<typeof smallConfig>[0]][] = [
    ['token attention (default)', {}],
    ['batch attention + LayerNorm (reference phase 1)', { head: { attention: 'batch', layerNorm: true } }],
    ['no attention, no Detail Extraction Block', { head: { attention: 'none', detailBlock: false } }],
  ];
  for (const [name, opts] of variants) {
    it(`full-model logits agree within 1e-4: ${name}`, async () => {
      const cfg = smallConfig(opts);
      const w = weightsFor(cfg);
      const images = fakeImages(4, S);
      const model = await ConvCutModel.fromWeights(cfg, w);
      const diff = maxAbsDiff(await trainedLogits(cfg, w, images, 4), await ortLogits(model, images, 4));
      expect(diff).toBeLessThan(1e-4);
      await model.dispose();
    });
  }
});

describe('attention modes', () => {
  it('token (default): per-image logits are identical for batch sizes 1, 7, 16 and under shuffling', async () => {
    const cfg = smallConfig();
    const w = weightsFor(cfg);
    const model = await ConvCutModel.fromWeights(cfg, w);
    const per = S * S * 3;
    const images = fakeImages(16, S, 7);
    const k = cfg.head.classes.length;
    const all16 = rows(await ortLogits(model, images, 16), k);
    const first7 = rows(await ortLogits(model, images.subarray(0, 7 * per), 7), k);
    for (let i = 0; i < 16; i++) {
      const one = await ortLogits(model, images.subarray(i * per, (i + 1) * per), 1);
      expect(maxAbsDiff(one, all16[i]!)).toBeLessThan(1e-5);
      if (i < 7) expect(maxAbsDiff(first7[i]!, all16[i]!)).toBeLessThan(1e-5);
    }
    const order = [5, 12, 0, 3, 15, 8, 1, 9, 14, 2, 11, 6, 13, 4, 10, 7];
    const shuffled = new Float32Array(16 * per);
    order.forEach((src, dst) => shuffled.set(images.subarray(src * per, (src + 1) * per), dst * per));
    const out = rows(await ortLogits(model, shuffled, 16), k);
    order.forEach((src, dst) => expect(maxAbsDiff(out[dst]!, all16[src]!)).toBeLessThan(1e-5));
    // and the training graph agrees that batch size does not matter
    const t16 = rows(await trainedLogits(cfg, w, images, 16), k);
    expect(maxAbsDiff(await trainedLogits(cfg, w, images.subarray(3 * per, 4 * per), 1), t16[3]!)).toBeLessThan(1e-5);
    await model.dispose();
  });

  it('batch (reference): identity at batch size 1, and outputs change with the other images of the batch', async () => {
    const make = (attention: AttentionMode) => smallConfig({ head: { attention } });
    const wBatch = weightsFor(make('batch'));
    const wNone = new Map([...wBatch].filter(([k]) => k !== 'attention.scale'));
    const batchModel = await ConvCutModel.fromWeights(make('batch'), wBatch);
    const noneModel = await ConvCutModel.fromWeights(make('none'), wNone);
    const per = S * S * 3;
    const images = fakeImages(8, S, 11);
    for (let i = 0; i < 3; i++) {
      const one = images.subarray(i * per, (i + 1) * per);
      expect(maxAbsDiff(await ortLogits(batchModel, one, 1), await ortLogits(noneModel, one, 1))).toBeLessThan(1e-5);
    }
    const k = make('batch').head.classes.length;
    const inFour = rows(await ortLogits(batchModel, images.subarray(0, 4 * per), 4), k)[0]!;
    const mixed = new Float32Array(4 * per);
    mixed.set(images.subarray(0, per));
    mixed.set(images.subarray(4 * per, 7 * per), per);
    const withOthers = rows(await ortLogits(batchModel, mixed, 4), k)[0]!;
    expect(maxAbsDiff(inFour, withOthers)).toBeGreaterThan(1e-3);
    await batchModel.dispose();
    await noneModel.dispose();
  });
});
