/**
 * FERPlus: the FER2013 images (`fer2013.csv`: emotion,pixels,Usage; 48×48 greyscale) relabelled by
 * 10 annotators (`fer2013new.csv`: Usage, Image name, 8 emotion vote counts, unknown, NF; one row per
 * FER2013 row, same order). Labels follow Microsoft's FERPlus code (`_process_data`) exactly:
 * votes equal to 1 are zeroed first (outliers), then
 * - `majority` (default): keep the top emotion if its votes are > 50 % of the remaining votes;
 * - `probability` / `crossentropy`: keep up to 3 top emotions covering ≥ 75 % of the votes (soft
 *   targets; `probability` samples a label from them each epoch, `crossentropy` trains on them);
 * - `multi-target`: keep every emotion with ≥ 30 % of the votes;
 * an image whose result is "unknown" or non-face (NF), or keeps ≤ 50 % of the votes, is dropped.
 * Rows with an empty image name were removed by FERPlus and are dropped too.
 * Splits: Training → train, PublicTest → valid, PrivateTest → test.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FERPLUS_CLASSES } from '../model/config.js';
import type { Dataset, Problem, Sample, Split } from './dataset.js';
import { parseCsvLine } from './folders.js';

export type FerplusMode = 'majority' | 'probability' | 'crossentropy' | 'multi-target';
export const FERPLUS_MODES: FerplusMode[] = ['majority', 'probability', 'crossentropy', 'multi-target'];

/** fer2013new.csv vote columns, in file order. */
export const FERPLUS_VOTE_COLUMNS = [
  'neutral',
  'happiness',
  'surprise',
  'sadness',
  'anger',
  'disgust',
  'fear',
  'contempt',
  'unknown',
  'NF',
];
const USAGE: Record<string, Split> = { Training: 'train', PublicTest: 'valid', PrivateTest: 'test' };

/**
 * Microsoft's label rule for one row of 10 vote counts. Returns the distribution over the 8
 * emotions (file order), or undefined when the image is dropped.
 */
export function ferplusTarget(votes: number[], mode: FerplusMode): number[] | undefined {
  const raw = votes.map((v) => (v < 1 + Number.EPSILON ? 0 : v));
  const size = raw.length;
  const sumList = raw.reduce((a, b) => a + b, 0);
  let emotion = new Array<number>(size).fill(0);
  const unknown = (): number[] => Object.assign(new Array<number>(size).fill(0), { [size - 2]: 1 });
  if (mode === 'majority') {
    const maxval = Math.max(...raw);
    if (maxval > 0.5 * sumList) emotion[raw.indexOf(maxval)] = maxval;
    else emotion = unknown();
  } else if (mode === 'probability' || mode === 'crossentropy') {
    let sumPart = 0;
    let count = 0;
    let valid = true;
    while (sumPart < 0.75 * sumList && count < 3 && valid) {
      const maxval = Math.max(...raw);
      for (let i = 0; i < size; i++) {
        if (raw[i] === maxval) {
          emotion[i] = maxval;
          raw[i] = 0;
          sumPart += emotion[i]!;
          count++;
          if (i >= 8) {
            // unknown or non-face among the top votes
            valid = false;
            if (emotion.reduce((a, b) => a + b, 0) > maxval) {
              emotion[i] = 0;
              count--;
            }
            break;
          }
        }
      }
    }
    if (emotion.reduce((a, b) => a + b, 0) <= 0.5 * sumList || count > 3) emotion = unknown();
  } else {
    for (let i = 0; i < size; i++) if (raw[i]! >= 0.3 * sumList) emotion[i] = raw[i]!;
    if (emotion.reduce((a, b) => a + b, 0) <= 0.5 * sumList) emotion = unknown();
  }
  const total = emotion.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const dist = emotion.map((e) => e / total);
  const top = dist.indexOf(Math.max(...dist));
  if (top >= 8) return undefined; // unknown or NF
  const em = dist.slice(0, 8);
  const s = em.reduce((a, b) => a + b, 0);
  return em.map((e) => e / s);
}

/** File-order emotion index → index in FERPLUS_CLASSES (alphabetical, as the reference code). */
const TO_CLASS = FERPLUS_VOTE_COLUMNS.slice(0, 8).map((n) => FERPLUS_CLASSES.indexOf(n));

export async function readFerplus(dir: string, opts: { mode?: FerplusMode } = {}): Promise<Dataset> {
  const mode = opts.mode ?? 'majority';
  if (!FERPLUS_MODES.includes(mode)) throw new Error(`unknown FERPlus mode "${mode}"; choose ${FERPLUS_MODES.join(', ')}`);
  const ferFile = path.join(dir, 'fer2013.csv');
  const newFile = path.join(dir, 'fer2013new.csv');
  const [fer, plus] = await Promise.all(
    [ferFile, newFile].map((f) =>
      fs.readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new Error(`${f}: cannot read (${e.code ?? e.message})`, { cause: e });
      }),
    ),
  );
  const ferLines = fer!.split(/\r?\n/);
  const newLines = plus!.split(/\r?\n/);
  const fh = parseCsvLine(ferLines[0] ?? '').map((s) => s.trim());
  const nh = parseCsvLine(newLines[0] ?? '').map((s) => s.trim());
  const [ei, pi, ui] = ['emotion', 'pixels', 'Usage'].map((c) => fh.indexOf(c));
  if (pi! < 0 || ui! < 0 || ei! < 0) throw new Error(`${ferFile}:1: expected columns emotion,pixels,Usage; got "${ferLines[0]}"`);
  const expectedNew = ['Usage', 'Image name', ...FERPLUS_VOTE_COLUMNS];
  if (nh.length !== expectedNew.length || !expectedNew.every((c, i) => nh[i] === c)) {
    throw new Error(`${newFile}:1: expected columns ${expectedNew.join(',')}; got "${newLines[0]}"`);
  }
  const problems: Problem[] = [];
  const samples: Sample[] = [];
  let removed = 0;
  let dropped = 0;
  const ferRows = ferLines.slice(1).filter((l, i) => l.trim() || i < ferLines.length - 2);
  const newRows = newLines.slice(1).filter((l, i) => l.trim() || i < newLines.length - 2);
  if (ferRows.length !== newRows.length) {
    problems.push({
      file: newFile,
      message: `has ${newRows.length} rows but fer2013.csv has ${ferRows.length}; rows are matched by position`,
    });
  }
  const n = Math.min(ferRows.length, newRows.length);
  for (let i = 0; i < n; i++) {
    const line = i + 2;
    const f = parseCsvLine(ferRows[i]!);
    const v = parseCsvLine(newRows[i]!);
    if (f.length !== fh.length) {
      problems.push({ file: ferFile, line, message: `expected ${fh.length} columns, got ${f.length}` });
      continue;
    }
    if (v.length !== nh.length) {
      problems.push({ file: newFile, line, message: `expected ${nh.length} columns, got ${v.length}` });
      continue;
    }
    const split = USAGE[f[ui!]!.trim()];
    if (!split) {
      problems.push({ file: ferFile, line, message: `Usage "${f[ui!]}" is not Training, PublicTest or PrivateTest` });
      continue;
    }
    if (v[0]!.trim() !== f[ui!]!.trim()) {
      problems.push({
        file: newFile,
        line,
        message: `Usage "${v[0]}" differs from fer2013.csv's "${f[ui!]}" (files out of step?)`,
      });
      continue;
    }
    if (!v[1]!.trim()) {
      removed++;
      continue;
    }
    const px = f[pi!]!.trim().split(/\s+/);
    if (px.length !== 48 * 48) {
      problems.push({ file: ferFile, line, message: `pixels has ${px.length} values, expected 2304 (48×48)` });
      continue;
    }
    const data = Uint8Array.from(px, Number);
    if (px.some((p, j) => !/^\d+$/.test(p) || Number(p) > 255 || data[j] !== Number(p))) {
      problems.push({ file: ferFile, line, message: 'pixels must be integers 0..255' });
      continue;
    }
    const votes = v.slice(2).map(Number);
    if (votes.some((x) => !Number.isFinite(x) || x < 0)) {
      problems.push({ file: newFile, line, message: `vote counts must be non-negative numbers, got "${v.slice(2).join(',')}"` });
      continue;
    }
    const dist = ferplusTarget(votes, mode);
    if (!dist) {
      dropped++;
      continue;
    }
    const target = new Array<number>(8).fill(0);
    dist.forEach((p, j) => (target[TO_CLASS[j]!] = p));
    samples.push({
      id: `${v[1]!.trim()}`,
      source: { kind: 'pixels', width: 48, height: 48, channels: 1, data, origin: `${ferFile}:${line}` },
      label: target.indexOf(Math.max(...target)),
      target: mode === 'majority' ? undefined : target,
      split,
    });
  }
  return {
    format: 'ferplus',
    root: dir,
    classes: [...FERPLUS_CLASSES],
    samples,
    problems,
    notes: [
      `label mode: ${mode}`,
      `${removed} rows removed by FERPlus (empty image name)`,
      `${dropped} images dropped by the ${mode} rule (unknown, non-face or no agreement)`,
    ],
  };
}
