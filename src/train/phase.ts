/**
 * One phase of a recipe (the default recipe has one; the reference has two): its trainer, its
 * callbacks (early stopping, LR schedule), and its epochs — the steps over the training set, then
 * validation, checkpoint selection, the log and the saved state.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isSynthetic } from '../data/synthetic.js';
import { hflip } from '../data/augment.js';
import type { Problem, Sample } from '../data/dataset.js';
import { decodeMany, stackImages, type DecodedImage } from '../data/image.js';
import { paramSpecs } from '../engine/describe.js';
import { validateOnFeatures } from '../eval/validate.js';
import type { ConvCutConfig } from '../model/config.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { saveCheckpoint } from '../weights/checkpoint.js';
import type { Weights } from '../weights/weight-map.js';
import type { Variant } from './feature-cache.js';
import type { LoadedBatch } from './feature-loader.js';
import { TrainingHalted, type EpochRecord } from './options.js';
import { OrtTrainer } from './ort-trainer.js';
import { stepTargets } from './targets.js';
import type { Run, RunData, RunFeatures, RunModel } from './prepare.js';
import type { PhaseSpec } from './recipes.js';
import type { RunStateMeta } from './run-state.js';
import { balancedClassWeights, EarlyStopping, inverseTimeDecay, ReduceLROnPlateau } from './schedule.js';

/** What a phase hands on: the trainable weights it ended with and where the next phase starts. */
export interface PhaseEnd {
  config: ConvCutConfig;
  trainable: Weights;
  nextEpoch: number;
}

/** The phase's live state: exactly what a resume restores (saved by `saveState`). */
class PhaseState {
  lr: number;
  epochStats = { loss: 0, correct: 0, seen: 0 };
  /** Next step of the epoch being trained (0 = its start). */
  startStep = 0;
  bestVal = -Infinity;
  best?: Weights;
  readonly early: EarlyStopping;
  readonly plateau?: ReduceLROnPlateau;

  constructor(phase: PhaseSpec, saved?: RunStateMeta, best?: Weights) {
    this.lr = phase.lr;
    this.early = new EarlyStopping(phase.earlyStop.patience, phase.earlyStop.minDelta);
    const s = phase.schedule;
    if (s.kind === 'plateau') this.plateau = new ReduceLROnPlateau(s.factor, s.patience, s.minLr);
    if (!saved) return;
    Object.assign(this.early, saved.earlyStop);
    if (this.plateau && saved.plateau) Object.assign(this.plateau, saved.plateau);
    this.lr = saved.lr;
    this.bestVal = saved.bestVal;
    this.best = best;
    this.epochStats = saved.epochStats;
    this.startStep = saved.position.step;
  }

  /** What `run-state.ts` saves of it, at `position`. */
  meta(position: RunStateMeta['position'], history: EpochRecord[], settingsHash: string): RunStateMeta {
    return {
      position,
      lr: this.lr,
      epochStats: this.epochStats,
      earlyStop: { best: this.early.best, bestEpoch: this.early.bestEpoch, wait: this.early.wait },
      plateau: this.plateau ? { best: this.plateau.best, wait: this.plateau.wait } : undefined,
      bestVal: this.bestVal,
      history: history as unknown as Record<string, unknown>[],
      settingsHash,
    };
  }
}

/** The saved state of phase `pi` not yet begun: a resume then starts it fresh at `epoch`. */
export function phaseStartMeta(run: Run, pi: number, epoch: number, history: EpochRecord[]): RunStateMeta {
  return new PhaseState(run.recipe.phases[pi]!).meta({ phase: pi, epoch, step: 0 }, history, run.settingsHash);
}

export async function runPhase(
  run: Run,
  data: RunData,
  model: RunModel,
  feats: RunFeatures,
  pi: number,
  start: { trainable: Weights; epoch: number },
  history: EpochRecord[],
): Promise<PhaseEnd> {
  const { recipe, o } = run;
  const phase = recipe.phases[pi]!;
  const config: ConvCutConfig = { ...model.config, head: { ...model.config.head, ...phase.head } };
  const resuming = run.resumed && pi === (run.resumed.meta.position.phase ?? 0) ? run.resumed : undefined;
  // Phase changes may drop head layers (the reference's LayerNorm): keep what this phase's head has.
  const names = new Set(paramSpecs(config).map((s) => s.name));
  const initial = new Map([...(resuming?.weights ?? start.trainable)].filter(([k]) => names.has(k)));
  const classWeights = balancedClassWeights(
    feats.train.map((s) => s.label),
    data.classes.length,
  );
  const trainer = await OrtTrainer.create(config, initial, {
    trainableBackboneUnits: model.trainableUnits,
    learningRate: phase.lr,
    clipNorm: 3.0,
    classWeights: phase.classWeights ? classWeights : undefined,
    threads: o.threads,
    device: run.device.device,
  });
  try {
    if (resuming?.optimizer.size) await trainer.setOptimizerState(resuming.optimizer);
    const state = new PhaseState(phase, resuming?.meta, resuming?.best);
    const saveState = async (epoch: number, step: number) =>
      run.store.save({
        meta: state.meta({ phase: pi, epoch, step }, history, run.settingsHash),
        weights: await trainer.weights(),
        optimizer: await trainer.optimizerState(),
        best: state.best,
      });

    // An unreadable image met while training (random contrast decodes on every step): reported once.
    const report = (p: Problem) => {
      if (data.problems.some((x) => x.file === p.file)) return;
      data.problems.push(p);
      run.emit({ kind: 'info', message: `skipped: ${p.message}` });
    };
    let epoch = start.epoch;
    for (; epoch < phase.endEpoch; epoch++) {
      const t0 = Date.now();
      if (phase.schedule.kind === 'inverse-time') state.lr = inverseTimeDecay(phase.lr, epoch, phase.schedule.decayEpochs);
      trainer.learningRate = state.lr;
      await trainEpoch(run, feats, trainer, state, pi, epoch, saveState, report);
      state.startStep = 0;
      const record = await endEpoch(run, data, model, feats, trainer, state, config, pi, epoch, (Date.now() - t0) / 1000);
      history.push(record.record);
      await fs.appendFile(path.join(o.out, 'log.jsonl'), JSON.stringify(record.record) + '\n');
      run.emit({ kind: 'epoch-end', record: record.record });
      state.epochStats = { loss: 0, correct: 0, seen: 0 };
      if (record.stop) {
        epoch++;
        break;
      }
      await saveState(epoch + 1, 0);
    }
    if (phase.earlyStop.restoreBest && state.best) await trainer.setWeights(state.best);
    // Keras' initial_epoch for the next phase: from the best epoch of this one.
    const restored = phase.earlyStop.restoreBest && state.early.bestEpoch >= 0;
    return { config, trainable: await trainer.weights(), nextEpoch: restored ? state.early.bestEpoch + 1 : epoch };
  } finally {
    await trainer.dispose();
  }
}

/** The steps of one epoch; the worker reads the next batch while this one trains. */
async function trainEpoch(
  run: Run,
  feats: RunFeatures,
  trainer: OrtTrainer,
  state: PhaseState,
  pi: number,
  epoch: number,
  saveState: (epoch: number, step: number) => Promise<void>,
  report: (p: Problem) => void,
): Promise<void> {
  const { recipe, seed, o } = run;
  const phase = recipe.phases[pi]!;
  const order = new Rng(deriveSeed(seed, pi, epoch)).shuffle([...feats.train.keys()]);
  const nSteps = Math.ceil(order.length / recipe.batchSize);
  run.emit({ kind: 'epoch-start', phase: phase.name, epoch, steps: nSteps, startStep: state.startStep, lr: state.lr });
  const fetch = (step: number) => {
    const ids = order.slice(step * recipe.batchSize, (step + 1) * recipe.batchSize);
    const stepRng = new Rng(deriveSeed(seed, pi, epoch, step, 7));
    const batch = ids.map((i) => feats.train[i]!);
    const variants = batch.map((): Variant => (stepRng.next() < 0.5 ? 'flip' : 'orig'));
    const loaded = feats.contrast
      ? liveInputs(batch, variants, feats, report)
      : feats.loader.load(batch, variants).then((input) => ({ input, samples: batch }));
    loaded.catch(() => undefined); // a failure surfaces when this batch is awaited
    return { loaded };
  };
  let next = state.startStep < nSteps ? fetch(state.startStep) : undefined;
  try {
    for (let step = state.startStep; step < nSteps; step++) {
      const { input, samples: batch } = await next!.loaded;
      next = step + 1 < nSteps ? fetch(step + 1) : undefined;
      if (!batch.length) continue; // every image of this batch was unreadable (reported)
      const { labels, soft } = stepTargets(batch, run.settings.ferplusMode, new Rng(deriveSeed(seed, pi, epoch, step, 11)));
      const r = await trainer.step(input, soft ?? labels, deriveSeed(seed, pi, epoch, step)).finally(() => input.release());
      const stats = state.epochStats;
      stats.loss += r.loss * batch.length;
      stats.correct += r.correct;
      stats.seen += batch.length;
      const [loss, accuracy] = [stats.loss / stats.seen, stats.correct / stats.seen];
      run.emit({ kind: 'step', phase: phase.name, epoch, step, steps: nSteps, loss, accuracy });
      if (o.signal?.aborted) {
        await saveState(epoch, step + 1);
        throw new TrainingHalted(
          `stopped after step ${step + 1} of epoch ${epoch}; resume with --resume (state in ${run.store.file})`,
        );
      }
      if (o.saveEvery && (step + 1) % o.saveEvery === 0 && step + 1 < nSteps) await saveState(epoch, step + 1);
    }
  } finally {
    // A batch read ahead past a stop is dropped (and must not outlive the backbone session).
    await next?.loaded.then(
      (b) => b.input.release(),
      () => undefined,
    );
  }
}

/** Validation (never the test set, except in the reference recipe, which says so), checkpoint, callbacks. */
async function endEpoch(
  run: Run,
  data: RunData,
  model: RunModel,
  feats: RunFeatures,
  trainer: OrtTrainer,
  state: PhaseState,
  config: ConvCutConfig,
  pi: number,
  epoch: number,
  seconds: number,
): Promise<{ record: EpochRecord; stop: boolean }> {
  const { recipe, seed, settings } = run;
  const phase = recipe.phases[pi]!;
  const batching = recipe.validationBatches === 'class-ordered' ? 'class-ordered' : config.head.attention === 'batch' ? 1 : 64;
  const val = await validateOnFeatures(trainer, feats.valid, feats.cache, batching, data.classes, feats.loader);
  const accuracy = state.epochStats.correct / state.epochStats.seen;
  const monitor = phase.earlyStop.monitor === 'accuracy' ? accuracy : val.accuracy;
  const improved = val.accuracy > state.bestVal;
  if (improved) {
    state.bestVal = val.accuracy;
    await saveCheckpoint(
      path.join(run.o.out, 'best.safetensors'),
      config,
      new Map([...model.frozen, ...(await trainer.weights())]),
      {
        recipe: recipe.name,
        phase: phase.name,
        epoch,
        seed,
        valAccuracy: val.accuracy,
        validation:
          recipe.validation === 'test' ? 'TEST SET (reference recipe)' : `carved split (${data.split.source}, seed ${seed})`,
        settings,
        // Read where the model predicts (ConvCutModel.notice): the data folder may not travel with it.
        ...(isSynthetic(settings.data) ? { syntheticData: true } : {}),
      },
    );
  }
  const es = state.early.update(monitor, epoch);
  if (es.improved && phase.earlyStop.restoreBest) state.best = await trainer.weights();
  const lr = trainer.learningRate;
  if (state.plateau) state.lr = state.plateau.update(monitor, state.lr);
  const record: EpochRecord = {
    phase: phase.name,
    epoch,
    lr,
    loss: state.epochStats.loss / state.epochStats.seen,
    accuracy,
    val_accuracy: val.accuracy,
    val_uar: val.uar,
    seconds,
    improved,
  };
  return { record, stop: es.stop };
}

/**
 * A training batch through the backbone on the spot (random contrast changes every image). An
 * image that cannot be decoded is left out of the batch and reported, not fatal to the run.
 */
async function liveInputs(
  batch: Sample[],
  variants: Variant[],
  feats: RunFeatures,
  report: (p: Problem) => void,
): Promise<{ input: LoadedBatch; samples: Sample[] }> {
  const decoded = await decodeMany(
    batch.map((s) => s.source),
    feats.runner.config.inputSize,
  );
  const samples: Sample[] = [];
  const imgs: DecodedImage[] = [];
  decoded.forEach((d, i) => {
    if (!d.ok) return report({ file: d.error.file, message: d.error.message });
    samples.push(batch[i]!);
    imgs.push(feats.contrast!.apply(variants[i] === 'flip' ? hflip(d.image) : d.image));
  });
  const shape = [samples.length, ...feats.runner.featureShape];
  const data = samples.length ? (await feats.runner.run(stackImages(imgs))).data : new Float32Array(0);
  return { input: { data, shape, release: () => undefined }, samples };
}
