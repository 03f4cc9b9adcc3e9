/**
 * What every dataset reader returns: a list of samples (lazy: a path or raw pixels, decoded only
 * when used), the class names, and the problems found while reading (file, line, what is wrong).
 */
export type Split = 'train' | 'valid' | 'test';

export type PixelSource =
  | { kind: 'file'; path: string }
  /** Raw 8-bit pixels (FER2013's 48×48 greyscale rows). */
  | { kind: 'pixels'; width: number; height: number; channels: 1 | 3; data: Uint8Array; origin: string };

export interface Sample {
  /** Stable identifier: relative path, or `<csv>:<line>`. */
  id: string;
  source: PixelSource;
  /** Index into `classes`; the top class when soft targets are given. */
  label: number;
  /** Soft targets over `classes` (FERPlus probability / cross-entropy / multi-target modes). */
  target?: number[];
  split: Split;
}

export interface Problem {
  file: string;
  line?: number;
  message: string;
}

export interface Dataset {
  format: string;
  root: string;
  classes: string[];
  samples: Sample[];
  problems: Problem[];
  /** Notes on how labels were derived (e.g. the FERPlus mode). */
  notes?: string[];
}

export function describeProblem(p: Problem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`;
}

export function countsBySplit(ds: Dataset): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of ds.samples) {
    const split = (out[s.split] ??= Object.fromEntries(ds.classes.map((c) => [c, 0])));
    split[ds.classes[s.label]!]!++;
  }
  return out;
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif']);
