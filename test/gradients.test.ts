/**
 * Gradient parity with PyTorch autograd: scripts/make-grad-fixtures.py (Debian's python3-torch,
 * float64) builds the same small Conv-cut — `test` ConvNeXt with a mid-block cut, the Detail
 * Extraction Block, token attention or batch attention, BatchNorm in training mode, class weights,
 * soft or one-hot targets, fixed dropout masks — from the same weights, and records every
 * parameter's gradient, the BatchNorm statistics updates and one Keras Adam step. convcut's ONNX
 * step graph must reproduce them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackboneRunner } from '../src/infer/features.js';
import { makeConfig, type HeadConfig } from '../src/model/config.js';
import { convcutBackbone } from '../src/model/convcut.js';
import { OrtTrainer } from '../src/train/ort-trainer.js';
import { decodeSafetensors } from '../src/weights/safetensors.js';
import type { Weights } from '../src/weights/weight-map.js';
import { FIXTURES } from './helpers.js';

interface FixtureMeta {
  loss: number;
  correct: number;
  grad_norm: number;
  lr: number;
  clip: number;
  trainable: 'backbone+head' | 'head';
  input: string;
  config: { backbone: string; cut: string; inputSize: number; head: Partial<HeadConfig> };
}

function load(file: string) {
  const f = path.join(FIXTURES, 'grad', file);
  const { tensors, metadata } = decodeSafetensors(readFileSync(f), f);
  const pick = (prefix: string): Weights =>
    new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  return { meta: JSON.parse(metadata.fixture!) as FixtureMeta, pick, get: (k: string) => tensors.get(k)! };
}

/** Every element within 1e-4, absolute or relative. */
function expectClose(name: string, got: Float32Array, want: Float32Array, tol = 1e-4): void {
  expect(got.length, name).toBe(want.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    const err = Math.min(d, d / Math.abs(want[i]!));
    if (err > worst) [worst, at] = [err, i];
  }
  expect(worst, `${name}[${at}]: ${got[at]} vs ${want[at]}`).toBeLessThanOrEqual(tol);
}

describe('gradients and one optimiser step match PyTorch autograd', () => {
  for (const file of ['token.safetensors', 'batch.safetensors', 'token_head.safetensors']) {
    it(file.replace('.safetensors', ''), async () => {
      const { meta, pick, get } = load(file);
      const cfg = makeConfig(meta.config);
      const weights = pick('w/');
      const units = convcutBackbone(cfg);
      const trainable = meta.trainable === 'head' ? 0 : units.length - 1;
      const raw = get(meta.input);
      let input = { data: raw.data, shape: raw.shape };
      if (trainable) {
        // Everything but the (parameter-free) normalisation trains; it runs first, as the cache would.
        const runner = await BackboneRunner.create(cfg, weights, { units: units.slice(0, 1) });
        input = await runner.run(input);
        await runner.dispose();
      }
      const n = input.shape[0]!;
      const trainer = await OrtTrainer.create(cfg, weights, {
        trainableBackboneUnits: trainable,
        learningRate: meta.lr,
        clipNorm: meta.clip,
        classWeights: Array.from(get('input/class_weights').data),
        exposeGrads: true,
      });
      const targets = get('input/targets').data;
      const k = cfg.head.classes.length;
      const soft = Array.from({ length: n }, (_, i) => targets.slice(i * k, (i + 1) * k));
      const masks = Object.fromEntries([0, 1, 2].map((i) => [`dropout.${i}`, get(`mask/${i}`).data]));
      const r = await trainer.step(input, soft, 0, masks);

      expect(r.loss).toBeCloseTo(meta.loss, 5);
      expect(r.correct).toBe(meta.correct);
      expect(r.gradNorm).toBeCloseTo(meta.grad_norm, 4);
      const want = pick('g/');
      expect([...r.grads!.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, g] of want) expectClose(`∂${name}`, r.grads!.get(name)!.data, g.data);

      const after = await trainer.weights();
      for (const [name, t] of pick('bn/')) expectClose(name, after.get(name)!.data, t.data);
      // Adam normalises each gradient to about ±step size, so float32 noise in gradients that are
      // zero in exact arithmetic shows up at ≈ ε/(√v+ε) of it: 2e-4 absolute (see the fixture script).
      for (const [name, t] of pick('adam/')) expectClose(`Adam ${name}`, after.get(name)!.data, t.data, 2e-4);
      const opt = await trainer.optimizerState();
      for (const [name, t] of pick('adam_m/')) expectClose(`m ${name}`, opt.get(`m/${name}`)!.data, t.data);
      for (const [name, t] of pick('adam_v/')) expectClose(`v ${name}`, opt.get(`v/${name}`)!.data, t.data);
      await trainer.dispose();
    });
  }
});
