/**
 * Parsers for command-line option values (commander argParsers). A bad value stops the command
 * before it starts, with commander's message naming the option and this reason, instead of turning
 * into NaN somewhere inside (where it used to produce wrong output: "0 images", or a misleading error).
 */
import { InvalidArgumentError } from 'commander';

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

/** `--precision`: fp32, or int8 weights for the backbone MatMuls. */
export function precisionArg(value: string): 'fp32' | 'int8' {
  if (value !== 'fp32' && value !== 'int8') throw new InvalidArgumentError(`expected fp32 or int8, got "${value}"`);
  return value;
}
