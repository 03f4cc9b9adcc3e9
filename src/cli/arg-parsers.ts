/**
 * Parsers for numeric command-line options (commander argParsers). A bad value stops the command
 * before it starts, with commander's message naming the option and this reason, instead of turning
 * into NaN somewhere inside (where it used to produce wrong output: "0 images", or a misleading error).
 */
import { InvalidArgumentError } from 'commander';

/** A whole number ≥ `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got "${value}"`);
    return n;
  };
}

/** A number > 0 (learning rates, …). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a number > 0, got "${value}"`);
  return n;
}

/** A number in [0, 1) (shares, thresholds). */
export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1)
    throw new InvalidArgumentError(`expected a number from 0 up to (not including) 1, got "${value}"`);
  return n;
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

/** A number strictly between 0 and 1 (the validation share: both ends would leave a split empty). */
export function openFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 1)
    throw new InvalidArgumentError(`expected a number between 0 and 1, got "${value}"`);
  return n;
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
