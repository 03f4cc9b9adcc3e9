/**
 * TensorFlow.js weight files: a manifest (`*-weights_manifest.json`, or a graph model's
 * `weightsManifest`) naming groups of tensors laid end to end in binary shards (`*.bin`). This is
 * how face-api and Human ship their networks; convcut reads them for their weights only (the
 * networks themselves are defined in src/model/ and run on ONNX Runtime).
 *
 * Quantised tensors (`quantization: { dtype: 'uint8' | 'uint16', scale, min }`) are stored as
 * integers q and mean q · scale + min; `float16` ones are half floats. Every byte of every shard
 * must be consumed: a manifest that does not match its shards is refused rather than misread.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decodeHalf } from '../util/f16.js';
import type { WeightTensor, Weights } from './weight-map.js';

export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}
export interface TfjsWeightGroup {
  paths: string[];
  weights: TfjsWeightEntry[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

/** The tensors of a face-api style `<dir>/<name>-weights_manifest.json`, dequantised to float32. */
export async function readTfjsManifest(file: string): Promise<Weights> {
  const groups = JSON.parse(await fs.readFile(file, 'utf8')) as TfjsWeightGroup[];
  return readTfjsGroups(groups, path.dirname(file), file);
}

/** The tensors of `groups` (a manifest, or a graph model's `weightsManifest`) whose shards are in `dir`. */
export async function readTfjsGroups(groups: TfjsWeightGroup[], dir: string, label: string): Promise<Weights> {
  const out: Weights = new Map();
  for (const g of groups) {
    const shards = await Promise.all(g.paths.map((p) => fs.readFile(path.join(dir, path.basename(p)))));
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const w of g.weights) {
      const t = decodeEntry(w, bytes, offset, label);
      out.set(w.name, t.tensor);
      offset = t.end;
    }
    if (offset !== bytes.length)
      throw new Error(`${label}: the manifest describes ${offset} bytes, its shards ${g.paths.join(', ')} hold ${bytes.length}`);
  }
  return out;
}

function decodeEntry(w: TfjsWeightEntry, bytes: Buffer, offset: number, label: string): { tensor: WeightTensor; end: number } {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const q = w.quantization;
  const stored = q?.dtype ?? w.dtype;
  const size = BYTES[stored];
  if (!size) throw new Error(`${label}: ${w.name} is stored as ${stored}, which convcut does not read`);
  const end = offset + n * size;
  if (end > bytes.length) throw new Error(`${label}: ${w.name} runs past the end of its shards`);
  const raw = bytes.subarray(offset, end);
  const data = new Float32Array(n);
  if (stored === 'float32') data.set(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)));
  else if (stored === 'int32') data.set(new Int32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)));
  else if (stored === 'float16') decodeHalf(new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)), data);
  else {
    const ints = stored === 'uint8' ? raw : new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    const [scale, min] = [q!.scale ?? 1, q!.min ?? 0];
    for (let i = 0; i < n; i++) data[i] = ints[i]! * scale + min;
  }
  return { tensor: { shape: w.shape, data }, end };
}
