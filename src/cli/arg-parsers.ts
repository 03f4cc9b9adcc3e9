/**
 * Parsers for command-line option values (commander argParsers). A bad value stops the command
 * before it starts, with commander's message naming the option and this reason, instead of turning
 * into NaN somewhere inside (where it used to produce wrong output: "0 images", or a misleading error).
 */
import { InvalidArgumentError } from 'commander';
import { FERPLUS_MODES } from '../data/ferplus.js';
import { PRECISIONS } from '../engine/onnx-export.js';

/** `value` as a finite number that passes `ok`; otherwise an error saying what was `expected`. */
function numberWhere(value: string, ok: (n: number) => boolean, expected: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !ok(n))
    throw new InvalidArgumentError(`expected ${expected}, got "${value}"`);
  return n;
}

/** A whole number ≥ `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => numberWhere(value, (n) => Number.isInteger(n) && n >= min, `a whole number ≥ ${min}`);
}

/** A number > 0 (learning rates, …). */
export function positiveNumber(value: string): number {
  return numberWhere(value, (n) => n > 0, 'a number > 0');
}

/** A number ≥ 0 (seconds into a video, smoothing spans). */
export function nonNegativeNumber(value: string): number {
  return numberWhere(value, (n) => n >= 0, 'a number ≥ 0');
}

/** A number in [0, 1) (shares, thresholds). */
export function fraction(value: string): number {
  return numberWhere(value, (n) => n >= 0 && n < 1, 'a number from 0 up to (not including) 1');
}

/** A number strictly between 0 and 1 (the validation share: both ends would leave a split empty). */
export function openFraction(value: string): number {
  return numberWhere(value, (n) => n > 0 && n < 1, 'a number between 0 and 1');
}

/** Comma-separated whole numbers ≥ 1 (`--epochs 100,60`). */
export function wholeNumberList(value: string): number[] {
  const parse = wholeNumber(1);
  try {
    return value.split(',').map((v) => parse(v));
  } catch {
    throw new InvalidArgumentError(`expected whole numbers ≥ 1, separated by commas, got "${value}"`);
  }
}

/** `--finetune`: a number of backbone units ≥ 0, or "all". */
export function finetuneArg(value: string): number | 'all' {
  if (value === 'all') return 'all';
  try {
    return wholeNumber(0)(value);
  } catch {
    throw new InvalidArgumentError(`expected a whole number ≥ 0 or "all", got "${value}"`);
  }
}

/**
 * One of `choices`; otherwise an error listing them, with the nearest one suggested (a typo such as
 * `--recipe refrence` used to train the default recipe silently).
 */
export function choice<T extends string>(...choices: T[]): (value: string) => T {
  return (value) => {
    if ((choices as string[]).includes(value)) return value as T;
    const near = choices.map((c) => [c, editDistance(value.toLowerCase(), c)] as const).sort((a, b) => a[1] - b[1])[0]!;
    const hint = near[1] <= Math.max(2, near[0].length / 3) ? ` (did you mean ${near[0]}?)` : '';
    throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"${hint}`);
  };
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** `--precision`: fp32, int8 weights for the backbone MatMuls, or fp16 compute (WebGPU). */
export const precisionArg = choice(...PRECISIONS);

/** FERPlus label rules (data/ferplus.ts). */
export const ferplusModeArg = choice(...FERPLUS_MODES);

/** Attention modes (model/attention.ts). */
export const attentionArg = choice('token', 'batch', 'none');
