/**
 * Training recipes.
 *
 * `reference` is the published code's two-phase recipe, flaws included (SPEC §1–2), so its numbers
 * can be reproduced and its leak measured: `batch` attention, the *test set* as validation (early
 * stopping, LR schedule and checkpoint chosen on it), class-ordered validation batches of 16, phase 1
 * with LayerNorm after the Detail Extraction Block, phase 2 without it. Its "fine-tuning" trains
 * nothing in the backbone (it unfreezes a LayerNorm that is then frozen), so phase 2 is head-only
 * here too.
 *
 * `default` is the sound recipe: `token` attention, a stratified validation split carved from the
 * training data (the test set is touched once, at the end), per-image evaluation, and optionally
 * real fine-tuning of the last backbone blocks.
 */
import type { AttentionMode, HeadConfig } from '../model/config.js';

export interface PhaseSpec {
  name: string;
  head: Partial<HeadConfig>;
  lr: number;
  schedule: { kind: 'plateau'; factor: number; patience: number; minLr: number } | { kind: 'inverse-time'; decayEpochs: number };
  /** The phase runs while epoch < endEpoch (epochs are counted across phases, as Keras' initial_epoch). */
  endEpoch: number;
  earlyStop: { monitor: 'val_accuracy' | 'accuracy'; patience: number; minDelta: number; restoreBest: boolean };
  classWeights: boolean;
}

export interface Recipe {
  name: 'default' | 'reference';
  attention: AttentionMode;
  /** Where validation comes from: a carved split, or (reference) the test set itself. */
  validation: 'split' | 'test';
  /** Validation batches: per image (sound) or class-ordered batches (reference, leaks through batch attention). */
  validationBatches: 'per-image' | 'class-ordered';
  batchSize: number;
  phases: PhaseSpec[];
}

export const REFERENCE_RECIPE: Recipe = {
  name: 'reference',
  attention: 'batch',
  validation: 'test',
  validationBatches: 'class-ordered',
  batchSize: 16,
  phases: [
    {
      name: 'head',
      head: { layerNorm: true, dropout: 0.1 },
      lr: 1e-3,
      schedule: { kind: 'plateau', factor: 0.1, patience: 3, minLr: 1e-6 },
      endEpoch: 100,
      earlyStop: { monitor: 'val_accuracy', patience: 5, minDelta: 0.003, restoreBest: true },
      classWeights: true,
    },
    {
      name: 'finetune',
      head: { layerNorm: false, dropout: 0.2 },
      lr: 1e-5,
      schedule: { kind: 'inverse-time', decayEpochs: 80 },
      endEpoch: 60,
      earlyStop: { monitor: 'accuracy', patience: 20, minDelta: 0, restoreBest: false },
      classWeights: false,
    },
  ],
};

export function defaultRecipe(): Recipe {
  return {
    name: 'default',
    attention: 'token',
    validation: 'split',
    validationBatches: 'per-image',
    batchSize: 16,
    phases: [
      {
        name: 'train',
        head: { layerNorm: false, dropout: 0.1 },
        lr: 1e-3,
        schedule: { kind: 'plateau', factor: 0.1, patience: 3, minLr: 1e-6 },
        endEpoch: 40,
        earlyStop: { monitor: 'val_accuracy', patience: 8, minDelta: 0.001, restoreBest: true },
        classWeights: true,
      },
    ],
  };
}
