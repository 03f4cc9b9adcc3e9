/**
 * Resumable run state: everything an interrupted training run needs to continue exactly where it
 * was last saved — trainable weights, Adam's moments and step count, the best weights so far,
 * callback counters, the position (phase, epoch, step) and the running epoch statistics.
 * One safetensors file, written atomically.
 */
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeSafetensors, encodeSafetensors } from '../weights/safetensors.js';
import type { Weights } from '../weights/weight-map.js';

/** The safetensors metadata key that marks a run-state file. */
export const RUN_STATE_KEY = 'convcut_run_state';

export interface RunPosition {
  phase: number;
  epoch: number;
  /** Next step to run within the epoch (0 = epoch start). */
  step: number;
}

export interface RunStateMeta {
  position: RunPosition;
  lr: number;
  /** Sums over the current epoch so far. */
  epochStats: { loss: number; correct: number; seen: number };
  earlyStop: { best: number; bestEpoch: number; wait: number };
  plateau?: { best: number; wait: number };
  /** Best validation accuracy of the current phase (checkpoint selection). */
  bestVal: number;
  history: Record<string, unknown>[];
  settingsHash: string;
}

export interface RunState {
  meta: RunStateMeta;
  weights: Weights;
  optimizer: Weights;
  best?: Weights;
}

export async function saveRunState(file: string, s: RunState): Promise<void> {
  const all: Weights = new Map();
  for (const [k, v] of s.weights) all.set(`w/${k}`, v);
  for (const [k, v] of s.optimizer) all.set(`opt/${k}`, v);
  for (const [k, v] of s.best ?? []) all.set(`best/${k}`, v);
  await writeFileAtomic(file, encodeSafetensors(all, { [RUN_STATE_KEY]: JSON.stringify(s.meta) }));
}

export async function loadRunState(file: string): Promise<RunState | undefined> {
  if (!existsSync(file)) return undefined;
  const { tensors, metadata } = decodeSafetensors(await fs.readFile(file), file);
  if (!metadata[RUN_STATE_KEY]) throw new Error(`${file}: not a convcut run state`);
  const pick = (prefix: string): Weights =>
    new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const best = pick('best/');
  return {
    meta: JSON.parse(metadata[RUN_STATE_KEY]) as RunStateMeta,
    weights: pick('w/'),
    optimizer: pick('opt/'),
    best: best.size ? best : undefined,
  };
}

/** Only the position, statistics and history of a saved state (undefined if there is none). */
export function readRunStateMeta(file: string): RunStateMeta | undefined {
  if (!existsSync(file)) return undefined;
  const { metadata } = decodeSafetensors(readFileSync(file), file);
  return metadata[RUN_STATE_KEY] ? (JSON.parse(metadata[RUN_STATE_KEY]) as RunStateMeta) : undefined;
}

/** Where a run's state lives: one file, written atomically by `save`. */
export class RunStore {
  constructor(readonly file: string) {}
  exists(): boolean {
    return existsSync(this.file);
  }
  load(): Promise<RunState | undefined> {
    return loadRunState(this.file);
  }
  save(s: RunState): Promise<void> {
    return saveRunState(this.file, s);
  }
}
