/** Decode every image of a data set once, to find the ones that are unreadable before a long run. */
import type { Dataset, Problem } from './dataset.js';
import { decodeMany } from './image.js';
import { DEFAULTS } from '../defaults.js';

export async function checkImages(
  ds: Dataset,
  onProgress?: (n: number) => void,
  concurrency: number = DEFAULTS.decodeConcurrency,
): Promise<{ dataset: Dataset; bad: Problem[] }> {
  const bad: Problem[] = [];
  const keep = new Array<boolean>(ds.samples.length).fill(true);
  const chunk = 64;
  for (let i = 0; i < ds.samples.length; i += chunk) {
    const part = ds.samples.slice(i, i + chunk);
    // A small decode size: the check is about readability, not pixels.
    const res = await decodeMany(
      part.map((s) => s.source),
      16,
      concurrency,
    );
    res.forEach((r, j) => {
      if (!r.ok) {
        keep[i + j] = false;
        bad.push(r.error.problem);
      }
    });
    onProgress?.(part.length);
  }
  return { dataset: { ...ds, samples: ds.samples.filter((_, i) => keep[i]), problems: [...ds.problems, ...bad] }, bad };
}
