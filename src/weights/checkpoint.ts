/**
 * convcut checkpoints: one safetensors file holding every parameter (channels-last, convcut names)
 * and, in its `__metadata__`, a JSON document with everything needed to rebuild and use the model:
 * architecture config (backbone, cut, head, attention mode, classes, normalisation) and the
 * training provenance (seed, recipe, data, metrics). Written atomically.
 */
import { promises as fs } from 'node:fs';
import { paramSpecs } from '../engine/describe.js';
import type { ConvCutConfig } from '../model/config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeSafetensors, encodeSafetensors, isSafetensors } from './safetensors.js';
import { checkWeights, type Weights } from './weight-map.js';

export const CHECKPOINT_FORMAT = 'convcut-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Parameter layouts: conv kernels HWIO, depthwise (kh, kw, C, 1), dense (in, out). */
  layout: 'channels-last';
  config: ConvCutConfig;
  createdAt: string;
  /** Free-form: seed, recipe, data set, split, metrics, convcut version. */
  provenance: Record<string, unknown>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: Weights;
}

export async function saveCheckpoint(
  file: string,
  config: ConvCutConfig,
  weights: Weights,
  provenance: Record<string, unknown> = {},
): Promise<void> {
  checkWeights(paramSpecs(config), weights, 'checkpoint being saved');
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    layout: 'channels-last',
    config,
    createdAt: new Date().toISOString(),
    provenance,
  };
  await writeFileAtomic(file, encodeSafetensors(weights, { convcut: JSON.stringify(meta) }));
}

export function isCheckpointBytes(bytes: Uint8Array): boolean {
  if (!isSafetensors(bytes)) return false;
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + Math.min(hlen, 4096))).includes('"convcut"');
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new Error(`${file}: cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      cause: e,
    });
  }
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  if (!metadata.convcut) throw new Error(`${file}: a safetensors file, but not a convcut checkpoint (no "convcut" metadata)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.convcut) as CheckpointMeta;
  } catch (e) {
    throw new Error(`${file}: checkpoint metadata is not JSON (${(e as Error).message})`, { cause: e });
  }
  if (meta.format !== CHECKPOINT_FORMAT)
    throw new Error(`${file}: metadata format is "${meta.format}", expected ${CHECKPOINT_FORMAT}`);
  if (meta.version > CHECKPOINT_VERSION)
    throw new Error(`${file}: checkpoint version ${meta.version} is newer than this convcut reads (${CHECKPOINT_VERSION})`);
  checkWeights(paramSpecs(meta.config), tensors, file);
  return { meta, weights: tensors };
}
