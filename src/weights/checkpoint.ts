/**
 * convcut checkpoints: one safetensors file holding every parameter (channels-last, convcut names)
 * and, in its `__metadata__`, a JSON document with everything needed to rebuild and use the model:
 * architecture config (backbone, cut, head, attention mode, classes, normalisation) and the
 * training provenance (seed, recipe, data, metrics). Written atomically.
 */
import { readFileHead } from '../util/file-head.js';
import { promises as fs } from 'node:fs';
import { paramSpecs } from '../engine/describe.js';
import { checkModelConfig, type ConvCutConfig } from '../model/config.js';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeSafetensors, encodeSafetensors, isSafetensors, openSafetensors, type SafetensorsFile } from './safetensors.js';
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

/** Whether `file` is a convcut checkpoint, from its first bytes. */
export async function isCheckpointFile(file: string): Promise<boolean> {
  const { head, size } = await readFileHead(file, 8 + 4096);
  return isSafetensors(head, size) && headerNamesConvcut(head);
}

export function isCheckpointBytes(bytes: Uint8Array): boolean {
  return isSafetensors(bytes) && headerNamesConvcut(bytes);
}

/** The safetensors header (its first 4 KiB) has convcut's metadata key. */
function headerNamesConvcut(bytes: Uint8Array): boolean {
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + Math.min(hlen, 4096))).includes('"convcut"');
}

/**
 * `lazy`: read only the header now and each tensor when first used (float32 tensors then also say
 * where they lie in the file, for ONNX external data). The file must not change meanwhile.
 */
export async function loadCheckpoint(file: string, opts: { lazy?: boolean } = {}): Promise<Checkpoint> {
  let decoded: SafetensorsFile;
  try {
    decoded = opts.lazy ? openSafetensors(file) : decodeSafetensors(await fs.readFile(file), file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    throw new Error(`${file}: cannot read checkpoint (${code})`, { cause: e });
  }
  const { tensors, metadata } = decoded;
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
  let specs;
  try {
    checkModelConfig(meta.config);
    specs = paramSpecs(meta.config);
  } catch (e) {
    // A damaged or hand-edited config: say so here, not as a TypeError deep in the network code.
    throw new Error(`${file}: the checkpoint's network configuration is not usable (${(e as Error).message})`, { cause: e });
  }
  checkWeights(specs, tensors, file);
  return { meta, weights: tensors };
}
