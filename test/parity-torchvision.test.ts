/**
 * Parity with torchvision's ConvNeXt: reference outputs computed by scripts/make-torch-fixtures.py
 * (Debian's python3-torch) for the `test` ConvNeXt with random weights. convcut loads the same
 * weights in torchvision, timm and Keras-h5 layouts and must match, as exported for inference and as
 * the training graph builds it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeBackbone } from '../src/engine/describe.js';
import { BackboneRunner } from '../src/infer/features.js';
import { makeConfig } from '../src/model/config.js';
import { loadPretrained } from '../src/weights/load-pretrained.js';
import type { Weights } from '../src/weights/weight-map.js';
import { FIXTURES, fixtureNpy, maxAbsDiff, runAsTrained } from './helpers.js';

const images = fixtureNpy('torchvision/images.npy');
const CUTS = [
  ['stage_2_block_1_layernorm', 'torchvision/cut_layernorm.npy'],
  ['stage_2', 'torchvision/cut_stage2.npy'],
] as const;
const configFor = (cut: string) => makeConfig({ backbone: 'test', cut, inputSize: 64 });

async function ortFeatures(cut: string, weights: Weights): Promise<Float32Array> {
  const runner = await BackboneRunner.create(configFor(cut), weights);
  const out = await runner.run({ data: images.data, shape: images.shape });
  await runner.dispose();
  return out.data;
}

/** The backbone as training builds it: weights as inputs (patch convs, Gemm), inference or training semantics. */
function trainedFeatures(cut: string, weights: Weights, training: boolean): Promise<Float32Array> {
  return runAsTrained(configFor(cut), weights, { data: images.data, shape: images.shape }, 'backbone', training);
}

describe('parity with torchvision ConvNeXt (test size, random weights)', () => {
  for (const [cut, ref] of CUTS) {
    const expected = fixtureNpy(ref);
    const specs = describeBackbone(configFor(cut)).specs;

    it(`torchvision and timm files load and match at ${cut} as exported and as trained (≤ 1e-4)`, async () => {
      for (const file of ['torchvision.safetensors', 'timm.safetensors']) {
        const { weights, format, dropped } = await loadPretrained(path.join(FIXTURES, 'torchvision', file), specs);
        expect(format).toBe(file.split('.')[0]);
        expect(dropped).toBeGreaterThan(0); // stage 3 and, for cut_layernorm, the rest of stage 2
        expect(maxAbsDiff(await ortFeatures(cut, weights), expected.data)).toBeLessThan(1e-4);
        expect(maxAbsDiff(await trainedFeatures(cut, weights, false), expected.data)).toBeLessThan(1e-4);
        expect(maxAbsDiff(await trainedFeatures(cut, weights, true), expected.data)).toBeLessThan(1e-4);
      }
      expect(describeBackbone(configFor(cut)).outputShape).toEqual(expected.shape.slice(1));
    });
  }

  it("Keras' convnext_<size>_notop.h5 layout loads and matches the same reference, its weights after the cut ignored", async () => {
    // Written by scripts/make-keras-fixture.py (h5py) following Keras 2.10's convnext.py and
    // hdf5_format.py: nested Sequential stem and downsampling groups, LayerScale's bare `Variable:0`,
    // weightless layers with empty weight_names, and the auto-named `layer_normalization` that
    // include_top=False appends after the last stage.
    const file = path.join(FIXTURES, 'keras', 'convnext_test_notop.h5');
    for (const [cut, ref] of CUTS) {
      const { weights, format, dropped } = await loadPretrained(file, describeBackbone(configFor(cut)).specs);
      expect(format).toBe('keras-h5');
      expect(dropped).toBeGreaterThan(0);
      expect(maxAbsDiff(await ortFeatures(cut, weights), fixtureNpy(ref).data)).toBeLessThan(1e-4);
    }
  });
});
