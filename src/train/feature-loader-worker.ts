/**
 * Worker thread of `FeatureLoader`: reads cached float16 feature maps and writes them, decoded,
 * into a shared batch buffer, either as NHWC or already cut into Detail Extraction taps.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { writeTaps, type TapsGeometry } from '../engine/detail-taps.js';
import { decodeHalf } from '../util/f16.js';

export interface LoadRequest {
  id: number;
  files: string[];
  /** Floats per sample in the cache. */
  featureSize: number;
  /** Floats in the whole batch as delivered. */
  length: number;
  /** Undefined: NHWC, sample after sample. */
  taps?: TapsGeometry;
  buffer: SharedArrayBuffer;
  /** Which buffer of the loader's pool `buffer` is (each message brings a new SharedArrayBuffer object). */
  bufferId: number;
}

export type LoadReply = { id: number; error?: { file: string; message: string } };

let scratch = new Uint16Array(0);

function readHalf(file: string, count: number): Uint16Array {
  if (scratch.length !== count) scratch = new Uint16Array(count);
  const bytes = new Uint8Array(scratch.buffer);
  const fd = openSync(file, 'r');
  try {
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const extra = readSync(fd, new Uint8Array(1), 0, 1, got);
    if (got !== bytes.length || extra)
      throw new Error(`cache entry has ${got + extra}${extra ? '+' : ''} bytes, expected ${bytes.length}`);
  } finally {
    closeSync(fd);
  }
  return scratch;
}

/** What each shared buffer (by id) last held: taps of one batch size leave the same padding taps at zero. */
const lastLayout = new Map<number, string>();

function load(r: LoadRequest): LoadReply {
  const out = new Float32Array(r.buffer, 0, r.length);
  const layout = r.taps ? `taps ${r.files.length} ${JSON.stringify(r.taps)}` : 'nhwc';
  // Padding taps are never written: zero them when the buffer held anything else before.
  if (r.taps && lastLayout.get(r.bufferId) !== layout) out.fill(0);
  lastLayout.set(r.bufferId, layout);
  for (let i = 0; i < r.files.length; i++) {
    const file = r.files[i]!;
    try {
      const half = readHalf(file, r.featureSize);
      if (r.taps) writeTaps(r.taps, r.files.length, i, half, out);
      else decodeHalf(half, out.subarray(i * r.featureSize, (i + 1) * r.featureSize));
    } catch (e) {
      return { id: r.id, error: { file, message: (e as Error).message } };
    }
  }
  return { id: r.id };
}

parentPort?.on('message', (r: LoadRequest) => parentPort!.postMessage(load(r)));
