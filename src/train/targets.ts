/**
 * What a training step learns from for each image: its class, the soft targets it carries (FERPlus
 * cross-entropy and multi-target modes), or — FERPlus `probability` mode, as Microsoft's FERPlus
 * code trains — one label drawn afresh from its vote distribution every time it is seen.
 */
import type { Sample } from '../data/dataset.js';
import type { OpenOptions } from '../data/open-dataset.js';
import type { Rng } from '../util/rng.js';

export function stepTargets(
  batch: Sample[],
  mode: OpenOptions['ferplusMode'],
  rng: Rng,
): { labels: Int32Array; soft?: Float32Array[] } {
  const soft = batch.every((s) => s.target);
  if (soft && mode === 'probability') return { labels: Int32Array.from(batch, (s) => drawLabel(s.target!, rng.next())) };
  return {
    labels: Int32Array.from(batch, (s) => s.label),
    soft: soft ? batch.map((s) => Float32Array.from(s.target!)) : undefined,
  };
}

/** The class whose share of `dist` (any non-negative weights) covers the uniform draw `u`. */
export function drawLabel(dist: number[], u: number): number {
  const total = dist.reduce((a, b) => a + b, 0);
  let acc = 0;
  let last = 0;
  for (let i = 0; i < dist.length; i++) {
    if (dist[i]! <= 0) continue;
    last = i;
    acc += dist[i]! / total;
    if (u < acc) return i;
  }
  return last; // u just below 1 and rounding: the last class with votes
}
