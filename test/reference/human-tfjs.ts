/**
 * Human's expression model run as Human runs it, on TensorFlow.js (its graph model through
 * tf.loadGraphModel, fed as gear/emotion.ts feeds it): the reference the ONNX Runtime graph
 * (src/infer/human-emotion.ts) is tested against. Tests only: TensorFlow.js is no runtime dependency.
 */
import { createRequire } from 'node:module';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { initTf, tf } from './tfjs-backend.js';

/** Crops (RGB 0..255, one size) → Human's probabilities, in its own class order. */
export type HumanReference = (crops: { data: Uint8Array; width: number; height: number }) => Promise<Float32Array>;

export async function humanOnTfjs(): Promise<HumanReference> {
  await initTf('wasm');
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human')), '..', 'models');
  const json = JSON.parse(await fs.readFile(path.join(dir, 'emotion.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
  };
  const bins = await Promise.all(json.weightsManifest.flatMap((m) => m.paths).map((p) => fs.readFile(path.join(dir, p))));
  const weightData = Buffer.concat(bins);
  const model = await tf.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((m) => m.weights),
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    }),
  });
  const size = model.inputs[0]!.shape![2]!;
  return async (c) => {
    const out = tf.tidy(() => {
      const rgb = tf.tensor4d(Float32Array.from(c.data), [1, c.height, c.width, 3]).div(255) as tfTypes.Tensor4D;
      const x = tf.image.resizeBilinear(rgb, [size, size], false);
      const grey = tf.sum(tf.mul(x, tf.tensor1d([0.2989, 0.587, 0.114])), 3, true);
      return model.execute(tf.mul(tf.sub(grey, 0.5), 2)) as tfTypes.Tensor;
    });
    const p = (await out.data()) as Float32Array;
    out.dispose();
    return p;
  };
}
