/**
 * Worker thread of `FeatureLoader`: reads cached float16 feature maps and writes them, decoded to
 * float32 NHWC, into the batch buffer it was handed, then hands the buffer back.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { decodeHalf } from '../util/f16.js';

export interface LoadRequest {
  id: number;
  files: string[];
  /** Floats per sample in the cache. */
  featureSize: number;
  /** Floats in the whole batch as delivered. */
  length: number;
  /** Transferred to the worker and back. */
  buffer: ArrayBuffer;
}

export type LoadReply = { id: number; buffer: ArrayBuffer; error?: { file: string; message: string } };

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

function load(r: LoadRequest): LoadReply {
  const out = new Float32Array(r.buffer, 0, r.length);
  for (let i = 0; i < r.files.length; i++) {
    const file = r.files[i]!;
    try {
      decodeHalf(readHalf(file, r.featureSize), out.subarray(i * r.featureSize, (i + 1) * r.featureSize));
    } catch (e) {
      return { id: r.id, buffer: r.buffer, error: { file, message: (e as Error).message } };
    }
  }
  return { id: r.id, buffer: r.buffer };
}

parentPort?.on('message', (r: LoadRequest) => {
  const reply = load(r);
  parentPort!.postMessage(reply, [reply.buffer]);
});
