import { createHash } from 'node:crypto';
import type { Weights } from '../weights/weight-map.js';

export const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** A fingerprint of weights: names, shapes and every value, in name order. */
export function hashWeights(w: Weights): string {
  const h = createHash('sha256');
  for (const name of [...w.keys()].sort()) {
    const t = w.get(name)!;
    h.update(`${name}:${t.shape.join(',')};`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}
