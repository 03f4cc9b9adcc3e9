/** An answer with a status and a machine-readable code: `{ error: { code, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A true/false query parameter (true, false, 1 or 0; `fallback` when absent), or a 400 naming it. */
export function booleanParam(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (!['true', 'false', '1', '0'].includes(value))
    throw new HttpError(400, 'bad_parameter', `${name} must be true or false, got "${value}"`);
  return value === 'true' || value === '1';
}
