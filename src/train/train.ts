/**
 * `convcut train` as a library call: data set + (optional) ImageNet backbone weights → a trained
 * Conv-cut checkpoint, chosen on validation only, with a JSONL log, a recorded split and seed, and
 * resumable state. It reads as its steps: prepare the run, the data, the model and the features
 * (prepare.ts), then run the recipe's phases (phase.ts: where an epoch happens).
 *
 * Everything runs on ONNX Runtime: the frozen part of the backbone once per image (and flip), its
 * outputs cached on disk; the trainable part (head, plus the last backbone units when fine-tuning)
 * trains from the cache, one step-graph call per batch (ort-trainer.ts). Random contrast changes
 * the backbone's input, so with it the frozen part runs on every step (slow; flagged).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { deviceRecord } from '../engine/device.js';
import { defaultOrtThreads } from '../engine/ort-session.js';
import { writeFileAtomic } from '../util/atomic.js';
import { writeModelCard } from './model-card.js';
import { calibrateCheckpoint } from './calibrate.js';
import type { EpochRecord, TrainOptions, TrainResult } from './options.js';
import { phaseStartMeta, runPhase } from './phase.js';
import { openRun, prepareData, prepareFeatures, prepareModel } from './prepare.js';

export { TrainingHalted, type EpochRecord, type TrainEvent, type TrainOptions, type TrainResult } from './options.js';

export async function train(o: TrainOptions): Promise<TrainResult> {
  const run = await openRun(o);
  const data = await prepareData(run);
  const model = await prepareModel(run, data);
  const feats = await prepareFeatures(run, data, model);
  const history: EpochRecord[] = run.resumed ? (run.resumed.meta.history as unknown as EpochRecord[]) : [];
  let config = model.config;
  try {
    const first = run.resumed?.meta.position;
    let start = { trainable: model.trainable, epoch: first?.epoch ?? 0 };
    for (let pi = first?.phase ?? 0; pi < run.recipe.phases.length; pi++) {
      const end = await runPhase(run, data, model, feats, pi, start, history);
      config = end.config;
      start = { trainable: end.trainable, epoch: end.nextEpoch };
      if (pi + 1 < run.recipe.phases.length) {
        // Position the saved state at the next phase, so a resume starts it fresh.
        await run.store.save({
          meta: phaseStartMeta(run, pi + 1, start.epoch, history),
          weights: start.trainable, // the next phase keeps what its head has
          optimizer: new Map(),
        });
        run.resumed = undefined;
      }
    }
  } finally {
    await feats.close();
  }
  const checkpoint = path.join(o.out, 'best.safetensors');
  if (!existsSync(checkpoint)) throw new Error('training ended without a checkpoint (no epoch completed)');
  const calibration = await calibrateCheckpoint(run, data.valid, checkpoint);
  if ('temperature' in calibration) config = { ...config, head: { ...config.head, temperature: calibration.temperature } };
  const { split, problems } = data;
  await writeFileAtomic(
    path.join(o.out, 'run.json'),
    JSON.stringify(
      {
        settings: run.settings,
        split: { source: split.source, seed: split.seed, fraction: split.fraction, valid: split.validIds.length },
        // How it ran (the results do not depend on the thread count: test/training.test.ts).
        engine: { training: 'onnxruntime-node', threads: o.threads ?? defaultOrtThreads(), ...deviceRecord(run.device) },
        history,
        calibration,
        problems,
      },
      null,
      1,
    ),
  );
  await writeModelCard({ out: o.out, config, settings: run.settings, history, format: data.format, calibration });
  return {
    checkpoint,
    calibration,
    format: data.format,
    settings: run.settings,
    config,
    history,
    bestValAccuracy: Math.max(...history.map((h) => h.val_accuracy)),
    split,
    problems,
    backboneImagesComputed: feats.cache.computed,
  };
}
