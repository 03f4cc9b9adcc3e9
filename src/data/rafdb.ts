/**
 * RAF-DB "basic", official layout:
 *   basic/EmoLabel/list_patition_label.txt   lines "train_00001.jpg 5"
 *   basic/Image/aligned/train_00001_aligned.jpg   (100×100 aligned faces)
 *   basic/Image/original/train_00001.jpg          (unaligned photos)
 * Labels 1..7 = Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral; the split is the file
 * name prefix (train_ / test_). convcut's class order is the reference code's (alphabetical).
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { RAFDB_CLASSES } from '../model/config.js';
import type { Dataset, Problem, Sample } from './dataset.js';

/** RAF-DB label number (1..7) → index in RAFDB_CLASSES. */
const RAF_LABELS = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
export const RAFDB_LABEL_TO_INDEX = RAF_LABELS.map((name) => RAFDB_CLASSES.indexOf(name));
export const RAFDB_LABEL_FILE = path.join('EmoLabel', 'list_patition_label.txt');

/** The `basic/` folder under `dir`, if `dir` is (or contains) a RAF-DB basic tree. */
/** An image's RAF-DB name without folder, extension or `_aligned`: `Image/aligned/test_00001_aligned.jpg` → `test_00001`. */
export function rafdbStem(id: string): string {
  return path
    .basename(id)
    .replace(/\.[^.]+$/, '')
    .replace(/_aligned$/, '');
}

export function findRafdbRoot(dir: string): string | undefined {
  for (const cand of [dir, path.join(dir, 'basic')]) if (existsSync(path.join(cand, RAFDB_LABEL_FILE))) return cand;
  return undefined;
}

export async function readRafdb(dir: string, opts: { images?: 'aligned' | 'original' } = {}): Promise<Dataset> {
  const root = findRafdbRoot(dir);
  if (!root) throw new Error(`${dir}: no ${RAFDB_LABEL_FILE} (not a RAF-DB basic folder)`);
  const variant = opts.images ?? 'aligned';
  const labelFile = path.join(root, RAFDB_LABEL_FILE);
  const imageDir = path.join(root, 'Image', variant);
  const text = await fs.readFile(labelFile, 'utf8');
  const present = new Set(existsSync(imageDir) ? await fs.readdir(imageDir) : []);
  const problems: Problem[] = [];
  if (!present.size) problems.push({ file: imageDir, message: 'image folder is missing or empty' });
  const samples: Sample[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const m = /^((train|test)_\d+)\.jpg\s+(\S+)$/.exec(line);
    if (!m) {
      problems.push({ file: labelFile, line: i + 1, message: `expected "train_00001.jpg <1-7>", got "${line}"` });
      return;
    }
    const n = Number(m[3]);
    if (!Number.isInteger(n) || n < 1 || n > 7) {
      problems.push({ file: labelFile, line: i + 1, message: `label "${m[3]}" is not 1..7` });
      return;
    }
    const name = variant === 'aligned' ? `${m[1]}_aligned.jpg` : `${m[1]}.jpg`;
    if (present.size && !present.has(name)) {
      problems.push({ file: labelFile, line: i + 1, message: `lists ${name}, which is not in ${imageDir}` });
      return;
    }
    samples.push({
      id: path.join('Image', variant, name),
      source: { kind: 'file', path: path.join(imageDir, name) },
      label: RAFDB_LABEL_TO_INDEX[n - 1]!,
      split: m[2] as 'train' | 'test',
    });
  });
  return { format: `rafdb-basic (${variant})`, root, classes: [...RAFDB_CLASSES], samples, problems };
}
