/**
 * The validation split, carved from the training data: stratified by class, seeded, and recorded
 * (seed, fraction and the chosen ids) so that a run can be reproduced and audited. The test split is
 * never used to choose anything.
 */
import { Rng } from '../util/rng.js';
import type { Dataset, Sample } from './dataset.js';

export interface SplitRecord {
  seed: number;
  fraction: number;
  /** 'dataset' when the data set has its own validation split (FERPlus PublicTest), else 'carved'. */
  source: 'dataset' | 'carved';
  validIds: string[];
}

export function carveValidation(ds: Dataset, fraction: number, seed: number): { samples: Sample[]; record: SplitRecord } {
  if (ds.samples.some((s) => s.split === 'valid')) {
    return {
      samples: ds.samples,
      record: { seed, fraction, source: 'dataset', validIds: ds.samples.filter((s) => s.split === 'valid').map((s) => s.id) },
    };
  }
  if (!(fraction > 0 && fraction < 1)) throw new Error(`validation fraction must be in (0, 1), got ${fraction}`);
  const rng = new Rng(seed);
  const chosen = new Set<string>();
  for (let c = 0; c < ds.classes.length; c++) {
    const ids = ds.samples.filter((s) => s.split === 'train' && s.label === c).map((s) => s.id);
    ids.sort();
    rng.shuffle(ids);
    const k = Math.round(ids.length * fraction);
    for (const id of ids.slice(0, ids.length > 1 ? Math.max(1, k) : 0)) chosen.add(id);
  }
  const samples = ds.samples.map((s) => (chosen.has(s.id) ? { ...s, split: 'valid' as const } : s));
  return { samples, record: { seed, fraction, source: 'carved', validIds: [...chosen].sort() } };
}

/** Re-apply a recorded split (e.g. on resume), failing loudly if the data changed. */
export function applySplit(ds: Dataset, record: SplitRecord): Sample[] {
  if (record.source === 'dataset') return ds.samples;
  const ids = new Set(record.validIds);
  const known = new Set(ds.samples.map((s) => s.id));
  const missing = record.validIds.filter((id) => !known.has(id));
  if (missing.length)
    throw new Error(
      `the recorded validation split names ${missing.length} sample(s) not in the data set (e.g. ${missing[0]}): the data changed`,
    );
  return ds.samples.map((s) => (ids.has(s.id) ? { ...s, split: 'valid' as const } : s));
}
