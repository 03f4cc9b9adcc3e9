/**
 * After training: temperature scaling fitted on the validation split (eval/calibration.ts) and
 * stored in the checkpoint (`config.head.temperature`), so predict, serve, eval and the web page
 * report calibrated probabilities. The reference recipe validates on the test set, so there it is
 * skipped: fitting there would tune on the test split.
 */
import type { Sample } from '../data/dataset.js';
import { fitTemperature, type TemperatureFit } from '../eval/calibration.js';
import { ConvCutModel } from '../infer/convcut-model.js';
import { imageStream } from '../infer/pipeline.js';
import { loadCheckpoint, saveCheckpoint } from '../weights/checkpoint.js';
import type { Run } from './prepare.js';

export type Calibration = (TemperatureFit & { fittedOn: 'validation' }) | { skipped: string };

export async function calibrateCheckpoint(run: Run, valid: Sample[], checkpoint: string): Promise<Calibration> {
  if (run.recipe.validation === 'test')
    return { skipped: 'reference recipe: its validation split is the test split, so no temperature was fitted' };
  const model = await ConvCutModel.load(checkpoint, { device: run.device.device });
  const k = model.classes.length;
  const batch = model.config.head.attention === 'batch' ? 1 : 32; // per-image, as evaluation predicts
  const logits: number[] = [];
  const labels: number[] = [];
  try {
    const stream = imageStream(valid, {
      size: model.config.inputSize,
      batchSize: batch,
      source: (s) => s.source,
      run: async (x) => (await model.run(x)).logits.data,
    });
    for await (const { items, output } of stream) {
      logits.push(...output);
      labels.push(...items.map((s) => s.label));
    }
  } finally {
    await model.dispose();
  }
  if (!labels.length) return { skipped: 'no readable validation image' };
  const fit = fitTemperature(Float32Array.from(logits), labels, k);
  const ck = await loadCheckpoint(checkpoint);
  const config = { ...ck.meta.config, head: { ...ck.meta.config.head, temperature: fit.temperature } };
  await saveCheckpoint(checkpoint, config, ck.weights, ck.meta.provenance);
  run.emit({
    kind: 'info',
    message: `temperature scaling on ${fit.n} validation images: T = ${fit.temperature.toFixed(3)}, NLL ${fit.nllBefore.toFixed(4)} → ${fit.nllAfter.toFixed(4)}`,
  });
  return { ...fit, fittedOn: 'validation' };
}
